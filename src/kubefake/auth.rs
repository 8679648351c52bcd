//! Who is calling, checked for real, in the order a kube-apiserver tries its authenticators:
//! a client certificate the fake's CA signed (user = its subject CN; the chain was checked
//! after the handshake by [`super::pki::Pki::verify_client`]), then the `Authorization` header: a bearer token
//! from the token table, an EKS token ([`super::eks`]), or HTTP Basic from the user/password
//! table. No credentials, or credentials nobody issued: 401. [`self_review`] says who a caller
//! is. Pure.

use super::eks::{self, EksAccount};
use base64::Engine;
use serde_json::{Value, json};
use std::time::SystemTime;

/// Every credential the fake accepts. `Debug` shows users, never tokens or passwords.
#[derive(Clone, Default)]
pub struct Credentials {
    /// Bearer token → user.
    pub tokens: Vec<(String, String)>,
    /// Basic user → password.
    pub passwords: Vec<(String, String)>,
    /// The EKS cluster name tokens must be bound to (`x-k8s-aws-id`).
    pub eks_cluster: String,
    /// AWS identities allowed to present EKS tokens.
    pub eks_accounts: Vec<EksAccount>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let token_users: Vec<&str> = self.tokens.iter().map(|(_, u)| u.as_str()).collect();
        let basic_users: Vec<&str> = self.passwords.iter().map(|(u, _)| u.as_str()).collect();
        f.debug_struct("Credentials")
            .field("token_users", &token_users)
            .field("basic_users", &basic_users)
            .field("eks_cluster", &self.eks_cluster)
            .field("eks_accounts", &self.eks_accounts)
            .finish()
    }
}

/// Compares secrets without an early exit.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The user of a request, or why it is refused (never containing a credential). `cert` is
/// the client certificate's verdict when one was presented; a refused certificate is a 401
/// unless the header authenticates (the first authenticator that succeeds wins).
pub fn authenticate(
    creds: &Credentials,
    authorization: Option<&str>,
    cert: Option<&Result<String, String>>,
    now: SystemTime,
) -> Result<String, String> {
    let cert_refused = match cert {
        Some(Ok(user)) => return Ok(user.clone()),
        Some(Err(why)) => Some(why.clone()),
        None => None,
    };
    let Some(header) = authorization.map(str::trim) else {
        return Err(cert_refused.unwrap_or_else(|| "no credentials".into()));
    };
    let (scheme, value) = header
        .split_once(' ')
        .ok_or("an Authorization header without a scheme")?;
    let value = value.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        if value.starts_with(crate::runtime::kubernetes::eks::TOKEN_PREFIX) {
            return eks::verify(value, &creds.eks_cluster, &creds.eks_accounts, now);
        }
        return creds
            .tokens
            .iter()
            .find(|(t, _)| same(t, value))
            .map(|(_, u)| u.clone())
            .ok_or_else(|| "an unknown bearer token".to_string());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(value)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or("a Basic header that is not base64 of user:password")?;
        let (user, password) = decoded
            .split_once(':')
            .ok_or("a Basic header without ':'")?;
        return creds
            .passwords
            .iter()
            .find(|(u, p)| u == user && same(p, password))
            .map(|(u, _)| u.clone())
            .ok_or_else(|| format!("a wrong password for {user:?}"));
    }
    Err(format!(
        "the Authorization scheme {scheme:?} is not accepted"
    ))
}

/// Answers a `SelfSubjectReview` body for `user` (`kubectl auth whoami`): the review with the
/// user as the server knows them.
pub fn self_review(user: &str, mut review: Value) -> Value {
    review["kind"] = json!("SelfSubjectReview");
    review["apiVersion"] = json!("authentication.k8s.io/v1");
    if !review["metadata"].is_object() {
        review["metadata"] = json!({});
    }
    review["status"] = json!({"userInfo": {
        "username": user,
        "groups": ["system:authenticated"],
    }});
    review
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> Credentials {
        Credentials {
            tokens: vec![("tok-1".into(), "alice".into())],
            passwords: vec![("bob".into(), "pw".into())],
            ..Credentials::default()
        }
    }

    #[test]
    fn each_scheme_is_checked() {
        let c = creds();
        let now = SystemTime::now();
        let auth = |h: Option<&str>, cert: Option<&str>| {
            let cert = cert.map(|c| match c {
                "refused" => Err("the client certificate is refused".to_string()),
                user => Ok(user.to_string()),
            });
            authenticate(&c, h, cert.as_ref(), now)
        };
        assert_eq!(auth(Some("Bearer tok-1"), None).unwrap(), "alice");
        assert!(auth(Some("Bearer tok-2"), None).is_err());
        let basic = |u: &str, p: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            )
        };
        assert_eq!(auth(Some(&basic("bob", "pw")), None).unwrap(), "bob");
        let wrong = auth(Some(&basic("bob", "nope")), None).unwrap_err();
        assert!(!wrong.contains("nope"), "{wrong}");
        assert!(auth(Some(&basic("alice", "pw")), None).is_err());
        assert_eq!(auth(None, Some("carol")).unwrap(), "carol");
        assert_eq!(
            auth(Some("Bearer bad"), Some("carol")).unwrap(),
            "carol",
            "x509 first"
        );
        assert_eq!(auth(None, None).unwrap_err(), "no credentials");
        assert!(auth(None, Some("refused")).unwrap_err().contains("refused"));
        assert_eq!(
            auth(Some("Bearer tok-1"), Some("refused")).unwrap(),
            "alice"
        );
        assert!(auth(Some("Digest x"), None).is_err());
        assert!(
            auth(Some("Bearer k8s-aws-v1.xx"), None)
                .unwrap_err()
                .contains("EKS")
        );
    }
}
