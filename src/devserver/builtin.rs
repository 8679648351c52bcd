//! The endpoints splunkd-dev answers itself rather than through a restmap handler:
//! `auth/login`, `server/info`, `authentication/current-context` (who the caller is), and the
//! two stores (`configs/conf-*`, `storage/passwords`), which other modules implement behind
//! [`DevRequest`].

use super::auth::{Auth, AuthError};
use super::persist::ServerInfo;
use super::translate::HttpReply;
use super::types::{DevRequest, DevResponse, SplunkHome};
use super::{apps, confs, lookups, passwords, tokens_rest};
use crate::protocol::request::Pairs;
use crate::render::{self, Entry, Feed};
use serde_json::{Map, json};
use std::sync::Arc;

/// Which built-in endpoint a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    /// `auth/login`: no authentication needed.
    Login,
    /// `server/info`.
    ServerInfo,
    /// `configs/conf-<name>[/...]`.
    Confs,
    /// `storage/passwords[/...]`.
    Passwords,
    /// `apps/local[/<name>]`.
    Apps,
    /// `authentication/current-context`: the caller's name, roles and capabilities.
    CurrentContext,
    /// `data/lookup-table-files[/...]`.
    Lookups,
    /// `authorization/tokens[/<user>]`: authentication tokens.
    Tokens,
}

/// The built-in endpoint for decoded path segments, if any.
pub fn builtin_for(segments: &[String]) -> Option<Builtin> {
    match segments {
        [a, b] if a == "auth" && b == "login" => Some(Builtin::Login),
        [a, b] if a == "server" && b == "info" => Some(Builtin::ServerInfo),
        [a, b, ..] if a == "configs" && b.starts_with("conf-") && b.len() > 5 => {
            Some(Builtin::Confs)
        }
        [a, b, ..] if a == "storage" && b == "passwords" => Some(Builtin::Passwords),
        [a, b, ..] if a == "apps" && b == "local" => Some(Builtin::Apps),
        [a, b] if a == "authentication" && b == "current-context" => Some(Builtin::CurrentContext),
        s if lookups::is_lookups_path(s) => Some(Builtin::Lookups),
        s if tokens_rest::is_tokens_path(s) => Some(Builtin::Tokens),
        _ => None,
    }
}

impl From<DevResponse> for HttpReply {
    fn from(r: DevResponse) -> Self {
        HttpReply {
            status: r.status,
            reason: None,
            headers: r.headers,
            body: r.body,
        }
    }
}

fn first<'a>(pairs: &'a Pairs, name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// `POST /services/auth/login` with `username` and `password`: a session key, as XML
/// `<response><sessionKey>` or JSON `{"sessionKey": ...}` with `output_mode=json`.
pub async fn login(auth: Arc<Auth>, method: &str, query: &Pairs, form: &Pairs) -> HttpReply {
    let json = super::persist::output_mode(query, form).0 == "json";
    if method != "POST" {
        let mut r = HttpReply::error(405, "Use POST with username and password", json);
        r.headers.push(("Allow".into(), "POST".into()));
        return r;
    }
    let (Some(user), Some(password)) = (first(form, "username"), first(form, "password")) else {
        return HttpReply::error(
            400,
            "Login needs the form fields username and password (application/x-www-form-urlencoded)",
            json,
        );
    };
    let (user, password) = (user.to_string(), password.to_string());
    let result = tokio::task::spawn_blocking(move || auth.login(&user, &password)).await;
    match result {
        Ok(Ok(key)) => {
            if json {
                DevResponse::json(200, &json!({"sessionKey": key, "message": "", "code": ""}))
                    .into()
            } else {
                DevResponse::xml(
                    200,
                    format!(
                        "<response>\n  <sessionKey>{}</sessionKey>\n  <messages>\n    <msg code=\"\"></msg>\n  </messages>\n</response>\n",
                        render::escape(&key)
                    ),
                )
                .into()
            }
        }
        Ok(Err(e)) if e.is_unauthorized() => login_failed(json),
        Ok(Err(e)) => HttpReply::error(500, &e.to_string(), json),
        Err(_) => HttpReply::error(500, "login failed unexpectedly", json),
    }
}

