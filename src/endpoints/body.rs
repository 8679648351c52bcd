//! Endpoint-specific helpers on request bodies: the keys each endpoint understands and the
//! warning naming the ones it does not. Reading the fields is [`crate::protocol::fields`].

use crate::protocol::fields::Fields;
use crate::protocol::request::Request;
use serde_json::Value;

/// Keys `POST start_container` understands: the toolkit UI's (reference section 3.10,
/// Kubernetes overrides included) and `wait_seconds`.
pub const START_KEYS: &[&str] = &[
    "model",
    "image",
    "mode",
    "cluster",
    "runtime",
    "wait_seconds",
    "min_cpu",
    "max_cpu",
    "min_memory",
    "max_memory",
    "min_replicas",
    "max_replicas",
    "cpu_threshold_percent",
    "hpa_enabled",
];

/// Keys `POST stop_container` understands (reference section 3.13).
pub const STOP_KEYS: &[&str] = &["model"];

/// Keys `container_logs` understands: the toolkit's `model` (reference section 3.9) and
/// `tail`, `since`, `timestamps`.
pub const LOGS_KEYS: &[&str] = &["model", "tail", "since", "timestamps", "previous"];

/// Most unknown keys named in one warning; the rest are counted.
const MAX_NAMED_KEYS: usize = 10;

/// One WARN `messages` entry naming the keys of `req` that are not in `known`, so a typo is
/// visible while extra keys still work; `None` when every key is known. A GET's keys are its
/// query arguments, anything else's its body fields. A body that cannot be read gives `None`:
/// the endpoint reports that itself.
pub fn unknown_keys_warning(req: &Request, known: &[&str]) -> Option<Value> {
    let fields = if req.method == "GET" {
        Fields::from_pairs(&req.query)
    } else {
        Fields::from_request(req).ok()?
    };
    unknown_keys_message(&fields.unknown_keys(known))
}

/// The WARN entry for `unknown` keys (long names and long lists cut short), or `None`.
pub fn unknown_keys_message(unknown: &[&str]) -> Option<Value> {
    if unknown.is_empty() {
        return None;
    }
    let mut names: Vec<String> = unknown
        .iter()
        .take(MAX_NAMED_KEYS)
        .map(|k| format!("{:?}", crate::names::excerpt(k, 40)))
        .collect();
    if unknown.len() > MAX_NAMED_KEYS {
        names.push(format!("and {} more", unknown.len() - MAX_NAMED_KEYS));
    }
    let noun = if unknown.len() == 1 { "key" } else { "keys" };
    Some(crate::protocol::reply::warn(&format!(
        "Ignored {noun} this endpoint does not use: {}.",
        names.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(payload: Option<&str>, form: &[(&str, &str)]) -> Request {
        Request::test_post(payload, form)
    }

    #[test]
    fn unknown_keys_are_named_in_one_warning() {
        let f = Fields::from_request(&req(
            Some(r#"{"payload":{"model":"m","imgae":"x","output_mode":"json","extra":1}}"#),
            &[],
        ))
        .unwrap();
        assert_eq!(f.unknown_keys(START_KEYS), ["imgae", "extra"]);
        let w = unknown_keys_message(&f.unknown_keys(START_KEYS)).unwrap();
        assert_eq!(w["type"], "WARN");
        assert_eq!(
            w["text"],
            r#"Ignored keys this endpoint does not use: "imgae", "extra"."#
        );
        let one = unknown_keys_message(&["x"]).unwrap();
        assert!(
            one["text"]
                .as_str()
                .unwrap()
                .starts_with("Ignored key this")
        );
        assert!(unknown_keys_message(&[]).is_none());

        let many: Vec<String> = (0..15).map(|i| format!("k{i}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let text = unknown_keys_message(&many).unwrap()["text"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            text.contains("\"k9\"") && !text.contains("\"k10\""),
            "{text}"
        );
        assert!(text.contains("and 5 more"), "{text}");
        let long = "x".repeat(500);
        let text = unknown_keys_message(&[&long]).unwrap()["text"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(text.len() < 200, "{text}");
    }

    #[test]
    fn the_toolkit_uis_keys_never_warn() {
        // Start with every override the UI may send, stop and logs as the UI wraps them,
        // each as splunklib posts it (output_mode in the body).
        let start = req(
            Some(
                r#"{"payload":{"image":"golden-cpu","model":"__dev__","runtime":"","cluster":"docker",
                "mode":"DEV","min_cpu":"1","max_cpu":"2","min_memory":"1Gi","max_memory":"2Gi",
                "min_replicas":"1","max_replicas":"3","cpu_threshold_percent":"80","hpa_enabled":"1"}}"#,
            ),
            &[],
        );
        assert_eq!(unknown_keys_warning(&start, START_KEYS), None);
        let stop = req(Some(r#"{"payload":{"model":"__dev__"}}"#), &[]);
        assert_eq!(unknown_keys_warning(&stop, STOP_KEYS), None);
        let logs = req(None, &[("model", "__dev__"), ("output_mode", "json")]);
        assert_eq!(unknown_keys_warning(&logs, LOGS_KEYS), None);
        let typo = req(Some(r#"{"payload":{"modle":"__dev__"}}"#), &[]);
        let w = unknown_keys_warning(&typo, STOP_KEYS).unwrap();
        assert!(w["text"].as_str().unwrap().contains("\"modle\""), "{w}");
        // A GET's keys are its query arguments.
        let mut get = req(Some("not a body"), &[]);
        get.method = "GET".into();
        get.query = vec![
            ("model".into(), "m".into()),
            ("output_mode".into(), "json".into()),
            ("tial".into(), "5".into()),
        ];
        let w = unknown_keys_warning(&get, LOGS_KEYS).unwrap();
        assert!(w["text"].as_str().unwrap().contains("\"tial\""), "{w}");
        // An unreadable body is the endpoint's to report.
        assert_eq!(
            unknown_keys_warning(&req(Some("{oops"), &[]), STOP_KEYS),
            None
        );
    }
}
