//! A fake Kubernetes cluster for the connection tests: the in-repo fake API server with a
//! namespace, a user per auth mode holding every permission the runtime asks for, and one
//! user who may only read the namespace. The credentials are test values made up here.

use base64::Engine;
use dsdl_handler::kubefake::authz::Rule;
use dsdl_handler::kubefake::eks::EksAccount;
use dsdl_handler::kubefake::kubeconfig::KubeUser;
use dsdl_handler::kubefake::{KubeFake, NodeSpec, Options};

/// The namespace workloads go into.
pub const NS: &str = "dsdl";
/// alice's bearer token (user-token).
pub const TOKEN: &str = "kube-e2e-token-alice-Qm4";
/// bob's password (user-login).
pub const PASSWORD: &str = "kube-e2e-password-bob-Zt8";
/// robot's service account token (service-account).
pub const SA_TOKEN: &str = "kube-e2e-sa-token-robot-Hn2";
/// dave's bearer token: dave may only read the namespace.
pub const NARROW_TOKEN: &str = "kube-e2e-token-dave-Lp5";
/// The EKS identity's key pair (aws-iam).
pub const AKID: &str = "AKIDKUBEEEXAMPLE";
/// Its secret key.
pub const AWS_SECRET: &str = "kube-e2e-aws-secret/Vb7";
/// The EKS cluster name tokens are bound to.
pub const EKS_CLUSTER: &str = "dsdl-eks";

/// Every user with the runtime's permissions: alice (token), bob (password), carol (client
/// certificate), eks-user (aws-iam), robot (service account).
pub const FULL_USERS: [&str; 5] = ["alice", "bob", "carol", "eks-user", "robot"];

/// Every secret value above, for leak checks.
pub const SECRETS: [&str; 5] = [TOKEN, PASSWORD, SA_TOKEN, NARROW_TOKEN, AWS_SECRET];

/// Options for the cluster: `gpu_nodes` nodes with 2 GPUs besides a CPU node.
pub fn options(gpu_nodes: usize) -> Options {
    let everything = [
        "deployments",
        "services",
        "secrets",
        "horizontalpodautoscalers",
        "pods",
        "pods/log",
        "persistentvolumeclaims",
        "ingresses",
        "routes",
    ];
    let mut rules = Vec::new();
    for user in FULL_USERS {
        rules.push(Rule::allow(
            user,
            &["create", "get", "list", "patch", "delete", "watch"],
            &everything,
            &[NS],
        ));
        rules.push(Rule::allow(user, &["get"], &["namespaces"], &[]));
        rules.push(Rule::allow(user, &["list"], &["nodes"], &[]));
    }
    rules.push(Rule::allow("dave", &["get"], &["namespaces"], &[NS]));
    let mut nodes = vec![NodeSpec {
        name: "cpu-1".into(),
        gpus: 0,
    }];
    nodes.extend((0..gpu_nodes).map(|i| NodeSpec {
        name: format!("gpu-{i}"),
        gpus: 2,
    }));
    Options {
        tokens: vec![
            (TOKEN.into(), "alice".into()),
            (SA_TOKEN.into(), "robot".into()),
            (NARROW_TOKEN.into(), "dave".into()),
        ],
        passwords: vec![("bob".into(), PASSWORD.into())],
        eks_cluster: EKS_CLUSTER.into(),
        eks_accounts: vec![EksAccount {
            access_key_id: AKID.into(),
            secret_access_key: AWS_SECRET.into(),
            user: "eks-user".into(),
        }],
        rules,
        namespaces: vec![NS.into(), "default".into()],
        nodes,
        ..Options::default()
    }
}

/// The cluster, with one GPU node.
pub fn cluster() -> KubeFake {
    KubeFake::start(options(1)).expect("start the fake API server")
}

/// Standard base64 of `text`, as the AI Toolkit stores PEM.
pub fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// A kube client for `fake` as alice, through the kubeconfig the fake writes.
pub async fn client(fake: &KubeFake) -> kube::Client {
    let text = fake.kubeconfig(&KubeUser::Token(TOKEN.into()), NS);
    let kubeconfig = kube::config::Kubeconfig::from_yaml(&text).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .expect("config");
    kube::Client::try_from(config).expect("client")
}

/// `v` as a typed object.
pub fn object<K: serde::de::DeserializeOwned>(v: serde_json::Value) -> K {
    serde_json::from_value(v).expect("a valid object")
}
