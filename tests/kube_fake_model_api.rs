//! kube-fake's pods acting as the project's test container, driven through kube-rs with the
//! objects the Kubernetes runtime builds (`manifest::Design`: a Deployment whose secret env
//! comes from a Secret, and a NodePort Service with an `api` port): the Service's node port
//! on 127.0.0.1 resets connections until a pod is ready, then answers as the DSDL image
//! (curl and the runtime's own probe: right token ok, wrong token 401), and closes when the
//! Service goes; `DSDL_TEST_EXIT_AFTER` / `DSDL_TEST_EXIT_CODE` crash-loop the pod with that
//! code; `DSDL_TEST_PORT` elsewhere leaves it never ready. Needs curl.

#[path = "common/kube.rs"]
#[allow(dead_code)]
mod kube_cluster;

use dsdl_handler::conffile::Stanza;
use dsdl_handler::kubefake::{KubeFake, Options};
use dsdl_handler::model::record::Mode;
use dsdl_handler::protocol::request::Secret as Token;
use dsdl_handler::runtime::Workload;
use dsdl_handler::runtime::kubernetes::manifest::{Design, Settings};
use dsdl_handler::runtime::plan::{Env, labels, ports, spec_hash};
use dsdl_handler::runtime::probe::{ProbeTls, probe_all};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, Secret, Service};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube_cluster::{NS, client, object};
use serde_json::Value;
use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

/// The model's API token (a test value).
const API_TOKEN: &str = "model-api-token-Xk3";

