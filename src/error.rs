//! Typed API errors and the one place they become HTTP statuses.

use serde_json::{Map, Value};
use std::fmt;

/// What went wrong, which decides the HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The caller sent something invalid (400).
    BadRequest,
    /// The caller may not do this (403).
    Forbidden,
    /// No such endpoint or object (404).
    NotFound,
    /// The endpoint exists but not for this method (405).
    MethodNotAllowed,
    /// The request conflicts with current state (409).
    Conflict,
    /// The request is over a size cap (413).
    PayloadTooLarge,
    /// A runtime (Docker, Kubernetes) answered with an error (502).
    BadGateway,
    /// splunkd or a runtime could not be reached (503).
    Unavailable,
    /// A runtime did not answer in time (504).
    Timeout,
    /// The endpoint is known but not built yet (501).
    NotImplemented,
    /// A bug in this program (500).
    Internal,
}

impl ErrorKind {
    /// The HTTP status for this kind; the only mapping in the code base.
    pub fn status(self) -> u16 {
        match self {
            ErrorKind::BadRequest => 400,
            ErrorKind::Forbidden => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::MethodNotAllowed => 405,
            ErrorKind::Conflict => 409,
            ErrorKind::PayloadTooLarge => 413,
            ErrorKind::Internal => 500,
            ErrorKind::NotImplemented => 501,
            ErrorKind::BadGateway => 502,
            ErrorKind::Unavailable => 503,
            ErrorKind::Timeout => 504,
        }
    }
}

/// An error reply: a kind, a message that tells the user what to fix, extra headers (such as
/// `Allow`), and the AI Toolkit's legacy keys kept beside Splunk's `messages` for old clients.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// Decides the status.
    pub kind: ErrorKind,
    /// Human-readable text; never holds a secret.
    pub message: String,
    /// Extra reply headers.
    pub headers: Vec<(String, String)>,
    /// Legacy body keys (`message`, `status`, `updated_config`, ...) for AI Toolkit clients.
    pub legacy: Option<Box<Map<String, Value>>>,
}

impl ApiError {
    /// An error of `kind` with a message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ApiError {
            kind,
            message: message.into(),
            headers: Vec::new(),
            legacy: None,
        }
    }

    /// 400 with a message saying what to fix.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadRequest, message)
    }

    /// 404 with a message naming what was not found.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    /// 409 with a message naming the conflict.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }

    /// 500 for a bug.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    /// 503: a backend could not be reached.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, message)
    }

    /// 405 naming the methods the path does accept.
    pub fn method_not_allowed(method: &str, path: &str, allow: &[&str]) -> Self {
        let allow = allow.join(", ");
        let mut e = Self::new(
            ErrorKind::MethodNotAllowed,
            format!("Method {method} is not allowed on {path}; use one of: {allow}."),
        );
        e.headers.push(("Allow".into(), allow));
        e
    }

    /// Adds a legacy body key.
    pub fn with_legacy(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.legacy
            .get_or_insert_with(Default::default)
            .insert(key.to_string(), value.into());
        self
    }

    /// Adds the AI Toolkit's failure keys beside Splunk's `messages`: `message` and
    /// `status: "fail"`, which its UI and scripts read.
    pub fn toolkit_failure(self, message: &str) -> Self {
        self.with_legacy("message", message.to_string())
            .with_legacy("status", "fail")
    }

    /// [`ApiError::toolkit_failure`] with the error's own text as `message`.
    pub fn toolkit_failure_own_text(self) -> Self {
        let text = self.message.clone();
        self.toolkit_failure(&text)
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.kind.status()
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.status())
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_distinct_and_in_range() {
        let kinds = [
            ErrorKind::BadRequest,
            ErrorKind::Forbidden,
            ErrorKind::NotFound,
            ErrorKind::MethodNotAllowed,
            ErrorKind::Conflict,
            ErrorKind::PayloadTooLarge,
            ErrorKind::BadGateway,
            ErrorKind::Unavailable,
            ErrorKind::Timeout,
            ErrorKind::NotImplemented,
            ErrorKind::Internal,
        ];
        let mut seen: Vec<u16> = kinds.iter().map(|k| k.status()).collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), kinds.len());
        assert!(seen.iter().all(|s| (400..600).contains(s)));
    }

    #[test]
    fn method_not_allowed_carries_allow() {
        let e = ApiError::method_not_allowed("PATCH", "/mltk/container_data", &["GET"]);
        assert_eq!(e.status(), 405);
        assert_eq!(e.headers, vec![("Allow".to_string(), "GET".to_string())]);
        assert!(e.message.contains("GET"));
    }

    #[test]
    fn failures_keep_the_toolkit_keys() {
        let e = ApiError::unavailable("splunkd is down")
            .toolkit_failure("Failed to read configuration.");
        assert_eq!(e.status(), 503);
        let legacy = e.legacy.expect("legacy keys");
        assert_eq!(legacy["message"], "Failed to read configuration.");
        assert_eq!(legacy["status"], "fail");
    }
}
