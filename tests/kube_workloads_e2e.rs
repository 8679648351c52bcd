//! Models on Kubernetes end to end: the real splunkd-dev and driver, called with curl, with
//! the fake API server standing in for a cluster (its pods behave as the test container does
//! and their API answers on the Service's node port). The newcomer story (save, test, start
//! PROD and DEV, ready with URLs, logs, stop, every object gone); each failure phase with its
//! reason (image pull, crash loop with its exit code, no GPU node, a stalled rollout); an
//! idempotent, a conflicting and two concurrent starts; a stop of a model whose objects were
//! deleted behind our back; a 500 in the middle of a start leaving nothing behind.

mod common;

use common::devserver::*;
use common::kube::*;
use dsdl_handler::kubefake::KubeFake;
use dsdl_handler::kubefake::faults::FaultKind;
use dsdl_handler::kubefake::resources;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const S: &str = "/services/mltk";
const GOLDEN: &str = "mltk-container-golden-cpu:5.2.1";

fn body(r: &Resp) -> Value {
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.body))
}

fn post(s: &DevServer, path: &str, v: &Value) -> Resp {
    admin_json(s, "POST", &format!("{S}/{path}?output_mode=json"), v)
}

fn get(s: &DevServer, path: &str) -> Resp {
    admin_request(s, "GET", &format!("{S}/{path}"), &[])
}

/// A splunkd-dev with a Kubernetes connection to `fake` saved and tested, and the test
/// images in its catalog.
fn server(tag: &str, fake: &KubeFake) -> DevServer {
    let s = DevServer::start(tag, &[]);
    let save = post(
        &s,
        "container_connection",
        &json!({"container_type": "kubernetes", "connection_name": "k8s",
                "auth_mode": "user-token", "cluster_url": fake.url, "namespace": NS,
                "node_port_hostname_internal": "127.0.0.1",
                "node_port_hostname_external": "127.0.0.1",
                "user_token": TOKEN, "cluster_ca": b64(&fake.ca_pem),
                "jupyter_password": "kube-e2e-jupyter-Pw1"}),
    );
    assert!(save.status < 300, "{}", save.body);
    let test = post(
        &s,
        "test_container_connection",
        &json!({"container_type": "kubernetes"}),
    );
    assert_eq!(test.status, 200, "{}", test.body);
    for (name, image) in [
        ("pull-fails", "mltk-pull-fails:1"),
        ("crash", "mltk-crash:1"),
        ("stalls", "mltk-progress-stalls:1"),
    ] {
        seed_stanza(
            &s,
            "docker_images",
            name,
            &[
                ("title", name),
                ("image", image),
                ("repo", "test/"),
                ("runtime", "none,nvidia"),
            ],
        );
    }
    s
}

fn start(s: &DevServer, model: &str, image: &str, extra: Value) -> Resp {
    let mut v = json!({"model": model, "image": image, "mode": "PROD",
                       "cluster": "kubernetes", "wait_seconds": "20"});
    for (k, x) in extra.as_object().expect("an object") {
        v[k] = x.clone();
    }
    post(s, "start_container", &v)
}

