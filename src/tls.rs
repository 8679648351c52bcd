//! The TLS toolkit every connection uses, rustls with the ring provider only. Client side, for
//! every outgoing connection (splunkd, a Docker engine over tcp, a container's HTTPS API):
//! trust anchors from PEM, an optional client certificate, the two explicit relaxations a
//! setting can ask for (no host name check, no verification), the HTTP client and the words
//! for a failed handshake. Server side, for splunkd-dev's `--tls`: a configuration from a
//! certificate and key. What each connection trusts is decided by its own module
//! ([`crate::splunkd::trust`], the Docker settings, the container probes).

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use std::sync::Arc;

/// The one crypto provider, so no build depends on a process-wide default.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// How the server's certificate is checked.
#[derive(Debug, Clone)]
pub enum Verify {
    /// Chain to these anchors; the host name is checked when `hostname` is true.
    Anchors {
        /// The trusted CAs.
        roots: RootCertStore,
        /// Whether the certificate must name the host.
        hostname: bool,
    },
    /// Accept any certificate (an explicit per-connection opt-out, or splunkd's own
    /// self-signed management port); the handshake signatures are still checked.
    AcceptAny,
}

/// A client certificate and its key, presented when the server asks.
pub struct ClientAuth {
    /// The certificate chain, leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    /// Its private key.
    pub key: PrivateKeyDer<'static>,
}

/// The certificates of a PEM text, in order (none when it holds none).
pub fn certs_from_pem(
    pem: &[u8],
) -> Result<Vec<CertificateDer<'static>>, rustls::pki_types::pem::Error> {
    CertificateDer::pem_slice_iter(pem).collect()
}

/// The trust anchors of a PEM bundle; an error says what is wrong with it.
pub fn roots_from_pem(pem: &[u8]) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    for cert in certs_from_pem(pem).map_err(|e| format!("invalid PEM: {e}"))? {
        store
            .add(cert)
            .map_err(|e| format!("invalid certificate: {e}"))?;
    }
    if store.is_empty() {
        return Err("it holds no certificate".into());
    }
    Ok(store)
}

/// A client certificate and key from PEM; an error says which part is wrong.
pub fn client_auth_from_pem(cert: &[u8], key: &[u8]) -> Result<ClientAuth, String> {
    let chain = certs_from_pem(cert)
        .map_err(|e| format!("the client certificate is not valid PEM: {e}"))?;
    if chain.is_empty() {
        return Err("the client certificate holds no certificate".into());
    }
    let key = PrivateKeyDer::from_pem_slice(key)
        .map_err(|e| format!("the client key is not a PEM private key: {e}"))?;
    Ok(ClientAuth { chain, key })
}

/// The client configuration for `verify` and an optional client certificate.
pub fn client_config(verify: Verify, auth: Option<ClientAuth>) -> Result<ClientConfig, String> {
    let provider = provider();
    let algorithms = provider.signature_verification_algorithms;
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?;
    let verifier: Arc<dyn ServerCertVerifier> = match verify {
        Verify::Anchors { roots, hostname } => {
            let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| format!("TLS setup failed: {e}"))?;
            if hostname {
                webpki
            } else {
                Arc::new(Relaxed {
                    chain: Some(webpki),
                    algorithms,
                })
            }
        }
        Verify::AcceptAny => Arc::new(Relaxed {
            chain: None,
            algorithms,
        }),
    };
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    match auth {
        Some(a) => builder
            .with_client_auth_cert(a.chain, a.key)
            .map_err(|e| format!("the client certificate and key do not fit together: {e}")),
        None => Ok(builder.with_no_client_auth()),
    }
}

/// A server configuration for HTTP/1.1 (offered by ALPN) presenting `chain` and its `key`;
/// clients are not asked for a certificate.
pub fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<ServerConfig, String> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| format!("the certificate and key do not fit together: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// A verifier relaxed by an explicit setting: with `chain`, the chain is checked but not the
/// host name (`endpoint_cert_check_hostname = false`); without, any certificate is accepted
/// (`tls_skip_verify`, or splunkd's self-signed management port). The handshake signatures
/// are checked either way, so the server must hold the certificate's key.
#[derive(Debug)]
struct Relaxed {
    chain: Option<Arc<WebPkiServerVerifier>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Relaxed {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(webpki) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            // rustls checks the chain first and the name last: a name error means the chain
            // was accepted.
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// An HTTP/1 client over rustls (http or https URLs), the one way outgoing HTTP is built
/// (splunkd, a TLS Docker engine, container probes): connect bounded by `connect_timeout`,
/// idle connections kept for `idle` or, with `None`, not pooled at all.
pub fn https_client<B>(
    config: ClientConfig,
    connect_timeout: std::time::Duration,
    idle: Option<std::time::Duration>,
) -> hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    B,
>
where
    B: hyper::body::Body + Send,
    B::Data: Send,
{
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(connect_timeout));
    http.set_nodelay(true);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    let mut builder =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new());
    match idle {
        Some(idle) => builder.pool_idle_timeout(idle),
        None => builder.pool_max_idle_per_host(0),
    };
    builder.build(https)
}

/// What a failed handshake means, in words a user can act on.
pub fn explain(e: &rustls::Error) -> String {
    use rustls::{AlertDescription as A, CertificateError as C};
    match e {
        rustls::Error::InvalidCertificate(C::UnknownIssuer | C::BadSignature) => {
            "the server's certificate is not signed by the configured CA".into()
        }
        rustls::Error::InvalidCertificate(
            C::NotValidForName | C::NotValidForNameContext { .. },
        ) => "the server's certificate does not name the host in the URL".into(),
        rustls::Error::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => {
            "the server's certificate has expired".into()
        }
        rustls::Error::InvalidCertificate(C::NotValidYet | C::NotValidYetContext { .. }) => {
            "the server's certificate is not valid yet (check the clocks)".into()
        }
        rustls::Error::AlertReceived(A::CertificateRequired | A::HandshakeFailure)
        | rustls::Error::AlertReceived(A::BadCertificate | A::UnknownCA) => {
            "the server refused the client certificate (missing, or not signed by a CA it trusts)"
                .into()
        }
        // A record that is not TLS at all: an HTTP answer, say.
        rustls::Error::InvalidMessage(_) => {
            "the server did not answer in TLS: this port serves plain HTTP (or another protocol)"
                .into()
        }
        other => format!("the TLS handshake failed: {other}"),
    }
}

/// The messages of an error and its sources, joined, without repeats.
pub fn causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(e);
    while let Some(err) = next {
        let text = err.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = err.source();
    }
    parts.join(": ")
}

