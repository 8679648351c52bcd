//! The saved Kubernetes connection as the client needs it: where the API server is, how to
//! trust it, and how to authenticate in each `auth_mode`. Pure: built from the `[kubernetes]`
//! stanza and its secrets, every problem a 400 that names the setting. Credentials stay in
//! memory (nothing here touches a file), and `Debug` shows which parts are present, never
//! their bytes.

use super::super::docker::settings::{flag, value};
use super::super::secrets::Secrets;
use crate::conffile::Stanza;
use crate::error::ApiError;
use crate::protocol::request::Secret;
use hyper::Uri;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::fmt;
use std::path::PathBuf;

/// Where a pod's service account token and CA are mounted.
pub const IN_CLUSTER_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// The five `auth_mode` values, as the AI Toolkit names them.
pub const AUTH_MODES: [&str; 5] = [
    "cert-key",
    "user-token",
    "user-login",
    "aws-iam",
    "service-account",
];

/// A Kubernetes connection ready to build a client from.
#[derive(Clone)]
pub struct KubeSettings {
    /// How the client authenticates (and, for most modes, where the server is).
    pub auth: Auth,
    /// The CA bundle that verifies the API server (`cluster_ca`), as DER certificates; `None`:
    /// the system roots (or, in-cluster, the pod's CA file).
    pub cluster_ca: Option<Vec<Vec<u8>>>,
    /// `tls_skip_verify`: accept any API server certificate (said in every reply that used it).
    pub skip_verify: bool,
    /// The namespace workloads go into.
    pub namespace: String,
}

/// The API server's URL: `https://host[:port][/path]`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterUrl(pub Uri);

/// How the client authenticates, per `auth_mode`. `Debug` never shows a credential.
#[derive(Clone)]
pub enum Auth {
    /// `cert-key`: a client certificate (PEM chain) and its private key (PEM).
    CertKey {
        /// `cluster_url`.
        url: ClusterUrl,
        /// `client_cert` as PEM.
        cert: Vec<u8>,
        /// `client_key` as PEM.
        key: Secret,
    },
    /// `user-token`: `Authorization: Bearer <user_token>`.
    UserToken {
        /// `cluster_url`.
        url: ClusterUrl,
        /// `user_token`.
        token: Secret,
    },
    /// `user-login`: HTTP Basic `user_name` / `user_password`.
    UserLogin {
        /// `cluster_url`.
        url: ClusterUrl,
        /// `user_name`.
        user: String,
        /// `user_password`.
        password: Secret,
    },
    /// `aws-iam`: an EKS token minted for each request from the AWS credentials.
    AwsIam {
        /// `cluster_url`: the EKS API endpoint; `None`: looked up with EKS `DescribeCluster`
        /// (with the cluster's CA) before connecting.
        url: Option<ClusterUrl>,
        /// The EKS key of the credentials.
        aws: AwsAccess,
    },
    /// `service-account`: a service account token, given or mounted in the pod.
    ServiceAccount(ServiceAccount),
}

/// What an EKS token is signed with and for.
#[derive(Clone)]
pub struct AwsAccess {
    /// `aws_cluster_name`: signed into the token as `x-k8s-aws-id`.
    pub cluster_name: String,
    /// `aws_region_name`.
    pub region: String,
    /// `aws_access_key_id`.
    pub access_key_id: Secret,
    /// `aws_secret_access_key`.
    pub secret_access_key: Secret,
}

/// The two forms of `service-account`.
#[derive(Clone)]
pub enum ServiceAccount {
    /// `cluster_url` and a stored `service_account_token`.
    Given {
        /// `cluster_url`.
        url: ClusterUrl,
        /// `service_account_token`.
        token: Secret,
    },
    /// Splunk runs in a pod: the mounted token (re-read for every request, since projected
    /// tokens rotate) and CA, and the API server from `KUBERNETES_SERVICE_HOST`/`_PORT` unless
    /// `cluster_url` is set.
    InCluster {
        /// The directory holding `token` and `ca.crt` ([`IN_CLUSTER_DIR`]; tests point it
        /// elsewhere).
        dir: PathBuf,
        /// `cluster_url`, when set, instead of the service environment.
        url: Option<ClusterUrl>,
    },
}

