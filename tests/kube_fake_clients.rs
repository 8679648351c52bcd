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
/// ops runs workloads (and may do what the runtime does in the namespace).
const OPS_TOKEN: &str = "fake-token-ops-2";

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
    rules.push(Rule::allow(
        "ops",
        &["create", "get", "list", "patch", "delete", "watch"],
        &["deployments", "pods", "pods/log", "services"],
        &[NS],
    ));
    KubeFake::start(Options {
        tokens: vec![
            (TOKEN.into(), "alice".into()),
            (OPS_TOKEN.into(), "ops".into()),
        ],
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

/// A fresh directory for this test's (`name`) kubeconfigs and kubectl's cache.
fn workdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kube-fake-clients-{name}-{}", std::process::id()));
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
    python_with(action, config, &[])
}

/// The Python client's result for `action` with `config` and more arguments.
fn python_with(action: &str, config: &Path, more: &[&str]) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/kube_fake_drive.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(action)
        .arg(config)
        .arg(NS)
        .args(more)
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
    let dir = workdir("auth");
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

/// A Deployment `name` of `replicas` pods of `image`, labelled `app: name`, as JSON.
fn deployment(name: &str, image: &str, replicas: u32) -> String {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": "model", "image": image}]}},
        },
    })
    .to_string()
}

/// `&str`s of `a`, as kubectl's arguments.
fn args(a: &[String]) -> Vec<&str> {
    a.iter().map(String::as_str).collect()
}

/// Runs `check` on kubectl's JSON for `args` until it gives a value (up to 10 s).
fn kubectl_until<T>(
    dir: &Path,
    config: &Path,
    args: &[&str],
    what: &str,
    check: impl Fn(&Value) -> Option<T>,
) -> T {
    let until = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let out: Value = serde_json::from_str(&kubectl_ok(dir, config, args)).unwrap();
        if let Some(v) = check(&out) {
            return v;
        }
        assert!(std::time::Instant::now() < until, "{what}: {out}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn kubectl_and_the_python_client_run_workloads_on_the_fake() {
    require_clients();
    let fake = fake();
    let dir = workdir("workloads");
    let config = kubeconfig(
        &dir,
        "ops",
        &fake,
        &fake.ca_pem,
        KubeUser::Token(OPS_TOKEN.into()),
    );
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    };
    let m2 = write("m2.json", deployment("m", "model:1", 2));
    let m3 = write("m3.json", deployment("m", "model:1", 3));
    let apply = |file: &str, manager: &str| {
        let manager = format!("--field-manager={manager}");
        ["apply", "--server-side", manager.as_str(), "-f", file].map(str::to_string)
    };

    // Server-side apply, a conflicting second manager, then the same forced.
    let out = kubectl_ok(&dir, &config, &args(&apply(&m2, "dsdl-handler")));
    assert_eq!(out, "deployment.apps/m serverside-applied");
    let err = kubectl_err(&dir, &config, &args(&apply(&m3, "someone-else")));
    assert!(
        err.contains(
            "Apply failed with 1 conflict: conflict with \"dsdl-handler\": .spec.replicas"
        ),
        "{err}"
    );
    let mut forced = apply(&m3, "someone-else").to_vec();
    forced.push("--force-conflicts".into());
    kubectl_ok(&dir, &config, &args(&forced));

    // A Service the Deployment owns.
    let uid = kubectl_ok(
        &dir,
        &config,
        &["get", "deployment", "m", "-o", "jsonpath={.metadata.uid}"],
    );
    let svc = write(
        "svc.json",
        json!({"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": "m", "labels": {"app": "m"}, "ownerReferences": [
                   {"apiVersion": "apps/v1", "kind": "Deployment", "name": "m", "uid": uid}]},
               "spec": {"selector": {"app": "m"}, "ports": [{"port": 5000}]}})
        .to_string(),
    );
    kubectl_ok(&dir, &config, &args(&apply(&svc, "dsdl-handler")));

    // Status moving to ready, as `kubectl get` shows it.
    let list = ["get", "deploy,pods,svc", "-l", "app=m", "-o", "json"];
    let pods = kubectl_until(&dir, &config, &list, "three ready pods", |out| {
        let items = out["items"].as_array()?;
        let deploy = items.iter().find(|i| i["kind"] == "Deployment")?;
        let svc = items.iter().find(|i| i["kind"] == "Service")?;
        let pods: Vec<String> = items
            .iter()
            .filter(|i| i["kind"] == "Pod")
            .filter(|p| p["status"]["containerStatuses"][0]["ready"] == true)
            .filter_map(|p| p["metadata"]["name"].as_str().map(str::to_string))
            .collect();
        let ready = deploy["status"]["readyReplicas"] == 3 && pods.len() == 3;
        (ready && svc["spec"]["clusterIP"].is_string()).then_some(pods)
    });

    // The last two log lines, stamped as the kubelet stamps them.
    let log = kubectl_ok(
        &dir,
        &config,
        &["logs", &pods[0], "--tail=2", "--timestamps"],
    );
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 2, "{log}");
    assert!(lines[1].ends_with("Z Ready to serve"), "{log}");
    for line in &lines {
        let stamp = line.split(' ').next().unwrap();
        assert!(stamp.parse::<jiff::Timestamp>().is_ok(), "{line}");
    }

    // A crashing pod's previous log ends with its exit.
    let crash = write("crash.json", deployment("crashes", "x/crash:1", 1));
    kubectl_ok(&dir, &config, &args(&apply(&crash, "dsdl-handler")));
    let crashing = ["get", "pods", "-l", "app=crashes", "-o", "json"];
    let pod = kubectl_until(&dir, &config, &crashing, "a restart", |out| {
        let p = &out["items"][0];
        let restarts = p["status"]["containerStatuses"][0]["restartCount"].as_u64()?;
        (restarts >= 1).then(|| p["metadata"]["name"].as_str().map(str::to_string))?
    });
    let previous = kubectl_ok(&dir, &config, &["logs", &pod, "--previous"]);
    assert!(previous.ends_with("Exiting with code 3"), "{previous}");

    // The Python client: deployments by label, a log's tail, a Service's node port.
    let py = python_with("workloads", &config, &[&pods[0]]);
    assert_eq!(py["deployments"], json!(["m"]), "{py}");
    assert_eq!(py["ready"], json!(3), "{py}");
    assert_eq!(py["tail"], "Ready to serve\n", "{py}");
    let node_port = py["node_port"].as_u64().unwrap_or(0);
    assert!((30000..=32767).contains(&node_port), "{py}");

    // Deleting the Deployment takes its pods and its Service.
    let out = kubectl_ok(&dir, &config, &["delete", "deployment", "m"]);
    assert_eq!(out, "deployment.apps \"m\" deleted");
    let left = kubectl_ok(
        &dir,
        &config,
        &["get", "pods,svc", "-l", "app=m", "-o", "name"],
    );
    assert_eq!(left, "");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The test container's `DSDL_TEST_LOG_LINES`: the pod's log starts with those numbered lines
