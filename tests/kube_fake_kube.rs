//! The fake Kubernetes API server (`dsdl_handler::kubefake`) reached by the repo's own kube
//! client (`runtime::kubernetes::client`), built from a saved `[kubernetes]` stanza in each
//! auth mode: `/version` and the namespace GET pass with the right credentials and come back
//! 401 with wrong ones; nodes show their GPUs, a SelfSubjectAccessReview is answered from
//! the rules, and injected failures reach kube as the API errors they are.

use dsdl_handler::conffile::Stanza;
use dsdl_handler::kubefake::authz::Rule;
use dsdl_handler::kubefake::eks::EksAccount;
use dsdl_handler::kubefake::faults::FaultKind;
use dsdl_handler::kubefake::{KubeFake, NodeSpec, Options};
use dsdl_handler::protocol::request::Secret;
use dsdl_handler::runtime::kubernetes::client;
use dsdl_handler::runtime::kubernetes::settings::KubeSettings;
use dsdl_handler::runtime::secrets::Secrets;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::{Namespace, Node};
use kube::api::{Api, ListParams, PostParams};
use std::time::Duration;

const NS: &str = "dsdl";
const TOKEN: &str = "fake-token-alice-1";
const PASSWORD: &str = "fake-password-bob-1";
const AKID: &str = "AKIDKUBEFAKE";
const AWS_SECRET: &str = "kube-fake-aws-secret/1";
const CLUSTER: &str = "dsdl-eks";

fn fake() -> KubeFake {
    let users = ["alice", "bob", "carol", "eks-user", "robot"];
    let mut rules: Vec<Rule> = users
        .iter()
        .map(|u| Rule::allow(u, &["get"], &["namespaces"], &[NS]))
        .collect();
    rules.push(Rule::allow("alice", &["list"], &["nodes"], &[]));
    rules.push(Rule::allow(
        "alice",
        &["create", "get"],
        &["deployments"],
        &[NS],
    ));
    KubeFake::start(Options {
        tokens: vec![
            (TOKEN.into(), "alice".into()),
            ("fake-sa-token-1".into(), "robot".into()),
        ],
        passwords: vec![("bob".into(), PASSWORD.into())],
        eks_cluster: CLUSTER.into(),
        eks_accounts: vec![EksAccount {
            access_key_id: AKID.into(),
            secret_access_key: AWS_SECRET.into(),
            user: "eks-user".into(),
        }],
        rules,
        namespaces: vec![NS.into()],
        nodes: vec![
            NodeSpec {
                name: "cpu-1".into(),
                gpus: 0,
            },
            NodeSpec {
                name: "gpu-1".into(),
                gpus: 4,
            },
        ],
        ..Options::default()
    })
    .expect("start the fake")
}

/// The settings of a saved connection: `pairs` in the stanza, `secrets` in storage/passwords.
fn settings(pairs: &[(&str, &str)], secrets: &[(&str, &str)]) -> KubeSettings {
    let mut all = vec![("namespace", NS)];
    all.extend_from_slice(pairs);
    let secrets = Secrets::from_listing(
        secrets
            .iter()
            .map(|(k, v)| (k.to_string(), Secret::new(*v)))
            .collect(),
    );
    KubeSettings::from_stanza(&Stanza::from_pairs("kubernetes", &all), &secrets)
        .expect("valid settings")
}

/// `/version` and `GET namespaces/dsdl` through the repo's client: the git version and the
/// namespace's phase, or the HTTP status of the API error.
async fn probe(s: &KubeSettings) -> Result<(String, String), u16> {
    let c = client::client(s).await.expect("client");
    let call = async {
        let version = c.apiserver_version().await?;
        let ns = Api::<Namespace>::all(c.clone()).get(NS).await?;
        let phase = ns.status.and_then(|st| st.phase).unwrap_or_default();
        Ok::<_, kube::Error>((version.git_version, phase))
    };
    match tokio::time::timeout(Duration::from_secs(20), call).await {
        Ok(Ok(found)) => Ok(found),
        Ok(Err(kube::Error::Api(status))) => Err(status.code),
        Ok(Err(e)) => panic!("not an API error: {e}"),
        Err(_) => panic!("timed out"),
    }
}

