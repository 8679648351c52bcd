//! `data/lookup-table-files`: the lookup table files of the SPLUNK_HOME, enough of splunkd's
//! endpoint for MLTK's model files (`__mlspl_<model>.mlmodel`): list (GET), read one (GET) and
//! delete one (DELETE). Tests create files by writing them into a `lookups/` directory.
//!
//! Files and owners, as in splunkd:
//! - `etc/apps/<app>/lookups/<name>`: shared in the app, owner `nobody`, sharing `app`;
//! - `etc/users/<user>/<app>/lookups/<name>`: private to `<user>`, sharing `user`.
//!
//! Namespaces (splunkd-dev's simplifications are marked):
//! - `/servicesNS/<user>/<app>`: `<user>`'s private files in `<app>`, then the app's files; a
//!   private file shadows an app file of the same name;
//! - a `-` user: every user's private files in the app (those the caller may see);
//! - a `-` app, or `/services`: every app (splunkd resolves `/services` in the caller's default
//!   app; splunkd-dev keeps no per-user default app, so it looks in all of them, and a DELETE
//!   that matches files in several apps is a 409 asking for an app namespace).
//!
//! Permissions (kept simple): a private file is seen and deleted by its owner and by callers
//! with `admin_all_objects`; an app file is seen by everyone and deleted by callers with
//! `admin_all_objects` or holding a role listed in `write` of the app's metadata for it
//! (`[lookups/<name>]`, else `[lookups]`, else `[]`; `local.meta` over `default.meta`). A
//! refused delete is a 403 in splunkd's wording and leaves the file.

use super::eai::{self, Paging};
use super::types::{Caller, DevRequest, DevResponse, SplunkHome};
use crate::conffile::ConfFile;
use crate::error::{ApiError, ErrorKind};
use crate::render::Entry;
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};

/// Capability that may see and delete every lookup file.
const ADMIN_CAPABILITY: &str = "admin_all_objects";

/// The owner of app-level objects.
const NOBODY: &str = "nobody";

/// Serves a request whose path starts with `["data", "lookup-table-files", ...]`.
pub fn handle(home: &SplunkHome, req: &DevRequest) -> DevResponse {
    match serve(home, req) {
        Ok(r) => r,
        Err(e) => eai::error_reply(req, &e),
    }
}

/// Whether the path names this endpoint.
pub fn is_lookups_path(segments: &[String]) -> bool {
    matches!(segments, [a, b, ..] if a == "data" && b == "lookup-table-files")
}

fn serve(home: &SplunkHome, req: &DevRequest) -> Result<DevResponse, ApiError> {
    let name = match req.path.as_slice() {
        [_, _] => None,
        [_, _, name] => Some(checked_name(name)?),
        _ => {
            return Err(ApiError::not_found(format!(
                "No such endpoint: /{}",
                req.path.join("/")
            )));
        }
    };
    match (req.method.as_str(), name) {
        ("GET", None) => list(home, req),
        ("GET", Some(n)) => {
            let found = candidates(home, req, Some(n))?;
            let first = found.into_iter().next().ok_or_else(|| not_found(n))?;
            Ok(reply(
                req,
                vec![entry(req, &first)],
                Paging {
                    count: 0,
                    offset: 0,
                },
            ))
        }
        ("DELETE", Some(n)) => delete(home, req, n),
        (_, None) => Err(eai::method_not_allowed(req, &["GET"])),
        (_, Some(_)) => Err(eai::method_not_allowed(req, &["GET", "DELETE"])),
    }
}

/// A lookup file name: a plain file name (no `/`, not starting with `.`, no control
/// characters), so it can never leave its `lookups/` directory.
fn checked_name(name: &str) -> Result<&str, ApiError> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && !name.contains(['/', '\\'])
        && !name.chars().any(char::is_control);
    if ok {
        Ok(name)
    } else {
        Err(ApiError::bad_request(format!(
            "Invalid lookup table file name {name:?}."
        )))
    }
}

