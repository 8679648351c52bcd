//! `properties/...`: splunkd's older view of the conf files, which splunklib's `service.confs`
//! goes through before `configs/conf-*` (`confs['name']` is a GET of `properties/<name>`, a 404
//! meaning "no such file"; `confs.create(name)` is a POST of `__conf`). Files are layered as
//! for `configs/conf-*` ([`confstore`]) and writes go to the namespace app's `local/`.
//!
//! - `GET properties`: one entry per conf with a file in the namespace's view;
//! - `GET properties/<conf>`: one entry per stanza (404 when no file defines the conf);
//! - `GET properties/<conf>/<stanza>`: one entry per key, the value as `content.value`;
//! - `GET properties/<conf>/<stanza>/<key>`: the value as plain text;
//! - `POST properties` with `__conf`: creates an empty `local/<conf>.conf` (201; 303 with a
//!   `Location` when the conf exists, which splunklib reads as "use the existing one");
//! - `POST properties/<conf>` with `__stanza`: creates the stanza (201, 409 when it exists);
//! - `POST properties/<conf>/<stanza>` with keys: sets them (200, 404 for no such stanza).
//!
//! Writes need `admin_all_objects`, as for `configs/conf-*`.

use super::confstore::{self, Visible};
use super::eai::{self, Paging};
use super::translate::HttpReply;
use super::types::{DevRequest, DevResponse, SplunkHome};
use crate::conffile;
use crate::error::ApiError;
use crate::render::Entry;
use serde_json::{Map, Value};

/// Capability a caller needs to change a conf.
const WRITE_CAPABILITY: &str = "admin_all_objects";

/// Mode of conf files this endpoint writes.
const CONF_MODE: u32 = 0o644;

/// Whether decoded path segments name a `properties` endpoint.
pub fn handles(segments: &[String]) -> bool {
    segments.first().is_some_and(|s| s == "properties")
}

/// [`handle`] off the async threads (it reads and writes files).
pub async fn handle_blocking(home: SplunkHome, req: DevRequest) -> HttpReply {
    let json = req.json();
    match tokio::task::spawn_blocking(move || handle(&home, &req)).await {
        Ok(r) => r.into(),
        Err(_) => HttpReply::error(500, "properties failed unexpectedly; see splunkd.log", json),
    }
}

/// Serves a request whose path starts with `properties`.
pub fn handle(home: &SplunkHome, req: &DevRequest) -> DevResponse {
    match serve(home, req) {
        Ok(r) => r,
        Err(e) => eai::error_reply(req, &e),
    }
}

fn serve(home: &SplunkHome, req: &DevRequest) -> Result<DevResponse, ApiError> {
    let rest: Vec<&str> = req.path.iter().skip(1).map(String::as_str).collect();
    if let Some(conf) = rest.first()
        && !confstore::is_safe_name(conf)
    {
        return Err(ApiError::bad_request(format!(
            "Invalid conf name {conf:?}: use letters, digits, '_', '.' and '-'."
        )));
    }
    match (req.method.as_str(), rest.as_slice()) {
        ("GET", []) => list_confs(home, req),
        ("GET", [conf]) => list_stanzas(home, req, conf),
        ("GET", [conf, stanza]) => list_keys(home, req, conf, stanza),
        ("GET", [conf, stanza, key]) => key_value(home, req, conf, stanza, key),
        ("POST", []) => create_conf(home, req),
        ("POST", [conf]) => create_stanza(home, req, conf),
        ("POST", [conf, stanza]) => set_keys(home, req, conf, stanza),
        (_, [] | [_] | [_, _]) => Err(eai::method_not_allowed(req, &["GET", "POST"])),
        (_, [_, _, _]) => Err(eai::method_not_allowed(req, &["GET"])),
        _ => Err(ApiError::not_found(format!(
            "No such endpoint: /{}",
            req.path.join("/")
        ))),
    }
}

