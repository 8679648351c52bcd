//! The Docker runtime end to end, as a user drives it: curl → splunkd-dev → the real driver →
//! the real Docker engine, with test images built locally (tests/common/docker.rs). Each test
//! has its own splunkd-dev, whose server guid is the manager id on every container it starts;
//! a guard removes exactly those containers (and the test's own) when the test ends.

mod common;

use common::devserver::{DevServer, Resp, admin_json, admin_request, seed_model, seed_stanza};
use common::docker::{
    LabelGuard, TcpDockerProxy, TlsDockerProxy, TlsProxyOptions, catalog_entry, chatty_image,
    containers_with_label, contract_image, crasher_image, docker, docker_ok, inspect_state,
    require_docker, wait_stopped,
};
use dsdl_handler::model::record::Mode;
use dsdl_handler::names;
use dsdl_handler::runtime::label;
use dsdl_handler::runtime::plan;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const MLTK: &str = "/services/mltk";
const JUPYTER_PASSWORD: &str = "Jupyter-test-pw1";

/// A splunkd-dev with a saved docker connection and a catalog holding `images`; the guard
/// removes every container the handler starts for it.
struct Bed {
    s: DevServer,
    guard: LabelGuard,
}

impl Bed {
    fn new(tag: &str, docker_url: &str, images: &[(&str, String)]) -> Bed {
        Self::with_settings(tag, images, json!({ "docker_url": docker_url }))
    }

    fn with_settings(tag: &str, images: &[(&str, String)], extra: Value) -> Bed {
        Self::with_pool(tag, "2", images, extra)
    }

    fn with_pool(tag: &str, pool: &str, images: &[(&str, String)], extra: Value) -> Bed {
        let s = DevServer::start(tag, &["--pool", pool]);
        let guid = s.guid();
        let guard = LabelGuard { value: guid };
        let mut body = json!({
            "container_type": "docker",
            "connection_name": "local engine",
            "docker_url": "unix:///var/run/docker.sock",
            "jupyter_passwd": JUPYTER_PASSWORD,
        });
        for (k, v) in extra.as_object().expect("object") {
            body[k] = v.clone();
        }
        let r = send(&s, "POST", "container_connection", &body);
        assert_eq!(r.status, 200, "saving the connection: {}", r.body);
        for (key, image) in images {
            common::docker::offer_image(&s, key, image);
        }
        Bed { s, guard }
    }

    fn post(&self, endpoint: &str, body: &Value) -> Resp {
        send(&self.s, "POST", endpoint, body)
    }

    fn get(&self, endpoint: &str) -> Resp {
        let sep = if endpoint.contains('?') { '&' } else { '?' };
        admin_request(
            &self.s,
            "GET",
            &format!("{MLTK}/{endpoint}{sep}output_mode=json"),
            &[],
        )
    }

    fn start(&self, model: &str, image: &str, mode: &str) -> Resp {
        self.post(
            "start_container",
            &json!({"payload": {"model": model, "image": image, "mode": mode}}),
        )
    }

    fn stop(&self, model: &str) -> Resp {
        self.post("stop_container", &json!({"payload": {"model": model}}))
    }

    fn data(&self) -> Value {
        let r = self.get("container_data");
        assert_eq!(r.status, 200, "{}", r.body);
        body(&r)
    }

    /// The containers this splunkd-dev manages, running or not.
    fn containers(&self) -> Vec<String> {
        containers_with_label("com.splunk.mltk/manager-id", &self.guard.value)
    }
}

/// A bed on the local engine whose catalog holds `image`, and the image's catalog name.
fn local_bed(tag: &str, image: &str) -> (Bed, String) {
    let bed = Bed::new(
        tag,
        "unix:///var/run/docker.sock",
        &[("image", image.to_string())],
    );
    let (_, name) = catalog_entry(image);
    (bed, name)
}

/// The container id of a successful start reply.
fn started_id(r: &Resp) -> String {
    body(r)["updated_config"]["container_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no container_id: {}", r.body))
        .to_string()
}

fn send(s: &DevServer, method: &str, endpoint: &str, v: &Value) -> Resp {
    admin_json(s, method, &format!("{MLTK}/{endpoint}?output_mode=json"), v)
}

fn body(r: &Resp) -> Value {
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.body))
}

fn first_message(v: &Value) -> String {
    v["messages"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn stage<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["stages"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["stage"] == name))
        .unwrap_or_else(|| panic!("no stage {name}: {v}"))
}

