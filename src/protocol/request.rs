//! The request JSON splunkd sends in each data block ("new-style" persistent requests).
//!
//! Every documented key is accepted; unknown keys are ignored so a newer splunkd does not break
//! the driver. Pairs (`query`, `form`, `headers`, `cookies`) stay lists so repeated keys survive.
//! Tokens are wrapped in [`Secret`] so they cannot reach a log line by accident.

use base64::Engine;
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::fmt;

/// A token or password. Its `Debug` and `Display` never show the value.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value that must never be logged.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself, for the one place that needs it (an Authorization header).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether no token was given.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// An ordered list of `[name, value]` pairs with repeats kept.
pub type Pairs = Vec<(String, String)>;

/// One request as splunkd describes it. `Debug` shows the names of headers, cookies, form
/// fields and query arguments but none of their values, nor the body: any of them may hold a
/// token or a secret being saved.
#[derive(Clone, Default, Deserialize)]
#[serde(default)]
pub struct Request {
    /// `GET`, `POST`, `PUT`, `DELETE`, ...
    pub method: String,
    /// Path after `/services` or `/servicesNS/<user>/<app>`, e.g. `/mltk/container_data`.
    pub rest_path: Option<String>,
    /// Remainder of the URL after the restmap `match`, without a leading slash.
    pub path_info: Option<String>,
    /// `xml` unless the client asked for something else.
    pub output_mode: Option<String>,
    /// Whether the client gave `output_mode` itself.
    pub output_mode_explicit: bool,
    /// URL query arguments.
    #[serde(deserialize_with = "pairs")]
    pub query: Pairs,
    /// urlencoded body arguments.
    #[serde(deserialize_with = "pairs")]
    pub form: Pairs,
    /// HTTP headers (with `passHttpHeaders`); may hold `Authorization`, never log them.
    #[serde(deserialize_with = "pairs")]
    pub headers: Pairs,
    /// Cookies (with `passHttpCookies`).
    #[serde(deserialize_with = "pairs")]
    pub cookies: Pairs,
    /// Raw body (with `passPayload = true`).
    pub payload: Option<String>,
    /// Base64 body (with `passPayload = base64`).
    pub payload_base64: Option<String>,
    /// Namespace of `/servicesNS/<user>/<app>`; a wildcard part is omitted.
    pub ns: Option<Namespace>,
    /// The caller; absent for unauthenticated endpoints.
    pub session: Option<Session>,
    /// splunkd itself.
    pub server: Option<Server>,
    /// The restmap stanza that matched (with `passConf`).
    pub restmap: Option<Restmap>,
    /// A system session key (with `passSystemAuth`).
    pub system_authtoken: Option<Secret>,
    /// The client connection.
    pub connection: Option<Connection>,
    /// UI locale.
    pub lang: Option<String>,
    /// Explicit REST API version from the URL.
    pub api_version: Option<String>,
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = |pairs: &Pairs| pairs.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("rest_path", &self.rest_path)
            .field("path_info", &self.path_info)
            .field("output_mode", &self.output_mode)
            .field("query", &names(&self.query))
            .field("form", &names(&self.form))
            .field("headers", &names(&self.headers))
            .field("cookies", &names(&self.cookies))
            .field("payload_bytes", &self.payload.as_ref().map(String::len))
            .field(
                "payload_base64_bytes",
                &self.payload_base64.as_ref().map(String::len),
            )
            .field("ns", &self.ns)
            .field("session", &self.session)
            .field("server", &self.server)
            .field("restmap", &self.restmap)
            .field("system_authtoken", &self.system_authtoken)
            .field("connection", &self.connection)
            .finish_non_exhaustive()
    }
}

/// `ns` of the request.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Namespace {
    /// App part of the namespace.
    pub app: Option<String>,
    /// User part of the namespace.
    pub user: Option<String>,
}

/// `session` of the request.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Session {
    /// The authenticated user.
    pub user: Option<String>,
    /// The caller's live session key.
    pub authtoken: Option<Secret>,
    /// The user's time zone when not the system default.
    pub tz: Option<String>,
    /// Set when called from a search.
    pub search_id: Option<String>,
}

/// `server` of the request.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Server {
    /// splunkd's management URI, e.g. `https://127.0.0.1:8089`.
    pub rest_uri: Option<String>,
    /// Host name.
    pub hostname: Option<String>,
    /// `serverName` from server.conf.
    pub servername: Option<String>,
    /// The instance GUID; used as this search head's manager id.
    pub guid: Option<String>,
    /// Multisite site.
    pub site: Option<String>,
}

