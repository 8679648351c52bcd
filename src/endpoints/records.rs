//! Deployment records and the image catalog: `GET container_data`, `GET container_logs`,
//! `GET start_container`, `GET stop_container`, `DELETE start_container/{model}`.
//!
//! Each request reads a conf with exactly one splunkd call (a list, or for DELETE one stanza
//! read), never one call per stanza; the classification and the reply bodies come from
//! [`crate::model::record`] and [`crate::model::image`]. Replies keep the AI Toolkit's keys
//! (`message`, `status`, `config`, `container_status`, `docker_images`, `delete_data`) and add
//! Splunk's `messages` where there is something to say. Failures carry a real status with
//! `messages` plus the toolkit's `message` and `status` keys.

use super::body::force_flag;
use super::{fail, fail_with_own_text, info, warn};
use crate::conffile::Stanza;
use crate::error::ApiError;
use crate::model::image::{self, Catalog};
use crate::model::record::{self, Counts, Removal};
use crate::names;
use crate::protocol::reply::Outcome;
use crate::protocol::request::Request;
use crate::service::Context;
use crate::splunkd::SplunkdClient;
use serde_json::{Value, json};

/// `GET /mltk/container_data`: every record with its stored keys joined with live state
/// (`state`, and `status` Active only when the container's API answers now), plus the
/// containers this search head runs that no record names (`orphans`).
pub async fn container_data(ctx: &Context, req: &Request) -> Result<Outcome, ApiError> {
    const FAILED: &str = "Failed to read configuration.";
    let store = ctx.store(req).map_err(|e| fail(e, FAILED))?;
    let records = record::records(
        store
            .list_stanzas(record::CONF)
            .await
            .map_err(|e| fail(e, FAILED))?,
    );
    #[cfg(feature = "runtimes")]
    let super::live::LiveView {
        rows: config,
        orphans,
        messages,
    } = super::live::live_rows(&store, req, &records).await;
    #[cfg(not(feature = "runtimes"))]
    let (config, orphans, messages) = stored_rows(&records);
    let mut body = json!({
        "message": "Fetched the container successfully",
        "config": config,
        "orphans": orphans,
        "status": "success",
    });
    if !messages.is_empty() {
        body["messages"] = Value::Array(messages);
    }
    Ok(Outcome::ok(body))
}

/// `GET /mltk/container_logs`: records grouped into DEV/PROD (by mode) and ACTIVE/INACTIVE
/// (by whether an `api_url` is recorded).
pub async fn dev_prod_groups(ctx: &Context, req: &Request) -> Result<Outcome, ApiError> {
    const FAILED: &str = "Failed to read the dev prod data.";
    let records = read_records(ctx, req).await.map_err(|e| fail(e, FAILED))?;
    let (config, modeless) = record::groups(&records);
    let mut body = json!({
        "message": "Fetched the dev prod data successfully",
        "config": config,
        "status": "success",
    });
    if !modeless.is_empty() {
        body["messages"] = json!([info(&format!(
            "Records with no DEV or PROD mode are in neither DEV nor PROD: {}.",
            name_list(&modeless)
        ))]);
    }
    Ok(Outcome::ok(body))
}

/// `GET /mltk/start_container`: counts of active/inactive and DEV/PROD records. `mode_prod`
/// counts PROD records only; records without a DEV or PROD mode are counted in `mode_other`.
pub async fn counts(ctx: &Context, req: &Request) -> Result<Outcome, ApiError> {
    const FAILED: &str = "Failed to read the container status stanzas.";
    let records = read_records(ctx, req).await.map_err(|e| fail(e, FAILED))?;
    let counts = Counts::of(&records);
    let mut body = json!({
        "message": "Fetched the container status stanzas successfully",
        "container_status": {"counts": counts.to_json()},
        "status": "success",
    });
    if counts.mode_other > 0 {
        body["messages"] = json!([info(&format!(
            "{} record(s) have no DEV or PROD mode and are counted in mode_other, \
             in neither mode_dev nor mode_prod.",
            counts.mode_other
        ))]);
    }
    Ok(Outcome::ok(body))
}

/// `GET /mltk/stop_container`: the image catalog. An empty catalog is a 200 with an empty
/// map and a message saying where images come from.
pub async fn image_catalog(ctx: &Context, req: &Request) -> Result<Outcome, ApiError> {
    let stanzas = async { ctx.store(req)?.list_stanzas(image::CONF).await }
        .await
        .map_err(|e| {
            e.with_legacy("message", "Failed to retrieve Docker images.")
                .with_legacy("status", "failure")
        })?;
    let catalog = Catalog::from_stanzas(&stanzas);
    let message = if catalog.images.is_empty() {
        "No Docker images found in docker_images.conf; add stanzas with title, image, repo \
         and runtime to list images."
    } else {
        "Retrieved Docker images successfully"
    };
    let mut body = json!({
        "message": message,
        "docker_images": catalog.to_json(),
        "status": "success",
    });
    if let Some(w) = catalog.skipped_warning() {
        body["messages"] = json!([warn(&w)]);
    }
    Ok(Outcome::ok(body))
}

/// `DELETE /mltk/start_container/{model}`: removes a deployment record. 400 for a bad name,
/// 404 when there is no record, 409 while the record names a container unless `force=true`
/// (query argument or body field). The shipped `[__dev__]` record is emptied, not deleted.
pub async fn delete_record(ctx: &Context, req: &Request, model: &str) -> Result<Outcome, ApiError> {
    delete(ctx, req, model).await.map_err(fail_with_own_text)
}

