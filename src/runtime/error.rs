//! What a runtime call can fail with, by meaning rather than by HTTP status, so the start
//! logic asks "was the name taken" and not "was it a 409". The one translation into an API
//! error (and so a status) is [`From<RuntimeError> for ApiError`](ApiError).

use crate::error::{ApiError, ErrorKind};
use std::fmt;

/// The meaning of a runtime failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The name is taken (a create lost to another, or a leftover holds it).
    AlreadyExists,
    /// No such workload, image or network.
    NotFound,
    /// The workload's current state or set-up forbids this (removal under way, a logging
    /// driver that cannot be read back).
    Conflict,
    /// The runtime cannot be reached (socket missing, connection refused).
    Unreachable,
    /// The runtime did not answer within the call's bound.
    Timeout,
    /// The runtime answered, and refused (TLS failed, a server error, not a runtime at all).
    Refused,
    /// This build or this runtime cannot do it.
    Unsupported,
    /// The saved connection cannot be used as it is (an unusable PEM, a bad URL).
    BadSettings,
}

/// A runtime failure: its meaning and a message that says what to fix (never a secret).
#[derive(Debug, Clone)]
pub struct RuntimeError {
    /// What it means, which decides the status.
    pub kind: Failure,
    /// Human-readable text.
    pub message: String,
}

impl RuntimeError {
    /// A failure of `kind`.
    pub fn new(kind: Failure, message: impl Into<String>) -> RuntimeError {
        RuntimeError {
            kind,
            message: message.into(),
        }
    }
}

impl fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RuntimeError {}

impl From<RuntimeError> for ApiError {
    fn from(e: RuntimeError) -> ApiError {
        let kind = match e.kind {
            Failure::AlreadyExists | Failure::Conflict => ErrorKind::Conflict,
            Failure::NotFound => ErrorKind::NotFound,
            Failure::Unreachable => ErrorKind::Unavailable,
            Failure::Timeout => ErrorKind::Timeout,
            Failure::Refused => ErrorKind::BadGateway,
            Failure::Unsupported => ErrorKind::NotImplemented,
            Failure::BadSettings => ErrorKind::BadRequest,
        };
        ApiError::new(kind, e.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_meaning_has_its_status() {
        let status = |k| ApiError::from(RuntimeError::new(k, "x")).status();
        assert_eq!(status(Failure::AlreadyExists), 409);
        assert_eq!(status(Failure::Conflict), 409);
        assert_eq!(status(Failure::NotFound), 404);
        assert_eq!(status(Failure::Unreachable), 503);
        assert_eq!(status(Failure::Timeout), 504);
        assert_eq!(status(Failure::Refused), 502);
        assert_eq!(status(Failure::Unsupported), 501);
        assert_eq!(status(Failure::BadSettings), 400);
    }
}