/// `restmap` of the request.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Restmap {
    /// `script:<stanza>`.
    pub name: Option<String>,
    /// Every key of the stanza, values as strings.
    #[serde(deserialize_with = "string_map")]
    pub conf: BTreeMap<String, String>,
}

/// `connection` of the request.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Connection {
    /// Client address.
    pub src_ip: Option<String>,
    /// Whether the client used TLS.
    pub ssl: Option<bool>,
    /// Port splunkd listens on.
    pub listening_port: Option<u16>,
    /// Address splunkd listens on, when not all.
    pub listening_ip: Option<String>,
}

/// Why the request JSON could not be used; becomes a 400 reply.
#[derive(Debug)]
pub struct BadRequest(pub String);

impl fmt::Display for BadRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Request {
    /// A POST with this raw body and form pairs, for unit tests of body readers.
    #[cfg(test)]
    pub fn test_post(payload: Option<&str>, form: &[(&str, &str)]) -> Request {
        Request {
            method: "POST".into(),
            payload: payload.map(str::to_string),
            form: form
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Request::default()
        }
    }

    /// Parses a data block. Malformed JSON or wrong field types give a message for a 400.
    pub fn parse(block: &[u8]) -> Result<Request, BadRequest> {
        let req: Request = serde_json::from_slice(block)
            .map_err(|e| BadRequest(format!("The request JSON from splunkd is invalid: {e}")))?;
        if req.method.is_empty() {
            return Err(BadRequest(
                "The request JSON from splunkd has no \"method\".".into(),
            ));
        }
        Ok(req)
    }

    /// The body bytes, from `payload` or `payload_base64`; empty when there is none.
    pub fn body(&self) -> Result<Vec<u8>, BadRequest> {
        if let Some(p) = &self.payload {
            return Ok(p.as_bytes().to_vec());
        }
        match &self.payload_base64 {
            Some(b64) => base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|e| BadRequest(format!("payload_base64 is not valid base64: {e}"))),
            None => Ok(Vec::new()),
        }
    }

    /// Whether the reply should be JSON rather than Atom/XML.
    pub fn wants_json(&self) -> bool {
        self.output_mode
            .as_deref()
            .is_some_and(|m| m.eq_ignore_ascii_case("json"))
    }

    /// The first query argument with this name.
    pub fn query_arg(&self, name: &str) -> Option<&str> {
        first(&self.query, name)
    }

    /// The first form argument with this name.
    pub fn form_arg(&self, name: &str) -> Option<&str> {
        first(&self.form, name)
    }

    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The authenticated user, if any.
    pub fn user(&self) -> Option<&str> {
        self.session.as_ref()?.user.as_deref()
    }

    /// The path below `/mltk`, as segments. Uses `rest_path` when present, otherwise the
    /// restmap `match` joined with `path_info`, so routing does not depend on stanza layout.
    pub fn mltk_path(&self) -> String {
        if let Some(rp) = &self.rest_path {
            return rp.clone();
        }
        let matched = self
            .restmap
            .as_ref()
            .and_then(|r| r.conf.get("match"))
            .map(String::as_str)
            .unwrap_or("/mltk");
        match self.path_info.as_deref() {
            Some(pi) if !pi.is_empty() => format!("{}/{}", matched.trim_end_matches('/'), pi),
            _ => matched.to_string(),
        }
    }
}

fn first<'a>(pairs: &'a Pairs, name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Accepts `[[k, v], ...]` (splunkd's form), `{k: v}` or `{k: [v1, v2]}`, and `null`.
fn pairs<'de, D: Deserializer<'de>>(d: D) -> Result<Pairs, D::Error> {
    use serde::de::Error;
    let value = serde_json::Value::deserialize(d)?;
    let text = |v: &serde_json::Value| -> Result<String, D::Error> {
        match v {
            serde_json::Value::String(s) => Ok(s.clone()),
            serde_json::Value::Number(n) => Ok(n.to_string()),
            serde_json::Value::Bool(b) => Ok(b.to_string()),
            serde_json::Value::Null => Ok(String::new()),
            other => Err(D::Error::custom(format!(
                "expected a string in a [name, value] pair, found {other}"
            ))),
        }
    };
    let mut out = Vec::new();
    match value {
        serde_json::Value::Null => {}
        serde_json::Value::Array(items) => {
            for item in items {
                match item {
                    serde_json::Value::Array(kv) if kv.len() == 2 => {
                        out.push((text(&kv[0])?, text(&kv[1])?));
                    }
                    other => {
                        return Err(D::Error::custom(format!(
                            "expected a [name, value] pair, found {other}"
                        )));
                    }
                }
            }
        }
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                match v {
                    serde_json::Value::Array(vs) => {
                        for v in vs {
                            out.push((k.clone(), text(&v)?));
                        }
                    }
                    v => out.push((k, text(&v)?)),
                }
            }
        }
        other => {
            return Err(D::Error::custom(format!(
                "expected a list of [name, value] pairs, found {other}"
            )));
        }
    }
    Ok(out)
}

