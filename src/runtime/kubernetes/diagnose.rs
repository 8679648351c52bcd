//! The staged test of a Kubernetes connection, in the same shape as Docker's: each stage
//! says passed, failed, skipped or warning with a hint, the first failure skips the rest, and
//! one deadline bounds the whole test (kube's own retries are off here, so a 429 or 503 is
//! reported at once instead of retried past it).
//!
//! Stages: `url` (the settings read; aws-iam without `cluster_url` looks the cluster up with
//! EKS), `connect` (the API server's port, or the proxy's, accepts), `tls` (handshake: CA,
//! host name, expiry, client certificate, plain HTTP), `auth` (who the credentials are, by
//! `SelfSubjectReview`), `version` (1.23 or newer, for `autoscaling/v2`), `namespace`,
//! `permissions` (a `SelfSubjectAccessReview` per verb the runtime uses), `gpu` (a node
//! advertises `nvidia.com/gpu`, when the catalog has GPU images) and `storage` (the shared
//! PVC, created when the connection has a `storage_class`).

use super::access::{self, Permission};
use super::client::{self, Prepared};
use super::error::KubeFailure;
use super::settings::{Auth, KubeSettings};
use crate::conffile::Stanza;
use crate::error::{ApiError, ErrorKind};
use crate::runtime::diagnosis::{Diagnosis, Stages, Verdict, handshake, reach};
use crate::runtime::docker::settings::value;
use crate::runtime::error::Failure;
use crate::runtime::secrets::Secrets;
use futures_util::StreamExt;
use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::{Namespace, Node};
use kube::Client;
use kube::api::{Api, ListParams, PostParams};
use kube::client::ConfigExt;
use std::time::Duration;

/// Oldest API server accepted: 1.23 made `autoscaling/v2` (the HPA) generally available.
pub const MIN_VERSION: (u32, u32) = (1, 23);

const ORDER: [&str; 9] = [
    "url",
    "connect",
    "tls",
    "auth",
    "version",
    "namespace",
    "permissions",
    "gpu",
    "storage",
];

/// How many access reviews are asked at once.
const REVIEWS_IN_FLIGHT: usize = 6;

/// Runs every stage for the connection in `stanza` with `secrets`, within `limit`.
pub async fn diagnose(
    stanza: &Stanza,
    secrets: &Secrets,
    wants_gpu: bool,
    limit: Duration,
) -> Diagnosis {
    diagnose_in(stanza, secrets, wants_gpu, limit, &client::process_env).await
}

