//! `storage/passwords`: secrets stored in `local/passwords.conf` in splunkd's `$7$` format.
//! (Stub: being written.)

use super::types::{DevRequest, DevResponse, SplunkHome};

/// Serves a request whose path starts with `["storage", "passwords", ...]`.
pub fn handle(_home: &SplunkHome, req: &DevRequest) -> DevResponse {
    DevResponse::error(501, "storage/passwords is not implemented yet", req.json())
}
