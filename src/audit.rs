//! The audit trail: one JSON line per call that changes something (a container started or
//! stopped, a connection saved, tested or deleted, a model deleted), failed calls included, in
//! a file of its own that the app's `inputs.conf` has Splunk index with the sourcetype
//! [`SOURCETYPE`]. Each line says who, from where, what, with what outcome and how long it
//! took.
//!
//! Never a secret: an event is built from the route, the body's key names (its values never,
//! bar the model's and the connection's names), the reply's summary of what changed (replies
//! hold no secret) and the error's message (nor do errors).

use crate::error::ApiError;
use crate::protocol::fields::{Fields, SPLUNKD_KEYS};
use crate::protocol::reply::Outcome;
use crate::protocol::request::Request;
use crate::router::{self, Route};
use serde::Serialize;
use serde_json::{Map, Value};

/// The audit file's name, beside splunkd's logs in `$SPLUNK_HOME/var/log/splunk/`.
pub const FILE_NAME: &str = "dsdl_handler_audit.log";

/// The sourcetype `default/props.conf` and `default/inputs.conf` give the audit file.
pub const SOURCETYPE: &str = "dsdl:audit";

/// Most body key names listed in one event, and the longest name kept.
const MAX_KEYS: usize = 50;
const MAX_KEY_CHARS: usize = 60;

/// One audited call, as written (field order is the line's).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Event {
    /// When the reply was sent (UTC, ISO 8601).
    pub time: String,
    /// Unique per call; the same id is never used twice by any driver process.
    pub request_id: String,
    /// The caller, as splunkd passed it.
    pub user: String,
    /// The caller's roles, as splunkd reports them (empty when it could not be asked).
    pub roles: Vec<String>,
    /// The client's address, as splunkd passed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src_ip: Option<String>,
    /// The HTTP method.
    pub method: String,
    /// The path under `/mltk`.
    pub path: String,
    /// What was asked: `start_container`, `stop_container`, `save_connection`,
    /// `test_connection`, `delete_connection`, `delete_model`, or `unknown` for a path no
    /// endpoint serves.
    pub action: &'static str,
    /// The model the call was about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The connection the call was about, as `<type>` or `<type>/<name>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
    /// The reply's status.
    pub status: u16,
    /// `success` (2xx) or `failure`.
    pub outcome: &'static str,
    /// Time from the request to the reply.
    pub duration_ms: u64,
    /// What changed: the reply's own summary, or the keys a connection call sent. Empty for a
    /// failed call, which changes nothing.
    pub changes: Map<String, Value>,
    /// Why a call failed: the reply's message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Whether a call is audited: every POST, PUT and DELETE (routed or not) except the POST of
/// `container_logs`, which only reads.
pub fn audited(method: &str, route: Option<&Route>) -> bool {
    router::is_mutating(method) && !matches!(route, Some(Route::ContainerLogs))
}

/// The event of a call, from what the request asked and what came of it; `user`, `roles`,
/// `time`, `request_id` and `duration_ms` are filled in by the caller, which knows them.
pub fn event(req: &Request, route: Option<&Route>, result: &Result<Outcome, ApiError>) -> Event {
    let fields = Fields::from_request(req).unwrap_or_default();
    let body = match result {
        Ok(Outcome::Object { body, .. }) => Some(body),
        _ => None,
    };
    let (status, error) = match result {
        Ok(Outcome::Object { status, .. }) => (*status, None),
        Ok(_) => (200, None),
        Err(e) => (e.status(), Some(e.message.clone())),
    };
    let (model, connection) = target(route, &fields, body);
    Event {
        time: String::new(),
        request_id: String::new(),
        user: req.user().unwrap_or_default().to_string(),
        roles: Vec::new(),
        src_ip: req.connection.as_ref().and_then(|c| c.src_ip.clone()),
        method: req.method.clone(),
        path: crate::names::excerpt(&req.mltk_path(), 200),
        action: action(&req.method, route),
        model,
        connection,
        status,
        outcome: if (200..300).contains(&status) {
            "success"
        } else {
            "failure"
        },
        duration_ms: 0,
        changes: match body {
            Some(b) if error.is_none() => changes(route, &fields, b),
            _ => Map::new(),
        },
        error,
    }
}

