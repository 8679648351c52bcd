//! The driver defends itself against a request that reached it through the wrong restmap
//! stanza: splunkd picks the stanza (and the capability it checks) by prefix on the raw path,
//! so `/services/mltk//start_container` matched the unprotected `/mltk` stanza. Requests go
//! straight to the `dsdl-handler` binary through its pipes, as splunkd would send them, with
//! `server.rest_uri` pointing at a running splunkd-dev that answers
//! `authentication/current-context` for each user's own session key.
//!
//! Every mutating endpoint of the table × users without any DSDL capability, with the list
//! capabilities only, and with all of them × the path as splunkd-dev would pass it plainly,
//! with a doubled or tripled slash, under `/services` and under `/servicesNS/<user>/<app>`.

mod common;

use common::devserver::{DevServer, app_copy, curl};
use common::driver::Session;
use common::wire::{self, init};
use dsdl_handler::protocol::frame::encode_request;
use dsdl_handler::router::{ENDPOINTS, PREFIX, is_mutating};
use serde_json::{Value, json};

/// A role holding the two list capabilities only.
const VIEWER_ROLE: &str = "\n[role_dsdl_viewer]\nimportRoles = user\nlist_containers = enabled\nlist_container_connections = enabled\n";

/// (user, password, role, capabilities of the DSDL four the role holds)
const USERS: &[(&str, &str, &str, &[&str])] = &[
    ("nocap", "nocap-Pw-123", "user", &[]),
    (
        "viewer",
        "viewer-Pw-123",
        "dsdl_viewer",
        &["list_containers", "list_container_connections"],
    ),
    (
        "ops",
        "ops-Pw-123",
        "dsdl_admin",
        &[
            "list_containers",
            "control_containers",
            "setup_container_configuration",
            "list_container_connections",
        ],
    ),
];

fn server(tag: &str) -> DevServer {
    let app = app_copy(tag, |dir| {
        let path = dir.join("default/authorize.conf");
        let mut text = std::fs::read_to_string(&path).expect("read authorize.conf");
        text.push_str(VIEWER_ROLE);
        std::fs::write(&path, text).expect("write authorize.conf");
    });
    let app_arg = app.to_str().expect("UTF-8 path").to_string();
    let s = DevServer::start(tag, &["--app-dir", &app_arg]);
    for (user, password, role, _) in USERS {
        s.add_user(user, password, role);
    }
    s
}

/// A session key of `user` from `auth/login`.
fn login(s: &DevServer, user: &str, password: &str) -> String {
    let r = curl(
        &[
            "--data-urlencode",
            &format!("username={user}"),
            "--data-urlencode",
            &format!("password={password}"),
            &format!("{}/services/auth/login?output_mode=json", s.url),
        ],
        &[],
    );
    assert_eq!(r.status, 200, "login {user}: {}", r.body);
    let v: Value = serde_json::from_str(&r.body).expect("login JSON");
    v["sessionKey"].as_str().expect("sessionKey").to_string()
}

/// Every mutating (method, path below /mltk, capability) of the endpoint table, parameters
/// filled in.
fn mutating_calls() -> Vec<(&'static str, String, &'static str)> {
    let mut out = Vec::new();
    for e in ENDPOINTS {
        for m in e.methods.iter().filter(|m| is_mutating(m)) {
            let path = e
                .pattern
                .replace("{container_type}", "docker")
                .replace("{connection_name}", "no_such_conn")
                .replace("{model_name}", "no_such_model");
            let cap = e
                .capabilities
                .iter()
                .find(|(cm, _)| cm == m)
                .map(|(_, c)| *c)
                .expect("every mutating method names a capability");
            out.push((*m, path, cap));
        }
    }
    assert_eq!(out.len(), 8, "{out:?}");
    out
}

