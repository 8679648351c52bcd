//! The saved Docker connection as the runtime uses it: where the engine is (`docker_url`),
//! how to talk TLS to it, and the settings that shape containers (host names for URLs,
//! network, logging driver, pulling, HTTPS). Pure: built from the `[docker]` stanza and its
//! secrets, every problem a 400 that names the setting.

use super::super::secrets::Secrets;
use crate::conffile::{Stanza, parse_bool};
use crate::error::ApiError;
use crate::protocol::request::Secret;
use std::path::PathBuf;

/// Where the engine listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineAddress {
    /// A unix socket path.
    Unix(PathBuf),
    /// A TCP host and port.
    Tcp {
        /// Host name or address.
        host: String,
        /// Port.
        port: u16,
    },
}

/// TLS towards a tcp engine. `Debug` names which parts are present, never their bytes.
#[derive(Clone)]
pub struct EngineTls {
    /// PEM of the CA that signed the engine's certificate.
    pub ca: Option<Vec<u8>>,
    /// PEM of the client certificate and key, when the engine wants one.
    pub client: Option<(Vec<u8>, Vec<u8>)>,
    /// `tls_skip_verify`: accept any engine certificate (said in every reply that used it).
    pub skip_verify: bool,
}

impl std::fmt::Debug for EngineTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineTls")
            .field("ca", &self.ca.is_some())
            .field("client", &self.client.is_some())
            .field("skip_verify", &self.skip_verify)
            .finish()
    }
}

/// A Docker connection ready to use.
#[derive(Debug, Clone)]
pub struct DockerSettings {
    /// `docker_url` as configured (for messages).
    pub url: String,
    /// Where the engine is.
    pub address: EngineAddress,
    /// TLS for a tcp engine; `None` for plain tcp and unix sockets.
    pub tls: Option<EngineTls>,
    /// Host in `api_url` (Splunk reaches containers here).
    pub endpoint_hostname: String,
    /// Host in the external, Jupyter and other URLs.
    pub endpoint_hostname_external: String,
    /// The network containers join; `None` = the default bridge.
    pub network: Option<String>,
    /// The loopback address to publish container ports on, when both host names reach the
    /// containers on this host: nobody else needs them (and the DEV tools have no auth).
    /// `None`: every interface.
    pub publish_ip: Option<&'static str>,
    /// The splunk logging driver's URL and token, when both are set.
    pub logging: Option<(String, Secret)>,
    /// Whether a missing image may be pulled.
    pub allow_pull: bool,
    /// Whether containers serve their API over TLS (`container_enable_https`).
    pub https: bool,
    /// Whether TLS checks may be skipped (engine, and container probes without a CA).
    pub skip_verify: bool,
    /// CA file or directory for containers' HTTPS certificates.
    pub container_ca_path: Option<String>,
    /// Whether containers' certificates must name the host (`endpoint_cert_check_hostname`).
    pub container_check_hostname: bool,
}

/// A stanza value, trimmed; `None` when missing or empty.
pub fn value<'a>(stanza: &'a Stanza, key: &str) -> Option<&'a str> {
    stanza.get(key).map(str::trim).filter(|v| !v.is_empty())
}

/// A boolean setting; missing, empty or unreadable counts as `default`.
pub fn flag(stanza: &Stanza, key: &str, default: bool) -> bool {
    value(stanza, key).and_then(parse_bool).unwrap_or(default)
}

/// Whether a host name always means this host: `localhost` (and `*.localhost`), 127.0.0.0/8
/// and `::1`, with or without brackets.
pub fn is_loopback(host: &str) -> bool {
    let h = host.trim().trim_start_matches('[').trim_end_matches(']');
    let l = h.to_ascii_lowercase();
    l == "localhost"
        || l.ends_with(".localhost")
        || h.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `::1` when the API host is the IPv6 loopback, `127.0.0.1` for the other loopback names,
/// `None` unless both host names are loopback.
fn publish_ip(api_host: &str, external_host: &str) -> Option<&'static str> {
    if !(is_loopback(api_host) && is_loopback(external_host)) {
        return None;
    }
    let bare = api_host
        .trim()
        .trim_start_matches('[')
        .trim_end_matches(']');
    Some(match bare.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(_)) => "::1",
        _ => "127.0.0.1",
    })
}

