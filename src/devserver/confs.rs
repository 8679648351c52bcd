//! `configs/conf-<name>`: list, read, create, update and delete stanzas as splunkd does, with
//! the namespace's files layered (see [`confstore`]) and writes going to the namespace app's
//! `local/<name>.conf`, atomically and under a lock.
//!
//! Choices where splunkd's exact behaviour is not documented:
//! - content values are strings, except `disabled` (a boolean, `false` when unset); each entry
//!   also carries `eai:appName` and `eai:userName`, and inherits `[default]` keys;
//! - entries are sorted by name (case-insensitively); `search` matches the name or any
//!   `key=value` text;
//! - deleting a stanza that lives only in a `default/` file (or another app or the system) is a
//!   400 ("cannot be deleted"); deleting one that is also in `default/` removes the local
//!   override and the default stanza stays;
//! - a delete replies 200 with the remaining collection (first page).

use super::confstore::{self, ConfView, Visible};
use super::eai::{self, Paging};
use super::types::{DevRequest, DevResponse, SplunkHome};
use crate::conffile;
use crate::error::ApiError;
use crate::render::Entry;
use serde_json::{Map, Value};

/// Capability a caller needs to change a conf.
const WRITE_CAPABILITY: &str = "admin_all_objects";

/// Mode of conf files this store writes.
const CONF_MODE: u32 = 0o644;

/// Serves a request whose path starts with `["configs", "conf-<name>", ...]`.
pub fn handle(home: &SplunkHome, req: &DevRequest) -> DevResponse {
    match serve(home, req) {
        Ok(r) => r,
        Err(e) => eai::error_reply(req, &e),
    }
}

fn serve(home: &SplunkHome, req: &DevRequest) -> Result<DevResponse, ApiError> {
    let (conf, stanza) = match req.path.as_slice() {
        [configs, c] if configs == "configs" => (conf_name(c)?, None),
        [configs, c, s] if configs == "configs" => (conf_name(c)?, Some(s.as_str())),
        _ => {
            return Err(ApiError::not_found(format!(
                "No such endpoint: /{}",
                req.path.join("/")
            )));
        }
    };
    let ctx = Ctx { home, req, conf };
    match (req.method.as_str(), stanza) {
        ("GET", None) => ctx.list(),
        ("GET", Some(s)) => ctx.get(s),
        ("POST", None) => ctx.create(),
        ("POST", Some(s)) => ctx.update(s),
        ("DELETE", Some(s)) => ctx.delete(s),
        (_, None) => Err(eai::method_not_allowed(req, &["GET", "POST"])),
        (_, Some(_)) => Err(eai::method_not_allowed(req, &["GET", "POST", "DELETE"])),
    }
}

/// `conf-<name>` to `<name>`, which must be a safe file name.
fn conf_name(segment: &str) -> Result<&str, ApiError> {
    let Some(name) = segment.strip_prefix("conf-") else {
        return Err(ApiError::not_found(format!(
            "No such endpoint: configs/{segment}; use configs/conf-<name>."
        )));
    };
    if !confstore::is_safe_name(name) {
        return Err(ApiError::bad_request(format!(
            "Invalid conf name {name:?}: use letters, digits, '_', '.' and '-'."
        )));
    }
    Ok(name)
}

/// The keys a write request sets, validated and normalized; metadata arguments are skipped.
/// `skip` names further arguments that are not settings (such as `name` on create).
fn settings(req: &DevRequest, skip: &[&str]) -> Result<Vec<(String, String)>, ApiError> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (k, v) in &req.form {
        if eai::is_metadata_key(k) || skip.contains(&k.as_str()) {
            continue;
        }
        if !conffile::is_valid_key(k) {
            return Err(ApiError::bad_request(format!(
                "Invalid key {k:?}: keys cannot be empty, contain '=' or whitespace, or start with '#' or '['."
            )));
        }
        if !conffile::is_valid_value(v) {
            return Err(ApiError::bad_request(format!(
                "Invalid value for key {k:?}: values cannot contain control characters other than newline and tab, or end with '\\'."
            )));
        }
        let v = conffile::normalize_value(v).to_string();
        match out.iter_mut().find(|(key, _)| key == k) {
            Some(slot) => slot.1 = v,
            None => out.push((k.clone(), v)),
        }
    }
    Ok(out)
}

fn check_stanza_name(name: &str) -> Result<(), ApiError> {
    if conffile::is_valid_stanza_name(name) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "Invalid stanza name {name:?}: it cannot be empty, contain ']' or control characters, or start or end with whitespace."
        )))
    }
}

