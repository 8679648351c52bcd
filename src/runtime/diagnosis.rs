//! The result of a staged connection test, on any runtime: each stage says passed, failed,
//! skipped or warning, with what was found and a hint; [`Stages`] runs one under a deadline,
//! and [`reach`] and [`handshake`] are the network stages every runtime has.

use crate::error::{ApiError, ErrorKind};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// How a stage ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Fine.
    Passed,
    /// The connection cannot be used.
    Failed,
    /// Not run (not applicable, or an earlier stage failed).
    Skipped,
    /// Usable, with a limitation.
    Warning,
}

/// One stage's result.
#[derive(Debug, Clone)]
pub struct Stage {
    /// Stage name.
    pub name: &'static str,
    /// How it ended.
    pub outcome: Verdict,
    /// What was found.
    pub detail: String,
    /// What to do about a failure or warning.
    pub hint: String,
}

impl Stage {
    /// The reply form.
    pub fn to_json(&self) -> Value {
        json!({
            "stage": self.name,
            "result": match self.outcome {
                Verdict::Passed => "passed",
                Verdict::Failed => "failed",
                Verdict::Skipped => "skipped",
                Verdict::Warning => "warning",
            },
            "detail": self.detail,
            "hint": self.hint,
        })
    }
}

/// All stages and, when one failed, the error to answer with.
#[derive(Debug)]
pub struct Diagnosis {
    /// Every stage, in order.
    pub stages: Vec<Stage>,
    /// The failure (status and message), if any.
    pub failure: Option<ApiError>,
    /// The engine's version, when reached.
    pub engine_version: Option<String>,
    /// Warnings every reply on this connection carries (TLS checks skipped by setting).
    pub warnings: Vec<String>,
}

/// A staged test under way: the stages so far and the deadline every stage shares. Stages
/// stop at the first failure (later ones would only repeat it), so a dead runtime answers
/// within the deadline instead of hanging.
#[derive(Debug)]
pub struct Stages {
    /// The runtime's name in messages ("Docker").
    runtime: &'static str,
    /// Every stage name, in order (the ones after a failure are reported skipped).
    order: &'static [&'static str],
    stages: Vec<Stage>,
    deadline: Instant,
}

impl Stages {
    /// A test of `runtime` with the stages `order`, within `limit`.
    pub fn new(runtime: &'static str, order: &'static [&'static str], limit: Duration) -> Stages {
        Stages {
            runtime,
            order,
            stages: Vec::new(),
            deadline: Instant::now() + limit,
        }
    }

    /// Records how stage `name` ended.
    pub fn record(&mut self, name: &'static str, outcome: Verdict, detail: String, hint: &str) {
        self.stages.push(Stage {
            name,
            outcome,
            detail,
            hint: hint.to_string(),
        });
    }

    /// What is left of the deadline, at least a millisecond (a zero bound means "none" to
    /// some clients).
    pub fn left(&self) -> Duration {
        self.deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1))
    }

    /// Ends the test at stage `name` with `e`, answered with `status`; later stages are
    /// skipped.
    pub fn fail(
        mut self,
        name: &'static str,
        e: ApiError,
        hint: &str,
        status: ErrorKind,
    ) -> Diagnosis {
        self.record(name, Verdict::Failed, e.message.clone(), hint);
        for rest in self.order.iter().skip_while(|s| **s != name).skip(1) {
            self.record(rest, Verdict::Skipped, "an earlier stage failed".into(), "");
        }
        let message = format!(
            "{} connection test failed at stage {name}: {} {hint}",
            self.runtime, e.message
        );
        Diagnosis {
            stages: self.stages,
            failure: Some(ApiError::new(status, message)),
            engine_version: None,
            warnings: Vec::new(),
        }
    }

    /// Ends the test with every stage run.
    pub fn finish(self, engine_version: Option<String>, warnings: Vec<String>) -> Diagnosis {
        Diagnosis {
            stages: self.stages,
            failure: None,
            engine_version,
            warnings,
        }
    }
}

/// Opens (and closes) one TCP connection to `host:port` within `limit`; the error says where
/// and why, with the io error's kind for a hint (`TimedOut` when `limit` ran out: a 504,
/// else a 503).
pub async fn reach(
    host: &str,
    port: u16,
    limit: Duration,
) -> Result<(), (ApiError, std::io::ErrorKind)> {
    match tokio::time::timeout(limit, tokio::net::TcpStream::connect((host, port))).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err((
            ApiError::unavailable(format!("cannot connect to {host}:{port}: {e}")),
            e.kind(),
        )),
        Err(_) => Err((
            ApiError::new(
                ErrorKind::Timeout,
                format!(
                    "no connection to {host}:{port} within {} ms",
                    limit.as_millis()
                ),
            ),
            std::io::ErrorKind::TimedOut,
        )),
    }
}

/// One TLS handshake with `host:port` using `config`, then `request` written and a short
/// read: TLS 1.3 servers report a refused client certificate only after the handshake, and
/// the read surfaces that alert. The error names the TLS problem (502), or says the
/// handshake ran out of time (504); an unusable server name is the caller's input (400).
pub async fn handshake(
    host: &str,
    port: u16,
    config: rustls::ClientConfig,
    request: &[u8],
    limit: Duration,
) -> Result<(), ApiError> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|_| ApiError::bad_request(format!("{host:?} is not a valid TLS server name")))?;
    let attempt = async {
        let tcp = tokio::net::TcpStream::connect((host, port)).await?;
        let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
        let mut stream = connector.connect(name, tcp).await?;
        stream.write_all(request).await?;
        let mut buf = [0u8; 64];
        let _answered = stream.read(&mut buf).await?;
        Ok::<(), std::io::Error>(())
    };
    match tokio::time::timeout(limit, attempt).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(ApiError::new(
            ErrorKind::BadGateway,
            match crate::tls::find_rustls_error(&e) {
                Some(tls) => crate::tls::explain(tls),
                None => format!("the TLS handshake failed: {e}"),
            },
        )),
        Err(_) => Err(ApiError::new(
            ErrorKind::Timeout,
            "the TLS handshake did not finish in time",
        )),
    }
}
