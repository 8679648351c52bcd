//! One request from block to reply: parse, route, run the endpoint, render, log.
//! Nothing here can fail the process: every failure becomes a reply with a status.

use crate::authz::{self, ContextCache};
use crate::config::{DriverConfig, ToolkitMode};
use crate::endpoints;
use crate::error::{ApiError, ErrorKind};
use crate::log::{Logger, fault};
use crate::protocol::frame::Oversized;
use crate::protocol::reply::Reply;
use crate::protocol::request::Request;
use crate::router;
use crate::splunkd::{CurrentContext, SplunkdClient, SplunkdConfig};
use crate::toolkit;
use serde_json::{Map, Value};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

/// What endpoints may use besides the request: the process configuration, and what is
/// built from it once per process.
pub struct Context {
    /// Settings from the environment.
    pub config: DriverConfig,
    /// TLS settings for splunkd (from `config.splunkd_ca`), built on first use and kept so
    /// later requests skip reading the CA bundle and can resume their TLS sessions. Only a
    /// cache: nothing depends on it surviving, and each process builds its own.
    tls: OnceLock<rustls::ClientConfig>,
    /// The last answer to "is the AI Toolkit installed?" (auto mode).
    toolkit_seen: toolkit::Detection,
    /// Who recent callers are, per session key (see [`authz`]); also only a cache.
    callers: ContextCache,
}

impl Context {
    /// The context of a driver process with these settings.
    pub fn new(config: DriverConfig) -> Context {
        Context {
            config,
            tls: OnceLock::new(),
            toolkit_seen: toolkit::Detection::default(),
            callers: ContextCache::default(),
        }
    }

    /// TLS settings for splunkd, built on first use (see `tls`).
    fn tls(&self, config: &SplunkdConfig) -> Result<rustls::ClientConfig, ApiError> {
        match self.tls.get() {
            Some(tls) => Ok(tls.clone()),
            None => {
                let built = crate::splunkd::tls::client_config(config.ca_file.as_deref())?;
                Ok(self.tls.get_or_init(|| built).clone())
            }
        }
    }

    /// The store client for this request: splunkd at `server.rest_uri` with the request's
    /// system token, in the namespace the stores live in ([`Context::toolkit_mode`]). 503 when
    /// the request lacks either, or when the CA bundle cannot be used (tried again on the
    /// next request).
    pub async fn store(&self, req: &Request) -> Result<SplunkdClient, ApiError> {
        let config = SplunkdConfig::from_request(req, &self.config)?;
        let tls = self.tls(&config)?;
        let config = if self.toolkit_mode(&config, &tls).await? {
            SplunkdConfig {
                app: toolkit::APP.to_string(),
                ..config
            }
        } else {
            config
        };
        SplunkdClient::with_tls(&config, tls)
    }

    /// Whether the stores live in the AI Toolkit's namespace: as `DSDL_TOOLKIT_MODE` says, and
    /// in `auto` mode when splunkd has the toolkit installed and enabled (asked at most once
    /// a minute per process; only then is a client built for the question).
    async fn toolkit_mode(
        &self,
        config: &SplunkdConfig,
        tls: &rustls::ClientConfig,
    ) -> Result<bool, ApiError> {
        match self.config.toolkit {
            ToolkitMode::On => Ok(true),
            ToolkitMode::Off => Ok(false),
            ToolkitMode::Auto => {
                if let Some(known) = self.toolkit_seen.fresh(Instant::now()) {
                    return Ok(known);
                }
                let installed = SplunkdClient::with_tls(config, tls.clone())?
                    .app_enabled(toolkit::APP)
                    .await?;
                self.toolkit_seen.remember(Instant::now(), installed);
                Ok(installed)
            }
        }
    }

