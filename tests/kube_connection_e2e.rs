//! `POST /mltk/test_container_connection` for Kubernetes, end to end: the real splunkd-dev
//! and driver, called with curl, against the in-repo fake API server standing in for a
//! cluster. A connection in each auth mode passes every stage and stores its secrets; each
//! failure a newcomer can provoke (unreachable URL, wrong CA, host name mismatch, plain HTTP,
//! wrong token or password, a client certificate from another CA, a mis-signed or expired
//! EKS token, missing permissions, a missing namespace, a 429, an API server that hangs)
//! comes back within seconds naming the stage and what to fix, and stores nothing. No reply,
//! log line or file under /tmp or the app directory ever holds a credential.

mod common;

use common::devserver::*;
use common::kube::*;
use dsdl_handler::kubefake::faults::FaultKind;
use dsdl_handler::kubefake::{KubeFake, Options};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

const TEST: &str = "/services/mltk/test_container_connection?output_mode=json";
const STAGES: [&str; 9] = [
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

fn body(r: &Resp) -> Value {
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.body))
}

/// A user-token connection to `fake` as alice, with `extra` keys set (null removes one).
fn connection(fake: &KubeFake, extra: Value) -> Value {
    let mut v = json!({
        "container_type": "kubernetes",
        "auth_mode": "user-token",
        "cluster_url": fake.url,
        "cluster_ca": b64(&fake.ca_pem),
        "user_token": TOKEN,
        "namespace": NS,
    });
    for (k, x) in extra.as_object().expect("an object") {
        match x {
            Value::Null => {
                v.as_object_mut().unwrap().remove(k);
            }
            _ => v[k] = x.clone(),
        }
    }
    v
}

/// The test's reply and how long it took.
fn test(s: &DevServer, v: &Value) -> (Resp, Duration) {
    let started = Instant::now();
    let r = admin_json(s, "POST", TEST, v);
    (r, started.elapsed())
}

