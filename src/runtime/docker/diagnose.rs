//! The staged test of a Docker connection: each stage says passed, failed, skipped or
//! warning, with a hint that tells the user what to do. Stages stop at the first failure
//! (later ones would only repeat it), and the whole test shares one deadline, so an
//! unreachable engine answers within it instead of hanging.
//!
//! Stages: `url` (docker_url and the TLS material parse), `connect` (the socket or TCP port
//! accepts), `tls` (handshake: CA, client certificate, host name), `ping`, `version` (API
//! 1.40 or newer), `network` (docker_network exists), `gpu` (the nvidia runtime, a warning
//! when the catalog offers GPU images and the engine lacks it).

use super::settings::{DockerSettings, EngineAddress, parse_url};
use super::{Engine, engine_tls_config};
use crate::conffile::Stanza;
use crate::error::{ApiError, ErrorKind};
use crate::runtime::diagnosis::{Diagnosis, Stages, Verdict, handshake, reach};
use crate::runtime::secrets::Secrets;
use std::time::Duration;

/// Oldest engine API accepted: 1.40 (Docker 19.03) brought GPU device requests.
pub const MIN_API: (u32, u32) = (1, 40);

const ORDER: [&str; 7] = ["url", "connect", "tls", "ping", "version", "network", "gpu"];

