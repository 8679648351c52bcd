//! `storage/passwords`: secrets stored in the namespace app's `local/passwords.conf` as
//! `[credential:<realm>:<username>:]` / `password = $7$...`, encrypted with the SPLUNK_HOME's
//! `splunk.secret` exactly as splunkd does (see [`secret`]), so a real Splunk can read them.
//!
//! Entity names are `<realm>:<username>:` with `:` inside either part escaped as `\:`. Reading
//! needs `list_storage_passwords`; writing needs `edit_storage_passwords` or
//! `admin_all_objects`; `clear_password` is only ever returned to callers holding
//! `list_storage_passwords`. Passwords never appear in errors.
//!
//! Choices where splunkd's exact behaviour is not documented:
//! - an empty `password` is refused (400);
//! - `search` matches the entity name, realm and username only, never a password;
//! - the query argument `realm` filters a list by exact realm;
//! - a value that cannot be decrypted (another `splunk.secret`, or legacy `$1$`) is listed
//!   without `clear_password` and with a `WARN` message;
//! - clear-text `password` values found in `local/passwords.conf` are encrypted on the next
//!   write to that file, as splunkd does when it starts;
//! - deleting a credential that lives only in `default/passwords.conf` is a 400; a delete
//!   replies 200 with an empty feed (no credential data).

use super::confstore::{self, ConfView, Visible};
use super::eai::{self, Paging};
use super::secret::{self, SplunkSecret};
use super::types::{DevRequest, DevResponse, SplunkHome};
use crate::conffile::ConfFile;
use crate::error::ApiError;
use crate::render::Entry;
use crate::splunkd::names::{
    credential_entity as entity_name, parse_credential_entity as parse_entity_name,
};
use serde_json::{Map, Value};

/// Capability needed to read credentials (and to see `clear_password`).
const READ_CAPABILITY: &str = "list_storage_passwords";
/// Capabilities of which one is needed to change credentials.
const WRITE_CAPABILITIES: &[&str] = &["edit_storage_passwords", "admin_all_objects"];
/// The conf credentials live in.
const CONF: &str = "passwords";
/// passwords.conf is readable by its owner only.
const PASSWORDS_MODE: u32 = 0o600;
/// Stanza prefix of a credential.
const STANZA_PREFIX: &str = "credential:";
/// What splunkd shows in the `password` field.
const MASK: &str = "********";

/// The passwords.conf stanza of a credential.
fn stanza_name(realm: &str, username: &str) -> String {
    format!("{STANZA_PREFIX}{}", entity_name(realm, username))
}

/// Whether a realm or username can be stored and named unambiguously.
fn check_part(what: &str, value: &str, may_be_empty: bool) -> Result<(), ApiError> {
    let ok = (may_be_empty || !value.is_empty())
        && !value.contains(']')
        && !value.ends_with('\\')
        && !value.chars().any(char::is_control);
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "Invalid {what} {value:?}: it {}cannot contain ']' or control characters, or end with '\\'.",
            if may_be_empty {
                ""
            } else {
                "must not be empty and "
            }
        )))
    }
}

fn not_found(name: &str) -> ApiError {
    ApiError::not_found(format!("Could not find object id={name}"))
}

fn missing(arg: &str) -> ApiError {
    ApiError::bad_request(format!(
        "The following required arguments are missing: {arg}."
    ))
}

/// Serves a request whose path starts with `["storage", "passwords", ...]`.
pub fn handle(home: &SplunkHome, req: &DevRequest) -> DevResponse {
    match serve(home, req) {
        Ok(r) => r,
        Err(e) => eai::error_reply(req, &e),
    }
}