fn origin(req: &DevRequest, under: &[&str]) -> String {
    let mut parts = vec!["properties"];
    parts.extend_from_slice(under);
    eai::collection_origin(req, &parts)
}

fn entry(name: &str, content: Map<String, Value>) -> Entry {
    Entry {
        name: name.to_string(),
        author: "nobody".into(),
        acl: None,
        content,
    }
}

fn reply(
    req: &DevRequest,
    status: u16,
    title: &str,
    under: &[&str],
    entries: Vec<Entry>,
) -> Result<DevResponse, ApiError> {
    let feed = Paging::from_request(req)?.feed(title, origin(req, under), entries);
    Ok(eai::feed_reply(req, status, &feed))
}

fn no_conf(conf: &str) -> ApiError {
    ApiError::not_found(format!("Config file {conf} does not exist"))
}

fn no_stanza(conf: &str, stanza: &str) -> ApiError {
    ApiError::not_found(format!("Could not find stanza [{stanza}] in {conf}.conf"))
}

/// The stanza `stanza` of `conf` as the namespace sees it.
fn visible(
    home: &SplunkHome,
    req: &DevRequest,
    conf: &str,
    stanza: &str,
) -> Result<Visible, ApiError> {
    let app = eai::read_app(home, req)?;
    let view = confstore::view(home, conf, app.as_deref(), true).map_err(eai::io_error)?;
    view.get(stanza)
        .cloned()
        .ok_or_else(|| no_stanza(conf, stanza))
}

fn list_confs(home: &SplunkHome, req: &DevRequest) -> Result<DevResponse, ApiError> {
    let app = eai::read_app(home, req)?;
    let entries = confstore::conf_names(home, app.as_deref())
        .iter()
        .map(|c| entry(c, Map::new()))
        .collect();
    reply(req, 200, "properties", &[], entries)
}

fn list_stanzas(home: &SplunkHome, req: &DevRequest, conf: &str) -> Result<DevResponse, ApiError> {
    let app = eai::read_app(home, req)?;
    if !confstore::conf_exists(home, conf, app.as_deref()) {
        return Err(no_conf(conf));
    }
    let view = confstore::view(home, conf, app.as_deref(), true).map_err(eai::io_error)?;
    let entries = view
        .stanzas
        .iter()
        .map(|v| entry(&v.stanza.name, Map::new()))
        .collect();
    reply(req, 200, conf, &[conf], entries)
}

fn list_keys(
    home: &SplunkHome,
    req: &DevRequest,
    conf: &str,
    stanza: &str,
) -> Result<DevResponse, ApiError> {
    let v = visible(home, req, conf, stanza)?;
    let entries = v
        .stanza
        .entries
        .iter()
        .map(|(k, val)| {
            let mut content = Map::new();
            content.insert("value".into(), Value::String(val.clone()));
            entry(k, content)
        })
        .collect();
    reply(req, 200, stanza, &[conf, stanza], entries)
}

fn key_value(
    home: &SplunkHome,
    req: &DevRequest,
    conf: &str,
    stanza: &str,
    key: &str,
) -> Result<DevResponse, ApiError> {
    let v = visible(home, req, conf, stanza)?;
    let value = v.stanza.get(key).ok_or_else(|| {
        ApiError::not_found(format!("Key {key} is not set in [{stanza}] of {conf}.conf"))
    })?;
    Ok(DevResponse {
        status: 200,
        headers: vec![("Content-Type".into(), "text/plain; charset=UTF-8".into())],
        body: value.as_bytes().to_vec(),
    })
}

/// The namespace app a write goes to, after the capability check.
fn writable_app(home: &SplunkHome, req: &DevRequest) -> Result<String, ApiError> {
    eai::require_any(&req.caller, &[WRITE_CAPABILITY])?;
    eai::write_app(home, req)
}

fn required<'a>(req: &'a DevRequest, name: &str) -> Result<&'a str, ApiError> {
    req.form_arg(name).ok_or_else(|| {
        ApiError::bad_request(format!(
            "The following required arguments are missing: {name}."
        ))
    })
}

