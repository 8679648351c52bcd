//! A driver's reply JSON turned into the HTTP response, as splunkd does it (protocol notes
//! §5): `status` (int or `[code, reason]`), `headers` (pairs, object, or object of arrays),
//! `cookies`, `filename`, and `payload` (object/array → JSON, string → verbatim, null → 204)
//! or `payload_base64`.

use crate::render;
use base64::Engine;
use hyper::header::{HeaderName, HeaderValue};
use serde_json::Value;

/// An HTTP response before it is handed to hyper.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpReply {
    /// Status code.
    pub status: u16,
    /// Reason phrase, when the handler gave one.
    pub reason: Option<String>,
    /// Headers in order, repeats kept.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl HttpReply {
    /// Splunk's error shape (XML unless `json`).
    pub fn error(status: u16, message: &str, json: bool) -> HttpReply {
        let (ct, body) = if json {
            (
                render::JSON_CONTENT_TYPE,
                serde_json::to_vec(&render::error_json(message)).unwrap_or_default(),
            )
        } else {
            (
                render::XML_CONTENT_TYPE,
                render::error_xml(message).into_bytes(),
            )
        };
        HttpReply {
            status,
            reason: None,
            headers: vec![("Content-Type".into(), ct.into())],
            body,
        }
    }

    /// The first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Headers a handler may not set: the server computes them.
const RESERVED: &[&str] = &["content-length", "transfer-encoding", "connection"];

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `headers` in any of its three accepted forms, as pairs.
fn header_pairs(v: &Value) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    match v {
        Value::Null => {}
        Value::Array(items) => {
            for item in items {
                match item.as_array().map(Vec::as_slice) {
                    Some([k, val]) => match (k.as_str(), scalar(val)) {
                        (Some(k), Some(val)) => out.push((k.to_string(), val)),
                        _ => return Err(format!("bad header pair {item}")),
                    },
                    _ => return Err(format!("bad header pair {item}")),
                }
            }
        }
        Value::Object(map) => {
            for (k, val) in map {
                match val {
                    Value::Array(vals) => {
                        for one in vals {
                            out.push((
                                k.clone(),
                                scalar(one).ok_or_else(|| format!("bad value of header {k}"))?,
                            ));
                        }
                    }
                    one => out.push((
                        k.clone(),
                        scalar(one).ok_or_else(|| format!("bad value of header {k}"))?,
                    )),
                }
            }
        }
        other => return Err(format!("headers must be a list or an object, not {other}")),
    }
    Ok(out)
}

/// `Set-Cookie` values from `cookies`.
fn cookie_headers(v: &Value, https: bool) -> Result<Vec<String>, String> {
    let mut specs: Vec<(String, Value)> = Vec::new();
    match v {
        Value::Null => {}
        Value::Array(items) => {
            for item in items {
                let name = item
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or("a cookie has no name")?;
                specs.push((name.to_string(), item.clone()));
            }
        }
        Value::Object(map) => {
            for (name, spec) in map {
                let spec = match spec {
                    Value::Object(_) => spec.clone(),
                    other => serde_json::json!({ "value": scalar(other).unwrap_or_default() }),
                };
                specs.push((name.clone(), spec));
            }
        }
        other => return Err(format!("cookies must be a list or an object, not {other}")),
    }
    Ok(specs
        .into_iter()
        .map(|(name, spec)| {
            let get = |k: &str| spec.get(k).and_then(scalar);
            let mut c = format!("{name}={}", get("value").unwrap_or_default());
            for (key, attr) in [
                ("path", "Path"),
                ("domain", "Domain"),
                ("maxage", "Max-Age"),
            ] {
                if let Some(v) = get(key) {
                    c.push_str(&format!("; {attr}={v}"));
                }
            }
            let flag =
                |k: &str, default: bool| spec.get(k).and_then(Value::as_bool).unwrap_or(default);
            if flag("httponly", true) {
                c.push_str("; HttpOnly");
            }
            if flag("secure", https) {
                c.push_str("; Secure");
            }
            c
        })
        .collect())
}

