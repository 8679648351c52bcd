//! What the store client needs to reach splunkd, gathered from the request (`server.rest_uri`,
//! `system_authtoken`) and the driver's settings (app namespace, CA bundle), checked once so
//! the transport and the typed API never see a half-configured client.

use crate::config::DriverConfig;
use crate::error::{ApiError, ErrorKind};
use crate::protocol::request::{Request, Secret};
use std::path::PathBuf;
use std::time::Duration;

/// Bound on one REST call, connection included; splunkd is local, so this only trips when
/// it hangs.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The owner part of every namespace the client uses: app-level objects belong to `nobody`.
pub const OWNER: &str = "nobody";

/// Where and as whom to call splunkd. `Debug` never shows the token.
#[derive(Debug, Clone)]
pub struct SplunkdConfig {
    /// splunkd's management URI, e.g. `https://127.0.0.1:8089` (http works too).
    pub rest_uri: String,
    /// Sent as `Authorization: Splunk <token>`.
    pub token: Secret,
    /// App namespace of every conf and credential: `/servicesNS/nobody/<app>/...`.
    pub app: String,
    /// PEM CA bundle that splunkd's certificate must chain to (hostname checked too); without
    /// it the certificate is accepted unverified, since splunkd is the local management port
    /// and ships a self-signed certificate.
    pub ca_file: Option<PathBuf>,
    /// Bound on each call.
    pub timeout: Duration,
}

impl SplunkdConfig {
    /// From the request splunkd sent (restmap `passSystemAuth = true` supplies the token) and
    /// the driver's settings. Missing pieces are a 503 saying which one and how to fix it.
    pub fn from_request(req: &Request, config: &DriverConfig) -> Result<SplunkdConfig, ApiError> {
        let rest_uri = rest_uri(req, "settings and secrets cannot be reached")?;
        let token = req
            .system_authtoken
            .as_ref()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::unavailable(
                    "splunkd sent no system token (system_authtoken), so settings and secrets cannot be reached; set passSystemAuth = true in this handler's restmap.conf stanza.",
                )
            })?;
        Ok(SplunkdConfig {
            rest_uri: rest_uri.to_string(),
            token: token.clone(),
            app: config.app.clone(),
            ca_file: config.splunkd_ca.clone(),
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// As the caller rather than the system: the request's session key (restmap
    /// `passSession = true`), for asking splunkd what the caller may do. A missing session key
    /// is a 403 (the capability cannot be checked), a missing URI a 503.
    pub fn for_caller(req: &Request, config: &DriverConfig) -> Result<SplunkdConfig, ApiError> {
        let rest_uri = rest_uri(req, "the caller's capabilities cannot be checked")?;
        let token = req
            .session
            .as_ref()
            .and_then(|s| s.authtoken.as_ref())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::new(
                    ErrorKind::Forbidden,
                    "splunkd sent no session key (session.authtoken) with this request, so the caller's capabilities cannot be checked; set passSession = true in this handler's restmap.conf stanza.",
                )
            })?;
        Ok(SplunkdConfig {
            rest_uri: rest_uri.to_string(),
            token: token.clone(),
            app: config.app.clone(),
            ca_file: config.splunkd_ca.clone(),
            timeout: DEFAULT_TIMEOUT,
        })
    }
}

/// `server.rest_uri`, trimmed; its absence is a 503 saying what it prevents.
fn rest_uri<'a>(req: &'a Request, prevents: &str) -> Result<&'a str, ApiError> {
    req.server
        .as_ref()
        .and_then(|s| s.rest_uri.as_deref())
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .ok_or_else(|| {
            ApiError::unavailable(format!(
                "splunkd's REST URI (server.rest_uri) is missing from the request, so {prevents}."
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn driver() -> DriverConfig {
        let (mut c, _) = DriverConfig::from_lookup(|_| None, None);
        c.app = "my_app".into();
        c.splunkd_ca = Some(PathBuf::from("ca.pem"));
        c
    }

    fn request(json: &str) -> Request {
        Request::parse(json.as_bytes()).unwrap()
    }

    #[test]
    fn takes_uri_token_app_and_ca() {
        let r = request(
            r#"{"method":"GET","server":{"rest_uri":"https://127.0.0.1:8089"},"system_authtoken":"tok-xyz"}"#,
        );
        let c = SplunkdConfig::from_request(&r, &driver()).unwrap();
        assert_eq!(c.rest_uri, "https://127.0.0.1:8089");
        assert_eq!(c.token.expose(), "tok-xyz");
        assert_eq!(c.app, "my_app");
        assert_eq!(c.ca_file.as_deref(), Some(std::path::Path::new("ca.pem")));
        assert_eq!(c.timeout, DEFAULT_TIMEOUT);
        assert!(!format!("{c:?}").contains("tok-xyz"));
    }

    #[test]
    fn the_caller_config_uses_the_session_key() {
        let r = request(
            r#"{"method":"POST","server":{"rest_uri":"https://127.0.0.1:8089"},"system_authtoken":"sys","session":{"user":"u","authtoken":"user-key"}}"#,
        );
        let c = SplunkdConfig::for_caller(&r, &driver()).unwrap();
        assert_eq!(c.token.expose(), "user-key");
        assert_eq!(c.rest_uri, "https://127.0.0.1:8089");
        for json in [
            r#"{"method":"POST","server":{"rest_uri":"https://h:8089"},"system_authtoken":"sys"}"#,
            r#"{"method":"POST","server":{"rest_uri":"https://h:8089"},"session":{"user":"u"}}"#,
            r#"{"method":"POST","server":{"rest_uri":"https://h:8089"},"session":{"authtoken":""}}"#,
        ] {
            let e = SplunkdConfig::for_caller(&request(json), &driver()).unwrap_err();
            assert_eq!(e.status(), 403, "{json}");
            assert!(e.message.contains("passSession"), "{}", e.message);
        }
        let e = SplunkdConfig::for_caller(
            &request(r#"{"method":"POST","session":{"authtoken":"k"}}"#),
            &driver(),
        )
        .unwrap_err();
        assert_eq!(e.status(), 503);
        assert!(e.message.contains("server.rest_uri"), "{}", e.message);
    }

    #[test]
    fn missing_pieces_are_503_with_the_fix() {
        for (json, needle) in [
            (
                r#"{"method":"GET","system_authtoken":"t"}"#,
                "server.rest_uri",
            ),
            (
                r#"{"method":"GET","server":{"rest_uri":" "},"system_authtoken":"t"}"#,
                "server.rest_uri",
            ),
            (
                r#"{"method":"GET","server":{"rest_uri":"https://h:8089"}}"#,
                "passSystemAuth",
            ),
            (
                r#"{"method":"GET","server":{"rest_uri":"https://h:8089"},"system_authtoken":""}"#,
                "passSystemAuth",
            ),
        ] {
            let e = SplunkdConfig::from_request(&request(json), &driver()).unwrap_err();
            assert_eq!(e.status(), 503);
            assert!(e.message.contains(needle), "{}", e.message);
        }
    }
}