fn create_conf(home: &SplunkHome, req: &DevRequest) -> Result<DevResponse, ApiError> {
    let app = writable_app(home, req)?;
    let conf = required(req, "__conf")?;
    if !confstore::is_safe_name(conf) {
        return Err(ApiError::bad_request(format!(
            "Invalid conf name {conf:?}: use letters, digits, '_', '.' and '-'."
        )));
    }
    if confstore::conf_exists(home, conf, Some(&app)) {
        let mut r = reply(req, 303, "properties", &[], vec![entry(conf, Map::new())])?;
        r.headers.push(("Location".into(), origin(req, &[conf])));
        return Ok(r);
    }
    let path = confstore::local_path(home, &app, conf);
    confstore::update_local(home, &app, conf, CONF_MODE, |_| Ok::<_, ApiError>(()))
        .map_err(eai::io_error)??;
    // An unchanged file is not rewritten, so the empty conf is created here.
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(eai::io_error)?;
    reply(req, 201, "properties", &[], vec![entry(conf, Map::new())])
}

fn create_stanza(home: &SplunkHome, req: &DevRequest, conf: &str) -> Result<DevResponse, ApiError> {
    let app = writable_app(home, req)?;
    let stanza = required(req, "__stanza")?.to_string();
    if !conffile::is_valid_stanza_name(&stanza) {
        return Err(ApiError::bad_request(format!(
            "Invalid stanza name {stanza:?}: it cannot be empty, contain ']' or control characters, or start or end with whitespace."
        )));
    }
    let view = confstore::view(home, conf, Some(&app), false).map_err(eai::io_error)?;
    if view.get(&stanza).is_some() {
        return Err(ApiError::conflict(format!(
            "An object with name={stanza} already exists"
        )));
    }
    confstore::update_local(home, &app, conf, CONF_MODE, |file| {
        file.get_or_insert(&stanza);
        Ok::<_, ApiError>(())
    })
    .map_err(eai::io_error)??;
    reply(req, 201, conf, &[conf], vec![entry(&stanza, Map::new())])
}

fn set_keys(
    home: &SplunkHome,
    req: &DevRequest,
    conf: &str,
    stanza: &str,
) -> Result<DevResponse, ApiError> {
    let app = writable_app(home, req)?;
    let mut keys: Vec<(&str, &str)> = Vec::new();
    for (k, v) in &req.form {
        if eai::is_metadata_key(k) {
            continue;
        }
        if !conffile::is_valid_key(k) || !conffile::is_valid_value(v) {
            return Err(ApiError::bad_request(format!(
                "Invalid key or value for {k:?}: keys cannot be empty, contain '=' or whitespace; values cannot hold control characters other than newline and tab, or end with '\\'."
            )));
        }
        keys.push((k, conffile::normalize_value(v)));
    }
    let view = confstore::view(home, conf, Some(&app), false).map_err(eai::io_error)?;
    if view.get(stanza).is_none() {
        return Err(no_stanza(conf, stanza));
    }
    confstore::update_local(home, &app, conf, CONF_MODE, |file| {
        let s = file.get_or_insert(stanza);
        for (k, v) in &keys {
            s.set(k, v.to_string());
        }
        Ok::<_, ApiError>(())
    })
    .map_err(eai::io_error)??;
    list_keys(home, req, conf, stanza)
}

#[cfg(test)]
mod tests {
    use super::super::confstore::tests::{TempHome, temp_home};
    use super::super::types::Caller;
    use super::*;
    use std::fs;

    fn caller(admin: bool) -> Caller {
        Caller {
            user: if admin { "admin" } else { "viewer" }.into(),
            roles: vec![],
            capabilities: if admin {
                [WRITE_CAPABILITY.to_string()].into_iter().collect()
            } else {
                Default::default()
            },
        }
    }