/// Runs every stage for the connection in `stanza` with `secrets`, within `limit`.
pub async fn diagnose(
    stanza: &Stanza,
    secrets: &Secrets,
    wants_gpu: bool,
    limit: Duration,
) -> Diagnosis {
    let mut run = Stages::new("Docker", &ORDER, limit);

    // url (and the TLS material, which is part of reading the settings)
    let raw_url = stanza
        .get("docker_url")
        .unwrap_or_default()
        .trim()
        .to_string();
    if let Err(e) = parse_url(&raw_url) {
        let hint =
            "Set docker_url to unix:///var/run/docker.sock (local engine) or tcp://host:2376.";
        return run.fail("url", e, hint, ErrorKind::BadRequest);
    }
    let settings = match DockerSettings::from_stanza(stanza, secrets) {
        Ok(s) => s,
        Err(e) => {
            let hint = "Store docker_ca, docker_client_cert and docker_client_key as PEM.";
            return run.fail("url", e, hint, ErrorKind::BadRequest);
        }
    };
    run.record(
        "url",
        Verdict::Passed,
        format!("docker_url {}", settings.url),
        "",
    );

    // connect
    if let Err((e, hint)) = connect(&settings.address, run.left()).await {
        let kind = e.kind;
        return run.fail("connect", e, hint, kind);
    }
    run.record(
        "connect",
        Verdict::Passed,
        "the engine accepts connections".into(),
        "",
    );

    // tls
    match (&settings.address, &settings.tls) {
        (EngineAddress::Tcp { host, port }, Some(tls)) => {
            let config = engine_tls_config(tls).map_err(ApiError::bad_request);
            let ping = b"GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n";
            let shaken = match config {
                Ok(config) => handshake(host, *port, config, ping, run.left()).await,
                Err(e) => Err(e),
            };
            match shaken {
                Ok(()) if tls.skip_verify => run.record(
                    "tls",
                    Verdict::Warning,
                    "handshake done WITHOUT verifying the engine's certificate (tls_skip_verify)"
                        .into(),
                    "Store the engine's CA in docker_ca and turn tls_skip_verify off.",
                ),
                Ok(()) => run.record(
                    "tls",
                    Verdict::Passed,
                    "the engine's certificate is signed by docker_ca and names the host".into(),
                    "",
                ),
                Err(e) => {
                    let hint = "Check that docker_ca is the CA of the engine's certificate, that the certificate names the host of docker_url, and that docker_client_cert/docker_client_key are signed by a CA the engine trusts (dockerd --tlsverify --tlscacert).";
                    // An unusable PEM is the caller's input (400); a refused handshake is the
                    // engine's answer (502); no answer in time is 504.
                    let kind = e.kind;
                    return run.fail("tls", e, hint, kind);
                }
            }
        }
        (EngineAddress::Tcp { .. }, None) => run.record(
            "tls",
            Verdict::Warning,
            "plain tcp: the engine connection is not encrypted".into(),
            "Use TLS (tcp://host:2376 with docker_ca and a client certificate) for a remote engine.",
        ),
        (EngineAddress::Unix(_), _) => run.record(
            "tls",
            Verdict::Skipped,
            "unix socket: no TLS".into(),
            "",
        ),
    }

    let engine = match Engine::connect(&settings, run.left()).map_err(ApiError::from) {
        Ok(e) => e,
        Err(e) => {
            let kind = e.kind;
            return run.fail("ping", e, "", kind);
        }
    };
    // Each call gets what is left of the deadline, so the whole test stays within it.
    let bounded = |run: &Stages| engine.within(run.left());

    // ping
    if let Err(e) = bounded(&run).ping().await.map_err(ApiError::from) {
        // Something answered that is not an engine (a 404, say): the engine side is wrong.
        let kind = match e.kind {
            ErrorKind::Timeout | ErrorKind::Unavailable => e.kind,
            _ => ErrorKind::BadGateway,
        };
        return run.fail(
            "ping",
            e,
            "Check that docker_url points at a Docker engine API, not another service.",
            kind,
        );
    }
    run.record(
        "ping",
        Verdict::Passed,
        "the engine answered /_ping".into(),
        "",
    );

    // version
    let (version, api) = match bounded(&run).version().await.map_err(ApiError::from) {
        Ok(v) => v,
        Err(e) => {
            let kind = e.kind;
            return run.fail("version", e, "", kind);
        }
    };
    if parse_api(&api).is_none_or(|v| v < MIN_API) {
        let e = ApiError::new(
            ErrorKind::BadGateway,
            format!(
                "the engine speaks API {api:?}; at least {}.{} is needed",
                MIN_API.0, MIN_API.1
            ),
        );
        return run.fail(
            "version",
            e,
            "Upgrade Docker to 19.03 or newer.",
            ErrorKind::BadGateway,
        );
    }
    run.record(
        "version",
        Verdict::Passed,
        format!("Docker {version}, API {api}"),
        "",
    );

    // network
    match &settings.network {
        None => run.record(
            "network",
            Verdict::Skipped,
            "docker_network is not set: the default bridge".into(),
            "",
        ),
        Some(net) => match bounded(&run)
            .network_exists(net)
            .await
            .map_err(ApiError::from)
        {
            Ok(true) => run.record(
                "network",
                Verdict::Passed,
                format!("network {net} exists"),
                "",
            ),
            Ok(false) => {
                let e = ApiError::bad_request(format!(
                    "the network {net:?} does not exist on the engine"
                ));
                let hint =
                    format!("Create it (docker network create {net}) or clear docker_network.");
                return run.fail("network", e, &hint, ErrorKind::BadRequest);
            }
            Err(e) => {
                let kind = e.kind;
                return run.fail("network", e, "", kind);
            }
        },
    }

    // gpu
    if !wants_gpu {
        run.record(
            "gpu",
            Verdict::Skipped,
            "the catalog offers no GPU image".into(),
            "",
        );
    } else {
        match bounded(&run).has_gpu_runtime().await.map_err(ApiError::from) {
            Ok(true) => run.record("gpu", Verdict::Passed, "the nvidia runtime is installed".into(), ""),
            Ok(false) => run.record(
                "gpu",
                Verdict::Warning,
                "the catalog offers GPU images but the engine has no nvidia runtime; GPU starts will be refused".into(),
                "Install the NVIDIA container toolkit on the Docker host and restart dockerd.",
            ),
            Err(e) => {
                let kind = e.kind;
                return run.fail("gpu", e, "", kind);
            }
        }
    }

    let warnings = if settings.tls.as_ref().is_some_and(|t| t.skip_verify) {
        vec![super::SKIP_VERIFY_NOTE.to_string()]
    } else {
        Vec::new()
    };
    run.finish(Some(version), warnings)
}

