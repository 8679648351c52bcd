//! One request from block to reply: parse, route, run the endpoint, render, log.
//! Nothing here can fail the process: every failure becomes a reply with a status.

use crate::config::DriverConfig;
use crate::endpoints;
use crate::error::ApiError;
use crate::log::{Logger, fault};
use crate::protocol::reply::Reply;
use crate::protocol::request::Request;
use crate::router;
use serde_json::{Map, Value};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

/// What endpoints may use besides the request: the process configuration.
pub struct Context {
    /// Settings from the environment.
    pub config: DriverConfig,
}

impl Context {
    /// The store client for this request: splunkd at `server.rest_uri` with the request's
    /// system token, in this app's namespace. 503 when the request lacks either.
    pub fn store(&self, req: &Request) -> Result<crate::splunkd::SplunkdClient, ApiError> {
        crate::splunkd::SplunkdClient::from_request(req, &self.config)
    }

    /// The absolute URL the request was made to, for feed ids.
    pub fn origin(&self, req: &Request) -> String {
        let base = req
            .server
            .as_ref()
            .and_then(|s| s.rest_uri.as_deref())
            .unwrap_or("https://127.0.0.1:8089")
            .trim_end_matches('/');
        let ns = match &req.ns {
            Some(ns) => format!(
                "/servicesNS/{}/{}",
                ns.user.as_deref().unwrap_or("-"),
                ns.app.as_deref().unwrap_or("-")
            ),
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
            ctx: Context { config },
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

    fn handle(&mut self, block: &[u8]) -> (Reply, Option<Request>) {
        let req = match Request::parse(block) {
            Ok(r) => r,
            Err(e) => {
                let err = ApiError::bad_request(e.0);
                return (Reply::error(&err, sniff_json(block)), None);
            }
        };
        let json = req.wants_json();
        let result = router::route(&req.method, &req.mltk_path()).and_then(|route| {
            self.runtime
                .block_on(endpoints::handle(&self.ctx, &req, route))
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

/// For a block that did not parse, guesses whether the caller wanted JSON.
fn sniff_json(block: &[u8]) -> bool {
    serde_json::from_slice::<Value>(block)
        .ok()
        .and_then(|v| v.get("output_mode")?.as_str().map(|m| m == "json"))
        .unwrap_or(false)
}
