//! The OpenAPI document (`appserver/static/openapi.json`): in agreement with the router's
//! endpoint table both ways, valid OpenAPI 3.1 (openapi-spec-validator), served at
//! `GET /mltk/openapi.json`, and the contract checker the end-to-end helpers use.

mod common;

use common::contract::{method_and_url, violation};
use common::devserver::*;
use dsdl_handler::router::{ENDPOINTS, path_of};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

fn document() -> Value {
    serde_json::from_str(dsdl_handler::endpoints::openapi::DOCUMENT).expect("openapi.json is JSON")
}

/// (path, METHOD, capability) of every operation the document has.
fn documented(doc: &Value) -> BTreeSet<(String, String, Option<String>)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            if method == "parameters" {
                continue;
            }
            let cap = op.get("x-splunk-capability").and_then(Value::as_str);
            out.insert((path.clone(), method.to_uppercase(), cap.map(str::to_string)));
        }
    }
    out
}

#[test]
fn the_document_and_the_endpoint_table_agree_both_ways() {
    let from_table: BTreeSet<(String, String, Option<String>)> = ENDPOINTS
        .iter()
        .flat_map(|e| {
            e.methods.iter().map(move |m| {
                let cap = e.capabilities.iter().find(|(cm, _)| cm == m);
                (
                    path_of(e.pattern),
                    m.to_string(),
                    cap.map(|(_, c)| c.to_string()),
                )
            })
        })
        .collect();
    let doc = documented(&document());
    let missing: Vec<_> = from_table.difference(&doc).collect();
    let extra: Vec<_> = doc.difference(&from_table).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "(path, method, capability) in the router but not documented: {missing:?}\n\
         documented but not in the router: {extra:?}"
    );
}

#[test]
fn every_operation_documents_its_errors_in_splunks_shape() {
    let doc = document();
    for (path, method, _) in documented(&doc) {
        let op = &doc["paths"][&path][method.to_lowercase()];
        let responses = op["responses"].as_object().expect("responses");
        for must in ["200", "400", "401"] {
            assert!(responses.contains_key(must), "{method} {path} lacks {must}");
        }
        for (status, r) in responses {
            if status.starts_with('4') || status.starts_with('5') {
                assert!(
                    r["$ref"]
                        .as_str()
                        .is_some_and(|r| r.starts_with("#/components/responses/")),
                    "{method} {path} {status} uses the shared error responses"
                );
            }
        }
        assert!(op["summary"].is_string(), "{method} {path} has a summary");
    }
}