fn not_found(name: &str) -> ApiError {
    ApiError::not_found(format!("Could not find object id={name}"))
}

/// One lookup file the namespace shows.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Found {
    name: String,
    app: String,
    /// The user a private file belongs to; None for an app file.
    user: Option<String>,
    path: PathBuf,
}

impl Found {
    fn owner(&self) -> &str {
        self.user.as_deref().unwrap_or(NOBODY)
    }
}

/// The files the namespace shows to the caller (only those called `name` when given), in
/// precedence order: per app (sorted), private files first, then the app's own; a private file
/// shadows an app file of the same name for its owner's namespace.
fn candidates(
    home: &SplunkHome,
    req: &DevRequest,
    name: Option<&str>,
) -> Result<Vec<Found>, ApiError> {
    let apps: Vec<String> = match eai::read_app(home, req)? {
        Some(app) => vec![app],
        None => super::apps::list_apps(&home.apps_dir())
            .into_iter()
            .map(|(a, _)| a)
            .collect(),
    };
    let users: Vec<String> = match &req.ns_user {
        Some(u) => vec![u.clone()],
        None => dir_names(&home.root.join("etc/users")),
    };
    let mut out = Vec::new();
    for app in &apps {
        let mut private_names = Vec::new();
        for user in users.iter().filter(|u| u.as_str() != NOBODY) {
            if !may_see_private(&req.caller, user) {
                continue;
            }
            let dir = home
                .root
                .join("etc/users")
                .join(user)
                .join(app)
                .join("lookups");
            for file in files(&dir, name) {
                if req.ns_user.is_some() {
                    private_names.push(file.clone());
                }
                out.push(Found {
                    path: dir.join(&file),
                    name: file,
                    app: app.clone(),
                    user: Some(user.clone()),
                });
            }
        }
        let dir = home.app_dir(app).join("lookups");
        for file in files(&dir, name) {
            if private_names.contains(&file) {
                continue;
            }
            out.push(Found {
                path: dir.join(&file),
                name: file,
                app: app.clone(),
                user: None,
            });
        }
    }
    Ok(out)
}

/// Sorted names of the subdirectories of `dir` (none when it does not exist).
fn dir_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    names
}

/// Sorted names of the regular files in `dir` (only `name` when given).
fn files(dir: &Path, name: Option<&str>) -> Vec<String> {
    if let Some(n) = name {
        return if dir.join(n).is_file() {
            vec![n.to_string()]
        } else {
            Vec::new()
        };
    }
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().is_file())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| checked_name(n).is_ok())
        .collect();
    names.sort();
    names
}

fn may_see_private(caller: &Caller, owner: &str) -> bool {
    caller.user == owner || caller.can(ADMIN_CAPABILITY)
}

/// Whether `caller` may delete `f`, reading the app's metadata for app files.
fn may_delete(home: &SplunkHome, caller: &Caller, f: &Found) -> bool {
    if caller.can(ADMIN_CAPABILITY) {
        return true;
    }
    match &f.user {
        Some(owner) => caller.user == *owner,
        None => {
            let meta = home.app_dir(&f.app).join("metadata");
            let layers = [
                ConfFile::load(&meta.join("local.meta")).unwrap_or_default(),
                ConfFile::load(&meta.join("default.meta")).unwrap_or_default(),
            ];
            write_roles(&layers, &f.name)
                .is_some_and(|roles| roles.iter().any(|r| r == "*" || caller.roles.contains(r)))
        }
    }
}

/// The roles `write` of the metadata grants for lookup file `name`: the most specific stanza
/// with a `write` clause (`[lookups/<name>]`, `[lookups]`, `[]`), `layers` highest first.
fn write_roles(layers: &[ConfFile], name: &str) -> Option<Vec<String>> {
    let specific = format!("lookups/{name}");
    for stanza in [specific.as_str(), "lookups", ""] {
        for layer in layers {
            if let Some(roles) = layer
                .get(stanza)
                .and_then(|s| s.get("access"))
                .and_then(|a| access_roles(a, "write"))
            {
                return Some(roles);
            }
        }
    }
    None
}