/// How a path reaches the driver: `rest_path`, the restmap `match` splunkd-dev picks for it
/// and the `path_info` after that match (leading slashes trimmed, as splunkd-dev does).
fn forms(path: &str) -> Vec<(String, bool)> {
    let mut out = vec![(format!("{PREFIX}/{path}"), false)];
    out.push((format!("{PREFIX}//{path}"), true));
    out.push((format!("{PREFIX}///{path}"), true));
    if let Some((head, tail)) = path.rsplit_once('/') {
        out.push((format!("{PREFIX}/{head}//{tail}"), true));
    }
    out
}

/// The restmap stanzas' `match` values of the app, longest first.
fn matches() -> Vec<String> {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("default/restmap.conf"),
    )
    .expect("read restmap.conf");
    let conf = dsdl_handler::conffile::ConfFile::parse(&text).expect("restmap.conf parses");
    let mut m: Vec<String> = conf
        .stanzas
        .iter()
        .filter_map(|s| s.get("match").map(str::to_string))
        .collect();
    m.sort_by_key(|m| std::cmp::Reverse(m.len()));
    m
}

fn path_info(rest_path: &str, matches: &[String]) -> Option<String> {
    let m = matches.iter().find(|m| {
        rest_path
            .strip_prefix(m.as_str())
            .is_some_and(|r| r.is_empty() || r.starts_with('/'))
    })?;
    let info = rest_path[m.len()..].trim_start_matches('/');
    (!info.is_empty()).then(|| info.to_string())
}

/// What every request of a run shares: splunkd-dev's URI, the system key and the restmap
/// `match` values.
struct Base {
    url: String,
    system_key: String,
    matches: Vec<String>,
}

impl Base {
    /// The request JSON splunkd sends for `method` on `rest_path` as `(user, key)`,
    /// optionally under `/servicesNS/<user>/dsdl_handler`.
    fn request(
        &self,
        (user, key): (&str, &str),
        method: &str,
        rest_path: &str,
        namespaced: bool,
        body: Option<&Value>,
    ) -> Vec<u8> {
        let mut r = wire::request(method, rest_path, true);
        r["session"] = json!({"user": user, "authtoken": key});
        r["server"]["rest_uri"] = json!(self.url);
        r["system_authtoken"] = json!(self.system_key);
        r["ns"] = if namespaced {
            json!({"user": user, "app": "dsdl_handler"})
        } else {
            Value::Null
        };
        if let Some(pi) = path_info(rest_path, &self.matches) {
            r["path_info"] = json!(pi);
        }
        if let Some(b) = body {
            r["payload"] = json!(b.to_string());
        }
        encode_request(&init(), &wire::to_bytes(&r))
    }
}

/// A body each endpoint refuses before touching a runtime, so an allowed call answers
/// without Docker: an empty one, or a kubernetes test without settings (400).
fn harmless_body(path: &str) -> Option<Value> {
    (path == "test_container_connection").then(|| json!({"container_type": "kubernetes"}))
}

