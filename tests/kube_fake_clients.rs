//! The fake Kubernetes API server (`dsdl_handler::kubefake`) checked against clients nobody
//! here wrote: kubectl and the official Python client (PyPI `kubernetes`, driven by
//! `tests/python/kube_fake_drive.py`), each through a kubeconfig as a user would. With a
//! bearer token, Basic, a client certificate and an EKS token minted by the repo's signer,
//! both get the version, list and get namespaces, list nodes with their GPUs and ask what
//! they may do (`kubectl auth can-i`, a SelfSubjectAccessReview); a wrong token, a wrong
//! CA, an expired EKS token and injected 403/500 give the errors those clients report.
//! Needs kubectl and python3 with `kubernetes` (scripts/test.sh installs both); without
//! them the test fails and says how to install them.

use dsdl_handler::kubefake::authz::Rule;
use dsdl_handler::kubefake::eks::EksAccount;
use dsdl_handler::kubefake::faults::FaultKind;
use dsdl_handler::kubefake::kubeconfig::KubeUser;
use dsdl_handler::kubefake::{KubeFake, NodeSpec, Options};
use dsdl_handler::protocol::request::Secret;
use dsdl_handler::runtime::kubernetes::eks::Signer;
use dsdl_handler::runtime::kubernetes::settings::AwsAccess;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

const NS: &str = "dsdl";
const TOKEN: &str = "fake-token-alice-2";
const PASSWORD: &str = "fake-password-bob-2";
const AKID: &str = "AKIDKUBEFAKECLIENTS";
const AWS_SECRET: &str = "kube-fake-aws-secret/2";
const CLUSTER: &str = "dsdl-eks";
const USERS: [&str; 4] = ["alice", "bob", "carol", "eks-user"];

fn fake() -> KubeFake {
    let mut rules = Vec::new();
    for user in USERS {
        rules.push(Rule::allow(
            user,
            &["get", "list"],
            &["namespaces", "nodes"],
            &[],
        ));
        rules.push(Rule::allow(
            user,
            &["create", "get"],
            &["deployments", "configmaps"],
            &[NS],
        ));
    }
    KubeFake::start(Options {
        tokens: vec![(TOKEN.into(), "alice".into())],
        passwords: vec![("bob".into(), PASSWORD.into())],
        eks_cluster: CLUSTER.into(),
        eks_accounts: vec![EksAccount {
            access_key_id: AKID.into(),
            secret_access_key: AWS_SECRET.into(),
            user: "eks-user".into(),
        }],
        rules,
        namespaces: vec!["default".into(), NS.into()],
        nodes: vec![
            NodeSpec {
                name: "cpu-1".into(),
                gpus: 0,
            },
            NodeSpec {
                name: "gpu-1".into(),
                gpus: 2,
            },
        ],
        ..Options::default()
    })
    .expect("start the fake")
}

/// An EKS token as the aws-iam mode mints it, signed at `at`.
fn eks_token(secret: &str, at: SystemTime) -> String {
    let aws = AwsAccess {
        cluster_name: CLUSTER.into(),
        region: "eu-west-1".into(),
        access_key_id: Secret::new(AKID),
        secret_access_key: Secret::new(secret),
    };
    Signer::new(aws, &|_| None).unwrap().token(at).unwrap()
}

/// A fresh directory for this test's kubeconfigs and kubectl's cache.
fn workdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kube-fake-clients-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes a kubeconfig for `server` trusting `ca` as `user`.
fn kubeconfig(dir: &Path, name: &str, fake: &KubeFake, ca: &str, user: KubeUser) -> PathBuf {
    let path = dir.join(format!("{name}.kubeconfig"));
    let text = dsdl_handler::kubefake::kubeconfig::render(&fake.url, ca, &user, NS);
    std::fs::write(&path, text).unwrap();
    path
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// kubectl with `config`, its cache in the work directory.
fn kubectl(dir: &Path, config: &Path, args: &[&str]) -> Output {
    Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(config)
        .arg("--cache-dir")
        .arg(dir.join("kubectl-cache"))
        .arg("--request-timeout=20s")
        .args(args)
        .output()
        .expect("run kubectl")
}

/// kubectl's stdout, checking it succeeded.
fn kubectl_ok(dir: &Path, config: &Path, args: &[&str]) -> String {
    let out = kubectl(dir, config, args);
    assert!(out.status.success(), "kubectl {args:?}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// kubectl's stderr, checking it failed.
fn kubectl_err(dir: &Path, config: &Path, args: &[&str]) -> String {
    let out = kubectl(dir, config, args);
    assert!(
        !out.status.success(),
        "kubectl {args:?} succeeded: {}",
        text(&out)
    );
    String::from_utf8_lossy(&out.stderr).trim().to_string()
}

/// The Python client's result for `action` with `config`.
fn python(action: &str, config: &Path) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/kube_fake_drive.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(action)
        .arg(config)
        .arg(NS)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "kube_fake_drive.py {action}: {}",
        text(&out)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)))
}