async fn delete(ctx: &Context, req: &Request, model: &str) -> Result<Outcome, ApiError> {
    let model = names::model_name(model)?;
    let force = force_flag(req)?;
    let store = ctx.store(req)?;
    let absent = || {
        ApiError::not_found(format!(
            "There is no deployment record for model {model}; \
             GET /mltk/container_data lists the records."
        ))
    };
    // `[default]` is splunkd's inheritance stanza, never a record.
    let stored = if model == record::DEFAULT_STANZA {
        None
    } else {
        store.get_stanza(record::CONF, &model).await?
    };
    let found = stored.ok_or_else(absent)?;
    let found = record::records(vec![found]).pop().ok_or_else(absent)?;
    let plan = record::plan_removal(&found, force)?;

    let mut messages = Vec::new();
    if let Some(id) = &plan.forced_past {
        messages.extend(force_stop(&store, req, &found, id).await?);
    }
    let outcome = match plan.removal {
        Removal::Delete => match store.delete_stanza(record::CONF, &model).await {
            Ok(true) => Done::Deleted,
            Ok(false) => return Err(absent()),
            // splunkd refuses to delete a stanza that ships in default/: empty it instead.
            Err(e) if e.status() == 400 => empty(&store, &found, record::emptying(&found)).await?,
            Err(e) => return Err(e),
        },
        keys @ Removal::Empty(_) => empty(&store, &found, keys).await?,
    };
    let message = match outcome {
        Done::Deleted => "Deployment record deleted successfully",
        Done::Emptied => {
            messages.push(info(&format!(
                "The record {model} ships with the app and cannot be deleted; \
                 its keys were emptied."
            )));
            "Deployment record emptied successfully"
        }
        Done::AlreadyEmpty => {
            messages.push(info(&format!(
                "The record {model} ships with the app and cannot be deleted; \
                 its keys were already empty, nothing was changed."
            )));
            "Deployment record emptied successfully"
        }
    };
    let emptied = outcome != Done::Deleted;
    let mut body = json!({
        "message": message,
        "delete_data": {
            "status": "deleted",
            "container_id": model,
            "record": if emptied { "emptied" } else { "deleted" },
        },
        "status": "success",
    });
    if !messages.is_empty() {
        body["messages"] = Value::Array(messages);
    }
    Ok(Outcome::ok(body))
}

/// What a removal did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Done {
    Deleted,
    Emptied,
    AlreadyEmpty,
}

/// Empties the listed keys of `found` in one write (none when there is nothing to clear).
async fn empty(store: &SplunkdClient, found: &Stanza, removal: Removal) -> Result<Done, ApiError> {
    let keys = match removal {
        Removal::Empty(keys) if !keys.is_empty() => keys,
        _ => return Ok(Done::AlreadyEmpty),
    };
    let pairs: Vec<(String, &str)> = keys.into_iter().map(|k| (k, "")).collect();
    store
        .update_stanza(record::CONF, &found.name, &pairs)
        .await
        .map(|()| Done::Emptied)
}

/// `force=true` on a record naming a container: the container is stopped first through the
/// docker connection (an engine failure stops the delete); without a connection, or for a
/// runtime this build cannot drive, the record goes and a warning says the container stays.
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
    #[cfg(feature = "runtimes")]
    if record::cluster(found) == Ok(crate::names::ContainerType::Docker) {
        return match super::stop::stop_model(store, req, model, Some(found)).await {
            Ok((removed, mut notes)) => {
                notes.push(warn(&record::forced_note(model, &removed)));
                Ok(notes)
            }
            Err(e) if e.kind == crate::error::ErrorKind::NotFound => {
                Ok(left_running("no docker connection is saved"))
            }
            Err(e) => Err(e),
        };
    }
    let _ = (store, req);
    Ok(left_running(
        "this version cannot stop containers of its cluster",
    ))
}

/// Without runtime support: the stored keys only, with an unknown state.
#[cfg(not(feature = "runtimes"))]
fn stored_rows(records: &[Stanza]) -> (serde_json::Map<String, Value>, Vec<Value>, Vec<Value>) {
    let rows = records
        .iter()
        .map(|r| {
            let mut c = record::content(r);
            c.insert("state".into(), Value::String("unknown".into()));
            c.insert(
                "status".into(),
                Value::String(crate::runtime::state::UNKNOWN.into()),
            );
            (r.name.clone(), Value::Object(c))
        })
        .collect();
    let note = info("This build has no container runtime support; live state is not checked.");
    (rows, Vec::new(), vec![note])
}

/// The records of dsdl_container.conf, with one list call.
async fn read_records(ctx: &Context, req: &Request) -> Result<Vec<Stanza>, ApiError> {
    let stanzas = ctx.store(req)?.list_stanzas(record::CONF).await?;
    Ok(record::records(stanzas))
}

/// At most 20 names, then how many more, so a message stays short with many records.
fn name_list(names: &[String]) -> String {
    const SHOWN: usize = 20;
    let mut text = names
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        text.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_name_lists_are_cut() {
        let names: Vec<String> = (0..25).map(|i| format!("m{i}")).collect();
        let text = name_list(&names);
        assert!(
            text.starts_with("m0, m1,") && text.ends_with("m19 and 5 more"),
            "{text}"
        );
        assert_eq!(name_list(&names[..2]), "m0, m1");
    }

    #[test]
    fn failures_keep_the_toolkit_keys() {
        let e = fail(
            ApiError::unavailable("splunkd is down"),
            "Failed to read configuration.",
        );
        assert_eq!(e.status(), 503);
        let legacy = e.legacy.expect("legacy keys");
        assert_eq!(legacy["message"], "Failed to read configuration.");
        assert_eq!(legacy["status"], "fail");
    }
}
