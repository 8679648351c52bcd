//! A kubeconfig for the fake, so kubectl and the Python client reach it as they would a
//! cluster: one cluster (URL and CA data), one user in one of the credential forms, one
//! context. Written as JSON, which every kubeconfig reader accepts (YAML is a superset).
//! Pure.

use base64::Engine;
use serde_json::{Value, json};

/// How the kubeconfig's user authenticates.
#[derive(Debug, Clone)]
pub enum KubeUser {
    /// A bearer token (also an EKS token).
    Token(String),
    /// HTTP Basic.
    Basic {
        /// The user name.
        user: String,
        /// The password.
        password: String,
    },
    /// A client certificate and key, PEM.
    Cert {
        /// The certificate.
        cert_pem: String,
        /// Its key.
        key_pem: String,
    },
}

/// The kubeconfig text for `server`, trusting `ca_pem`, as `user`, in `namespace`.
pub fn render(server: &str, ca_pem: &str, user: &KubeUser, namespace: &str) -> String {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let user: Value = match user {
        KubeUser::Token(token) => json!({"token": token}),
        KubeUser::Basic { user, password } => json!({"username": user, "password": password}),
        KubeUser::Cert { cert_pem, key_pem } => json!({
            "client-certificate-data": b64(cert_pem),
            "client-key-data": b64(key_pem),
        }),
    };
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "kube-fake", "cluster": {
            "server": server,
            "certificate-authority-data": b64(ca_pem),
        }}],
        "users": [{"name": "kube-fake-user", "user": user}],
        "contexts": [{"name": "kube-fake", "context": {
            "cluster": "kube-fake", "user": "kube-fake-user", "namespace": namespace,
        }}],
        "current-context": "kube-fake",
    });
    serde_json::to_string_pretty(&config).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_cluster_one_user_one_context() {
        let text = render(
            "https://127.0.0.1:1",
            "CA",
            &KubeUser::Basic {
                user: "u".into(),
                password: "p".into(),
            },
            "dsdl",
        );
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            v["clusters"][0]["cluster"]["certificate-authority-data"],
            "Q0E="
        );
        assert_eq!(v["users"][0]["user"]["username"], "u");
        assert_eq!(v["contexts"][0]["context"]["namespace"], "dsdl");
        assert_eq!(v["current-context"], "kube-fake");
    }
}