fn serve(home: &SplunkHome, req: &DevRequest) -> Result<DevResponse, ApiError> {
    let entity = match req.path.as_slice() {
        [s, p] if s == "storage" && p == "passwords" => None,
        [s, p, e] if s == "storage" && p == "passwords" => Some(e.as_str()),
        _ => {
            return Err(ApiError::not_found(format!(
                "No such endpoint: /{}",
                req.path.join("/")
            )));
        }
    };
    let mut ctx = Ctx {
        home,
        req,
        secret: None,
    };
    match (req.method.as_str(), entity) {
        ("GET", None) => ctx.list(),
        ("GET", Some(e)) => ctx.get(e),
        ("POST", None) => ctx.create(),
        ("POST", Some(e)) => ctx.update(e),
        ("DELETE", Some(e)) => ctx.delete(e),
        (_, None) => Err(eai::method_not_allowed(req, &["GET", "POST"])),
        (_, Some(_)) => Err(eai::method_not_allowed(req, &["GET", "POST", "DELETE"])),
    }
}

/// A credential as listed.
struct Credential<'a> {
    realm: String,
    username: String,
    visible: &'a Visible,
}

/// One request with its lazily loaded key.
struct Ctx<'a> {
    home: &'a SplunkHome,
    req: &'a DevRequest,
    secret: Option<SplunkSecret>,
}