/// Accepts an object whose values are strings (or scalars, kept as their text).
fn string_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let value = Option::<BTreeMap<String, serde_json::Value>>::deserialize(d)?;
    Ok(value
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| {
            let s = match v {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            (k, s)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_request() {
        let json = r#"{"method":"POST","rest_path":"/mltk/start_container","path_info":"start_container",
            "output_mode":"json","output_mode_explicit":true,
            "query":[["a","1"],["a","2"]],"form":[["api_token","S3CRET-form"]],
            "headers":[["Authorization","Splunk S3CRET-header"]],
            "cookies":[["splunkd_8089","S3CRET-cookie"]],"payload":"{\"x\":\"S3CRET-body\"}","ns":{"app":"dsdl"},"session":{"user":"admin","authtoken":"S3CRET-user"},
            "server":{"rest_uri":"https://127.0.0.1:8089","guid":"G"},
            "restmap":{"name":"script:x","conf":{"match":"/mltk","passPayload":"true","n":3}},
            "system_authtoken":"S3CRET-system","connection":{"src_ip":"127.0.0.1","ssl":true,"listening_port":8089},
            "unknown_future_key":{"x":1}}"#;
        let r = Request::parse(json.as_bytes()).unwrap();
        assert_eq!(r.method, "POST");
        assert_eq!(
            r.query,
            vec![("a".into(), "1".into()), ("a".into(), "2".into())]
        );
        assert_eq!(r.query_arg("a"), Some("1"));
        assert_eq!(r.header("authorization"), Some("Splunk S3CRET-header"));
        assert_eq!(r.body().unwrap(), br#"{"x":"S3CRET-body"}"#);
        assert_eq!(r.ns.as_ref().unwrap().app.as_deref(), Some("dsdl"));
        assert!(r.ns.as_ref().unwrap().user.is_none());
        assert_eq!(r.user(), Some("admin"));
        assert_eq!(r.restmap.as_ref().unwrap().conf["n"], "3");
        assert!(r.wants_json());
        let debug = format!("{r:?}");
        assert!(!debug.contains("S3CRET"), "{debug}");
        assert!(debug.contains("api_token") && debug.contains("Authorization"));
    }

    #[test]
    fn payload_base64_is_decoded() {
        let r = Request::parse(br#"{"method":"POST","payload_base64":"aGk="}"#).unwrap();
        assert_eq!(r.body().unwrap(), b"hi");
        let bad = Request::parse(br#"{"method":"POST","payload_base64":"!!"}"#).unwrap();
        assert!(bad.body().is_err());
    }

    #[test]
    fn malformed_requests_are_rejected_with_a_message() {
        for bad in [
            &b"not json"[..],
            br#"{"method":5}"#,
            br#"{"method":"GET","query":"a=b"}"#,
            br#"{"method":"GET","query":[["a"]]}"#,
            br#"{"method":"GET","ns":5}"#,
            br#"{"method":"GET","session":{"authtoken":7}}"#,
            br#"{}"#,
            br#"[]"#,
        ] {
            assert!(
                Request::parse(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn path_falls_back_to_match_and_path_info() {
        let r = Request::parse(
            br#"{"method":"GET","path_info":"docker/x","restmap":{"conf":{"match":"/mltk/container_connection"}}}"#,
        )
        .unwrap();
        assert_eq!(r.mltk_path(), "/mltk/container_connection/docker/x");
        let r = Request::parse(br#"{"method":"GET"}"#).unwrap();
        assert_eq!(r.mltk_path(), "/mltk");
        assert!(!r.wants_json());
    }
}
