//! The TLS settings for calls to splunkd: verify the certificate chain and host name against
//! a configured CA bundle, or, without one, accept splunkd's (self-signed) certificate while
//! still checking the handshake signatures. rustls with the ring provider only.

use crate::error::ApiError;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::path::Path;
use std::sync::Arc;

/// The client TLS configuration: verifying with the CA in `ca_file`, or accepting any
/// certificate when there is none. A CA file that cannot be read or holds no certificate is
/// a 503 naming the file.
pub fn client_config(ca_file: Option<&Path>) -> Result<ClientConfig, ApiError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ApiError::internal(format!("TLS setup failed: {e}")))?;
    let config = match ca_file {
        Some(path) => builder
            .with_root_certificates(roots(path)?)
            .with_no_client_auth(),
        None => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate {
                algorithms: provider.signature_verification_algorithms,
            }))
            .with_no_client_auth(),
    };
    Ok(config)
}

/// The certificates of a PEM bundle as trust anchors.
fn roots(path: &Path) -> Result<RootCertStore, ApiError> {
    let unusable = |why: String| {
        ApiError::unavailable(format!(
            "The CA bundle for splunkd ({}) cannot be used: {why}.",
            path.display()
        ))
    };
    let pem = std::fs::read(path).map_err(|e| unusable(e.to_string()))?;
    let mut store = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| unusable(format!("invalid PEM: {e}")))?;
        store
            .add(cert)
            .map_err(|e| unusable(format!("invalid certificate: {e}")))?;
    }
    if store.is_empty() {
        return Err(unusable("it holds no certificate".into()));
    }
    Ok(store)
}

/// Accepts any server certificate but still verifies that the server holds its key, for
/// splunkd's local management port with its self-signed certificate.
#[derive(Debug)]
struct AcceptAnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unusable_ca_files_are_503_naming_the_file() {
        let dir = std::env::temp_dir().join(format!("tls-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("missing.pem");
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "no pem here\n").unwrap();
        for path in [&missing, &empty] {
            let e = client_config(Some(path)).unwrap_err();
            assert_eq!(e.status(), 503);
            assert!(
                e.message.contains(&path.display().to_string()),
                "{}",
                e.message
            );
        }
        assert!(client_config(None).is_ok());
        let _ = std::fs::remove_dir_all(dir);
    }
}