/// The roles of one clause of a metadata `access` value, e.g. `write` of
/// `read : [ * ], write : [ admin, power ]`.
fn access_roles(access: &str, clause: &str) -> Option<Vec<String>> {
    access.split(']').find_map(|part| {
        let (key, list) = part.split_once(':')?;
        let key = key.trim().trim_start_matches(',').trim();
        (key == clause).then(|| {
            list.trim()
                .trim_start_matches('[')
                .split(',')
                .map(|r| r.trim().to_string())
                .filter(|r| !r.is_empty())
                .collect()
        })
    })
}

fn entry(req: &DevRequest, f: &Found) -> Entry {
    let mut content = Map::new();
    content.insert(
        "eai:data".into(),
        Value::String(f.path.display().to_string()),
    );
    content.insert("eai:appName".into(), Value::String(f.app.clone()));
    content.insert("eai:userName".into(), Value::String(f.owner().into()));
    content.insert("disabled".into(), Value::Bool(false));
    let private = f.user.is_some();
    let can_write = if private {
        may_see_private(&req.caller, f.owner())
    } else {
        // The listing does not read metadata per file; administrators can write.
        req.caller.can(ADMIN_CAPABILITY)
    };
    Entry {
        name: f.name.clone(),
        author: f.owner().to_string(),
        acl: Some(json!({
            "app": f.app,
            "owner": f.owner(),
            "sharing": if private { "user" } else { "app" },
            "perms": if private { Value::Null } else { json!({"read": ["*"], "write": ["admin"]}) },
            "can_list": true,
            "can_write": can_write,
            "modifiable": can_write,
            "removable": can_write,
        })),
        content,
    }
}

fn reply(req: &DevRequest, entries: Vec<Entry>, paging: Paging) -> DevResponse {
    let origin = eai::collection_origin(req, &["data", "lookup-table-files"]);
    eai::feed_reply(
        req,
        200,
        &paging.feed("lookup-table-files", origin, entries),
    )
}

fn list(home: &SplunkHome, req: &DevRequest) -> Result<DevResponse, ApiError> {
    let paging = Paging::from_request(req)?;
    let search = req.query_arg("search");
    let entries = candidates(home, req, None)?
        .iter()
        .filter(|f| eai::search_matches(search, [f.name.as_str()]))
        .map(|f| entry(req, f))
        .collect();
    Ok(reply(req, entries, paging))
}

