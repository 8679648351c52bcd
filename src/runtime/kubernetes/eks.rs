//! EKS tokens for `aws-iam`: what `aws eks get-token` prints, made here. The token is
//! `k8s-aws-v1.` + base64url (no padding) of an STS `GetCallerIdentity` URL presigned with
//! SigV4 (by `aws-sigv4`, not by hand), with `x-k8s-aws-id: <cluster name>` among the signed
//! headers so the token is good for that cluster only. The API server hands it to STS to learn
//! who is calling. Signing is local and cheap, so a token is minted for every request rather
//! than cached (STS honours a presigned URL for 15 minutes whatever `X-Amz-Expires` says; 60 s
//! is what the AI Toolkit and the AWS CLI sign).
//!
//! Without a `cluster_url`, [`describe_cluster`] asks EKS `DescribeCluster` (a SigV4
//! header-signed `GET /clusters/<name>`) for the API server's endpoint and CA, as the AI
//! Toolkit does; it goes through kube's HTTP stack, so the system roots and the proxy apply.

use super::proxy::proxy_for;
use super::settings::{AwsAccess, ClusterUrl, ca_bundle, parse_cluster_url};
use crate::error::{ApiError, ErrorKind};
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use base64::Engine;
use hyper::Uri;
use hyper::header::HeaderValue;
use std::time::{Duration, SystemTime};

/// The prefix the API server's authenticator expects.
pub const TOKEN_PREFIX: &str = "k8s-aws-v1.";

/// The header that binds a token to one cluster.
pub const CLUSTER_ID_HEADER: &str = "x-k8s-aws-id";

/// What the presigned URL says about its own lifetime.
pub const EXPIRES: Duration = Duration::from_secs(60);

/// The standard overrides of the STS endpoint, most specific first (as the AWS SDKs read them).
pub const STS_ENDPOINT_VARS: [&str; 2] = ["AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL"];

/// The standard overrides of the EKS endpoint, most specific first.
pub const EKS_ENDPOINT_VARS: [&str; 2] = ["AWS_ENDPOINT_URL_EKS", "AWS_ENDPOINT_URL"];

/// The most a `DescribeCluster` answer may weigh (a real one is a few KiB).
const DESCRIBE_MAX_BYTES: usize = 1 << 20;

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
    endpoint("sts", STS_ENDPOINT_VARS, region, env)
}

/// The EKS endpoint for `region`, likewise.
pub fn eks_endpoint(
    region: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ApiError> {
    endpoint("eks", EKS_ENDPOINT_VARS, region, env)
}

/// `service`'s endpoint for `region`: the first of `vars` set in the environment (checked to
/// be an `http(s)://host[:port]` URL), else AWS's own.
fn endpoint(
    service: &str,
    vars: [&str; 2],
    region: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ApiError> {
    for var in vars {
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
    Ok(format!("https://{service}.{region}.{domain}"))
}

/// The SigV4 headers (`x-amz-date`, `authorization`) that sign `GET url` for `service` at
/// `now`, signing `host` and `x-amz-date` as botocore does.
pub fn signed_get_headers(
    aws: &AwsAccess,
    service: &str,
    url: &str,
    now: SystemTime,
) -> Result<Vec<(&'static str, String)>, String> {
    let uri: Uri = url
        .parse()
        .map_err(|e| format!("{url} is not a URL: {e}"))?;
    let host = uri
        .authority()
        .map(|a| a.as_str().to_string())
        .ok_or_else(|| format!("{url} has no host"))?;
    let identity = credentials(aws).into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(&aws.region)
        .name(service)
        .time(now)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| format!("cannot sign the {service} request: {e}"))?
        .into();
    let headers = [("host", host.as_str())];
    let request = SignableRequest::new("GET", url, headers.into_iter(), SignableBody::Bytes(&[]))
        .map_err(|e| format!("cannot sign the {service} request: {e}"))?;
    let (instructions, _signature) = sign(request, &params)
        .map_err(|e| format!("cannot sign the {service} request: {e}"))?
        .into_parts();
    Ok(instructions
        .into_parts()
        .0
        .into_iter()
        .map(|h| (h.name(), h.value().to_string()))
        .collect())
}

/// The AWS credentials of `aws`, for the signer.
fn credentials(aws: &AwsAccess) -> aws_credential_types::Credentials {
    aws_credential_types::Credentials::new(
        aws.access_key_id.expose(),
        aws.secret_access_key.expose(),
        None,
        None,
        "dsdl-handler",
    )
}

/// What `DescribeCluster` says about a cluster: where its API server is and the CA that
/// signed its certificate.
#[derive(Debug, Clone)]
pub struct ClusterInfo {
    /// `cluster.endpoint`.
    pub url: ClusterUrl,
    /// `cluster.certificateAuthority.data`, as DER certificates.
    pub ca: Vec<Vec<u8>>,
}

/// Reads a `DescribeCluster` answer for `name`; what is missing or unusable is a 502 naming
/// the field.
pub fn parse_describe(body: &[u8], name: &str) -> Result<ClusterInfo, ApiError> {
    let bad = |why: &str| {
        ApiError::new(
            ErrorKind::BadGateway,
            format!("EKS DescribeCluster for aws_cluster_name {name:?} answered {why}."),
        )
    };
    let json: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| bad("something that is not JSON"))?;
    let cluster = &json["cluster"];
    let endpoint = cluster["endpoint"]
        .as_str()
        .filter(|e| !e.is_empty())
        .ok_or_else(|| {
            let status = cluster["status"].as_str().unwrap_or("unknown");
            bad(&format!(
                "without an endpoint (cluster status {status}); is the cluster still being created?"
            ))
        })?;
    let url = parse_cluster_url(endpoint).map_err(|_| bad("an endpoint that is not https://"))?;
    let data = cluster["certificateAuthority"]["data"]
        .as_str()
        .ok_or_else(|| bad("without certificateAuthority.data"))?;
    let compact: String = data.split_whitespace().collect();
    let pem = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|_| bad("a certificateAuthority.data that is not base64"))?;
    let ca =
        ca_bundle(&pem).map_err(|_| bad("a certificateAuthority.data that is not a PEM CA"))?;
    Ok(ClusterInfo { url, ca })
}

