//! `GET /mltk/openapi.json`: the API's OpenAPI 3.1 document, shipped in the app as
//! `appserver/static/openapi.json` and embedded here so the served copy is the one the binary
//! was built with. `tests/openapi.rs` keeps it in agreement with [`crate::router::ENDPOINTS`].

use crate::error::ApiError;
use crate::protocol::reply::Outcome;
use std::sync::{Arc, OnceLock};

/// The document as shipped.
pub const DOCUMENT: &str = include_str!("../../appserver/static/openapi.json");

/// The document, checked to be JSON once per process and written compactly: an invalid file
/// must become a 500, never a reply frame splunkd cannot read.
pub fn document() -> Result<Outcome, ApiError> {
    static COMPACT: OnceLock<Option<Arc<str>>> = OnceLock::new();
    COMPACT
        .get_or_init(|| {
            let doc: serde_json::Value = serde_json::from_str(DOCUMENT).ok()?;
            Some(doc.to_string().into())
        })
        .clone()
        .map(Outcome::Rendered)
        .ok_or_else(|| ApiError::internal("The embedded OpenAPI document is not valid JSON."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_served_as_json() {
        let Ok(Outcome::Rendered(text)) = document() else {
            panic!("the document renders");
        };
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["openapi"], "3.1.0");
        assert!(v["paths"]["/mltk/openapi.json"]["get"].is_object());
    }
}
