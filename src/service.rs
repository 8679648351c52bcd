//! One request from block to reply: parse, route, run the endpoint, render, log.
//! Nothing here can fail the process: every failure becomes a reply with a status.

use crate::authz;
use crate::config::DriverConfig;
use crate::context::Context;
use crate::endpoints;
use crate::error::{ApiError, ErrorKind};
use crate::log::{Logger, RequestFields, fault};
use crate::protocol::frame::Oversized;
use crate::protocol::reply::Reply;
use crate::protocol::request::Request;
use crate::router;
use serde_json::{Map, Value};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

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
