//! Injected failures, the tests' way to make the fake misbehave on purpose: the next N
//! requests (optionally only those whose path starts with a prefix) answer 401, 403, 409,
//! 429 with `Retry-After`, 500, or never answer at all. Checked before authentication, as a
//! failing front proxy or an overloaded server would answer.

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
}

impl FaultKind {
    /// The answer, or `None` for [`FaultKind::Hang`].
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
            FaultKind::Hang => return None,
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
}

/// The armed failures, first armed first used.
#[derive(Debug, Default)]
pub struct Faults(Mutex<Vec<Fault>>);

impl Faults {
    /// Arms `kind` for the next `count` requests under `path_prefix`.
    pub fn inject(&self, kind: FaultKind, count: usize, path_prefix: Option<&str>) {
        if let Ok(mut list) = self.0.lock() {
            list.push(Fault {
                kind,
                remaining: count,
                path_prefix: path_prefix.map(str::to_string),
            });
        }
    }

    /// Disarms everything.
    pub fn clear(&self) {
        if let Ok(mut list) = self.0.lock() {
            list.clear();
        }
    }

    /// The failure for a request to `path`, using one of its count.
    pub fn take(&self, path: &str) -> Option<FaultKind> {
        let mut list = self.0.lock().ok()?;
        let at = list.iter().position(|f| {
            f.remaining > 0 && f.path_prefix.as_deref().is_none_or(|p| path.starts_with(p))
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
        assert_eq!(f.take("/version"), Some(FaultKind::TooManyRequests(1)));
        assert_eq!(f.take("/version"), None);
        assert_eq!(f.take("/api/v1/namespaces/x"), Some(FaultKind::Internal));
        assert_eq!(f.take("/api/v1/namespaces"), Some(FaultKind::Internal));
        assert_eq!(f.take("/api/v1/namespaces"), None);
        f.inject(FaultKind::Hang, 1, None);
        assert_eq!(f.take("/x").unwrap().reply(), None);
        f.inject(FaultKind::Conflict, 5, None);
        f.clear();
        assert_eq!(f.take("/x"), None);
        assert_eq!(FaultKind::Forbidden.reply().unwrap().code, 403);
    }
}