impl DockerSettings {
    /// Reads the `[docker]` stanza and its secrets.
    pub fn from_stanza(stanza: &Stanza, secrets: &Secrets) -> Result<DockerSettings, ApiError> {
        let url = value(stanza, "docker_url").ok_or_else(|| {
            ApiError::bad_request(
                "docker_url is not set: save the docker connection with docker_url, e.g. \
                 unix:///var/run/docker.sock or tcp://docker-host:2376.",
            )
        })?;
        let address = parse_url(url)?;
        let skip_verify = flag(stanza, "tls_skip_verify", false);
        // TLS material matters only for a tcp engine; a unix socket ignores it.
        let tls = match &address {
            EngineAddress::Tcp { .. } => engine_tls(secrets, skip_verify)?,
            EngineAddress::Unix(_) => None,
        };
        let default_host = match &address {
            EngineAddress::Tcp { host, .. } => host.clone(),
            EngineAddress::Unix(_) => "localhost".to_string(),
        };
        let endpoint_hostname = value(stanza, "endpoint_hostname")
            .map(str::to_string)
            .unwrap_or(default_host);
        let endpoint_hostname_external = value(stanza, "endpoint_hostname_external")
            .map(str::to_string)
            .unwrap_or_else(|| endpoint_hostname.clone());
        let logging = match (
            value(stanza, "docker_logging_endpoint_hostname"),
            secrets.get("docker_logging_splunk_token"),
        ) {
            (Some(url), Some(token)) => Some((url.to_string(), token.clone())),
            _ => None,
        };
        // Saved before the rule existed, or written to the conf by hand: refused at start too.
        let network = value(stanza, "docker_network").map(str::to_string);
        if let Some(net) = &network {
            crate::names::docker_network(net).map_err(ApiError::bad_request)?;
        }
        Ok(DockerSettings {
            publish_ip: publish_ip(&endpoint_hostname, &endpoint_hostname_external),
            url: url.to_string(),
            address,
            tls,
            endpoint_hostname,
            endpoint_hostname_external,
            network,
            logging,
            allow_pull: flag(stanza, "allow_pull", false),
            https: crate::runtime::plan::serves_https(stanza),
            skip_verify,
            container_ca_path: value(stanza, "endpoint_cert_filename_or_path").map(str::to_string),
            container_check_hostname: flag(stanza, "endpoint_cert_check_hostname", true),
        })
    }
}

/// TLS towards a tcp engine from the stored PEMs: on when any of them is stored (a plain
/// `tcp://` engine stays plain even with `tls_skip_verify`, which also governs container
/// probes); `tls_skip_verify` then only relaxes the verification.
fn engine_tls(secrets: &Secrets, skip_verify: bool) -> Result<Option<EngineTls>, ApiError> {
    let pem = |field: &str| secrets.pem(field).map_err(ApiError::bad_request);
    let ca = pem("docker_ca")?;
    let client = match (pem("docker_client_cert")?, pem("docker_client_key")?) {
        (Some(c), Some(k)) => Some((c, k)),
        (None, None) => None,
        (Some(_), None) => {
            return Err(ApiError::bad_request(
                "docker_client_cert is stored but docker_client_key is not: store both.",
            ));
        }
        (None, Some(_)) => {
            return Err(ApiError::bad_request(
                "docker_client_key is stored but docker_client_cert is not: store both.",
            ));
        }
    };
    if ca.is_none() && client.is_none() {
        return Ok(None);
    }
    if ca.is_none() && !skip_verify {
        return Err(ApiError::bad_request(
            "docker_ca is required to verify the engine's TLS certificate (or set \
             tls_skip_verify = true to accept any certificate).",
        ));
    }
    Ok(Some(EngineTls {
        ca,
        client,
        skip_verify,
    }))
}