fn delete(home: &SplunkHome, req: &DevRequest, name: &str) -> Result<DevResponse, ApiError> {
    let found = candidates(home, req, Some(name))?;
    let first = found.first().ok_or_else(|| not_found(name))?;
    if req.ns_app.is_none() {
        let mut apps: Vec<&str> = found.iter().map(|f| f.app.as_str()).collect();
        apps.dedup();
        if apps.len() > 1 {
            return Err(ApiError::conflict(format!(
                "Lookup table file {name} exists in several apps ({}); delete it through \
                 /servicesNS/<user>/<app>/data/lookup-table-files/{name}.",
                apps.join(", ")
            )));
        }
    }
    if !may_delete(home, &req.caller, first) {
        return Err(ApiError::new(
            ErrorKind::Forbidden,
            format!(
                "You (user={}) do not have permission to delete lookup table file {name} in app {}.",
                req.caller.user, first.app
            ),
        ));
    }
    match std::fs::remove_file(&first.path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(not_found(name)),
        Err(e) => return Err(eai::io_error(e)),
    }
    let mut rest = req.clone();
    rest.method = "GET".into();
    list(home, &rest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn caller(user: &str, roles: &[&str], caps: &[&str]) -> Caller {
        Caller {
            user: user.into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            capabilities: caps.iter().map(|c| c.to_string()).collect::<BTreeSet<_>>(),
        }
    }

    fn home(tag: &str) -> super::super::confstore::tests::TempHome {
        let h = super::super::confstore::tests::temp_home(tag);
        for app in ["a", "b"] {
            std::fs::create_dir_all(h.app_dir(app).join("lookups")).unwrap();
        }
        h
    }

    fn put(path: PathBuf) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"model").unwrap();
    }

    fn req(
        method: &str,
        ns: (Option<&str>, Option<&str>),
        name: Option<&str>,
        who: Caller,
    ) -> DevRequest {
        let mut path = vec!["data".to_string(), "lookup-table-files".to_string()];
        path.extend(name.map(str::to_string));
        DevRequest {
            method: method.into(),
            ns_user: ns.0.map(str::to_string),
            ns_app: ns.1.map(str::to_string),
            path,
            query: vec![("output_mode".into(), "json".into())],
            base_url: "https://127.0.0.1:8089".into(),
            caller: who,
            ..Default::default()
        }
    }

    fn names(r: &DevResponse) -> Vec<(String, String, String)> {
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        v["entry"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|e| {
                (
                    e["name"].as_str().unwrap().to_string(),
                    e["acl"]["app"].as_str().unwrap().to_string(),
                    e["acl"]["owner"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    #[test]
    fn access_clauses_are_read() {
        assert_eq!(
            access_roles("read : [ * ], write : [ admin, sc_admin ]", "write"),
            Some(vec!["admin".to_string(), "sc_admin".to_string()])
        );
        assert_eq!(
            access_roles("read : [ * ], write : [ admin ]", "read"),
            Some(vec!["*".to_string()])
        );
        assert_eq!(access_roles("read : [ * ]", "write"), None);
        let specific = ConfFile::parse("[lookups/x.csv]\naccess = write : [ power ]\n").unwrap();
        let general = ConfFile::parse(
            "[]\naccess = read : [ * ], write : [ admin ]\n[lookups]\naccess = read : [ * ]\n",
        )
        .unwrap();
        let layers = [specific, general];
        assert_eq!(
            write_roles(&layers, "x.csv"),
            Some(vec!["power".to_string()])
        );
        assert_eq!(
            write_roles(&layers, "y.csv"),
            Some(vec!["admin".to_string()])
        );
    }

    #[test]
    fn names_cannot_leave_the_lookups_directory() {
        for bad in ["", ".", "..", ".hidden", "a/b", "a\\b", "a\nb"] {
            assert_eq!(checked_name(bad).unwrap_err().status(), 400, "{bad:?}");
        }
        assert!(checked_name("__mlspl_m.mlmodel").is_ok());
    }

    #[test]
    fn namespaces_show_private_then_app_files() {
        let h = home("lookups-ns");
        put(h.app_dir("a").join("lookups/shared.csv"));
        put(h.app_dir("b").join("lookups/other.csv"));
        put(h.root.join("etc/users/bob/a/lookups/shared.csv"));
        put(h.root.join("etc/users/bob/a/lookups/mine.csv"));
        put(h.root.join("etc/users/eve/a/lookups/hers.csv"));
        let bob = caller("bob", &["user"], &[]);
        let r = handle(&h, &req("GET", (Some("bob"), Some("a")), None, bob.clone()));
        assert_eq!(r.status, 200);
        assert_eq!(
            names(&r),
            [
                ("mine.csv".into(), "a".into(), "bob".into()),
                ("shared.csv".into(), "a".into(), "bob".into()),
            ],
            "bob's private shared.csv shadows the app's"
        );
        // Every app and user (bob sees only his own private files).
        let r = handle(&h, &req("GET", (None, None), None, bob.clone()));
        let got: Vec<String> = names(&r)
            .into_iter()
            .map(|(n, a, o)| format!("{a}/{o}/{n}"))
            .collect();
        assert_eq!(
            got,
            [
                "a/bob/mine.csv",
                "a/bob/shared.csv",
                "a/nobody/shared.csv",
                "b/nobody/other.csv"
            ]
        );
        let admin = caller("admin", &["admin"], &[ADMIN_CAPABILITY]);
        let r = handle(&h, &req("GET", (None, Some("a")), Some("hers.csv"), admin));
        assert_eq!(names(&r), [("hers.csv".into(), "a".into(), "eve".into())]);
        let r = handle(&h, &req("GET", (None, Some("a")), Some("hers.csv"), bob));
        assert_eq!(r.status, 404, "eve's private file is not bob's to see");
        let _ = std::fs::remove_dir_all(&h.root);
    }

    #[test]
    fn deletes_follow_ownership_and_metadata() {
        let h = home("lookups-del");
        let app_file = h.app_dir("a").join("lookups/__mlspl_m.mlmodel");
        put(app_file.clone());
        let bobs = h.root.join("etc/users/bob/a/lookups/__mlspl_p.mlmodel");
        put(bobs.clone());
        let name = Some("__mlspl_m.mlmodel");
        let bob = caller("bob", &["user"], &[]);
        // No metadata grants bob write: 403, the file stays.
        let r = handle(
            &h,
            &req("DELETE", (Some("bob"), Some("a")), name, bob.clone()),
        );
        assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
        assert!(String::from_utf8_lossy(&r.body).contains("user=bob"));
        assert!(app_file.is_file());
        // Granted through local.meta: deleted.
        put(h.app_dir("a").join("metadata/local.meta"));
        std::fs::write(
            h.app_dir("a").join("metadata/local.meta"),
            "[lookups]\naccess = read : [ * ], write : [ admin, user ]\n",
        )
        .unwrap();
        let r = handle(
            &h,
            &req("DELETE", (Some("bob"), Some("a")), name, bob.clone()),
        );
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        assert!(!app_file.exists());
        let r = handle(
            &h,
            &req("DELETE", (Some("bob"), Some("a")), name, bob.clone()),
        );
        assert_eq!(r.status, 404);
        // A private file: its owner deletes it, nobody else (without admin_all_objects) sees it.
        let p = Some("__mlspl_p.mlmodel");
        let eve = caller("eve", &["user"], &[]);
        let r = handle(&h, &req("DELETE", (Some("bob"), Some("a")), p, eve));
        assert_eq!(r.status, 404);
        assert!(bobs.is_file());
        let r = handle(&h, &req("DELETE", (None, None), p, bob));
        assert_eq!(r.status, 200);
        assert!(!bobs.exists());
        let _ = std::fs::remove_dir_all(&h.root);
    }

    #[test]
    fn a_delete_without_an_app_matching_several_apps_is_refused() {
        let h = home("lookups-amb");
        put(h.app_dir("a").join("lookups/x.csv"));
        put(h.app_dir("b").join("lookups/x.csv"));
        let admin = caller("admin", &["admin"], &[ADMIN_CAPABILITY]);
        let r = handle(
            &h,
            &req("DELETE", (None, None), Some("x.csv"), admin.clone()),
        );
        assert_eq!(r.status, 409);
        assert!(h.app_dir("a").join("lookups/x.csv").is_file());
        let r = handle(
            &h,
            &req(
                "DELETE",
                (Some("admin"), Some("b")),
                Some("x.csv"),
                admin.clone(),
            ),
        );
        assert_eq!(r.status, 200);
        assert!(!h.app_dir("b").join("lookups/x.csv").exists());
        let r = handle(&h, &req("POST", (None, None), Some("x.csv"), admin));
        assert_eq!(r.status, 405);
        let _ = std::fs::remove_dir_all(&h.root);
    }
}
