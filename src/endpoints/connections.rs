//! Connection settings: `/mltk/container_connection[/{type}[/{name}]]` and
//! `GET /mltk/test_container_connection`.
//!
//! One connection per container type lives in the `[docker]` / `[kubernetes]` stanza of
//! container_connections.conf; its secrets live in storage/passwords, realm `dsdl_<type>`,
//! username = the key. Every request validates everything before its first write, reads each
//! store once (a stanza or a conf listing, and one listing of the passwords), and never puts a
//! secret into a reply: stored secrets read back as `default_token`. The pure parts (spec,
//! validation, masking, the writes) are in [`crate::connection`]; update and delete semantics
//! are described in [`crate::connection::update`].

use crate::conffile::Stanza;
use crate::connection::CONF;
use crate::connection::spec::{self, shipped_stanza};
use crate::connection::update::{build_reset, build_save, running_records};
use crate::connection::validate::plan_save;
use crate::connection::view::{
    cluster_defaults, configured_name, masked_settings, present_secrets, saved_docker_config,
};
use crate::context::Context;
use crate::error::{ApiError, ErrorKind};
use crate::names::{self, ContainerType};
use crate::protocol::fields::{Fields, force_flag};
use crate::protocol::reply::Outcome;
use crate::protocol::reply::{info, warn};
use crate::protocol::request::Request;
use crate::render::{Entry, Feed};
use crate::splunkd::SplunkdClient;
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;

/// The conf of deployment records, read to refuse deleting a connection still in use.
const RECORDS_CONF: &str = "dsdl_container";

/// `GET` (list), `POST` (create) and `PUT` (update) on `/mltk/container_connection`; the
/// router has already refused other methods.
pub async fn collection(ctx: &Context, req: &Request) -> Result<Outcome, ApiError> {
    let result = if req.method == "GET" {
        list(ctx, req).await
    } else {
        save(ctx, req).await
    };
    result.map_err(ApiError::toolkit_failure_own_text)
}

/// `GET /mltk/container_connection/{type}`: cluster defaults and the masked stanza.
pub async fn defaults(
    ctx: &Context,
    req: &Request,
    container_type: &str,
) -> Result<Outcome, ApiError> {
    async {
        let spec = spec::spec()?;
        let ty = path_type(container_type)?;
        let store = ctx.store(req).await?;
        let stanza = read_stanza(&store, ty).await?;
        let present = present_secrets(spec, ty, &stanza, &stored_names(&store, ty).await?);
        let text = "Cluster defaults fetched successfully";
        Ok(Outcome::ok(json!({
            "mesage": text,
            "message": text,
            "config": cluster_defaults(spec, ty, &stanza, &present),
            "status": "success",
        })))
    }
    .await
    .map_err(ApiError::toolkit_failure_own_text)
}

/// `GET` (read for editing) and `DELETE` on `/mltk/container_connection/{type}/{name}`; the
/// router has already refused other methods.
pub async fn one(
    ctx: &Context,
    req: &Request,
    container_type: &str,
    name: &str,
) -> Result<Outcome, ApiError> {
    let result = if req.method == "DELETE" {
        delete(ctx, req, container_type, name).await
    } else {
        read_one(ctx, req, container_type, name).await
    };
    result.map_err(ApiError::toolkit_failure_own_text)
}

/// `GET /mltk/test_container_connection`: the saved docker connection, secrets masked.
pub async fn saved_docker(ctx: &Context, req: &Request) -> Result<Outcome, ApiError> {
    async {
        let spec = spec::spec()?;
        let ty = ContainerType::Docker;
        let store = ctx.store(req).await?;
        let stanza = read_stanza(&store, ty).await?;
        let present = present_secrets(spec, ty, &stanza, &stored_names(&store, ty).await?);
        Ok(Outcome::ok(json!({
            "message": "Fetched the data successfully",
            "config": saved_docker_config(spec, &stanza, &present),
            "status": "success",
        })))
    }
    .await
    .map_err(ApiError::toolkit_failure_own_text)
}

/// Every configured connection as a Splunk collection: one entry per type whose stanza has
/// a connection name, content = the masked settings and `container_type`.
async fn list(ctx: &Context, req: &Request) -> Result<Outcome, ApiError> {
    let spec = spec::spec()?;
    let store = ctx.store(req).await?;
    let stanzas = store.list_stanzas(CONF).await?;
    // One storage/passwords listing for both realms, only when something is configured.
    let configured = stanzas.iter().any(|s| configured_name(s).is_some());
    let credentials = if configured {
        store.list_credentials().await?
    } else {
        Vec::new()
    };
    let mut entries = Vec::new();
    for ty in [ContainerType::Docker, ContainerType::Kubernetes] {
        let Some(stanza) = stanzas.iter().find(|s| s.name == ty.as_str()) else {
            continue;
        };
        let Some(name) = configured_name(stanza) else {
            continue;
        };
        let stored: BTreeSet<String> = credentials
            .iter()
            .filter(|(realm, _, _)| realm == ty.realm())
            .map(|(_, user, _)| user.clone())
            .collect();
        let present = present_secrets(spec, ty, stanza, &stored);
        let mut content = masked_settings(spec, ty, stanza, &present);
        content.insert("container_type".into(), Value::String(ty.as_str().into()));
        entries.push(Entry {
            name: name.to_string(),
            author: "nobody".into(),
            acl: None,
            content,
        });
    }
    Ok(Outcome::Feed(Feed::new(
        "container_connection",
        ctx.origin(req),
        entries,
    )))
}