/// `"1.41"` as (1, 41).
fn parse_api(v: &str) -> Option<(u32, u32)> {
    let (major, minor) = v.trim().split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// Opens (and closes) one connection to the engine's socket or port; the error comes with
/// a hint for its cause.
async fn connect(address: &EngineAddress, limit: Duration) -> Result<(), (ApiError, &'static str)> {
    use std::io::ErrorKind as K;
    let reached = match address {
        EngineAddress::Tcp { host, port } => reach(host, *port, limit).await,
        EngineAddress::Unix(path) => {
            let place = path.display();
            match tokio::time::timeout(limit, tokio::net::UnixStream::connect(path)).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err((
                    ApiError::unavailable(format!("cannot connect to the socket {place}: {e}")),
                    e.kind(),
                )),
                Err(_) => Err((
                    ApiError::new(
                        ErrorKind::Timeout,
                        format!("no connection to the socket {place} in time"),
                    ),
                    K::TimedOut,
                )),
            }
        }
    };
    reached.map_err(|(e, kind)| {
        let hint = match kind {
            K::NotFound => "Start Docker on that host, or fix the socket path in docker_url.",
            K::PermissionDenied => {
                "Let the Splunk user use the socket (e.g. add it to the docker group) and restart Splunk."
            }
            K::ConnectionRefused => {
                "Nothing listens there: check the host and port in docker_url and that dockerd listens on tcp (-H tcp://0.0.0.0:2376)."
            }
            K::TimedOut => {
                "A firewall may drop the connection; check the host and port in docker_url."
            }
            _ => "Check docker_url, name resolution and firewalls between Splunk and the engine.",
        };
        (e, hint)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn stanza(url: &str) -> Stanza {
        Stanza::from_pairs("docker", &[("docker_url", url)])
    }

    fn results(d: &Diagnosis) -> Vec<(&str, Verdict)> {
        d.stages.iter().map(|s| (s.name, s.outcome)).collect()
    }

    #[tokio::test]
    async fn a_bad_url_fails_first_and_skips_the_rest() {
        let d = diagnose(
            &stanza("http://x"),
            &Secrets::default(),
            false,
            Duration::from_secs(1),
        )
        .await;
        let f = d.failure.as_ref().unwrap();
        assert_eq!(f.status(), 400);
        assert_eq!(results(&d)[0], ("url", Verdict::Failed));
        assert_eq!(d.stages.len(), ORDER.len());
        assert!(d.stages[1..].iter().all(|s| s.outcome == Verdict::Skipped));
    }

    #[tokio::test]
    async fn a_missing_socket_fails_at_connect_with_a_hint() {
        let d = diagnose(
            &stanza("unix:///nonexistent/docker.sock"),
            &Secrets::default(),
            false,
            Duration::from_secs(2),
        )
        .await;
        assert_eq!(d.failure.as_ref().unwrap().status(), 503);
        assert_eq!(
            results(&d)[..2],
            [("url", Verdict::Passed), ("connect", Verdict::Failed)]
        );
        assert!(
            d.stages[1].hint.contains("Start Docker"),
            "{:?}",
            d.stages[1]
        );
    }

    #[tokio::test]
    async fn a_closed_port_fails_at_connect_quickly() {
        let started = Instant::now();
        let d = diagnose(
            &stanza("tcp://127.0.0.1:1"),
            &Secrets::default(),
            false,
            Duration::from_secs(5),
        )
        .await;
        assert!(started.elapsed() < Duration::from_secs(3));
        assert_eq!(d.failure.as_ref().unwrap().status(), 503);
        assert!(
            d.stages[1].hint.contains("Nothing listens"),
            "{:?}",
            d.stages[1]
        );
    }

    #[test]
    fn api_versions_compare() {
        assert_eq!(parse_api("1.41"), Some((1, 41)));
        assert!(parse_api("1.39").unwrap() < MIN_API);
        assert_eq!(parse_api("x"), None);
    }
}
