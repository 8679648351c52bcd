//! splunkd's conventions for entity collections, shared by the built-in stores
//! (`configs/conf-*`, `storage/passwords`): `count`/`offset`/`search` arguments, the `acl`
//! block, capability checks with splunkd's wording, namespace rules for reads and writes, and
//! replies in the caller's output mode.

use super::confstore;
use super::types::{Caller, DevRequest, DevResponse, SplunkHome};
use crate::error::ApiError;
use crate::render::Feed;
use serde_json::{Value, json};

pub use crate::paging::{DEFAULT_COUNT, Paging, search_matches};

impl Paging {
    /// Reads the request's `count` and `offset` (see [`Paging::parse`]).
    pub fn from_request(req: &DevRequest) -> Result<Paging, ApiError> {
        Paging::parse(req.query_arg("count"), req.query_arg("offset"))
    }
}

/// The absolute URL of the collection the request addressed (without the entity name).
pub fn collection_origin(req: &DevRequest, collection: &[&str]) -> String {
    let ns = match (&req.ns_user, &req.ns_app) {
        (None, None) => "/services".to_string(),
        (user, app) => format!(
            "/servicesNS/{}/{}",
            user.as_deref().unwrap_or("-"),
            app.as_deref().unwrap_or("-")
        ),
    };
    format!(
        "{}{ns}/{}",
        req.base_url.trim_end_matches('/'),
        collection.join("/")
    )
}

/// The `acl` block of an app-shared object owned by `nobody`, as splunkd reports it.
pub fn acl(app: &str, caller: &Caller, write_capabilities: &[&str], removable: bool) -> Value {
    let can_write = write_capabilities.iter().any(|c| caller.can(c));
    json!({
        "app": app,
        "owner": "nobody",
        "sharing": if app == confstore::SYSTEM_APP { "system" } else { "app" },
        "perms": {"read": ["*"], "write": ["admin"]},
        "can_list": true,
        "can_write": can_write,
        "modifiable": can_write,
        "removable": can_write && removable,
    })
}

/// 403 unless the caller holds one of `capabilities`; the text follows splunkd's.
pub fn require_any(caller: &Caller, capabilities: &[&str]) -> Result<(), ApiError> {
    if capabilities.iter().any(|c| caller.can(c)) {
        return Ok(());
    }
    Err(ApiError::new(
        crate::error::ErrorKind::Forbidden,
        format!(
            "You (user={}) do not have permission to perform this operation (requires capability: {}).",
            caller.user,
            capabilities.join(" or ")
        ),
    ))
}

/// The app a read is scoped to: the namespace app when concrete (it must exist), else None.
pub fn read_app(home: &SplunkHome, req: &DevRequest) -> Result<Option<String>, ApiError> {
    match &req.ns_app {
        None => Ok(None),
        Some(app) => checked_app(home, app).map(Some),
    }
}

/// The app a write goes to: writes need a concrete, existing app in the namespace.
pub fn write_app(home: &SplunkHome, req: &DevRequest) -> Result<String, ApiError> {
    match &req.ns_app {
        None => Err(ApiError::bad_request(
            "Writes need an app namespace: use /servicesNS/nobody/<app>/... instead of /services or a '-' app.",
        )),
        Some(app) => checked_app(home, app),
    }
}

fn checked_app(home: &SplunkHome, app: &str) -> Result<String, ApiError> {
    if !confstore::is_safe_name(app) || !confstore::app_exists(home, app) {
        return Err(ApiError::not_found(format!(
            "Application does not exist: {app}"
        )));
    }
    Ok(app.to_string())
}

/// Request arguments that are splunkd metadata rather than settings, never written to a file.
pub fn is_metadata_key(key: &str) -> bool {
    key.starts_with("eai:") || key == "disabled" || key == "output_mode"
}

/// 405 naming the methods the path accepts.
pub fn method_not_allowed(req: &DevRequest, allow: &[&str]) -> ApiError {
    ApiError::method_not_allowed(&req.method, &format!("/{}", req.path.join("/")), allow)
}