/// Fails (never skips) when a client is missing, saying how to install it.
fn require_clients() {
    let kubectl = Command::new("kubectl")
        .args(["version", "--client"])
        .output();
    assert!(
        kubectl.as_ref().is_ok_and(|o| o.status.success()),
        "kubectl is not installed: `apt-get install kubernetes-client` (scripts/test.sh does). \
         {:?}",
        kubectl.map(|o| text(&o))
    );
    let import = Command::new("python3")
        .args(["-c", "import kubernetes"])
        .output()
        .expect("python3 must be installed to run the kube-fake client test");
    assert!(
        import.status.success(),
        "the Python kubernetes client is not importable: install it with \
         `python3 -m pip install kubernetes` (scripts/test.sh does). {}",
        text(&import)
    );
}

#[test]
fn kubectl_and_the_python_client_work_against_the_fake() {
    require_clients();
    let fake = fake();
    let dir = workdir();
    let (cert, key) = fake.client_cert("carol").unwrap();
    let ca = fake.ca_pem.clone();
    // Each user's credentials, made when its turn comes (the EKS token is good for 60 s).
    type Creds = Box<dyn Fn() -> KubeUser>;
    let configs: [(&str, &str, Creds); 4] = [
        ("token", "alice", Box::new(|| KubeUser::Token(TOKEN.into()))),
        (
            "basic",
            "bob",
            Box::new(|| KubeUser::Basic {
                user: "bob".into(),
                password: PASSWORD.into(),
            }),
        ),
        (
            "cert",
            "carol",
            Box::new(move || KubeUser::Cert {
                cert_pem: cert.clone(),
                key_pem: key.clone(),
            }),
        ),
        (
            "eks",
            "eks-user",
            Box::new(|| KubeUser::Token(eks_token(AWS_SECRET, SystemTime::now()))),
        ),
    ];
    for (name, user, creds) in configs {
        let config = kubeconfig(&dir, name, &fake, &ca, creds());
        let before = fake.requests().len();

        let version: Value =
            serde_json::from_str(&kubectl_ok(&dir, &config, &["version", "-o", "json"])).unwrap();
        assert_eq!(version["serverVersion"]["gitVersion"], "v1.33.0", "{name}");
        let names = [
            "get",
            "namespaces",
            "-o",
            "jsonpath={.items[*].metadata.name}",
        ];
        assert_eq!(kubectl_ok(&dir, &config, &names), "default dsdl", "{name}");
        let phase = ["get", "namespace", NS, "-o", "jsonpath={.status.phase}"];
        assert_eq!(kubectl_ok(&dir, &config, &phase), "Active", "{name}");
        let gpus = [
            "get",
            "nodes",
            "-o",
            r#"jsonpath={range .items[*]}{.metadata.name}={.status.allocatable.nvidia\.com/gpu};{end}"#,
        ];
        assert_eq!(
            kubectl_ok(&dir, &config, &gpus),
            "cpu-1=;gpu-1=2;",
            "{name}"
        );
        // Who the server takes the caller for (SelfSubjectReview).
        let whoami: Value = serde_json::from_str(&kubectl_ok(
            &dir,
            &config,
            &["auth", "whoami", "-o", "json"],
        ))
        .unwrap();
        assert_eq!(whoami["kind"], "SelfSubjectReview", "{name}");
        assert_eq!(whoami["status"]["userInfo"]["username"], user, "{name}");
        // A type the fake's discovery lists (for one it does not, kubectl sends the name
        // unresolved, as it would to a real server).
        let can_i = |verb| ["auth", "can-i", verb, "configmaps", "-n", NS];
        assert_eq!(kubectl_ok(&dir, &config, &can_i("create")), "yes", "{name}");
        let denied = kubectl(&dir, &config, &can_i("delete"));
        assert_eq!(
            String::from_utf8_lossy(&denied.stdout).trim(),
            "no",
            "{name}"
        );
        assert_eq!(denied.status.code(), Some(1), "{name}");

        let py = python("ok", &config);
        assert_eq!(
            py,
            json!({
                "version": "v1.33.0",
                "namespaces": ["default", "dsdl"],
                "phase": "Active",
                "gpus": {"cpu-1": null, "gpu-1": "2"},
                "user": user,
                "can_create": true,
                "can_delete": false,
            }),
            "{name}"
        );
        // Every request of both clients was authenticated as this user.
        let seen = &fake.requests()[before..];
        assert!(!seen.is_empty());
        for s in seen {
            assert_eq!(s.user.as_deref(), Some(user), "{name}: {s:?}");
        }
    }

    // A wrong token, a mis-signed and an expired EKS token: Unauthorized.
    let expired = eks_token(AWS_SECRET, SystemTime::now() - Duration::from_secs(20 * 60));
    for (name, token) in [
        ("wrong-token", "fake-token-wrong".to_string()),
        (
            "mis-signed-eks",
            eks_token("another-secret", SystemTime::now()),
        ),
        ("expired-eks", expired),
    ] {
        let config = kubeconfig(&dir, name, &fake, &ca, KubeUser::Token(token));
        let err = kubectl_err(&dir, &config, &["get", "namespace", NS]);
        assert!(
            err.contains("error: You must be logged in to the server (Unauthorized)"),
            "{name}: {err}"
        );
        let py = python("error", &config);
        assert_eq!(
            (py["status"].as_i64(), py["reason"].as_str()),
            (Some(401), Some("Unauthorized")),
            "{name}: {py}"
        );
    }
    let refused: Vec<String> = fake
        .requests()
        .iter()
        .filter_map(|s| s.refused.clone())
        .collect();
    assert!(refused.iter().any(|r| r.contains("expired")), "{refused:?}");
    assert!(
        refused
            .iter()
            .any(|r| r.contains("signature does not match")),
        "{refused:?}"
    );

    // Another CA: neither client sends anything.
    let stranger = KubeFake::start(Options::default()).unwrap();
    let before = fake.requests().len();
    let config = kubeconfig(
        &dir,
        "wrong-ca",
        &fake,
        &stranger.ca_pem,
        KubeUser::Token(TOKEN.into()),
    );
    let err = kubectl_err(&dir, &config, &["get", "namespace", NS]);
    assert!(
        err.contains("x509: certificate signed by unknown authority"),
        "{err}"
    );
    let py = python("error", &config);
    assert!(
        py["message"]
            .as_str()
            .unwrap_or("")
            .contains("CERTIFICATE_VERIFY_FAILED"),
        "{py}"
    );
    assert_eq!(fake.requests().len(), before);

    // Injected 403 and 500 on the namespace, as each client reports them.
    let config = dir.join("token.kubeconfig");
    let path = format!("/api/v1/namespaces/{NS}");
    fake.inject(FaultKind::Forbidden, 1, Some(&path));
    let err = kubectl_err(&dir, &config, &["get", "namespace", NS]);
    assert!(
        err.contains("Error from server (Forbidden): forbidden: injected"),
        "{err}"
    );
    fake.inject(FaultKind::Forbidden, 1, Some(&path));
    let py = python("error", &config);
    assert_eq!(
        (py["status"].as_i64(), py["reason"].as_str()),
        (Some(403), Some("Forbidden")),
        "{py}"
    );
    fake.inject(FaultKind::Internal, 1, Some(&path));
    let err = kubectl_err(&dir, &config, &["get", "namespace", NS]);
    assert!(
        err.contains("Error from server (InternalError): Internal error occurred: injected"),
        "{err}"
    );
    fake.inject(FaultKind::Internal, 1, Some(&path));
    let py = python("error", &config);
    assert_eq!(
        (py["status"].as_i64(), py["reason"].as_str()),
        (Some(500), Some("InternalError")),
        "{py}"
    );
    // 429 with Retry-After: both clients wait it out and try again (urllib3's default retry
    // honours Retry-After on 429, as client-go does).
    for client in ["python", "kubectl"] {
        fake.inject(FaultKind::TooManyRequests(1), 1, Some(&path));
        let before = fake.requests().len();
        if client == "python" {
            assert_eq!(python("error", &config), json!({"succeeded": true}));
        } else {
            let name = ["get", "namespace", NS, "-o", "name"];
            assert_eq!(kubectl_ok(&dir, &config, &name), "namespace/dsdl");
        }
        let codes: Vec<u16> = fake.requests()[before..]
            .iter()
            .filter(|s| s.path == path)
            .map(|s| s.code)
            .collect();
        assert_eq!(codes, [429, 200], "{client}");
    }

    // No credential in the fake's log.
    let log = format!("{:?}", fake.requests());
    for secret in [TOKEN, PASSWORD, AWS_SECRET, "k8s-aws-v1."] {
        assert!(!log.contains(secret), "{secret} in the fake's log");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