fn not_found(name: &str) -> ApiError {
    ApiError::not_found(format!("Could not find object id={name}"))
}

/// One request's conf and namespace.
struct Ctx<'a> {
    home: &'a SplunkHome,
    req: &'a DevRequest,
    conf: &'a str,
}

impl Ctx<'_> {
    fn view(&self, app: Option<&str>) -> Result<ConfView, ApiError> {
        confstore::view(self.home, self.conf, app, true).map_err(eai::io_error)
    }

    fn origin(&self) -> String {
        eai::collection_origin(self.req, &["configs", &format!("conf-{}", self.conf)])
    }

    fn entry(&self, v: &Visible) -> Entry {
        let mut content = Map::new();
        let mut disabled = false;
        for (k, val) in &v.stanza.entries {
            if k == "disabled" {
                disabled = conffile::parse_bool(val) == Some(true);
            } else {
                content.insert(k.clone(), Value::String(val.clone()));
            }
        }
        content.insert("disabled".into(), Value::Bool(disabled));
        content.insert("eai:appName".into(), Value::String(v.app.clone()));
        content.insert("eai:userName".into(), Value::String("nobody".into()));
        Entry {
            name: v.stanza.name.clone(),
            author: "nobody".into(),
            acl: Some(eai::acl(
                &v.app,
                &self.req.caller,
                &[WRITE_CAPABILITY],
                v.in_local && !v.elsewhere,
            )),
            content,
        }
    }

    fn one(&self, status: u16, v: &Visible) -> DevResponse {
        let feed = Paging {
            count: 0,
            offset: 0,
        }
        .feed(
            &format!("conf-{}", self.conf),
            self.origin(),
            vec![self.entry(v)],
        );
        eai::feed_reply(self.req, status, &feed)
    }

    fn collection(&self, view: &ConfView, paging: Paging) -> DevResponse {
        let search = self.req.query_arg("search");
        let mut visible: Vec<&Visible> = view
            .stanzas
            .iter()
            .filter(|v| {
                let pairs: Vec<String> = v
                    .stanza
                    .entries
                    .iter()
                    .map(|(k, val)| format!("{k}={val}"))
                    .collect();
                eai::search_matches(
                    search,
                    std::iter::once(v.stanza.name.as_str()).chain(pairs.iter().map(String::as_str)),
                )
            })
            .collect();
        visible.sort_by(|a, b| {
            let (a, b) = (&a.stanza.name, &b.stanza.name);
            a.to_lowercase().cmp(&b.to_lowercase()).then(a.cmp(b))
        });
        let entries = visible.into_iter().map(|v| self.entry(v)).collect();
        let feed = paging.feed(&format!("conf-{}", self.conf), self.origin(), entries);
        eai::feed_reply(self.req, 200, &feed)
    }

    fn list(&self) -> Result<DevResponse, ApiError> {
        let paging = Paging::from_request(self.req)?;
        let app = eai::read_app(self.home, self.req)?;
        let view = self.view(app.as_deref())?;
        Ok(self.collection(&view, paging))
    }

    fn get(&self, name: &str) -> Result<DevResponse, ApiError> {
        let app = eai::read_app(self.home, self.req)?;
        let view = self.view(app.as_deref())?;
        let v = view.get(name).ok_or_else(|| not_found(name))?;
        Ok(self.one(200, v))
    }

    /// Checks done before any write: capability, namespace app.
    fn writable_app(&self) -> Result<String, ApiError> {
        eai::require_any(&self.req.caller, &[WRITE_CAPABILITY])?;
        eai::write_app(self.home, self.req)
    }

    fn reread(&self, app: &str, name: &str, status: u16) -> Result<DevResponse, ApiError> {
        let view = self.view(Some(app))?;
        let v = view.get(name).ok_or_else(|| not_found(name))?;
        Ok(self.one(status, v))
    }

    fn create(&self) -> Result<DevResponse, ApiError> {
        let app = self.writable_app()?;
        let name = self
            .req
            .form_arg("name")
            .ok_or_else(|| {
                ApiError::bad_request("The following required arguments are missing: name.")
            })?
            .to_string();
        check_stanza_name(&name)?;
        let keys = settings(self.req, &["name"])?;
        let before = self.view(Some(&app))?;
        let elsewhere = before.get(&name).is_some_and(|v| v.elsewhere);
        confstore::update_local(self.home, &app, self.conf, CONF_MODE, |file| {
            if elsewhere || file.get(&name).is_some() {
                return Err(ApiError::conflict(format!(
                    "An object with name={name} already exists"
                )));
            }
            let stanza = file.get_or_insert(&name);
            for (k, v) in &keys {
                stanza.set(k, v.clone());
            }
            Ok(())
        })
        .map_err(eai::io_error)??;
        self.reread(&app, &name, 201)
    }

    fn update(&self, name: &str) -> Result<DevResponse, ApiError> {
        let app = self.writable_app()?;
        check_stanza_name(name)?;
        let keys = settings(self.req, &[])?;
        let before = self.view(Some(&app))?;
        let elsewhere = before.get(name).is_some_and(|v| v.elsewhere);
        confstore::update_local(self.home, &app, self.conf, CONF_MODE, |file| {
            if !elsewhere && file.get(name).is_none() {
                return Err(not_found(name));
            }
            let stanza = file.get_or_insert(name);
            for (k, v) in &keys {
                stanza.set(k, v.clone());
            }
            Ok(())
        })
        .map_err(eai::io_error)??;
        self.reread(&app, name, 200)
    }

    fn delete(&self, name: &str) -> Result<DevResponse, ApiError> {
        let app = self.writable_app()?;
        let before = self.view(Some(&app))?;
        let Some(v) = before.get(name) else {
            return Err(not_found(name));
        };
        if !v.in_local {
            return Err(ApiError::bad_request(format!(
                "Object id={name} cannot be deleted in config={}: it is defined only in a default/ or system file.",
                self.conf
            )));
        }
        confstore::update_local(self.home, &app, self.conf, CONF_MODE, |file| {
            if file.remove(name) {
                Ok(())
            } else {
                Err(not_found(name))
            }
        })
        .map_err(eai::io_error)??;
        let view = self.view(Some(&app))?;
        Ok(self.collection(
            &view,
            Paging {
                count: eai::DEFAULT_COUNT,
                offset: 0,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::super::confstore::tests::{TempHome, temp_home};
    use super::super::types::Caller;
    use super::*;
    use serde_json::json;
    use std::fs;

    fn admin() -> Caller {
        Caller {
            user: "admin".into(),
            roles: vec!["admin".into()],
            capabilities: ["admin_all_objects".to_string()].into_iter().collect(),
        }
    }

    fn home() -> TempHome {
        let home = temp_home("confs");
        let d = home.app_dir("app").join("default");
        fs::create_dir_all(&d).unwrap();
        fs::write(
            d.join("dsdl.conf"),
            "[default]\ninherited = yes\n[docker]\nurl = unix:///var/run/docker.sock\n[kubernetes]\n",
        )
        .unwrap();
        home
    }

    fn req(
        method: &str,
        path: &[&str],
        query: &[(&str, &str)],
        form: &[(&str, &str)],
    ) -> DevRequest {
        let pairs = |p: &[(&str, &str)]| {
            p.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let mut q: Vec<(String, String)> = pairs(query);
        q.push(("output_mode".into(), "json".into()));
        DevRequest {
            method: method.into(),
            ns_user: Some("nobody".into()),
            ns_app: Some("app".into()),
            path: path.iter().map(|s| s.to_string()).collect(),
            query: q,
            form: pairs(form),
            base_url: "https://127.0.0.1:8089".into(),
            caller: admin(),
        }
    }

    fn body(r: &DevResponse) -> Value {
        serde_json::from_slice(&r.body).unwrap()
    }

    fn names(r: &DevResponse) -> Vec<String> {
        body(r)["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap().to_string())
            .collect()
    }

    const C: &[&str] = &["configs", "conf-dsdl"];

    fn local(home: &SplunkHome) -> String {
        fs::read_to_string(confstore::local_path(home, "app", "dsdl")).unwrap_or_default()
    }

    #[test]
    fn list_layers_inherits_and_pages() {
        let home = home();
        let r = handle(&home, &req("GET", C, &[], &[]));
        assert_eq!(r.status, 200);
        assert_eq!(names(&r), ["default", "docker", "kubernetes"]);
        let b = body(&r);
        let docker = &b["entry"][1];
        assert_eq!(docker["content"]["url"], "unix:///var/run/docker.sock");
        assert_eq!(docker["content"]["inherited"], "yes");
        assert_eq!(docker["content"]["disabled"], false);
        assert_eq!(docker["content"]["eai:appName"], "app");
        assert_eq!(docker["acl"]["app"], "app");
        assert_eq!(docker["acl"]["removable"], false);
        assert_eq!(
            docker["id"],
            "https://127.0.0.1:8089/servicesNS/nobody/app/configs/conf-dsdl/docker"
        );

        let r = handle(
            &home,
            &req("GET", C, &[("count", "1"), ("offset", "1")], &[]),
        );
        assert_eq!(names(&r), ["docker"]);
        assert_eq!(
            body(&r)["paging"],
            json!({"total": 3, "perPage": 1, "offset": 1})
        );

        let r = handle(&home, &req("GET", C, &[("search", "KUBER")], &[]));
        assert_eq!(names(&r), ["kubernetes"]);
        let r = handle(&home, &req("GET", C, &[("search", "url=unix")], &[]));
        assert_eq!(names(&r), ["docker"]);
        let r = handle(&home, &req("GET", C, &[("count", "many")], &[]));
        assert_eq!(r.status, 400);
        let _ = fs::remove_dir_all(&home.root);
    }

    #[test]
    fn atom_when_not_json() {
        let home = home();
        let mut r = req("GET", &["configs", "conf-dsdl", "docker"], &[], &[]);
        r.query.clear();
        let resp = handle(&home, &r);
        assert_eq!(resp.status, 200);
        let text = String::from_utf8(resp.body).unwrap();
        assert!(text.contains("<title>docker</title>"), "{text}");
        assert!(text.contains("<s:key name=\"url\">unix:///var/run/docker.sock</s:key>"));
        r.path = vec!["configs".into(), "conf-dsdl".into(), "nope".into()];
        let resp = handle(&home, &r);
        assert_eq!(resp.status, 404);
        let text = String::from_utf8(resp.body).unwrap();
        assert!(text.contains("<msg type=\"ERROR\">Could not find object id=nope</msg>"));
        let _ = fs::remove_dir_all(&home.root);
    }

    #[test]
    fn create_read_update_delete() {
        let home = home();
        let r = handle(
            &home,
            &req(
                "POST",
                C,
                &[],
                &[
                    ("name", "model:a b"),
                    ("image", "x:1"),
                    ("eai:acl", "z"),
                    ("disabled", "0"),
                    ("status", "  Active "),
                ],
            ),
        );
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(body(&r)["entry"][0]["content"]["image"], "x:1");
        assert_eq!(body(&r)["entry"][0]["acl"]["removable"], true);
        let text = local(&home);
        assert!(
            text.contains("[model:a b]\nimage = x:1\nstatus = Active\n"),
            "{text}"
        );
        assert!(!text.contains("eai:") && !text.contains("disabled"));

        let one = &["configs", "conf-dsdl", "model:a b"];
        let r = handle(&home, &req("GET", one, &[], &[]));
        assert_eq!(body(&r)["entry"][0]["content"]["status"], "Active");

        let dup = handle(&home, &req("POST", C, &[], &[("name", "model:a b")]));
        assert_eq!(dup.status, 409);
        assert_eq!(
            body(&dup)["messages"][0]["text"],
            "An object with name=model:a b already exists"
        );
        let dup = handle(&home, &req("POST", C, &[], &[("name", "docker")]));
        assert_eq!(dup.status, 409, "a stanza of default/ also exists");

        let r = handle(
            &home,
            &req("POST", one, &[], &[("status", ""), ("id", "abc")]),
        );
        assert_eq!(r.status, 200);
        assert_eq!(body(&r)["entry"][0]["content"]["status"], "");
        assert_eq!(body(&r)["entry"][0]["content"]["id"], "abc");

        let r = handle(&home, &req("DELETE", one, &[], &[]));
        assert_eq!(r.status, 200);
        assert!(!names(&r).contains(&"model:a b".to_string()));
        assert!(!local(&home).contains("model:a b"));
        let r = handle(&home, &req("DELETE", one, &[], &[]));
        assert_eq!(r.status, 404);
        let r = handle(&home, &req("POST", one, &[], &[("x", "1")]));
        assert_eq!(r.status, 404, "update of an unknown stanza");
        assert_eq!(
            body(&r)["messages"][0]["text"],
            "Could not find object id=model:a b"
        );
        let _ = fs::remove_dir_all(&home.root);
    }

    #[test]
    fn default_stanzas_update_locally_and_cannot_be_deleted() {
        let home = home();
        let docker = &["configs", "conf-dsdl", "docker"];
        let r = handle(&home, &req("DELETE", docker, &[], &[]));
        assert_eq!(r.status, 400);
        let r = handle(&home, &req("POST", docker, &[], &[("url", "tcp://h:2375")]));
        assert_eq!(r.status, 200);
        assert_eq!(body(&r)["entry"][0]["content"]["url"], "tcp://h:2375");
        assert!(local(&home).contains("[docker]\nurl = tcp://h:2375\n"));
        // Deleting the local override brings the default back.
        let r = handle(&home, &req("DELETE", docker, &[], &[]));
        assert_eq!(r.status, 200);
        let r = handle(&home, &req("GET", docker, &[], &[]));
        assert_eq!(
            body(&r)["entry"][0]["content"]["url"],
            "unix:///var/run/docker.sock"
        );
        let _ = fs::remove_dir_all(&home.root);
    }

    #[test]
    fn invalid_input_is_rejected_and_changes_nothing() {
        let home = home();
        let cases: Vec<DevRequest> = vec![
            req("POST", C, &[], &[("name", "bad]name")]),
            req("POST", C, &[], &[("name", "")]),
            req("POST", C, &[], &[("name", "ok"), ("bad key", "v")]),
            req("POST", C, &[], &[("name", "ok"), ("k", "line\r")]),
            req("POST", C, &[], &[("name", "ok"), ("k", "ends\\")]),
            req("POST", C, &[], &[("k", "v")]),
            req("POST", &["configs", "conf-../x"], &[], &[("name", "ok")]),
            req("GET", &["configs", "conf-a b"], &[], &[]),
            req(
                "POST",
                &["configs", "conf-dsdl", "docker"],
                &[],
                &[("a=b", "v")],
            ),
        ];
        for r in cases {
            let resp = handle(&home, &r);
            assert_eq!(resp.status, 400, "{:?} {:?}", r.path, r.form);
        }
        assert!(!confstore::local_path(&home, "app", "dsdl").exists());
        let _ = fs::remove_dir_all(&home.root);
    }

    #[test]
    fn permissions_and_namespaces() {
        let home = home();
        let mut r = req("POST", C, &[], &[("name", "x")]);
        r.caller = Caller {
            user: "bob".into(),
            ..Default::default()
        };
        let resp = handle(&home, &r);
        assert_eq!(resp.status, 403);
        assert!(
            body(&resp)["messages"][0]["text"]
                .as_str()
                .unwrap()
                .contains("admin_all_objects")
        );
        r.method = "GET".into();
        assert_eq!(
            handle(&home, &r).status,
            200,
            "anyone authenticated may read"
        );

        let mut r = req("POST", C, &[], &[("name", "x")]);
        r.ns_app = None;
        assert_eq!(handle(&home, &r).status, 400, "a write needs an app");
        r.method = "GET".into();
        let resp = handle(&home, &r);
        assert_eq!(resp.status, 200, "a global read sees every app");
        assert!(names(&resp).contains(&"docker".to_string()));
        r.ns_app = Some("nosuchapp".into());
        assert_eq!(handle(&home, &r).status, 404);

        let r = req("PUT", C, &[], &[]);
        let resp = handle(&home, &r);
        assert_eq!(resp.status, 405);
        assert!(
            resp.headers
                .iter()
                .any(|(k, v)| k == "Allow" && v == "GET, POST")
        );
        let r = req("GET", &["configs", "nope"], &[], &[]);
        assert_eq!(handle(&home, &r).status, 404);
        let _ = fs::remove_dir_all(&home.root);
    }

    #[test]
    fn concurrent_writers_lose_no_stanza() {
        let home = home();
        let threads: Vec<_> = (0..6)
            .map(|t| {
                let home = home.clone();
                std::thread::spawn(move || {
                    for i in 0..15 {
                        let name = format!("t{t}-{i}");
                        let r = handle(&home, &req("POST", C, &[], &[("name", &name), ("n", "1")]));
                        assert_eq!(r.status, 201);
                        let path = ["configs", "conf-dsdl", name.as_str()];
                        let r = handle(&home, &req("POST", &path, &[], &[("n", "2")]));
                        assert_eq!(r.status, 200);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let r = handle(&home, &req("GET", C, &[("count", "0")], &[]));
        let b = body(&r);
        let entries = b["entry"].as_array().unwrap();
        assert_eq!(entries.len(), 3 + 6 * 15);
        assert!(
            entries
                .iter()
                .filter(|e| e["name"].as_str().unwrap().starts_with('t'))
                .all(|e| e["content"]["n"] == "2")
        );
        let _ = fs::remove_dir_all(&home.root);
    }
}