impl Ctx<'_> {
    fn secret(&mut self) -> Result<&SplunkSecret, ApiError> {
        if self.secret.is_none() {
            let s =
                SplunkSecret::load_or_create(&self.home.splunk_secret()).map_err(eai::io_error)?;
            self.secret = Some(s);
        }
        self.secret
            .as_ref()
            .ok_or_else(|| ApiError::internal("splunk.secret is not loaded"))
    }

    fn view(&self, app: Option<&str>) -> Result<ConfView, ApiError> {
        confstore::view(self.home, CONF, app, false).map_err(eai::io_error)
    }

    fn origin(&self) -> String {
        eai::collection_origin(self.req, &["storage", "passwords"])
    }

    fn can_see_clear(&self) -> bool {
        self.req.caller.can(READ_CAPABILITY)
    }

    fn credentials(view: &ConfView) -> Vec<Credential<'_>> {
        view.stanzas
            .iter()
            .filter_map(|v| {
                let name = v.stanza.name.strip_prefix(STANZA_PREFIX)?;
                let (realm, username) = parse_entity_name(name)?;
                Some(Credential {
                    realm,
                    username,
                    visible: v,
                })
            })
            .collect()
    }

    /// The entry of a credential. `clear` is the known clear text (after a write); otherwise
    /// it is decrypted for callers allowed to see it, and a failure is added to `warnings`.
    fn entry(
        &mut self,
        c: &Credential<'_>,
        clear: Option<&str>,
        warnings: &mut Vec<(String, String)>,
    ) -> Result<Entry, ApiError> {
        let name = entity_name(&c.realm, &c.username);
        let stored = c.visible.stanza.get("password").unwrap_or("").to_string();
        let mut content = Map::new();
        content.insert("username".into(), Value::String(c.username.clone()));
        content.insert("realm".into(), Value::String(c.realm.clone()));
        if self.can_see_clear() {
            let clear = match clear {
                Some(v) => Some(v.to_string()),
                None if !secret::is_encrypted(&stored) => Some(stored.clone()),
                None => match self.secret()?.decrypt(&stored) {
                    Ok(v) => Some(v),
                    Err(e) => {
                        warnings.push((
                            "WARN".into(),
                            format!("Could not decrypt the password of {name}: {e}."),
                        ));
                        None
                    }
                },
            };
            if let Some(v) = clear {
                content.insert("clear_password".into(), Value::String(v));
            }
        }
        content.insert("encr_password".into(), Value::String(stored));
        content.insert("password".into(), Value::String(MASK.into()));
        Ok(Entry {
            name,
            author: "nobody".into(),
            acl: Some(eai::acl(
                &c.visible.app,
                &self.req.caller,
                WRITE_CAPABILITIES,
                c.visible.in_local && !c.visible.elsewhere,
            )),
            content,
        })
    }

    fn list(&mut self) -> Result<DevResponse, ApiError> {
        eai::require_any(&self.req.caller, &[READ_CAPABILITY])?;
        let paging = Paging::from_request(self.req)?;
        let app = eai::read_app(self.home, self.req)?;
        let view = self.view(app.as_deref())?;
        let search = self.req.query_arg("search");
        let realm = self.req.query_arg("realm");
        let mut creds: Vec<Credential<'_>> = Self::credentials(&view)
            .into_iter()
            .filter(|c| realm.is_none_or(|r| r == c.realm))
            .filter(|c| {
                let name = entity_name(&c.realm, &c.username);
                eai::search_matches(search, [name.as_str(), &c.realm, &c.username])
            })
            .collect();
        creds.sort_by(|a, b| (&a.realm, &a.username).cmp(&(&b.realm, &b.username)));
        // Decrypt only the page that is returned.
        let total = creds.len();
        let take = if paging.count == 0 {
            usize::MAX
        } else {
            paging.count
        };
        let mut warnings = Vec::new();
        let mut entries = Vec::new();
        for c in creds.iter().skip(paging.offset).take(take) {
            entries.push(self.entry(c, None, &mut warnings)?);
        }
        let mut feed = Paging {
            count: 0,
            offset: 0,
        }
        .feed("passwords", self.origin(), entries);
        feed.total = total;
        feed.offset = paging.offset;
        feed.per_page = paging.count;
        feed.messages = warnings;
        Ok(eai::feed_reply(self.req, 200, &feed))
    }

    fn get(&mut self, entity: &str) -> Result<DevResponse, ApiError> {
        eai::require_any(&self.req.caller, &[READ_CAPABILITY])?;
        let app = eai::read_app(self.home, self.req)?;
        let (realm, username) = parse_entity_name(entity).ok_or_else(|| not_found(entity))?;
        let view = self.view(app.as_deref())?;
        let v = view
            .get(&stanza_name(&realm, &username))
            .ok_or_else(|| not_found(entity))?;
        let c = Credential {
            realm,
            username,
            visible: v,
        };
        self.reply_one(200, &c, None)
    }

    fn reply_one(
        &mut self,
        status: u16,
        c: &Credential<'_>,
        clear: Option<&str>,
    ) -> Result<DevResponse, ApiError> {
        let mut warnings = Vec::new();
        let entry = self.entry(c, clear, &mut warnings)?;
        let mut feed = Paging {
            count: 0,
            offset: 0,
        }
        .feed("passwords", self.origin(), vec![entry]);
        feed.messages = warnings;
        Ok(eai::feed_reply(self.req, status, &feed))
    }

    fn writable_app(&self) -> Result<String, ApiError> {
        eai::require_any(&self.req.caller, WRITE_CAPABILITIES)?;
        eai::write_app(self.home, self.req)
    }

    fn password_arg(&self) -> Result<String, ApiError> {
        match self.req.form_arg("password") {
            None => Err(missing("password")),
            Some("") => Err(ApiError::bad_request("The password must not be empty.")),
            Some(p) => Ok(p.to_string()),
        }
    }

    /// Writes the app's passwords.conf under its lock; clear-text values already in the file
    /// are encrypted on the way.
    fn write(
        &mut self,
        app: &str,
        change: impl FnOnce(&mut ConfFile) -> Result<(), ApiError>,
    ) -> Result<(), ApiError> {
        let secret = self.secret()?.clone();
        confstore::update_local(self.home, app, CONF, PASSWORDS_MODE, |file| {
            change(file)?;
            for s in file
                .stanzas
                .iter_mut()
                .filter(|s| s.name.starts_with(STANZA_PREFIX))
            {
                if let Some(p) = s.get("password")
                    && !secret::is_encrypted(p)
                {
                    let encrypted = secret.encrypt(p).map_err(|e| {
                        ApiError::internal(format!("Could not encrypt a password: {e}."))
                    })?;
                    s.set("password", encrypted);
                }
            }
            Ok(())
        })
        .map_err(eai::io_error)?
    }

    fn reread(
        &mut self,
        app: &str,
        realm: &str,
        username: &str,
        clear: &str,
        status: u16,
    ) -> Result<DevResponse, ApiError> {
        let view = self.view(Some(app))?;
        let name = entity_name(realm, username);
        let v = view
            .get(&stanza_name(realm, username))
            .ok_or_else(|| not_found(&name))?;
        let c = Credential {
            realm: realm.to_string(),
            username: username.to_string(),
            visible: v,
        };
        self.reply_one(status, &c, Some(clear))
    }

    fn create(&mut self) -> Result<DevResponse, ApiError> {
        let app = self.writable_app()?;
        let username = self.req.form_arg("name").ok_or_else(|| missing("name"))?;
        let realm = self.req.form_arg("realm").unwrap_or("");
        check_part("username", username, false)?;
        check_part("realm", realm, true)?;
        let password = self.password_arg()?;
        let stanza = stanza_name(realm, username);
        let name = entity_name(realm, username);
        let elsewhere = self
            .view(Some(&app))?
            .get(&stanza)
            .is_some_and(|v| v.elsewhere);
        let encrypted = self.encrypt(&password)?;
        self.write(&app, |file| {
            if elsewhere || file.get(&stanza).is_some() {
                return Err(ApiError::conflict(format!(
                    "An object with name={name} already exists"
                )));
            }
            file.get_or_insert(&stanza).set("password", encrypted);
            Ok(())
        })?;
        self.reread(&app, realm, username, &password, 201)
    }

    fn encrypt(&mut self, password: &str) -> Result<String, ApiError> {
        self.secret()?
            .encrypt(password)
            .map_err(|e| ApiError::internal(format!("Could not encrypt the password: {e}.")))
    }

    fn update(&mut self, entity: &str) -> Result<DevResponse, ApiError> {
        let app = self.writable_app()?;
        let (realm, username) = parse_entity_name(entity).ok_or_else(|| not_found(entity))?;
        let password = self.password_arg()?;
        let stanza = stanza_name(&realm, &username);
        let elsewhere = self
            .view(Some(&app))?
            .get(&stanza)
            .is_some_and(|v| v.elsewhere);
        let encrypted = self.encrypt(&password)?;
        self.write(&app, |file| {
            if !elsewhere && file.get(&stanza).is_none() {
                return Err(not_found(entity));
            }
            file.get_or_insert(&stanza).set("password", encrypted);
            Ok(())
        })?;
        self.reread(&app, &realm, &username, &password, 200)
    }

    fn delete(&mut self, entity: &str) -> Result<DevResponse, ApiError> {
        let app = self.writable_app()?;
        let (realm, username) = parse_entity_name(entity).ok_or_else(|| not_found(entity))?;
        let stanza = stanza_name(&realm, &username);
        let view = self.view(Some(&app))?;
        let Some(v) = view.get(&stanza) else {
            return Err(not_found(entity));
        };
        if !v.in_local {
            return Err(ApiError::bad_request(format!(
                "Object id={entity} cannot be deleted: it is defined only in a default/ or system file."
            )));
        }
        self.write(&app, |file| {
            if file.remove(&stanza) {
                Ok(())
            } else {
                Err(not_found(entity))
            }
        })?;
        let feed = Paging {
            count: eai::DEFAULT_COUNT,
            offset: 0,
        }
        .feed("passwords", self.origin(), Vec::new());
        Ok(eai::feed_reply(self.req, 200, &feed))
    }
}

