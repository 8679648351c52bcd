//! `--capture DIR`: each driver round trip written as a replay fixture
//! (`DIR/NNNN-<method>-<slug>.json`) with every secret replaced by a placeholder, so fixtures
//! can be committed and replayed against a fresh splunkd-dev.
//!
//! Fixture shape:
//! ```json
//! {"description": "GET /services/mltk as admin",
//!  "init": {"command": ["$SPLUNK_HOME/etc/apps/dsdl_handler/bin/dsdl-handler"], "command_arg": null},
//!  "request": {... request JSON, session.authtoken = "<session_key>", system_authtoken = "<system_key>",
//!              server.rest_uri = "<rest_uri>" ...},
//!  "reply": {... driver reply JSON ...},
//!  "volatile": ["/payload/updated", "/payload/entry/*/updated"]}
//! ```
//! The live `rest_uri` is also replaced by `<rest_uri>` inside every string of the request
//! and reply (feed ids and origins contain it), so a replay substitutes it back in both.

use crate::names::is_secret_name;
use crate::protocol::frame::Init;
use base64::Engine;
use serde_json::{Map, Value, json};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Placeholder of `session.authtoken`.
pub const SESSION_KEY: &str = "<session_key>";
/// Placeholder of `system_authtoken`.
pub const SYSTEM_KEY: &str = "<system_key>";
/// Placeholder of `server.rest_uri`.
pub const REST_URI: &str = "<rest_uri>";
/// Placeholder of `server.hostname` and `server.servername`: fixtures name no machine.
pub const HOSTNAME: &str = "<hostname>";
/// Placeholder of `server.guid`.
pub const GUID: &str = "<guid>";
/// Placeholder of every other secret.
pub const REDACTED: &str = "<redacted>";
/// What the handler returns in place of a stored secret; not itself a secret.
const MASK: &str = "default_token";

/// The live values to scrub, besides what field names reveal. No `Debug`: it holds keys.
#[derive(Clone, Default)]
pub struct Secrets {
    /// The caller's session key.
    pub session_key: Option<String>,
    /// The system session key.
    pub system_key: String,
    /// This server's `rest_uri`.
    pub rest_uri: String,
    /// SPLUNK_HOME, shown as `$SPLUNK_HOME` in `init.command`.
    pub splunk_home: String,
}

/// Collects secret values found by name, for scrubbing wherever else they appear.
#[derive(Default)]
struct Found(Vec<String>);

impl Found {
    fn add(&mut self, v: &str) {
        if v.len() >= 6 && v != MASK && !self.0.iter().any(|x| x == v) {
            self.0.push(v.to_string());
        }
    }
}

fn redact_pairs(v: &mut Value, found: &mut Found, all: bool) {
    if let Some(items) = v.as_array_mut() {
        for pair in items {
            if let Some([k, val]) = pair.as_array_mut().map(Vec::as_mut_slice) {
                let secret = all
                    || k.as_str().is_some_and(|k| {
                        is_secret_name(k)
                            || k.eq_ignore_ascii_case("authorization")
                            || k.eq_ignore_ascii_case("cookie")
                            || k.eq_ignore_ascii_case("set-cookie")
                    });
                if secret && let Some(s) = val.as_str() {
                    found.add(s);
                    *val = json!(REDACTED);
                }
            }
        }
    }
}

/// Records every string and number inside `v` as a secret value to scrub elsewhere.
fn collect_leaves(v: &Value, found: &mut Found) {
    match v {
        Value::String(s) => found.add(s),
        Value::Number(n) => found.add(&n.to_string()),
        Value::Array(items) => items.iter().for_each(|i| collect_leaves(i, found)),
        Value::Object(map) => map.values().for_each(|i| collect_leaves(i, found)),
        _ => {}
    }
}

/// Redacts the values of secret-named fields anywhere in `v` (strings, and numbers, lists or
/// objects whole); returns whether it changed.
fn redact_json(v: &mut Value, found: &mut Found) -> bool {
    let mut changed = false;
    match v {
        Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                if !is_secret_name(k) {
                    changed |= redact_json(val, found);
                    continue;
                }
                match val {
                    Value::String(s) => {
                        if !s.is_empty() && s != MASK {
                            found.add(s);
                            *val = json!(REDACTED);
                            changed = true;
                        }
                    }
                    Value::Null | Value::Bool(_) => {}
                    // A number, list or object under a secret's name holds the secret too.
                    other => {
                        collect_leaves(other, found);
                        *other = json!(REDACTED);
                        changed = true;
                    }
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                changed |= redact_json(item, found);
            }
        }
        _ => {}
    }
    changed
}