/// The rustls error somewhere in the chain. io errors wrap it (hyper-rustls wraps it twice)
/// without exposing it as a source, so nested io errors are unwrapped too.
pub fn find_rustls_error<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a rustls::Error> {
    let mut next = Some(e);
    while let Some(err) = next {
        let mut inner: Option<&(dyn std::error::Error + 'static)> = Some(err);
        while let Some(i) = inner {
            if let Some(r) = i.downcast_ref::<rustls::Error>() {
                return Some(r);
            }
            inner = i
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .map(|b| b as &(dyn std::error::Error + 'static));
        }
        next = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundles_without_certificates_are_refused() {
        assert!(roots_from_pem(b"nothing here").is_err());
        assert!(client_auth_from_pem(b"", b"").is_err());
    }

    #[test]
    fn a_generated_ca_is_accepted_and_configs_build() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).unwrap();
        let roots = roots_from_pem(cert.pem().as_bytes()).unwrap();
        assert_eq!(roots.len(), 1);
        let auth =
            client_auth_from_pem(cert.pem().as_bytes(), key.serialize_pem().as_bytes()).unwrap();
        for hostname in [true, false] {
            let verify = Verify::Anchors {
                roots: roots.clone(),
                hostname,
            };
            assert!(client_config(verify, None).is_ok());
        }
        assert!(client_config(Verify::AcceptAny, Some(auth)).is_ok());
    }

    #[test]
    fn a_server_config_needs_the_certificate_s_own_key_and_offers_http1() {
        let key = rcgen::KeyPair::generate().unwrap();
        let other = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let chain = certs_from_pem(cert.pem().as_bytes()).unwrap();
        let der = |k: &rcgen::KeyPair| PrivateKeyDer::Pkcs8(k.serialize_der().into());
        let config = server_config(chain.clone(), der(&key)).unwrap();
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
        let e = server_config(chain, der(&other)).unwrap_err();
        assert!(e.contains("do not fit together"), "{e}");
        assert!(certs_from_pem(b"no pem here").unwrap().is_empty());
    }

    #[test]
    fn handshake_failures_are_explained() {
        let e = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        assert!(explain(&e).contains("not signed by the configured CA"));
        let e = rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired);
        assert!(explain(&e).contains("client certificate"));
    }

    /// A CA and a leaf for `localhost` signed by it.
    fn pki() -> (rustls::RootCertStore, CertificateDer<'static>) {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca, ca_key);
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf = rcgen::CertificateParams::new(vec!["localhost".into()])
            .unwrap()
            .signed_by(&leaf_key, &issuer)
            .unwrap();
        (
            roots_from_pem(ca_cert.pem().as_bytes()).unwrap(),
            leaf.der().clone(),
        )
    }

    #[test]
    fn chain_only_skips_the_name_but_not_the_chain() {
        let (roots, leaf) = pki();
        let (other_roots, _) = pki();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = |roots: rustls::RootCertStore| Relaxed {
            chain: Some(
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .unwrap(),
            ),
            algorithms: provider.signature_verification_algorithms,
        };
        let name = |n: &str| ServerName::try_from(n.to_string()).unwrap();
        let now = UnixTime::now();
        let right = verifier(roots.clone());
        assert!(
            right
                .verify_server_cert(&leaf, &[], &name("other.example"), &[], now)
                .is_ok()
        );
        assert!(
            right
                .verify_server_cert(&leaf, &[], &name("localhost"), &[], now)
                .is_ok()
        );
        let wrong = verifier(other_roots);
        assert!(
            wrong
                .verify_server_cert(&leaf, &[], &name("localhost"), &[], now)
                .is_err()
        );
        // With the name checked, another name is refused.
        let full = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .unwrap();
        assert!(
            full.verify_server_cert(&leaf, &[], &name("other.example"), &[], now)
                .is_err()
        );
    }
}
