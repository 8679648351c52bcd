//! The reply JSON the driver writes for each request: `{status, headers, payload}`.
//!
//! splunkd sends an object or array payload as JSON with its own Content-Type, a string payload
//! verbatim (so it needs a Content-Type header), and a `null` payload as an empty body.

use crate::error::ApiError;
use crate::render::{self, Feed, XML_CONTENT_TYPE};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};
use std::sync::Arc;

/// The body of a reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// A collection as Splunk's JSON envelope, serialised straight from the feed.
    Envelope(Feed),
    /// An object or array: splunkd serialises it as `application/json`.
    Json(Value),
    /// Text sent verbatim; its Content-Type is among the reply's headers.
    Text(String),
    /// No body.
    Empty,
    /// JSON rendered earlier (a cached envelope), written as it is.
    Rendered(Arc<str>),
}

/// One reply to splunkd.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Extra response headers, repeats kept.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub payload: Payload,
}

/// What an endpoint produced, before it is rendered for the caller's output mode.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// A JSON object reply (the AI Toolkit action replies), the same in every output mode.
    Object {
        /// HTTP status (200, 201, ...).
        status: u16,
        /// The object.
        body: Value,
    },
    /// A collection, rendered as Splunk's JSON envelope or Atom feed.
    Feed(Feed),
    /// A collection already rendered as Splunk's JSON envelope (a cached one), for a caller
    /// that asked for JSON.
    Rendered(Arc<str>),
}

impl Outcome {
    /// A 200 reply with this object.
    pub fn ok(body: Value) -> Self {
        Outcome::Object { status: 200, body }
    }
}

/// A Splunk `messages` entry of type INFO.
pub fn info(text: &str) -> Value {
    serde_json::json!({"type": "INFO", "text": text})
}

/// A Splunk `messages` entry of type WARN.
pub fn warn(text: &str) -> Value {
    serde_json::json!({"type": "WARN", "text": text})
}

impl Reply {
    /// Renders an endpoint's result: JSON when the caller asked for it, otherwise Atom/XML for
    /// feeds and errors (object replies stay JSON, as the AI Toolkit's clients expect).
    pub fn render(result: Result<Outcome, ApiError>, json: bool) -> Reply {
        match result {
            Ok(Outcome::Object { status, body }) => Reply {
                status,
                headers: Vec::new(),
                payload: Payload::Json(body),
            },
            Ok(Outcome::Feed(feed)) if json => Reply {
                status: 200,
                headers: Vec::new(),
                payload: Payload::Envelope(feed),
            },
            Ok(Outcome::Feed(feed)) => Reply::text(200, XML_CONTENT_TYPE, feed.to_atom()),
            Ok(Outcome::Rendered(json)) => Reply {
                status: 200,
                headers: Vec::new(),
                payload: Payload::Rendered(json),
            },
            Err(e) => Reply::error(&e, json),
        }
    }

    /// An error in Splunk's shape, with the legacy keys beside `messages` in JSON mode.
    pub fn error(e: &ApiError, json: bool) -> Reply {
        let mut reply = if json {
            let mut body = Map::new();
            body.insert(
                "messages".into(),
                render::error_json(&e.message)["messages"].clone(),
            );
            for (k, v) in e.legacy.iter().flat_map(|m| m.iter()) {
                body.insert(k.clone(), v.clone());
            }
            Reply {
                status: e.status(),
                headers: Vec::new(),
                payload: Payload::Json(Value::Object(body)),
            }
        } else {
            Reply::text(e.status(), XML_CONTENT_TYPE, render::error_xml(&e.message))
        };
        reply.headers.extend(e.headers.iter().cloned());
        reply
    }

    /// A text reply with its Content-Type.
    pub fn text(status: u16, content_type: &str, body: String) -> Reply {
        Reply {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            payload: Payload::Text(body),
        }
    }