impl Auth {
    /// The `auth_mode` this is.
    pub fn mode(&self) -> &'static str {
        match self {
            Auth::CertKey { .. } => "cert-key",
            Auth::UserToken { .. } => "user-token",
            Auth::UserLogin { .. } => "user-login",
            Auth::AwsIam { .. } => "aws-iam",
            Auth::ServiceAccount(_) => "service-account",
        }
    }
}

impl fmt::Debug for KubeSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KubeSettings")
            .field("auth", &self.auth)
            .field("cluster_ca", &self.cluster_ca.as_ref().map(Vec::len))
            .field("skip_verify", &self.skip_verify)
            .field("namespace", &self.namespace)
            .finish()
    }
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Auth");
        d.field("mode", &self.mode());
        match self {
            Auth::CertKey { url, .. } | Auth::UserToken { url, .. } => d.field("url", url),
            Auth::UserLogin { url, user, .. } => d.field("url", url).field("user", user),
            Auth::AwsIam { url, aws } => d.field("url", url).field("aws", aws),
            Auth::ServiceAccount(sa) => d.field("service_account", sa),
        };
        d.finish_non_exhaustive()
    }
}

impl fmt::Debug for AwsAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsAccess")
            .field("cluster_name", &self.cluster_name)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceAccount::Given { url, .. } => f
                .debug_struct("Given")
                .field("url", url)
                .finish_non_exhaustive(),
            ServiceAccount::InCluster { dir, url } => f
                .debug_struct("InCluster")
                .field("dir", dir)
                .field("url", url)
                .finish(),
        }
    }
}

impl KubeSettings {
    /// What a client built from these settings depends on (server, credentials, trust),
    /// hashed: the key of the clients kept across requests
    /// ([`crate::runtime::shared::Clients`]).
    pub fn client_key(&self) -> [u8; 32] {
        let url = |u: &Option<ClusterUrl>| u.as_ref().map(|u| u.0.to_string()).unwrap_or_default();
        let (server, who, secret): (String, String, &str) = match &self.auth {
            Auth::CertKey { url: u, cert, key } => (
                u.0.to_string(),
                String::from_utf8_lossy(cert).into_owned(),
                key.expose(),
            ),
            Auth::UserToken { url: u, token } => (u.0.to_string(), String::new(), token.expose()),
            Auth::UserLogin {
                url: u,
                user,
                password,
            } => (u.0.to_string(), user.clone(), password.expose()),
            Auth::AwsIam { url: u, aws } => (
                url(u),
                format!(
                    "{}\n{}\n{}",
                    aws.cluster_name,
                    aws.region,
                    aws.access_key_id.expose()
                ),
                aws.secret_access_key.expose(),
            ),
            Auth::ServiceAccount(ServiceAccount::Given { url: u, token }) => {
                (u.0.to_string(), String::new(), token.expose())
            }
            Auth::ServiceAccount(ServiceAccount::InCluster { dir, url: u }) => {
                (url(u), dir.display().to_string(), "")
            }
        };
        let ca: Vec<u8> = self
            .cluster_ca
            .iter()
            .flatten()
            .flatten()
            .copied()
            .collect();
        crate::runtime::shared::key(&[
            self.auth.mode().as_bytes(),
            server.as_bytes(),
            who.as_bytes(),
            secret.as_bytes(),
            &ca,
            &[u8::from(self.skip_verify)],
        ])
    }

