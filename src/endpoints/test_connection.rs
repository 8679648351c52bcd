//! `POST /mltk/test_container_connection`: checks a Docker or Kubernetes connection stage by
//! stage (see each runtime's `diagnose`) and, when every stage passes, stores the secrets it
//! was given (an `api_token` is generated when none is given or stored). The settings are not written: saving is `POST/PUT
//! container_connection`, which the UI calls next with `updated_config`.
//!
//! The body is checked against the connection spec like a save; values it leaves out come from
//! the saved connection, so `{"container_type": "docker"}` tests what is saved.

use super::saved::{ensure_api_token, mirror_api_token};
use crate::conffile::Stanza;
use crate::connection::CONF;
use crate::connection::spec::{self, Lookup};
use crate::connection::validate::plan_save;
use crate::connection::view::tested_settings;
use crate::context::Context;
use crate::error::ApiError;
use crate::model::image::{self, Catalog};
use crate::names::ContainerType;
use crate::protocol::fields::Fields;
use crate::protocol::reply::Outcome;
use crate::protocol::reply::{info, warn};
use crate::protocol::request::Request;
use crate::runtime::connect::diagnose;
use crate::runtime::diagnosis::Verdict;
use crate::runtime::secrets::Secrets;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

/// Default bound of the whole test.
pub const DEFAULT_LIMIT: Duration = Duration::from_secs(10);

/// `POST /mltk/test_container_connection`.
pub async fn test(ctx: &Context, req: &Request) -> Result<Outcome, ApiError> {
    test_inner(ctx, req).await.map_err(|(e, stages)| {
        let text = e.message.clone();
        let e = e.with_legacy("message", text).with_legacy("status", "fail");
        match stages {
            Some(s) => e.with_legacy("stages", s),
            None => e,
        }
    })
}

type Failure = (ApiError, Option<Value>);