/// 500 for a file that could not be read or written; names the file, never its content.
pub fn io_error(e: std::io::Error) -> ApiError {
    ApiError::internal(format!("splunkd-dev could not access its store: {e}"))
}

/// A feed in the caller's output mode (JSON envelope or Atom).
pub fn feed_reply(req: &DevRequest, status: u16, feed: &Feed) -> DevResponse {
    if req.json() {
        DevResponse::json(status, &feed.to_json())
    } else {
        DevResponse::xml(status, feed.to_atom())
    }
}

/// An error in splunkd's shape and the caller's output mode, with the error's headers.
pub fn error_reply(req: &DevRequest, e: &ApiError) -> DevResponse {
    let mut r = DevResponse::error(e.status(), &e.message, req.json());
    r.headers.extend(e.headers.iter().cloned());
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(query: &[(&str, &str)]) -> DevRequest {
        DevRequest {
            method: "GET".into(),
            query: query
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            base_url: "https://127.0.0.1:8089".into(),
            ..Default::default()
        }
    }

    #[test]
    fn paging_arguments() {
        assert_eq!(
            Paging::from_request(&req(&[])).unwrap(),
            Paging {
                count: 30,
                offset: 0
            }
        );
        for all in ["0", "-1", "-5"] {
            assert_eq!(
                Paging::from_request(&req(&[("count", all)])).unwrap().count,
                0
            );
        }
        let p = Paging::from_request(&req(&[("count", "2"), ("offset", "3")])).unwrap();
        assert_eq!((p.count, p.offset), (2, 3));
        for bad in [("count", "x"), ("offset", "-1"), ("offset", "1.5")] {
            assert_eq!(
                Paging::from_request(&req(&[bad])).unwrap_err().status(),
                400
            );
        }
    }

    #[test]
    fn permission_checks_name_the_capability() {
        let mut caller = Caller {
            user: "bob".into(),
            ..Default::default()
        };
        let e = require_any(&caller, &["edit_storage_passwords", "admin_all_objects"]).unwrap_err();
        assert_eq!(e.status(), 403);
        assert!(e.message.contains("user=bob"));
        assert!(
            e.message
                .contains("edit_storage_passwords or admin_all_objects")
        );
        caller.capabilities.insert("admin_all_objects".into());
        assert!(require_any(&caller, &["edit_storage_passwords", "admin_all_objects"]).is_ok());
        let a = acl("app", &caller, &["admin_all_objects"], true);
        assert_eq!(a["can_write"], true);
        assert_eq!(a["removable"], true);
        assert_eq!(a["sharing"], "app");
        let a = acl("system", &Caller::default(), &["admin_all_objects"], true);
        assert_eq!(
            (a["can_write"].clone(), a["removable"].clone()),
            (json!(false), json!(false))
        );
        assert_eq!(a["sharing"], "system");
    }

    #[test]
    fn namespaces_for_reads_and_writes() {
        let home = super::super::confstore::tests::temp_home("eai");
        std::fs::create_dir_all(home.app_dir("a")).unwrap();
        let mut r = req(&[]);
        assert_eq!(read_app(&home, &r).unwrap(), None);
        assert_eq!(write_app(&home, &r).unwrap_err().status(), 400);
        r.ns_app = Some("a".into());
        assert_eq!(write_app(&home, &r).unwrap(), "a");
        r.ns_app = Some("missing".into());
        assert_eq!(read_app(&home, &r).unwrap_err().status(), 404);
        r.ns_app = Some("..".into());
        assert_eq!(write_app(&home, &r).unwrap_err().status(), 404);
        let _ = std::fs::remove_dir_all(&home.root);
    }

    #[test]
    fn origins_follow_the_namespace() {
        let mut r = req(&[]);
        assert_eq!(
            collection_origin(&r, &["configs", "conf-x"]),
            "https://127.0.0.1:8089/services/configs/conf-x"
        );
        r.ns_user = Some("nobody".into());
        assert_eq!(
            collection_origin(&r, &["storage", "passwords"]),
            "https://127.0.0.1:8089/servicesNS/nobody/-/storage/passwords"
        );
    }
}
