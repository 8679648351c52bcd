//! The driver's own capability check for mutating calls. splunkd checks restmap's
//! `capability.<method>` on the stanza it matched, and picks that stanza by prefix on the raw
//! path; the driver therefore asks splunkd who the caller is
//! (`authentication/current-context`, with the caller's session key) and checks the
//! capability the endpoint table ([`crate::router::ENDPOINTS`]) requires, whatever stanza
//! the request came through.
//!
//! splunkd's answers are reused for a short time per session key ([`crate::callers`]), so a
//! capability taken away takes effect here within [`crate::callers::TTL`] (splunkd's own
//! restmap check applies at once).

use crate::context::Context;
use crate::error::{ApiError, ErrorKind};
use crate::protocol::request::Request;
use crate::router::{self, Route};
use crate::splunkd::CurrentContext;

/// Checks that the caller holds the capability a mutating `method` on `route` requires.
/// Reads pass: splunkd's restmap check stands for them, and [`router::check_path`] keeps
/// every request on the stanza that belongs to it.
pub async fn authorize(ctx: &Context, req: &Request, route: &Route) -> Result<(), ApiError> {
    if !router::is_mutating(&req.method) {
        return Ok(());
    }
    let Some(capability) = router::required_capability(&req.method, route) else {
        return Ok(());
    };
    let result = match ctx.caller(req).await {
        Ok(caller) => decide(&caller, &req.method, &req.mltk_path(), capability),
        Err(e) => Err(e),
    };
    // The AI Toolkit's UI and scripts read `message` and `status` beside `messages`.
    result.map_err(ApiError::toolkit_failure_own_text)
}

/// The 403 for a caller without `capability`, naming it; `Ok` when the caller holds it.
pub fn decide(
    caller: &CurrentContext,
    method: &str,
    path: &str,
    capability: &str,
) -> Result<(), ApiError> {
    if caller.has(capability) {
        return Ok(());
    }
    Err(ApiError::new(
        ErrorKind::Forbidden,
        format!(
            "You (user={}) do not have permission to perform this operation: {method} {} \
             requires the capability {capability}.",
            caller.username,
            crate::names::excerpt(path, 200)
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(name: &str, caps: &[&str]) -> CurrentContext {
        CurrentContext::of(name, caps)
    }

    #[test]
    fn decide_names_the_missing_capability() {
        let viewer = caller("viewer", &["list_containers", "admin_all_objects"]);
        assert!(decide(&viewer, "POST", "/mltk/container_logs", "list_containers").is_ok());
        let e = decide(
            &viewer,
            "POST",
            "/mltk/start_container",
            "control_containers",
        )
        .unwrap_err();
        assert_eq!(e.status(), 403);
        assert!(
            e.message
                .contains("requires the capability control_containers")
                && e.message.contains("user=viewer")
                && e.message.contains("POST /mltk/start_container"),
            "{}",
            e.message
        );
    }
}