#[tokio::test]
async fn every_auth_mode_reaches_the_fake_and_wrong_credentials_get_401() {
    let fake = fake();
    let url = ("cluster_url", fake.url.as_str());
    let ca = ("cluster_ca", fake.ca_pem.as_str());
    let ok = Ok(("v1.33.0".to_string(), "Active".to_string()));

    // user-token
    let token = |t| {
        settings(
            &[("auth_mode", "user-token"), url],
            &[("user_token", t), ca],
        )
    };
    assert_eq!(probe(&token(TOKEN)).await, ok);
    assert_eq!(probe(&token("fake-token-wrong")).await, Err(401));

    // user-login
    let login = |p| {
        settings(
            &[("auth_mode", "user-login"), url, ("user_name", "bob")],
            &[("user_password", p), ca],
        )
    };
    assert_eq!(probe(&login(PASSWORD)).await, ok);
    assert_eq!(probe(&login("wrong-password")).await, Err(401));

    // cert-key: the fake's CA signed carol's certificate; another CA's is a 401.
    let (cert, key) = fake.client_cert("carol").unwrap();
    let cert_key = |cert: &str, key: &str| {
        settings(
            &[("auth_mode", "cert-key"), url],
            &[("client_cert", cert), ("client_key", key), ca],
        )
    };
    assert_eq!(probe(&cert_key(&cert, &key)).await, ok);
    let stranger = fake_elsewhere();
    let (other_cert, other_key) = stranger.client_cert("carol").unwrap();
    assert_eq!(probe(&cert_key(&other_cert, &other_key)).await, Err(401));

    // aws-iam: the repo's signer mints a token per request; the fake re-signs to verify.
    let aws = |secret, cluster| {
        settings(
            &[
                ("auth_mode", "aws-iam"),
                url,
                ("aws_region_name", "us-west-2"),
                ("aws_cluster_name", cluster),
            ],
            &[
                ("aws_access_key_id", AKID),
                ("aws_secret_access_key", secret),
                ca,
            ],
        )
    };
    assert_eq!(probe(&aws(AWS_SECRET, CLUSTER)).await, ok);
    assert_eq!(probe(&aws("another-secret", CLUSTER)).await, Err(401));
    assert_eq!(probe(&aws(AWS_SECRET, "another-cluster")).await, Err(401));

    // service-account with a stored token.
    let sa = |t| {
        settings(
            &[("auth_mode", "service-account"), url],
            &[("service_account_token", t), ca],
        )
    };
    assert_eq!(probe(&sa("fake-sa-token-1")).await, ok);
    assert_eq!(probe(&sa("fake-sa-token-2")).await, Err(401));

    // What the fake saw: each refusal says why, and no credential is in its log.
    let seen = fake.requests();
    let refused: Vec<&str> = seen.iter().filter_map(|s| s.refused.as_deref()).collect();
    assert!(
        refused.iter().any(|r| r.contains("unknown bearer token")),
        "{refused:?}"
    );
    assert!(
        refused.iter().any(|r| r.contains("wrong password")),
        "{refused:?}"
    );
    assert!(
        refused
            .iter()
            .any(|r| r.contains("client certificate is refused")),
        "{refused:?}"
    );
    assert!(
        refused
            .iter()
            .any(|r| r.contains("signature does not match")),
        "{refused:?}"
    );
    let log = format!("{seen:?}");
    for secret in [
        TOKEN,
        PASSWORD,
        AWS_SECRET,
        "fake-sa-token",
        "wrong-password",
    ] {
        assert!(!log.contains(secret), "{secret} in the fake's log");
    }
}