/// Creates (POST) or updates (PUT, or POST with a true `is_edit`) the connection of a type.
async fn save(ctx: &Context, req: &Request) -> Result<Outcome, ApiError> {
    let spec = spec::spec()?;
    let fields = Fields::from_request(req)?;
    let plan = plan_save(spec, &fields, req.method == "PUT")?;
    let ty = plan.container_type;
    let store = ctx.store(req).await?;
    let current = read_stanza(&store, ty).await?;
    match (plan.update, configured_name(&current)) {
        (false, Some(existing)) => {
            return Err(ApiError::conflict(create_conflict(
                ty,
                existing,
                &plan.connection_name,
            )));
        }
        (true, Some(existing)) if existing != plan.connection_name => {
            return Err(ApiError::not_found(format!(
                "Connection Name '{}' not present in container_type '{ty}': the {ty} connection is named {existing:?}; connection names cannot be changed by an update.",
                plan.connection_name
            )));
        }
        (true, None) => {
            return Err(ApiError::not_found(format!(
                "Connection Name '{}' not present in container_type '{ty}': no {ty} connection is saved; create it with POST /mltk/container_connection.",
                plan.connection_name
            )));
        }
        _ => {}
    }
    let stored = stored_names(&store, ty).await?;
    let defaults = shipped_stanza(spec::shipped_defaults()?, ty);
    let writes = build_save(spec, &plan, &current, &defaults, &stored);
    for (key, value) in &writes.secrets {
        // The listing above says whether each secret exists: one call per secret.
        store
            .store_password(ty.realm(), key, value.expose(), stored.contains(key))
            .await?;
    }
    if !writes.conf.is_empty() {
        write_stanza(&store, ty, &writes.conf).await?;
    }

    let mut after = current.clone();
    for (k, v) in &writes.conf {
        after.set(k, v.clone());
    }
    let mut config = masked_settings(spec, ty, &after, &writes.present_after);
    config.insert("container_type".into(), Value::String(ty.as_str().into()));
    let mut messages = Vec::new();
    if !writes.migrated.is_empty() {
        messages.push(info(&format!(
            "Moved {} from container_connections.conf into storage/passwords.",
            writes.migrated.join(", ")
        )));
    }
    Ok(Outcome::ok(json!({
        "message": "Container configurations updated successfully",
        "result": saved_text(ty),
        "status": "success",
        "container_type": ty.as_str(),
        "connection_name": plan.connection_name,
        "config": config,
        "messages": messages,
    })))
}

/// The connection of `type` named `name`, for editing.
async fn read_one(
    ctx: &Context,
    req: &Request,
    container_type: &str,
    name: &str,
) -> Result<Outcome, ApiError> {
    let spec = spec::spec()?;
    let (ty, name) = (path_type(container_type)?, names::connection_name(name)?);
    let store = ctx.store(req).await?;
    let stanza = read_stanza(&store, ty).await?;
    check_name(&stanza, ty, &name)?;
    let present = present_secrets(spec, ty, &stanza, &stored_names(&store, ty).await?);
    let mut config = masked_settings(spec, ty, &stanza, &present);
    config.insert("container_type".into(), Value::String(ty.as_str().into()));
    let text = "Container configuration fetched successfully";
    Ok(Outcome::ok(json!({
        "mesage": text,
        "message": text,
        "config": config,
        "status": "success",
    })))
}

