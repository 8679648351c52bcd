//! The fake's throwaway PKI, made fresh at start with rcgen: one CA that signs the server's
//! certificate (for 127.0.0.1 and localhost) and the client certificates tests ask for, and
//! the rustls server configuration that asks for (but does not require) a client certificate
//! chaining to that CA. Also the subject CN of a verified client certificate, read with a
//! minimal DER walk (the one field needed does not justify an X.509 parser dependency).

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::Arc;

/// The CA and the server's certificate.
pub struct Pki {
    /// The CA certificate, PEM (what clients trust).
    pub ca_pem: String,
    ca_der: CertificateDer<'static>,
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
        let ca_key = rcgen::KeyPair::generate().map_err(err)?;
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(err)?;
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "kube-fake CA");
        let ca = params.self_signed(&ca_key).map_err(err)?;
        let issuer = rcgen::Issuer::new(params, ca_key);
        let key = rcgen::KeyPair::generate().map_err(err)?;
        let mut server =
            rcgen::CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
                .map_err(err)?;
        server
            .distinguished_name
            .push(rcgen::DnType::CommonName, "kube-apiserver");
        let server = server.signed_by(&key, &issuer).map_err(err)?;
        Ok(Pki {
            ca_pem: ca.pem(),
            ca_der: ca.der().clone(),
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

    /// The server side of TLS: this certificate, HTTP/1.1, client certificates from the CA
    /// accepted but optional (tokens and passwords come without one).
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca_der.clone()).map_err(err)?;
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .allow_unauthenticated()
        .build()
        .map_err(err)?;
        let key = PrivateKeyDer::Pkcs8(self.server.1.clone().into());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(err)?
            .with_client_cert_verifier(verifier)
            .with_single_cert(vec![self.server.0.clone()], key)
            .map_err(err)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
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
        assert_eq!(subject_cn(b"\x30\x03\x02"), None);
        assert_eq!(subject_cn(&der[..der.len() / 2]), None);
    }
}
