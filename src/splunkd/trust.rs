//! What the driver trusts when it calls splunkd: the certificate chain and host name checked
//! against a configured CA bundle (`DSDL_SPLUNKD_CA`), or, without one, splunkd's
//! (self-signed) certificate accepted while the handshake signatures are still checked. The
//! TLS machinery itself is [`crate::tls`].

use crate::error::ApiError;
use crate::tls::{Verify, roots_from_pem};
use rustls::ClientConfig;
use std::path::Path;

/// The client TLS configuration: verifying with the CA in `ca_file`, or accepting any
/// certificate when there is none. A CA file that cannot be read or holds no certificate is
/// a 503 naming the file.
pub fn client_config(ca_file: Option<&Path>) -> Result<ClientConfig, ApiError> {
    let verify = match ca_file {
        Some(path) => {
            let unusable = |why: String| {
                ApiError::unavailable(format!(
                    "The CA bundle for splunkd ({}) cannot be used: {why}.",
                    path.display()
                ))
            };
            let pem = std::fs::read(path).map_err(|e| unusable(e.to_string()))?;
            Verify::Anchors {
                roots: roots_from_pem(&pem).map_err(unusable)?,
                hostname: true,
            }
        }
        None => Verify::AcceptAny,
    };
    crate::tls::client_config(verify, None).map_err(ApiError::internal)
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