/// Each stage's (name, result).
fn results(v: &Value) -> Vec<(String, String)> {
    v["stages"]
        .as_array()
        .unwrap_or_else(|| panic!("no stages: {v}"))
        .iter()
        .map(|s| {
            (
                s["stage"].as_str().unwrap_or_default().to_string(),
                s["result"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// Every credential of the app, as `realm/username`.
fn stored(s: &DevServer) -> Vec<String> {
    let r = admin_request(
        s,
        "GET",
        "/servicesNS/nobody/dsdl_handler/storage/passwords?output_mode=json&count=0",
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let mut names: Vec<String> = body(&r)["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            let c = &e["content"];
            format!(
                "{}/{}",
                c["realm"].as_str().unwrap_or_default(),
                c["username"].as_str().unwrap_or_default()
            )
        })
        .collect();
    names.sort();
    names
}

/// The lines of a PEM private key's body, long enough to be unique.
fn key_lines(pem: &str) -> Vec<String> {
    pem.lines()
        .filter(|l| !l.starts_with("-----") && l.len() >= 40)
        .map(str::to_string)
        .collect()
}

/// Files under `dir` changed since `since` (at most `depth` levels down, unreadable ones
/// skipped) whose text holds one of `secrets`.
fn files_holding(dir: &Path, since: SystemTime, secrets: &[String], depth: u32) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() && depth > 0 {
            found.extend(files_holding(&path, since, secrets, depth - 1));
        } else if meta.is_file()
            && meta.len() < 4 << 20
            && meta.modified().is_ok_and(|m| m >= since)
            && let Ok(bytes) = std::fs::read(&path)
        {
            let text = String::from_utf8_lossy(&bytes);
            if secrets.iter().any(|s| text.contains(s.as_str())) {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

#[test]
fn every_auth_mode_passes_every_stage_and_stores_its_secrets() {
    let since = SystemTime::now() - Duration::from_secs(1);
    let fake = cluster();
    let s = DevServer::start("kube-conn-modes", &[]);
    let (cert, key) = fake.client_cert("carol").expect("a client certificate");
    let mut secrets: Vec<String> = SECRETS.iter().map(|s| s.to_string()).collect();
    secrets.extend(key_lines(&key));
    let mut replies = Vec::new();

    let modes = [
        ("user-token", json!({})),
        (
            "user-login",
            json!({"auth_mode": "user-login", "user_token": null,
                   "user_name": "bob", "user_password": PASSWORD}),
        ),
        (
            "cert-key (base64 PEM, as the toolkit stores it)",
            json!({"auth_mode": "cert-key", "user_token": null,
                   "client_cert": b64(&cert), "client_key": b64(&key)}),
        ),
        (
            "cert-key (plain PEM)",
            json!({"auth_mode": "cert-key", "user_token": null, "cluster_ca": fake.ca_pem,
                   "client_cert": cert, "client_key": key}),
        ),
        (
            "aws-iam",
            json!({"auth_mode": "aws-iam", "user_token": null,
                   "aws_cluster_name": EKS_CLUSTER, "aws_region_name": "us-east-1",
                   "aws_access_key_id": AKID, "aws_secret_access_key": AWS_SECRET}),
        ),
        (
            "service-account",
            json!({"auth_mode": "service-account", "user_token": null,
                   "service_account_token": SA_TOKEN}),
        ),
    ];
    let users = ["alice", "bob", "carol", "carol", "eks-user", "robot"];
    for ((mode, extra), user) in modes.iter().zip(users) {
        let (r, took) = test(&s, &connection(&fake, extra.clone()));
        assert_eq!(r.status, 200, "{mode}: {}", r.body);
        let v = body(&r);
        assert_eq!(v["status"], "success", "{mode}");
        let got = results(&v);
        let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, STAGES, "{mode}");
        for (name, result) in &got {
            let want = if name == "storage" {
                "skipped"
            } else {
                "passed"
            };
            assert_eq!(result, want, "{mode}: stage {name}: {}", r.body);
        }
        let auth = &v["stages"][3]["detail"];
        assert_eq!(auth, &json!(format!("authenticated as {user}")), "{mode}");
        assert_eq!(v["engine_version"], "v1.33.0", "{mode}");
        assert!(took < Duration::from_secs(5), "{mode} took {took:?}");
        replies.push(r.body);
    }
    // Each mode's secrets went to storage/passwords, with an api_token.
    let have = stored(&s);
    for name in [
        "user_token",
        "user_password",
        "client_key",
        "cluster_ca",
        "aws_secret_access_key",
        "service_account_token",
        "api_token",
    ] {
        assert!(
            have.contains(&format!("dsdl_kubernetes/{name}")),
            "{name} in {have:?}"
        );
    }

    // Saved settings and stored secrets are what a bare test uses; a storage class makes
    // the shared volume, once.
    let save = admin_json(
        &s,
        "POST",
        "/services/mltk/container_connection?output_mode=json",
        &json!({"container_type": "kubernetes", "connection_name": "k8s",
                "auth_mode": "user-token", "cluster_url": fake.url, "namespace": NS,
                "storage_class": "nfs-client"}),
    );
    assert!(save.status < 300, "{}", save.body);
    let claim = |fake: &KubeFake| {
        fake.with_store(|st| {
            let pvcs = dsdl_handler::kubefake::resources::find("", "v1", "persistentvolumeclaims")
                .expect("the PVC type");
            st.get(pvcs, NS, "dltk").ok()
        })
        .flatten()
    };
    assert!(claim(&fake).is_none());
    for detail in ["was created", "exists"] {
        let (r, _) = test(&s, &json!({"container_type": "kubernetes"}));
        assert_eq!(r.status, 200, "{}", r.body);
        let v = body(&r);
        assert_eq!(v["stages"][8]["result"], "passed", "{}", r.body);
        let text = v["stages"][8]["detail"].as_str().unwrap_or_default();
        assert!(text.contains(detail), "{text}");
        replies.push(r.body);
    }
    let pvc = claim(&fake).expect("the shared volume claim");
    assert_eq!(pvc["spec"]["storageClassName"], "nfs-client");
    assert_eq!(pvc["spec"]["accessModes"], json!(["ReadWriteMany"]));

    // No credential in a reply, a log line, or a file under /tmp or the app directory.
    for reply in &replies {
        for secret in &secrets {
            assert!(!reply.contains(secret.as_str()), "a secret in {reply}");
        }
    }
    let mut logs = s.stderr();
    let log_dir = s.home.join("var/log/splunk");
    for f in std::fs::read_dir(&log_dir)
        .expect("the log directory")
        .flatten()
    {
        logs.push_str(&std::fs::read_to_string(f.path()).unwrap_or_default());
    }
    assert!(
        logs.contains("test_container_connection"),
        "the logs are read"
    );
    for secret in &secrets {
        assert!(!logs.contains(secret.as_str()), "a secret in the logs");
    }
    let app = s.home.join("etc/apps/dsdl_handler");
    // The key and the tokens reach storage/passwords only, encrypted (in etc/apps/.../local
    // passwords.conf); nothing holds them in clear.
    assert_eq!(
        files_holding(&app, since, &secrets, 6),
        Vec::<String>::new()
    );
    assert_eq!(
        files_holding(Path::new("/tmp"), since, &secrets, 3),
        Vec::<String>::new()
    );
    assert_eq!(
        files_holding(&std::env::temp_dir(), since, &secrets, 3),
        Vec::<String>::new()
    );
}

/// A loopback port that serves plain HTTP: every connection gets a 400, as an HTTP server
/// answers a TLS ClientHello.
fn plain_http_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut buf = [0u8; 1024];
            let _ = conn.read(&mut buf);
            let _ = conn.write_all(
                b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    port
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

#[test]
fn each_failure_names_its_stage_and_what_to_fix_and_stores_nothing() {
    let fake = cluster();
    let stranger = KubeFake::start(Options::default()).expect("another cluster");
    let misnamed = KubeFake::start(Options {
        server_names: vec!["kube.example".into()],
        ..options(0)
    })
    .expect("a cluster with another name");
    let s = DevServer::start("kube-conn-failures", &[]);
    let before = stored(&s);
    let (alien_cert, alien_key) = stranger.client_cert("carol").expect("a certificate");
    let eks = json!({"auth_mode": "aws-iam", "user_token": null,
                     "aws_cluster_name": EKS_CLUSTER, "aws_region_name": "us-east-1",
                     "aws_access_key_id": AKID, "aws_secret_access_key": AWS_SECRET});
    let with = |base: &Value, more: Value| {
        let mut v = base.clone();
        for (k, x) in more.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    };

    // (what, body, status, stage, words in the message, words in the hint)
    let cases: Vec<(&str, Value, u16, &str, &str, &str)> = vec![
        (
            "unreachable URL",
            json!({"cluster_url": format!("https://127.0.0.1:{}", closed_port())}),
            503,
            "connect",
            "cannot connect to 127.0.0.1",
            "Nothing listens there",
        ),
        (
            "wrong CA",
            json!({"cluster_ca": b64(&stranger.ca_pem)}),
            502,
            "tls",
            "not signed by the configured CA",
            "cluster_ca",
        ),
        (
            "host name mismatch",
            json!({"cluster_url": misnamed.url, "cluster_ca": b64(&misnamed.ca_pem)}),
            502,
            "tls",
            "does not name the host",
            "names the host",
        ),
        (
            "plain HTTP on the HTTPS port",
            json!({"cluster_url": format!("https://127.0.0.1:{}", plain_http_port())}),
            502,
            "tls",
            "plain HTTP",
            "HTTPS port",
        ),
        (
            "wrong token",
            json!({"user_token": "kube-e2e-token-nobody"}),
            502,
            "auth",
            "401",
            "user_token is not accepted",
        ),
        (
            "wrong password",
            json!({"auth_mode": "user-login", "user_token": null, "user_name": "bob",
                   "user_password": "not-bobs-password"}),
            502,
            "auth",
            "401",
            "user_password",
        ),
        (
            "client certificate from another CA",
            json!({"auth_mode": "cert-key", "user_token": null,
                   "client_cert": b64(&alien_cert), "client_key": b64(&alien_key)}),
            502,
            "auth",
            "401",
            "signed by the cluster's client CA",
        ),
        (
            "mis-signed EKS token",
            with(
                &eks,
                json!({"aws_secret_access_key": "kube-e2e-not-the-secret"}),
            ),
            502,
            "auth",
            "401",
            "aws_secret_access_key",
        ),
        (
            "missing permissions",
            json!({"user_token": NARROW_TOKEN}),
            502,
            "permissions",
            "create deployments.apps",
            "create role dsdl-handler",
        ),
        (
            "missing namespace",
            json!({"namespace": "nowhere"}),
            400,
            "namespace",
            "\"nowhere\" does not exist",
            "kubectl create namespace nowhere",
        ),
        (
            "a key that is not PEM",
            json!({"auth_mode": "cert-key", "user_token": null,
                   "client_cert": b64(&alien_cert), "client_key": b64("not a key")}),
            400,
            "url",
            "client_key",
            "",
        ),
    ];
    for (what, extra, status, stage, message, hint) in cases {
        let v = connection(&fake, extra);
        let (r, took) = test(&s, &v);
        assert_failed(&r, what, status, stage, message, hint);
        assert!(took < Duration::from_secs(5), "{what} took {took:?}");
    }

    // An EKS token the API server sees as expired (its clock runs ahead).
    fake.set_clock_ahead(Duration::from_secs(600));
    let (r, _) = test(&s, &connection(&fake, eks.clone()));
    assert_failed(&r, "expired EKS token", 502, "auth", "401", "clock");
    fake.set_clock_ahead(Duration::ZERO);
    let (r, _) = test(&s, &connection(&fake, eks.clone()));
    assert_eq!(
        r.status, 200,
        "the same connection with the clocks agreeing: {}",
        r.body
    );

    // A 429 is reported at once, not retried through its Retry-After.
    fake.inject(FaultKind::TooManyRequests(30), 1, Some("/version"));
    let (r, took) = test(&s, &connection(&fake, json!({})));
    assert_failed(&r, "429", 502, "version", "429", "");
    assert!(took < Duration::from_secs(5), "a 429 took {took:?}");

    // An API server that accepts the request and never answers: 504 within the deadline.
    fake.inject(FaultKind::Hang, 1, Some("/apis/authentication.k8s.io"));
    let (r, took) = test(&s, &connection(&fake, json!({"timeout": "3"})));
    assert_failed(&r, "hang", 504, "auth", "did not answer", "");
    assert!(took < Duration::from_secs(6), "a hang took {took:?}");
    fake.clear_faults();

    // Nothing was stored by a failed test; the successful EKS one stored its secret.
    let after: Vec<String> = stored(&s)
        .into_iter()
        .filter(|n| !before.contains(n))
        .collect();
    assert_eq!(
        after,
        [
            "dsdl_kubernetes/api_token",
            "dsdl_kubernetes/aws_access_key_id",
            "dsdl_kubernetes/aws_secret_access_key",
            "dsdl_kubernetes/cluster_ca",
        ]
    );
}

/// The reply failed with `status` at `stage` (every later stage skipped), its message and
/// the stage's hint holding the words given.
fn assert_failed(r: &Resp, what: &str, status: u16, stage: &str, message: &str, hint: &str) {
    assert_eq!(r.status, status, "{what}: {}", r.body);
    let v = body(r);
    assert_eq!(v["status"], "fail", "{what}");
    let text = v["messages"][0]["text"].as_str().unwrap_or_default();
    assert!(
        text.starts_with(&format!(
            "Kubernetes connection test failed at stage {stage}:"
        )),
        "{what}: {text}"
    );
    assert!(
        text.contains(message),
        "{what}: {message:?} not in {text:?}"
    );
    let got = results(&v);
    let at = got
        .iter()
        .position(|(n, _)| n == stage)
        .unwrap_or_else(|| panic!("{what}: no stage {stage} in {got:?}"));
    assert_eq!(got[at].1, "failed", "{what}: {got:?}");
    assert!(
        got[..at].iter().all(|(_, r)| r != "failed"),
        "{what}: {got:?}"
    );
    assert!(
        got[at + 1..].iter().all(|(_, r)| r == "skipped"),
        "{what}: {got:?}"
    );
    let stage_hint = v["stages"][at]["hint"].as_str().unwrap_or_default();
    assert!(
        stage_hint.contains(hint),
        "{what}: {hint:?} not in {stage_hint:?}"
    );
}

#[test]
fn a_cluster_without_gpus_and_a_skipped_verification_are_said_in_messages() {
    let fake = KubeFake::start(options(0)).expect("a cluster without GPUs");
    let s = DevServer::start("kube-conn-warnings", &[]);
    let (r, _) = test(
        &s,
        &connection(
            &fake,
            json!({"cluster_ca": null, "tls_skip_verify": "true"}),
        ),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v = body(&r);
    let got = results(&v);
    assert!(got.contains(&("tls".into(), "warning".into())), "{got:?}");
    assert!(got.contains(&("gpu".into(), "warning".into())), "{got:?}");
    let texts: Vec<&str> = v["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["text"].as_str())
        .collect();
    assert!(
        texts.iter().any(|t| t.contains("was NOT verified")),
        "{texts:?}"
    );
    assert!(
        texts
            .iter()
            .any(|t| t.contains("no node advertises nvidia.com/gpu")),
        "{texts:?}"
    );
    // Without cluster_ca and without skipping, the system's roots do not know the fake's CA.
    let (r, _) = test(&s, &connection(&fake, json!({"cluster_ca": null})));
    assert_failed(
        &r,
        "no CA",
        502,
        "tls",
        "not signed",
        "system's trust store",
    );
}