async fn test_inner(ctx: &Context, req: &Request) -> Result<Outcome, Failure> {
    let bare = |e: ApiError| (e, None);
    let mut fields = Fields::from_request(req).map_err(bare)?;
    // A list or an object is neither a type nor a name: a 400, not the docker default.
    let connection_name = fields.scalar("connection_name").map_err(bare)?;
    let ty = match fields
        .scalar("container_type")
        .map_err(bare)?
        .map(|t| t.trim().to_string())
    {
        None => ContainerType::Docker,
        Some(t) if t.is_empty() => ContainerType::Docker,
        Some(t) => ContainerType::parse(&t).map_err(bare)?,
    };
    fields
        .0
        .insert("container_type".into(), Value::String(ty.as_str().into()));
    // The test does not save a name; the spec check wants one.
    let named = connection_name.is_some_and(|n| !n.trim().is_empty());
    if !named {
        fields
            .0
            .insert("connection_name".into(), Value::String("test".into()));
    }
    let limit = match fields.0.remove("timeout").and_then(|v| match v {
        Value::String(s) => s.trim().parse::<u64>().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }) {
        Some(s) if (1..=60).contains(&s) => Duration::from_secs(s),
        Some(_) => {
            return Err(bare(ApiError::bad_request(
                "timeout must be a whole number of seconds from 1 to 60.",
            )));
        }
        None => DEFAULT_LIMIT,
    };
    let spec = spec::spec().map_err(bare)?;
    let store = ctx.store(req).await.map_err(bare)?;
    let (saved, stored, catalog) = tokio::join!(
        store.get_stanza(CONF, ty.as_str()),
        store.list_passwords(ty.realm()),
        store.list_stanzas(image::CONF)
    );
    let saved = saved
        .map_err(bare)?
        .unwrap_or_else(|| Stanza::new(ty.as_str()));
    let stored = stored.map_err(bare)?;
    let stored_names: Vec<String> = stored.iter().map(|(u, _)| u.clone()).collect();
    // The settings a body leaves out are the saved ones, checked as the body's are (secrets
    // come from storage/passwords below).
    for (key, value) in &saved.entries {
        let known = matches!(spec.lookup(ty, key), Lookup::Known(k) if !k.is_secret());
        if known && !fields.has(key) && !value.trim().is_empty() {
            fields.0.insert(key.clone(), Value::String(value.clone()));
        }
    }
    let plan = plan_save(spec, &fields, true).map_err(bare)?;

    // The connection under test: saved settings and secrets, overlaid with the body's.
    let mut stanza = saved.clone();
    for (k, v) in &plan.settings {
        stanza.set(k, v.clone());
    }
    let mut secrets = Secrets::from_listing(stored);
    for (k, v) in &plan.secrets {
        secrets.set(k, v.clone());
    }
    let wants_gpu = catalog.map(|c| {
        Catalog::from_stanzas(&c)
            .images
            .iter()
            .any(|i| i.runtime.to_ascii_lowercase().contains("nvidia"))
    });
    let wants_gpu = wants_gpu.unwrap_or(false);
    let diagnosis = diagnose(ty, &stanza, &secrets, wants_gpu, limit)
        .await
        .map_err(|e| bare(e.into()))?;
    let stages: Vec<Value> = diagnosis.stages.iter().map(|s| s.to_json()).collect();
    if let Some(failure) = diagnosis.failure {
        return Err((failure, Some(Value::Array(stages))));
    }

    // Every stage passed: store the secrets given (a given api_token replaces the stored
    // one), and an api_token if there is none (the first of concurrent requests wins).
    let mut messages = Vec::new();
    for (key, value) in &plan.secrets {
        let exists = stored_names.iter().any(|n| n == key);
        store
            .store_password(ty.realm(), key, value.expose(), exists)
            .await
            .map_err(bare)?;
    }
    if !plan.secrets.is_empty() {
        let names: Vec<&str> = plan.secrets.iter().map(|(k, _)| k.as_str()).collect();
        messages.push(info(&format!(
            "Stored in storage/passwords: {}.",
            names.join(", ")
        )));
    }
    // `secrets` holds the stored ones overlaid with the body's: a token in either is kept.
    let (token, generated) = ensure_api_token(&store, ty, &mut secrets)
        .await
        .map_err(bare)?;
    mirror_api_token(&store, &token).await.map_err(bare)?;
    if generated {
        messages.push(info(
            "A new api_token was generated and stored for this connection.",
        ));
    }
    messages.extend(diagnosis.warnings.iter().map(|w| warn(w)));
    for s in diagnosis
        .stages
        .iter()
        .filter(|s| s.outcome == Verdict::Warning)
    {
        messages.push(warn(&format!("{}: {} {}", s.name, s.detail, s.hint)));
    }
    let mut present: BTreeSet<String> = stored_names.into_iter().collect();
    present.extend(plan.secrets.iter().map(|(k, _)| k.clone()));
    present.insert("api_token".into());
    let updated = tested_settings(spec, ty, &plan.settings, named, &present);
    Ok(Outcome::ok(json!({
        "message": "Container configurations validated successfully",
        "updated_config": updated,
        "status": "success",
        "engine_version": diagnosis.engine_version,
        "stages": stages,
        "messages": messages,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DriverConfig;

    fn run_test(body: &str) -> Result<Outcome, ApiError> {
        let ctx = Context::new(DriverConfig::from_lookup(|_| None, None).0);
        let req = Request {
            method: "POST".into(),
            payload: Some(body.into()),
            ..Request::default()
        };
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(test(&ctx, &req))
    }

    #[test]
    fn a_type_or_name_that_is_a_list_or_object_is_400_naming_it() {
        for (body, field) in [
            (r#"{"container_type":["kubernetes"]}"#, "container_type"),
            (r#"{"container_type":{"a":"docker"}}"#, "container_type"),
            (
                r#"{"container_type":"docker","connection_name":["x"]}"#,
                "connection_name",
            ),
            (
                r#"{"payload":{"connection_name":{"n":"x"}}}"#,
                "connection_name",
            ),
        ] {
            let e = run_test(body).unwrap_err();
            assert_eq!(e.status(), 400, "{body}: {}", e.message);
            assert!(e.message.starts_with(field), "{body}: {}", e.message);
        }
        // A string type is read as before and goes on to the store (absent here: 503).
        assert_eq!(
            run_test(r#"{"container_type":"kubernetes"}"#)
                .unwrap_err()
                .status(),
            503
        );
        assert_eq!(
            run_test(r#"{"container_type":"docker","connection_name":"c"}"#)
                .unwrap_err()
                .status(),
            503
        );
    }
}
