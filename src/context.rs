//! What every endpoint may use besides the request: the process configuration and what is
//! built from it once per process (the splunkd TLS settings, the toolkit detection, the
//! caller cache). Its own module so that endpoints and the service both depend on it and
//! neither on the other.

use crate::callers::CallerCache;
use crate::config::{DriverConfig, ToolkitMode};
use crate::error::ApiError;
use crate::protocol::request::Request;
use crate::splunkd::{CallerSession, CurrentContext, Pool, SplunkdClient, SplunkdConfig};
use crate::toolkit;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

/// What endpoints may use besides the request: the process configuration, and what is
/// built from it once per process.
pub struct Context {
    /// Settings from the environment.
    pub config: DriverConfig,
    /// The connection pool for splunkd (TLS from `config.splunkd_ca`), built on first use and
    /// kept so later requests reuse idle connections (no new connection, no TLS handshake)
    /// and skip reading the CA bundle. It holds no credentials: each call carries the
    /// request's own. Only a cache: nothing depends on it surviving, and each process builds
    /// its own.
    pool: OnceLock<Pool>,
    /// The last answer to "is the AI Toolkit installed?" (auto mode).
    toolkit_seen: toolkit::Detection,
    /// Who recent callers are, per session key (see [`crate::callers`]); also only a cache.
    callers: CallerCache,
}

impl Context {
    /// The context of a driver process with these settings.
    pub fn new(config: DriverConfig) -> Context {
        Context {
            config,
            pool: OnceLock::new(),
            toolkit_seen: toolkit::Detection::default(),
            callers: CallerCache::default(),
        }
    }

    /// The pool for splunkd, built on first use (see `pool`). The CA bundle and the connect
    /// bound come from the process configuration, the same for every request.
    fn pool(&self, config: &SplunkdConfig) -> Result<Pool, ApiError> {
        match self.pool.get() {
            Some(pool) => Ok(pool.clone()),
            None => {
                let tls = crate::splunkd::trust::client_config(config.ca_file.as_deref())?;
                let built = crate::splunkd::pool(tls, config.timeout);
                Ok(self.pool.get_or_init(|| built).clone())
            }
        }
    }

    /// The store client for this request: splunkd at `server.rest_uri` with the request's
    /// system token, in the namespace the stores live in ([`Context::toolkit_mode`]). 503 when
    /// the request lacks either, or when the CA bundle cannot be used (tried again on the
    /// next request).
    pub async fn store(&self, req: &Request) -> Result<SplunkdClient, ApiError> {
        let config = SplunkdConfig::from_request(req, &self.config)?;
        let pool = self.pool(&config)?;
        let config = if self.toolkit_mode(&config, &pool).await? {
            SplunkdConfig {
                app: toolkit::APP.to_string(),
                ..config
            }
        } else {
            config
        };
        SplunkdClient::on_pool(&config, pool)
    }

    /// Whether the stores live in the AI Toolkit's namespace: as `DSDL_TOOLKIT_MODE` says, and
    /// in `auto` mode when splunkd has the toolkit installed and enabled (asked at most once
    /// a minute per process; only then is a client built for the question).
    async fn toolkit_mode(&self, config: &SplunkdConfig, pool: &Pool) -> Result<bool, ApiError> {
        match self.config.toolkit {
            ToolkitMode::On => Ok(true),
            ToolkitMode::Off => Ok(false),
            ToolkitMode::Auto => {
                if let Some(known) = self.toolkit_seen.fresh(Instant::now()) {
                    return Ok(known);
                }
                let installed = SplunkdClient::on_pool(config, pool.clone())?
                    .app_enabled(toolkit::APP)
                    .await?;
                self.toolkit_seen.remember(Instant::now(), installed);
                Ok(installed)
            }
        }
    }

    /// Who the caller is, as splunkd answers `authentication/current-context` for the
    /// request's session key; reused for the same key for a short time (see [`crate::callers`]).
    pub async fn caller(&self, req: &Request) -> Result<Arc<CurrentContext>, ApiError> {
        let config = SplunkdConfig::caller_only(req, &self.config)?;
        let caller = CallerSession::to_check(req)?;
        if let Some(known) = self.callers.get(&caller.token, Instant::now()) {
            return Ok(known);
        }
        let client = SplunkdClient::on_pool(&config, self.pool(&config)?)?;
        let context = client.current_context(&caller).await?;
        Ok(self.callers.insert(&caller.token, context, Instant::now()))
    }

    /// The absolute URL the request was made to, for feed ids.
    pub fn origin(&self, req: &Request) -> String {
        let base = req
            .server
            .as_ref()
            .and_then(|s| s.rest_uri.as_deref())
            .unwrap_or("https://127.0.0.1:8089")
            .trim_end_matches('/');
        let part = |p: &Option<String>| match p.as_deref() {
            Some(p) => percent_encoding::utf8_percent_encode(p, crate::render::SEGMENT).to_string(),
            None => "-".to_string(),
        };
        let ns = match &req.ns {
            Some(ns) => format!("/servicesNS/{}/{}", part(&ns.user), part(&ns.app)),
            None => "/services".into(),
        };
        format!("{base}{ns}{}", req.mltk_path())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_encodes_the_namespace_parts() {
        let req = Request::parse(
            br#"{"method":"GET","rest_path":"/mltk","ns":{"user":"a b/c","app":"dsdl"},
                "server":{"rest_uri":"https://h:8089/"}}"#,
        )
        .unwrap();
        let ctx = Context::new(DriverConfig::from_lookup(|_| None, None).0);
        assert_eq!(
            ctx.origin(&req),
            "https://h:8089/servicesNS/a%20b%2Fc/dsdl/mltk"
        );
    }

    /// Asks who the caller of `request` is, on a splunkd that is not listening.
    fn ask(request: &str) -> ApiError {
        let req = Request::parse(request.as_bytes()).unwrap();
        let ctx = Context::new(DriverConfig::from_lookup(|_| None, None).0);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(ctx.caller(&req)).unwrap_err()
    }

    #[test]
    fn a_session_key_that_cannot_be_sent_is_named_as_the_callers() {
        let e = ask(
            r#"{"method":"POST","server":{"rest_uri":"http://127.0.0.1:1"},
                "system_authtoken":"sys","session":{"user":"u","authtoken":"line\nbreak"}}"#,
        );
        assert_eq!(e.status(), 503);
        assert!(
            e.message.starts_with("The caller's session token"),
            "{}",
            e.message
        );
        assert!(!e.message.contains("break"), "{}", e.message);
    }

    #[test]
    fn the_caller_is_asked_about_without_a_system_token() {
        // splunkd is asked (and found not listening): no system token is needed for it.
        let e = ask(
            r#"{"method":"POST","server":{"rest_uri":"http://127.0.0.1:1"},
                "session":{"user":"u","authtoken":"k"}}"#,
        );
        assert_eq!(e.status(), 503);
        assert!(e.message.contains("cannot be reached"), "{}", e.message);
    }
}
