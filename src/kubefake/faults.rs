//! Injected failures, the tests' way to make the fake misbehave on purpose: the next N
//! requests (optionally only those with one method, and whose path starts with a prefix)
//! answer 401, 403, 409, 429 with `Retry-After`, 500, answer late, or never answer at all.
//! Checked before authentication, as a failing front proxy or an overloaded server would
//! answer.

use super::status::{self, Reply};
use std::sync::Mutex;

/// What an injected failure does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultKind {
    /// 401 Unauthorized.
    Unauthorized,
    /// 403 Forbidden.
    Forbidden,
    /// 409 Conflict.
    Conflict,
    /// 429 with `Retry-After` in seconds.
    TooManyRequests(u64),
    /// 500 InternalError.
    Internal,
    /// No answer, ever (the connection stays open).
    Hang,
    /// The normal answer, this late.
    Delay(std::time::Duration),
}

impl FaultKind {
    /// The answer, or `None` for [`FaultKind::Hang`] and [`FaultKind::Delay`] (which answers
    /// normally, later).
    pub fn reply(&self) -> Option<Reply> {
        Some(match self {
            FaultKind::Unauthorized => status::unauthorized(),
            FaultKind::Forbidden => status::failure(
                403,
                "Forbidden",
                "forbidden: injected by the fake API server",
                None,
            ),
            FaultKind::Conflict => {
                status::conflict("Operation cannot be fulfilled: injected by the fake API server")
            }
            FaultKind::TooManyRequests(secs) => status::too_many_requests(*secs),
            FaultKind::Internal => status::internal("injected by the fake API server"),
            FaultKind::Hang | FaultKind::Delay(_) => return None,
        })
    }
}

/// One armed failure.
#[derive(Debug, Clone)]
pub struct Fault {
    /// What happens.
    pub kind: FaultKind,
    /// How many more requests it applies to.
    pub remaining: usize,
    /// Only paths starting with this (all when `None`).
    pub path_prefix: Option<String>,
    /// Only requests with this method (all when `None`).
    pub method: Option<String>,
}

/// The armed failures, first armed first used.
#[derive(Debug, Default)]
pub struct Faults(Mutex<Vec<Fault>>);

impl Faults {
    /// Arms `kind` for the next `count` requests under `path_prefix`.
    pub fn inject(&self, kind: FaultKind, count: usize, path_prefix: Option<&str>) {
        self.inject_on(kind, count, None, path_prefix);
    }

    /// Arms `kind` for the next `count` `method` requests (any when `None`) under
    /// `path_prefix`: e.g. only the PATCHes of deployments.
    pub fn inject_on(
        &self,
        kind: FaultKind,
        count: usize,
        method: Option<&str>,
        path_prefix: Option<&str>,
    ) {
        if let Ok(mut list) = self.0.lock() {
            list.push(Fault {
                kind,
                remaining: count,
                path_prefix: path_prefix.map(str::to_string),
                method: method.map(str::to_ascii_uppercase),
            });
        }
    }

    /// Disarms everything.
    pub fn clear(&self) {
        if let Ok(mut list) = self.0.lock() {
            list.clear();
        }
    }

    /// The failure for a `method` request to `path`, using one of its count.
    pub fn take(&self, method: &str, path: &str) -> Option<FaultKind> {
        let mut list = self.0.lock().ok()?;
        let at = list.iter().position(|f| {
            f.remaining > 0
                && f.path_prefix.as_deref().is_none_or(|p| path.starts_with(p))
                && f.method.as_deref().is_none_or(|m| m == method)
        })?;
        let fault = &mut list[at];
        fault.remaining -= 1;
        let kind = fault.kind.clone();
        if fault.remaining == 0 {
            list.remove(at);
        }
        Some(kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_down_by_prefix() {
        let f = Faults::default();
        f.inject(FaultKind::Internal, 2, Some("/api/v1/namespaces"));
        f.inject(FaultKind::TooManyRequests(1), 1, None);
        assert_eq!(
            f.take("GET", "/version"),
            Some(FaultKind::TooManyRequests(1))
        );
        assert_eq!(f.take("GET", "/version"), None);
        assert_eq!(
            f.take("GET", "/api/v1/namespaces/x"),
            Some(FaultKind::Internal)
        );
        assert_eq!(
            f.take("GET", "/api/v1/namespaces"),
            Some(FaultKind::Internal)
        );
        assert_eq!(f.take("GET", "/api/v1/namespaces"), None);
        f.inject(FaultKind::Hang, 1, None);
        assert_eq!(f.take("GET", "/x").unwrap().reply(), None);
        f.inject(FaultKind::Conflict, 5, None);
        f.clear();
        assert_eq!(f.take("GET", "/x"), None);
        assert_eq!(FaultKind::Forbidden.reply().unwrap().code, 403);
    }

    #[test]
    fn targets_a_method() {
        let f = Faults::default();
        let deployments = "/apis/apps/v1/namespaces/dsdl/deployments";
        f.inject_on(FaultKind::Internal, 1, Some("patch"), Some(deployments));
        assert_eq!(f.take("GET", &format!("{deployments}/m")), None);
        assert_eq!(f.take("PATCH", "/api/v1/namespaces/dsdl/services/m"), None);
        assert_eq!(
            f.take("PATCH", &format!("{deployments}/m")),
            Some(FaultKind::Internal)
        );
        assert_eq!(f.take("PATCH", &format!("{deployments}/m")), None);
        let late = FaultKind::Delay(std::time::Duration::from_millis(5));
        assert_eq!(late.reply(), None);
    }
}
