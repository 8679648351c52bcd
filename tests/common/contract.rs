//! Every `/mltk` reply the end-to-end suites get through [`super::devserver::curl`] is checked
//! against the OpenAPI document (`appserver/static/openapi.json`): the status is one the
//! operation documents, the Content-Type one of that status's media types, and a JSON body
//! valid against its schema (JSON Schema 2020-12). Replies to paths or methods the document
//! lacks (404, 405, refused paths) must still be Splunk's error shape.

use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::OnceLock;

/// The document as shipped in the app.
const DOCUMENT: &str = include_str!("../../appserver/static/openapi.json");

/// One documented response: its media types, and a validator for the JSON one.
struct Documented {
    media: Vec<String>,
    json: Option<jsonschema::Validator>,
}

/// The document, compiled once per test process.
struct Contract {
    /// (path template, method) to status to response.
    ops: HashMap<(String, String), HashMap<String, Documented>>,
    /// Templates split into segments, for matching.
    templates: Vec<(String, Vec<String>)>,
    /// Splunk's error shape, for replies no operation documents.
    error: jsonschema::Validator,
}

fn contract() -> &'static Contract {
    static CONTRACT: OnceLock<Contract> = OnceLock::new();
    CONTRACT.get_or_init(|| {
        let doc: Value = serde_json::from_str(DOCUMENT).expect("openapi.json is JSON");
        let compile = |schema: &Value| {
            // The schema sits in a root holding the components, so `#/components/...`
            // references resolve as they do in the document.
            let root = json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "components": doc["components"],
                "allOf": [schema],
            });
            jsonschema::draft202012::new(&root)
                .unwrap_or_else(|e| panic!("openapi.json: a schema does not compile: {e}"))
        };
        let deref = |v: &Value| -> Value {
            match v.get("$ref").and_then(Value::as_str) {
                Some(r) => {
                    let pointer = r.strip_prefix('#').expect("local reference");
                    doc.pointer(pointer)
                        .unwrap_or_else(|| panic!("openapi.json: dangling {r}"))
                        .clone()
                }
                None => v.clone(),
            }
        };
        let mut ops = HashMap::new();
        let mut templates = Vec::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            templates.push((
                path.clone(),
                path.split('/')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect(),
            ));
            for (method, op) in item.as_object().expect("path item") {
                let Some(responses) = op.get("responses").and_then(Value::as_object) else {
                    continue;
                };
                let mut by_status = HashMap::new();
                for (status, resp) in responses {
                    let resp = deref(resp);
                    let content = resp["content"].as_object().cloned().unwrap_or_default();
                    let json = content
                        .get("application/json")
                        .map(|c| compile(&c["schema"]));
                    by_status.insert(
                        status.clone(),
                        Documented {
                            media: content.keys().cloned().collect(),
                            json,
                        },
                    );
                }
                ops.insert((path.clone(), method.to_uppercase()), by_status);
            }
        }
        let error = compile(&json!({"$ref": "#/components/schemas/Error"}));
        Contract {
            ops,
            templates,
            error,
        }
    })
}

/// The `/mltk...` part of `url`'s path (below `/services` or `/servicesNS/<owner>/<app>`),
/// or `None` for any other endpoint.
pub fn mltk_path(url: &str) -> Option<String> {
    let after_scheme = url.split_once("://").map_or(url, |(_, r)| r);
    let path = after_scheme
        .find('/')
        .map_or("", |i| &after_scheme[i..])
        .split(['?', '#'])
        .next()
        .unwrap_or("");
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let rest = match segs.as_slice() {
        ["services", rest @ ..] => rest,
        ["servicesNS", _, _, rest @ ..] => rest,
        _ => return None,
    };
    (rest.first() == Some(&"mltk")).then(|| format!("/{}", rest.join("/")))
}