#[cfg(test)]
mod tests {
    use super::super::confstore::tests::{TempHome, temp_home};
    use super::super::types::Caller;
    use super::*;
    use std::fs;

    fn caller(caps: &[&str]) -> Caller {
        Caller {
            user: "u".into(),
            roles: vec![],
            capabilities: caps.iter().map(|c| c.to_string()).collect(),
        }
    }

    fn admin() -> Caller {
        caller(&[
            "admin_all_objects",
            "list_storage_passwords",
            "edit_storage_passwords",
        ])
    }

    fn home() -> TempHome {
        let home = temp_home("passwords");
        fs::create_dir_all(home.app_dir("app")).unwrap();
        home
    }

    fn req(
        method: &str,
        entity: Option<&str>,
        query: &[(&str, &str)],
        form: &[(&str, &str)],
    ) -> DevRequest {
        let pairs = |p: &[(&str, &str)]| {
            p.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>()
        };
        let mut q = pairs(query);
        q.push(("output_mode".into(), "json".into()));
        let mut path = vec!["storage".to_string(), "passwords".to_string()];
        path.extend(entity.map(str::to_string));
        DevRequest {
            method: method.into(),
            ns_user: Some("nobody".into()),
            ns_app: Some("app".into()),
            path,
            query: q,
            form: pairs(form),
            base_url: "https://127.0.0.1:8089".into(),
            caller: admin(),
        }
    }