fn login_failed(json: bool) -> HttpReply {
    if json {
        DevResponse::json(
            401,
            &json!({"messages": [{"type": "WARN", "code": "incorrect_username_or_password", "text": "Login failed"}]}),
        )
        .into()
    } else {
        DevResponse::xml(
            401,
            "<response>\n  <messages>\n    <msg type=\"WARN\" code=\"incorrect_username_or_password\">Login failed</msg>\n  </messages>\n</response>\n".into(),
        )
        .into()
    }
}

/// A 401 in splunkd's shape, with a Basic challenge.
pub fn unauthorized(e: &AuthError, json: bool) -> HttpReply {
    let text = e.to_string();
    let mut r = if json {
        HttpReply::from(DevResponse::json(
            401,
            &json!({"messages": [{"type": "WARN", "text": text}]}),
        ))
    } else {
        HttpReply::from(DevResponse::xml(
            401,
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<response>\n  <messages>\n    <msg type=\"WARN\">{}</msg>\n  </messages>\n</response>\n",
                render::escape(&text)
            ),
        ))
    };
    r.headers
        .push(("WWW-Authenticate".into(), "Basic realm=\"/splunk\"".into()));
    r
}

/// `GET /services/server/info`: the instance identity.
pub fn server_info(info: &ServerInfo, method: &str, origin: &str, json: bool) -> HttpReply {
    if method != "GET" {
        let mut r = HttpReply::error(405, "server/info supports GET only", json);
        r.headers.push(("Allow".into(), "GET".into()));
        return r;
    }
    let mut content = Map::new();
    for (k, v) in [
        ("guid", info.guid.as_str()),
        ("serverName", info.servername.as_str()),
        ("host", info.hostname.as_str()),
        ("version", env!("CARGO_PKG_VERSION")),
        ("build", "splunkd-dev"),
        ("product_type", "splunkd-dev"),
        ("os_name", std::env::consts::OS),
    ] {
        content.insert(k.into(), json!(v));
    }
    let feed = Feed::new(
        "server-info",
        origin,
        vec![Entry {
            name: "server-info".into(),
            author: "system".into(),
            acl: None,
            content,
        }],
    );
    if json {
        DevResponse::json(200, &feed.to_json()).into()
    } else {
        DevResponse::xml(200, feed.to_atom()).into()
    }
}

/// `GET /services/authentication/current-context`: the authenticated caller as splunkd shows
/// it, one entry `context` whose content holds `username`, `roles` and `capabilities` (lists,
/// capabilities resolved through the roles as the restmap checks resolve them). Handlers use
/// it to check a capability with the caller's own session key.
pub fn current_context(req: &DevRequest) -> HttpReply {
    let json = req.json();
    if req.method != "GET" {
        let mut r = HttpReply::error(
            405,
            "authentication/current-context supports GET only",
            json,
        );
        r.headers.push(("Allow".into(), "GET".into()));
        return r;
    }
    let caller = &req.caller;
    let mut content = Map::new();
    content.insert("username".into(), json!(caller.user));
    content.insert("realname".into(), json!(caller.user));
    content.insert("roles".into(), json!(caller.roles));
    content.insert("capabilities".into(), json!(caller.capabilities));
    content.insert("defaultApp".into(), json!("launcher"));
    content.insert("tz".into(), serde_json::Value::Null);
    let origin = format!(
        "{}/services/authentication/current-context",
        req.base_url.trim_end_matches('/')
    );
    let feed = Feed::new(
        "current-context",
        origin,
        vec![Entry {
            name: "context".into(),
            author: "system".into(),
            acl: None,
            content,
        }],
    );
    if json {
        DevResponse::json(200, &feed.to_json()).into()
    } else {
        DevResponse::xml(200, feed.to_atom()).into()
    }
}

/// `authorization/tokens`: runs off the async threads (the records are a file).
pub async fn tokens(auth: Arc<Auth>, req: DevRequest) -> HttpReply {
    let json = req.json();
    let now = super::auth::unix_now();
    match tokio::task::spawn_blocking(move || tokens_rest::handle(&auth, &req, now)).await {
        Ok(r) => r.into(),
        Err(_) => HttpReply::error(500, "the token store failed unexpectedly", json),
    }
}