    /// Reads the `[kubernetes]` stanza and its secrets.
    pub fn from_stanza(stanza: &Stanza, secrets: &Secrets) -> Result<KubeSettings, ApiError> {
        let mode = value(stanza, "auth_mode").ok_or_else(|| {
            ApiError::bad_request(format!(
                "auth_mode is not set: save the kubernetes connection with one of {}.",
                AUTH_MODES.join(", ")
            ))
        })?;
        let url = || cluster_url(value(stanza, "cluster_url"), mode);
        let secret = |field: &str| required_secret(secrets, field, mode);
        let setting = |field: &str| required_value(stanza, field, mode);
        let auth = match mode {
            "cert-key" => {
                let url = url()?;
                let cert = secrets.pem("client_cert").map_err(ApiError::bad_request)?;
                let key = secrets.pem("client_key").map_err(ApiError::bad_request)?;
                let (cert, key) = client_identity(cert, key)?;
                Auth::CertKey { url, cert, key }
            }
            "user-token" => Auth::UserToken {
                url: url()?,
                token: header_safe(secret("user_token")?, "user_token")?,
            },
            "user-login" => {
                let user = setting("user_name")?;
                if user.contains(':') {
                    return Err(ApiError::bad_request(
                        "user_name must not contain ':' (HTTP Basic authentication cannot \
                         carry it).",
                    ));
                }
                Auth::UserLogin {
                    url: url()?,
                    user: user.to_string(),
                    password: secret("user_password")?,
                }
            }
            "aws-iam" => {
                let region = setting("aws_region_name")?;
                if !is_region(region) {
                    return Err(ApiError::bad_request(format!(
                        "aws_region_name {:?} is not an AWS region name such as us-east-1.",
                        crate::names::excerpt(region, 40)
                    )));
                }
                // The access key id is a secret in this app; a connection saved by the AI
                // Toolkit keeps it in the stanza.
                let access_key_id = match secrets.get("aws_access_key_id") {
                    Some(id) => id.clone(),
                    None => Secret::new(setting("aws_access_key_id")?),
                };
                let cluster_name = setting("aws_cluster_name")?;
                if !is_eks_cluster_name(cluster_name) {
                    return Err(ApiError::bad_request(format!(
                        "aws_cluster_name {:?} is not an EKS cluster name: 1 to 100 letters, \
                         digits, '-' and '_', starting with a letter or digit.",
                        crate::names::excerpt(cluster_name, 40)
                    )));
                }
                Auth::AwsIam {
                    url: match value(stanza, "cluster_url") {
                        Some(raw) => Some(parse_cluster_url(raw)?),
                        None => None,
                    },
                    aws: AwsAccess {
                        cluster_name: cluster_name.to_string(),
                        region: region.to_string(),
                        access_key_id: header_safe(access_key_id, "aws_access_key_id")?,
                        secret_access_key: secret("aws_secret_access_key")?,
                    },
                }
            }
            "service-account" => Auth::ServiceAccount(match secrets.get("service_account_token") {
                Some(token) => ServiceAccount::Given {
                    url: url()?,
                    token: header_safe(token.clone(), "service_account_token")?,
                },
                None => ServiceAccount::InCluster {
                    dir: PathBuf::from(IN_CLUSTER_DIR),
                    url: match value(stanza, "cluster_url") {
                        Some(raw) => Some(parse_cluster_url(raw)?),
                        None => None,
                    },
                },
            }),
            other => {
                return Err(ApiError::bad_request(format!(
                    "auth_mode {:?} is not one of {}.",
                    crate::names::excerpt(other, 40),
                    AUTH_MODES.join(", ")
                )));
            }
        };
        let cluster_ca = match secrets.pem("cluster_ca").map_err(ApiError::bad_request)? {
            Some(pem) => Some(ca_bundle(&pem)?),
            None => None,
        };
        Ok(KubeSettings {
            auth,
            cluster_ca,
            skip_verify: flag(stanza, "tls_skip_verify", false),
            namespace: namespace(value(stanza, "namespace"))?,
        })
    }
}

/// A setting `mode` cannot do without.
fn required_value<'a>(stanza: &'a Stanza, field: &str, mode: &str) -> Result<&'a str, ApiError> {
    value(stanza, field)
        .ok_or_else(|| ApiError::bad_request(format!("{field} is required for auth_mode {mode}.")))
}