/// Parses `docker_url`: `unix:///path` or `tcp://host:port` (a trailing `/` is ignored).
pub fn parse_url(raw: &str) -> Result<EngineAddress, ApiError> {
    let url = raw.trim().trim_end_matches('/');
    let bad = |why: &str| {
        ApiError::bad_request(format!(
            "docker_url {:?} {why}; use unix:///var/run/docker.sock or tcp://host:2376.",
            crate::names::excerpt(raw, 80)
        ))
    };
    if let Some(path) = url.strip_prefix("unix://") {
        if !path.starts_with('/') {
            return Err(bad("needs an absolute socket path after unix://"));
        }
        return Ok(EngineAddress::Unix(PathBuf::from(path)));
    }
    let rest = url
        .strip_prefix("tcp://")
        .ok_or_else(|| bad("must start with unix:// or tcp://"))?;
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() => (h, p),
        _ => return Err(bad("needs a host and a port")),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || host.contains(['/', '@', ' ']) {
        return Err(bad("has an invalid host"));
    }
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| bad("has an invalid port"))?;
    Ok(EngineAddress::Tcp {
        host: host.to_string(),
        port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stanza(pairs: &[(&str, &str)]) -> Stanza {
        Stanza::from_pairs("docker", pairs)
    }

    #[test]
    fn urls_parse_or_say_what_is_wrong() {
        assert_eq!(
            parse_url("unix:///var/run/docker.sock").unwrap(),
            EngineAddress::Unix("/var/run/docker.sock".into())
        );
        assert_eq!(
            parse_url(" tcp://10.0.0.5:2376/ ").unwrap(),
            EngineAddress::Tcp {
                host: "10.0.0.5".into(),
                port: 2376
            }
        );
        assert_eq!(
            parse_url("tcp://[::1]:2375").unwrap(),
            EngineAddress::Tcp {
                host: "::1".into(),
                port: 2375
            }
        );
        for bad in [
            "http://h:1",
            "unix://relative.sock",
            "tcp://host",
            "tcp://:2375",
            "tcp://h:0",
            "tcp://h:99999",
            "tcp://u@h:1",
        ] {
            let e = parse_url(bad).unwrap_err();
            assert_eq!(e.status(), 400, "{bad}");
            assert!(e.message.contains("docker_url"), "{}", e.message);
        }
    }

    #[test]
    fn hosts_default_from_the_url() {
        let s = DockerSettings::from_stanza(
            &stanza(&[("docker_url", "tcp://engine.example:2375")]),
            &Secrets::default(),
        )
        .unwrap();
        assert_eq!(s.endpoint_hostname, "engine.example");
        assert_eq!(s.endpoint_hostname_external, "engine.example");
        assert!(s.tls.is_none() && !s.https && !s.allow_pull);
        let s = DockerSettings::from_stanza(
            &stanza(&[
                ("docker_url", "unix:///var/run/docker.sock"),
                ("endpoint_hostname_external", "dsdl.example.com"),
                ("container_enable_https", "true"),
                ("docker_network", " "),
            ]),
            &Secrets::default(),
        )
        .unwrap();
        assert_eq!(s.endpoint_hostname, "localhost");
        assert_eq!(s.endpoint_hostname_external, "dsdl.example.com");
        assert!(s.https);
        assert_eq!(s.network, None);
        // Users reach the tools through an external name: ports on every interface.
        assert_eq!(s.publish_ip, None);
    }

    #[test]
    fn loopback_only_connections_publish_on_loopback() {
        let local = |extra: &[(&str, &str)]| {
            let mut pairs = vec![("docker_url", "unix:///var/run/docker.sock")];
            pairs.extend_from_slice(extra);
            DockerSettings::from_stanza(&stanza(&pairs), &Secrets::default()).unwrap()
        };
        assert_eq!(
            local(&[]).publish_ip,
            Some("127.0.0.1"),
            "localhost by default"
        );
        let ip = |host| local(&[("endpoint_hostname", host)]).publish_ip;
        assert_eq!(ip("127.0.0.1"), Some("127.0.0.1"));
        assert_eq!(ip("[::1]"), Some("::1"));
        assert_eq!(ip("10.1.2.3"), None);
        for (host, lo) in [
            ("localhost", true),
            ("LOCALHOST", true),
            ("app.localhost", true),
            ("127.9.9.9", true),
            ("::1", true),
            ("localhost.example.com", false),
            ("0.0.0.0", false),
            ("dsdl", false),
        ] {
            assert_eq!(is_loopback(host), lo, "{host}");
        }
    }

    #[test]
    fn network_modes_are_refused_at_start() {
        for net in ["host", "none", "container:db"] {
            let e = DockerSettings::from_stanza(
                &stanza(&[
                    ("docker_url", "unix:///var/run/docker.sock"),
                    ("docker_network", net),
                ]),
                &Secrets::default(),
            )
            .unwrap_err();
            assert_eq!(e.status(), 400, "{net}");
            assert!(e.message.contains("docker_network"), "{}", e.message);
        }
    }

    #[test]
    fn tls_needs_a_ca_or_an_explicit_skip() {
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        let secrets = Secrets::from_listing(vec![("docker_client_cert".into(), Secret::new(pem))]);
        let url = [("docker_url", "tcp://h:2376")];
        let e = DockerSettings::from_stanza(&stanza(&url), &secrets).unwrap_err();
        assert!(e.message.contains("docker_client_key"), "{}", e.message);

        let mut both = secrets.clone();
        both.set("docker_client_key", Secret::new(pem));
        let e = DockerSettings::from_stanza(&stanza(&url), &both).unwrap_err();
        assert!(e.message.contains("docker_ca is required"), "{}", e.message);

        let skip = stanza(&[("docker_url", "tcp://h:2376"), ("tls_skip_verify", "1")]);
        let s = DockerSettings::from_stanza(&skip, &both).unwrap();
        assert!(
            s.tls
                .as_ref()
                .is_some_and(|t| t.skip_verify && t.client.is_some())
        );

        both.set("docker_ca", Secret::new(pem));
        let s = DockerSettings::from_stanza(&stanza(&url), &both).unwrap();
        assert!(
            s.tls
                .as_ref()
                .is_some_and(|t| !t.skip_verify && t.ca.is_some())
        );
        // A unix socket never uses TLS.
        let unix = stanza(&[("docker_url", "unix:///s.sock")]);
        assert!(
            DockerSettings::from_stanza(&unix, &both)
                .unwrap()
                .tls
                .is_none()
        );
    }

    #[test]
    fn logging_driver_needs_url_and_token() {
        let st = stanza(&[
            ("docker_url", "unix:///s"),
            ("docker_logging_endpoint_hostname", "http://hec:8088"),
        ]);
        assert!(
            DockerSettings::from_stanza(&st, &Secrets::default())
                .unwrap()
                .logging
                .is_none()
        );
        let secrets = Secrets::from_listing(vec![(
            "docker_logging_splunk_token".into(),
            Secret::new("t"),
        )]);
        let s = DockerSettings::from_stanza(&st, &secrets).unwrap();
        assert_eq!(s.logging.unwrap().0, "http://hec:8088");
    }
}