/// Redacts a body held as text: JSON is parsed, redacted and re-serialised (only when
/// something changed); an urlencoded form has its secret pairs replaced.
fn redact_body_text(text: &str, found: &mut Found) -> Option<String> {
    if let Ok(mut v) = serde_json::from_str::<Value>(text) {
        return redact_json(&mut v, found).then(|| v.to_string());
    }
    // Any other text with a `=` may be a form body (curl -d sends spaces unencoded): parsed as
    // one, it is rewritten only when a secret-named field has a value. Markup (an Atom reply,
    // whose `&apos;` and `<s:key name=...>` would read as form pairs) is never a form.
    let t = text.trim();
    if t.contains('=') && !t.starts_with('<') {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(t.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if pairs
            .iter()
            .any(|(k, v)| is_secret_name(k) && !v.is_empty())
        {
            let mut ser = form_urlencoded::Serializer::new(String::new());
            for (k, v) in &pairs {
                if is_secret_name(k) && !v.is_empty() {
                    found.add(v);
                    ser.append_pair(k, REDACTED);
                } else {
                    ser.append_pair(k, v);
                }
            }
            return Some(ser.finish());
        }
    }
    None
}

/// Replaces every occurrence of the given values in every string of `v`.
fn scrub(v: &mut Value, replacements: &[(String, &str)]) {
    match v {
        Value::String(s) => {
            for (from, to) in replacements {
                if !from.is_empty() && s.contains(from.as_str()) {
                    *s = s.replace(from.as_str(), to);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| scrub(i, replacements)),
        Value::Object(map) => map.values_mut().for_each(|i| scrub(i, replacements)),
        _ => {}
    }
}

/// JSON pointers of every `updated` field (`*` for array indices).
fn volatile_paths(v: &Value, at: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, val) in map {
                let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                if k == "updated" && !out.contains(&p) {
                    out.push(p.clone());
                }
                volatile_paths(val, &p, out);
            }
        }
        Value::Array(items) => {
            for item in items {
                volatile_paths(item, &format!("{at}/*"), out);
            }
        }
        _ => {}
    }
}

/// Builds the redacted fixture for one round trip.
pub fn fixture(
    description: &str,
    init: &Init,
    request: &Value,
    reply: &[u8],
    secrets: &Secrets,
) -> Value {
    let mut found = Found::default();
    let mut req = request.clone();
    // The guid may reappear in replies (as a manager id), so it is scrubbed everywhere.
    let live_guid = request
        .pointer("/server/guid")
        .and_then(Value::as_str)
        .filter(|g| g.len() >= 8)
        .map(str::to_string);
    if let Some(obj) = req.as_object_mut() {
        if let Some(s) = obj.get_mut("session").and_then(Value::as_object_mut)
            && s.contains_key("authtoken")
        {
            s.insert("authtoken".into(), json!(SESSION_KEY));
        }
        if obj.contains_key("system_authtoken") {
            obj.insert("system_authtoken".into(), json!(SYSTEM_KEY));
        }
        if let Some(s) = obj.get_mut("server").and_then(Value::as_object_mut) {
            for (key, placeholder) in [
                ("rest_uri", REST_URI),
                ("hostname", HOSTNAME),
                ("servername", HOSTNAME),
                ("guid", GUID),
            ] {
                if s.contains_key(key) {
                    s.insert(key.into(), json!(placeholder));
                }
            }
        }
        for key in ["query", "form", "headers"] {
            if let Some(v) = obj.get_mut(key) {
                redact_pairs(v, &mut found, false);
            }
        }
        if let Some(v) = obj.get_mut("cookies") {
            redact_pairs(v, &mut found, true);
        }
        if let Some(Value::String(p)) = obj.get_mut("payload")
            && let Some(new) = redact_body_text(p, &mut found)
        {
            *p = new;
        }
        if let Some(Value::String(p)) = obj.get_mut("payload_base64") {
            let b64 = base64::engine::general_purpose::STANDARD;
            if let Some(text) = b64
                .decode(p.as_bytes())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                && let Some(new) = redact_body_text(&text, &mut found)
            {
                *p = b64.encode(new);
            }
        }
    }
    let mut rep: Value = serde_json::from_slice(reply)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(reply).into_owned()));
    if let Some(obj) = rep.as_object_mut() {
        if let Some(h) = obj.get_mut("headers") {
            match h {
                Value::Object(map) => {
                    for (k, v) in map.iter_mut() {
                        let lk = k.to_ascii_lowercase();
                        if matches!(lk.as_str(), "set-cookie" | "authorization" | "cookie") {
                            *v = json!(REDACTED);
                        }
                    }
                }
                other => redact_pairs(other, &mut found, false),
            }
        }
        match obj.get_mut("payload") {
            Some(Value::String(p)) => {
                if let Some(new) = redact_body_text(p, &mut found) {
                    *p = new;
                }
            }
            Some(p) => {
                redact_json(p, &mut found);
            }
            None => {}
        }
    }
    let mut replacements: Vec<(String, &str)> = Vec::new();
    if let Some(k) = &secrets.session_key {
        replacements.push((k.clone(), SESSION_KEY));
    }
    replacements.push((secrets.system_key.clone(), SYSTEM_KEY));
    replacements.extend(found.0.iter().map(|v| (v.clone(), REDACTED)));
    replacements.push((secrets.rest_uri.clone(), REST_URI));
    if let Some(g) = live_guid {
        replacements.push((g, GUID));
    }
    scrub(&mut req, &replacements);
    scrub(&mut rep, &replacements);

    let command: Vec<Value> = init
        .command
        .iter()
        .map(|c| {
            let c = if !secrets.splunk_home.is_empty() {
                c.replace(&secrets.splunk_home, "$SPLUNK_HOME")
            } else {
                c.clone()
            };
            Value::String(c)
        })
        .collect();
    let mut volatile = Vec::new();
    volatile_paths(&rep, "", &mut volatile);
    let mut out = Map::new();
    out.insert("description".into(), json!(description));
    out.insert(
        "init".into(),
        json!({"command": command, "command_arg": init.command_arg}),
    );
    out.insert("request".into(), req);
    out.insert("reply".into(), rep);
    out.insert("volatile".into(), json!(volatile));
    Value::Object(out)
}