/// A secret `mode` cannot do without.
fn required_secret(secrets: &Secrets, field: &str, mode: &str) -> Result<Secret, ApiError> {
    secrets.get(field).cloned().ok_or_else(|| {
        ApiError::bad_request(format!(
            "{field} is required for auth_mode {mode}: test the connection with it to store it."
        ))
    })
}

/// A secret that goes into a header as it is: visible ASCII only. The error names the field,
/// never the value.
fn header_safe(secret: Secret, field: &str) -> Result<Secret, ApiError> {
    let trimmed = secret.expose().trim();
    if trimmed.is_empty() || !trimmed.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::bad_request(format!(
            "{field} holds spaces or characters an HTTP header cannot carry; paste it again."
        )));
    }
    Ok(Secret::new(trimmed))
}

/// `cluster_url`, required by `mode`.
fn cluster_url(raw: Option<&str>, mode: &str) -> Result<ClusterUrl, ApiError> {
    let raw = raw.ok_or_else(|| {
        ApiError::bad_request(format!(
            "cluster_url is required for auth_mode {mode}, e.g. https://api.k8s.example.com:6443."
        ))
    })?;
    parse_cluster_url(raw)
}

/// Parses `cluster_url`: `https://host[:port][/path]`, no user, query or fragment.
pub fn parse_cluster_url(raw: &str) -> Result<ClusterUrl, ApiError> {
    let bad = |why: &str| {
        ApiError::bad_request(format!(
            "cluster_url {:?} {why}; it must be https://host[:port], e.g. \
             https://api.k8s.example.com:6443.",
            crate::names::excerpt(raw, 80)
        ))
    };
    let trimmed = raw.trim();
    let uri: Uri = trimmed.parse().map_err(|_| bad("is not a URL"))?;
    match uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("https") => {}
        Some(_) => return Err(bad("must be https://")),
        None => return Err(bad("needs https:// in front")),
    }
    let authority = uri.authority().ok_or_else(|| bad("needs a host"))?;
    if authority.as_str().contains('@') {
        return Err(bad("must not hold a user name or password"));
    }
    if authority.host().is_empty() {
        return Err(bad("needs a host"));
    }
    if authority.port_u16() == Some(0) || (authority.as_str().ends_with(':')) {
        return Err(bad("has an invalid port"));
    }
    if uri.query().is_some() || trimmed.contains('#') {
        return Err(bad("must not have a query or fragment"));
    }
    Ok(ClusterUrl(uri))
}

/// The namespace: a DNS-1123 label.
fn namespace(raw: Option<&str>) -> Result<String, ApiError> {
    let ns = raw.ok_or_else(|| {
        ApiError::bad_request(
            "namespace is not set: name the namespace workloads go into, e.g. dsdl.",
        )
    })?;
    let ok = ns.len() <= 63
        && ns
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !ns.starts_with('-')
        && !ns.ends_with('-');
    if !ok {
        return Err(ApiError::bad_request(format!(
            "namespace {:?} is not a Kubernetes namespace name: at most 63 lower-case letters, \
             digits and '-', starting and ending with a letter or digit.",
            crate::names::excerpt(ns, 80)
        )));
    }
    Ok(ns.to_string())
}

/// Whether `s` looks like an AWS region name (`us-east-1`, `us-gov-west-1`, `cn-north-1`).
fn is_region(s: &str) -> bool {
    s.len() <= 32
        && s.contains('-')
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Whether `s` is a name EKS accepts for a cluster.
fn is_eks_cluster_name(s: &str) -> bool {
    (1..=100).contains(&s.len())
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The certificates of `cluster_ca` as DER, each one a usable trust anchor.
pub(super) fn ca_bundle(pem: &[u8]) -> Result<Vec<Vec<u8>>, ApiError> {
    let bad =
        |why: String| ApiError::bad_request(format!("cluster_ca is not a PEM CA bundle: {why}."));
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("{e}")))?;
    if certs.is_empty() {
        return Err(bad("it holds no certificate".into()));
    }
    let mut store = rustls::RootCertStore::empty();
    for cert in &certs {
        store.add(cert.clone()).map_err(|e| bad(format!("{e}")))?;
    }
    Ok(certs.into_iter().map(|c| c.to_vec()).collect())
}

