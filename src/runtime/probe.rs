//! The health probe of a container's API: `GET <api_url>` with the API token in
//! `Authorization` (raw, as the container contract and the AI Toolkit send it). It passes only
//! on a 200 whose body names the DSDL app; anything else, including no answer within the
//! bound, fails with a reason. Many probes run concurrently over one client.

use crate::tls::{Verify, causes, find_rustls_error, roots_from_pem};
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper::header::{AUTHORIZATION, HeaderValue};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use std::path::Path;
use std::time::Duration;

/// What a healthy container's API answers with (as JSON or inside a JSON string).
pub const APP_NAME: &str = "Splunk App for Data Science and Deep Learning";

/// Largest probe reply body read.
const MAX_BODY: usize = 64 * 1024;

/// The result of one probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// Whether the API answered as a healthy DSDL container.
    pub ok: bool,
    /// Why not, for the reply.
    pub detail: String,
}

/// Probes each of `urls` with `token` through one client built from `tls`, concurrently,
/// each bounded by `timeout`; one result per URL, in order.
pub async fn probe_all(
    tls: ProbeTls,
    urls: &[&str],
    token: &crate::protocol::request::Secret,
    timeout: Duration,
) -> Vec<Probe> {
    match Prober::new(tls, timeout) {
        Ok(prober) => {
            futures_util::future::join_all(urls.iter().map(|u| prober.probe(u, token.expose())))
                .await
        }
        Err(why) => urls
            .iter()
            .map(|_| Probe::fail(format!("no probe client: {why}")))
            .collect(),
    }
}

impl Probe {
    /// A passed probe.
    pub fn ok() -> Probe {
        Probe {
            ok: true,
            detail: String::new(),
        }
    }

    /// A failed probe, saying why.
    pub fn fail(detail: impl Into<String>) -> Probe {
        Probe {
            ok: false,
            detail: detail.into(),
        }
    }
}

/// How HTTPS container APIs are verified.
#[derive(Debug, Clone)]
pub enum ProbeTls {
    /// With these settings.
    Verify(Verify),
    /// Not possible: no CA configured and no explicit skip; the text says what to set.
    Unverifiable(String),
}

impl ProbeTls {
    /// From the connection: the CA file or directory `endpoint_cert_filename_or_path` (host
    /// name checked per `endpoint_cert_check_hostname`), else `tls_skip_verify`.
    pub fn from_settings(ca_path: Option<&str>, check_hostname: bool, skip: bool) -> ProbeTls {
        match ca_path {
            Some(path) => match read_bundle(Path::new(path)) {
                Ok(roots) => ProbeTls::Verify(Verify::Anchors {
                    roots,
                    hostname: check_hostname,
                }),
                Err(e) => ProbeTls::Unverifiable(format!(
                    "the CA in endpoint_cert_filename_or_path ({path}) cannot be used: {e}"
                )),
            },
            None if skip => ProbeTls::Verify(Verify::AcceptAny),
            None => ProbeTls::Unverifiable(
                "the container serves HTTPS but no CA is configured to verify it: set \
                 endpoint_cert_filename_or_path to its CA (or tls_skip_verify = true)"
                    .into(),
            ),
        }
    }
}

/// Reads a CA file, or every `.pem`/`.crt` file of a directory.
fn read_bundle(path: &Path) -> Result<rustls::RootCertStore, String> {
    let mut pem = Vec::new();
    if path.is_dir() {
        let entries = std::fs::read_dir(path).map_err(|e| e.to_string())?;
        for entry in entries.flatten() {
            let p = entry.path();
            if p.extension().is_some_and(|e| e == "pem" || e == "crt") {
                pem.extend(std::fs::read(&p).map_err(|e| e.to_string())?);
                pem.push(b'\n');
            }
        }
    } else {
        pem = std::fs::read(path).map_err(|e| e.to_string())?;
    }
    roots_from_pem(&pem)
}

/// A client for probing many containers.
pub struct Prober {
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
    tls_problem: Option<String>,
    timeout: Duration,
}