/// [`diagnose`] with the environment (proxy, AWS endpoints, in-cluster variables) from `env`.
pub async fn diagnose_in(
    stanza: &Stanza,
    secrets: &Secrets,
    wants_gpu: bool,
    limit: Duration,
    env: &dyn Fn(&str) -> Option<String>,
) -> Diagnosis {
    let mut run = Stages::new("Kubernetes", &ORDER, limit);

    // url
    let settings = match KubeSettings::from_stanza(stanza, secrets) {
        Ok(s) => s,
        Err(e) => {
            let hint = "Fix the named setting of the kubernetes connection and test again.";
            return run.fail("url", e, hint, ErrorKind::BadRequest);
        }
    };
    let looked_up = matches!(settings.auth, Auth::AwsIam { url: None, .. });
    let settings = match client::resolve(&settings, env, run.left()).await {
        Ok(s) => s,
        Err(e) => {
            let hint = "Check aws_cluster_name, aws_region_name and that the access key may call \
                        eks:DescribeCluster; or store cluster_url and cluster_ca.";
            let kind = e.kind;
            return run.fail("url", e, hint, kind);
        }
    };
    let mode = settings.auth.mode();
    let mut prepared = match client::prepare(&settings, env) {
        Ok(p) => p,
        Err(e) => {
            let kind = e.kind;
            return run.fail("url", e, "", kind);
        }
    };
    let url = prepared.config.cluster_url.clone();
    run.record(
        "url",
        Verdict::Passed,
        format!(
            "cluster_url {url}{}, auth_mode {mode}, namespace {}",
            if looked_up {
                " (from EKS DescribeCluster)"
            } else {
                ""
            },
            settings.namespace
        ),
        "",
    );

    // connect
    let (host, port) = host_port(&url, 443);
    let proxy = prepared.config.proxy_url.as_ref().map(|p| host_port(p, 80));
    let (to_host, to_port) = proxy.clone().unwrap_or((host.clone(), port));
    if let Err((e, io)) = reach(&to_host, to_port, run.left()).await {
        let kind = e.kind;
        let hint = match (&proxy, io) {
            (Some(_), _) => "Check HTTPS_PROXY (and NO_PROXY) of the Splunk process.",
            (None, std::io::ErrorKind::ConnectionRefused) => {
                "Nothing listens there: check the host and port of cluster_url (the API server usually listens on 6443 or 443)."
            }
            (None, std::io::ErrorKind::TimedOut) => {
                "A firewall may drop the connection; check the host and port of cluster_url."
            }
            (None, _) => {
                "Check cluster_url, name resolution and firewalls between Splunk and the cluster."
            }
        };
        return run.fail("connect", e, hint, kind);
    }
    run.record(
        "connect",
        Verdict::Passed,
        match &proxy {
            Some((h, p)) => format!("the proxy {h}:{p} accepts connections"),
            None => format!("{host}:{port} accepts connections"),
        },
        "",
    );

    // tls
    if proxy.is_some() {
        run.record(
            "tls",
            Verdict::Skipped,
            "through a proxy: the handshake is checked by the next stage".into(),
            "",
        );
    } else if let Err((e, hint)) = tls(&prepared, &settings, &host, port, &mut run).await {
        let kind = e.kind;
        return run.fail("tls", e, &hint, kind);
    }

    // The client: no retries (a refusal is reported, not retried past the deadline), and
    // kube's own timeouts no longer than the test.
    prepared.config.default_retry = false;
    prepared.config.connect_timeout = Some(run.left());
    prepared.config.read_timeout = Some(run.left());
    prepared.config.write_timeout = Some(run.left());
    let kube = match client::build(prepared, mode) {
        Ok(c) => c,
        Err(e) => {
            let kind = e.kind;
            return run.fail("auth", e, "", kind);
        }
    };

    // auth
    match who_am_i(&kube, &run).await {
        Ok(detail) => run.record("auth", Verdict::Passed, detail, ""),
        Err(f) => {
            let hint = match f.code {
                Some(401) => auth_hint(mode),
                _ => "",
            };
            return fail(run, "auth", f, hint);
        }
    }

    // version
    let info = match within(&run, "/version", kube.apiserver_version()).await {
        Ok(i) => i,
        Err(f) => return fail(run, "version", f, ""),
    };
    match parse_version(&info.major, &info.minor) {
        Some(v) if v >= MIN_VERSION => run.record(
            "version",
            Verdict::Passed,
            format!("Kubernetes {}", info.git_version),
            "",
        ),
        _ => {
            let e = ApiError::new(
                ErrorKind::BadGateway,
                format!(
                    "the cluster runs Kubernetes {} ({}.{}); at least {}.{} is needed",
                    info.git_version, info.major, info.minor, MIN_VERSION.0, MIN_VERSION.1
                ),
            );
            let hint = "Upgrade the cluster: the runtime uses autoscaling/v2.";
            return run.fail("version", e, hint, ErrorKind::BadGateway);
        }
    }

    // namespace
    let ns = settings.namespace.clone();
    let mut namespace_unknown = false;
    let what = format!("namespace {ns}");
    match within(
        &run,
        &what,
        Api::<Namespace>::all(kube.clone()).get_opt(&ns),
    )
    .await
    {
        Ok(Some(_)) => run.record(
            "namespace",
            Verdict::Passed,
            format!("namespace {ns} exists"),
            "",
        ),
        Ok(None) => {
            let e = ApiError::bad_request(format!("the namespace {ns:?} does not exist"));
            let hint = format!("Create it (kubectl create namespace {ns}) or change namespace.");
            return run.fail("namespace", e, &hint, ErrorKind::BadRequest);
        }
        Err(f) if f.code == Some(403) => {
            namespace_unknown = true;
            run.record(
                "namespace",
                Verdict::Warning,
                format!("the user may not read namespace {ns}, so whether it exists is unknown"),
                "The permissions stage shows what the user may do in it.",
            )
        }
        Err(f) => return fail(run, "namespace", f, ""),
    }

    // permissions
    let service_type = value(stanza, "service_type").unwrap_or_default();
    let storage_class = value(stanza, "storage_class");
    let wanted = access::required(service_type, storage_class.is_some());
    match missing_permissions(&kube, &ns, &wanted, &run).await {
        Ok(missing) if missing.is_empty() => run.record(
            "permissions",
            Verdict::Passed,
            format!("all {} permissions the runtime uses in {ns}", wanted.len()),
            "",
        ),
        Ok(missing) => {
            let list: Vec<String> = missing.iter().map(Permission::to_string).collect();
            let e = ApiError::new(
                ErrorKind::BadGateway,
                format!("the user may not, in namespace {ns}: {}", list.join(", ")),
            );
            let mut hint = access::grant_hint(&missing, &ns);
            if namespace_unknown {
                hint.push_str(&format!(
                    " If the namespace {ns} does not exist, create it or change namespace."
                ));
            }
            return run.fail("permissions", e, &hint, ErrorKind::BadGateway);
        }
        Err(f) if f.code.is_some() && f.kind != Failure::Timeout => run.record(
            "permissions",
            Verdict::Warning,
            format!("the permissions could not be checked: {}", f.message),
            "Starts may fail with 403 if a permission is missing.",
        ),
        Err(f) => return fail(run, "permissions", f, ""),
    }

    // gpu
    if !wants_gpu {
        run.record(
            "gpu",
            Verdict::Skipped,
            "the catalog offers no GPU image".into(),
            "",
        );
    } else {
        let nodes = Api::<Node>::all(kube.clone());
        match within(&run, "the node list", nodes.list(&ListParams::default())).await {
            Ok(list) => {
                let with_gpu = list.items.iter().filter(|n| gpus(n) > 0).count();
                if with_gpu > 0 {
                    run.record(
                        "gpu",
                        Verdict::Passed,
                        format!("{with_gpu} node(s) advertise nvidia.com/gpu"),
                        "",
                    );
                } else {
                    run.record(
                        "gpu",
                        Verdict::Warning,
                        "the catalog offers GPU images but no node advertises nvidia.com/gpu; GPU starts will stay unschedulable".into(),
                        "Install the NVIDIA device plugin (or GPU operator) on GPU nodes.",
                    );
                }
            }
            Err(f) if f.code == Some(403) => run.record(
                "gpu",
                Verdict::Warning,
                "the user may not list nodes, so GPU capacity is unknown".into(),
                "Grant list on nodes (a ClusterRole) to have GPUs checked.",
            ),
            Err(f) => return fail(run, "gpu", f, ""),
        }
    }

    // storage
    match storage_class {
        None => run.record(
            "storage",
            Verdict::Skipped,
            "storage_class is not set: no shared volume".into(),
            "",
        ),
        Some(class) => {
            let claim = super::manifest::SHARED_CLAIM;
            match super::cluster::shared_claim(&kube, &ns, class, run.left()).await {
                Ok(made) => run.record(
                    "storage",
                    Verdict::Passed,
                    if made {
                        format!("the volume claim {claim} was created (2Gi, ReadWriteMany, storage class {class})")
                    } else {
                        format!("the volume claim {claim} exists")
                    },
                    "",
                ),
                Err(f) => return fail(run, "storage", f, ""),
            }
        }
    }

    run.finish(Some(info.git_version), client::warnings(&settings))
}