/// `client_cert` and `client_key` of cert-key: both present, each parsed, the key of a kind
/// the client can sign with, and the key the one the certificate names.
fn client_identity(
    cert: Option<Vec<u8>>,
    key: Option<Vec<u8>>,
) -> Result<(Vec<u8>, Secret), ApiError> {
    let (Some(cert), Some(key)) = (cert, key) else {
        return Err(ApiError::bad_request(
            "client_cert and client_key are both required for auth_mode cert-key: test the \
             connection with them to store them.",
        ));
    };
    let chain = CertificateDer::pem_slice_iter(&cert)
        .collect::<Result<Vec<_>, _>>()
        .ok()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ApiError::bad_request("client_cert is not a PEM certificate."))?;
    let der = PrivateKeyDer::from_pem_slice(&key)
        .map_err(|_| ApiError::bad_request("client_key is not a PEM private key."))?;
    let signing = rustls::crypto::ring::sign::any_supported_type(&der).map_err(|_| {
        ApiError::bad_request(
            "client_key is a private key of a kind this client cannot use (RSA, ECDSA P-256 or \
             P-384, or Ed25519 are).",
        )
    })?;
    let certified = rustls::sign::CertifiedKey::new(chain, signing);
    if let Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) =
        certified.keys_match()
    {
        return Err(ApiError::bad_request(
            "client_key is not the key of client_cert: store the pair that belongs together.",
        ));
    }
    // PEM is ASCII; a key that is not would not have parsed.
    let key = String::from_utf8(key)
        .map_err(|_| ApiError::bad_request("client_key is not a PEM private key."))?;
    Ok((cert, Secret::new(key)))
}

/// Builders the Kubernetes tests share.
#[cfg(test)]
pub(super) mod tests_support {
    use super::*;

    /// The `[kubernetes]` stanza with `namespace = dsdl` and `pairs`.
    pub fn stanza(pairs: &[(&str, &str)]) -> Stanza {
        let mut all = vec![("namespace", "dsdl")];
        all.extend_from_slice(pairs);
        Stanza::from_pairs("kubernetes", &all)
    }

