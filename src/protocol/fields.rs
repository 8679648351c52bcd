//! The fields of a request body, whatever its encoding: a flat JSON object, the AI Toolkit's
//! `{"payload": {...}}` wrapper, or urlencoded pairs (splunkd's `form`, or a raw urlencoded
//! `payload`). Clients label bodies inconsistently (splunklib calls every body form-encoded),
//! so the bytes decide, not the Content-Type.

//!
//! Below the endpoints, the runtimes and the connection checks, which all read bodies.

use crate::conffile::parse_bool;
use crate::error::ApiError;
use crate::protocol::request::Request;
use serde_json::{Map, Value};

/// Body fields in the order the client sent them; scalar values keep their JSON type.
/// `Debug` shows the field names only: values may be secrets being saved.
#[derive(Clone, Default, PartialEq)]
pub struct Fields(pub Map<String, Value>);

impl std::fmt::Debug for Fields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Fields")
            .field(&self.0.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Fields {
    /// Reads the body of `req`. An empty body is no fields; a body that is neither a JSON
    /// object nor urlencoded pairs is a 400.
    pub fn from_request(req: &Request) -> Result<Fields, ApiError> {
        let body = req.body().map_err(|e| ApiError::bad_request(e.0))?;
        let text = std::str::from_utf8(&body)
            .map_err(|_| ApiError::bad_request("The request body is not UTF-8 text."))?
            .trim();
        if text.is_empty() {
            return Ok(Fields::from_pairs(&req.form));
        }
        if text.starts_with('{') || text.starts_with('[') {
            return match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(mut obj)) => match obj.remove("payload") {
                    Some(Value::Object(inner)) => Ok(Fields(inner)),
                    Some(other) => {
                        obj.insert("payload".into(), other);
                        Ok(Fields(obj))
                    }
                    None => Ok(Fields(obj)),
                },
                Ok(_) => Err(ApiError::bad_request(
                    "The request body must be a JSON object (or {\"payload\": {...}}), not a list or a value.",
                )),
                Err(e) => Err(ApiError::bad_request(format!(
                    "The request body is not valid JSON: {e}."
                ))),
            };
        }
        if !req.form.is_empty() {
            return Ok(Fields::from_pairs(&req.form));
        }
        if text.contains('=') {
            let pairs: Vec<(String, String)> = form_urlencoded::parse(text.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            return Ok(Fields::from_pairs(&pairs));
        }
        Err(ApiError::bad_request(
            "The request body is neither a JSON object nor form fields (key=value&...).",
        ))
    }

    /// Fields from urlencoded pairs; a repeated key keeps its last value.
    pub fn from_pairs(pairs: &[(String, String)]) -> Fields {
        let mut map = Map::new();
        for (k, v) in pairs {
            map.insert(k.clone(), Value::String(v.clone()));
        }
        Fields(map)
    }

    /// The field as text: strings as they are, numbers and booleans as their JSON text,
    /// null as absent. Lists and objects are not text and give `None`.
    pub fn text(&self, key: &str) -> Option<String> {
        match self.0.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// The field as text like [`Fields::text`], but a list or an object is a 400 naming the
    /// field instead of being taken for absent.
    pub fn scalar(&self, key: &str) -> Result<Option<String>, ApiError> {
        match self.0.get(key) {
            Some(v @ (Value::Array(_) | Value::Object(_))) => {
                let kind = if v.is_array() { "a list" } else { "an object" };
                Err(ApiError::bad_request(format!(
                    "{key} must be a single value (a string), not {kind}."
                )))
            }
            _ => Ok(self.text(key)),
        }
    }

    /// The keys not in `known` nor among those splunkd and its clients add to any request
    /// ([`SPLUNKD_KEYS`]), in the order sent.
    pub fn unknown_keys(&self, known: &[&str]) -> Vec<&str> {
        self.0
            .keys()
            .map(String::as_str)
            .filter(|k| !known.contains(k) && !SPLUNKD_KEYS.contains(k))
            .collect()
    }

    /// Whether the field is present (even if empty).
    pub fn has(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// The field as a boolean in any of the spellings clients use (`true/false`, `1/0`,
    /// `yes/no`, `on/off`, JSON booleans); absent or empty is `None`, anything else a 400.
    pub fn flag(&self, key: &str) -> Result<Option<bool>, ApiError> {
        match self.text(key).as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(v) => parse_bool(v).map(Some).ok_or_else(|| not_a_flag(key, v)),
        }
    }
}

/// Keys splunkd or its clients may add to any request (splunklib sends `output_mode` in the
/// body of a POST); never reported as unknown.
pub const SPLUNKD_KEYS: &[&str] = &[
    "output_mode",
    "count",
    "offset",
    "search",
    "sort_key",
    "sort_dir",
    "sort_mode",
    "f",
    "summarize",
];

/// The message of a 400 for a flag that is not a boolean; `value` is cut short.
pub fn not_a_flag(key: &str, value: &str) -> ApiError {
    ApiError::bad_request(format!(
        "{key} must be true or false (also accepted: 1/0, yes/no, on/off), not {:?}.",
        crate::names::excerpt(value, 40)
    ))
}

/// `force` of a DELETE, from the query or the body in any boolean spelling: either one saying
/// true forces. A value that is not a boolean, or a body that cannot be read, is a 400.
pub fn force_flag(req: &Request) -> Result<bool, ApiError> {
    let query = match req.query_arg("force").map(str::trim) {
        None | Some("") => None,
        Some(v) => Some(parse_bool(v).ok_or_else(|| not_a_flag("force", v))?),
    };
    let body = Fields::from_request(req)?.flag("force")?;
    Ok(query.unwrap_or(false) || body.unwrap_or(false))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(payload: Option<&str>, form: &[(&str, &str)]) -> Request {
        Request::test_post(payload, form)
    }

    #[test]
    fn flat_wrapped_and_form_bodies_agree() {
        let flat = Fields::from_request(&req(Some(r#"{"model":"m","n":3}"#), &[])).unwrap();
        let wrapped =
            Fields::from_request(&req(Some(r#"{"payload":{"model":"m","n":3}}"#), &[])).unwrap();
        assert_eq!(flat, wrapped);
        assert_eq!(flat.text("n").as_deref(), Some("3"));
        let form =
            Fields::from_request(&req(Some("model=m&n=3"), &[("model", "m"), ("n", "3")])).unwrap();
        assert_eq!(form.text("model").as_deref(), Some("m"));
        let raw_form = Fields::from_request(&req(Some("model=m%20x&n=3"), &[])).unwrap();
        assert_eq!(raw_form.text("model").as_deref(), Some("m x"));
        let only_form = Fields::from_request(&req(None, &[("model", "m")])).unwrap();
        assert_eq!(only_form.text("model").as_deref(), Some("m"));
    }

    #[test]
    fn a_json_body_labelled_as_form_is_still_json() {
        // splunklib sends a JSON string with a form Content-Type; splunkd then also fills
        // `form` with a garbage pair. The JSON wins.
        let f = Fields::from_request(&req(Some(r#"{"model":"m"}"#), &[(r#"{"model":"m"}"#, "")]))
            .unwrap();
        assert_eq!(f.text("model").as_deref(), Some("m"));
    }

    #[test]
    fn bad_bodies_are_400() {
        for bad in ["[1,2]", "{not json", "just words", "\"str\""] {
            let e = Fields::from_request(&req(Some(bad), &[])).unwrap_err();
            assert_eq!(e.status(), 400, "{bad}");
        }
    }

    #[test]
    fn flags() {
        let f = Fields::from_request(&req(
            Some(r#"{"a":true,"b":"0","c":"Yes","d":"","e":"maybe"}"#),
            &[],
        ))
        .unwrap();
        assert_eq!(f.flag("a").unwrap(), Some(true));
        assert_eq!(f.flag("b").unwrap(), Some(false));
        assert_eq!(f.flag("c").unwrap(), Some(true));
        assert_eq!(f.flag("d").unwrap(), None);
        assert_eq!(f.flag("zz").unwrap(), None);
        assert_eq!(f.flag("e").unwrap_err().status(), 400);
    }

    #[test]
    fn scalar_refuses_lists_and_objects_by_name() {
        let f = Fields::from_request(&req(
            Some(r#"{"a":"x","n":3,"l":["docker"],"o":{"k":"docker"},"z":null}"#),
            &[],
        ))
        .unwrap();
        assert_eq!(f.scalar("a").unwrap().as_deref(), Some("x"));
        assert_eq!(f.scalar("n").unwrap().as_deref(), Some("3"));
        assert_eq!(f.scalar("z").unwrap(), None);
        assert_eq!(f.scalar("missing").unwrap(), None);
        for (key, kind) in [("l", "a list"), ("o", "an object")] {
            let e = f.scalar(key).unwrap_err();
            assert_eq!(e.status(), 400);
            assert!(
                e.message.starts_with(&format!("{key} must be")) && e.message.contains(kind),
                "{}",
                e.message
            );
        }
    }

    fn delete_req(query: &[(&str, &str)], payload: Option<&str>) -> Request {
        Request {
            method: "DELETE".into(),
            query: query
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            payload: payload.map(str::to_string),
            ..Request::default()
        }
    }

    #[test]
    fn force_comes_from_the_query_or_the_body() {
        assert!(!force_flag(&delete_req(&[], None)).unwrap());
        assert!(force_flag(&delete_req(&[("force", "true")], None)).unwrap());
        assert!(force_flag(&delete_req(&[("force", " Yes ")], None)).unwrap());
        assert!(!force_flag(&delete_req(&[("force", "0")], None)).unwrap());
        assert!(!force_flag(&delete_req(&[("force", "")], None)).unwrap());
        assert!(force_flag(&delete_req(&[], Some(r#"{"force": true}"#))).unwrap());
        assert!(force_flag(&delete_req(&[], Some(r#"{"payload": {"force": "1"}}"#))).unwrap());
        assert!(force_flag(&delete_req(&[], Some("force=on"))).unwrap());
        assert!(
            force_flag(&delete_req(
                &[("force", "false")],
                Some(r#"{"force": true}"#)
            ))
            .unwrap()
        );
    }

    #[test]
    fn a_bad_force_value_is_a_400_naming_it() {
        let e = force_flag(&delete_req(&[("force", "maybe")], None)).unwrap_err();
        assert_eq!(e.status(), 400);
        assert!(e.message.contains("force") && e.message.contains("maybe"));
        let e = force_flag(&delete_req(&[], Some(r#"{"force": "sometimes"}"#))).unwrap_err();
        assert_eq!(e.status(), 400);
        assert_eq!(
            force_flag(&delete_req(&[], Some("{oops")))
                .unwrap_err()
                .status(),
            400
        );
    }
}