/// The action word of a method on a route.
fn action(method: &str, route: Option<&Route>) -> &'static str {
    match (method, route) {
        ("POST", Some(Route::StartContainer)) => "start_container",
        ("POST", Some(Route::StopContainer)) => "stop_container",
        ("POST" | "PUT", Some(Route::Connections)) => "save_connection",
        ("POST", Some(Route::TestConnection)) => "test_connection",
        ("DELETE", Some(Route::Connection { .. })) => "delete_connection",
        ("DELETE", Some(Route::StartContainerModel { .. })) => "delete_model",
        _ => "unknown",
    }
}

/// The model and the connection a call was about, from the path, the body or the reply.
fn target(
    route: Option<&Route>,
    fields: &Fields,
    body: Option<&Value>,
) -> (Option<String>, Option<String>) {
    let text = |k: &str| {
        fields
            .text(k)
            .or_else(|| body?.get(k)?.as_str().map(str::to_string))
            .filter(|v| !v.is_empty())
            .map(|v| crate::names::excerpt(&v, 200))
    };
    match route {
        Some(Route::StartContainer | Route::StopContainer) => (text("model"), None),
        Some(Route::StartContainerModel { model }) => {
            (Some(crate::names::excerpt(model, 200)), None)
        }
        Some(Route::Connection {
            container_type,
            name,
        }) => (None, Some(format!("{container_type}/{name}"))),
        Some(Route::Connections | Route::TestConnection) => {
            let ty = text("container_type");
            let name = text("connection_name");
            let connection = match (ty, name) {
                (Some(t), Some(n)) => Some(format!("{t}/{n}")),
                (Some(t), None) => Some(t),
                (None, Some(n)) => Some(n),
                (None, None) => None,
            };
            (None, connection)
        }
        _ => (None, None),
    }
}

/// What a successful call changed, from its reply's summary (which holds no secret) or, for
/// connection calls, the names of the keys it sent.
fn changes(route: Option<&Route>, fields: &Fields, body: &Value) -> Map<String, Value> {
    let pick = |from: &Value, keys: &[&str]| -> Map<String, Value> {
        keys.iter()
            .filter_map(|k| Some((k.to_string(), from.get(*k)?.clone())))
            .filter(|(_, v)| !v.is_null() && *v != "")
            .collect()
    };
    match route {
        Some(Route::StartContainer) => pick(
            &body["updated_config"],
            &[
                "changed",
                "container_id",
                "container_name",
                "image",
                "mode",
                "cluster",
                "runtime",
                "phase",
            ],
        ),
        Some(Route::StopContainer) => pick(
            &body["stopped_container"],
            &["changed", "container_id", "removed_containers"],
        ),
        Some(Route::StartContainerModel { .. }) => {
            pick(&body["delete_data"], &["status", "record"])
        }
        Some(Route::Connection { .. }) => pick(body, &["deleted_credentials", "still_running"]),
        Some(Route::Connections | Route::TestConnection) => {
            let mut keys: Vec<Value> = fields
                .0
                .keys()
                .filter(|k| !SPLUNKD_KEYS.contains(&k.as_str()))
                .take(MAX_KEYS)
                .map(|k| Value::String(crate::names::excerpt(k, MAX_KEY_CHARS)))
                .collect();
            keys.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
            let mut m = Map::new();
            m.insert("keys".into(), Value::Array(keys));
            m
        }
        _ => Map::new(),
    }
}

/// The time of an event: UTC to the millisecond, as `props.conf`'s `TIME_FORMAT` reads it.
pub fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S%.3f+00:00")
        .to_string()
}

