//! What a failed kube call means: the API server's own status (a `Status` object) keeps its
//! code and reason, and a call that never reached it says whether nothing answered, the
//! TLS handshake failed or the time ran out. Pure; the one place that reads `kube::Error`.

use crate::runtime::error::{Failure, RuntimeError};
use std::io::ErrorKind as Io;

/// A kube error, by meaning. `code` is the API server's HTTP status when it answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeFailure {
    /// The HTTP status the API server answered with, if it answered.
    pub code: Option<u16>,
    /// What happened, in words (never a credential).
    pub message: String,
    /// The meaning, which decides the status of the reply.
    pub kind: Failure,
}

impl KubeFailure {
    /// As a runtime error.
    pub fn into_runtime(self) -> RuntimeError {
        RuntimeError::new(self.kind, self.message)
    }
}

/// Reads `e`, which came from a call about `what` ("namespace dsdl").
pub fn classify(e: &kube::Error, what: &str) -> KubeFailure {
    match e {
        kube::Error::Api(status) => from_status(status.code, &status.reason, &status.message, what),
        other => from_transport(other, what),
    }
}

/// An answer of the API server.
pub fn from_status(code: u16, reason: &str, message: &str, what: &str) -> KubeFailure {
    let kind = match (code, reason) {
        (409, "AlreadyExists") => Failure::AlreadyExists,
        (409, _) | (422, _) => Failure::Conflict,
        (404, _) => Failure::NotFound,
        (400, _) => Failure::BadSettings,
        (504, _) => Failure::Timeout,
        // 401, 403, 429 and the rest of 5xx: the cluster refused.
        _ => Failure::Refused,
    };
    let text = match message.trim() {
        "" => reason.to_string(),
        m => m.to_string(),
    };
    KubeFailure {
        code: Some(code),
        message: format!("the API server answered {code} for {what}: {text}"),
        kind,
    }
}

/// `call` bounded by `limit`, its error read for `what` (running out of time is a
/// [`Failure::Timeout`]).
pub async fn within<T>(
    limit: std::time::Duration,
    what: &str,
    call: impl std::future::Future<Output = Result<T, kube::Error>>,
) -> Result<T, KubeFailure> {
    match tokio::time::timeout(limit, call).await {
        Ok(answer) => answer.map_err(|e| classify(&e, what)),
        Err(_) => Err(KubeFailure {
            code: None,
            message: format!(
                "the API server did not answer for {what} within {} ms",
                limit.as_millis()
            ),
            kind: Failure::Timeout,
        }),
    }
}

/// A call that got no answer: unreachable, a TLS failure, or out of time.
fn from_transport(e: &kube::Error, what: &str) -> KubeFailure {
    let failure = |kind, message: String| KubeFailure {
        code: None,
        message,
        kind,
    };
    if let Some(tls) = crate::tls::find_rustls_error(e) {
        return failure(
            Failure::Refused,
            format!("{what}: {}", crate::tls::explain(tls)),
        );
    }
    let causes = crate::tls::causes(e);
    match io_kind(e) {
        Some(Io::TimedOut) => failure(
            Failure::Timeout,
            format!("the API server did not answer in time for {what}"),
        ),
        Some(
            Io::ConnectionRefused
            | Io::ConnectionReset
            | Io::ConnectionAborted
            | Io::NotConnected
            | Io::AddrNotAvailable
            | Io::HostUnreachable
            | Io::NetworkUnreachable,
        ) => failure(
            Failure::Unreachable,
            format!("the API server cannot be reached for {what}: {causes}"),
        ),
        _ if causes.contains("dns error") || causes.contains("failed to lookup") => failure(
            Failure::Unreachable,
            format!("the API server's host name does not resolve ({what}): {causes}"),
        ),
        _ if matches!(e, kube::Error::Auth(_)) => failure(
            Failure::BadSettings,
            format!("the credentials cannot be used for {what}: {causes}"),
        ),
        _ => failure(
            Failure::Refused,
            format!("the call for {what} failed: {causes}"),
        ),
    }
}

/// The kind of the first io error in `e`'s chain (io errors nest inside hyper's).
fn io_kind(e: &(dyn std::error::Error + 'static)) -> Option<Io> {
    let mut next = Some(e);
    while let Some(err) = next {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        next = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_servers_status_keeps_its_code_and_meaning() {
        let f = from_status(
            409,
            "AlreadyExists",
            "deployments \"m\" already exists",
            "m",
        );
        assert_eq!((f.code, f.kind), (Some(409), Failure::AlreadyExists));
        assert!(f.message.contains("already exists"), "{}", f.message);
        assert_eq!(
            from_status(409, "Conflict", "", "m").kind,
            Failure::Conflict
        );
        assert_eq!(
            from_status(404, "NotFound", "", "m").kind,
            Failure::NotFound
        );
        assert_eq!(
            from_status(401, "Unauthorized", "", "m").kind,
            Failure::Refused
        );
        assert_eq!(
            from_status(403, "Forbidden", "", "m").kind,
            Failure::Refused
        );
        assert_eq!(
            from_status(429, "TooManyRequests", "", "m").kind,
            Failure::Refused
        );
        assert_eq!(from_status(504, "Timeout", "", "m").kind, Failure::Timeout);
        // No message: the reason stands in.
        assert!(
            from_status(401, "Unauthorized", " ", "x")
                .message
                .ends_with("Unauthorized")
        );
    }

    #[test]
    fn transport_failures_say_whether_anything_answered() {
        let wrap = |io: std::io::Error| kube::Error::Service(Box::new(io));
        let refused = classify(
            &wrap(std::io::Error::from(Io::ConnectionRefused)),
            "/version",
        );
        assert_eq!((refused.code, refused.kind), (None, Failure::Unreachable));
        let late = classify(&wrap(std::io::Error::from(Io::TimedOut)), "/version");
        assert_eq!(late.kind, Failure::Timeout);
        let tls = classify(
            &wrap(std::io::Error::other(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            ))),
            "/version",
        );
        assert_eq!(tls.kind, Failure::Refused);
        assert!(
            tls.message.contains("not signed by the configured CA"),
            "{}",
            tls.message
        );
    }
}
