//! EKS tokens for `aws-iam`: what `aws eks get-token` prints, made here. The token is
//! `k8s-aws-v1.` + base64url (no padding) of an STS `GetCallerIdentity` URL presigned with
//! SigV4 (by `aws-sigv4`, not by hand), with `x-k8s-aws-id: <cluster name>` among the signed
//! headers so the token is good for that cluster only. The API server hands it to STS to learn
//! who is calling. Signing is local and cheap, so a token is minted for every request rather
//! than cached (STS honours a presigned URL for 15 minutes whatever `X-Amz-Expires` says; 60 s
//! is what the AI Toolkit and the AWS CLI sign).

use super::settings::AwsAccess;
use crate::error::ApiError;
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use base64::Engine;
use hyper::Uri;
use std::time::{Duration, SystemTime};

/// The prefix the API server's authenticator expects.
pub const TOKEN_PREFIX: &str = "k8s-aws-v1.";

/// The header that binds a token to one cluster.
pub const CLUSTER_ID_HEADER: &str = "x-k8s-aws-id";

/// What the presigned URL says about its own lifetime.
pub const EXPIRES: Duration = Duration::from_secs(60);

/// The standard overrides of the STS endpoint, most specific first (as the AWS SDKs read them).
pub const STS_ENDPOINT_VARS: [&str; 2] = ["AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL"];

/// Mints EKS tokens for one cluster. `Debug` shows no credential.
#[derive(Debug, Clone)]
pub struct Signer {
    aws: AwsAccess,
    /// The STS endpoint (`scheme://host[:port]`), without a trailing `/`.
    endpoint: String,
}

impl Signer {
    /// A signer for `aws`, with the STS endpoint of its region unless one of
    /// [`STS_ENDPOINT_VARS`] (looked up with `env`) points elsewhere.
    pub fn new(aws: AwsAccess, env: &dyn Fn(&str) -> Option<String>) -> Result<Signer, ApiError> {
        let endpoint = sts_endpoint(&aws.region, env)?;
        Ok(Signer { aws, endpoint })
    }

    /// A fresh token, signed at `now`.
    pub fn token(&self, now: SystemTime) -> Result<String, String> {
        let url = presigned_url(&self.aws, &self.endpoint, now)?;
        Ok(format!(
            "{TOKEN_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(url)
        ))
    }
}