/// curl the container API with the stored token (read back through the record's api_url and
/// the token the test set).
fn api_status(url: &str, token: &str, insecure: bool) -> u16 {
    let mut args = vec![
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--max-time",
        "5",
    ];
    if insecure {
        args.push("-k");
    }
    let auth = format!("Authorization: {token}");
    args.extend(["-H", &auth, url]);
    let out = std::process::Command::new("curl")
        .args(&args)
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

#[test]
fn a_newcomer_tests_starts_reads_and_stops_a_dev_container() {
    if !require_docker() {
        return;
    }
    let image = contract_image();
    let bed = Bed::with_settings(
        "docker-walk",
        &[("contract", image.clone())],
        json!({"api_token": "walkthrough-token-0123456789"}),
    );
    let (_, name) = catalog_entry(&image);

    // Test the saved connection: every stage passes, nothing secret comes back.
    let started = Instant::now();
    let r = bed.post(
        "test_container_connection",
        &json!({"container_type": "docker"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(started.elapsed() < Duration::from_secs(10));
    let v = body(&r);
    assert_eq!(
        v["message"],
        "Container configurations validated successfully"
    );
    for s in ["url", "connect", "ping", "version"] {
        assert_eq!(stage(&v, s)["result"], "passed", "{s}: {v}");
    }
    assert!(!r.body.contains("walkthrough-token") && !r.body.contains(JUPYTER_PASSWORD));

    // Start a DEV container from the catalog.
    let r = bed.start("walk_model", &name, "DEV");
    assert_eq!(r.status, 200, "{}", r.body);
    let v = body(&r);
    let cfg = &v["updated_config"];
    assert_eq!(v["message"], "The container started successfully");
    assert_eq!(cfg["phase"], "ready", "{v}");
    assert_eq!(cfg["changed"], true);
    assert_eq!(cfg["mode"], "DEV");
    let id = cfg["container_id"].as_str().unwrap().to_string();
    let api_url = cfg["api_url"].as_str().unwrap().to_string();
    assert!(api_url.starts_with("http://localhost:"), "{api_url}");
    assert!(
        cfg["jupyter_url"]
            .as_str()
            .unwrap()
            .starts_with("http://localhost:")
    );
    // The URLs work: the API only with the token, Jupyter without.
    assert_eq!(
        api_status(&api_url, "walkthrough-token-0123456789", false),
        200
    );
    assert_eq!(api_status(&api_url, "wrong", false), 401);
    assert_eq!(
        api_status(cfg["jupyter_url"].as_str().unwrap(), "", false),
        200
    );
    assert_eq!(bed.containers(), vec![id.clone()]);
    let st = inspect_state(&id).expect("the container exists");
    assert_eq!(st.status, "running");

    // Active in container_data, with its live state.
    let data = bed.data();
    let row = &data["config"]["walk_model"];
    assert_eq!(row["status"], "Active", "{data}");
    assert_eq!(row["state"], "running");
    assert_eq!(row["id"], id.as_str());
    assert_eq!(data["orphans"], json!([]));

    // Its logs: both streams, newest last.
    let r = bed.post(
        "container_logs",
        &json!({"payload": {"model": "walk_model", "tail": 50}}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let entries = body(&r)["container_logs"]["entries"]
        .as_array()
        .unwrap()
        .clone();
    assert!(entries.iter().any(|e| e["stream"] == "stderr" && e["log"].as_str().unwrap().contains("stderr ready")), "{entries:?}");
    assert!(
        entries
            .iter()
            .all(|e| e["_time"].as_str().unwrap().ends_with('Z'))
    );

    // Starting again changes nothing; another mode conflicts.
    let again = body(&bed.start("walk_model", &name, "DEV"));
    assert_eq!(again["updated_config"]["changed"], false, "{again}");
    assert_eq!(again["updated_config"]["container_id"], id.as_str());
    let r = bed.start("walk_model", &name, "PROD");
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(
        body(&r)["updated_config"]["error"]
            .as_str()
            .unwrap()
            .contains("stop it first")
    );
    assert_eq!(bed.containers().len(), 1);

    // Stop: gone from the engine and from the records; stopping again is a no-op.
    let r = bed.stop("walk_model");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(body(&r)["stopped_container"]["changed"], true);
    assert!(inspect_state(&id).is_none(), "removed from the engine");
    assert!(bed.containers().is_empty());
    assert!(bed.data()["config"].get("walk_model").is_none());
    let r = bed.stop("walk_model");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(body(&r)["stopped_container"]["changed"], false);
}

#[test]
fn the_shared_dev_container_uses_fixed_ports_and_keeps_its_record() {
    if !require_docker() {
        return;
    }
    let image = contract_image();
    let (bed, name) = local_bed("docker-dev", &image);
    let r = bed.start("__dev__", &name, "DEV");
    assert_eq!(r.status, 200, "{}", r.body);
    let cfg = body(&r)["updated_config"].clone();
    assert_eq!(cfg["api_url"], "http://localhost:5000");
    assert_eq!(cfg["jupyter_url"], "http://localhost:8888");
    assert_eq!(cfg["mlflow_url"], "http://localhost:6060");
    assert_eq!(cfg["tensorboard_url"], "http://localhost:6006");

    // PROD of another model publishes the API only, on a port the engine picks.
    let r = bed.start("prod_model", &name, "PROD");
    assert_eq!(r.status, 200, "{}", r.body);
    let prod = body(&r)["updated_config"].clone();
    assert_ne!(prod["api_url"], "http://localhost:5000");
    assert_eq!(prod["jupyter_url"], "");

    let r = bed.stop("__dev__");
    assert_eq!(r.status, 200, "{}", r.body);
    let dev = bed.data()["config"]["__dev__"].clone();
    assert_eq!(dev["id"], "", "the shipped record stays, emptied: {dev}");
    assert_eq!(dev["state"], "stopped");
    assert_eq!(dev["status"], "Inactive");
    assert_eq!(bed.containers().len(), 1, "the PROD container is untouched");
}

#[test]
fn a_container_that_dies_shows_exited_then_missing() {
    if !require_docker() {
        return;
    }
    let image = crasher_image();
    let (bed, name) = local_bed("docker-dies", &image);
    let r = bed.start("doomed", &name, "PROD");
    assert_eq!(r.status, 200, "{}", r.body);
    let id = started_id(&r);
    assert_eq!(bed.data()["config"]["doomed"]["status"], "Active");

    let st = wait_stopped(&id, Duration::from_secs(20)).expect("the crasher exits");
    assert_eq!(st.exit_code, 3);
    let row = bed.data()["config"]["doomed"].clone();
    assert_eq!(row["state"], "exited", "{row}");
    assert_eq!(
        row["status"], "Inactive",
        "the toolkit UI's INACTIVE filter"
    );
    assert_eq!(row["phase"], "failed");
    assert_eq!(row["exit_code"], 3);
    assert_eq!(row["last_failure"]["exit_code"], 3, "{row}");
    assert!(row["state_reason"].as_str().unwrap().contains("code 3"));

    // Removed behind the handler's back: missing, and stop still cleans up.
    docker(&["rm", "-f", &id]);
    let row = bed.data()["config"]["doomed"].clone();
    assert_eq!(row["state"], "missing", "{row}");
    assert_eq!(row["status"], "Inactive");
    let r = bed.post("container_logs", &json!({"model": "doomed"}));
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(first_message(&body(&r)).contains("no longer exists"));
    let r = bed.stop("doomed");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(bed.data()["config"].get("doomed").is_none());
}

#[test]
fn containers_without_a_record_are_reported_as_orphans_and_left_alone() {
    if !require_docker() {
        return;
    }
    let image = contract_image();
    let (bed, name) = local_bed("docker-orphan", &image);
    let r = bed.start("lost", &name, "PROD");
    assert_eq!(r.status, 200, "{}", r.body);
    let id = started_id(&r);
    // Someone deletes the record through splunkd directly.
    let r = admin_request(
        &bed.s,
        "DELETE",
        "/servicesNS/nobody/dsdl_handler/configs/conf-dsdl_container/lost?output_mode=json",
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let data = bed.data();
    assert_eq!(data["orphans"][0]["id"], id.as_str(), "{data}");
    assert_eq!(data["orphans"][0]["model"], "lost");
    assert!(first_message(&data).contains("orphans"), "{data}");
    assert_eq!(inspect_state(&id).expect("still there").status, "running");
    // Stopping by model name finds it by its labels.
    let r = bed.stop("lost");
    assert_eq!(body(&r)["stopped_container"]["changed"], true, "{}", r.body);
    assert!(inspect_state(&id).is_none());
}

#[test]
fn polls_reuse_their_engine_connections() {
    if !require_docker() {
        return;
    }
    let proxy = TcpDockerProxy::start();
    let image = contract_image();
    let bed = Bed::with_pool(
        "docker-pooled",
        "1",
        &[("image", image.clone())],
        json!({ "docker_url": proxy.url() }),
    );
    let (_, name) = catalog_entry(&image);
    let r = bed.start("pooled", &name, "PROD");
    assert_eq!(r.status, 200, "{}", r.body);
    // A dead container too, so each poll also inspects one that is not running.
    let dead = bed.guard.run(&[
        "--label",
        "mltk_container=",
        "--label",
        &format!("com.splunk.mltk/manager-id={}", bed.guard.value),
        "-e",
        "DSDL_TEST_EXIT_AFTER=0",
        &image,
    ]);
    wait_stopped(&dead, Duration::from_secs(20));
    for _ in 0..10 {
        assert_eq!(bed.data()["config"]["pooled"]["state"], "running");
    }
    let warm = proxy.accepted();
    assert!(
        warm > 0,
        "the handler talks to the engine through the proxy"
    );
    const POLLS: u64 = 20;
    for _ in 0..POLLS {
        let data = bed.data();
        assert_eq!(data["config"]["pooled"]["status"], "Active", "{data}");
        assert_eq!(data["orphans"].as_array().map(Vec::len), Some(1), "{data}");
    }
    // Each poll makes three engine calls (without pooling: three connections). hyper puts a
    // connection back in its pool a moment after the reply, so on a loaded machine a call
    // that follows at once may still open one more; never one per poll.
    let opened = proxy.accepted() - warm;
    assert!(
        opened <= 1,
        "after warm-up {POLLS} polls opened {opened} engine connections"
    );
    let r = bed.stop("pooled");
    assert_eq!(r.status, 200, "{}", r.body);
}

/// The labels of a container, as the engine reports them.
fn container_labels(id: &str) -> Value {
    let raw = docker_ok(&["inspect", "--format", "{{json .Config.Labels}}", id]);
    serde_json::from_str(&raw).unwrap_or_else(|e| panic!("labels of {id} ({e}): {raw}"))
}

/// Waits (at most 10 s) until the API at `url` answers 200 to `token`.
fn wait_api(url: &str, token: &str) {
    let until = Instant::now() + Duration::from_secs(10);
    while api_status(url, token, false) != 200 {
        assert!(Instant::now() < until, "{url} never answered");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A PROD container of `model` as the first release started it: under the model's runtime
/// name, with exactly that release's labels (schema 1: the raw model name, the 64-digit spec
/// hash of a start of `image` in PROD without GPU), its API on an engine-picked port of
/// 127.0.0.1. Returns its id and the API's URL.
fn run_schema1(bed: &Bed, model: &str, image: &str, token: &str) -> (String, String) {
    let spec = plan::spec_hash(image, Mode::Prod, false);
    let labels = [
        "mltk_container=".to_string(),
        format!("mltk_model={model}"),
        "app.kubernetes.io/managed-by=dsdl-handler".to_string(),
        format!("com.splunk.mltk/manager-id={}", bed.guard.value),
        format!("com.splunk.mltk/model={model}"),
        "com.splunk.mltk/mode=prod".to_string(),
        format!("com.splunk.mltk/spec-sha256={spec}"),
        "com.splunk.mltk/schema=1".to_string(),
    ];
    let name = names::runtime_name(model);
    let env = format!("api_token={token}");
    let mut args = vec![
        "--name",
        &name,
        "-p",
        "127.0.0.1::5000",
        "-e",
        "ENABLE_HTTPS=false",
        "-e",
        "MODE_DEV_PROD=PROD",
        "-e",
        &env,
    ];
    for l in &labels {
        args.extend(["--label", l.as_str()]);
    }
    args.push(image);
    let id = bed.guard.run(&args);
    let published = docker_ok(&["port", &id, "5000/tcp"]);
    let port = published
        .lines()
        .next()
        .and_then(|l| l.rsplit(':').next())
        .unwrap_or_else(|| panic!("no port for 5000: {published}"));
    (id, format!("http://localhost:{port}"))
}

#[test]
fn containers_started_before_the_label_change_are_found_adopted_and_stopped() {
    if !require_docker() {
        return;
    }
    let image = contract_image();
    let token = "upgrade-token-0123456789";
    let bed = Bed::with_settings(
        "docker-schema1",
        &[("image", image.clone())],
        json!({ "api_token": token }),
    );
    let (_, name) = catalog_entry(&image);
    // One recorded, as the first release left it, and one whose record is gone.
    let (id, api_url) = run_schema1(&bed, "upgraded_1", &image, token);
    let runtime_name = names::runtime_name("upgraded_1");
    seed_stanza(
        &bed.s,
        "dsdl_container",
        "upgraded_1",
        &[
            ("id", &id),
            ("mode", "PROD"),
            ("cluster", "docker"),
            ("image", &name),
            ("api_url", &api_url),
            ("status", "Active"),
            ("manager_id", &bed.guard.value),
            ("runtime_name", &runtime_name),
            ("phase", "ready"),
        ],
    );
    let (lost, lost_url) = run_schema1(&bed, "upgraded_2", &image, token);
    wait_api(&api_url, token);
    wait_api(&lost_url, token);

    // Reported: running and answering, and the other as an orphan of its model.
    let data = bed.data();
    let row = &data["config"]["upgraded_1"];
    assert_eq!(row["state"], "running", "{data}");
    assert_eq!(row["status"], "Active", "{data}");
    assert_eq!(row["id"], id.as_str());
    let orphan = data["orphans"]
        .as_array()
        .and_then(|o| o.iter().find(|o| o["id"] == lost.as_str()))
        .unwrap_or_else(|| panic!("no orphan {lost}: {data}"));
    assert_eq!(orphan["model"], "upgraded_2");
    assert_eq!(orphan["state"], "running");

    // Adopted: the same start runs on it, nothing restarts.
    let r = bed.start("upgraded_1", &name, "PROD");
    assert_eq!(r.status, 200, "{}", r.body);
    let cfg = &body(&r)["updated_config"];
    assert_eq!(cfg["changed"], false, "{}", r.body);
    assert_eq!(cfg["container_id"], id.as_str());
    assert_eq!(cfg["api_url"], api_url.as_str());
    assert_eq!(
        inspect_state(&id).map(|s| s.status).as_deref(),
        Some("running")
    );

    // Stopped: by the record's id and, without a record, by the model label.
    for (model, id) in [("upgraded_1", &id), ("upgraded_2", &lost)] {
        let r = bed.stop(model);
        assert_eq!(r.status, 200, "{}", r.body);
        let stopped = &body(&r)["stopped_container"];
        assert_eq!(stopped["changed"], true, "{}", r.body);
        assert_eq!(stopped["removed_containers"], json!([id]), "{}", r.body);
        assert!(inspect_state(id).is_none(), "{model} removed");
    }
    assert!(bed.containers().is_empty());
    assert!(bed.data()["config"].get("upgraded_1").is_none());
}

#[test]
fn model_names_that_need_sanitising_get_valid_selector_labels() {
    if !require_docker() {
        return;
    }
    let image = contract_image();
    let (bed, name) = local_bed("docker-labels", &image);
    let spec = plan::spec_hash(&image, Mode::Prod, false);
    for model in ["My.Model_1", "__labelled__"] {
        let r = bed.start(model, &name, "PROD");
        assert_eq!(r.status, 200, "{}", r.body);
        let id = started_id(&r);
        let labels = container_labels(&id);
        for key in label::SELECTORS {
            let value = labels[*key]
                .as_str()
                .unwrap_or_else(|| panic!("{model}: no {key}: {labels}"));
            assert!(names::is_label_value(value), "{model}: {key}={value:?}");
        }
        assert_eq!(labels[label::MODEL_KEY], names::label_value(model).as_str());
        assert_eq!(labels[label::MODEL], model, "the raw name is kept");
        assert_eq!(labels[label::SPEC], spec.as_str(), "the full hash is kept");
        assert_eq!(labels[label::SCHEMA], "2");

        // Found again by its labels: a start adopts it; without its record, a stop removes it.
        let again = body(&bed.start(model, &name, "PROD"));
        assert_eq!(again["updated_config"]["changed"], false, "{again}");
        assert_eq!(again["updated_config"]["container_id"], id.as_str());
        let r = admin_request(
            &bed.s,
            "DELETE",
            &format!(
                "/servicesNS/nobody/dsdl_handler/configs/conf-dsdl_container/{model}?output_mode=json"
            ),
            &[],
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let r = bed.stop(model);
        assert_eq!(body(&r)["stopped_container"]["changed"], true, "{}", r.body);
        assert!(inspect_state(&id).is_none(), "{model} removed");
    }
}

#[test]
fn logs_honour_tail_since_and_multibyte_lines() {
    if !require_docker() {
        return;
    }
    let image = chatty_image();
    let (bed, name) = local_bed("docker-logs", &image);
    let r = bed.start("talker", &name, "PROD");
    assert_eq!(r.status, 200, "{}", r.body);

    let entries = |query: &str| -> Vec<Value> {
        let r = bed.get(&format!("container_logs?model=talker{query}"));
        assert_eq!(r.status, 200, "{query}: {}", r.body);
        body(&r)["container_logs"]["entries"]
            .as_array()
            .unwrap()
            .clone()
    };
    let all = entries("&tail=10000");
    assert!(all.len() >= 3000, "{}", all.len());
    let tail = entries("&tail=100");
    assert_eq!(tail.len(), 100);
    assert_eq!(tail.last(), all.last());
    assert!(
        all.iter().any(|e| e["stream"] == "stdout") && all.iter().any(|e| e["stream"] == "stderr")
    );
    let multibyte = all
        .iter()
        .filter(|e| e["log"].as_str().unwrap().contains("línea ✓ 日本"))
        .count();
    assert!(multibyte >= 3000, "{multibyte}");
    assert!(
        all.iter()
            .all(|e| !e["log"].as_str().unwrap().contains('\u{fffd}'))
    );
    // Default tail is 1000; since in the future gives nothing; no timestamps on request.
    assert_eq!(entries("").len(), 1000);
    assert!(entries("&since=4102444800").is_empty());
    assert!(
        entries("&tail=5&timestamps=false")
            .iter()
            .all(|e| e["_time"] == "")
    );

    for (query, status) in [
        ("&tail=0", 400),
        ("&tail=x", 400),
        ("&since=yesterday", 400),
    ] {
        let r = bed.get(&format!("container_logs?model=talker{query}"));
        assert_eq!(r.status, status, "{query}: {}", r.body);
    }
    let r = bed.get("container_logs?model=nobody_here");
    assert_eq!(r.status, 404, "{}", r.body);
    bed.stop("talker");
    let r = bed.get("container_logs?model=talker");
    assert_eq!(
        r.status, 404,
        "the record is gone with the container: {}",
        r.body
    );
}

#[test]
fn connection_tests_name_the_failing_stage_within_seconds() {
    if !require_docker() {
        return;
    }
    let bed = Bed::new("docker-diag", "unix:///var/run/docker.sock", &[]);
    let test = |extra: Value| -> (u16, Value, Duration) {
        let mut b = json!({"container_type": "docker"});
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        let started = Instant::now();
        let r = bed.post("test_container_connection", &b);
        (r.status, body(&r), started.elapsed())
    };

    let (status, v, took) = test(json!({"docker_url": "unix:///nonexistent/docker.sock"}));
    assert_eq!(status, 503, "{v}");
    assert_eq!(stage(&v, "connect")["result"], "failed");
    assert!(took < Duration::from_secs(10));

    let (status, v, took) = test(json!({"docker_url": "tcp://127.0.0.1:1"}));
    assert_eq!(status, 503, "{v}");
    assert_eq!(stage(&v, "connect")["result"], "failed");
    assert!(
        stage(&v, "connect")["hint"]
            .as_str()
            .unwrap()
            .contains("Nothing listens")
    );
    assert!(took < Duration::from_secs(10));

    // Something that accepts connections and never answers: bounded by the test's timeout.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("tcp://{}", silent.local_addr().unwrap());
    let (status, v, took) = test(json!({"docker_url": url, "timeout": "2"}));
    assert_eq!(status, 504, "{v}");
    assert_eq!(stage(&v, "ping")["result"], "failed", "{v}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    drop(silent);

    // A TLS engine (mutual TLS): right CA and client certificate pass...
    let tls = TlsDockerProxy::start(TlsProxyOptions {
        require_client_cert: true,
        ..Default::default()
    });
    let (status, v, _) = test(json!({
        "docker_url": tls.url(),
        "docker_ca": tls.ca_pem(),
        "docker_client_cert": tls.client_cert_pem(),
        "docker_client_key": tls.client_key_pem(),
    }));
    assert_eq!(status, 200, "{v}");
    assert_eq!(stage(&v, "tls")["result"], "passed");
    assert_eq!(stage(&v, "ping")["result"], "passed");
    // ...a wrong CA fails at tls, saying so...
    let (status, v, _) = test(json!({
        "docker_url": tls.url(),
        "docker_ca": tls.wrong_ca_pem(),
        "docker_client_cert": tls.client_cert_pem(),
        "docker_client_key": tls.client_key_pem(),
    }));
    assert_eq!(status, 502, "{v}");
    assert_eq!(stage(&v, "tls")["result"], "failed");
    assert!(
        stage(&v, "tls")["detail"]
            .as_str()
            .unwrap()
            .contains("not signed by the configured CA"),
        "{v}"
    );
    // ...and so does a missing client certificate (the stored ones are deleted first).
    let plain = TlsDockerProxy::start(TlsProxyOptions {
        require_client_cert: true,
        ..Default::default()
    });
    for key in ["docker_client_cert", "docker_client_key"] {
        admin_request(
            &bed.s,
            "DELETE",
            &format!(
                "/servicesNS/nobody/dsdl_handler/storage/passwords/dsdl_docker:{key}:?output_mode=json"
            ),
            &[],
        );
    }
    let (status, v, _) = test(json!({"docker_url": plain.url(), "docker_ca": plain.ca_pem()}));
    assert_eq!(status, 502, "{v}");
    assert!(
        stage(&v, "tls")["detail"]
            .as_str()
            .unwrap()
            .contains("client certificate"),
        "{v}"
    );
    // A certificate for another host name.
    let other = TlsDockerProxy::start(TlsProxyOptions {
        server_names: vec!["engine.example".into()],
        ..Default::default()
    });
    let (status, v, _) = test(json!({"docker_url": other.url(), "docker_ca": other.ca_pem()}));
    assert_eq!(status, 502, "{v}");
    assert!(
        stage(&v, "tls")["detail"]
            .as_str()
            .unwrap()
            .contains("does not name the host"),
        "{v}"
    );
    // No secret ever comes back.
    assert!(!v.to_string().contains(&tls.client_key_pem()[30..60]));
}

#[test]
fn two_concurrent_starts_make_one_container_and_one_record() {
    if !require_docker() {
        return;
    }
    let image = contract_image();
    let (bed, name) = local_bed("docker-race", &image);
    let replies: Vec<Resp> = std::thread::scope(|scope| {
        let a = scope.spawn(|| bed.start("raced", &name, "PROD"));
        let b = scope.spawn(|| bed.start("raced", &name, "PROD"));
        vec![a.join().unwrap(), b.join().unwrap()]
    });
    for r in &replies {
        assert_eq!(r.status, 200, "{} / {}", replies[0].body, replies[1].body);
    }
    let changed: Vec<bool> = replies
        .iter()
        .map(|r| body(r)["updated_config"]["changed"].as_bool().unwrap())
        .collect();
    assert_eq!(changed.iter().filter(|c| **c).count(), 1, "{changed:?}");
    let ids: Vec<String> = replies
        .iter()
        .map(|r| {
            body(r)["updated_config"]["container_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(ids[0], ids[1]);
    assert_eq!(bed.containers(), vec![ids[0].clone()]);
    let data = bed.data();
    assert_eq!(data["config"]["raced"]["id"], ids[0].as_str(), "{data}");
    // Both generated an api_token; they agreed on one, so the probe passes.
    assert_eq!(data["config"]["raced"]["status"], "Active", "{data}");
}

#[test]
fn an_engine_that_goes_away_mid_start_gives_503_and_no_record() {
    if !require_docker() {
        return;
    }
    let image = contract_image();
    let proxy = TcpDockerProxy::start();
    let bed = Bed::new("docker-gone", &proxy.url(), &[("contract", image.clone())]);
    let (_, name) = catalog_entry(&image);
    // Enough requests to look at the container, the image and the volumes and to create
    // the container; then the engine "stops".
    proxy.allow(6);
    let started = Instant::now();
    let r = bed.start("interrupted", &name, "PROD");
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(started.elapsed() < Duration::from_secs(15));
    let v = body(&r);
    assert!(
        v["updated_config"]["error"]
            .as_str()
            .unwrap()
            .contains("cannot be reached"),
        "{v}"
    );
    let data = bed.data();
    assert!(
        data["config"].get("interrupted").is_none(),
        "no stale record: {data}"
    );
    // The engine still refuses connections: the records are listed, and the reply says why
    // their live state is missing.
    assert!(first_message(&data).contains("not checked"), "{data}");

    // The engine is back: the left-over container is found by its labels and stopped.
    proxy.unlimited();
    let r = bed.stop("interrupted");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(bed.containers().is_empty(), "nothing leaked");
}

#[test]
fn https_containers_get_https_urls_and_skip_verify_is_said() {
    if !require_docker() {
        return;
    }
    let image = contract_image();
    let bed = Bed::with_settings(
        "docker-https",
        &[("contract", image.clone())],
        json!({"container_enable_https": "true", "tls_skip_verify": "true", "api_token": "https-token-123"}),
    );
    let (_, name) = catalog_entry(&image);
    let r = bed.start("secure", &name, "PROD");
    assert_eq!(r.status, 200, "{}", r.body);
    let v = body(&r);
    let url = v["updated_config"]["api_url"].as_str().unwrap().to_string();
    assert!(url.starts_with("https://localhost:"), "{v}");
    assert_eq!(v["updated_config"]["phase"], "ready", "{v}");
    assert!(v["messages"].to_string().contains("NOT verified"), "{v}");
    assert_eq!(api_status(&url, "https-token-123", true), 200);
    assert_eq!(bed.data()["config"]["secure"]["status"], "Active");
}

#[test]
fn start_failures_are_clear_and_leave_nothing_behind() {
    if !require_docker() {
        return;
    }
    let exit_now = common::docker::variant_image(
        "exit-now",
        // Listens where nobody probes, so it never becomes ready before it dies.
        &[
            ("DSDL_TEST_PORT", "5999"),
            ("DSDL_TEST_EXIT_AFTER", "0.5"),
            ("DSDL_TEST_EXIT_CODE", "7"),
        ],
    );
    let contract = contract_image();
    let bed = Bed::with_settings(
        "docker-fail",
        &[
            ("ghost", "dsdl-test/ghost:never-built".to_string()),
            ("exit-now", exit_now.clone()),
            ("contract", contract.clone()),
        ],
        json!({"allow_pull": "false"}),
    );
    let start = |model: &str, image: &str, extra: Value| {
        let mut payload = json!({"model": model, "image": image, "mode": "PROD"});
        for (k, v) in extra.as_object().unwrap() {
            payload[k] = v.clone();
        }
        let r = bed.post("start_container", &json!({ "payload": payload }));
        let v = body(&r);
        (
            r.status,
            v["updated_config"]["error"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        )
    };
    let records = || -> Vec<String> {
        bed.data()["config"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    };

    // An image the engine does not have, pulling off: said plainly.
    let (status, error) = start("m_ghost", "ghost:never-built", json!({}));
    assert_eq!(status, 404, "{error}");
    assert!(
        error.contains("not on the Docker engine") && error.contains("allow_pull"),
        "{error}"
    );
    // Pulling on: the engine tries and its refusal is passed on (no registry here).
    common::devserver::update_stanza(
        &bed.s,
        "container_connections",
        "docker",
        &[("allow_pull", "true")],
    );
    let (status, error) = start("m_ghost", "ghost:never-built", json!({}));
    assert_eq!(status, 502, "{error}");
    assert!(error.contains("pull"), "{error}");

    // Not in the catalog, a GPU the engine lacks, a network that does not exist.
    let (status, error) = start("m1", "nope:1", json!({}));
    assert_eq!(status, 400, "{error}");
    assert!(error.contains("not in the catalog"), "{error}");
    let (_, name) = catalog_entry(&contract);
    let (status, error) = start("m1", &name, json!({"runtime": "nvidia"}));
    assert_eq!(status, 400, "{error}");
    assert!(error.contains("NVIDIA"), "{error}");
    let network = format!("dsdl-test-net-{}", &bed.guard.value[..8].to_lowercase());
    common::devserver::update_stanza(
        &bed.s,
        "container_connections",
        "docker",
        &[("docker_network", &network)],
    );
    let (status, error) = start("m1", &name, json!({}));
    assert_eq!(status, 400, "{error}");
    assert!(error.contains("does not exist"), "{error}");
    // Once the network exists the container joins it.
    let label = format!("dsdl-handler.test={}", bed.guard.value);
    docker(&["network", "create", "--label", &label, &network]);
    let r = bed.start("m1", &name, "PROD");
    assert_eq!(r.status, 200, "{}", r.body);
    let id = started_id(&r);
    let networks = inspect_state(&id).map(|_| {
        let out = docker(&[
            "inspect",
            "--format",
            "{{json .NetworkSettings.Networks}}",
            &id,
        ]);
        String::from_utf8_lossy(&out.stdout).to_string()
    });
    assert!(networks.unwrap_or_default().contains(&network));
    bed.stop("m1");
    common::devserver::update_stanza(
        &bed.s,
        "container_connections",
        "docker",
        &[("docker_network", "")],
    );

    // A container that dies during its start: the reply says how, nothing is left.
    let (_, dying) = catalog_entry(&exit_now);
    let (status, error) = start("m_dies", &dying, json!({}));
    assert_eq!(status, 502, "{error}");
    assert!(error.contains("exit code 7"), "{error}");
    assert!(
        error.contains("dsdl-test-container"),
        "its last output is quoted: {error}"
    );
    assert!(bed.containers().is_empty(), "no leaked container");
    assert!(!records().contains(&"m_dies".to_string()), "no record");

    // DEV needs a Jupyter password; without one nothing starts.
    admin_request(
        &bed.s,
        "DELETE",
        "/servicesNS/nobody/dsdl_handler/storage/passwords/dsdl_docker:jupyter_passwd:?output_mode=json",
        &[],
    );
    let r = bed.start("m_dev", &name, "DEV");
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(first_message(&body(&r)).contains("Jupyter password"));
    assert!(bed.containers().is_empty());
    // Bad bodies are 400s that change nothing.
    for bad in [
        json!({"payload": {"image": name}}),
        json!({"payload": {"model": "../x", "image": name}}),
        json!({"payload": {"model": "m", "image": name, "mode": "QA"}}),
    ] {
        let r = bed.post("start_container", &bad);
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
    }
    assert!(bed.containers().is_empty());
}

#[test]
fn oom_kills_and_unreadable_logs_are_named() {
    if !require_docker() {
        return;
    }
    let bed = Bed::new("docker-oom", "unix:///var/run/docker.sock", &[]);
    let labels = [
        "--label".to_string(),
        "mltk_container=".to_string(),
        "--label".to_string(),
        format!("com.splunk.mltk/manager-id={}", bed.guard.value),
    ];
    let mut args: Vec<&str> = vec!["run", "-d"];
    args.extend(labels.iter().map(String::as_str));
    let hog_image = common::docker::mem_hog_image();
    let mut hog = args.clone();
    hog.extend(["--memory", "32m", "--memory-swap", "32m", &hog_image]);
    let hog_id = common::docker::docker_ok(&hog);
    let mut mute = args.clone();
    let contract = contract_image();
    mute.extend([
        "--log-driver",
        "none",
        "-e",
        "ENABLE_HTTPS=false",
        &contract,
    ]);
    let mute_id = common::docker::docker_ok(&mute);
    seed_stanza(
        &bed.s,
        "dsdl_container",
        "hog",
        &[("id", &hog_id), ("mode", "PROD"), ("cluster", "docker")],
    );
    seed_stanza(
        &bed.s,
        "dsdl_container",
        "mute",
        &[("id", &mute_id), ("mode", "PROD"), ("cluster", "docker")],
    );

    let st = wait_stopped(&hog_id, Duration::from_secs(30)).expect("killed, not removed");
    assert!(st.oom_killed, "{:?}", st.raw);
    let row = bed.data()["config"]["hog"].clone();
    assert_eq!(row["state"], "oom_killed", "{row}");
    assert_eq!(row["status"], "Inactive");
    assert!(row["state_reason"].as_str().unwrap().contains("memory"));

    let r = bed.post("container_logs", &json!({"model": "mute"}));
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(
        first_message(&body(&r)).contains("logging driver"),
        "{}",
        r.body
    );
}

#[test]
fn lines_longer_than_the_engines_message_size_come_back_whole() {
    if !require_docker() {
        return;
    }
    // json-file splits lines at 16 KiB into several messages, each with its own timestamp.
    let image = common::docker::long_lines_image(4, 40_000);
    let (bed, name) = local_bed("docker-long", &image);
    let r = bed.start("longwinded", &name, "PROD");
    assert_eq!(r.status, 200, "{}", r.body);
    let r = bed.get("container_logs?model=longwinded&tail=50");
    assert_eq!(r.status, 200, "{}", r.body);
    let entries = body(&r)["container_logs"]["entries"]
        .as_array()
        .unwrap()
        .clone();
    let long: Vec<&str> = entries
        .iter()
        .filter_map(|e| e["log"].as_str())
        .filter(|l| l.len() > 16 * 1024)
        .collect();
    assert_eq!(long.len(), 4, "{entries:?}");
    for line in long {
        // The image pads to about 40,000 bytes; a timestamp left inside would add 31 per cut.
        assert!(
            (40_000..40_031).contains(&line.len()),
            "whole lines, no timestamps inside: {}",
            line.len()
        );
        // (A character that json-file's 16 KiB split cuts in half is stored by the engine as
        // U+FFFD already; nothing after it can bring the bytes back.)
        assert!(line.starts_with("line "), "{}", &line[..40]);
        assert!(!line.contains("Z "), "no engine timestamp inside a line");
    }
}

#[test]
fn a_container_the_record_names_is_never_left_behind() {
    if !require_docker() {
        return;
    }
    let image = contract_image();
    let (bed, name) = local_bed("docker-legacy", &image);
    // A container the AI Toolkit started (its labels, no manager id), recorded for a model.
    let legacy = bed.guard.run(&[
        "--label",
        "mltk_container=",
        "--label",
        "mltk_model=legacy1",
        "-e",
        "ENABLE_HTTPS=false",
        &image,
    ]);
    seed_stanza(
        &bed.s,
        "dsdl_container",
        "legacy1",
        &[("id", &legacy), ("mode", "PROD"), ("cluster", "docker")],
    );
    // Starting the model would leave it running unrecorded: refused.
    let r = bed.start("legacy1", &name, "PROD");
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(
        first_message(&body(&r)).contains("stop it first"),
        "{}",
        r.body
    );
    // Stopping the model stops it (it is the recorded one).
    let r = bed.stop("legacy1");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(body(&r)["stopped_container"]["changed"], true);
    assert!(inspect_state(&legacy).is_none());

    // DELETE start_container/{model} deletes the MLTK model: refused while its container runs,
    // and with force=true the container is stopped first, then the model and the record go.
    let r = bed.start("forced", &name, "PROD");
    assert_eq!(r.status, 200, "{}", r.body);
    let id = started_id(&r);
    let model = seed_model(&bed.s, None, "search", "forced");
    let r = admin_request(
        &bed.s,
        "DELETE",
        "/services/mltk/start_container/forced?output_mode=json",
        &[],
    );
    assert_eq!(r.status, 409, "running: refused without force: {}", r.body);
    assert!(model.is_file());
    assert_eq!(
        inspect_state(&id).map(|s| s.status),
        Some("running".to_string())
    );
    let r = admin_request(
        &bed.s,
        "DELETE",
        "/services/mltk/start_container/forced?output_mode=json&force=true",
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(body(&r)["message"], "Model deleted successfully");
    assert_eq!(body(&r)["delete_data"]["record"], "deleted");
    assert!(inspect_state(&id).is_none(), "force stopped and removed it");
    assert!(!model.exists(), "the model file is gone");
    assert!(bed.data()["config"].get("forced").is_none());

    // Without the model, a forced delete is a 404 that stops nothing.
    let r = bed.start("nomodel", &name, "PROD");
    assert_eq!(r.status, 200, "{}", r.body);
    let id = started_id(&r);
    let r = admin_request(
        &bed.s,
        "DELETE",
        "/services/mltk/start_container/nomodel?output_mode=json&force=true",
        &[],
    );
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(
        inspect_state(&id).map(|s| s.status),
        Some("running".to_string()),
        "nothing stopped for a model that is not there"
    );
    assert!(bed.data()["config"].get("nomodel").is_some(), "record kept");
}

#[test]
fn containers_that_ignore_sigterm_are_stopped_within_the_grace_period() {
    if !require_docker() {
        return;
    }
    let image = common::docker::stubborn_image();
    let (bed, name) = local_bed("docker-stubborn", &image);
    // The grace period before SIGKILL (the stop endpoint's), plus a few seconds of engine work.
    let bound = Duration::from_secs(10 + 8);

    // POST stop_container.
    let r = bed.start("stubborn1", &name, "PROD");
    assert_eq!(r.status, 200, "{}", r.body);
    let id = started_id(&r);
    let t = Instant::now();
    let r = bed.stop("stubborn1");
    let took = t.elapsed();
    assert_eq!(
        r.status, 200,
        "stop of a SIGTERM-deaf container: {}",
        r.body
    );
    assert!(took < bound, "stop took {took:?}");
    assert!(
        took >= Duration::from_secs(9),
        "the container really ignored SIGTERM (stop took {took:?})"
    );
    assert!(inspect_state(&id).is_none(), "stopped and removed");
    assert!(
        bed.data()["config"].get("stubborn1").is_none(),
        "record gone"
    );

    // DELETE start_container/{model}?force=true stops it first.
    let r = bed.start("stubborn2", &name, "PROD");
    assert_eq!(r.status, 200, "{}", r.body);
    let id = started_id(&r);
    let model = seed_model(&bed.s, None, "search", "stubborn2");
    let t = Instant::now();
    let r = admin_request(
        &bed.s,
        "DELETE",
        "/services/mltk/start_container/stubborn2?output_mode=json&force=true",
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(t.elapsed() < bound, "forced delete took {:?}", t.elapsed());
    assert!(inspect_state(&id).is_none(), "force stopped and removed it");
    assert!(!model.exists(), "the model file is gone");

    // Deleting the connection while it runs: refused at once without force, and with force
    // the container is left running (said so), never half-stopped.
    let r = bed.start("stubborn3", &name, "PROD");
    assert_eq!(r.status, 200, "{}", r.body);
    let id = started_id(&r);
    let conn = "/services/mltk/container_connection/docker/local%20engine?output_mode=json";
    let r = admin_request(&bed.s, "DELETE", conn, &[]);
    assert_eq!(r.status, 409, "{}", r.body);
    let r = admin_request(&bed.s, "DELETE", &format!("{conn}&force=true"), &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("keep running"), "{}", r.body);
    assert_eq!(
        inspect_state(&id).map(|s| s.status),
        Some("running".to_string())
    );
    // The guard removes it (SIGKILL) when the test ends.
    let _ = bed.guard.containers();
}

#[test]
fn a_stop_during_a_start_makes_the_start_a_conflict() {
    if !require_docker() {
        return;
    }
    let image = common::docker::never_ready_image();
    let (bed, name) = local_bed("docker-stop-race", &image);
    let starter = {
        let s_url = bed.s.url.clone();
        let basic = bed.s.basic();
        let name = name.clone();
        std::thread::spawn(move || {
            let body = json!({"payload": {"model": "raced", "image": name, "mode": "PROD",
                                          "wait_seconds": "30"}});
            common::devserver::curl(
                &[
                    "-u",
                    &basic,
                    "-X",
                    "POST",
                    "-H",
                    "Content-Type: application/json",
                    "--data-binary",
                    &body.to_string(),
                    &format!("{s_url}{MLTK}/start_container?output_mode=json"),
                ],
                &[],
            )
        })
    };
    // Wait until the start has its container running, then stop the model.
    let deadline = Instant::now() + Duration::from_secs(20);
    while bed.containers().is_empty() {
        assert!(Instant::now() < deadline, "the start made no container");
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(500));
    let r = bed.stop("raced");
    assert_eq!(r.status, 200, "{}", r.body);
    let r = starter.join().expect("start thread");
    assert_eq!(
        r.status, 409,
        "a start stopped by another request: {}",
        r.body
    );
    assert!(
        first_message(&body(&r)).contains("stop"),
        "says it was stopped: {}",
        r.body
    );
    assert!(bed.containers().is_empty(), "nothing left behind");
    assert!(bed.data()["config"].get("raced").is_none(), "no record");
}

#[test]
fn containers_without_dsdl_labels_are_never_read_stopped_or_removed() {
    if !require_docker() {
        return;
    }
    let image = contract_image();
    let (bed, name) = local_bed("docker-foreign", &image);
    // Somebody else's container on the same engine: only the test's cleanup label.
    let foreign = bed.guard.run(&[
        "--name",
        &format!("foreign-{}", bed.guard.value),
        "-e",
        "ENABLE_HTTPS=false",
        &image,
    ]);
    // One of ours, to be named by a short id.
    let r = bed.start("ours", &name, "PROD");
    assert_eq!(r.status, 200, "{}", r.body);
    let ours = started_id(&r);

    let names_foreign = [
        ("by-id", foreign.clone()),
        ("by-name", format!("foreign-{}", bed.guard.value)),
        ("by-prefix", foreign[..12].to_string()),
    ];
    for (model, id) in names_foreign
        .iter()
        .map(|(m, id)| (m.to_string(), id.clone()))
        .chain([("short-ours".to_string(), ours[..12].to_string())])
    {
        seed_stanza(
            &bed.s,
            "dsdl_container",
            &model,
            &[("id", &id), ("mode", "PROD"), ("cluster", "docker")],
        );
        let r = bed.post("container_logs", &json!({"model": model}));
        assert_eq!(r.status, 409, "logs of {model}: {}", r.body);
        assert!(
            !r.body.contains("dsdl-test-container"),
            "nothing of its output: {}",
            r.body
        );
        let r = bed.stop(&model);
        assert_eq!(r.status, 409, "stop of {model}: {}", r.body);
        // The model exists, so the forced delete gets as far as the stop, which refuses.
        let file = seed_model(&bed.s, None, "search", &model);
        let r = admin_request(
            &bed.s,
            "DELETE",
            &format!("/services/mltk/start_container/{model}?output_mode=json&force=true"),
            &[],
        );
        assert_eq!(r.status, 409, "forced delete of {model}: {}", r.body);
        assert!(file.is_file(), "the model of {model} stays");
        let r = bed.start(&model, &name, "PROD");
        assert_eq!(r.status, 409, "start over {model}: {}", r.body);
    }
    for id in [&foreign, &ours] {
        assert_eq!(
            inspect_state(id).map(|s| s.status),
            Some("running".to_string()),
            "{id} untouched"
        );
    }
}

#[test]
fn reserved_names_network_modes_and_wide_ports_are_refused() {
    if !require_docker() {
        return;
    }
    let image = contract_image();
    let (bed, name) = local_bed("docker-reserved", &image);

    // [default] would be merged into every record: refused in every spelling and endpoint.
    for model in ["default", "DEFAULT", "Default", "_new"] {
        let r = bed.start(model, &name, "PROD");
        assert_eq!(r.status, 400, "start {model}: {}", r.body);
        assert!(first_message(&body(&r)).contains("reserved"), "{}", r.body);
        let r = bed.stop(model);
        assert_eq!(r.status, 400, "stop {model}: {}", r.body);
    }
    assert!(bed.containers().is_empty());
    assert!(bed.data()["config"].get("default").is_none());

    // Network modes are not networks: refused at save, and at start when written by hand.
    for net in ["host", "none", "container:abc", "HOST"] {
        let r = bed.post(
            "container_connection",
            &json!({"container_type": "docker", "connection_name": "local engine",
                    "is_edit": "true", "docker_network": net}),
        );
        assert_eq!(r.status, 400, "save docker_network={net}: {}", r.body);
        assert!(r.body.contains("docker_network"), "{}", r.body);
    }
    common::devserver::update_stanza(
        &bed.s,
        "container_connections",
        "docker",
        &[("docker_network", "host")],
    );
    let r = bed.start("ports1", &name, "PROD");
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        first_message(&body(&r)).contains("network mode"),
        "{}",
        r.body
    );
    assert!(bed.containers().is_empty(), "nothing created");
    common::devserver::update_stanza(
        &bed.s,
        "container_connections",
        "docker",
        &[("docker_network", "")],
    );

    // Containers reached on localhost only are published on loopback only.
    let host_ips = |id: &str| {
        let out = docker_ok(&[
            "inspect",
            "--format",
            "{{range $p, $b := .HostConfig.PortBindings}}{{range $b}}[{{.HostIp}}]{{end}}{{end}}",
            id,
        ]);
        out.trim().to_string()
    };
    let r = bed.start("ports1", &name, "DEV");
    assert_eq!(r.status, 200, "{}", r.body);
    let id = started_id(&r);
    assert_eq!(
        host_ips(&id),
        "[127.0.0.1]".repeat(5),
        "DEV ports on loopback"
    );
    assert!(
        body(&r)["updated_config"]["api_url"]
            .as_str()
            .unwrap_or_default()
            .contains("localhost")
    );
    assert_eq!(bed.stop("ports1").status, 200);
    // With an external host name for users, the ports are published for them.
    common::devserver::update_stanza(
        &bed.s,
        "container_connections",
        "docker",
        &[("endpoint_hostname_external", "dsdl.example.com")],
    );
    let r = bed.start("ports2", &name, "PROD");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(host_ips(&started_id(&r)), "[]", "every interface");
}

/// Peak resident memory (VmHWM, in MB) of the biggest driver process under `s`.
fn driver_peak_mb(s: &DevServer) -> f64 {
    s.drivers()
        .into_iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
        .filter_map(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        })
        .fold(0.0, f64::max)
        / 1024.0
}

#[test]
fn an_engine_that_floods_the_logs_keeps_the_driver_small() {
    use common::flood_engine::FloodEngine;
    // Driver memory stays under this whatever the engine sends (the reply holds at most 8 MB).
    const PEAK_MB: f64 = 64.0;
    let cases = [
        // 150 MB of short lines for tail=10.
        ("tail10", 1_500_000, 100, 10),
        // 4,000 lines of 65 kB for tail=4000: more than a reply holds.
        ("long", 4_000, 65_000, 4_000),
        // The largest tail of the longest lines (655 MB): more than the read's time limit
        // allows on a slow build; what was read is answered, never a 504.
        ("largest", 10_000, 65_536, 10_000),
    ];
    for (tag, lines, line_bytes, tail) in cases {
        let engine = FloodEngine::start(lines, line_bytes);
        let bed = Bed::new(&format!("docker-flood-{tag}"), &engine.url(), &[]);
        common::flood_engine::seed_record(&bed.s, "flood");
        let r = bed.post("container_logs", &json!({"model": "flood", "tail": tail}));
        assert_eq!(
            r.status,
            200,
            "{tag}: {}",
            &r.body[..r.body.len().min(2000)]
        );
        let v = body(&r);
        let entries = v["container_logs"]["entries"].as_array().expect("entries");
        assert!(
            !entries.is_empty() && entries.len() <= tail,
            "{tag}: {}",
            entries.len()
        );
        assert!(
            r.body.len() < 10 * 1024 * 1024,
            "{tag}: reply {} bytes",
            r.body.len()
        );
        let peak = driver_peak_mb(&bed.s);
        eprintln!(
            "{tag}: driver peak {peak:.1} MB, reply {} bytes",
            r.body.len()
        );
        assert!(
            peak > 0.0 && peak < PEAK_MB,
            "{tag}: driver peak {peak:.1} MB"
        );
        match tag {
            "tail10" => assert!(
                v["messages"].to_string().contains("far more than"),
                "the flood is said: {}",
                v["messages"]
            ),
            "long" => {
                assert_eq!(v["container_logs"]["truncated"], true);
                let last = entries.last().and_then(|e| e["log"].as_str()).unwrap_or("");
                assert!(
                    last.starts_with("flood 0000003999"),
                    "newest kept: {last:.40}"
                );
            }
            _ => {
                assert_eq!(v["container_logs"]["truncated"], true);
                let last = entries.last().and_then(|e| e["log"].as_str()).unwrap_or("");
                let complete = last.starts_with("flood 0000009999");
                let said = v["messages"].to_string().contains("stopped after");
                assert!(complete || said, "all read, or the cut is said: {last:.40}");
            }
        }
    }
}

/// An Atom feed read by Splunk's Python SDK (`tests/python/rest_atom_entries.py`), as `| rest`
/// reads it: `{"total", "messages", "entries": {title: content}}`.
fn atom_entries(xml: &str) -> Value {
    use std::io::Write;
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/rest_atom_entries.py");
    let mut child = std::process::Command::new("python3")
        .arg(&script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 with splunk-sdk (scripts/test.sh installs it)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(xml.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}\n{xml}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The audit file's events, one JSON object per line.
fn audit_events(s: &DevServer) -> Vec<Value> {
    let path = s.home.join("var/log/splunk/dsdl_handler_audit.log");
    std::fs::read_to_string(&path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn live_state_reads_as_a_splunk_collection_and_every_change_is_audited() {
    if !require_docker() {
        return;
    }
    let (ok_image, crash_image) = (contract_image(), crasher_image());
    const TOKEN: &str = "rest-token-0123456789";
    let bed = Bed::with_settings(
        "docker-rest",
        &[("ok", ok_image.clone()), ("crash", crash_image.clone())],
        json!({"api_token": TOKEN}),
    );
    let (ok, crash) = (catalog_entry(&ok_image).1, catalog_entry(&crash_image).1);
    assert_eq!(bed.start("alpha", &ok, "PROD").status, 200);
    let r = bed.start("doomed", &crash, "PROD");
    assert_eq!(r.status, 200, "{}", r.body);
    wait_stopped(&started_id(&r), Duration::from_secs(20)).expect("the crasher exits");
    assert_eq!(bed.start("../x", &ok, "PROD").status, 400);

    // `| rest /servicesNS/-/dsdl_handler/mltk/containers`: Atom, read by splunklib's parser.
    let r = admin_request(
        &bed.s,
        "GET",
        "/servicesNS/-/dsdl_handler/mltk/containers",
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.starts_with("<?xml"), "{}", r.body);
    let feed = atom_entries(&r.body);
    // The two models and the shipped record of the shared DEV container.
    assert_eq!(feed["total"], 3, "{feed}");
    assert_eq!(feed["entries"]["__dev__"]["state"], "stopped", "{feed}");
    let alpha = &feed["entries"]["alpha"];
    assert_eq!(alpha["phase"], "ready", "{feed}");
    assert_eq!(alpha["status"], "Active");
    assert_eq!(alpha["state"], "running");
    assert!(
        alpha["api_url"].as_str().unwrap().starts_with("http"),
        "{alpha}"
    );
    let doomed = &feed["entries"]["doomed"];
    assert_eq!(doomed["phase"], "failed", "{feed}");
    assert_eq!(doomed["exit_code"], "3");
    assert!(
        doomed["reason"].as_str().unwrap().contains("code 3"),
        "{doomed}"
    );
    for secret in ["api_token", TOKEN, JUPYTER_PASSWORD] {
        assert!(!r.body.contains(secret), "{secret}: {}", r.body);
    }

    // An alert on failed containers is one search; paging as splunkd's lists.
    let list = |query: &str| {
        let r = bed.get(&format!("containers?{query}"));
        assert_eq!(r.status, 200, "{}", r.body);
        let v = body(&r);
        let names: Vec<String> = v["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap().to_string())
            .collect();
        (names, v["paging"].clone())
    };
    let (names, paging) = list("search=phase%3Dfailed");
    assert_eq!(names, ["doomed"]);
    assert_eq!(paging["total"], 1);
    let (names, paging) = list("count=1&offset=1");
    assert_eq!(names, ["alpha"]);
    assert_eq!(
        (paging["total"].clone(), paging["offset"].clone()),
        (json!(3), json!(1))
    );
    assert_eq!(bed.get("containers?count=x").status, 400);
    let r = bed.get("containers/alpha");
    assert_eq!(r.status, 200, "{}", r.body);
    let v = body(&r);
    assert_eq!(v["entry"][0]["name"], "alpha");
    assert_eq!(v["entry"][0]["content"]["phase"], "ready");
    assert!(
        v["entry"][0]["id"]
            .as_str()
            .unwrap()
            .ends_with("/mltk/containers/alpha"),
        "{v}"
    );
    assert_eq!(bed.get("containers/nobody-here").status, 404);

    assert_eq!(bed.stop("alpha").status, 200);

    // One audit event per mutating call, failures included; never a secret.
    let events = audit_events(&bed.s);
    let actions: Vec<(&str, &str, u64)> = events
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["model"]
                    .as_str()
                    .or(e["connection"].as_str())
                    .unwrap_or(""),
                e["status"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("save_connection", "docker/local engine", 200),
            ("start_container", "alpha", 200),
            ("start_container", "doomed", 200),
            ("start_container", "../x", 400),
            ("stop_container", "alpha", 200),
        ],
        "{events:?}"
    );
    let start = &events[1];
    assert_eq!(start["user"], "admin");
    assert!(
        start["roles"].as_array().unwrap().contains(&json!("admin")),
        "{start}"
    );
    assert_eq!(start["src_ip"], "127.0.0.1");
    assert_eq!(start["outcome"], "success");
    assert_eq!(start["changes"]["changed"], true);
    assert!(
        start["changes"]["container_id"].as_str().is_some(),
        "{start}"
    );
    assert_eq!(events[3]["outcome"], "failure");
    assert!(events[3]["error"].as_str().is_some(), "{}", events[3]);
    assert_eq!(events[4]["changes"]["changed"], true, "{}", events[4]);
    let ids: std::collections::HashSet<&str> = events
        .iter()
        .map(|e| e["request_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), events.len(), "request ids are unique");
    assert!(
        events[0]["changes"]["keys"]
            .as_array()
            .unwrap()
            .contains(&json!("jupyter_passwd")),
        "the secret's name, never its value: {}",
        events[0]
    );
    let text =
        std::fs::read_to_string(bed.s.home.join("var/log/splunk/dsdl_handler_audit.log")).unwrap();
    for secret in [TOKEN, JUPYTER_PASSWORD] {
        assert!(!text.contains(secret), "{secret}: {text}");
    }
}