    /// The reply JSON bytes written to splunkd. Headers become an object of arrays so repeats
    /// survive. The payload is serialised in place, not copied.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut headers: Map<String, Value> = Map::new();
        for (k, v) in &self.headers {
            match headers
                .entry(k.clone())
                .or_insert_with(|| Value::Array(Vec::new()))
            {
                Value::Array(list) => list.push(Value::String(v.clone())),
                other => *other = Value::Array(vec![Value::String(v.clone())]),
            }
        }
        // Serialising strings, maps and Values cannot fail.
        match &self.payload {
            Payload::Rendered(json) => {
                let head = Head {
                    status: self.status,
                    headers: &headers,
                };
                let mut out = serde_json::to_vec(&head).unwrap_or_default();
                out.pop(); // the head's closing brace
                out.extend_from_slice(b",\"payload\":");
                out.extend_from_slice(json.as_bytes());
                out.push(b'}');
                out
            }
            payload => serde_json::to_vec(&Wire {
                status: self.status,
                headers: &headers,
                payload,
            })
            .unwrap_or_default(),
        }
    }
}

/// The reply JSON without its payload (written after it, for a rendered payload).
#[derive(Serialize)]
struct Head<'a> {
    status: u16,
    headers: &'a Map<String, Value>,
}

/// The reply JSON as splunkd reads it, borrowing the reply's parts.
#[derive(Serialize)]
struct Wire<'a> {
    status: u16,
    headers: &'a Map<String, Value>,
    payload: &'a Payload,
}

impl Serialize for Payload {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Payload::Json(v) => v.serialize(s),
            Payload::Envelope(feed) => feed.serialize(s),
            Payload::Text(text) => s.serialize_str(text),
            Payload::Empty => s.serialize_none(),
            // Not on the reply path ([`Reply::to_bytes`] writes it as it is).
            Payload::Rendered(json) => serde_json::from_str::<Value>(json)
                .map_err(serde::ser::Error::custom)?
                .serialize(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn object_reply_serialises_compactly() {
        let r = Reply::render(Ok(Outcome::ok(json!({"hello": "world"}))), true);
        assert_eq!(
            String::from_utf8(r.to_bytes()).unwrap(),
            r#"{"status":200,"headers":{},"payload":{"hello":"world"}}"#
        );
    }

    #[test]
    fn errors_follow_the_output_mode() {
        let e = ApiError::method_not_allowed("PUT", "/mltk/container_data", &["GET"])
            .with_legacy("status", "fail");
        let j: Value = serde_json::from_slice(&Reply::error(&e, true).to_bytes()).unwrap();
        assert_eq!(j["status"], 405);
        assert_eq!(j["headers"]["Allow"], json!(["GET"]));
        assert_eq!(j["payload"]["messages"][0]["type"], "ERROR");
        assert_eq!(j["payload"]["status"], "fail");

        let x: Value = serde_json::from_slice(&Reply::error(&e, false).to_bytes()).unwrap();
        assert_eq!(x["headers"]["Content-Type"], json!([XML_CONTENT_TYPE]));
        let body = x["payload"].as_str().unwrap();
        assert!(body.contains("<msg type=\"ERROR\">Method PUT"), "{body}");
    }

    #[test]
    fn a_rendered_envelope_is_written_as_it_is() {
        let feed = Feed::new("mltk", "https://h/services/mltk", vec![]);
        let rendered: Arc<str> = serde_json::to_string(&feed).unwrap().into();
        let fresh = Reply::render(Ok(Outcome::Feed(feed)), true).to_bytes();
        let cached = Reply::render(Ok(Outcome::Rendered(rendered)), true);
        let a: Value = serde_json::from_slice(&fresh).unwrap();
        let b: Value = serde_json::from_slice(&cached.to_bytes()).unwrap();
        assert_eq!(a, b);
        assert_eq!(
            serde_json::to_value(&cached.payload).unwrap(),
            a["payload"],
            "the generic serialisation agrees"
        );
    }

    #[test]
    fn feeds_render_as_atom_or_envelope() {
        let feed = Feed::new("mltk", "https://h/services/mltk", vec![]);
        let atom = Reply::render(Ok(Outcome::Feed(feed.clone())), false);
        assert!(matches!(atom.payload, Payload::Text(_)));
        let json = Reply::render(Ok(Outcome::Feed(feed)), true);
        let bytes = json.to_bytes();
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["payload"]["paging"]["total"], 0);
        assert_eq!(v["payload"]["paging"]["perPage"], 30);
    }
}