/// The STS endpoint for `region`: an override from the environment, else
/// `https://sts.<region>.amazonaws.com` (`.amazonaws.com.cn` in the China regions).
pub fn sts_endpoint(
    region: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ApiError> {
    for var in STS_ENDPOINT_VARS {
        let Some(raw) = env(var).filter(|v| !v.trim().is_empty()) else {
            continue;
        };
        let bad = || {
            ApiError::bad_request(format!(
                "{var} {:?} is not an http(s)://host[:port] URL; fix or unset it in the \
                 environment splunkd runs in.",
                crate::names::excerpt(&raw, 80)
            ))
        };
        let uri: Uri = raw.trim().parse().map_err(|_| bad())?;
        let scheme_ok = matches!(uri.scheme_str(), Some("https" | "http"));
        let has_host = uri.host().is_some_and(|h| !h.is_empty());
        if !scheme_ok || !has_host || uri.query().is_some() {
            return Err(bad());
        }
        return Ok(raw.trim().trim_end_matches('/').to_string());
    }
    let domain = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    Ok(format!("https://sts.{region}.{domain}"))
}

/// The presigned `GET <endpoint>/?Action=GetCallerIdentity&Version=2011-06-15`, signed at `now`
/// for `expires_in` 60 s with the signed headers `host;x-k8s-aws-id`.
pub fn presigned_url(aws: &AwsAccess, endpoint: &str, now: SystemTime) -> Result<String, String> {
    let url = format!("{endpoint}/?Action=GetCallerIdentity&Version=2011-06-15");
    let uri: Uri = url
        .parse()
        .map_err(|e| format!("the STS endpoint {endpoint} is not a URL: {e}"))?;
    let host = uri
        .authority()
        .map(|a| a.as_str().to_string())
        .ok_or_else(|| format!("the STS endpoint {endpoint} has no host"))?;
    let identity = aws_credential_types::Credentials::new(
        aws.access_key_id.expose(),
        aws.secret_access_key.expose(),
        None,
        None,
        "dsdl-handler",
    )
    .into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(EXPIRES);
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(&aws.region)
        .name("sts")
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| format!("cannot sign the EKS token: {e}"))?
        .into();
    let headers = [
        ("host", host.as_str()),
        (CLUSTER_ID_HEADER, aws.cluster_name.as_str()),
    ];
    let request = SignableRequest::new(
        "GET",
        url.as_str(),
        headers.into_iter(),
        SignableBody::Bytes(&[]),
    )
    .map_err(|e| format!("cannot sign the EKS token: {e}"))?;
    let (instructions, _signature) = sign(request, &params)
        .map_err(|e| format!("cannot sign the EKS token: {e}"))?
        .into_parts();
    let mut signed = hyper::Request::builder()
        .uri(uri)
        .body(())
        .map_err(|e| format!("cannot sign the EKS token: {e}"))?;
    instructions.apply_to_request_http1x(&mut signed);
    Ok(signed.uri().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::request::Secret;

    fn aws(cluster: &str, region: &str) -> AwsAccess {
        AwsAccess {
            cluster_name: cluster.into(),
            region: region.into(),
            access_key_id: Secret::new("AKIDEXAMPLE"),
            secret_access_key: Secret::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
        }
    }

    /// 2024-01-02T03:04:05Z, the instant the golden values were signed at.
    fn golden_clock() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_704_164_645)
    }

    /// The query of a URL as sorted `(name, decoded value)` pairs.
    fn query(url: &str) -> Vec<(String, String)> {
        let uri: Uri = url.parse().unwrap();
        let mut pairs: Vec<(String, String)> =
            form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
                .into_owned()
                .collect();
        pairs.sort();
        pairs
    }

    /// Golden values recorded with botocore (tests/python/eks_token_golden.py): the presigned
    /// URL its RequestSigner makes, as the AWS CLI's `eks get-token` does, for the fixed
    /// credentials, region, cluster and clock above.
    const GOLDEN: [(&str, &str, &str); 2] = [
        // botocore 1.43.11, signed at 2024-01-02T03:04:05+00:00
        (
            "my-cluster",
            "us-west-2",
            "https://sts.us-west-2.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20240102%2Fus-west-2%2Fsts%2Faws4_request&X-Amz-Date=20240102T030405Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host%3Bx-k8s-aws-id&X-Amz-Signature=96ddda09e9523f6363892f52e5828dd6265b22ec87d8c91e28200a0ba6b77a30",
        ),
        (
            "prod.eks-1",
            "eu-central-1",
            "https://sts.eu-central-1.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20240102%2Feu-central-1%2Fsts%2Faws4_request&X-Amz-Date=20240102T030405Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host%3Bx-k8s-aws-id&X-Amz-Signature=416d74777b74d9864f4f4db8e3a845b698ebdc603548c4a134b936d3f142812a",
        ),
    ];

    #[test]
    fn presigned_urls_match_botocore() {
        for (cluster, region, golden) in GOLDEN {
            let endpoint = sts_endpoint(region, &|_| None).unwrap();
            let ours = presigned_url(&aws(cluster, region), &endpoint, golden_clock()).unwrap();
            let (ours_base, _) = ours.split_once('?').unwrap();
            let (golden_base, _) = golden.split_once('?').unwrap();
            assert_eq!(ours_base, golden_base, "{cluster}");
            assert_eq!(query(&ours), query(golden), "{cluster}");
        }
    }

    #[test]
    fn tokens_are_the_prefixed_base64url_of_the_url() {
        let signer = Signer::new(aws("my-cluster", "us-west-2"), &|_| None).unwrap();
        let token = signer.token(golden_clock()).unwrap();
        let body = token.strip_prefix(TOKEN_PREFIX).unwrap();
        assert!(!body.contains(['=', '+', '/']), "{token}");
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(body)
            .unwrap();
        let url = String::from_utf8(url).unwrap();
        assert!(
            url.starts_with("https://sts.us-west-2.amazonaws.com/?"),
            "{url}"
        );
        let q = query(&url);
        let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("Action"), Some("GetCallerIdentity"));
        assert_eq!(get("X-Amz-Expires"), Some("60"));
        assert_eq!(get("X-Amz-SignedHeaders"), Some("host;x-k8s-aws-id"));
        assert_eq!(get("X-Amz-Date"), Some("20240102T030405Z"));
        // The secret key signs; it never travels.
        assert!(!url.contains("wJalrXUtnFEMI") && !token.contains("wJalrXUtnFEMI"));
        // A later clock mints a different token: nothing is cached.
        let later = signer
            .token(golden_clock() + Duration::from_secs(1))
            .unwrap();
        assert_ne!(token, later);
    }

    #[test]
    fn the_sts_endpoint_follows_region_and_overrides() {
        let none = |_: &str| None;
        assert_eq!(
            sts_endpoint("us-east-1", &none).unwrap(),
            "https://sts.us-east-1.amazonaws.com"
        );
        assert_eq!(
            sts_endpoint("cn-north-1", &none).unwrap(),
            "https://sts.cn-north-1.amazonaws.com.cn"
        );
        let both = |k: &str| match k {
            "AWS_ENDPOINT_URL_STS" => Some("http://127.0.0.1:4566/".to_string()),
            "AWS_ENDPOINT_URL" => Some("https://other.example".to_string()),
            _ => None,
        };
        assert_eq!(
            sts_endpoint("us-east-1", &both).unwrap(),
            "http://127.0.0.1:4566"
        );
        let global =
            |k: &str| (k == "AWS_ENDPOINT_URL").then(|| "https://vpce.example".to_string());
        assert_eq!(
            sts_endpoint("us-east-1", &global).unwrap(),
            "https://vpce.example"
        );
        let bad = |k: &str| (k == "AWS_ENDPOINT_URL_STS").then(|| "sts.local".to_string());
        let e = sts_endpoint("us-east-1", &bad).unwrap_err();
        assert!(
            e.message.starts_with("AWS_ENDPOINT_URL_STS \"sts.local\""),
            "{}",
            e.message
        );

        // The override's host (with its port) is the one signed.
        let url = presigned_url(
            &aws("c", "us-east-1"),
            "http://127.0.0.1:4566",
            golden_clock(),
        )
        .unwrap();
        assert!(
            url.starts_with("http://127.0.0.1:4566/?Action=GetCallerIdentity"),
            "{url}"
        );
    }
}
