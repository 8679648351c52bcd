//! A kube client for the saved connection, one `auth_mode` at a time. Everything goes into
//! kube's `Config` in memory: the CA as DER anchors, the client certificate and key as the
//! kubeconfig `*-data` fields, the token or user/password as kube's auth fields; no path field
//! of the `Config` is ever set, so kube never reads or writes a credential file. The two modes
//! whose bearer changes over time (aws-iam's EKS token, a pod's projected service account
//! token) get it from a [`Bearer`] layer that sets `Authorization` afresh on every request.
//!
//! TLS (kube's rustls stack, ring provider): the server is verified against `cluster_ca` when
//! one is stored (in-cluster, against the pod's `ca.crt`), else against the system's roots
//! (kube's `rustls-tls` uses rustls-platform-verifier: on Linux the OS trust store, honouring
//! `SSL_CERT_FILE`/`SSL_CERT_DIR`), and not at all only with `tls_skip_verify`, which every
//! reply then says ([`warnings`]). The host name is always the `cluster_url`'s.

use super::eks::Signer;
use super::proxy::proxy_for;
use super::settings::{Auth, ClusterUrl, KubeSettings, ServiceAccount, ca_bundle};
use crate::error::{ApiError, ErrorKind};
use base64::Engine;
use hyper::header::{AUTHORIZATION, HeaderValue};
use kube::client::ClientBuilder;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// The note every reply carries when `tls_skip_verify` was in effect.
pub const SKIP_VERIFY_NOTE: &str = "tls_skip_verify is set on the kubernetes connection: the \
    API server's TLS certificate was NOT verified for this request.";

/// The replies' notes for `settings`.
pub fn warnings(settings: &KubeSettings) -> Vec<String> {
    if settings.skip_verify {
        vec![SKIP_VERIFY_NOTE.to_string()]
    } else {
        Vec::new()
    }
}

/// A bearer token that is made for each request rather than once.
#[derive(Debug, Clone)]
pub enum Bearer {
    /// aws-iam: a new EKS token per request.
    Eks(Signer),
    /// A pod's service account token file, re-read per request since projected tokens rotate.
    File(PathBuf),
}

impl Bearer {
    /// The `Authorization` value for the next request (marked sensitive, so never logged by
    /// hyper or kube). The error names the source, never a token.
    pub fn header(&self) -> Result<HeaderValue, String> {
        let token = match self {
            Bearer::Eks(signer) => signer.token(SystemTime::now())?,
            Bearer::File(path) => read_token(path)?,
        };
        let mut value = HeaderValue::try_from(format!("Bearer {token}"))
            .map_err(|_| "the bearer token holds characters a header cannot carry".to_string())?;
        value.set_sensitive(true);
        Ok(value)
    }
}

/// A service account token from its file: trimmed, non-empty, one header-safe word.
fn read_token(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "the service account token {} cannot be read: {}",
            path.display(),
            e.kind()
        )
    })?;
    let token = text.trim();
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "the service account token {} is empty or not a token",
            path.display()
        ));
    }
    Ok(token.to_string())
}

/// kube's `Config` for the connection, and the per-request bearer when the mode has one.
pub struct Prepared {
    /// Everything but a changing bearer.
    pub config: kube::Config,
    /// The bearer set on each request, for aws-iam and an in-cluster service account.
    pub bearer: Option<Bearer>,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("cluster_url", &self.config.cluster_url)
            .field("bearer", &self.bearer)
            .finish_non_exhaustive()
    }
}