/// (both streams merged), all stamped at the container's start, through kubectl and the
/// Python client alike.
#[test]
fn a_pods_numbered_lines_through_kubectl_and_the_python_client() {
    require_clients();
    let fake = fake();
    let dir = workdir("numbered");
    let config = kubeconfig(
        &dir,
        "ops",
        &fake,
        &fake.ca_pem,
        KubeUser::Token(OPS_TOKEN.into()),
    );
    let mut d: Value = serde_json::from_str(&deployment("lines", "model:1", 1)).unwrap();
    d["spec"]["template"]["spec"]["containers"][0]["env"] =
        json!([{"name": "DSDL_TEST_LOG_LINES", "value": "40"}]);
    let path = dir.join("lines.json");
    std::fs::write(&path, d.to_string()).unwrap();
    kubectl_ok(&dir, &config, &["create", "-f", &path.to_string_lossy()]);
    let listing = ["get", "pods", "-l", "app=lines", "-o", "json"];
    let (pod, started) = kubectl_until(&dir, &config, &listing, "a running pod", |out| {
        let p = &out["items"][0];
        let at = p["status"]["containerStatuses"][0]["state"]["running"]["startedAt"].as_str()?;
        Some((p["metadata"]["name"].as_str()?.to_string(), at.to_string()))
    });
    let expected: Vec<String> = (1..=40)
        .map(|i| {
            let stream = if i % 2 == 1 { "stdout" } else { "stderr" };
            format!("line {i:06} of 40 {stream} línea ✓ 日本")
        })
        .collect();

    let log = kubectl_ok(&dir, &config, &["logs", &pod]);
    let lines: Vec<&str> = log.lines().collect();
    assert!(lines.len() > 40, "{log}");
    assert_eq!(
        lines[..40],
        expected,
        "the log starts with the numbered lines"
    );
    let tail = kubectl_ok(&dir, &config, &["logs", &pod, "--tail=3"]);
    assert_eq!(tail.lines().collect::<Vec<_>>(), lines[lines.len() - 3..]);
    let since = kubectl_ok(&dir, &config, &["logs", &pod, "--since=1h"]);
    assert_eq!(since, log);
    let stamped = kubectl_ok(&dir, &config, &["logs", &pod, "--timestamps"]);
    let stamps: Vec<&str> = stamped
        .lines()
        .take(40)
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    assert!(
        stamps.iter().all(|s| *s == stamps[0]),
        "one instant: {stamped}"
    );
    let at: jiff::Timestamp = stamps[0].parse().unwrap();
    assert_eq!(
        at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        started,
        "the container's start"
    );

    let py = python_with("logs", &config, &[&pod]);
    assert_eq!(
        py["log"].as_str(),
        Some(format!("{log}\n").as_str()),
        "{py}"
    );
    assert_eq!(
        py["tail"].as_str(),
        Some(format!("{tail}\n").as_str()),
        "{py}"
    );
    assert_eq!(py["since"], py["log"]);
    assert_eq!(
        py["stamped"].as_str(),
        Some(format!("{stamped}\n").as_str())
    );
    let _ = std::fs::remove_dir_all(&dir);
}