    fn req(method: &str, path: &str, form: &[(&str, &str)], admin: bool) -> DevRequest {
        DevRequest {
            method: method.into(),
            ns_user: Some("nobody".into()),
            ns_app: Some("app".into()),
            path: path.split('/').map(String::from).collect(),
            query: vec![("output_mode".into(), "json".into())],
            form: form
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            base_url: "https://127.0.0.1:8089".into(),
            caller: caller(admin),
        }
    }

    fn json(r: &DevResponse) -> Value {
        serde_json::from_slice(&r.body).unwrap()
    }

    fn names(r: &DevResponse) -> Vec<String> {
        json(r)["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap().to_string())
            .collect()
    }

    fn home() -> TempHome {
        let home = temp_home("properties");
        let d = home.app_dir("app").join("default");
        fs::create_dir_all(&d).unwrap();
        fs::write(
            d.join("dsdl.conf"),
            "[docker]\nurl = unix:///x\n[kubernetes]\n",
        )
        .unwrap();
        home
    }

    #[test]
    fn reads_confs_stanzas_and_keys() {
        let h = home();
        let r = handle(&h, &req("GET", "properties", &[], false));
        assert_eq!(r.status, 200);
        assert!(names(&r).contains(&"dsdl".to_string()), "{:?}", names(&r));
        let r = handle(&h, &req("GET", "properties/dsdl", &[], false));
        assert_eq!(names(&r), ["docker", "kubernetes"]);
        let r = handle(&h, &req("GET", "properties/dsdl/docker", &[], false));
        assert_eq!(json(&r)["entry"][0]["content"]["value"], "unix:///x");
        let r = handle(&h, &req("GET", "properties/dsdl/docker/url", &[], false));
        assert_eq!(r.body, b"unix:///x");
        for (path, status) in [
            ("properties/nope", 404),
            ("properties/dsdl/nope", 404),
            ("properties/dsdl/docker/nope", 404),
            ("properties/..", 400),
            ("properties/a/b/c/d", 404),
        ] {
            let r = handle(&h, &req("GET", path, &[], false));
            assert_eq!(r.status, status, "{path}");
        }
    }

    #[test]
    fn writes_need_the_capability_and_land_in_local() {
        let h = home();
        let r = handle(
            &h,
            &req("POST", "properties", &[("__conf", "fresh")], false),
        );
        assert_eq!(r.status, 403);
        let r = handle(&h, &req("POST", "properties", &[("__conf", "fresh")], true));
        assert_eq!(r.status, 201);
        assert!(confstore::local_path(&h, "app", "fresh").is_file());
        let r = handle(&h, &req("POST", "properties", &[("__conf", "fresh")], true));
        assert_eq!(r.status, 303);
        assert!(
            r.headers
                .iter()
                .any(|(k, v)| k == "Location" && v.ends_with("/properties/fresh"))
        );
        let r = handle(&h, &req("GET", "properties/fresh", &[], false));
        assert_eq!((r.status, names(&r).len()), (200, 0));

        let r = handle(
            &h,
            &req("POST", "properties/fresh", &[("__stanza", "s")], true),
        );
        assert_eq!(r.status, 201);
        let r = handle(
            &h,
            &req("POST", "properties/fresh", &[("__stanza", "s")], true),
        );
        assert_eq!(r.status, 409);
        let r = handle(&h, &req("POST", "properties/fresh/s", &[("k", "v")], true));
        assert_eq!(r.status, 200);
        let r = handle(&h, &req("GET", "properties/fresh/s/k", &[], false));
        assert_eq!(r.body, b"v");
        let r = handle(
            &h,
            &req("POST", "properties/fresh/missing", &[("k", "v")], true),
        );
        assert_eq!(r.status, 404);
        let r = handle(&h, &req("POST", "properties", &[], true));
        assert_eq!(r.status, 400);
        let r = handle(&h, &req("DELETE", "properties/fresh/s", &[], true));
        assert_eq!(r.status, 405);
    }
}