    /// Who the caller is, as splunkd answers `authentication/current-context` for the
    /// request's session key; reused for the same key for a short time (see [`authz`]).
    pub async fn caller(&self, req: &Request) -> Result<Arc<CurrentContext>, ApiError> {
        let config = SplunkdConfig::for_caller(req, &self.config)?;
        if let Some(known) = self.callers.get(&config.token, Instant::now()) {
            return Ok(known);
        }
        let client = SplunkdClient::with_tls(&config, self.tls(&config)?)?;
        let context = client.current_context().await?;
        Ok(self.callers.insert(&config.token, context, Instant::now()))
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

/// Serves requests for one driver process.
pub struct Service {
    ctx: Context,
    log: Logger,
    runtime: tokio::runtime::Runtime,
}

impl Service {
    /// Builds the service; fails only if the async runtime cannot start.
    pub fn new(config: DriverConfig, log: Logger) -> std::io::Result<Service> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(Service {
            ctx: Context::new(config),
            log,
            runtime,
        })
    }

    /// Handles one data block and returns the reply JSON bytes. A panic in an endpoint is
    /// caught and answered with a 500 so the framing stays in step.
    pub fn handle_block(&mut self, block: &[u8]) -> Vec<u8> {
        let started = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| self.handle(block)));
        let (reply, req) = outcome.unwrap_or_else(|_| {
            fault("an endpoint panicked; answered 500");
            let e = ApiError::internal("Internal error in dsdl-handler; see splunkd.log.");
            (Reply::error(&e, sniff_json(block)), None)
        });
        self.log_request(req.as_ref(), &reply, started);
        reply.to_bytes()
    }

    /// Answers a data block the frame reader dropped for being over the cap: 413, in JSON
    /// when the block's head shows the caller asked for it. The process keeps serving.
    pub fn oversized_block(&mut self, block: &Oversized) -> Vec<u8> {
        let e = ApiError::new(
            ErrorKind::PayloadTooLarge,
            format!(
                "The request is too large: splunkd passed it as {} bytes, over this handler's \
                 limit of {} bytes per request. Send a smaller body.",
                block.len, block.max
            ),
        );
        let reply = Reply::error(&e, head_wants_json(&block.head));
        let mut f = Map::new();
        f.insert("status".into(), Value::from(reply.status));
        f.insert("block_bytes".into(), Value::from(block.len));
        self.log.event("WARN", "request", f);
        reply.to_bytes()
    }

    fn handle(&mut self, block: &[u8]) -> (Reply, Option<Request>) {
        let req = match Request::parse(block) {
            Ok(r) => r,
            Err(e) => {
                let err = ApiError::bad_request(e.0);
                return (Reply::error(&err, sniff_json(block)), None);
            }
        };
        let json = req.wants_json();
        let result = router::check_path(req.rest_path.as_deref(), req.path_info.as_deref())
            .and_then(|()| router::route(&req.method, &req.mltk_path()))
            .and_then(|route| {
                self.runtime.block_on(async {
                    authz::authorize(&self.ctx, &req, &route).await?;
                    endpoints::handle(&self.ctx, &req, route).await
                })
            });
        (Reply::render(result, json), Some(req))
    }

    fn log_request(&mut self, req: Option<&Request>, reply: &Reply, started: Instant) {
        let mut f = Map::new();
        if let Some(r) = req {
            f.insert("method".into(), Value::String(r.method.clone()));
            f.insert("path".into(), Value::String(r.mltk_path()));
            if let Some(u) = r.user() {
                f.insert("user".into(), Value::String(u.into()));
            }
        }
        f.insert("status".into(), Value::from(reply.status));
        f.insert(
            "duration_us".into(),
            Value::from(started.elapsed().as_micros() as u64),
        );
        let level = if reply.status >= 500 { "ERROR" } else { "INFO" };
        self.log.event(level, "request", f);
    }
}

/// For the head of a block too large to parse, whether it asks for JSON: splunkd writes
/// `output_mode` near the start of the request JSON, before the query, form and payload.
/// The string `"output_mode"` followed by `:` is the key (in a query or form pair it is
/// followed by `,`).
fn head_wants_json(head: &[u8]) -> bool {
    const KEY: &[u8] = b"\"output_mode\"";
    head.windows(KEY.len())
        .enumerate()
        .filter(|(_, w)| *w == KEY)
        .find_map(|(at, _)| head[at + KEY.len()..].trim_ascii_start().strip_prefix(b":"))
        .is_some_and(|v| v.trim_ascii_start().starts_with(b"\"json\""))
}

/// For a block that did not parse, guesses whether the caller wanted JSON.
fn sniff_json(block: &[u8]) -> bool {
    serde_json::from_slice::<Value>(block)
        .ok()
        .and_then(|v| v.get("output_mode")?.as_str().map(|m| m == "json"))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_output_mode_of_an_oversized_block_comes_from_its_head() {
        assert!(head_wants_json(
            br#"{"method":"POST","rest_path":"/mltk/x","output_mode":"json","form":[["a","#
        ));
        assert!(head_wants_json(br#"{"output_mode" : "json""#));
        assert!(head_wants_json(
            br#"{"query":[["output_mode","xml"]],"output_mode":"json""#
        ));
        for no in [
            &br#"{"method":"POST","output_mode":"xml","form":[["output_mode","json"]]"#[..],
            br#"{"method":"POST","form":[["a","#,
            br#"{"output_mode""#,
            b"",
        ] {
            assert!(!head_wants_json(no), "{}", String::from_utf8_lossy(no));
        }
    }

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
}