/// Another fake, for a CA that is not the first one's.
fn fake_elsewhere() -> KubeFake {
    KubeFake::start(Options::default()).unwrap()
}

#[tokio::test]
async fn nodes_reviews_permissions_and_injected_failures() {
    let fake = fake();
    let s = settings(
        &[("auth_mode", "user-token"), ("cluster_url", &fake.url)],
        &[("user_token", TOKEN), ("cluster_ca", &fake.ca_pem)],
    );
    let c = client::client(&s).await.unwrap();

    let nodes = Api::<Node>::all(c.clone())
        .list(&ListParams::default())
        .await
        .unwrap();
    let gpus: Vec<(String, Option<String>)> = nodes
        .items
        .iter()
        .map(|n| {
            let alloc = n.status.as_ref().and_then(|s| s.allocatable.as_ref());
            (
                n.metadata.name.clone().unwrap_or_default(),
                alloc
                    .and_then(|a| a.get("nvidia.com/gpu"))
                    .map(|q| q.0.clone()),
            )
        })
        .collect();
    assert_eq!(
        gpus,
        vec![("cpu-1".into(), None), ("gpu-1".into(), Some("4".into()))]
    );

    let review = |verb: &str| SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                namespace: Some(NS.into()),
                verb: Some(verb.into()),
                group: Some("apps".into()),
                resource: Some("deployments".into()),
                ..ResourceAttributes::default()
            }),
            ..SelfSubjectAccessReviewSpec::default()
        },
        ..SelfSubjectAccessReview::default()
    };
    let reviews = Api::<SelfSubjectAccessReview>::all(c.clone());
    let allowed = |r: SelfSubjectAccessReview| r.status.map(|s| s.allowed);
    let pp = PostParams::default();
    assert_eq!(
        allowed(reviews.create(&pp, &review("create")).await.unwrap()),
        Some(true)
    );
    assert_eq!(
        allowed(reviews.create(&pp, &review("delete")).await.unwrap()),
        Some(false)
    );

    // Authenticated but not allowed: a 403 Status naming the user and the verb.
    let err = Api::<Namespace>::all(c.clone())
        .list(&ListParams::default())
        .await
        .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("{err}")
    };
    assert_eq!((status.code, status.reason.as_str()), (403, "Forbidden"));
    assert!(
        status
            .message
            .contains("User \"alice\" cannot list resource \"namespaces\""),
        "{}",
        status.message
    );

    // Injected failures, each once, reach kube as API errors with their reason.
    let namespaces = Api::<Namespace>::all(c.clone());
    for (kind, code, reason) in [
        (FaultKind::Unauthorized, 401, "Unauthorized"),
        (FaultKind::Forbidden, 403, "Forbidden"),
        (FaultKind::Conflict, 409, "Conflict"),
        (FaultKind::Internal, 500, "InternalError"),
    ] {
        fake.inject(kind, 1, Some("/api/v1/namespaces"));
        let err = namespaces.get(NS).await.unwrap_err();
        let kube::Error::Api(status) = err else {
            panic!("{err}")
        };
        assert_eq!((status.code, status.reason.as_str()), (code, reason));
        assert!(namespaces.get(NS).await.is_ok(), "only once");
    }
    // 429: kube's default retry layer waits out Retry-After and tries again.
    let before = fake.requests().len();
    fake.inject(FaultKind::TooManyRequests(1), 1, Some("/api/v1/namespaces"));
    let started = std::time::Instant::now();
    assert!(namespaces.get(NS).await.is_ok());
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After honoured"
    );
    let codes: Vec<u16> = fake.requests()[before..].iter().map(|s| s.code).collect();
    assert_eq!(codes, [429, 200]);

    // A hang: the request never completes.
    fake.inject(FaultKind::Hang, 1, None);
    let hung = tokio::time::timeout(Duration::from_millis(500), c.apiserver_version()).await;
    assert!(hung.is_err(), "answered: {hung:?}");
    assert!(c.apiserver_version().await.is_ok());
}