/// The TLS stage: one handshake with kube's own TLS configuration (the same CA, client
/// certificate and verification as every later call). Records the verdict; the error comes
/// with its hint.
async fn tls(
    prepared: &Prepared,
    settings: &KubeSettings,
    host: &str,
    port: u16,
    run: &mut Stages,
) -> Result<(), (ApiError, String)> {
    let mut config = prepared.config.rustls_client_config().map_err(|e| {
        (
            ApiError::bad_request(format!(
                "the TLS material of the connection cannot be used: {e}"
            )),
            "Store cluster_ca, client_cert and client_key as PEM (or base64 of PEM).".to_string(),
        )
    })?;
    // Plain HTTP/1.1 follows the handshake, so no other protocol is offered.
    config.alpn_protocols.clear();
    // /livez: the cheapest path an API server has, open to everyone on most clusters.
    let request = format!("GET /livez HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    if let Err(e) = handshake(host, port, config, request.as_bytes(), run.left()).await {
        let mut hint = String::from(if settings.cluster_ca.is_some() {
            "Check that cluster_ca is the CA of the API server's certificate (kubectl config \
             view --raw: certificate-authority-data) and that the certificate names the host \
             of cluster_url."
        } else {
            "Without cluster_ca the system's trust store must know the API server's CA: store \
             cluster_ca (kubectl config view --raw: certificate-authority-data)."
        });
        if matches!(settings.auth, Auth::CertKey { .. }) {
            hint.push_str(
                " client_cert and client_key must be signed by a CA the API server trusts.",
            );
        }
        if e.message.contains("plain HTTP") {
            hint = "cluster_url must name the API server's HTTPS port.".into();
        }
        return Err((e, hint));
    }
    let (verdict, detail, hint) = if settings.skip_verify {
        (
            Verdict::Warning,
            "handshake done WITHOUT verifying the API server's certificate (tls_skip_verify)",
            "Store the cluster's CA in cluster_ca and turn tls_skip_verify off.",
        )
    } else if settings.cluster_ca.is_some() {
        (
            Verdict::Passed,
            "the API server's certificate is signed by cluster_ca and names the host",
            "",
        )
    } else {
        (
            Verdict::Passed,
            "the API server's certificate is signed by a CA of the system's trust store",
            "",
        )
    };
    run.record("tls", verdict, detail.into(), hint);
    Ok(())
}

