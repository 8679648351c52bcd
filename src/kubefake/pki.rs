//! The fake's throwaway PKI, made fresh at start with rcgen: one CA that signs the server's
//! certificate (for 127.0.0.1 and localhost) and the client certificates tests ask for, and
//! the rustls server configuration. Like kube-apiserver (`tls.RequestClientCert`), the
//! handshake asks for a client certificate but accepts any (the client still proves it holds
//! the key); the chain is checked against the CA afterwards ([`Pki::verify_client`]), so a
//! certificate from another CA is a 401, not a failed handshake. Also the subject CN of a verified client certificate, read with a
//! minimal DER walk (the one field needed does not justify an X.509 parser dependency).

use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use std::sync::Arc;

/// Asks for a client certificate and lets any through the handshake, with the handshake
/// signatures checked by the CA's verifier; [`Pki::verify_client`] judges the chain.
#[derive(Debug)]
struct RequestCert(Arc<dyn ClientCertVerifier>);

impl ClientCertVerifier for RequestCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.0.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// The CA and the server's certificate.
pub struct Pki {
    /// The CA certificate, PEM (what clients trust).
    pub ca_pem: String,
    verifier: Arc<dyn ClientCertVerifier>,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    server: (CertificateDer<'static>, Vec<u8>),
}

impl std::fmt::Debug for Pki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pki").finish_non_exhaustive()
    }
}

fn err(e: impl std::fmt::Display) -> String {
    format!("cannot make the fake's certificates: {e}")
}

impl Pki {
    /// A new CA, and a server certificate it signed for 127.0.0.1 and localhost.
    pub fn generate() -> Result<Pki, String> {
        Pki::generate_for(&["127.0.0.1".into(), "localhost".into()])
    }

    /// A new CA, and a server certificate it signed for `names` (host names or IPs).
    pub fn generate_for(names: &[String]) -> Result<Pki, String> {
        let ca_key = rcgen::KeyPair::generate().map_err(err)?;
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(err)?;
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "kube-fake CA");
        let ca = params.self_signed(&ca_key).map_err(err)?;
        let issuer = rcgen::Issuer::new(params, ca_key);
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.der().clone()).map_err(err)?;
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build()
        .map_err(err)?;
        let key = rcgen::KeyPair::generate().map_err(err)?;
        let mut server = rcgen::CertificateParams::new(names.to_vec()).map_err(err)?;
        server
            .distinguished_name
            .push(rcgen::DnType::CommonName, "kube-apiserver");
        let server = server.signed_by(&key, &issuer).map_err(err)?;
        Ok(Pki {
            ca_pem: ca.pem(),
            verifier,
            issuer,
            server: (server.der().clone(), key.serialize_der()),
        })
    }

    /// A client certificate for user `cn` (and its key), PEM, signed by the CA.
    pub fn client_cert(&self, cn: &str) -> Result<(String, String), String> {
        let key = rcgen::KeyPair::generate().map_err(err)?;
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(err)?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "dsdl-testers");
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params.signed_by(&key, &self.issuer).map_err(err)?;
        Ok((cert.pem(), key.serialize_pem()))
    }

    /// The server side of TLS: this certificate, HTTP/1.1, a client certificate asked for.
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = PrivateKeyDer::Pkcs8(self.server.1.clone().into());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(err)?
            .with_client_cert_verifier(Arc::new(RequestCert(self.verifier.clone())))
            .with_single_cert(vec![self.server.0.clone()], key)
            .map_err(err)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    /// The user (subject CN) of a client certificate chain presented in the handshake, or
    /// why it is refused (not the CA's, expired, not for client auth, no CN).
    pub fn verify_client(&self, chain: &[CertificateDer<'_>]) -> Result<String, String> {
        let (leaf, intermediates) = chain.split_first().ok_or("no client certificate")?;
        self.verifier
            .verify_client_cert(leaf, intermediates, UnixTime::now())
            .map_err(|e| format!("the client certificate is refused: {e}"))?;
        subject_cn(leaf).ok_or_else(|| "the client certificate has no subject CN".to_string())
    }
}

/// One DER element: (tag, contents, rest).
fn element(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = der.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let (bytes, tail) = rest.split_at(n);
        rest = tail;
        bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
    };
    if rest.len() < len {
        return None;
    }
    let (contents, rest) = rest.split_at(len);
    Some((tag, contents, rest))
}

/// The subject's common name (OID 2.5.4.3) of a DER certificate.
pub fn subject_cn(der: &[u8]) -> Option<String> {
    const SEQUENCE: u8 = 0x30;
    let (SEQUENCE, cert, _) = element(der)? else {
        return None;
    };
    let (SEQUENCE, tbs, _) = element(cert)? else {
        return None;
    };
    let mut rest = tbs;
    let mut fields = Vec::new();
    while !rest.is_empty() {
        let (tag, contents, tail) = element(rest)?;
        fields.push((tag, contents));
        rest = tail;
    }
    // [0] version (optional), serial, signature, issuer, validity, subject.
    let skip = usize::from(fields.first()?.0 == 0xa0);
    let (SEQUENCE, subject) = *fields.get(skip + 4)? else {
        return None;
    };
    let mut rdns = subject;
    let mut cn = None;
    while !rdns.is_empty() {
        let (_set, set, tail) = element(rdns)?;
        rdns = tail;
        let (_seq, atv, _) = element(set)?;
        let (_oid_tag, oid, after) = element(atv)?;
        let (_str_tag, value, _) = element(after)?;
        if oid == [0x55, 0x04, 0x03] {
            cn = Some(String::from_utf8_lossy(value).into_owned());
        }
    }
    cn
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::pem::PemObject;

    #[test]
    fn client_certificates_name_their_user() {
        let pki = Pki::generate().unwrap();
        let (cert, key) = pki.client_cert("alice").unwrap();
        assert!(key.contains("PRIVATE KEY"));
        let der = CertificateDer::from_pem_slice(cert.as_bytes()).unwrap();
        assert_eq!(subject_cn(&der).as_deref(), Some("alice"));
        let ca = CertificateDer::from_pem_slice(pki.ca_pem.as_bytes()).unwrap();
        assert_eq!(subject_cn(&ca).as_deref(), Some("kube-fake CA"));
        assert!(pki.server_config().is_ok());
        assert_eq!(
            pki.verify_client(std::slice::from_ref(&der)).unwrap(),
            "alice"
        );
        let other = Pki::generate().unwrap();
        let (stranger, _) = other.client_cert("alice").unwrap();
        let stranger = CertificateDer::from_pem_slice(stranger.as_bytes()).unwrap();
        assert!(
            pki.verify_client(&[stranger])
                .unwrap_err()
                .contains("refused")
        );
        assert_eq!(subject_cn(b"\x30\x03\x02"), None);
        assert_eq!(subject_cn(&der[..der.len() / 2]), None);
    }
}