fn internal(message: &str) -> HttpReply {
    HttpReply::error(500, message, false)
}

/// Translates reply bytes from a driver. Any reply splunkd could not use becomes a 500 in
/// Splunk's XML error shape.
pub fn translate(reply: &[u8], https: bool) -> HttpReply {
    let value: Value = match serde_json::from_slice(reply) {
        Ok(v) => v,
        Err(_) if reply.is_empty() => {
            return internal("JSON reply had no \"payload\" value");
        }
        Err(e) => return internal(&format!("Persistent script reply is not valid JSON: {e}")),
    };
    let Some(obj) = value.as_object() else {
        return internal("Persistent script reply is not a JSON object");
    };
    let (mut status, reason) = match obj.get("status") {
        None | Some(Value::Null) => (200, None),
        Some(Value::Number(n)) => (n.as_u64().unwrap_or(0), None),
        Some(Value::Array(a)) => match a.as_slice() {
            [Value::Number(n), Value::String(r)] => (n.as_u64().unwrap_or(0), Some(r.clone())),
            [Value::Number(n)] => (n.as_u64().unwrap_or(0), None),
            _ => (0, None),
        },
        Some(_) => (0, None),
    };
    if !(100..=999).contains(&status) {
        return internal("Persistent script reply has an invalid \"status\"");
    }
    let mut headers = match obj.get("headers").map(header_pairs).transpose() {
        Ok(h) => h.unwrap_or_default(),
        Err(e) => return internal(&format!("Persistent script reply has invalid headers: {e}")),
    };
    headers.retain(|(k, v)| {
        !RESERVED.contains(&k.to_ascii_lowercase().as_str())
            && HeaderName::from_bytes(k.as_bytes()).is_ok()
            && HeaderValue::from_str(v).is_ok()
    });
    match obj
        .get("cookies")
        .map(|c| cookie_headers(c, https))
        .transpose()
    {
        Ok(cookies) => headers.extend(
            cookies
                .unwrap_or_default()
                .into_iter()
                .filter(|c| HeaderValue::from_str(c).is_ok())
                .map(|c| ("Set-Cookie".to_string(), c)),
        ),
        Err(e) => return internal(&format!("Persistent script reply has invalid cookies: {e}")),
    }
    if let Some(name) = obj.get("filename").and_then(Value::as_str) {
        let safe: String = name
            .chars()
            .filter(|c| !c.is_control() && *c != '"' && *c != '\\')
            .collect();
        headers.push((
            "Content-Disposition".into(),
            format!("attachment; filename=\"{safe}\""),
        ));
    }
    let has_ct = headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
    let body = match (obj.get("payload"), obj.get("payload_base64")) {
        (Some(Value::Null), _) | (None, Some(Value::Null)) => {
            if status == 200 {
                status = 204;
            }
            Vec::new()
        }
        (Some(Value::String(s)), _) => s.clone().into_bytes(),
        (Some(v), _) => {
            if !has_ct {
                headers.insert(0, ("Content-Type".into(), render::JSON_CONTENT_TYPE.into()));
            }
            if !headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("x-content-type-options"))
            {
                headers.push(("X-Content-Type-Options".into(), "nosniff".into()));
            }
            serde_json::to_vec(v).unwrap_or_default()
        }
        (None, Some(Value::String(b64))) => {
            let cleaned: String = b64.chars().filter(|c| !c.is_ascii_whitespace()).collect();
            match base64::engine::general_purpose::STANDARD.decode(cleaned) {
                Ok(b) => b,
                Err(e) => {
                    return internal(&format!(
                        "Persistent script reply has invalid payload_base64: {e}"
                    ));
                }
            }
        }
        (None, Some(_)) => {
            return internal("Persistent script reply has a payload_base64 that is not a string");
        }
        (None, None) => return internal("JSON reply had no \"payload\" value"),
    };
    HttpReply {
        status: status as u16,
        reason,
        headers,
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(json: &str) -> HttpReply {
        translate(json.as_bytes(), true)
    }

    #[test]
    fn object_payloads_are_json_with_nosniff() {
        let r = t(r#"{"status":201,"payload":{"a":[1,2]}}"#);
        assert_eq!(r.status, 201);
        assert_eq!(r.body, br#"{"a":[1,2]}"#);
        assert_eq!(r.header("content-type"), Some(render::JSON_CONTENT_TYPE));
        assert_eq!(r.header("X-Content-Type-Options"), Some("nosniff"));
        let r = t(r#"{"payload":[1]}"#);
        assert_eq!((r.status, r.body.as_slice()), (200, &b"[1]"[..]));
    }

    #[test]
    fn strings_are_verbatim_and_keep_their_content_type() {
        let r =
            t(r#"{"status":[404,"Nope"],"headers":{"Content-Type":"text/xml"},"payload":"<x/>"}"#);
        assert_eq!(r.status, 404);
        assert_eq!(r.reason.as_deref(), Some("Nope"));
        assert_eq!(r.body, b"<x/>");
        assert_eq!(
            r.headers,
            [("Content-Type".to_string(), "text/xml".to_string())]
        );
    }

    #[test]
    fn header_forms() {
        let pairs = t(r#"{"headers":[["X-A","1"],["X-A","2"]],"payload":""}"#);
        let object = t(r#"{"headers":{"X-A":"1"},"payload":""}"#);
        let arrays = t(
            r#"{"headers":{"X-A":["1","2"],"Allow":"GET","Content-Length":"9","Bad Name":"x"},"payload":""}"#,
        );
        assert_eq!(pairs.headers.len(), 2);
        assert_eq!(object.headers, [("X-A".to_string(), "1".to_string())]);
        assert_eq!(
            arrays.headers,
            [
                ("X-A".to_string(), "1".to_string()),
                ("X-A".into(), "2".into()),
                ("Allow".into(), "GET".into())
            ]
        );
        assert_eq!(t(r#"{"headers":5,"payload":""}"#).status, 500);
    }

    #[test]
    fn null_base64_cookies_and_filename() {
        let r = t(r#"{"payload":null}"#);
        assert_eq!((r.status, r.body.len()), (204, 0));
        assert_eq!(t(r#"{"status":404,"payload":null}"#).status, 404);
        let r = t(r#"{"payload_base64":"aGVs\nbG8=","filename":"a\"b.zip"}"#);
        assert_eq!(r.body, b"hello");
        assert_eq!(
            r.header("Content-Disposition"),
            Some("attachment; filename=\"ab.zip\"")
        );
        let r =
            t(r#"{"cookies":[{"name":"c","value":"v","path":"/","httponly":false}],"payload":""}"#);
        assert_eq!(r.header("Set-Cookie"), Some("c=v; Path=/; Secure"));
        let r = translate(br#"{"cookies":{"c":"v"},"payload":""}"#, false);
        assert_eq!(r.header("Set-Cookie"), Some("c=v; HttpOnly"));
    }

    #[test]
    fn unusable_replies_are_500_xml() {
        for (bad, text) in [
            (
                r#"{"status":200}"#,
                "JSON reply had no &quot;payload&quot; value",
            ),
            ("", "JSON reply had no &quot;payload&quot; value"),
            ("not json", "not valid JSON"),
            ("[1]", "not a JSON object"),
            (
                r#"{"status":"x","payload":""}"#,
                "invalid &quot;status&quot;",
            ),
            (
                r#"{"status":42,"payload":""}"#,
                "invalid &quot;status&quot;",
            ),
            (r#"{"payload_base64":"!!"}"#, "invalid payload_base64"),
        ] {
            let r = t(bad);
            assert_eq!(r.status, 500, "{bad}");
            let body = String::from_utf8(r.body).unwrap();
            assert!(body.contains("<msg type=\"ERROR\">"), "{body}");
            assert!(body.contains(text), "{bad}: {body}");
        }
    }
}