/// Who the API server takes the credentials for (`SelfSubjectReview`, Kubernetes 1.28+;
/// on older servers an authenticated discovery read proves the credentials).
async fn who_am_i(kube: &Client, run: &Stages) -> Result<String, KubeFailure> {
    let reviews = Api::<SelfSubjectReview>::all(kube.clone());
    let asked = within(
        run,
        "a SelfSubjectReview",
        reviews.create(&PostParams::default(), &SelfSubjectReview::default()),
    )
    .await;
    let user = match asked {
        Ok(review) => review
            .status
            .and_then(|s| s.user_info)
            .and_then(|u| u.username)
            .unwrap_or_default(),
        Err(f) if matches!(f.code, Some(403 | 404)) => {
            within(run, "/api", kube.list_core_api_versions()).await?;
            return Ok("the credentials are accepted".into());
        }
        Err(f) => return Err(f),
    };
    if user == "system:anonymous" {
        return Err(KubeFailure {
            code: Some(401),
            message: "the API server takes this connection for system:anonymous: the \
                      credentials were not presented or not recognised"
                .into(),
            kind: Failure::Refused,
        });
    }
    Ok(format!("authenticated as {user}"))
}

/// What to check when the API server answers 401, per `auth_mode`.
fn auth_hint(mode: &str) -> &'static str {
    match mode {
        "cert-key" => {
            "client_cert and client_key must be a pair signed by the cluster's client CA, and not expired."
        }
        "user-token" => {
            "user_token is not accepted: it may have expired or been revoked; store a new one."
        }
        "user-login" => {
            "Check user_name and user_password; many clusters turn basic authentication off."
        }
        "aws-iam" => {
            "Check aws_access_key_id and aws_secret_access_key, aws_cluster_name (the token is \
             bound to it), that the IAM identity is mapped in the cluster (an access entry or \
             the aws-auth ConfigMap), and this host's clock (EKS tokens are valid 60 s)."
        }
        _ => {
            "The service account token is not accepted: it may have expired, or its service account was deleted."
        }
    }
}

/// Each permission of `wanted` a `SelfSubjectAccessReview` denies in `namespace`.
async fn missing_permissions(
    kube: &Client,
    namespace: &str,
    wanted: &[Permission],
    run: &Stages,
) -> Result<Vec<Permission>, KubeFailure> {
    let reviews = Api::<SelfSubjectAccessReview>::all(kube.clone());
    let asks = wanted.iter().map(|p| {
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    namespace: Some(namespace.to_string()),
                    verb: Some(p.verb.to_string()),
                    group: Some(p.group.to_string()),
                    resource: Some(p.resource.to_string()),
                    subresource: p.subresource.map(str::to_string),
                    ..ResourceAttributes::default()
                }),
                ..SelfSubjectAccessReviewSpec::default()
            },
            ..SelfSubjectAccessReview::default()
        };
        let reviews = reviews.clone();
        async move {
            let what = format!("the access review of {p}");
            let answer = within(run, &what, reviews.create(&PostParams::default(), &review)).await;
            answer.map(|r| (p, r.status.is_some_and(|s| s.allowed)))
        }
    });
    let answers: Vec<_> = futures_util::stream::iter(asks)
        .buffered(REVIEWS_IN_FLIGHT)
        .collect()
        .await;
    let mut missing = Vec::new();
    for answer in answers {
        let (p, allowed) = answer?;
        if !allowed {
            missing.push(p.clone());
        }
    }
    Ok(missing)
}