/// Retries `check` until it gives a value, for up to 10 s.
async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    mut check: impl FnMut() -> F,
) -> T {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < until, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The model's Deployment, Secret and Service as the runtime builds them, with `extra` env.
fn design(model: &str, extra: &[(&str, &str)]) -> (Deployment, Secret, Service) {
    let mut env = Env::default();
    env.set("MODE_DEV_PROD", "PROD");
    env.set("api_token", API_TOKEN);
    for (k, v) in extra {
        env.set(k, *v);
    }
    let spec = spec_hash("repo/dsdl:5.2.4", Mode::Prod, false);
    let workload = Workload {
        name: dsdl_handler::names::runtime_name(model),
        image: "repo/dsdl:5.2.4".into(),
        env,
        labels: labels(model, "guid-1", Mode::Prod, &spec),
        ports: ports(Mode::Prod, model),
        gpu: false,
        tuning: BTreeMap::new(),
    };
    let settings = Settings::read(&Stanza::from_pairs("kubernetes", &[]), &BTreeMap::new(), NS)
        .expect("settings");
    let d = Design {
        workload: &workload,
        settings: &settings,
    };
    let deployment = d.deployment();
    assert!(
        !deployment.to_string().contains(API_TOKEN),
        "the token is in the Secret only"
    );
    (object(deployment), object(d.secret()), object(d.service()))
}

/// Creates the three objects; the Service as stored.
async fn create(c: &kube::Client, objects: (Deployment, Secret, Service)) -> Service {
    let pp = PostParams::default();
    Api::<Secret>::namespaced(c.clone(), NS)
        .create(&pp, &objects.1)
        .await
        .expect("create the secret");
    Api::<Deployment>::namespaced(c.clone(), NS)
        .create(&pp, &objects.0)
        .await
        .expect("create the deployment");
    Api::<Service>::namespaced(c.clone(), NS)
        .create(&pp, &objects.2)
        .await
        .expect("create the service")
}

fn node_port(svc: &Service) -> u16 {
    let ports = svc
        .spec
        .as_ref()
        .and_then(|s| s.ports.clone())
        .unwrap_or_default();
    let api = ports.iter().find(|p| p.name.as_deref() == Some("api"));
    u16::try_from(api.and_then(|p| p.node_port).expect("a node port")).unwrap()
}

/// The pod of `model`'s deployment, once its status says what `ok` wants.
async fn pod_when(c: &kube::Client, model: &str, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let name = dsdl_handler::names::runtime_name(model);
    let pods: Api<Pod> = Api::namespaced(c.clone(), NS);
    eventually(what, || async {
        let list = pods.list(&ListParams::default()).await.ok()?;
        list.items
            .into_iter()
            .map(|p| serde_json::to_value(p).unwrap_or_default())
            .find(|p| {
                p["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with(&format!("{name}-")))
                    && ok(p)
            })
    })
    .await
}

fn ready(pod: &Value) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

/// curl's exit code, HTTP status, content type and body for `GET <url>` with `auth`.
fn curl(url: &str, auth: Option<&str>) -> (i32, String, String, String) {
    let mut cmd = Command::new("curl");
    cmd.args([
        "-s",
        "--max-time",
        "5",
        "-w",
        "\n%{http_code} %{content_type}",
    ]);
    if let Some(a) = auth {
        cmd.arg("-H").arg(format!("Authorization: {a}"));
    }
    let out = cmd.arg(url).output().expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, tail) = text.rsplit_once('\n').unwrap_or(("", &text));
    let (code, kind) = tail.split_once(' ').unwrap_or((tail, ""));
    (
        out.status.code().unwrap_or(-1),
        code.to_string(),
        kind.to_string(),
        body.to_string(),
    )
}

#[tokio::test]
async fn the_node_port_answers_as_the_dsdl_image_once_the_pod_is_ready() {
    let fake = KubeFake::start(Options {
        pod_start_after: Duration::from_millis(300),
        pod_ready_after: Duration::from_millis(1500),
        ..kube_cluster::options(0)
    })
    .expect("start the fake");
    let c = client(&fake).await;
    let svc = create(&c, design("Api_Model", &[])).await;
    assert_eq!(
        svc.spec.as_ref().and_then(|s| s.type_.as_deref()),
        Some("NodePort")
    );
    let port = node_port(&svc);
    let url = format!("http://127.0.0.1:{port}/");
    let token = Token::new(API_TOKEN);
    let probe = |url: String, token: Token| async move {
        probe_all(
            ProbeTls::from_settings(None, false, false),
            &[&url],
            &token,
            Duration::from_secs(3),
        )
        .await
        .remove(0)
    };

    // Listening, but no pod is ready: the connection is reset at once (curl 56 or 52, not
    // 7, which is refused: nothing listening).
    let (code, ..) = eventually("the node port listening", || async {
        let r = curl(&url, Some(API_TOKEN));
        (r.0 != 7).then_some(r)
    })
    .await;
    assert!([52, 56].contains(&code), "curl exit {code}");
    let early = probe(url.clone(), token.clone()).await;
    assert!(
        !early.ok && early.detail.contains("cannot be reached"),
        "{early:?}"
    );

    pod_when(&c, "Api_Model", "a ready pod", ready).await;
    // As behind kube-proxy, a pod that turned ready is reached once its endpoint is in place
    // (until then the connection is refused or reset).
    let (code, status, kind, body) = eventually("the ready pod's answer", || async {
        let r = curl(&url, Some(API_TOKEN));
        (![7, 52, 56].contains(&r.0)).then_some(r)
    })
    .await;
    assert_eq!(
        (code, status.as_str(), kind.as_str()),
        (0, "200", "application/json")
    );
    let inner: String = serde_json::from_str(&body).expect("a JSON string");
    assert_eq!(
        inner,
        r#"{"app": "Splunk App for Data Science and Deep Learning", "version": "5.2.4", "model": "", "token": "valid"}"#
    );
    let bearer = curl(
        &format!("{url}summary"),
        Some(&format!("Bearer {API_TOKEN}")),
    );
    assert_eq!(bearer.1, "200", "the header only has to contain the token");
    let wrong = curl(&url, Some("not-the-token"));
    assert_eq!(
        (wrong.1.as_str(), wrong.3.as_str()),
        ("401", r#"{"detail":"Invalid token"}"#)
    );
    let none = curl(&url, None);
    assert_eq!(
        (none.1.as_str(), none.3.as_str()),
        ("401", r#"{"detail":"No header with token"}"#)
    );
    assert_eq!(curl(&format!("{url}elsewhere"), Some(API_TOKEN)).1, "404");

    let ok = probe(url.clone(), token).await;
    assert!(ok.ok, "{ok:?}");
    let refused = probe(url.clone(), Token::new("not-the-token")).await;
    assert!(!refused.ok && refused.detail.contains("401"), "{refused:?}");

    // The Service goes: nothing listens on its node port any more.
    Api::<Service>::namespaced(c.clone(), NS)
        .delete(
            &svc.metadata.name.clone().unwrap(),
            &DeleteParams::default(),
        )
        .await
        .expect("delete the service");
    eventually("the node port closed", || async {
        std::net::TcpStream::connect(("127.0.0.1", port))
            .is_err()
            .then_some(())
    })
    .await;
    assert_eq!(curl(&url, Some(API_TOKEN)).0, 7, "refused");

    // Dropping the fake closes every node port.
    let again = create(&c, design("Other_Model", &[])).await;
    let other = node_port(&again);
    eventually("the second node port listening", || async {
        std::net::TcpStream::connect(("127.0.0.1", other))
            .is_ok()
            .then_some(())
    })
    .await;
    drop(fake);
    assert!(std::net::TcpStream::connect(("127.0.0.1", other)).is_err());
}

#[tokio::test]
async fn the_test_containers_environment_crashes_or_stalls_the_pod() {
    let fake = KubeFake::start(kube_cluster::options(0)).expect("start the fake");
    let c = client(&fake).await;
    create(
        &c,
        design(
            "Exits",
            &[("DSDL_TEST_EXIT_AFTER", "1"), ("DSDL_TEST_EXIT_CODE", "3")],
        ),
    )
    .await;
    let restarts = |p: &Value| p["status"]["containerStatuses"][0]["restartCount"].as_u64();
    let crashed = pod_when(&c, "Exits", "a crash loop", |p| restarts(p) == Some(1)).await;
    let status = &crashed["status"]["containerStatuses"][0];
    assert_eq!(status["state"]["waiting"]["reason"], "CrashLoopBackOff");
    assert_eq!(status["lastState"]["terminated"]["exitCode"], 3);
    assert!(!ready(&crashed));
    pod_when(&c, "Exits", "another restart", |p| restarts(p) >= Some(2)).await;

    let svc = create(&c, design("Elsewhere", &[("DSDL_TEST_PORT", "5001")])).await;
    let running = pod_when(&c, "Elsewhere", "a running pod", |p| {
        p["status"]["containerStatuses"][0]["started"] == true
    })
    .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let pods: Api<Pod> = Api::namespaced(c.clone(), NS);
    let later = pods
        .get(running["metadata"]["name"].as_str().unwrap())
        .await
        .expect("the pod");
    assert!(!ready(&serde_json::to_value(later).unwrap()), "never ready");
    let url = format!("http://127.0.0.1:{}/", node_port(&svc));
    let r = eventually("the node port listening", || async {
        let r = curl(&url, Some(API_TOKEN));
        (r.0 != 7).then_some(r)
    })
    .await;
    assert!([52, 56].contains(&r.0), "no endpoint: reset, {r:?}");
}
