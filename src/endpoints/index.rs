//! `GET /mltk`: the endpoint table as a Splunk collection, so `| rest /services/mltk` and
//! clients can discover the API. Needs no backend.

use crate::context::Context;
use crate::protocol::reply::Outcome;
use crate::protocol::request::Request;
use crate::render::{Entry, Feed};
use crate::router::{ENDPOINTS, PREFIX};
use serde_json::{Map, Value};
use std::sync::OnceLock;

/// Lists [`ENDPOINTS`] with their methods. The entries are built once per process (they are
/// constants); only the origin differs between requests.
pub fn list(ctx: &Context, req: &Request) -> Outcome {
    static ENTRIES: OnceLock<Vec<Entry>> = OnceLock::new();
    let entries = ENTRIES.get_or_init(entries).clone();
    Outcome::Feed(Feed::new("mltk", ctx.origin(req), entries))
}

fn entries() -> Vec<Entry> {
    ENDPOINTS
        .iter()
        .filter(|e| !e.pattern.is_empty())
        .map(|e| {
            let mut content = Map::new();
            content.insert(
                "path".into(),
                Value::String(format!("{PREFIX}/{}", e.pattern)),
            );
            content.insert(
                "methods".into(),
                Value::Array(
                    e.methods
                        .iter()
                        .map(|m| Value::String(m.to_string()))
                        .collect(),
                ),
            );
            content.insert("summary".into(), Value::String(e.summary.into()));
            Entry {
                name: e.pattern.to_string(),
                author: "nobody".into(),
                acl: None,
                content,
            }
        })
        .collect()
}