    /// Stored secrets.
    pub fn secrets(pairs: &[(&str, &str)]) -> Secrets {
        Secrets::from_listing(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), Secret::new(*v)))
                .collect(),
        )
    }

    /// A CA and a client certificate it signed, with the client's key, as PEM.
    pub fn pki() -> (String, String, String) {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["splunk".to_string()])
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        (ca.pem(), cert.pem(), key.serialize_pem())
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::{pki, secrets, stanza};
    use super::*;
    use base64::Engine;

    fn err(st: &Stanza, sec: &Secrets) -> String {
        let e = KubeSettings::from_stanza(st, sec).unwrap_err();
        assert_eq!(e.status(), 400, "{}", e.message);
        e.message
    }

    #[test]
    fn auth_mode_is_required_and_one_of_five() {
        let none = err(&stanza(&[]), &Secrets::default());
        assert!(none.starts_with("auth_mode is not set"), "{none}");
        let other = err(&stanza(&[("auth_mode", "kubeconfig")]), &Secrets::default());
        assert!(
            other.contains("\"kubeconfig\" is not one of cert-key"),
            "{other}"
        );
    }

    #[test]
    fn cluster_urls_must_be_https_with_a_host() {
        let ok = parse_cluster_url(" https://api.example.com:6443/ ").unwrap();
        assert_eq!(ok.0.to_string(), "https://api.example.com:6443/");
        let ok = parse_cluster_url("https://rancher.example.com/k8s/clusters/c-1").unwrap();
        assert_eq!(ok.0.path(), "/k8s/clusters/c-1");
        assert!(parse_cluster_url("https://[::1]:6443").is_ok());
        for (bad, why) in [
            ("http://api.example.com:6443", "must be https://"),
            ("api.example.com:6443", "needs https://"),
            ("https://", "is not a URL"),
            ("https://u:p@api.example.com", "user name or password"),
            ("https://api.example.com:0", "invalid port"),
            ("https://api.example.com:", "invalid port"),
            ("https://api.example.com/?x=1", "query or fragment"),
            ("https://api.example.com/#x", "query or fragment"),
            ("not a url", "is not a URL"),
        ] {
            let e = parse_cluster_url(bad).unwrap_err();
            assert!(
                e.message.starts_with("cluster_url") && e.message.contains(why),
                "{bad}: {}",
                e.message
            );
        }
        // Each mode that needs it says so.
        for mode in ["cert-key", "user-token", "user-login"] {
            let e = err(&stanza(&[("auth_mode", mode)]), &Secrets::default());
            assert!(
                e.contains("is required for auth_mode") || e.starts_with("cluster_url"),
                "{mode}: {e}"
            );
        }
    }

    #[test]
    fn cert_key_needs_a_matching_pem_pair_in_either_form() {
        let (ca, cert, key) = pki();
        let url = stanza(&[
            ("auth_mode", "cert-key"),
            ("cluster_url", "https://k8s.example:6443"),
        ]);
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        // The AI Toolkit's form (base64 of the PEM) and plain PEM are both read.
        let s = KubeSettings::from_stanza(
            &url,
            &secrets(&[
                ("client_cert", &b64(&cert)),
                ("client_key", &key),
                ("cluster_ca", &b64(&ca)),
            ]),
        )
        .unwrap();
        assert!(matches!(s.auth, Auth::CertKey { .. }));
        assert_eq!(s.cluster_ca.as_ref().map(Vec::len), Some(1));
        assert!(!s.skip_verify);
        assert_eq!(s.namespace, "dsdl");

        let e = err(&url, &secrets(&[("client_cert", &cert)]));
        assert!(
            e.starts_with("client_cert and client_key are both required"),
            "{e}"
        );
        let e = err(
            &url,
            &secrets(&[("client_cert", &cert), ("client_key", &cert)]),
        );
        assert_eq!(e, "client_key is not a PEM private key.");
        let e = err(
            &url,
            &secrets(&[("client_cert", &key), ("client_key", &key)]),
        );
        assert_eq!(e, "client_cert is not a PEM certificate.");
        let e = err(
            &url,
            &secrets(&[("client_cert", &cert), ("client_key", "c2VjcmV0")]),
        );
        assert!(
            e.starts_with("client_key is neither PEM") && !e.contains("c2VjcmV0"),
            "{e}"
        );
        let (_, _, other_key) = pki();
        let e = err(
            &url,
            &secrets(&[("client_cert", &cert), ("client_key", &other_key)]),
        );
        assert!(
            e.starts_with("client_key is not the key of client_cert"),
            "{e}"
        );
        // An unusable CA is named.
        let e = err(
            &url,
            &secrets(&[
                ("client_cert", &cert),
                ("client_key", &key),
                ("cluster_ca", &key),
            ]),
        );
        assert!(e.starts_with("cluster_ca is not a PEM CA bundle"), "{e}");
    }

    #[test]
    fn token_and_login_modes_name_what_is_missing() {
        let url = ("cluster_url", "https://k8s.example:6443");
        let token = stanza(&[("auth_mode", "user-token"), url]);
        let e = err(&token, &Secrets::default());
        assert!(
            e.starts_with("user_token is required for auth_mode user-token"),
            "{e}"
        );
        let e = err(&token, &secrets(&[("user_token", "abc def")]));
        assert!(
            e.starts_with("user_token holds spaces") && !e.contains("abc"),
            "{e}"
        );
        let s = KubeSettings::from_stanza(&token, &secrets(&[("user_token", " tok\n")])).unwrap();
        assert!(matches!(&s.auth, Auth::UserToken { token, .. } if token.expose() == "tok"));

        let login = stanza(&[("auth_mode", "user-login"), url]);
        let e = err(&login, &secrets(&[("user_password", "pw")]));
        assert_eq!(e, "user_name is required for auth_mode user-login.");
        let named = stanza(&[("auth_mode", "user-login"), url, ("user_name", "ann")]);
        let e = err(&named, &Secrets::default());
        assert!(e.starts_with("user_password is required"), "{e}");
        let colon = stanza(&[("auth_mode", "user-login"), url, ("user_name", "a:b")]);
        let e = err(&colon, &secrets(&[("user_password", "pw")]));
        assert!(e.starts_with("user_name must not contain ':'"), "{e}");
        let s = KubeSettings::from_stanza(&named, &secrets(&[("user_password", "p w")])).unwrap();
        assert!(matches!(&s.auth, Auth::UserLogin { user, password, .. }
            if user == "ann" && password.expose() == "p w"));
    }

    #[test]
    fn aws_iam_needs_region_cluster_and_credentials() {
        let full = [
            ("auth_mode", "aws-iam"),
            ("cluster_url", "https://ABC.gr7.us-west-2.eks.amazonaws.com"),
            ("aws_cluster_name", "my-cluster"),
            ("aws_region_name", "us-west-2"),
        ];
        let creds = secrets(&[
            ("aws_access_key_id", "AKIDEXAMPLE"),
            (
                "aws_secret_access_key",
                "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            ),
        ]);
        let s = KubeSettings::from_stanza(&stanza(&full), &creds).unwrap();
        let Auth::AwsIam { aws, url } = &s.auth else {
            panic!("{:?}", s.auth)
        };
        assert_eq!(
            (aws.cluster_name.as_str(), aws.region.as_str()),
            ("my-cluster", "us-west-2")
        );
        assert!(url.is_some());
        // Without cluster_url, DescribeCluster finds the endpoint.
        let mut no_url = full.to_vec();
        no_url.remove(1);
        let s = KubeSettings::from_stanza(&stanza(&no_url), &creds).unwrap();
        assert!(matches!(&s.auth, Auth::AwsIam { url: None, .. }));
        // The AI Toolkit keeps the key id in the stanza.
        let mut legacy = full.to_vec();
        legacy.push(("aws_access_key_id", "AKIDLEGACY"));
        let only_secret = secrets(&[("aws_secret_access_key", "x")]);
        let s = KubeSettings::from_stanza(&stanza(&legacy), &only_secret).unwrap();
        assert!(matches!(&s.auth, Auth::AwsIam { aws, .. }
            if aws.access_key_id.expose() == "AKIDLEGACY"));

        for (i, field) in ["aws_cluster_name", "aws_region_name"].iter().enumerate() {
            let mut pairs = full.to_vec();
            pairs.remove(i + 2);
            let e = err(&stanza(&pairs), &creds);
            assert!(
                e.starts_with(&format!("{field} is required")),
                "{field}: {e}"
            );
        }
        let mut bad_region = full.to_vec();
        bad_region[3].1 = "US West";
        let e = err(&stanza(&bad_region), &creds);
        assert!(e.starts_with("aws_region_name \"US West\" is not"), "{e}");
        for bad in ["-c", "a b", "c/../d", &"c".repeat(101)] {
            let mut pairs = full.to_vec();
            pairs[2].1 = bad;
            let e = err(&stanza(&pairs), &creds);
            assert!(e.starts_with("aws_cluster_name "), "{bad}: {e}");
        }
        let mut http = full.to_vec();
        http[1].1 = "http://eks.example";
        assert!(err(&stanza(&http), &creds).starts_with("cluster_url "));
        let e = err(&stanza(&full), &secrets(&[("aws_access_key_id", "AKID")]));
        assert!(e.starts_with("aws_secret_access_key is required"), "{e}");
        let e = err(&stanza(&full), &only_secret);
        assert!(e.starts_with("aws_access_key_id is required"), "{e}");
    }

    #[test]
    fn service_account_uses_a_stored_token_or_the_pod() {
        let sa = stanza(&[("auth_mode", "service-account")]);
        let s = KubeSettings::from_stanza(&sa, &Secrets::default()).unwrap();
        assert!(
            matches!(&s.auth, Auth::ServiceAccount(ServiceAccount::InCluster { dir, url: None })
            if dir == std::path::Path::new(IN_CLUSTER_DIR))
        );
        let e = err(&sa, &secrets(&[("service_account_token", "t")]));
        assert!(
            e.starts_with("cluster_url is required for auth_mode service-account"),
            "{e}"
        );
        let with_url = stanza(&[
            ("auth_mode", "service-account"),
            ("cluster_url", "https://k8s.example"),
        ]);
        let s = KubeSettings::from_stanza(&with_url, &secrets(&[("service_account_token", "t")]))
            .unwrap();
        assert!(
            matches!(&s.auth, Auth::ServiceAccount(ServiceAccount::Given { token, .. })
            if token.expose() == "t")
        );
        let s = KubeSettings::from_stanza(&with_url, &Secrets::default()).unwrap();
        assert!(matches!(
            &s.auth,
            Auth::ServiceAccount(ServiceAccount::InCluster { url: Some(_), .. })
        ));
    }

    #[test]
    fn namespace_is_a_dns_label_and_skip_verify_is_explicit() {
        let base = [("auth_mode", "service-account")];
        let no_ns = Stanza::from_pairs("kubernetes", &base);
        let e = err(&no_ns, &Secrets::default());
        assert!(e.starts_with("namespace is not set"), "{e}");
        for bad in ["DSDL", "-a", "a-", "a_b", &"a".repeat(64)] {
            let st = Stanza::from_pairs("kubernetes", &[base[0], ("namespace", bad)]);
            assert!(
                err(&st, &Secrets::default()).starts_with("namespace "),
                "{bad}"
            );
        }
        let st = stanza(&[base[0], ("tls_skip_verify", "true")]);
        assert!(
            KubeSettings::from_stanza(&st, &Secrets::default())
                .unwrap()
                .skip_verify
        );
    }

    #[test]
    fn debug_shows_no_credential() {
        let (ca, cert, key) = pki();
        let cases = [
            (
                vec![("auth_mode", "cert-key"), ("cluster_url", "https://k")],
                secrets(&[
                    ("client_cert", &cert),
                    ("client_key", &key),
                    ("cluster_ca", &ca),
                ]),
            ),
            (
                vec![("auth_mode", "user-token"), ("cluster_url", "https://k")],
                secrets(&[("user_token", "TOKEN-SECRET-1")]),
            ),
            (
                vec![
                    ("auth_mode", "user-login"),
                    ("cluster_url", "https://k"),
                    ("user_name", "ann"),
                ],
                secrets(&[("user_password", "PASSWORD-SECRET-2")]),
            ),
            (
                vec![
                    ("auth_mode", "aws-iam"),
                    ("cluster_url", "https://k"),
                    ("aws_cluster_name", "c"),
                    ("aws_region_name", "us-east-1"),
                ],
                secrets(&[
                    ("aws_access_key_id", "AKID-SECRET-3"),
                    ("aws_secret_access_key", "AWS-SECRET-4"),
                ]),
            ),
            (
                vec![
                    ("auth_mode", "service-account"),
                    ("cluster_url", "https://k"),
                ],
                secrets(&[("service_account_token", "SA-SECRET-5")]),
            ),
        ];
        let key_body = key.lines().nth(1).unwrap().to_string();
        for (pairs, sec) in cases {
            let s = KubeSettings::from_stanza(&stanza(&pairs), &sec).unwrap();
            let shown = format!("{s:?}");
            for needle in ["SECRET", "BEGIN", key_body.as_str()] {
                assert!(!shown.contains(needle), "{shown}");
            }
        }
    }
}
