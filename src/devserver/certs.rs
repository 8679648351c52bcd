//! `--tls`: a self-signed certificate for 127.0.0.1 and localhost, generated once and kept in
//! `etc/auth/` so clients (curl `--cacert`, the driver via `DSDL_SPLUNKD_CA`) can verify
//! splunkd-dev as they would verify a real splunkd with its own CA. The TLS configuration made
//! from it is [`crate::tls::server_config`].

use rustls::pki_types::PrivateKeyDer;
use rustls::pki_types::pem::PemObject;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where the certificate and key live.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// PEM certificate (also the CA clients trust).
    pub cert: PathBuf,
    /// PEM private key, owner-readable only.
    pub key: PathBuf,
}

/// Why TLS could not be set up.
#[derive(Debug)]
pub enum TlsError {
    /// Certificate generation failed.
    Generate(String),
    /// Reading or writing a PEM file failed.
    Io(PathBuf, std::io::Error),
    /// A PEM file could not be parsed.
    Pem(PathBuf, String),
    /// rustls rejected the certificate or key.
    Config(String),
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::Generate(e) => write!(f, "cannot generate a TLS certificate: {e}"),
            TlsError::Io(p, e) => write!(f, "{}: {e}", p.display()),
            TlsError::Pem(p, e) => write!(
                f,
                "{} is not a usable PEM file ({e}); delete it to have a new certificate generated",
                p.display()
            ),
            TlsError::Config(e) => write!(f, "TLS configuration failed: {e}"),
        }
    }
}

impl std::error::Error for TlsError {}

/// The certificate files of a SPLUNK_HOME.
pub fn tls_files(splunk_home: &Path) -> TlsFiles {
    let dir = splunk_home.join("etc/auth");
    TlsFiles {
        cert: dir.join("splunkd-dev-cert.pem"),
        key: dir.join("splunkd-dev-key.pem"),
    }
}

/// Returns the certificate files, generating them when either is missing.
pub fn ensure_cert(splunk_home: &Path) -> Result<TlsFiles, TlsError> {
    let files = tls_files(splunk_home);
    if files.cert.is_file() && files.key.is_file() {
        return Ok(files);
    }
    let mut params = rcgen::CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
        .map_err(|e| TlsError::Generate(e.to_string()))?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "splunkd-dev");
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "splunkd-dev (self-signed)");
    let key = rcgen::KeyPair::generate().map_err(|e| TlsError::Generate(e.to_string()))?;
    let cert = params
        .self_signed(&key)
        .map_err(|e| TlsError::Generate(e.to_string()))?;
    if let Some(dir) = files.cert.parent() {
        std::fs::create_dir_all(dir).map_err(|e| TlsError::Io(dir.to_path_buf(), e))?;
    }
    write_private(&files.key, key.serialize_pem().as_bytes())?;
    std::fs::write(&files.cert, cert.pem()).map_err(|e| TlsError::Io(files.cert.clone(), e))?;
    Ok(files)
}

/// Writes the key as a new file readable by its owner only, even when an older key file with
/// wider permissions is in the way (it is replaced, not rewritten in place).
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), TlsError> {
    crate::conffile::write_atomic(path, bytes, 0o600)
        .map_err(|e| TlsError::Io(path.to_path_buf(), e))
}

/// A rustls server configuration (ring provider, HTTP/1.1) from the PEM files.
pub fn server_config(files: &TlsFiles) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let read =
        |path: &Path| std::fs::read(path).map_err(|e| TlsError::Pem(path.into(), e.to_string()));
    let certs = crate::tls::certs_from_pem(&read(&files.cert)?)
        .map_err(|e| TlsError::Pem(files.cert.clone(), e.to_string()))?;
    if certs.is_empty() {
        return Err(TlsError::Pem(files.cert.clone(), "no certificate".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(&read(&files.key)?)
        .map_err(|e| TlsError::Pem(files.key.clone(), e.to_string()))?;
    let config = crate::tls::server_config(certs, key).map_err(TlsError::Config)?;
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_once_and_usable() {
        let home = std::env::temp_dir().join(format!("splunkd-dev-tls-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&home);
        let files = ensure_cert(&home).unwrap();
        let first = std::fs::read(&files.cert).unwrap();
        assert!(String::from_utf8_lossy(&first).starts_with("-----BEGIN CERTIFICATE-----"));
        ensure_cert(&home).unwrap();
        assert_eq!(std::fs::read(&files.cert).unwrap(), first, "reused");
        assert!(server_config(&files).is_ok());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&files.key).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0);
        }
        std::fs::write(&files.cert, "junk").unwrap();
        assert!(matches!(server_config(&files), Err(TlsError::Pem(..))));
        let _ = std::fs::remove_dir_all(&home);
    }

    /// A client trusting only the certificate file, built as the driver builds it for
    /// `DSDL_SPLUNKD_CA`, completes a handshake for 127.0.0.1 and localhost.
    #[tokio::test]
    async fn rustls_clients_verify_it_as_their_ca() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let home = std::env::temp_dir().join(format!("splunkd-dev-tls-rt-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&home);
        let files = ensure_cert(&home).unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(server_config(&files).unwrap());
        let roots = crate::tls::roots_from_pem(&std::fs::read(&files.cert).unwrap()).unwrap();
        let verify = crate::tls::Verify::Anchors {
            roots,
            hostname: true,
        };
        let client = crate::tls::client_config(verify, None).unwrap();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
        for name in ["127.0.0.1", "localhost"] {
            let (a, b) = tokio::io::duplex(64 * 1024);
            let acceptor = acceptor.clone();
            let server = tokio::spawn(async move {
                let mut s = acceptor.accept(b).await.unwrap();
                s.write_all(b"hi").await.unwrap();
                s.shutdown().await.unwrap();
            });
            let sn = rustls::pki_types::ServerName::try_from(name).unwrap();
            let mut c = connector.connect(sn, a).await.unwrap();
            let mut got = Vec::new();
            c.read_to_end(&mut got).await.unwrap();
            assert_eq!(got, b"hi", "{name}");
            server.await.unwrap();
        }
        let (a, b) = tokio::io::duplex(64 * 1024);
        let acc = acceptor.clone();
        tokio::spawn(async move {
            let _ = acc.accept(b).await;
        });
        let wrong = rustls::pki_types::ServerName::try_from("example.com").unwrap();
        assert!(
            connector.connect(wrong, a).await.is_err(),
            "SANs are checked"
        );
        let _ = std::fs::remove_dir_all(&home);
    }
}
