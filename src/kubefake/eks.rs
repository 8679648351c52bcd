//! EKS tokens checked as aws-iam-authenticator checks them, but offline: instead of handing
//! the presigned `GetCallerIdentity` URL to STS, the fake signs the same request again with
//! the secret key it knows for the token's access key and the cluster name it is configured
//! with, using the repo's own presigner ([`crate::runtime::kubernetes::eks::presigned_url`],
//! aws-sigv4 underneath), and compares signatures. A token for another cluster, signed with
//! another secret or altered in any signed part, does not match. Expiry follows the URL's
//! `X-Amz-Date` + `X-Amz-Expires` against the clock. Limits: the presigner signs 60 s and no
//! session token, so tokens signed otherwise are refused as mis-signed.

use crate::protocol::request::Secret;
use crate::runtime::kubernetes::eks::{TOKEN_PREFIX, presigned_url};
use crate::runtime::kubernetes::settings::AwsAccess;
use base64::Engine;
use hyper::Uri;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

/// An AWS identity the fake knows: its key pair and the Kubernetes user it maps to (what
/// the `aws-auth` ConfigMap does on EKS). `Debug` leaves the secret out.
#[derive(Clone)]
pub struct EksAccount {
    /// The access key id (`AKID...`).
    pub access_key_id: String,
    /// Its secret, used only to re-sign.
    pub secret_access_key: String,
    /// The Kubernetes user name it is mapped to.
    pub user: String,
}

impl std::fmt::Debug for EksAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EksAccount")
            .field("access_key_id", &self.access_key_id)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// The longest token aws-iam-authenticator accepts.
const MAX_TOKEN: usize = 4096;

/// How far in the future `X-Amz-Date` may be (clock skew).
const SKEW: Duration = Duration::from_secs(300);

/// The query parameters a token's URL may carry (single-valued each).
const ALLOWED: [&str; 9] = [
    "Action",
    "Version",
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Security-Token",
    "X-Amz-Signature",
];

/// Whether `host` is an STS endpoint (`sts.amazonaws.com`, `sts.<region>.amazonaws.com[.cn]`).
fn sts_host(host: &str) -> bool {
    if host == "sts.amazonaws.com" {
        return true;
    }
    let rest = host.strip_prefix("sts.");
    let region = rest.and_then(|r| {
        r.strip_suffix(".amazonaws.com")
            .or_else(|| r.strip_suffix(".amazonaws.com.cn"))
    });
    region.is_some_and(|r| {
        !r.is_empty()
            && r.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    })
}

/// `yyyymmddThhmmssZ` as a time.
fn amz_date(text: &str) -> Option<SystemTime> {
    let dt = jiff::civil::DateTime::strptime("%Y%m%dT%H%M%SZ", text).ok()?;
    let ts = dt.to_zoned(jiff::tz::TimeZone::UTC).ok()?.timestamp();
    let secs = u64::try_from(ts.as_second()).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
}