    fn body(r: &DevResponse) -> Value {
        serde_json::from_slice(&r.body).unwrap()
    }

    fn conf_text(home: &SplunkHome) -> String {
        fs::read_to_string(confstore::local_path(home, "app", CONF)).unwrap_or_default()
    }

    #[test]
    fn create_stores_real_format_and_reads_back() {
        let home = home();
        let r = handle(
            &home,
            &req(
                "POST",
                None,
                &[],
                &[
                    ("name", "api_token"),
                    ("realm", "dsdl_docker"),
                    ("password", "s3cr3t-value"),
                ],
            ),
        );
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        let b = body(&r);
        assert_eq!(b["entry"][0]["name"], "dsdl_docker:api_token:");
        assert_eq!(b["entry"][0]["content"]["clear_password"], "s3cr3t-value");
        assert_eq!(b["entry"][0]["content"]["password"], "********");

        let text = conf_text(&home);
        assert!(
            text.starts_with("[credential:dsdl_docker:api_token:]\npassword = $7$"),
            "{text}"
        );
        assert!(!text.contains("s3cr3t-value"));
        let stored = text.trim_end().rsplit(" = ").next().unwrap();
        let key = SplunkSecret::load_or_create(&home.splunk_secret()).unwrap();
        assert_eq!(key.decrypt(stored).unwrap(), "s3cr3t-value");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let path = confstore::local_path(&home, "app", CONF);
            assert_eq!(
                fs::metadata(path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }

        let r = handle(&home, &req("GET", Some("dsdl_docker:api_token:"), &[], &[]));
        assert_eq!(r.status, 200);
        let b = body(&r);
        assert_eq!(b["entry"][0]["content"]["clear_password"], "s3cr3t-value");
        assert_eq!(b["entry"][0]["content"]["encr_password"], stored);
        assert_eq!(b["entry"][0]["content"]["realm"], "dsdl_docker");
        assert_eq!(b["entry"][0]["content"]["username"], "api_token");

        let dup = handle(
            &home,
            &req(
                "POST",
                None,
                &[],
                &[
                    ("name", "api_token"),
                    ("realm", "dsdl_docker"),
                    ("password", "other"),
                ],
            ),
        );
        assert_eq!(dup.status, 409);
        assert_eq!(
            body(&dup)["messages"][0]["text"],
            "An object with name=dsdl_docker:api_token: already exists"
        );
        let _ = fs::remove_dir_all(&home.root);
    }

    #[test]
    fn update_delete_and_unknown() {
        let home = home();
        let e = Some("r:u:");
        assert_eq!(
            handle(&home, &req("POST", e, &[], &[("password", "x")])).status,
            404
        );
        assert_eq!(handle(&home, &req("DELETE", e, &[], &[])).status, 404);
        assert_eq!(handle(&home, &req("GET", e, &[], &[])).status, 404);
        let r = handle(
            &home,
            &req(
                "POST",
                None,
                &[],
                &[("name", "u"), ("realm", "r"), ("password", "one")],
            ),
        );
        assert_eq!(r.status, 201);
        let r = handle(&home, &req("POST", e, &[], &[("password", "two")]));
        assert_eq!(r.status, 200);
        assert_eq!(body(&r)["entry"][0]["content"]["clear_password"], "two");
        let r = handle(&home, &req("GET", e, &[], &[]));
        assert_eq!(body(&r)["entry"][0]["content"]["clear_password"], "two");
        assert_eq!(
            handle(&home, &req("POST", e, &[], &[])).status,
            400,
            "password missing"
        );
        assert_eq!(handle(&home, &req("DELETE", e, &[], &[])).status, 200);
        assert_eq!(handle(&home, &req("GET", e, &[], &[])).status, 404);
        assert!(!conf_text(&home).contains("credential:r:u:"));
        let _ = fs::remove_dir_all(&home.root);
    }

    #[test]
    fn list_filters_by_realm_and_search_never_by_password() {
        let home = home();
        for (realm, user, pw) in [
            ("dsdl_docker", "api_token", "needle-in-password"),
            ("dsdl_docker", "jupyter_passwd", "x"),
            ("dsdl_kubernetes", "user_token", "y"),
        ] {
            let r = handle(
                &home,
                &req(
                    "POST",
                    None,
                    &[],
                    &[("name", user), ("realm", realm), ("password", pw)],
                ),
            );
            assert_eq!(r.status, 201);
        }
        let names = |r: &DevResponse| -> Vec<String> {
            body(r)["entry"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["name"].as_str().unwrap().to_string())
                .collect()
        };
        let all = handle(&home, &req("GET", None, &[], &[]));
        assert_eq!(names(&all).len(), 3);
        let docker = handle(&home, &req("GET", None, &[("realm", "dsdl_docker")], &[]));
        assert_eq!(
            names(&docker),
            ["dsdl_docker:api_token:", "dsdl_docker:jupyter_passwd:"]
        );
        let s = handle(&home, &req("GET", None, &[("search", "user_tok")], &[]));
        assert_eq!(names(&s), ["dsdl_kubernetes:user_token:"]);
        let s = handle(&home, &req("GET", None, &[("search", "needle")], &[]));
        assert!(names(&s).is_empty(), "search must not match passwords");
        let page = handle(
            &home,
            &req("GET", None, &[("count", "1"), ("offset", "2")], &[]),
        );
        assert_eq!(names(&page), ["dsdl_kubernetes:user_token:"]);
        assert_eq!(body(&page)["paging"]["total"], 3);
        let _ = fs::remove_dir_all(&home.root);
    }

    #[test]
    fn capabilities_gate_reads_writes_and_clear_text() {
        let home = home();
        let mut r = req("POST", None, &[], &[("name", "u"), ("password", "pw-123")]);
        r.caller = caller(&["list_storage_passwords"]);
        let resp = handle(&home, &r);
        assert_eq!(resp.status, 403);
        assert!(!String::from_utf8_lossy(&resp.body).contains("pw-123"));

        r.caller = caller(&["edit_storage_passwords"]);
        let resp = handle(&home, &r);
        assert_eq!(resp.status, 201);
        let b = body(&resp);
        assert!(b["entry"][0]["content"].get("clear_password").is_none());
        assert!(!String::from_utf8_lossy(&resp.body).contains("pw-123"));

        let mut g = req("GET", None, &[], &[]);
        g.caller = caller(&["edit_storage_passwords", "admin_all_objects"]);
        assert_eq!(
            handle(&home, &g).status,
            403,
            "reading needs list_storage_passwords"
        );
        g.caller = caller(&["list_storage_passwords"]);
        let resp = handle(&home, &g);
        assert_eq!(resp.status, 200);
        assert_eq!(
            body(&resp)["entry"][0]["content"]["clear_password"],
            "pw-123"
        );
        assert_eq!(body(&resp)["entry"][0]["acl"]["can_write"], false);

        let mut d = req("DELETE", Some(":u:"), &[], &[]);
        d.caller = caller(&["list_storage_passwords"]);
        assert_eq!(handle(&home, &d).status, 403);
        d.caller = caller(&["admin_all_objects"]);
        assert_eq!(handle(&home, &d).status, 200);
        let _ = fs::remove_dir_all(&home.root);
    }

    #[test]
    fn bad_input_is_400_and_never_echoes_the_password() {
        let home = home();
        for form in [
            vec![("realm", "r"), ("password", "pw-secret-1")],
            vec![("name", ""), ("password", "pw-secret-1")],
            vec![("name", "a]b"), ("password", "pw-secret-1")],
            vec![("name", "ends\\"), ("password", "pw-secret-1")],
            vec![("name", "u"), ("realm", "r\n"), ("password", "pw-secret-1")],
            vec![("name", "u")],
            vec![("name", "u"), ("password", "")],
        ] {
            let r = handle(&home, &req("POST", None, &[], &form));
            assert_eq!(r.status, 400, "{form:?}");
            assert!(!String::from_utf8_lossy(&r.body).contains("pw-secret-1"));
        }
        let mut w = req("POST", None, &[], &[("name", "u"), ("password", "pw")]);
        w.ns_app = None;
        assert_eq!(handle(&home, &w).status, 400);
        assert!(!confstore::local_path(&home, "app", CONF).exists());
        assert!(
            !home.splunk_secret().exists(),
            "nothing was written, not even the key"
        );
        let _ = fs::remove_dir_all(&home.root);
    }

    #[test]
    fn undecryptable_and_clear_text_values() {
        let home = home();
        let path = confstore::local_path(&home, "app", CONF);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        let foreign = SplunkSecret::from_file_contents(b"another-splunk-secret")
            .encrypt("theirs")
            .unwrap();
        fs::write(
            &path,
            format!("[credential:r:foreign:]\npassword = {foreign}\n[credential:r:plain:]\npassword = clear-one\n"),
        )
        .unwrap();
        let r = handle(&home, &req("GET", None, &[], &[]));
        assert_eq!(r.status, 200);
        let b = body(&r);
        let foreign_entry = &b["entry"][0];
        assert_eq!(foreign_entry["name"], "r:foreign:");
        assert!(foreign_entry["content"].get("clear_password").is_none());
        assert_eq!(b["messages"][0]["type"], "WARN");
        assert_eq!(b["entry"][1]["content"]["clear_password"], "clear-one");

        // The next write encrypts the clear-text value in place.
        let r = handle(
            &home,
            &req(
                "POST",
                None,
                &[],
                &[("name", "new"), ("realm", "r"), ("password", "n")],
            ),
        );
        assert_eq!(r.status, 201);
        let text = fs::read_to_string(&path).unwrap();
        assert!(!text.contains("clear-one"), "{text}");
        let r = handle(&home, &req("GET", Some("r:plain:"), &[], &[]));
        assert_eq!(
            body(&r)["entry"][0]["content"]["clear_password"],
            "clear-one"
        );
        let _ = fs::remove_dir_all(&home.root);
    }

    #[test]
    fn concurrent_writers_lose_no_credential() {
        let home = home();
        let threads: Vec<_> = (0..6)
            .map(|t| {
                let home = home.clone();
                std::thread::spawn(move || {
                    for i in 0..10 {
                        let user = format!("u{t}_{i}");
                        let r = handle(
                            &home,
                            &req(
                                "POST",
                                None,
                                &[],
                                &[("name", &user), ("realm", "r"), ("password", &user)],
                            ),
                        );
                        assert_eq!(r.status, 201);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let r = handle(&home, &req("GET", None, &[("count", "0")], &[]));
        let b = body(&r);
        let entries = b["entry"].as_array().unwrap();
        assert_eq!(entries.len(), 60);
        assert!(
            entries
                .iter()
                .all(|e| e["content"]["clear_password"] == e["content"]["username"])
        );
        let _ = fs::remove_dir_all(&home.root);
    }
}