/// A kube call bounded by what is left of the test's deadline.
async fn within<T>(
    run: &Stages,
    what: &str,
    call: impl std::future::Future<Output = Result<T, kube::Error>>,
) -> Result<T, KubeFailure> {
    super::error::within(run.left(), what, call).await
}

/// The API error of a failed call.
fn api_error(f: KubeFailure) -> ApiError {
    ApiError::from(f.into_runtime())
}

/// Ends the test at `stage` with the failed call `f`, answered with its own status; a call
/// that got no answer in time gets a hint of its own.
fn fail(run: Stages, stage: &'static str, f: KubeFailure, hint: &str) -> Diagnosis {
    let hint = match (f.kind, hint) {
        (Failure::Timeout, "") => {
            "The API server took the request and did not answer: it may be overloaded, or a \
             proxy or load balancer in between holds requests. A longer timeout (up to 60 s) \
             may get through."
        }
        _ => hint,
    };
    let e = api_error(f);
    let kind = e.kind;
    run.fail(stage, e, hint, kind)
}

/// The host (without IPv6 brackets) and port of `uri`, `default_port` when it has none.
fn host_port(uri: &hyper::Uri, default_port: u16) -> (String, u16) {
    let host = uri
        .host()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    (host, uri.port_u16().unwrap_or(default_port))
}

/// `("1", "27+")` as (1, 27): providers add suffixes to the minor version.
fn parse_version(major: &str, minor: &str) -> Option<(u32, u32)> {
    let digits = |s: &str| {
        s.trim()
            .chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .ok()
    };
    Some((digits(major)?, digits(minor)?))
}

/// How many `nvidia.com/gpu` a node can allocate.
fn gpus(node: &Node) -> u64 {
    node.status
        .as_ref()
        .and_then(|s| s.allocatable.as_ref())
        .and_then(|a| a.get("nvidia.com/gpu"))
        .and_then(|q| q.0.trim().parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::super::settings::tests_support::{secrets, stanza};
    use super::*;

    fn results(d: &Diagnosis) -> Vec<(&str, Verdict)> {
        d.stages.iter().map(|s| (s.name, s.outcome)).collect()
    }

    #[tokio::test]
    async fn a_bad_setting_fails_the_url_stage_with_400_and_skips_the_rest() {
        let d = diagnose_in(
            &stanza(&[
                ("auth_mode", "user-token"),
                ("cluster_url", "http://k8s:80"),
            ]),
            &secrets(&[("user_token", "t")]),
            false,
            Duration::from_secs(1),
            &|_| None,
        )
        .await;
        assert_eq!(d.failure.as_ref().unwrap().status(), 400);
        assert_eq!(results(&d)[0], ("url", Verdict::Failed));
        assert_eq!(d.stages.len(), ORDER.len());
        assert!(d.stages[1..].iter().all(|s| s.outcome == Verdict::Skipped));
    }

    #[tokio::test]
    async fn through_a_proxy_the_proxy_is_connected_to_and_named() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let proxy = format!("http://127.0.0.1:{port}");
        let env = move |k: &str| (k == "HTTPS_PROXY").then(|| proxy.clone());
        let d = diagnose_in(
            &stanza(&[
                ("auth_mode", "user-token"),
                ("cluster_url", "https://k8s.example:6443"),
            ]),
            &secrets(&[("user_token", "t")]),
            false,
            Duration::from_secs(2),
            &env,
        )
        .await;
        assert_eq!(d.failure.as_ref().unwrap().status(), 503);
        assert_eq!(results(&d)[1], ("connect", Verdict::Failed));
        assert!(d.stages[1].detail.contains(&format!("127.0.0.1:{port}")));
        assert!(
            d.stages[1].hint.contains("HTTPS_PROXY"),
            "{:?}",
            d.stages[1]
        );
    }

    #[test]
    fn versions_with_provider_suffixes_compare() {
        assert_eq!(parse_version("1", "27+"), Some((1, 27)));
        assert_eq!(parse_version("1", "33"), Some((1, 33)));
        assert!(parse_version("1", "22").unwrap() < MIN_VERSION);
        assert_eq!(parse_version("", "1"), None);
    }

    #[test]
    fn hosts_lose_their_brackets_and_ports_default() {
        let uri: hyper::Uri = "https://[::1]:6443/".parse().unwrap();
        assert_eq!(host_port(&uri, 443), ("::1".into(), 6443));
        let uri: hyper::Uri = "https://k8s.example".parse().unwrap();
        assert_eq!(host_port(&uri, 443), ("k8s.example".into(), 443));
    }
}
