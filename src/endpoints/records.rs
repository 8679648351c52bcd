//! Deployment records and the image catalog: `GET container_data`, `GET container_logs`,
//! `GET start_container`, `GET stop_container`.
//!
//! Each request reads a conf with exactly one splunkd call (a list), never one call per
//! stanza; the classification and the reply bodies come from
//! [`crate::model::record`] and [`crate::model::image`]. Replies keep the AI Toolkit's keys
//! (`message`, `status`, `config`, `container_status`, `docker_images`) and add
//! Splunk's `messages` where there is something to say. Failures carry a real status with
//! `messages` plus the toolkit's `message` and `status` keys.

use crate::conffile::Stanza;
use crate::context::Context;
use crate::error::ApiError;
use crate::model::image::{self, Catalog};
use crate::model::record::{self, Counts};
use crate::protocol::reply::Outcome;
use crate::protocol::reply::{info, warn};
use crate::protocol::request::Request;
use serde_json::{Value, json};

/// `GET /mltk/container_data`: every record with its stored keys joined with live state
/// (`state`, and `status` Active only when the container's API answers now), plus the
/// containers this search head runs that no record names (`orphans`).
pub async fn container_data(ctx: &Context, req: &Request) -> Result<Outcome, ApiError> {
    const FAILED: &str = "Failed to read configuration.";
    let store = ctx
        .store(req)
        .await
        .map_err(|e| e.toolkit_failure(FAILED))?;
    let records = record::records(
        store
            .list_stanzas(record::CONF)
            .await
            .map_err(|e| e.toolkit_failure(FAILED))?,
    );
    let super::live::LiveView {
        rows: config,
        orphans,
        messages,
    } = super::live::live_rows(&store, req, &records).await;
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
    let records = read_records(ctx, req)
        .await
        .map_err(|e| e.toolkit_failure(FAILED))?;
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
    let records = read_records(ctx, req)
        .await
        .map_err(|e| e.toolkit_failure(FAILED))?;
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
    let stanzas = async { ctx.store(req).await?.list_stanzas(image::CONF).await }
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

/// The records of dsdl_container.conf, with one list call.
async fn read_records(ctx: &Context, req: &Request) -> Result<Vec<Stanza>, ApiError> {
    let stanzas = ctx.store(req).await?.list_stanzas(record::CONF).await?;
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
}