/// The document's template matching `path` (segments compared literally, `{x}` matching any).
fn template_of(c: &Contract, path: &str) -> Option<String> {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    c.templates
        .iter()
        .find(|(_, t)| {
            t.len() == segs.len()
                && t.iter()
                    .zip(&segs)
                    .all(|(t, s)| (t.starts_with('{') && t.ends_with('}')) || t == s)
        })
        .map(|(p, _)| p.clone())
}

/// Why the reply breaks the contract, or `None` when it keeps it. `content_type` is the
/// reply's header (parameters allowed), `body` its text.
pub fn violation(
    method: &str,
    url: &str,
    status: u16,
    content_type: Option<&str>,
    body: &str,
) -> Option<String> {
    let path = mltk_path(url)?;
    let c = contract();
    let media = content_type
        .map(|t| {
            t.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .filter(|t| !t.is_empty());
    let op = template_of(c, &path).and_then(|t| c.ops.get(&(t, method.to_string())));
    let Some(op) = op else {
        // Not an operation of the document: only an error in Splunk's shape is acceptable.
        if status < 400 {
            return Some(format!(
                "{status} for {method} {path}, which the document does not have"
            ));
        }
        return match media.as_deref() {
            Some("application/json") => check(&c.error, body),
            _ => None,
        };
    };
    let Some(doc) = op.get(&status.to_string()) else {
        let mut known: Vec<&String> = op.keys().collect();
        known.sort();
        return Some(format!(
            "status {status} is not documented for {method} {path} (documented: {known:?})"
        ));
    };
    if doc.media.is_empty() {
        return None;
    }
    let Some(media) = media else {
        return Some(format!(
            "no Content-Type on {status} for {method} {path}; documented: {:?}",
            doc.media
        ));
    };
    if !doc.media.contains(&media) {
        return Some(format!(
            "Content-Type {media} of {status} for {method} {path} is not among {:?}",
            doc.media
        ));
    }
    match (&doc.json, media.as_str()) {
        (Some(validator), "application/json") => check(validator, body)
            .map(|why| format!("{status} for {method} {path} does not fit its schema: {why}")),
        _ => None,
    }
}

/// The schema errors of `body` (as JSON) against `validator`, or `None`.
fn check(validator: &jsonschema::Validator, body: &str) -> Option<String> {
    let value: Value = match serde_json::from_str(body) {
        Ok(v) => v,
        Err(e) => return Some(format!("the body is not JSON ({e})")),
    };
    let errors: Vec<String> = validator
        .iter_errors(&value)
        .take(5)
        .map(|e| format!("at {:?}: {e}", e.instance_path().to_string()))
        .collect();
    (!errors.is_empty()).then(|| errors.join("; "))
}

/// Panics with a clear message when the reply breaks the contract.
pub fn assert_conforms(
    method: &str,
    url: &str,
    status: u16,
    content_type: Option<&str>,
    body: &str,
) {
    if let Some(why) = violation(method, url, status, content_type, body) {
        let excerpt: String = body.chars().take(600).collect();
        panic!("reply outside appserver/static/openapi.json: {why}\nbody: {excerpt}");
    }
}

/// The method and URL of a curl command line: `-X`/`--request` wins, a data argument makes a
/// POST, `-I`/`--head` a HEAD (not checked), else GET; the URL is the first `http(s)://` word.
pub fn method_and_url(args: &[&str]) -> Option<(String, String)> {
    let url = args
        .iter()
        .find(|a| a.starts_with("http://") || a.starts_with("https://"))?;
    let mut method = None;
    let mut data = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match *a {
            "-X" | "--request" => method = it.next().map(|m| m.to_string()),
            "-I" | "--head" => return None,
            "-d" | "--data" | "--data-binary" | "--data-urlencode" | "--data-raw" | "-F"
            | "--form" => data = true,
            _ => {}
        }
    }
    let method = method.unwrap_or_else(|| if data { "POST" } else { "GET" }.to_string());
    Some((method.to_uppercase(), url.to_string()))
}