#[test]
fn the_document_is_valid_openapi_3_1() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("appserver/static/openapi.json");
    let out = Command::new("python3")
        .args(["-m", "openapi_spec_validator"])
        .arg(&file)
        .output()
        .expect("python3 must be installed");
    assert!(
        out.status.success(),
        "openapi-spec-validator refused the document (scripts/test.sh installs it: \
         pip install openapi-spec-validator):\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_handler_serves_the_shipped_document() {
    let s = DevServer::start("openapi", &[]);
    for path in [
        "/services/mltk/openapi.json",
        "/servicesNS/-/dsdl_handler/mltk/openapi.json",
    ] {
        let r = get_as(&s, &["-u", &s.basic()], path);
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        assert!(
            r.header("Content-Type")
                .is_some_and(|t| t.starts_with("application/json")),
            "{:?}",
            r.header("Content-Type")
        );
        let served: Value = serde_json::from_str(&r.body).expect("JSON");
        assert_eq!(served, document());
    }
    // Any authenticated user may read it: it needs no capability.
    s.add_user("viewer", "viewer-Pw1-x", "user");
    let r = get_as(
        &s,
        &["-u", "viewer:viewer-Pw1-x"],
        "/services/mltk/openapi.json",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = get_as(&s, &[], "/services/mltk/openapi.json");
    assert_eq!(r.status, 401, "{}", r.body);
}

#[test]
fn the_checker_catches_what_it_must() {
    let url = "https://h:1/servicesNS/nobody/dsdl_handler/mltk/start_container";
    let json = Some("application/json; charset=UTF-8");
    let counts = r#"{"message":"m","status":"success","container_status":{"counts":
        {"active":0,"inactive":0,"mode_dev":0,"mode_prod":0,"mode_other":0}}}"#;
    assert_eq!(violation("GET", url, 200, json, counts), None);
    // A missing key, a wrong type, an undocumented status or media type, a 2xx for an
    // unknown path and an error without `messages` are each caught.
    let bad = counts.replace("\"mode_other\":0", "\"mode_other\":\"0\"");
    assert!(violation("GET", url, 200, json, &bad).is_some());
    let missing = counts.replace(",\"status\":\"success\"", "");
    assert!(violation("GET", url, 200, json, &missing).is_some());
    assert!(violation("GET", url, 418, json, counts).is_some());
    assert!(violation("GET", url, 200, Some("text/plain"), counts).is_some());
    assert!(violation("GET", "https://h:1/services/mltk/nope", 200, json, "{}").is_some());
    assert!(violation("PATCH", url, 405, json, r#"{"message":"x"}"#).is_some());
    assert_eq!(
        violation(
            "PATCH",
            url,
            405,
            json,
            r#"{"messages":[{"type":"ERROR","text":"no"}]}"#
        ),
        None
    );
    assert_eq!(
        violation("GET", "https://h:1/services/auth/login", 999, None, ""),
        None
    );
}

#[test]
fn curl_lines_give_method_and_url() {
    assert_eq!(
        method_and_url(&["-u", "a:b", "-X", "DELETE", "http://h/x"]),
        Some(("DELETE".into(), "http://h/x".into()))
    );
    assert_eq!(
        method_and_url(&["-d", "k=v", "https://h/x"]).map(|m| m.0),
        Some("POST".into())
    );
    assert_eq!(
        method_and_url(&["https://h/x"]).map(|m| m.0),
        Some("GET".into())
    );
}

/// The README's endpoint table, rendered from the document: one row per operation with its
/// method, path, summary, capability and documented statuses.
fn render_reference(doc: &Value) -> String {
    let mut out = String::from(
        "| method | path | summary | capability | statuses |\n| --- | --- | --- | --- | --- |\n",
    );
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in ["get", "post", "put", "delete"] {
            let Some(op) = item.get(method) else { continue };
            let cap = op["x-splunk-capability"]
                .as_str()
                .map_or("any authenticated user".to_string(), |c| format!("`{c}`"));
            let statuses: Vec<&str> = op["responses"]
                .as_object()
                .expect("responses")
                .keys()
                .map(String::as_str)
                .collect();
            out.push_str(&format!(
                "| {} | `{path}` | {} | {cap} | {} |\n",
                method.to_uppercase(),
                op["summary"].as_str().unwrap_or("").replace('|', "\\|"),
                statuses.join(", ")
            ));
        }
    }
    out
}

const BEGIN: &str = "<!-- endpoint table: rendered from appserver/static/openapi.json by tests/openapi.rs (UPDATE_README=1) -->\n";
const END: &str = "<!-- end of endpoint table -->";

#[test]
fn the_readme_endpoint_table_is_rendered_from_the_document() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(&file).expect("README.md");
    let (head, rest) = readme
        .split_once(BEGIN)
        .expect("README.md has the endpoint table's start marker");
    let (current, tail) = rest
        .split_once(END)
        .expect("README.md has the endpoint table's end marker");
    let rendered = render_reference(&document());
    if current == rendered {
        return;
    }
    if std::env::var_os("UPDATE_README").is_some() {
        std::fs::write(&file, format!("{head}{BEGIN}{rendered}{END}{tail}")).expect("write");
        return;
    }
    panic!(
        "README.md's endpoint table differs from what appserver/static/openapi.json renders; \
         run `UPDATE_README=1 cargo test --test openapi` to rewrite it.\nexpected:\n{rendered}"
    );
}
