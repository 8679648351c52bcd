//! The request, response and caller types every splunkd-dev part speaks, so the HTTP front
//! and the stores meet at one small interface.

use crate::protocol::request::Pairs;
use crate::render;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;

/// An authenticated caller with the capabilities of all its roles.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    /// User name (`splunk-system-user` for the system token).
    pub user: String,
    /// Role names.
    pub roles: Vec<String>,
    /// Capability names granted through the roles.
    pub capabilities: BTreeSet<String>,
}

impl Caller {
    /// Whether the caller holds `capability`.
    pub fn can(&self, capability: &str) -> bool {
        self.capabilities.contains(capability)
    }
}

/// One REST call to a built-in splunkd-dev endpoint, after auth and namespace parsing.
/// `Debug` shows form field names only (a `storage/passwords` write carries the password).
#[derive(Clone, Default)]
pub struct DevRequest {
    /// HTTP method, upper case.
    pub method: String,
    /// `<user>` of `/servicesNS/<user>/<app>`; `None` for `/services` or a `-` wildcard.
    pub ns_user: Option<String>,
    /// `<app>` of `/servicesNS/<user>/<app>`; `None` for `/services` or a `-` wildcard.
    pub ns_app: Option<String>,
    /// Percent-decoded path segments after the namespace, e.g. `["configs", "conf-x", "st"]`.
    pub path: Vec<String>,
    /// URL query arguments.
    pub query: Pairs,
    /// urlencoded body arguments.
    pub form: Pairs,
    /// Scheme, host and port this server is reached at, e.g. `https://127.0.0.1:8089`.
    pub base_url: String,
    /// Who is calling.
    pub caller: Caller,
}

impl std::fmt::Debug for DevRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevRequest")
            .field("method", &self.method)
            .field("ns_user", &self.ns_user)
            .field("ns_app", &self.ns_app)
            .field("path", &self.path)
            .field("query", &self.query)
            .field(
                "form",
                &self.form.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("caller", &self.caller.user)
            .finish_non_exhaustive()
    }
}

impl DevRequest {
    /// Whether the caller asked for `output_mode=json` (any case), in the query or, as
    /// splunklib sends every argument of a POST, in the body: splunkd reads both.
    pub fn json(&self) -> bool {
        super::persist::output_mode(&self.query, &self.form).0 == "json"
    }

    /// First query argument called `name`.
    pub fn query_arg(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// First form argument called `name`.
    pub fn form_arg(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A reply from a built-in endpoint.
#[derive(Debug, Clone)]
pub struct DevResponse {
    /// HTTP status.
    pub status: u16,
    /// Headers, including Content-Type.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl DevResponse {
    /// A JSON body.
    pub fn json(status: u16, body: &Value) -> Self {
        DevResponse {
            status,
            headers: vec![("Content-Type".into(), render::JSON_CONTENT_TYPE.into())],
            body: serde_json::to_vec(body).unwrap_or_default(),
        }
    }

    /// An XML (Atom) body.
    pub fn xml(status: u16, body: String) -> Self {
        DevResponse {
            status,
            headers: vec![("Content-Type".into(), render::XML_CONTENT_TYPE.into())],
            body: body.into_bytes(),
        }
    }

    /// Splunk's error shape in the caller's output mode.
    pub fn error(status: u16, message: &str, json: bool) -> Self {
        if json {
            Self::json(status, &render::error_json(message))
        } else {
            Self::xml(status, render::error_xml(message))
        }
    }
}

/// The layout of a SPLUNK_HOME, so every part agrees on where files live.
#[derive(Debug, Clone)]
pub struct SplunkHome {
    /// The SPLUNK_HOME directory.
    pub root: PathBuf,
}

impl SplunkHome {
    /// Wraps an existing or to-be-created SPLUNK_HOME.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        SplunkHome { root: root.into() }
    }

    /// `etc/apps`.
    pub fn apps_dir(&self) -> PathBuf {
        self.root.join("etc/apps")
    }

    /// `etc/apps/<app>`.
    pub fn app_dir(&self, app: &str) -> PathBuf {
        self.apps_dir().join(app)
    }

    /// `etc/system`: system-level `default/` and `local/`.
    pub fn system_dir(&self) -> PathBuf {
        self.root.join("etc/system")
    }

    /// `etc/auth`: splunk.secret, users and certificates.
    pub fn auth_dir(&self) -> PathBuf {
        self.root.join("etc/auth")
    }

    /// `etc/auth/splunk.secret`, the key of `$7$` secrets.
    pub fn splunk_secret(&self) -> PathBuf {
        self.auth_dir().join("splunk.secret")
    }

    /// `var/log/splunk`.
    pub fn log_dir(&self) -> PathBuf {
        self.root.join("var/log/splunk")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Pairs {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn output_mode_is_read_from_the_query_then_the_body() {
        let mut r = DevRequest::default();
        assert!(!r.json());
        // splunklib's POSTs carry it in the body only.
        r.form = pairs(&[("output_mode", "json")]);
        assert!(r.json());
        r.query = pairs(&[("output_mode", "xml")]);
        assert!(!r.json(), "the query wins");
        r.query = pairs(&[("output_mode", "JSON")]);
        assert!(r.json());
    }
}