/// A fresh request id: 16 hex digits from the system's randomness, or the process id and a
/// counter when there is none.
pub fn request_id() -> String {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_ok() {
        return bytes.iter().map(|b| format!("{b:02x}")).collect();
    }
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{:08x}{n:08x}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn post(path: &str, payload: &str) -> Request {
        let block = json!({
            "method": "POST",
            "rest_path": format!("/mltk/{path}"),
            "payload": payload,
            "session": {"user": "alice", "authtoken": "session-key-1"},
            "connection": {"src_ip": "10.1.2.3"},
        });
        Request::parse(block.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn only_calls_that_change_something_are_audited() {
        assert!(audited("POST", Some(&Route::StartContainer)));
        assert!(audited("DELETE", None), "an unrouted DELETE is audited too");
        assert!(audited("PUT", Some(&Route::Connections)));
        assert!(!audited("POST", Some(&Route::ContainerLogs)));
        assert!(!audited("GET", Some(&Route::StartContainer)));
    }

    #[test]
    fn a_start_says_who_what_and_what_changed() {
        let req = post(
            "start_container",
            r#"{"model": "churn", "image": "img", "mode": "PROD"}"#,
        );
        let reply = Outcome::ok(json!({
            "message": "The container started successfully",
            "updated_config": {"container_id": "c1", "image": "img", "mode": "PROD",
                "api_url": "http://h:1", "runtime": "", "changed": true},
        }));
        let e = event(&req, Some(&Route::StartContainer), &Ok(reply));
        assert_eq!(e.action, "start_container");
        assert_eq!(e.user, "alice");
        assert_eq!(e.src_ip.as_deref(), Some("10.1.2.3"));
        assert_eq!(e.model.as_deref(), Some("churn"));
        assert_eq!(e.outcome, "success");
        assert_eq!(
            Value::Object(e.changes),
            json!({"changed": true, "container_id": "c1", "image": "img", "mode": "PROD"})
        );
    }

    #[test]
    fn a_failure_is_audited_with_its_reason_and_no_change() {
        let req = post("stop_container", r#"{"model": "gone"}"#);
        let e = event(
            &req,
            Some(&Route::StopContainer),
            &Err(ApiError::not_found("No model named gone.")),
        );
        assert_eq!((e.status, e.outcome), (404, "failure"));
        assert_eq!(e.error.as_deref(), Some("No model named gone."));
        assert!(e.changes.is_empty());
        assert_eq!(e.model.as_deref(), Some("gone"));
    }

    #[test]
    fn connection_calls_record_key_names_never_values() {
        let req = post(
            "container_connection",
            r#"{"container_type": "docker", "connection_name": "lab",
                "docker_url": "tcp://h:2376", "docker_tls_key": "-----BEGIN PRIVATE KEY-----s3cret",
                "output_mode": "json"}"#,
        );
        let reply = Outcome::ok(json!({"container_type": "docker", "connection_name": "lab"}));
        let e = event(&req, Some(&Route::Connections), &Ok(reply));
        assert_eq!(e.action, "save_connection");
        assert_eq!(e.connection.as_deref(), Some("docker/lab"));
        assert_eq!(
            e.changes["keys"],
            json!([
                "connection_name",
                "container_type",
                "docker_tls_key",
                "docker_url"
            ])
        );
        let line = serde_json::to_string(&e).unwrap();
        assert!(
            !line.contains("s3cret") && !line.contains("tcp://h"),
            "{line}"
        );
        assert!(!line.contains("session-key-1"), "{line}");
    }

    #[test]
    fn times_have_milliseconds() {
        let t = now();
        assert_eq!(t.len(), "2026-11-29T00:00:00.000+00:00".len(), "{t}");
        assert!(t.ends_with("+00:00") && t.as_bytes()[19] == b'.', "{t}");
    }

    #[test]
    fn request_ids_differ() {
        let a = request_id();
        assert_eq!(a.len(), 16);
        assert_ne!(a, request_id());
    }
}
