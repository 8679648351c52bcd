//! One request from block to reply: parse, route, run the endpoint, render, log.
//! Nothing here can fail the process: every failure becomes a reply with a status.

use crate::audit;
use crate::authz;
use crate::config::DriverConfig;
use crate::context::Context;
use crate::endpoints;
use crate::error::{ApiError, ErrorKind};
use crate::log::{Logger, RequestFields, fault};
use crate::protocol::frame::Oversized;
use crate::protocol::reply::Reply;
use crate::protocol::request::Request;
use crate::router::{self, Route};
use serde_json::{Map, Value};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

/// Serves requests for one driver process.
pub struct Service {
    ctx: Context,
    log: Logger,
    /// The audit trail ([`audit`]), in its own file.
    audit: Logger,
    runtime: tokio::runtime::Runtime,
}

impl Service {
    /// Builds the service; fails only if the async runtime cannot start.
    pub fn new(config: DriverConfig, log: Logger) -> std::io::Result<Service> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(Service {
            audit: Logger::open(config.audit_file.as_deref()),
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
        let (reply, req, audited) = outcome.unwrap_or_else(|_| {
            fault("an endpoint panicked; answered 500");
            let e = ApiError::internal("Internal error in dsdl-handler; see splunkd.log.");
            (Reply::error(&e, sniff_json(block)), None, None)
        });
        if let Some(mut event) = audited {
            event.duration_ms = started.elapsed().as_millis() as u64;
            event.time = audit::now();
            self.audit.line(&event);
        }
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

    /// The reply, the request when it parsed, and the audit event of a call that changes
    /// something (all but its time and duration).
    fn handle(&mut self, block: &[u8]) -> (Reply, Option<Request>, Option<audit::Event>) {
        let req = match Request::parse(block) {
            Ok(r) => r,
            Err(e) => {
                let err = ApiError::bad_request(e.0);
                return (Reply::error(&err, sniff_json(block)), None, None);
            }
        };
        let json = req.wants_json();
        let route = router::check_path(req.rest_path.as_deref(), req.path_info.as_deref())
            .and_then(|()| router::route(&req.method, &req.mltk_path()));
        let (result, audited) = self.runtime.block_on(async {
            let result = match &route {
                Ok(route) => match authz::authorize(&self.ctx, &req, route).await {
                    Ok(()) => endpoints::handle(&self.ctx, &req, route.clone()).await,
                    Err(e) => Err(e),
                },
                Err(e) => Err(e.clone()),
            };
            let route = route.as_ref().ok();
            let audited = if audit::audited(&req.method, route) {
                Some(self.audit_event(&req, route, &result).await)
            } else {
                None
            };
            (result, audited)
        });
        (Reply::render(result, json), Some(req), audited)
    }

    /// The audit event of a call, with the caller's roles (splunkd's answer is usually
    /// cached from the capability check).
    async fn audit_event(
        &self,
        req: &Request,
        route: Option<&Route>,
        result: &Result<crate::protocol::reply::Outcome, ApiError>,
    ) -> audit::Event {
        let mut event = audit::event(req, route, result);
        event.request_id = audit::request_id();
        if let Ok(caller) = self.ctx.caller(req).await {
            event.roles = caller.roles.clone();
            if event.user.is_empty() {
                event.user = caller.username.clone();
            }
        }
        event
    }

    fn log_request(&mut self, req: Option<&Request>, reply: &Reply, started: Instant) {
        let fields = RequestFields {
            method: req.map(|r| r.method.as_str()),
            path: req.map(Request::mltk_path),
            user: req.and_then(Request::user),
            status: reply.status,
            duration_us: started.elapsed().as_micros() as u64,
        };
        let level = if reply.status >= 500 { "ERROR" } else { "INFO" };
        self.log.request(level, &fields);
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
}
