//! `POST /mltk/stop_container`: stops and removes a model's containers and clears its record
//! (the shipped `__dev__` record is emptied, not deleted). Idempotent: a model with nothing
//! running answers 200 with `changed: false`. Containers are found by the recorded id and by
//! the model label, and only those this search head manages (or the toolkit's, which carry no
//! manager) are touched.

use super::saved::{SavedConnection, manager_id, other_manager, record_runtime, warnings};
use crate::conffile::Stanza;
use crate::context::Context;
use crate::error::{ApiError, ErrorKind};
use crate::model::record::{self, DEV_RECORD, Removal, emptying, running_id};
use crate::names::{self, ContainerType};
use crate::protocol::fields::Fields;
use crate::protocol::reply::Outcome;
use crate::protocol::reply::info;
use crate::protocol::request::Request;
use crate::runtime::connect::ensure_supported;
use crate::runtime::{Runtime, find_recorded, plan};
use crate::splunkd::SplunkdClient;
use serde_json::{Value, json};
use std::time::Duration;

/// How long a stop waits for the container to exit before killing it.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// `POST /mltk/stop_container`.
pub async fn stop(ctx: &Context, req: &Request) -> Result<Outcome, ApiError> {
    stop_inner(ctx, req).await.map_err(|e| {
        let text = e.message.clone();
        e.with_legacy("message", "Failed to stop the container.")
            .with_legacy("stopped_container", json!({ "error": text }))
            .with_legacy("status", "fail")
    })
}

async fn stop_inner(ctx: &Context, req: &Request) -> Result<Outcome, ApiError> {
    let fields = Fields::from_request(req)?;
    let model = fields.text("model").unwrap_or_default();
    if model.trim().is_empty() {
        return Err(ApiError::bad_request(
            "model is required: the name of the model (record) to stop, e.g. __dev__.",
        ));
    }
    let model = names::model_name(model.trim())?;
    let store = ctx.store(req).await?;
    let found = if model == record::DEFAULT_STANZA {
        None
    } else {
        store.get_stanza(record::CONF, &model).await?
    };
    if let Some(r) = &found {
        ensure_supported(record_runtime(r)?)?;
    }
    let (removed, mut messages) = stop_model(&store, req, &model, found.as_ref()).await?;
    let record_change = match &found {
        Some(r) => clear_record(&store, r).await?,
        None => false,
    };
    let changed = !removed.is_empty() || record_change;
    let id = removed
        .first()
        .cloned()
        .or_else(|| found.as_ref().and_then(running_id).map(str::to_string))
        .unwrap_or_default();
    let text = if removed.is_empty() {
        format!("Model {model} was not running; nothing to stop.")
    } else {
        format!("Container {} stopped successfully", removed.join(", "))
    };
    messages.insert(0, info(&text));
    messages.extend(super::body::unknown_keys_warning(
        req,
        super::body::STOP_KEYS,
    ));
    Ok(Outcome::ok(json!({
        "message": text,
        "status": "success",
        "stopped_container": {
            "container_id": id,
            "model": model,
            "status": "stopped",
            "changed": changed,
            "removed_containers": removed,
        },
        "messages": messages,
    })))
}

/// Stops and removes every container of `model` this search head manages, through the
/// connection of the record's runtime (Docker without a record). Returns the removed ids and
/// messages; 404 when there is no connection to reach them through, 409 when the record's
/// container belongs to another search head.
pub async fn stop_model(
    store: &SplunkdClient,
    req: &Request,
    model: &str,
    found: Option<&Stanza>,
) -> Result<(Vec<String>, Vec<Value>), ApiError> {
    let manager = manager_id(req);
    if let Some(other) = found.and_then(|r| other_manager(r, &manager)) {
        return Err(ApiError::conflict(format!(
            "Model {model} is managed by another search head ({other}); stop it there."
        )));
    }
    let ty = match found {
        Some(r) => record_runtime(r)?,
        None => ContainerType::Docker,
    };
    let recorded = found.and_then(running_id);
    let conn = match SavedConnection::load(store, ty).await {
        Ok(c) => c,
        Err(e) if e.kind == ErrorKind::NotFound && recorded.is_none() => {
            return Ok((Vec::new(), Vec::new()));
        }
        Err(e) => return Err(e),
    };
    let rt = conn.connect().await?;
    let removed = stop_workloads(&rt, &manager, model, recorded).await?;
    Ok((removed, warnings(&rt)))
}

/// Stops and removes the workloads of `model` that `manager` may touch: the one its record
/// names (`recorded`) and any found by the model's labels ([`plan::model_filters`]); the ids
/// removed. 409, touching nothing, when the recorded one belongs to another search head.
pub async fn stop_workloads<R: Runtime>(
    rt: &R,
    manager: &str,
    model: &str,
    recorded: Option<&str>,
) -> Result<Vec<String>, ApiError> {
    let mut ids: Vec<String> = Vec::new();
    if let Some(id) = recorded
        && let Some(c) = find_recorded(rt, model, id).await?
    {
        match c.observed.manager_id.as_deref() {
            Some(m) if m != manager => {
                return Err(ApiError::conflict(format!(
                    "The container of model {model} ({}) was started by another search head \
                     ({m}); stop it there.",
                    c.observed.name
                )));
            }
            _ => ids.push(c.observed.id),
        }
    }
    // Under this label schema's selector and the first release's model label.
    for (key, value) in plan::model_filters(model) {
        for c in rt.list(key, &value).await? {
            if c.manager_id.as_deref() == Some(manager)
                && c.model.as_deref() == Some(model)
                && !ids.contains(&c.id)
            {
                ids.push(c.id);
            }
        }
    }
    let mut removed = Vec::new();
    for id in ids {
        if rt.stop_and_remove(&id, STOP_GRACE).await? {
            removed.push(id);
        }
    }
    Ok(removed)
}

/// Deletes the record, or empties it for the shipped `__dev__`; whether anything changed.
async fn clear_record(store: &SplunkdClient, found: &Stanza) -> Result<bool, ApiError> {
    if found.name != DEV_RECORD {
        return store.delete_stanza(record::CONF, &found.name).await;
    }
    match emptying(found) {
        Removal::Empty(keys) if !keys.is_empty() => {
            let pairs: Vec<(String, &str)> = keys.into_iter().map(|k| (k, "")).collect();
            store
                .update_stanza(record::CONF, &found.name, &pairs)
                .await?;
            Ok(true)
        }
        _ => Ok(false),
    }
}