/// Asks EKS for the endpoint and CA of `aws.cluster_name`, within `limit`. A refusal by AWS
/// is a 502 with AWS's reason, an unknown cluster a 400, no answer a 503 or 504.
pub async fn describe_cluster(
    aws: &AwsAccess,
    env: &dyn Fn(&str) -> Option<String>,
    limit: Duration,
) -> Result<ClusterInfo, ApiError> {
    let endpoint = eks_endpoint(&aws.region, env)?;
    let base: Uri = endpoint
        .parse()
        .map_err(|_| ApiError::bad_request(format!("the EKS endpoint {endpoint} is not a URL")))?;
    let mut config = kube::Config::new(base.clone());
    config.proxy_url = proxy_for(&base, env)?;
    let unreachable = |why: String| {
        ApiError::new(
            ErrorKind::Unavailable,
            format!("EKS at {endpoint} cannot be reached to look up aws_cluster_name: {why}"),
        )
    };
    let signer = aws.clone();
    let signing_base = endpoint.clone();
    let sign_each =
        tower::filter::FilterLayer::new(move |mut req: hyper::Request<kube::client::Body>| {
            let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
            let url = format!("{signing_base}{path}");
            for (name, value) in signed_get_headers(&signer, "eks", &url, SystemTime::now())? {
                let mut value = HeaderValue::try_from(value)?;
                value.set_sensitive(name == "authorization");
                req.headers_mut().insert(name, value);
            }
            Ok::<_, tower::BoxError>(req)
        });
    let client = kube::client::ClientBuilder::try_from(config)
        .map_err(|e| unreachable(e.to_string()))?
        .with_layer(&sign_each)
        .build();
    // The name is letters, digits, '-' and '_' (checked with the settings): nothing to escape.
    let request = hyper::Request::get(format!("/clusters/{}", aws.cluster_name))
        .body(kube::client::Body::empty())
        .map_err(|e| unreachable(e.to_string()))?;
    let call = async {
        let response = client
            .send(request)
            .await
            .map_err(|e| unreachable(crate::tls::causes(&e)))?;
        let status = response.status().as_u16();
        let body = http_body_util::BodyExt::collect(http_body_util::Limited::new(
            response.into_body(),
            DESCRIBE_MAX_BYTES,
        ))
        .await
        .map_err(|e| unreachable(e.to_string()))?
        .to_bytes();
        Ok::<_, ApiError>((status, body))
    };
    let (status, body) = tokio::time::timeout(limit, call).await.map_err(|_| {
        ApiError::new(
            ErrorKind::Timeout,
            format!(
                "EKS at {endpoint} did not answer DescribeCluster within {} s.",
                limit.as_secs()
            ),
        )
    })??;
    let name = &aws.cluster_name;
    match status {
        200 => parse_describe(&body, name),
        404 => Err(ApiError::bad_request(format!(
            "aws_cluster_name {name:?} is not an EKS cluster in aws_region_name {}: {}",
            aws.region,
            aws_message(&body)
        ))),
        _ => Err(ApiError::new(
            ErrorKind::BadGateway,
            format!(
                "AWS refused DescribeCluster for aws_cluster_name {name:?} ({status}): {}. \
                 The access key needs eks:DescribeCluster; or set cluster_url and cluster_ca \
                 to skip the lookup.",
                aws_message(&body)
            ),
        )),
    }
}

