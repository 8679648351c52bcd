//! `apps/local[/<name>]`: the installed apps, as splunkd lists them (name, `disabled`,
//! `version`, `label`, `visible`), read from `etc/apps/*/{default,local}/app.conf` at each
//! call. The handler asks it whether the AI Toolkit is installed.

use super::types::{DevRequest, DevResponse, SplunkHome};
use crate::conffile::{ConfFile, parse_bool};
use crate::render::{Entry, Feed};
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};

/// GET of the collection or one app; 404 for an app that is not installed.
pub fn handle(home: &SplunkHome, req: &DevRequest) -> DevResponse {
    let json = req.json();
    if req.method != "GET" {
        return DevResponse::error(405, "apps/local supports GET only here", json);
    }
    let wanted = match req.path.as_slice() {
        [_, _] => None,
        [_, _, name] => Some(name.as_str()),
        _ => return DevResponse::error(404, "Not Found", json),
    };
    let entries: Vec<Entry> = list_apps(&home.apps_dir())
        .into_iter()
        .filter(|(name, _)| wanted.is_none_or(|w| w == name))
        .map(|(name, dir)| Entry {
            content: app_content(&dir),
            name,
            author: "nobody".into(),
            acl: None,
        })
        .collect();
    if let Some(name) = wanted
        && entries.is_empty()
    {
        return DevResponse::error(404, &format!("Could not find object id={name}"), json);
    }
    let feed = Feed::new(
        "localapps",
        format!("{}/services/apps/local", req.base_url),
        entries,
    );
    if json {
        DevResponse::json(200, &feed.to_json())
    } else {
        DevResponse::xml(200, feed.to_atom())
    }
}

/// An app's app.conf, `local/` over `default/`.
fn app_conf(dir: &Path) -> ConfFile {
    let mut conf = ConfFile::default();
    for layer in ["default", "local"] {
        if let Ok(c) = ConfFile::load(&dir.join(layer).join("app.conf")) {
            conf = conf.layered(&c);
        }
    }
    conf
}

fn setting(conf: &ConfFile, stanza: &str, key: &str) -> String {
    conf.get(stanza)
        .and_then(|s| s.get(key))
        .map(str::to_string)
        .unwrap_or_default()
}

/// Whether the app is disabled (`[install] state = disabled`, as `splunk disable app` writes
/// it): splunkd then serves none of its REST handlers.
pub fn is_disabled(dir: &Path) -> bool {
    setting(&app_conf(dir), "install", "state")
        .trim()
        .eq_ignore_ascii_case("disabled")
}

/// What splunkd shows of an app: `disabled` from `[install] state`, and the launcher and
/// ui settings, `local/` over `default/`.
fn app_content(dir: &Path) -> Map<String, Value> {
    let conf = app_conf(dir);
    let get = |stanza: &str, key: &str| setting(&conf, stanza, key);
    let visible = parse_bool(&get("ui", "is_visible")).unwrap_or(true);
    let mut content = Map::new();
    content.insert("disabled".into(), json!(is_disabled(dir)));
    content.insert("version".into(), json!(get("launcher", "version")));
    content.insert("label".into(), json!(get("ui", "label")));
    content.insert("visible".into(), json!(visible));
    content
}
/// The installed apps under `apps_dir` (directories, sorted by name).
pub fn list_apps(apps_dir: &Path) -> Vec<(String, PathBuf)> {
    let mut apps: Vec<(String, PathBuf)> = std::fs::read_dir(apps_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| Some((e.file_name().to_str()?.to_string(), e.path())))
        .filter(|(name, _)| !name.starts_with('.'))
        .collect();
    apps.sort();
    apps
}
