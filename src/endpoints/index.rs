//! `GET /mltk`: the endpoint table as a Splunk collection, so `| rest /services/mltk` and
//! clients can discover the API. Needs no backend.

use crate::context::Context;
use crate::protocol::reply::Outcome;
use crate::protocol::request::Request;
use crate::render::{Entry, Feed, now_iso};
use crate::router::{ENDPOINTS, PREFIX};
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::sync::{Arc, OnceLock};

/// Lists [`ENDPOINTS`] with their methods. The entries are built once per process (they are
/// constants); only the origin and the time differ between requests, so the JSON envelope is
/// kept for the last origin within the same second (its `updated` time) and reused.
pub fn list(ctx: &Context, req: &Request) -> Outcome {
    static ENTRIES: OnceLock<Vec<Entry>> = OnceLock::new();
    thread_local! {
        /// Origin, `updated` and the envelope rendered for them.
        static LAST: RefCell<Option<(String, String, Arc<str>)>> = const { RefCell::new(None) };
    }
    let origin = ctx.origin(req);
    let feed = || Feed::new("mltk", origin.clone(), ENTRIES.get_or_init(entries).clone());
    if !req.wants_json() {
        return Outcome::Feed(feed());
    }
    let now = now_iso();
    let cached = LAST.with_borrow(|last| match last {
        Some((o, t, json)) if *o == origin && *t == now => Some(json.clone()),
        _ => None,
    });
    let json = match cached {
        Some(json) => json,
        None => match serde_json::to_string(&feed()) {
            Ok(text) => {
                let json: Arc<str> = text.into();
                LAST.set(Some((origin, now, json.clone())));
                json
            }
            Err(_) => return Outcome::Feed(feed()),
        },
    };
    Outcome::Rendered(json)
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