/// AWS's reason in an error body, short, and cut before the canonical request a signature
/// mismatch would quote (as the AI Toolkit does).
fn aws_message(body: &[u8]) -> String {
    let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let text = json["message"]
        .as_str()
        .or(json["Message"].as_str())
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_string());
    let text = match text.find("The Canonical String for this request") {
        Some(at) => text[..at].trim_end().to_string(),
        None => text,
    };
    crate::names::excerpt(&text, 300)
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
    let identity = credentials(aws).into();
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
pub(super) mod tests {
    use super::*;
    use crate::protocol::request::Secret;
    use std::sync::{Arc, Mutex};

    pub(in super::super) fn aws(cluster: &str, region: &str) -> AwsAccess {
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
            "prod_eks-1",
            "eu-central-1",
            "https://sts.eu-central-1.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20240102%2Feu-central-1%2Fsts%2Faws4_request&X-Amz-Date=20240102T030405Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host%3Bx-k8s-aws-id&X-Amz-Signature=91c2e98fad6031e04469760e5f68d27e227cf32bae8a5dd008d8f5a18f190981",
        ),
    ];

    /// Golden values recorded with botocore (tests/python/eks_token_golden.py): the URL and
    /// `Authorization` header of the DescribeCluster request its EKS client signs for the same
    /// credentials and clock, and the region.
    const GOLDEN_DESCRIBE: [(&str, &str, &str); 2] = [
        (
            "https://eks.us-west-2.amazonaws.com/clusters/my-cluster",
            "us-west-2",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240102/us-west-2/eks/aws4_request, SignedHeaders=host;x-amz-date, Signature=630e5de31da02abbc1e52c52b749018792c8cd7b5c0ca69a04ad36cab0ba1c33",
        ),
        (
            "https://eks.eu-central-1.amazonaws.com/clusters/prod_eks-1",
            "eu-central-1",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240102/eu-central-1/eks/aws4_request, SignedHeaders=host;x-amz-date, Signature=c2f5fe2be2a5109d08775c60d2f97ac477997bc4371b5bbaac76075a321d7774",
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

    #[test]
    fn describe_requests_are_signed_as_botocore_signs_them() {
        for (url, region, golden) in GOLDEN_DESCRIBE {
            let cluster = url.rsplit('/').next().unwrap();
            let endpoint = eks_endpoint(region, &|_| None).unwrap();
            assert_eq!(format!("{endpoint}/clusters/{cluster}"), url);
            let headers =
                signed_get_headers(&aws(cluster, region), "eks", url, golden_clock()).unwrap();
            let get = |n: &str| {
                headers
                    .iter()
                    .find(|(k, _)| *k == n)
                    .map(|(_, v)| v.as_str())
            };
            assert_eq!(get("authorization"), Some(golden), "{cluster}");
            assert_eq!(get("x-amz-date"), Some("20240102T030405Z"));
        }
    }

    /// A `DescribeCluster` answer for `endpoint` with `ca_pem`.
    pub(in super::super) fn describe_answer(endpoint: &str, ca_pem: &str) -> String {
        let data = base64::engine::general_purpose::STANDARD.encode(ca_pem);
        serde_json::json!({"cluster": {
            "name": "my-cluster", "status": "ACTIVE", "endpoint": endpoint,
            "certificateAuthority": {"data": data}
        }})
        .to_string()
    }

    #[test]
    fn describe_answers_are_read_or_named() {
        let (ca, _, _) = super::super::settings::tests_support::pki();
        let info = parse_describe(
            describe_answer("https://ABC.gr7.us-west-2.eks.amazonaws.com", &ca).as_bytes(),
            "c",
        )
        .unwrap();
        assert_eq!(
            info.url.0.host(),
            Some("ABC.gr7.us-west-2.eks.amazonaws.com")
        );
        assert_eq!(info.ca.len(), 1);
        for (body, why) in [
            ("nope".to_string(), "not JSON"),
            (
                r#"{"cluster":{"status":"CREATING"}}"#.to_string(),
                "status CREATING",
            ),
            (describe_answer("http://x", &ca), "not https://"),
            (describe_answer("https://x", "bm90IGEgUEVN"), "not a PEM CA"),
            (
                r#"{"cluster":{"endpoint":"https://x","certificateAuthority":{"data":"%%"}}}"#
                    .to_string(),
                "not base64",
            ),
        ] {
            let e = parse_describe(body.as_bytes(), "c").unwrap_err();
            assert_eq!(e.status(), 502);
            assert!(e.message.contains(why), "{why}: {}", e.message);
        }
    }

    /// What the fake EKS saw of a request: path, `Authorization`, `x-amz-date`.
    pub(in super::super) type Seen = Arc<Mutex<Vec<(String, String, String)>>>;

    /// A fake EKS on loopback answering every request with `status` and `body`; its URL and
    /// what it saw.
    pub(in super::super) async fn fake_eks(status: u16, body: String) -> (String, Seen) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen: Seen = Arc::default();
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (log, body) = (log.clone(), body.clone());
                let service =
                    hyper::service::service_fn(move |req: hyper::Request<_>| {
                        let header = |n: &str| {
                            req.headers()
                                .get(n)
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("")
                                .to_string()
                        };
                        log.lock().unwrap().push((
                            req.uri().path().to_string(),
                            header("authorization"),
                            header("x-amz-date"),
                        ));
                        let response = hyper::Response::builder().status(status).body(
                            http_body_util::Full::new(hyper::body::Bytes::from(body.clone())),
                        );
                        async move { response }
                    });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service),
                );
            }
        });
        (url, seen)
    }

    fn eks_env(url: String) -> impl Fn(&str) -> Option<String> {
        move |k| (k == "AWS_ENDPOINT_URL_EKS").then(|| url.clone())
    }

    #[tokio::test]
    async fn describe_cluster_asks_eks_with_a_signed_request() {
        let (ca, _, _) = super::super::settings::tests_support::pki();
        let answer = describe_answer("https://abc.eks.example", &ca);
        let (url, seen) = fake_eks(200, answer).await;
        let limit = Duration::from_secs(5);
        let info = describe_cluster(&aws("my-cluster", "us-west-2"), &eks_env(url), limit)
            .await
            .unwrap();
        assert_eq!(info.url.0.to_string(), "https://abc.eks.example/");
        assert_eq!(info.ca.len(), 1);
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 1);
        let (path, authorization, date) = &seen[0];
        assert_eq!(path, "/clusters/my-cluster");
        assert!(
            authorization.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
                && authorization.contains(
                    "/us-west-2/eks/aws4_request, SignedHeaders=host;x-amz-date, Signature="
                ),
            "{authorization}"
        );
        assert_eq!(date.len(), "20240102T030405Z".len());
        assert!(!authorization.contains("wJalrXUtnFEMI"));
    }

    #[tokio::test]
    async fn describe_cluster_failures_say_what_to_fix() {
        let limit = Duration::from_secs(5);
        let a = aws("gone", "us-west-2");
        let (url, _) = fake_eks(
            404,
            r#"{"message":"No cluster found for name: gone."}"#.into(),
        )
        .await;
        let e = describe_cluster(&a, &eks_env(url), limit)
            .await
            .unwrap_err();
        assert_eq!(e.status(), 400);
        assert!(
            e.message.contains("No cluster found for name: gone."),
            "{}",
            e.message
        );
        let body = r#"{"message":"The request signature we calculated does not match. The Canonical String for this request should have been GET /clusters/gone"}"#;
        let (url, _) = fake_eks(403, body.into()).await;
        let e = describe_cluster(&a, &eks_env(url), limit)
            .await
            .unwrap_err();
        assert_eq!(e.status(), 502);
        assert!(
            e.message.contains("does not match.") && !e.message.contains("Canonical"),
            "{}",
            e.message
        );
        assert!(e.message.contains("eks:DescribeCluster"), "{}", e.message);
        // Nobody listens: unreachable, within the limit.
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", free.local_addr().unwrap());
        drop(free);
        let e = describe_cluster(&a, &eks_env(url), limit)
            .await
            .unwrap_err();
        assert_eq!(e.status(), 503, "{}", e.message);
    }
}