/// The environment of this process, for [`prepare`].
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Builds kube's `Config` for `settings`; `env` gives the proxy, STS-endpoint and in-cluster
/// variables ([`process_env`] outside tests). Reads the in-cluster CA and checks the token file
/// is readable, nothing else.
pub fn prepare(
    settings: &KubeSettings,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Prepared, ApiError> {
    let mut bearer = None;
    let mut ca = settings.cluster_ca.clone();
    let url = match &settings.auth {
        Auth::CertKey { url, .. }
        | Auth::UserToken { url, .. }
        | Auth::UserLogin { url, .. }
        | Auth::AwsIam { url: Some(url), .. }
        | Auth::ServiceAccount(ServiceAccount::Given { url, .. }) => url.0.clone(),
        Auth::AwsIam { url: None, .. } => {
            return Err(ApiError::new(
                ErrorKind::Internal,
                "the EKS endpoint was not looked up before connecting",
            ));
        }
        Auth::ServiceAccount(ServiceAccount::InCluster { dir, url }) => {
            let token = dir.join("token");
            read_token(&token).map_err(|e| in_cluster_error(&e))?;
            if ca.is_none() {
                let path = dir.join("ca.crt");
                let pem = std::fs::read(&path).map_err(|e| {
                    in_cluster_error(&format!("{} cannot be read: {}", path.display(), e.kind()))
                })?;
                ca = Some(ca_bundle(&pem).map_err(|e| {
                    in_cluster_error(&format!("{}: {}", path.display(), e.message))
                })?);
            }
            bearer = Some(Bearer::File(token));
            match url {
                Some(url) => url.0.clone(),
                None => in_cluster_url(env)?.0,
            }
        }
    };
    let mut config = kube::Config::new(url.clone());
    config.default_namespace = settings.namespace.clone();
    config.root_cert = ca;
    config.accept_invalid_certs = settings.skip_verify;
    config.proxy_url = proxy_for(&url, env)?;
    let auth = &mut config.auth_info;
    match &settings.auth {
        Auth::CertKey { cert, key, .. } => {
            let b64 = base64::engine::general_purpose::STANDARD;
            auth.client_certificate_data = Some(b64.encode(cert));
            auth.client_key_data = Some(b64.encode(key.expose()).into());
        }
        Auth::UserToken { token, .. }
        | Auth::ServiceAccount(ServiceAccount::Given { token, .. }) => {
            auth.token = Some(token.expose().to_string().into());
        }
        Auth::UserLogin { user, password, .. } => {
            auth.username = Some(user.clone());
            auth.password = Some(password.expose().to_string().into());
        }
        Auth::AwsIam { aws, .. } => bearer = Some(Bearer::Eks(Signer::new(aws.clone(), env)?)),
        Auth::ServiceAccount(ServiceAccount::InCluster { .. }) => {}
    }
    Ok(Prepared { config, bearer })
}

/// The API server as a pod sees it: `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT`.
pub fn in_cluster_url(env: &dyn Fn(&str) -> Option<String>) -> Result<ClusterUrl, ApiError> {
    let host = env("KUBERNETES_SERVICE_HOST").filter(|h| !h.trim().is_empty());
    let port = env("KUBERNETES_SERVICE_PORT").filter(|p| !p.trim().is_empty());
    let (Some(host), Some(port)) = (host, port) else {
        return Err(in_cluster_error(
            "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set",
        ));
    };
    let host = host.trim();
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    super::settings::parse_cluster_url(&format!("https://{host}:{}", port.trim())).map_err(|_| {
        in_cluster_error("KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT do not form a URL")
    })
}

/// A 400 for service-account mode without a stored token, when the pod's account is missing.
fn in_cluster_error(why: &str) -> ApiError {
    ApiError::bad_request(format!(
        "auth_mode service-account without a service_account_token uses the service account \
         of the pod Splunk runs in, but {why}. Outside a pod, store service_account_token \
         and cluster_url."
    ))
}

/// How long the EKS endpoint look-up may take.
pub const DESCRIBE_TIMEOUT: Duration = Duration::from_secs(10);

/// `settings` with everything known before connecting: for aws-iam without `cluster_url`, the
/// endpoint and (unless `cluster_ca` is stored) the CA from EKS `DescribeCluster`.
pub async fn resolve(
    settings: &KubeSettings,
    env: &dyn Fn(&str) -> Option<String>,
    limit: Duration,
) -> Result<KubeSettings, ApiError> {
    let Auth::AwsIam { url: None, aws } = &settings.auth else {
        return Ok(settings.clone());
    };
    let info = super::eks::describe_cluster(aws, env, limit).await?;
    let mut resolved = settings.clone();
    resolved.auth = Auth::AwsIam {
        url: Some(info.url),
        aws: aws.clone(),
    };
    resolved.cluster_ca = resolved.cluster_ca.or(Some(info.ca));
    Ok(resolved)
}

/// A kube client for `settings`, looking up what [`resolve`] must first. Runs inside the tokio
/// runtime (kube's buffer task).
pub async fn client(settings: &KubeSettings) -> Result<kube::Client, ApiError> {
    let settings = &resolve(settings, &process_env, DESCRIBE_TIMEOUT).await?;
    build(prepare(settings, &process_env)?, settings.auth.mode())
}

/// The kube client of a prepared `Config` (in auth mode `mode`, for messages).
pub fn build(prepared: Prepared, mode: &str) -> Result<kube::Client, ApiError> {
    let Prepared { config, bearer } = prepared;
    let builder = ClientBuilder::try_from(config).map_err(|e| {
        ApiError::bad_request(format!(
            "The kubernetes connection cannot be used ({mode}): {e}"
        ))
    })?;
    Ok(match bearer {
        Some(bearer) => builder.with_layer(&bearer_layer(bearer)).build(),
        None => builder.build(),
    })
}

/// The layer that sets the bearer of each request; a bearer that cannot be made fails the
/// request with the reason.
pub fn bearer_layer<B>(
    bearer: Bearer,
) -> tower::filter::FilterLayer<
    impl FnMut(hyper::Request<B>) -> Result<hyper::Request<B>, tower::BoxError> + Clone,
> {
    let bearer = Arc::new(bearer);
    tower::filter::FilterLayer::new(move |mut req: hyper::Request<B>| {
        let value = bearer.header()?;
        req.headers_mut().insert(AUTHORIZATION, value);
        Ok::<_, tower::BoxError>(req)
    })
}

#[cfg(test)]
mod tests {
    use super::super::settings::tests_support::{pki, secrets, stanza};
    use super::*;
    use crate::runtime::secrets::Secrets;
    use kube::client::{Body, ConfigExt};
    use rustls::pki_types::pem::PemObject;
    use tower::{Layer, ServiceExt};

    fn settings(pairs: &[(&str, &str)], sec: &[(&str, &str)]) -> KubeSettings {
        KubeSettings::from_stanza(&stanza(pairs), &secrets(sec)).unwrap()
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    /// The `Authorization` header kube (and our bearer layer) puts on a request.
    async fn authorization(prepared: &Prepared) -> Option<String> {
        // Answers with the header it was sent (kube's auth layer wants an HTTP response).
        let seen = tower::service_fn(|req: hyper::Request<Body>| async move {
            Ok::<_, tower::BoxError>(hyper::Response::new(
                req.headers()
                    .get(AUTHORIZATION)
                    .map(|v| v.to_str().unwrap().to_string()),
            ))
        });
        let req = || hyper::Request::get("/version").body(Body::empty()).unwrap();
        let auth = prepared.config.auth_layer().unwrap();
        match (&prepared.bearer, auth) {
            (Some(b), None) => bearer_layer(b.clone()).layer(seen).oneshot(req()).await,
            (None, Some(layer)) => layer.layer(seen).oneshot(req()).await,
            (None, None) => seen.oneshot(req()).await,
            (Some(_), Some(_)) => panic!("two sources of Authorization"),
        }
        .unwrap()
        .into_body()
    }

    /// kube reads nothing from a file: every path field of the config is empty.
    fn no_files(c: &kube::Config) {
        let a = &c.auth_info;
        assert!(c.root_cert_file.is_none());
        assert!(a.client_certificate.is_none() && a.client_key.is_none());
        assert!(a.token_file.is_none() && a.exec.is_none() && a.auth_provider.is_none());
    }

    const URL: (&str, &str) = ("cluster_url", "https://k8s.example:6443");

    #[tokio::test]
    async fn bearer_and_basic_modes_send_their_header() {
        let p = prepare(
            &settings(
                &[("auth_mode", "user-token"), URL],
                &[("user_token", "tok-1")],
            ),
            &no_env,
        )
        .unwrap();
        assert_eq!(authorization(&p).await.as_deref(), Some("Bearer tok-1"));
        no_files(&p.config);

        let p = prepare(
            &settings(
                &[("auth_mode", "user-login"), URL, ("user_name", "ann")],
                &[("user_password", "p:w")],
            ),
            &no_env,
        )
        .unwrap();
        let basic = base64::engine::general_purpose::STANDARD.encode("ann:p:w");
        assert_eq!(authorization(&p).await, Some(format!("Basic {basic}")));
        no_files(&p.config);

        let p = prepare(
            &settings(
                &[("auth_mode", "service-account"), URL],
                &[("service_account_token", "sa-tok")],
            ),
            &no_env,
        )
        .unwrap();
        assert_eq!(authorization(&p).await.as_deref(), Some("Bearer sa-tok"));
        no_files(&p.config);
        assert_eq!(
            p.config.cluster_url.to_string(),
            "https://k8s.example:6443/"
        );
        assert_eq!(p.config.default_namespace, "dsdl");
    }

    #[tokio::test]
    async fn aws_iam_mints_a_fresh_eks_token_per_request() {
        let p = prepare(
            &settings(
                &[
                    ("auth_mode", "aws-iam"),
                    URL,
                    ("aws_cluster_name", "my-cluster"),
                    ("aws_region_name", "us-west-2"),
                ],
                &[
                    ("aws_access_key_id", "AKIDEXAMPLE"),
                    (
                        "aws_secret_access_key",
                        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                    ),
                ],
            ),
            &|k| (k == "AWS_ENDPOINT_URL_STS").then(|| "http://127.0.0.1:4566".to_string()),
        )
        .unwrap();
        no_files(&p.config);
        assert!(p.config.auth_info.token.is_none());
        let first = authorization(&p).await.unwrap();
        let token = first.strip_prefix("Bearer k8s-aws-v1.").unwrap();
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token)
            .unwrap();
        let url = String::from_utf8(url).unwrap();
        assert!(
            url.starts_with("http://127.0.0.1:4566/?Action=GetCallerIdentity"),
            "{url}"
        );
        assert!(
            url.contains("X-Amz-SignedHeaders=host%3Bx-k8s-aws-id"),
            "{url}"
        );
        // Minted per request: a request a second later carries a new signature.
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        assert_ne!(authorization(&p).await.unwrap(), first);
    }

    #[tokio::test]
    async fn cert_key_presents_the_certificate_over_tls_verified_by_the_ca() {
        let (ca, cert, key) = pki();
        let s = settings(
            &[("auth_mode", "cert-key"), URL],
            &[
                ("client_cert", &cert),
                ("client_key", &key),
                ("cluster_ca", &ca),
            ],
        );
        let p = prepare(&s, &no_env).unwrap();
        no_files(&p.config);
        assert_eq!(authorization(&p).await, None);
        assert_eq!(p.config.root_cert.as_ref().map(Vec::len), Some(1));
        assert!(!p.config.accept_invalid_certs);
        let tls = p.config.rustls_client_config().unwrap();
        assert!(tls.client_auth_cert_resolver.has_certs());
        assert!(warnings(&s).is_empty());
        // kube builds its client from it (TLS stack included).
        assert!(client(&s).await.is_ok());
    }

    #[tokio::test]
    async fn tls_is_verified_unless_explicitly_skipped() {
        let token = [("user_token", "t")];
        let p = prepare(
            &settings(&[("auth_mode", "user-token"), URL], &token),
            &no_env,
        )
        .unwrap();
        // No CA stored: the system roots, still verified.
        assert!(p.config.root_cert.is_none() && !p.config.accept_invalid_certs);
        assert!(p.config.rustls_client_config().is_ok());
        let skip = settings(
            &[
                ("auth_mode", "user-token"),
                URL,
                ("tls_skip_verify", "true"),
            ],
            &token,
        );
        let p = prepare(&skip, &no_env).unwrap();
        assert!(p.config.accept_invalid_certs);
        assert_eq!(warnings(&skip), vec![SKIP_VERIFY_NOTE.to_string()]);
    }

    #[tokio::test]
    async fn the_proxy_comes_from_the_environment() {
        let s = settings(&[("auth_mode", "user-token"), URL], &[("user_token", "t")]);
        let env = |k: &str| (k == "HTTPS_PROXY").then(|| "http://proxy.corp:3128".to_string());
        let p = prepare(&s, &env).unwrap();
        assert_eq!(
            p.config
                .proxy_url
                .as_ref()
                .map(hyper::Uri::to_string)
                .as_deref(),
            Some("http://proxy.corp:3128/")
        );
        // kube was built with CONNECT support, so the client accepts it.
        assert!(ClientBuilder::try_from(p.config).is_ok());
        let env = |k: &str| match k {
            "HTTPS_PROXY" => Some("http://proxy.corp:3128".to_string()),
            "NO_PROXY" => Some(".example".to_string()),
            _ => None,
        };
        assert!(prepare(&s, &env).unwrap().config.proxy_url.is_none());
    }

    /// A pod's service account directory, made by the test (the code under test only reads).
    struct PodDir(PathBuf);

    impl PodDir {
        fn new(token: &str, ca: &str) -> PodDir {
            let dir = std::env::temp_dir().join(format!(
                "dsdl-k8s-sa-{}-{}",
                std::process::id(),
                crate::runtime::secrets::random_token(8).unwrap()
            ));
            std::fs::create_dir(&dir).unwrap();
            std::fs::write(dir.join("token"), token).unwrap();
            std::fs::write(dir.join("ca.crt"), ca).unwrap();
            PodDir(dir)
        }
    }

    impl Drop for PodDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn in_cluster(dir: &Path) -> KubeSettings {
        let mut s = KubeSettings::from_stanza(
            &stanza(&[("auth_mode", "service-account")]),
            &Secrets::default(),
        )
        .unwrap();
        let Auth::ServiceAccount(ServiceAccount::InCluster { dir: d, .. }) = &mut s.auth else {
            panic!("{:?}", s.auth)
        };
        *d = dir.to_path_buf();
        s
    }

    #[tokio::test]
    async fn in_cluster_reads_the_pod_token_on_every_request() {
        let (ca, _, _) = pki();
        let pod = PodDir::new("first\n", &ca);
        let env = |k: &str| match k {
            "KUBERNETES_SERVICE_HOST" => Some("fd00::1".to_string()),
            "KUBERNETES_SERVICE_PORT" => Some("443".to_string()),
            _ => None,
        };
        let p = prepare(&in_cluster(&pod.0), &env).unwrap();
        assert_eq!(p.config.cluster_url.to_string(), "https://[fd00::1]:443/");
        assert_eq!(p.config.root_cert.as_ref().map(Vec::len), Some(1));
        no_files(&p.config);
        assert_eq!(authorization(&p).await.as_deref(), Some("Bearer first"));
        // The kubelet rotates the projected token: the next request carries the new one.
        std::fs::write(pod.0.join("token"), "second").unwrap();
        assert_eq!(authorization(&p).await.as_deref(), Some("Bearer second"));
        // A token that disappears fails the request with the reason, not a bare 401.
        std::fs::remove_file(pod.0.join("token")).unwrap();
        let req = hyper::Request::get("/").body(Body::empty()).unwrap();
        let sink =
            tower::service_fn(|_: hyper::Request<Body>| async { Ok::<_, tower::BoxError>(()) });
        let e = bearer_layer(p.bearer.clone().unwrap())
            .layer(sink)
            .oneshot(req)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("cannot be read"), "{e}");
    }

    #[test]
    fn in_cluster_outside_a_pod_says_what_to_store() {
        let (ca, _, _) = pki();
        let pod = PodDir::new("t", &ca);
        let e = prepare(&in_cluster(&pod.0), &no_env).unwrap_err();
        assert_eq!(e.status(), 400);
        assert!(
            e.message.contains("KUBERNETES_SERVICE_HOST"),
            "{}",
            e.message
        );
        let gone = pod.0.join("nothing-here");
        let e = prepare(&in_cluster(&gone), &no_env).unwrap_err();
        assert!(
            e.message.contains("token cannot be read")
                && e.message.contains("store service_account_token"),
            "{}",
            e.message
        );
    }

    #[tokio::test]
    async fn aws_iam_without_cluster_url_looks_up_endpoint_and_ca() {
        use super::super::eks::tests::{describe_answer, fake_eks};
        let (ca, _, _) = pki();
        let (url, seen) = fake_eks(200, describe_answer("https://abc.eks.example", &ca)).await;
        let env = move |k: &str| (k == "AWS_ENDPOINT_URL_EKS").then(|| url.clone());
        let creds = [
            ("aws_access_key_id", "AKIDEXAMPLE"),
            ("aws_secret_access_key", "secret"),
        ];
        let pairs = [
            ("auth_mode", "aws-iam"),
            ("aws_cluster_name", "my-cluster"),
            ("aws_region_name", "us-west-2"),
        ];
        let s = settings(&pairs, &creds);
        // Connecting without the look-up is a bug, not a user error.
        assert_eq!(prepare(&s, &env).unwrap_err().status(), 500);
        let limit = Duration::from_secs(5);
        let resolved = resolve(&s, &env, limit).await.unwrap();
        let p = prepare(&resolved, &env).unwrap();
        assert_eq!(p.config.cluster_url.to_string(), "https://abc.eks.example/");
        assert_eq!(p.config.root_cert, Some(ca_bundle(ca.as_bytes()).unwrap()));
        assert!(matches!(p.bearer, Some(Bearer::Eks(_))));
        assert_eq!(seen.lock().unwrap().len(), 1);
        // A stored cluster_ca wins over the one EKS reports.
        let (own_ca, _, _) = pki();
        let mut with_ca = creds.to_vec();
        with_ca.push(("cluster_ca", &own_ca));
        let resolved = resolve(&settings(&pairs, &with_ca), &env, limit)
            .await
            .unwrap();
        assert_eq!(
            resolved.cluster_ca,
            Some(ca_bundle(own_ca.as_bytes()).unwrap())
        );
        // Other modes look nothing up.
        let token = settings(&[("auth_mode", "user-token"), URL], &[("user_token", "t")]);
        resolve(&token, &env, limit).await.unwrap();
        assert_eq!(seen.lock().unwrap().len(), 2);
    }

    /// A CA, an API server certificate for 127.0.0.1 and a client certificate it signed.
    struct LoopbackPki {
        ca: String,
        server: (CertificateDer<'static>, PrivateKeyDer<'static>),
        client: (String, String),
    }

    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    fn loopback_pki() -> LoopbackPki {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        // A name of its own, so that another test CA is a stranger, not a namesake.
        let name = format!(
            "test CA {}",
            crate::runtime::secrets::random_token(8).unwrap()
        );
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let leaf = |names: Vec<String>| {
            let key = rcgen::KeyPair::generate().unwrap();
            let cert = rcgen::CertificateParams::new(names)
                .unwrap()
                .signed_by(&key, &issuer)
                .unwrap();
            (cert, key)
        };
        let (server, server_key) = leaf(vec!["127.0.0.1".into()]);
        let (client, client_key) = leaf(vec!["splunk".into()]);
        LoopbackPki {
            ca: ca.pem(),
            server: (
                server.der().clone(),
                PrivateKeyDer::Pkcs8(server_key.serialize_der().into()),
            ),
            client: (client.pem(), client_key.serialize_pem()),
        }
    }

    /// What the loopback API server saw of one request: whether the client presented a
    /// certificate its CA signed, and the `Authorization` header.
    type Saw = Arc<std::sync::Mutex<Vec<(bool, Option<String>)>>>;

    /// An HTTPS server on loopback that answers `/version` as an API server does, accepting
    /// (not requiring) client certificates from `pki`'s CA.
    async fn loopback_api_server(pki: &LoopbackPki) -> (String, Saw) {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(pki.ca.as_bytes()).unwrap())
            .unwrap();
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .allow_unauthenticated()
        .build()
        .unwrap();
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(vec![pki.server.0.clone()], pki.server.1.clone_key())
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("https://{}", listener.local_addr().unwrap());
        let saw: Saw = Arc::default();
        let log = saw.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    continue;
                };
                let has_cert = tls.get_ref().1.peer_certificates().is_some();
                let log = log.clone();
                let service = hyper::service::service_fn(move |req: hyper::Request<_>| {
                    let auth = req
                        .headers()
                        .get(AUTHORIZATION)
                        .map(|v| v.to_str().unwrap().to_string());
                    log.lock().unwrap().push((has_cert, auth));
                    let version = r#"{"major":"1","minor":"33","gitVersion":"v1.33.0",
                        "gitCommit":"","gitTreeState":"clean","buildDate":"","goVersion":"",
                        "compiler":"gc","platform":"linux/amd64"}"#;
                    async move {
                        hyper::Response::builder()
                            .body(http_body_util::Full::new(hyper::body::Bytes::from(version)))
                    }
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), service),
                );
            }
        });
        (url, saw)
    }

    /// `GET /version` through kube's client for `settings`.
    async fn version(s: &KubeSettings) -> Result<String, String> {
        let client = client(s).await.map_err(|e| e.message)?;
        let call = client.apiserver_version();
        match tokio::time::timeout(Duration::from_secs(10), call).await {
            Ok(Ok(info)) => Ok(info.git_version),
            Ok(Err(e)) => Err(crate::tls::causes(&e)),
            Err(_) => Err("timed out".into()),
        }
    }

    #[tokio::test]
    async fn over_loopback_tls_the_ca_decides_and_credentials_arrive() {
        let pki = loopback_pki();
        let (url, saw) = loopback_api_server(&pki).await;
        let server = ("cluster_url", url.as_str());

        // cert-key with the right CA: verified, and the client certificate arrives.
        let (cert, key) = &pki.client;
        let cert_key = settings(
            &[("auth_mode", "cert-key"), server],
            &[
                ("client_cert", cert),
                ("client_key", key),
                ("cluster_ca", &pki.ca),
            ],
        );
        assert_eq!(version(&cert_key).await.unwrap(), "v1.33.0");
        assert_eq!(saw.lock().unwrap().pop(), Some((true, None)));

        // Bearer with the right CA.
        let token = [("user_token", "tok-1"), ("cluster_ca", pki.ca.as_str())];
        let bearer = settings(&[("auth_mode", "user-token"), server], &token);
        assert_eq!(version(&bearer).await.unwrap(), "v1.33.0");
        assert_eq!(
            saw.lock().unwrap().pop(),
            Some((false, Some("Bearer tok-1".into())))
        );

        // Another CA: refused, and nothing was sent.
        let other = loopback_pki();
        let wrong = [("user_token", "tok-1"), ("cluster_ca", other.ca.as_str())];
        let wrong_ca = settings(&[("auth_mode", "user-token"), server], &wrong);
        let e = version(&wrong_ca).await.unwrap_err();
        assert!(
            e.contains("UnknownIssuer") || e.contains("unknown issuer"),
            "{e}"
        );
        // No CA: the system roots, which do not know this test CA.
        let no_ca = settings(
            &[("auth_mode", "user-token"), server],
            &[("user_token", "t")],
        );
        assert!(version(&no_ca).await.is_err());
        assert!(saw.lock().unwrap().is_empty());

        // tls_skip_verify, and only it, accepts the unknown certificate.
        let skip = settings(
            &[
                ("auth_mode", "user-token"),
                server,
                ("tls_skip_verify", "true"),
            ],
            &wrong,
        );
        assert_eq!(version(&skip).await.unwrap(), "v1.33.0");
        assert_eq!(
            saw.lock().unwrap().pop(),
            Some((false, Some("Bearer tok-1".into())))
        );
    }
}
