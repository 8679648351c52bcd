//! What the store client needs to reach splunkd, gathered from the request (`server.rest_uri`,
//! `system_authtoken`) and the driver's settings (app namespace, CA bundle), checked once so
//! the transport and the typed API never see a half-configured client; and the caller's own
//! session and namespace ([`CallerSession`]) for the calls that must carry the caller's
//! permissions rather than the system's. Every call made as the caller carries a
//! [`CallerSession`] (deleting an MLTK model, asking who the caller is); the client's own
//! token is only ever the system token.

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

/// Where to call splunkd, and with which system token. `Debug` never shows the token.
#[derive(Debug, Clone)]
pub struct SplunkdConfig {
    /// splunkd's management URI, e.g. `https://127.0.0.1:8089` (http works too).
    pub rest_uri: String,
    /// The system token, sent as `Authorization: Splunk <token>` with every call not made as
    /// the caller. None for a client that only makes calls as the caller (each carrying a
    /// [`CallerSession`]), which therefore needs no system token.
    pub token: Option<Secret>,
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
            token: Some(token.clone()),
            app: config.app.clone(),
            ca_file: config.splunkd_ca.clone(),
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// Where splunkd is, without the system token: for a client that only asks splunkd who
    /// the caller is, each call carrying the caller's [`CallerSession`]. A missing URI is a
    /// 503.
    pub fn caller_only(req: &Request, config: &DriverConfig) -> Result<SplunkdConfig, ApiError> {
        let rest_uri = rest_uri(req, "the caller's capabilities cannot be checked")?;
        Ok(SplunkdConfig {
            rest_uri: rest_uri.to_string(),
            token: None,
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

/// The caller as splunkd passed them (restmap `passSession = true`): their session token and
/// the namespace of their request, for calls splunkd must check against the caller's own
/// permissions (deleting an MLTK model). `Debug` never shows the token.
#[derive(Debug, Clone)]
pub struct CallerSession {
    /// The namespace user: `ns.user`, else the session's user (a `-` user part is omitted by
    /// splunkd), else `nobody`.
    pub user: String,
    /// The namespace app, `ns.app`; None for `/services/...` (or a `-` app), where splunkd
    /// resolves objects in the caller's default app.
    pub app: Option<String>,
    /// `session.authtoken`, sent as `Authorization: Splunk <token>`.
    pub token: Secret,
}

impl CallerSession {
    /// From the request, to check the caller's capabilities: without a session key nothing
    /// can be shown to be allowed, so its absence is refused (403), not unavailable.
    pub fn to_check(req: &Request) -> Result<CallerSession, ApiError> {
        Self::from_request(req).map_err(|_| {
            ApiError::new(
                ErrorKind::Forbidden,
                "splunkd sent no session key (session.authtoken) with this request, so the caller's capabilities cannot be checked; set passSession = true in this handler's restmap.conf stanza.",
            )
        })
    }

    /// From the request; 503 when splunkd sent no session token.
    pub fn from_request(req: &Request) -> Result<CallerSession, ApiError> {
        let session = req.session.as_ref();
        let token = session
            .and_then(|s| s.authtoken.as_ref())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::unavailable(
                    "splunkd sent no session token (session.authtoken), so nothing can be done with the caller's permissions; set passSession = true in this handler's restmap.conf stanza.",
                )
            })?;
        let ns = req.ns.as_ref();
        let concrete = |v: Option<&String>| {
            v.map(|s| s.trim())
                .filter(|s| !s.is_empty() && *s != "-")
                .map(str::to_string)
        };
        let user = concrete(ns.and_then(|n| n.user.as_ref()))
            .or_else(|| concrete(session.and_then(|s| s.user.as_ref())))
            .unwrap_or_else(|| OWNER.to_string());
        Ok(CallerSession {
            user,
            app: concrete(ns.and_then(|n| n.app.as_ref())),
            token: token.clone(),
        })
    }
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
        assert_eq!(c.token.as_ref().map(Secret::expose), Some("tok-xyz"));
        assert_eq!(c.app, "my_app");
        assert_eq!(c.ca_file.as_deref(), Some(std::path::Path::new("ca.pem")));
        assert_eq!(c.timeout, DEFAULT_TIMEOUT);
        assert!(!format!("{c:?}").contains("tok-xyz"));
    }

    #[test]
    fn the_caller_s_capabilities_need_the_session_key_and_no_system_token() {
        let r = request(
            r#"{"method":"POST","server":{"rest_uri":"https://127.0.0.1:8089"},"session":{"user":"u","authtoken":"user-key"}}"#,
        );
        let c = SplunkdConfig::caller_only(&r, &driver()).unwrap();
        assert!(
            c.token.is_none(),
            "the caller's client holds no system token"
        );
        assert_eq!(c.rest_uri, "https://127.0.0.1:8089");
        assert_eq!(
            CallerSession::to_check(&r).unwrap().token.expose(),
            "user-key"
        );
        for json in [
            r#"{"method":"POST","server":{"rest_uri":"https://h:8089"},"system_authtoken":"sys"}"#,
            r#"{"method":"POST","server":{"rest_uri":"https://h:8089"},"session":{"user":"u"}}"#,
            r#"{"method":"POST","server":{"rest_uri":"https://h:8089"},"session":{"authtoken":""}}"#,
        ] {
            let e = CallerSession::to_check(&request(json)).unwrap_err();
            assert_eq!(e.status(), 403, "{json}");
            assert!(e.message.contains("passSession"), "{}", e.message);
        }
        let e = SplunkdConfig::caller_only(
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

    #[test]
    fn the_caller_session_takes_the_request_namespace() {
        let c = CallerSession::from_request(&request(
            r#"{"method":"DELETE","ns":{"app":"Splunk_ML_Toolkit","user":"bob"},"session":{"user":"alice","authtoken":"sess-1"},"system_authtoken":"sys"}"#,
        ))
        .unwrap();
        assert_eq!(
            (c.user.as_str(), c.app.as_deref()),
            ("bob", Some("Splunk_ML_Toolkit"))
        );
        assert_eq!(
            c.token.expose(),
            "sess-1",
            "the caller's token, not the system's"
        );
        assert!(!format!("{c:?}").contains("sess-1"));
        // A `-` user part is omitted by splunkd: the caller is the user.
        let c = CallerSession::from_request(&request(
            r#"{"method":"DELETE","ns":{"app":"a"},"session":{"user":"alice","authtoken":"t"}}"#,
        ))
        .unwrap();
        assert_eq!((c.user.as_str(), c.app.as_deref()), ("alice", Some("a")));
        // /services/...: no app, splunkd's default app of the caller.
        let c = CallerSession::from_request(&request(
            r#"{"method":"DELETE","session":{"user":"alice","authtoken":"t"}}"#,
        ))
        .unwrap();
        assert_eq!((c.user.as_str(), c.app), ("alice", None));
    }

    #[test]
    fn no_session_token_is_503_with_the_fix() {
        for json in [
            r#"{"method":"DELETE","system_authtoken":"sys"}"#,
            r#"{"method":"DELETE","session":{"user":"a"},"system_authtoken":"sys"}"#,
            r#"{"method":"DELETE","session":{"user":"a","authtoken":""}}"#,
        ] {
            let e = CallerSession::from_request(&request(json)).unwrap_err();
            assert_eq!(e.status(), 503);
            assert!(e.message.contains("passSession"), "{}", e.message);
        }
    }
}