impl Prober {
    /// A prober whose every probe is bounded by `timeout`; fails only if TLS cannot be set
    /// up at all.
    pub fn new(tls: ProbeTls, timeout: Duration) -> Result<Prober, String> {
        let (verify, tls_problem) = match tls {
            ProbeTls::Verify(v) => (v, None),
            ProbeTls::Unverifiable(why) => (Verify::AcceptAny, Some(why)),
        };
        let config = crate::tls::client_config(verify, None)?;
        let client = crate::tls::https_client(config, timeout, None);
        Ok(Prober {
            client,
            tls_problem,
            timeout,
        })
    }

    /// Probes `url` with `token`.
    pub async fn probe(&self, url: &str, token: &str) -> Probe {
        if url.trim().is_empty() {
            return Probe::fail("no API URL is recorded");
        }
        if url.starts_with("https://")
            && let Some(why) = &self.tls_problem
        {
            return Probe::fail(why.clone());
        }
        match tokio::time::timeout(self.timeout, self.exchange(url, token)).await {
            Ok(p) => p,
            Err(_) => Probe::fail(format!(
                "the API at {url} did not answer within {} ms",
                self.timeout.as_millis()
            )),
        }
    }

    async fn exchange(&self, url: &str, token: &str) -> Probe {
        let mut auth = match HeaderValue::from_str(token) {
            Ok(v) => v,
            Err(_) => return Probe::fail("the API token cannot be sent in a header"),
        };
        auth.set_sensitive(true);
        let request = match hyper::Request::get(url)
            .header(AUTHORIZATION, auth)
            .body(Empty::new())
        {
            Ok(r) => r,
            Err(e) => return Probe::fail(format!("{url} is not a usable URL: {e}")),
        };
        let response = match self.client.request(request).await {
            Ok(r) => r,
            Err(e) => {
                return Probe::fail(match find_rustls_error(&e) {
                    Some(tls) => format!("TLS with {url} failed: {}", crate::tls::explain(tls)),
                    None => format!("{url} cannot be reached: {}", causes(&e)),
                });
            }
        };
        let status = response.status().as_u16();
        let body = match Limited::new(response.into_body(), MAX_BODY).collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => return Probe::fail(format!("{url} broke off its reply: {e}")),
        };
        let text = String::from_utf8_lossy(&body);
        classify(status, &text)
    }
}

/// Whether a probe reply shows a healthy DSDL container.
pub fn classify(status: u16, body: &str) -> Probe {
    match status {
        200 if body.contains(APP_NAME) => Probe {
            ok: true,
            detail: String::new(),
        },
        200 => Probe::fail("the API answered 200 but not as a DSDL container"),
        401 | 403 => Probe::fail(format!(
            "the API refused the token ({status}): the container may have been started with an \
             older api_token; restart it"
        )),
        s => Probe::fail(format!("the API answered {s}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_dsdl_answer_passes() {
        let body = format!("\"{{\\\"app\\\": \\\"{APP_NAME}\\\", \\\"token\\\": \\\"valid\\\"}}\"");
        assert!(classify(200, &body).ok);
        assert!(!classify(200, "{}").ok);
        let p = classify(401, "Invalid token");
        assert!(!p.ok && p.detail.contains("token"));
        assert!(!classify(500, APP_NAME).ok);
    }

    #[test]
    fn https_without_a_ca_is_unverifiable_unless_skipped() {
        assert!(matches!(
            ProbeTls::from_settings(None, true, false),
            ProbeTls::Unverifiable(_)
        ));
        assert!(matches!(
            ProbeTls::from_settings(None, true, true),
            ProbeTls::Verify(Verify::AcceptAny)
        ));
        match ProbeTls::from_settings(Some("/nonexistent/ca.pem"), true, true) {
            ProbeTls::Unverifiable(why) => assert!(why.contains("/nonexistent/ca.pem"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn unreachable_and_unverifiable_probes_fail_fast() {
        let prober = Prober::new(
            ProbeTls::from_settings(None, true, false),
            Duration::from_millis(500),
        )
        .unwrap();
        let p = prober.probe("https://127.0.0.1:1", "t").await;
        assert!(!p.ok && p.detail.contains("no CA is configured"), "{p:?}");
        let p = prober.probe("http://127.0.0.1:1", "t").await;
        assert!(!p.ok && p.detail.contains("cannot be reached"), "{p:?}");
        assert!(!prober.probe("", "t").await.ok);
    }
}
