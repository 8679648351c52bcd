//! Container logs: `POST /mltk/container_logs` (body) and `GET /mltk/container_logs?model=`
//! (query; without `model` the GET is the DEV/PROD grouping of [`super::records`]). The last
//! `tail` lines (default 1000), optionally since a time, as `{_time, log, stream}` entries,
//! newest last; a reply holds at most a few MB of the newest lines and says when it was cut.

use super::saved::{SavedConnection, record_runtime, warnings};
use crate::context::Context;
use crate::error::ApiError;
use crate::model::record::{self, running_id};
use crate::protocol::fields::Fields;
use crate::protocol::reply::Outcome;
use crate::protocol::reply::warn;
use crate::protocol::request::Request;
use crate::runtime::connect::ensure_supported;
use crate::runtime::error::Failure;
use crate::runtime::logs::{self, LOG_READ_LIMIT, LogQuery, MAX_REPLY_BYTES};
use crate::runtime::{Runtime, find_recorded};
use serde_json::{Value, json};

/// `POST /mltk/container_logs` and `GET /mltk/container_logs?model=`.
pub async fn container_logs(ctx: &Context, req: &Request) -> Result<Outcome, ApiError> {
    logs_inner(ctx, req).await.map_err(|e| {
        e.with_legacy("message", "Failed to fetch the logs.")
            .with_legacy("status", "failure")
    })
}

async fn logs_inner(ctx: &Context, req: &Request) -> Result<Outcome, ApiError> {
    let fields = if req.method == "GET" {
        Fields::from_pairs(&req.query)
    } else {
        Fields::from_request(req)?
    };
    let q = LogQuery::from_fields(&fields)?;
    let store = ctx.store(req).await?;
    let found = store
        .get_stanza(record::CONF, &q.model)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "There is no deployment record for model {}; GET /mltk/container_data lists them.",
                q.model
            ))
        })?;
    let ty = record_runtime(&found)?;
    ensure_supported(ty)?;
    let id = running_id(&found).map(str::to_string).ok_or_else(|| {
        ApiError::conflict(format!(
            "Model {} has no container (it is stopped); start it to have logs.",
            q.model
        ))
    })?;
    let rt = SavedConnection::load(&store, ty).await?.connect().await?;
    let mut body = read_logs(&rt, &q, &id).await?;
    let mut messages = warnings(&rt);
    messages.extend(super::body::unknown_keys_warning(
        req,
        super::body::LOGS_KEYS,
    ));
    if let Some(more) = body.get_mut("messages").and_then(Value::as_array_mut) {
        messages.append(more);
    }
    if !messages.is_empty() {
        body["messages"] = Value::Array(messages);
    }
    Ok(Outcome::ok(body))
}

/// The reply body for the logs of the recorded workload `id` of `q.model`, with a
/// `messages` list when the read was cut.
pub async fn read_logs<R: Runtime>(rt: &R, q: &LogQuery, id: &str) -> Result<Value, ApiError> {
    // Only the recorded DSDL workload's logs are read; a missing one falls through to the
    // runtime's not-found below.
    find_recorded(rt, &q.model, id).await?;
    let read = match rt.logs(id, q.tail, q.since, q.previous).await {
        Ok(e) => e,
        Err(e) if e.kind == Failure::NotFound => {
            return Err(ApiError::not_found(format!(
                "The container of model {} ({id}) no longer exists on the engine, so its logs are \
                 gone; stop the model to clear its record.",
                q.model
            )));
        }
        Err(e) if e.kind == Failure::Unsupported => {
            return Err(ApiError::conflict(format!(
                "The container of model {} uses a logging driver Docker cannot read back (for \
                 example the splunk driver): find its output where that driver sends it. The \
                 engine said: {}",
                q.model, e.message
            )));
        }
        Err(e) => return Err(e.into()),
    };
    let (entries, truncated) = (read.entries, read.truncated);
    let mut messages: Vec<Value> = Vec::new();
    if read.flooded {
        messages.push(warn(&format!(
            "The Docker engine sent far more than the {} lines asked for; reading stopped after \
             {} MB, so the newest lines may be missing.",
            q.tail,
            logs::read_budget(q.tail as usize) / (1024 * 1024)
        )));
    }
    if read.timed_out {
        messages.push(warn(&format!(
            "Reading the logs stopped after {} s, before the engine's newest lines: ask for a \
             smaller tail or a later since to get them.",
            LOG_READ_LIMIT.as_secs()
        )));
    }
    if truncated {
        messages.push(warn(&format!(
            "Only the newest {} lines fit in one reply ({} MB of text); ask for a smaller tail \
             or a later since to read older ones.",
            entries.len(),
            MAX_REPLY_BYTES / (1024 * 1024)
        )));
    }
    let mut body = json!({
        "message": "Fetched the logs of container successfully ",
        "container_logs": {
            "entries": logs::to_json(&entries, q.timestamps),
            "container_id": id,
            "tail": q.tail,
            "truncated": truncated || read.timed_out || read.flooded,
        },
        "status": "success",
    });
    if !messages.is_empty() {
        body["messages"] = Value::Array(messages);
    }
    Ok(body)
}
