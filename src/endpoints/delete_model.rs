//! `DELETE /mltk/start_container/{model}`: deletes the MLTK model, as the AI Toolkit does
//! (its UI's Delete action): the lookup file `__mlspl_<model>.mlmodel` through splunkd's
//! `data/lookup-table-files`, in the caller's namespace and with the caller's own session, so
//! splunkd applies the caller's permissions. Then the model's deployment record goes too.
//!
//! Order, so a refused delete changes nothing:
//! 1. the name (400) and `force` (400);
//! 2. the record (system token): while it names a container, 409 unless `force=true`;
//! 3. with `force` and a running container, the model file is looked up first (404 absent, 403
//!    when splunkd says the caller may not delete it), then the container is stopped;
//! 4. the model file is deleted (404 absent: nothing changed, a record is kept and the message
//!    says how to remove it; 403 from splunkd passed on);
//! 5. the record is deleted (the shipped `__dev__` is emptied).
//!
//! Replies keep the toolkit's keys (`message`, `delete_data`, `status`) plus `messages` saying
//! what happened to the record; failures carry `messages` with the toolkit's `message` and
//! `status: "fail"`.

use crate::conffile::Stanza;
use crate::context::Context;
use crate::error::ApiError;
use crate::model::mltk::{self, RecordOutcome};
use crate::model::record::{self, Removal};
use crate::names;
use crate::protocol::fields::force_flag;
use crate::protocol::reply::Outcome;
use crate::protocol::reply::{info, warn};
use crate::protocol::request::Request;
use crate::splunkd::{CallerSession, SplunkdClient};
use serde_json::{Value, json};

/// `DELETE /mltk/start_container/{model}`.
pub async fn delete_model(ctx: &Context, req: &Request, model: &str) -> Result<Outcome, ApiError> {
    delete(ctx, req, model)
        .await
        .map_err(ApiError::toolkit_failure_own_text)
}

async fn delete(ctx: &Context, req: &Request, model: &str) -> Result<Outcome, ApiError> {
    let model = names::model_name(model)?;
    let force = force_flag(req)?;
    let store = ctx.store(req).await?;
    let caller = CallerSession::from_request(req)?;
    let file = mltk::model_file(&model);
    let place = mltk::namespace_text(&caller.user, caller.app.as_deref());

    let found = match store.get_stanza(record::CONF, &model).await? {
        Some(s) => record::records(vec![s]).pop(),
        None => None,
    };
    let plan = found
        .as_ref()
        .map(|r| record::plan_removal(r, force))
        .transpose()?;

    let mut messages = Vec::new();
    if let (Some(r), Some(id)) = (&found, plan.as_ref().and_then(|p| p.forced_past.as_ref())) {
        // Nothing is stopped for a delete that cannot happen.
        match store.lookup_file(&caller, &file).await? {
            None => return Err(mltk::model_absent(&model, &place, true)),
            Some(f) if !f.removable => return Err(mltk::model_not_removable(&model, &place)),
            Some(_) => {}
        }
        messages.extend(force_stop(&store, req, r, id).await?);
    }
    if !store.delete_lookup_file(&caller, &file).await? {
        return Err(mltk::model_absent(&model, &place, found.is_some()));
    }

    let outcome = match (&found, plan) {
        (Some(r), Some(plan)) => remove_record(&store, r, plan.removal).await?,
        _ => RecordOutcome::None,
    };
    messages.push(info(&outcome.text(&model)));
    Ok(Outcome::ok(json!({
        "message": "Model deleted successfully",
        "delete_data": {
            "status": "deleted",
            "container_id": model,
            "record": outcome.key(),
        },
        "status": "success",
        "messages": Value::Array(messages),
    })))
}

/// Removes the record as planned: deleted, or emptied for one that ships in `default/`.
async fn remove_record(
    store: &SplunkdClient,
    found: &Stanza,
    removal: Removal,
) -> Result<RecordOutcome, ApiError> {
    match removal {
        Removal::Delete => match store.delete_stanza(record::CONF, &found.name).await {
            // Gone meanwhile: the outcome is the same.
            Ok(_) => Ok(RecordOutcome::Deleted),
            // splunkd refuses to delete a stanza that ships in default/: empty it instead.
            Err(e) if e.status() == 400 => empty(store, found, record::emptying(found)).await,
            Err(e) => Err(e),
        },
        keys @ Removal::Empty(_) => empty(store, found, keys).await,
    }
}

/// Empties the listed keys of `found` in one write (none when there is nothing to clear).
async fn empty(
    store: &SplunkdClient,
    found: &Stanza,
    removal: Removal,
) -> Result<RecordOutcome, ApiError> {
    let keys = match removal {
        Removal::Empty(keys) if !keys.is_empty() => keys,
        _ => return Ok(RecordOutcome::AlreadyEmpty),
    };
    let pairs: Vec<(String, &str)> = keys.into_iter().map(|k| (k, "")).collect();
    store
        .update_stanza(record::CONF, &found.name, &pairs)
        .await
        .map(|()| RecordOutcome::Emptied)
}

/// `force=true` on a record naming a container: the container is stopped first through the
/// docker connection (an engine failure, or a container of another search head, stops the
/// delete); without a connection, or for a runtime this build cannot drive, the model and
/// record go and a warning says the container stays.
async fn force_stop(
    store: &SplunkdClient,
    req: &Request,
    found: &Stanza,
    id: &str,
) -> Result<Vec<Value>, ApiError> {
    let model = &found.name;
    let left_running = |why: &str| {
        vec![warn(&format!(
            "Model {model} was recorded as running (container {id}) but {why}, so its \
             container was not stopped; stop it on its engine by hand."
        ))]
    };
    let supported = record::cluster(found)
        .is_ok_and(|ty| crate::runtime::connect::ensure_supported(ty).is_ok());
    if !supported {
        return Ok(left_running(
            "this version cannot stop containers of its cluster",
        ));
    }
    match super::stop::stop_model(store, req, model, Some(found)).await {
        Ok((removed, mut notes)) => {
            notes.push(warn(&record::forced_note(model, &removed)));
            Ok(notes)
        }
        Err(e) if e.kind == crate::error::ErrorKind::NotFound => Ok(left_running(&format!(
            "no {} connection is saved",
            record::cluster(found)
                .map(|t| t.as_str())
                .unwrap_or("docker")
        ))),
        Err(e) => Err(e),
    }
}