/// `mltk/container_data` → `mltk-container-data`.
pub fn slug(rest_path: &str) -> String {
    let mut s = String::new();
    for c in rest_path.chars() {
        if c.is_ascii_alphanumeric() {
            s.push(c.to_ascii_lowercase());
        } else if !s.ends_with('-') && !s.is_empty() {
            s.push('-');
        }
        if s.len() >= 60 {
            break;
        }
    }
    let s = s.trim_end_matches('-').to_string();
    if s.is_empty() { "root".into() } else { s }
}

/// The fixture directory and its numbering.
pub struct Capture {
    dir: PathBuf,
    lock: Mutex<()>,
}

impl Capture {
    /// Creates the directory if needed.
    pub fn new(dir: &Path) -> std::io::Result<Capture> {
        std::fs::create_dir_all(dir)?;
        Ok(Capture {
            dir: dir.to_path_buf(),
            lock: Mutex::new(()),
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn highest(&self) -> u64 {
        std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_str()?.to_string();
                let digits: String = name.chars().take_while(char::is_ascii_digit).collect();
                name[digits.len()..]
                    .starts_with('-')
                    .then(|| digits.parse().ok())
                    .flatten()
            })
            .max()
            .unwrap_or(0)
    }

    /// Writes `fixture` as the next numbered file; returns its path.
    pub fn write(
        &self,
        method: &str,
        rest_path: &str,
        fixture: &Value,
    ) -> std::io::Result<PathBuf> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut text = serde_json::to_string_pretty(fixture).map_err(std::io::Error::other)?;
        text.push('\n');
        let mut n = self.highest() + 1;
        for _ in 0..100 {
            let path = self.dir.join(format!(
                "{n:04}-{}-{}.json",
                method.to_ascii_lowercase(),
                slug(rest_path)
            ));
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut f) => {
                    f.write_all(text.as_bytes())?;
                    return Ok(path);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => n += 1,
                Err(e) => return Err(e),
            }
        }
        Err(std::io::Error::other("no free fixture number"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets() -> Secrets {
        Secrets {
            session_key: Some("SESSIONKEY123".into()),
            system_key: "SYSTEMKEY456".into(),
            rest_uri: "https://127.0.0.1:41234".into(),
            splunk_home: "/tmp/home".into(),
        }
    }

    #[test]
    fn fixtures_hold_no_secrets() {
        let request = json!({
            "method": "POST",
            "rest_path": "/mltk/container_connection",
            "query": [["output_mode", "json"], ["token", "querysecret1"]],
            "form": [["name", "x"], ["jupyter_password", "formsecret1"]],
            "payload": "{\"docker\":{\"api_token\":\"payloadsecret\",\"docker_ca\":\"-----BEGIN\",\"image\":\"i\",\"hec_token\":\"default_token\",\"user_token\":{\"nested\":\"nestedsecret\"},\"client_key\":12345678}}",
            "session": {"user": "admin", "authtoken": "SESSIONKEY123"},
            "server": {"rest_uri": "https://127.0.0.1:41234", "guid": "G"},
            "system_authtoken": "SYSTEMKEY456",
            "headers": [["Authorization", "Splunk SESSIONKEY123"], ["Cookie", "splunkd_8089=abc"], ["Accept", "*/*"]],
            "cookies": [["splunkd_8089", "abcdefgh"]],
        });
        let reply = br#"{"status":200,"headers":{"Set-Cookie":"a=b"},"payload":{"updated":"2024-01-01T00:00:00+00:00","origin":"https://127.0.0.1:41234/services/mltk","entry":[{"updated":"x","content":{"api_token":"leaked","hec_token":"default_token","echo":"formsecret1"}}]}}"#;
        let init = Init {
            command: vec!["/tmp/home/etc/apps/a/bin/dsdl-handler".into()],
            command_arg: None,
        };
        let f = fixture(
            "POST /services/mltk/container_connection as admin",
            &init,
            &request,
            reply,
            &secrets(),
        );
        let text = f.to_string();
        for secret in [
            "SESSIONKEY123",
            "SYSTEMKEY456",
            "querysecret1",
            "formsecret1",
            "payloadsecret",
            "nestedsecret",
            "12345678",
            "-----BEGIN",
            "abcdefgh",
            "leaked",
            "127.0.0.1:41234",
            "/tmp/home",
        ] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert_eq!(f["request"]["session"]["authtoken"], SESSION_KEY);
        assert_eq!(f["request"]["system_authtoken"], SYSTEM_KEY);
        assert_eq!(f["request"]["server"]["rest_uri"], REST_URI);
        assert_eq!(f["request"]["server"]["guid"], GUID);
        assert_eq!(f["request"]["headers"][0][1], REDACTED);
        assert_eq!(f["request"]["headers"][2][1], "*/*");
        assert_eq!(f["request"]["query"][0][1], "json");
        let payload: Value =
            serde_json::from_str(f["request"]["payload"].as_str().unwrap()).unwrap();
        assert_eq!(payload["docker"]["api_token"], REDACTED);
        assert_eq!(payload["docker"]["image"], "i");
        assert_eq!(payload["docker"]["hec_token"], "default_token");
        assert_eq!(
            f["reply"]["payload"]["entry"][0]["content"]["hec_token"],
            "default_token"
        );
        assert_eq!(f["reply"]["payload"]["origin"], "<rest_uri>/services/mltk");
        assert_eq!(f["reply"]["headers"]["Set-Cookie"], REDACTED);
        assert_eq!(
            f["init"]["command"][0],
            "$SPLUNK_HOME/etc/apps/a/bin/dsdl-handler"
        );
        assert_eq!(f["init"]["command_arg"], Value::Null);
        assert_eq!(
            f["volatile"],
            json!(["/payload/updated", "/payload/entry/*/updated"])
        );
    }

    #[test]
    fn xml_replies_are_not_read_as_forms() {
        let xml = r#"<feed><s:key name="summary">one model&apos;s key=value</s:key></feed>"#;
        assert_eq!(redact_body_text(xml, &mut Found::default()), None);
    }

    #[test]
    fn form_payloads_and_base64() {
        let request = json!({
            "payload": "name=x&password=pw123456&a=b+c",
            "payload_base64": base64::engine::general_purpose::STANDARD.encode("{\"secret\":\"zzzzzzzz\"}"),
        });
        let f = fixture(
            "d",
            &Init::default(),
            &request,
            b"{\"payload\":\"plain\"}",
            &secrets(),
        );
        assert_eq!(
            f["request"]["payload"],
            "name=x&password=%3Credacted%3E&a=b+c"
        );
        let b = base64::engine::general_purpose::STANDARD
            .decode(f["request"]["payload_base64"].as_str().unwrap())
            .unwrap();
        assert_eq!(b, br#"{"secret":"<redacted>"}"#);
        assert_eq!(f["reply"]["payload"], "plain");

        // curl -d sends spaces unencoded; a short secret is not scrubbed by value, so the
        // form itself must be redacted.
        let request = json!({"payload": "connection_name=local docker&api_token=jp"});
        let f = fixture("d", &Init::default(), &request, b"{}", &secrets());
        let payload = f["request"]["payload"].as_str().unwrap();
        assert!(!payload.contains("=jp"), "{payload}");
        assert!(payload.contains("api_token=%3Credacted%3E"), "{payload}");
    }

    #[test]
    fn numbering_continues_after_the_highest() {
        let dir = std::env::temp_dir().join(format!("splunkd-dev-capture-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let c = Capture::new(&dir).unwrap();
        std::fs::write(dir.join("0041-get-old.json"), "{}").unwrap();
        std::fs::write(dir.join("notes.txt"), "").unwrap();
        let p = c.write("GET", "/mltk/container_data", &json!({})).unwrap();
        assert_eq!(p.file_name().unwrap(), "0042-get-mltk-container-data.json");
        let p = c.write("POST", "/", &json!({})).unwrap();
        assert_eq!(p.file_name().unwrap(), "0043-post-root.json");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