/// Checks `token` for `cluster` at `now`; the user it maps to, or why it is refused (for
/// the fake's request log; clients only ever see `Unauthorized`).
pub fn verify(
    token: &str,
    cluster: &str,
    accounts: &[EksAccount],
    now: SystemTime,
) -> Result<String, String> {
    let encoded = token
        .strip_prefix(TOKEN_PREFIX)
        .ok_or("not an EKS token (no k8s-aws-v1. prefix)")?;
    if token.len() > MAX_TOKEN {
        return Err("the EKS token is longer than 4096 bytes".into());
    }
    let url = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded.trim_end_matches('='))
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or("the EKS token is not base64url of a URL")?;
    let uri: Uri = url
        .parse()
        .map_err(|_| "the EKS token's URL does not parse")?;
    let host = uri.host().unwrap_or("");
    if uri.scheme_str() != Some("https") || !sts_host(host) || uri.path() != "/" {
        return Err(format!(
            "the EKS token's URL is not an STS endpoint: {host}"
        ));
    }
    let mut params = BTreeMap::new();
    for (k, v) in form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
        if !ALLOWED.contains(&k.as_ref()) {
            return Err(format!("the EKS token's URL has the parameter {k}"));
        }
        if params.insert(k.into_owned(), v.into_owned()).is_some() {
            return Err("the EKS token's URL repeats a parameter".into());
        }
    }
    let get = |k: &str| params.get(k).map(String::as_str).unwrap_or("");
    if get("Action") != "GetCallerIdentity" || get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256" {
        return Err("the EKS token is not a SigV4 GetCallerIdentity request".into());
    }
    if !get("X-Amz-SignedHeaders")
        .split(';')
        .any(|h| h == "x-k8s-aws-id")
    {
        return Err("the EKS token does not sign x-k8s-aws-id".into());
    }
    let scope: Vec<&str> = get("X-Amz-Credential").split('/').collect();
    let [key_id, _day, region, "sts", "aws4_request"] = scope.as_slice() else {
        return Err("the EKS token's credential scope is not sts/aws4_request".into());
    };
    let account = accounts
        .iter()
        .find(|a| a.access_key_id == *key_id)
        .ok_or("the EKS token is signed with an unknown access key")?;
    let signed_at = amz_date(get("X-Amz-Date")).ok_or("the EKS token has no valid X-Amz-Date")?;
    let expires: u64 = get("X-Amz-Expires")
        .parse()
        .ok()
        .filter(|e| *e <= 900)
        .ok_or("the EKS token's X-Amz-Expires is not within 0..=900")?;
    if now > signed_at + Duration::from_secs(expires) {
        return Err("the EKS token has expired".into());
    }
    if signed_at > now + SKEW {
        return Err("the EKS token is signed in the future".into());
    }
    let access = AwsAccess {
        cluster_name: cluster.to_string(),
        region: region.to_string(),
        access_key_id: Secret::new(account.access_key_id.clone()),
        secret_access_key: Secret::new(account.secret_access_key.clone()),
    };
    let endpoint = format!(
        "https://{}",
        uri.authority().map(|a| a.as_str()).unwrap_or(host)
    );
    let expected = presigned_url(&access, &endpoint, signed_at)?;
    let expected: Uri = expected
        .parse()
        .map_err(|_| "cannot re-sign the EKS token")?;
    let want = form_urlencoded::parse(expected.query().unwrap_or("").as_bytes())
        .find(|(k, _)| k == "X-Amz-Signature")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let got = get("X-Amz-Signature");
    let same = want.len() == got.len()
        && want
            .bytes()
            .zip(got.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if !same {
        return Err(format!(
            "the EKS token's signature does not match (another secret key, another cluster \
             than {cluster:?}, or an altered URL)"
        ));
    }
    Ok(account.user.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::kubernetes::eks::Signer;

    const CLUSTER: &str = "my-cluster";

    fn account() -> EksAccount {
        EksAccount {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            user: "eks-admin".into(),
        }
    }

    fn token(cluster: &str, secret: &str, at: SystemTime) -> String {
        let a = account();
        let aws = AwsAccess {
            cluster_name: cluster.into(),
            region: "us-west-2".into(),
            access_key_id: Secret::new(a.access_key_id),
            secret_access_key: Secret::new(secret),
        };
        Signer::new(aws, &|_| None).unwrap().token(at).unwrap()
    }

    #[test]
    fn accepts_a_fresh_token_and_refuses_the_rest() {
        let now = SystemTime::now();
        let accounts = [account()];
        assert!(
            !format!("{accounts:?}").contains("EXAMPLEKEY"),
            "Debug hides the secret"
        );
        let good = token(CLUSTER, &account().secret_access_key, now);
        assert_eq!(verify(&good, CLUSTER, &accounts, now).unwrap(), "eks-admin");
        let err = |t: &str, at: SystemTime| verify(t, CLUSTER, &accounts, at).unwrap_err();
        assert!(err(&good, now + Duration::from_secs(61)).contains("expired"));
        assert!(err(&good, now - Duration::from_secs(600)).contains("future"));
        let other_cluster = token("other", &account().secret_access_key, now);
        assert!(err(&other_cluster, now).contains("signature does not match"));
        let other_secret = token(CLUSTER, "not-the-secret", now);
        assert!(err(&other_secret, now).contains("signature does not match"));
        assert!(err("k8s-aws-v1.!!", now).contains("base64url"));
        assert!(err("abc", now).contains("prefix"));
        assert!(
            verify(&good, CLUSTER, &[], now)
                .unwrap_err()
                .contains("unknown access key")
        );
        // Altering a signed part (the date) breaks the signature even when still fresh.
        let url = String::from_utf8(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(&good[TOKEN_PREFIX.len()..])
                .unwrap(),
        )
        .unwrap();
        let date = url.split("X-Amz-Date=").nth(1).unwrap()[..16].to_string();
        let earlier = jiff::Timestamp::try_from(now - Duration::from_secs(1))
            .unwrap()
            .strftime("%Y%m%dT%H%M%SZ")
            .to_string();
        if earlier != date {
            let forged = url.replace(&date, &earlier);
            let forged = format!(
                "{TOKEN_PREFIX}{}",
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(forged)
            );
            assert!(err(&forged, now).contains("signature does not match"));
        }
    }

    #[test]
    fn only_sts_hosts() {
        assert!(sts_host("sts.amazonaws.com"));
        assert!(sts_host("sts.us-west-2.amazonaws.com"));
        assert!(sts_host("sts.cn-north-1.amazonaws.com.cn"));
        assert!(!sts_host("sts.evil.example"));
        assert!(!sts_host("sts..amazonaws.com"));
    }
}