/// Runs a store (`confs::handle` or `passwords::handle`, blocking file I/O) off the async
/// threads; `authentication/current-context` needs no I/O and is answered at once.
pub async fn store(which: Builtin, home: SplunkHome, req: DevRequest) -> HttpReply {
    if which == Builtin::CurrentContext {
        return current_context(&req);
    }
    let json = req.json();
    let result = tokio::task::spawn_blocking(move || match which {
        Builtin::Passwords => passwords::handle(&home, &req),
        Builtin::Apps => apps::handle(&home, &req),
        Builtin::Lookups => lookups::handle(&home, &req),
        _ => confs::handle(&home, &req),
    })
    .await;
    match result {
        Ok(r) => r.into(),
        Err(_) => HttpReply::error(500, "the store failed unexpectedly; see splunkd.log", json),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(p: &str) -> Vec<String> {
        p.split('/')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    }

    #[test]
    fn builtins_are_recognised() {
        assert_eq!(builtin_for(&segs("auth/login")), Some(Builtin::Login));
        assert_eq!(builtin_for(&segs("server/info")), Some(Builtin::ServerInfo));
        assert_eq!(
            builtin_for(&segs("configs/conf-docker_images/x")),
            Some(Builtin::Confs)
        );
        assert_eq!(builtin_for(&segs("configs/conf-")), None);
        assert_eq!(
            builtin_for(&segs("storage/passwords/r:u:")),
            Some(Builtin::Passwords)
        );
        assert_eq!(
            builtin_for(&segs("authentication/current-context")),
            Some(Builtin::CurrentContext)
        );
        assert_eq!(builtin_for(&segs("authentication/users")), None);
        assert_eq!(
            builtin_for(&segs("data/lookup-table-files/__mlspl_m.mlmodel")),
            Some(Builtin::Lookups)
        );
        assert_eq!(
            builtin_for(&segs("apps/local/Splunk_ML_Toolkit")),
            Some(Builtin::Apps)
        );
        assert_eq!(builtin_for(&segs("mltk")), None);
        assert_eq!(
            builtin_for(&segs("authorization/tokens/admin")),
            Some(Builtin::Tokens)
        );
        assert_eq!(builtin_for(&segs("auth/login/x")), None);
    }

    fn context_request(method: &str, json: bool) -> DevRequest {
        DevRequest {
            method: method.into(),
            path: segs("authentication/current-context"),
            query: if json {
                vec![("output_mode".into(), "json".into())]
            } else {
                Vec::new()
            },
            base_url: "https://127.0.0.1:8089".into(),
            caller: crate::devserver::types::Caller {
                user: "ops".into(),
                roles: vec!["dsdl_viewer".into(), "user".into()],
                capabilities: ["list_containers", "search"]
                    .into_iter()
                    .map(String::from)
                    .collect(),
            },
            ..DevRequest::default()
        }
    }

    #[test]
    fn current_context_shows_the_caller_as_splunkd_does() {
        let r = current_context(&context_request("GET", true));
        assert_eq!(r.status, 200);
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        let entry = &v["entry"][0];
        assert_eq!(entry["name"], "context");
        assert_eq!(entry["content"]["username"], "ops");
        assert_eq!(entry["content"]["roles"], json!(["dsdl_viewer", "user"]));
        assert_eq!(
            entry["content"]["capabilities"],
            json!(["list_containers", "search"])
        );
        assert_eq!(
            v["origin"],
            "https://127.0.0.1:8089/services/authentication/current-context"
        );

        let r = current_context(&context_request("GET", false));
        let xml = String::from_utf8(r.body).unwrap();
        assert!(xml.contains("<title>context</title>"), "{xml}");
        assert!(
            xml.contains("<s:key name=\"capabilities\"><s:list><s:item>list_containers</s:item><s:item>search</s:item></s:list></s:key>"),
            "{xml}"
        );
        assert!(
            xml.contains("<s:key name=\"username\">ops</s:key>"),
            "{xml}"
        );

        let r = current_context(&context_request("POST", true));
        assert_eq!(r.status, 405);
        assert_eq!(r.header("Allow"), Some("GET"));
    }

    #[test]
    fn error_shapes() {
        let r = unauthorized(&AuthError::Missing, false);
        assert_eq!(r.status, 401);
        assert_eq!(
            r.header("WWW-Authenticate"),
            Some("Basic realm=\"/splunk\"")
        );
        assert!(String::from_utf8_lossy(&r.body).contains("call not properly authenticated"));
        let r = login_failed(true);
        assert_eq!(r.status, 401);
        assert!(String::from_utf8_lossy(&r.body).contains("Login failed"));
    }
}