fn messages_text(reply: &Value) -> String {
    reply["payload"]["messages"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn every_mutating_endpoint_checks_the_capability_and_refuses_slashed_paths() {
    let s = server("driver-authz");
    let base = Base {
        url: s.url.clone(),
        system_key: s.login(&[]),
        matches: matches(),
    };
    let keys: Vec<String> = USERS.iter().map(|(u, p, _, _)| login(&s, u, p)).collect();
    let mut driver = Session::start();
    let mut checked = 0;
    for (method, path, cap) in mutating_calls() {
        let body = harmless_body(&path);
        for ((user, _, _, caps), key) in USERS.iter().zip(&keys) {
            for (rest_path, slashed) in forms(&path) {
                for namespaced in [false, true] {
                    driver.send(&base.request(
                        (user, key),
                        method,
                        &rest_path,
                        namespaced,
                        body.as_ref(),
                    ));
                    let reply = driver.request_replies();
                    let status = wire::status(&reply);
                    let text = messages_text(&reply);
                    let case = format!("{user} {method} {rest_path} ns={namespaced}: {reply}");
                    if slashed {
                        assert_eq!(status, 400, "{case}");
                        assert!(text.contains("empty segment"), "{case}");
                    } else if caps.contains(&cap) {
                        assert_ne!(status, 403, "{case}");
                        assert_ne!(status, 401, "{case}");
                        assert!(
                            status < 500 || status == 501,
                            "allowed calls answer as the endpoint does: {case}"
                        );
                    } else {
                        assert_eq!(status, 403, "{case}");
                        assert!(
                            text.contains(&format!("requires the capability {cap}"))
                                && text.contains(&format!("user={user}")),
                            "{case}"
                        );
                        assert_eq!(reply["payload"]["status"], "fail", "{case}");
                    }
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 8 * 3 * 6, "{checked}");
    let run = driver.finish();
    assert!(run.status.success(), "{:?}: {}", run.status, run.stderr);
    for key in keys.iter().chain([&base.system_key]) {
        assert!(!run.log.contains(key.as_str()), "a session key in the log");
    }

    // One current-context call per user for the whole run: the answers were cached.
    let access = std::fs::read_to_string(s.home.join("var/log/splunk/splunkd_access.log"))
        .expect("access log");
    for (user, ..) in USERS {
        let calls = access
            .lines()
            .filter(|l| {
                l.contains(&format!(" {user} "))
                    && l.contains("/services/authentication/current-context")
            })
            .count();
        assert_eq!(calls, 1, "{user}:\n{access}");
    }
}

#[test]
fn without_a_session_key_a_mutating_call_is_refused() {
    let s = server("driver-authz-nokey");
    let system_key = s.login(&[]);
    let mut driver = Session::start();
    let mut r = wire::request("POST", "/mltk/stop_container", true);
    r["session"] = json!({"user": "ops"});
    r["server"]["rest_uri"] = json!(s.url);
    r["system_authtoken"] = json!(system_key);
    driver.send(&encode_request(&init(), &wire::to_bytes(&r)));
    let reply = driver.request_replies();
    assert_eq!(wire::status(&reply), 403, "{reply}");
    assert!(messages_text(&reply).contains("passSession"), "{reply}");

    // A session key splunkd does not know is refused as well.
    r["session"] = json!({"user": "ops", "authtoken": "not-a-session-key"});
    driver.send(&encode_request(&init(), &wire::to_bytes(&r)));
    let reply = driver.request_replies();
    assert_eq!(wire::status(&reply), 403, "{reply}");
    assert!(messages_text(&reply).contains("session key"), "{reply}");
    assert!(!reply.to_string().contains("not-a-session-key"), "{reply}");

    // Reads are left to splunkd's restmap check.
    let mut r = wire::request("GET", "/mltk/stop_container", true);
    r["server"]["rest_uri"] = json!(s.url);
    r["system_authtoken"] = json!(system_key);
    r["session"] = json!({"user": "nocap"});
    driver.send(&encode_request(&init(), &wire::to_bytes(&r)));
    let reply = driver.request_replies();
    assert_eq!(wire::status(&reply), 200, "{reply}");
}

#[test]
fn a_doubled_slash_through_splunkd_dev_rewrites_nothing() {
    // However splunkd-dev itself treats the path, the call must not change a connection.
    let s = server("driver-authz-e2e");
    let body = json!({
        "container_type": "docker",
        "connection_name": "bypass",
        "docker_url": "unix:///var/run/docker.sock",
        "endpoint_hostname": "localhost",
    })
    .to_string();
    for path in [
        "/services/mltk//container_connection",
        "/services/mltk///container_connection",
        "/servicesNS/viewer/dsdl_handler/mltk//container_connection",
    ] {
        let url = format!("{}{path}?output_mode=json", s.url);
        let r = curl(
            &[
                "-u",
                "viewer:viewer-Pw-123",
                "-X",
                "POST",
                "-H",
                "Content-Type: application/json",
                "--data-binary",
                &body,
                &url,
            ],
            &[],
        );
        assert!(
            (400..500).contains(&r.status),
            "{path}: {} {}",
            r.status,
            r.body
        );
    }
    let url = format!(
        "{}/services/mltk/container_connection?output_mode=json",
        s.url
    );
    let list = curl(&["-u", &s.basic(), &url], &[]);
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(!list.body.contains("bypass"), "{}", list.body);
}
