//! `GET /mltk/containers` and `GET /mltk/containers/{model}`: each model's live state as a
//! Splunk collection. `| rest /servicesNS/-/<app>/mltk/containers` reads Atom entries, so a
//! dashboard or an alert on failed containers is one search; `container_data` keeps the AI
//! Toolkit's JSON shape for its UI.
//!
//! The state is the same join as `container_data` ([`super::live`]); each entry is flattened
//! into plain fields from an allow-list ([`ENTRY_KEYS`]), so nothing else a record may hold
//! reaches the reply.

use crate::context::Context;
use crate::error::ApiError;
use crate::model::record::{self, key};
use crate::paging::{Paging, search_matches};
use crate::protocol::reply::Outcome;
use crate::protocol::request::Request;
use crate::render::{Entry, Feed};
use serde_json::{Map, Value};

/// The collection's title, as splunkd titles a feed by its last path segment.
const TITLE: &str = "containers";

/// The record and live keys an entry carries, in this order, each only when known.
pub const ENTRY_KEYS: &[&str] = &[
    key::MODE,
    key::CLUSTER,
    key::IMAGE,
    key::RUNTIME,
    key::ID,
    key::CONNECTION_NAME,
    key::RUNTIME_NAME,
    key::STARTED_AT,
    "state",
    key::STATUS,
    key::PHASE,
    "reason",
    "exit_code",
    key::API_URL,
    key::API_URL_EXTERNAL,
    key::JUPYTER_URL,
    key::TENSORBOARD_URL,
    key::SPARK_URL,
    key::MLFLOW_URL,
];

/// `GET /mltk/containers`: one entry per model, sorted by name, filtered by `search` (over
/// the name and each `key=value`, as splunkd's lists do) and paged by `count`/`offset`.
pub async fn list(ctx: &Context, req: &Request) -> Result<Outcome, ApiError> {
    let paging = Paging::parse(req.query_arg("count"), req.query_arg("offset"))?;
    let store = ctx.store(req).await?;
    let records = record::records(store.list_stanzas(record::CONF).await?);
    let view = super::live::live_rows(&store, req, &records).await;
    let search = req.query_arg("search");
    let mut entries: Vec<Entry> = view
        .rows
        .iter()
        .map(|(name, row)| entry(name, row))
        .filter(|e| matches_search(search, e))
        .collect();
    entries.sort_by(|a, b| {
        a.name
            .to_lowercase()
            .cmp(&b.name.to_lowercase())
            .then(a.name.cmp(&b.name))
    });
    let mut feed = paging.feed(TITLE, ctx.origin(req), entries);
    feed.messages = messages(&view.messages);
    Ok(Outcome::Feed(feed))
}

/// `GET /mltk/containers/{model}`: the model's entry, or a 404 when no record has that name.
pub async fn one(ctx: &Context, req: &Request, model: &str) -> Result<Outcome, ApiError> {
    let store = ctx.store(req).await?;
    let stanza = store
        .get_stanza(record::CONF, model)
        .await?
        .filter(|s| s.name != record::DEFAULT_STANZA)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "No model named {} has a deployment record.",
                crate::names::excerpt(model, 200)
            ))
        })?;
    let records = record::records(vec![stanza]);
    let view = super::live::live_rows(&store, req, &records).await;
    let entries = view
        .rows
        .iter()
        .map(|(name, row)| entry(name, row))
        .collect();
    // The entry's links are those of the collection it belongs to.
    let origin = ctx.origin(req);
    let collection = origin.rsplit_once('/').map_or(origin.as_str(), |(c, _)| c);
    let mut feed = Feed::new(TITLE, collection, entries);
    feed.messages = messages(&view.messages);
    Ok(Outcome::Feed(feed))
}

/// The entry of one `container_data` row: the [`ENTRY_KEYS`] it has, each a plain string or
/// number (`| rest` makes one field of each), with `reason` the phase's reason or, failing
/// that, the state's.
pub fn entry(name: &str, row: &Value) -> Entry {
    let get = |k: &str| row.get(k).filter(|v| !v.is_null() && *v != "");
    let mut content = Map::new();
    for &k in ENTRY_KEYS {
        let value = match k {
            "reason" => get(key::PHASE_REASON).or_else(|| get("state_reason")),
            _ => get(k),
        };
        if let Some(v @ (Value::String(_) | Value::Number(_) | Value::Bool(_))) = value {
            content.insert(k.into(), v.clone());
        }
    }
    Entry {
        name: name.to_string(),
        author: "nobody".into(),
        acl: None,
        content,
    }
}

/// Whether `search` matches the entry's name or one of its `key=value` pairs.
fn matches_search(search: Option<&str>, e: &Entry) -> bool {
    let pairs: Vec<String> = e
        .content
        .iter()
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect();
    search_matches(
        search,
        std::iter::once(e.name.as_str()).chain(pairs.iter().map(String::as_str)),
    )
}

/// The live view's `messages` entries as a feed's (type, text) pairs.
fn messages(list: &[Value]) -> Vec<(String, String)> {
    list.iter()
        .map(|m| {
            let field = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            (field("type"), field("text"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn entries_are_flat_allow_listed_fields_with_one_reason() {
        let row = json!({
            "mode": "PROD",
            "cluster": "docker",
            "image": "img",
            "id": "abc",
            "api_url": "http://h:1",
            "jupyter_url": "",
            "state": "exited",
            "status": "Inactive",
            "phase": "failed",
            "phase_reason": "",
            "state_reason": "the container exited with code 3",
            "exit_code": 3,
            "last_failure": {"state": "exited", "reason": "x"},
            "api_token": "not-a-key-an-entry-may-carry",
            "manager_id": "g",
        });
        let e = entry("m", &row);
        assert_eq!(e.name, "m");
        assert_eq!(e.content["reason"], "the container exited with code 3");
        assert_eq!(e.content["exit_code"], 3);
        assert_eq!(e.content["phase"], "failed");
        assert_eq!(e.content["api_url"], "http://h:1");
        for absent in ["jupyter_url", "last_failure", "api_token", "manager_id"] {
            assert!(!e.content.contains_key(absent), "{absent}");
        }
        let keys: Vec<&str> = e.content.keys().map(String::as_str).collect();
        let order: Vec<&str> = ENTRY_KEYS
            .iter()
            .copied()
            .filter(|k| keys.contains(k))
            .collect();
        assert_eq!(keys, order, "allow-list order");
        // The phase's own reason wins over the state's.
        let e = entry(
            "m",
            &json!({"phase_reason": "ImagePull", "state_reason": "x"}),
        );
        assert_eq!(e.content["reason"], "ImagePull");
    }

    #[test]
    fn search_reads_names_and_pairs() {
        let e = entry("churn", &json!({"phase": "failed", "exit_code": 137}));
        assert!(matches_search(Some("phase=failed"), &e));
        assert!(matches_search(Some("CHU"), &e));
        assert!(matches_search(Some("exit_code=137"), &e));
        assert!(!matches_search(Some("phase=ready"), &e));
        assert!(matches_search(None, &e));
    }
}