/// The objects of `kind` (plural) in the namespace, by name.
fn objects(fake: &KubeFake, group: &str, version: &str, plural: &str) -> Vec<Value> {
    fake.with_store(|st| {
        let rt = resources::find(group, version, plural).expect("a type of the fake");
        st.list(rt, Some(NS), &Default::default())["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    })
    .unwrap_or_default()
}

/// Names of the Deployments, Services, Secrets, HPAs and pods carrying `model`'s key.
fn left_of(fake: &KubeFake, model: &str) -> Vec<String> {
    let key = dsdl_handler::names::label_value(model);
    let mut out = Vec::new();
    for (g, v, p) in [
        ("apps", "v1", "deployments"),
        ("", "v1", "services"),
        ("", "v1", "secrets"),
        ("", "v1", "pods"),
        ("autoscaling", "v2", "horizontalpodautoscalers"),
        ("networking.k8s.io", "v1", "ingresses"),
    ] {
        for o in objects(fake, g, v, p) {
            if o["metadata"]["labels"][dsdl_handler::runtime::label::MODEL_KEY] == key.as_str() {
                out.push(format!(
                    "{p}/{}",
                    o["metadata"]["name"].as_str().unwrap_or_default()
                ));
            }
        }
    }
    out
}

/// `container_data`'s row of `model` once `done` holds (at most 30 s).
fn row_until(s: &DevServer, model: &str, done: impl Fn(&Value) -> bool) -> Value {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let r = get(s, "container_data?output_mode=json");
        assert_eq!(r.status, 200, "{}", r.body);
        let row = body(&r)["config"][model].clone();
        if done(&row) || Instant::now() >= until {
            return row;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn a_newcomer_starts_prod_and_dev_sees_them_ready_reads_logs_and_stops_them() {
    let fake = cluster();
    let s = server("kube-newcomer", &fake);

    let prod = start(&s, "churn", GOLDEN, json!({}));
    assert_eq!(prod.status, 200, "{}", prod.body);
    let p = body(&prod)["updated_config"].clone();
    assert_eq!(p["phase"], "ready", "{p}");
    assert_eq!(p["cluster"], "kubernetes");
    assert_eq!(p["changed"], true);
    let api = p["api_url"].as_str().unwrap().to_string();
    assert!(api.starts_with("http://127.0.0.1:3"), "a node port: {api}");

    let dev = start(&s, "__dev__", GOLDEN, json!({"mode": "DEV"}));
    assert_eq!(dev.status, 200, "{}", dev.body);
    let d = body(&dev)["updated_config"].clone();
    assert_eq!(d["phase"], "ready", "{d}");
    for url in ["jupyter_url", "tensorboard_url", "mlflow_url", "spark_url"] {
        assert!(
            d[url]
                .as_str()
                .is_some_and(|u| u.starts_with("http://127.0.0.1:3")),
            "{url}: {d}"
        );
    }

    // The model's API answers with the stored token, through the URL the record holds.
    for model in ["churn", "__dev__"] {
        let row = row_until(&s, model, |r| r["status"] == "Active");
        assert_eq!(row["status"], "Active", "{model}: {row}");
        assert_eq!(row["phase"], "ready", "{model}: {row}");
        assert_eq!(row["cluster"], "kubernetes");
    }
    let r = curl(&[&api], &[]);
    assert_eq!(r.status, 401, "no token, no answer: {}", r.body);

    // Again with the same spec: nothing changes; another image: 409.
    let again = start(&s, "churn", GOLDEN, json!({}));
    assert_eq!(
        body(&again)["updated_config"]["changed"],
        false,
        "{}",
        again.body
    );
    let other = start(
        &s,
        "churn",
        "mltk-container-golden-cpu-transformers:5.2.1",
        json!({}),
    );
    assert_eq!(other.status, 409, "{}", other.body);

    // Logs: the model's own pods only, each line tagged with its pod.
    let logs = post(
        &s,
        "container_logs",
        &json!({"model": "churn", "tail": "50"}),
    );
    assert_eq!(logs.status, 200, "{}", logs.body);
    let entries = body(&logs)["container_logs"]["entries"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(!entries.is_empty(), "{}", logs.body);
    for e in &entries {
        let line = e["log"].as_str().unwrap_or_default();
        assert!(line.starts_with("[mltk-churn-"), "{line}");
    }
    assert!(
        !logs.body.contains("__dev__"),
        "another model's pod: {}",
        logs.body
    );

    // The token never appears in a pod spec: only in the Secret.
    for dep in objects(&fake, "apps", "v1", "deployments") {
        let text = dep.to_string();
        assert!(text.contains("secretKeyRef"), "{text}");
    }

    // Stop both: every object goes, the shared claim stays.
    for model in ["churn", "__dev__"] {
        let r = post(&s, "stop_container", &json!({"model": model}));
        assert_eq!(r.status, 200, "{model}: {}", r.body);
        assert_eq!(left_of(&fake, model), Vec::<String>::new(), "{model}");
    }
    let again = post(&s, "stop_container", &json!({"model": "churn"}));
    assert!(again.status < 500, "a second stop: {}", again.body);
}

#[test]
fn each_failure_is_named_and_leaves_nothing_behind() {
    let fake = KubeFake::start(options(0)).expect("a cluster without GPUs");
    let s = server("kube-failures", &fake);

    // Within the start's wait: a 502 naming the reason, nothing left, no record.
    for (model, image, extra, reason) in [
        ("pulls", "mltk-pull-fails:1", json!({}), "ImagePullBackOff"),
        ("crashes", "mltk-crash:1", json!({}), "exited with code 3"),
        (
            "gpu",
            GOLDEN.replace("cpu", "gpu").as_str(),
            json!({"runtime": "nvidia"}),
            "Insufficient nvidia.com/gpu",
        ),
    ] {
        let started = Instant::now();
        let r = start(&s, model, image, extra);
        assert_eq!(r.status, 502, "{model}: {}", r.body);
        let text = body(&r)["messages"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(
            text.contains(reason) || text.contains("ErrImagePull"),
            "{model}: {text}"
        );
        assert!(started.elapsed() < Duration::from_secs(25), "{model}");
        assert_eq!(left_of(&fake, model), Vec::<String>::new(), "{model}");
        let rec = get(&s, "container_data?output_mode=json");
        let row = &body(&rec)["config"][model];
        assert!(
            row["id"].as_str().unwrap_or_default().is_empty(),
            "no record of {model}: {row}"
        );
    }

    // Past the start's wait: container_data says failed, with the reason, as soon as it shows.
    for (model, image, reason) in [
        ("crash-later", "mltk-crash:1", "CrashLoopBackOff"),
        (
            "stalls",
            "mltk-progress-stalls:1",
            "ProgressDeadlineExceeded",
        ),
    ] {
        let r = start(&s, model, image, json!({"wait_seconds": "0"}));
        assert_eq!(r.status, 200, "{model}: {}", r.body);
        assert_eq!(body(&r)["updated_config"]["phase"], "starting", "{model}");
        let row = row_until(&s, model, |r| r["phase"] == "failed");
        assert_eq!(row["phase"], "failed", "{model}: {row}");
        assert_eq!(row["status"], "Inactive", "{model}: {row}");
        let why = row["last_failure"]["reason"].as_str().unwrap_or_default();
        assert!(why.contains(reason), "{model}: {why}");
        let stop = post(&s, "stop_container", &json!({"model": model}));
        assert_eq!(stop.status, 200, "{}", stop.body);
        assert_eq!(left_of(&fake, model), Vec::<String>::new(), "{model}");
    }

    // A 500 while the Service is applied: the Deployment goes again, nothing is recorded.
    fake.inject_on(
        FaultKind::Internal,
        1,
        "PATCH",
        &format!("/api/v1/namespaces/{NS}/services"),
    );
    let r = start(&s, "half", GOLDEN, json!({}));
    assert_eq!(r.status, 502, "{}", r.body);
    assert_eq!(left_of(&fake, "half"), Vec::<String>::new());
    fake.clear_faults();

    // A model whose objects were deleted behind our back stops cleanly.
    let r = start(&s, "vanishing", GOLDEN, json!({}));
    assert_eq!(r.status, 200, "{}", r.body);
    let name = body(&r)["updated_config"]["container_id"]
        .as_str()
        .unwrap()
        .to_string();
    fake.with_store(|st| {
        let rt = resources::find("apps", "v1", "deployments").expect("deployments");
        st.delete(rt, NS, &name).expect("deleted behind our back");
    });
    let row = row_until(&s, "vanishing", |r| r["state"] == "missing");
    assert_eq!(row["state"], "missing", "{row}");
    let stop = post(&s, "stop_container", &json!({"model": "vanishing"}));
    assert_eq!(stop.status, 200, "{}", stop.body);
}

#[test]
fn two_starts_at_once_meet_on_one_deployment() {
    let fake = cluster();
    let s = server("kube-race", &fake);
    let (a, b) = std::thread::scope(|sc| {
        let a = sc.spawn(|| start(&s, "race", GOLDEN, json!({})));
        let b = sc.spawn(|| start(&s, "race", GOLDEN, json!({})));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(b.status, 200, "{}", b.body);
    let (a, b) = (
        body(&a)["updated_config"].clone(),
        body(&b)["updated_config"].clone(),
    );
    assert_eq!(a["container_id"], b["container_id"]);
    let made = [&a, &b].iter().filter(|c| c["changed"] == true).count();
    assert_eq!(made, 1, "{a}\n{b}");
    assert_eq!(
        objects(&fake, "apps", "v1", "deployments").len(),
        1,
        "one Deployment"
    );
    let stop = post(&s, "stop_container", &json!({"model": "race"}));
    assert_eq!(stop.status, 200, "{}", stop.body);
}