/// Deletes the connection of `type` named `name`: its secrets, then its settings (reset to
/// the shipped defaults). Refused with 409 while deployment records of that type are running,
/// unless `force=true`.
async fn delete(
    ctx: &Context,
    req: &Request,
    container_type: &str,
    name: &str,
) -> Result<Outcome, ApiError> {
    let (ty, name) = (path_type(container_type)?, names::connection_name(name)?);
    let force = force_flag(req)?;
    let store = ctx.store(req).await?;
    let stanza = read_stanza(&store, ty).await?;
    check_name(&stanza, ty, &name)?;
    let running = match store.list_stanzas(RECORDS_CONF).await {
        Ok(records) => running_records(ty, &records),
        Err(e) if e.kind == ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    if !running.is_empty() && !force {
        return Err(ApiError::conflict(format!(
            "{} recorded as running through the {ty} connection ({}); stop {} first (POST /mltk/stop_container), or delete with force=true to leave {} running without a connection.",
            count(running.len(), "container is", "containers are"),
            running.join(", "),
            if running.len() == 1 { "it" } else { "them" },
            if running.len() == 1 { "it" } else { "them" },
        )));
    }

    // Secrets first: if a call fails, the connection is still there and the delete can be
    // retried; the settings reset is the last step.
    let mut deleted: Vec<String> = Vec::new();
    for (user, _) in store.list_passwords(ty.realm()).await? {
        if store.delete_password(ty.realm(), &user).await? {
            deleted.push(user);
        }
    }
    let spec = spec::spec()?;
    let defaults = shipped_stanza(spec::shipped_defaults()?, ty);
    let reset = build_reset(&stanza, &defaults);
    if !reset.is_empty() {
        write_stanza(&store, ty, &reset).await?;
    }

    let mut messages = Vec::new();
    if !running.is_empty() {
        messages.push(warn(&format!(
            "Deleted with force=true while {} still recorded as running ({}); they were not stopped and keep running. Without a connection the handler cannot reach them: save the connection again and POST /mltk/stop_container, or stop them on the engine.",
            count(running.len(), "container is", "containers are"),
            running.join(", ")
        )));
    }
    // Every key as it is now (the toolkit listed each cleared key with `""`; here a key with
    // a shipped default reads as that default), then stray keys the reset cleared.
    let mut after = stanza.clone();
    for (k, v) in &reset {
        after.set(k, v.clone());
    }
    let mut cleared: Map<String, Value> = masked_settings(spec, ty, &after, &BTreeSet::new());
    for (k, v) in &reset {
        cleared
            .entry(k.clone())
            .or_insert_with(|| Value::String(v.clone()));
    }
    Ok(Outcome::ok(json!({
        "message": "Container configuration deleted successfully",
        "config": {
            "status": "success",
            "message": format!("Stanza [{ty}] cleared."),
            "cleared_data": cleared,
            "result": saved_text(ty),
        },
        "status": "success",
        "container_type": ty.as_str(),
        "connection_name": name,
        "deleted_credentials": deleted,
        "still_running": running,
        "messages": messages,
    })))
}

/// The toolkit's `result` of a write to a type's stanza (its wording, for every type).
fn saved_text(ty: ContainerType) -> String {
    format!("Docker configuration saved successfully under stanza [{ty}].")
}

/// The 409 of a create while the type has a connection. The AI Toolkit silently replaced a
/// connection of another name; here the caller is told how to do it on purpose.
fn create_conflict(ty: ContainerType, existing: &str, wanted: &str) -> String {
    let delete = format!(
        "DELETE /mltk/container_connection/{ty}/{}",
        existing.replace(' ', "%20")
    );
    if existing == wanted {
        format!(
            "Connection name '{wanted}' already exists for cluster '{ty}': to change its \
             settings, edit it with PUT /mltk/container_connection (or POST with is_edit=true), \
             or delete it first with {delete}."
        )
    } else {
        format!(
            "The {ty} connection '{existing}' already exists (one connection per type), so \
             '{wanted}' cannot be created beside it. To replace it, delete it first with \
             {delete} and create '{wanted}' again; to keep it under its name and change its \
             settings, edit it with PUT /mltk/container_connection (or POST with is_edit=true) \
             and connection_name='{existing}'."
        )
    }
}

/// A container type from the URL path; an unknown one is a 404 (no such resource).
fn path_type(raw: &str) -> Result<ContainerType, ApiError> {
    ContainerType::parse(raw).map_err(|_| {
        ApiError::not_found(format!(
            "No container type {:?}: use /mltk/container_connection/docker or /mltk/container_connection/kubernetes.",
            raw.chars().take(40).collect::<String>()
        ))
    })
}

/// 404 unless the stanza holds a connection named `name`.
fn check_name(stanza: &Stanza, ty: ContainerType, name: &str) -> Result<(), ApiError> {
    match configured_name(stanza) {
        Some(n) if n == name => Ok(()),
        Some(n) => Err(ApiError::not_found(format!(
            "Connection Name '{name}' not present in container_type '{ty}': the {ty} connection is named {n:?}."
        ))),
        None => Err(ApiError::not_found(format!(
            "Connection Name '{name}' not present in container_type '{ty}': no {ty} connection is saved."
        ))),
    }
}

/// The type's stanza, or an empty one when splunkd does not have it.
async fn read_stanza(store: &SplunkdClient, ty: ContainerType) -> Result<Stanza, ApiError> {
    Ok(store
        .get_stanza(CONF, ty.as_str())
        .await?
        .unwrap_or_else(|| Stanza::new(ty.as_str())))
}

/// Writes keys to the type's stanza, creating it if the app does not ship it.
async fn write_stanza(
    store: &SplunkdClient,
    ty: ContainerType,
    keys: &[(String, String)],
) -> Result<(), ApiError> {
    match store.update_stanza(CONF, ty.as_str(), keys).await {
        Err(e) if e.kind == ErrorKind::NotFound => {
            store.create_stanza(CONF, ty.as_str(), keys).await
        }
        other => other,
    }
}

/// The usernames stored in the type's realm (the values are dropped at once).
async fn stored_names(
    store: &SplunkdClient,
    ty: ContainerType,
) -> Result<BTreeSet<String>, ApiError> {
    Ok(store
        .list_passwords(ty.realm())
        .await?
        .into_iter()
        .map(|(user, _)| user)
        .collect())
}

fn count(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}
