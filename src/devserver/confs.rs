//! `configs/conf-<name>`: list, read, create, update and delete stanzas, `default/` and
//! `local/` layered. (Stub: being written.)

use super::types::{DevRequest, DevResponse, SplunkHome};

/// Serves a request whose path starts with `["configs", "conf-<name>", ...]`.
pub fn handle(_home: &SplunkHome, req: &DevRequest) -> DevResponse {
    DevResponse::error(501, "configs/conf-* is not implemented yet", req.json())
}
