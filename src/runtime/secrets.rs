//! The secrets of one connection, read with one storage/passwords listing and handed to the
//! pure builders by name; never logged ([`Secret`] has a redacting `Debug`).

use crate::protocol::request::Secret;
use base64::Engine;
use std::collections::BTreeMap;

/// A connection's stored secrets by field name (the storage/passwords username).
#[derive(Debug, Default, Clone)]
pub struct Secrets(BTreeMap<String, Secret>);

impl Secrets {
    /// From a realm listing: `(username, secret)` pairs.
    pub fn from_listing(listing: Vec<(String, Secret)>) -> Secrets {
        Secrets(listing.into_iter().collect())
    }

    /// The secret stored for `field`, if it has a value.
    pub fn get(&self, field: &str) -> Option<&Secret> {
        self.0.get(field).filter(|s| !s.is_empty())
    }

    /// Sets (or replaces) a secret, e.g. one given in a request body for a test.
    pub fn set(&mut self, field: &str, value: Secret) {
        self.0.insert(field.to_string(), value);
    }

    /// The stored value of `field` as PEM bytes: stored either as PEM text or as the base64
    /// of a PEM (the AI Toolkit's form). `None` when absent; an error names the field.
    pub fn pem(&self, field: &str) -> Result<Option<Vec<u8>>, String> {
        let Some(secret) = self.get(field) else {
            return Ok(None);
        };
        let text = secret.expose().trim();
        if text.contains("-----BEGIN") {
            return Ok(Some(text.as_bytes().to_vec()));
        }
        let compact: String = text.split_whitespace().collect();
        match base64::engine::general_purpose::STANDARD.decode(compact.as_bytes()) {
            Ok(bytes) if bytes.windows(10).any(|w| w == b"-----BEGIN") => Ok(Some(bytes)),
            _ => Err(format!(
                "{field} is neither PEM text nor the base64 of a PEM; paste the PEM file's content."
            )),
        }
    }
}

/// A new random token of `len` characters from `[A-Za-z0-9]`, e.g. a container API token.
pub fn random_token(len: usize) -> Result<String, String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        getrandom::fill(&mut buf).map_err(|e| format!("no randomness available: {e}"))?;
        // 248 = 4 * 62: rejecting bytes above it keeps every character equally likely.
        for b in buf.iter().filter(|&&b| b < 248) {
            if out.len() == len {
                break;
            }
            out.push(ALPHABET[(*b % 62) as usize] as char);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_is_read_as_text_or_base64() {
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        let b64 = base64::engine::general_purpose::STANDARD.encode(pem);
        let s = Secrets::from_listing(vec![
            ("a".into(), Secret::new(pem)),
            ("b".into(), Secret::new(b64)),
            ("c".into(), Secret::new("not a pem")),
            ("d".into(), Secret::new("")),
        ]);
        assert_eq!(s.pem("a").unwrap().unwrap(), pem.trim().as_bytes());
        assert_eq!(s.pem("b").unwrap().unwrap(), pem.as_bytes());
        let e = s.pem("c").unwrap_err();
        assert!(
            e.contains("c is neither") && !e.contains("not a pem"),
            "{e}"
        );
        assert_eq!(s.pem("d").unwrap(), None);
        assert_eq!(s.pem("zz").unwrap(), None);
    }

    #[test]
    fn tokens_are_alphanumeric_and_differ() {
        let a = random_token(64).unwrap();
        let b = random_token(64).unwrap();
        assert_eq!(a.len(), 64);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }
}
