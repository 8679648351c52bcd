//! Benchmarks of the Docker runtime against the local engine (issue 4, item 7), through a release
//! `splunkd-dev` and the real driver, with the test images `tests/common/docker.rs` builds locally.
//! Figures are printed, not asserted: the design's budgets ("Budgets" in DESIGN.md) are checked
//! by reading them.
//!
//! 1. `POST start_container` (PROD, `wait_seconds: "0"`) reply time against Docker's own
//!    create+start of the same create body (as `container_body` builds it: the same port
//!    publishing and volumes) straight through bollard; the difference is the handler's
//!    overhead, also seen in a start of a model that already runs. A few starts with the
//!    default wait show how long readiness takes on top.
//! 2. `GET container_data` with 200 records, 50 of them dead: 150 name 10 running contract
//!    containers (probed concurrently), 50 name 5 exited ones; then the same with the 50 dead
//!    containers removed (missing).
//! 3. `POST container_logs` (tail 1000) of a container that has written 1 GB (json-file), with
//!    the peak memory (VmHWM) of the one driver process that served it.
//! 4. The driver's peak memory for the largest logs replies, from an engine stand-in that
//!    floods (`tests/common/flood_engine.rs`): 150 MB of lines for tail 10, 4,000 lines of 65 kB
//!    for tail 4000, and 10,000 lines of 64 KiB for tail 10,000 (the most a reply can ask for).
//!
//! `cargo bench --bench docker`. Environment: `BENCH_DOCKER_STARTS` (10),
//! `BENCH_DOCKER_READY_STARTS` (3), `BENCH_DOCKER_DATA_GETS` (20), `BENCH_LOG_BYTES`
//! (1073741824; 0 skips part 3), `BENCH_LOG_TAILS` (5). Skips (exit 0) when the engine does not
//! answer at /var/run/docker.sock or `DSDL_SKIP_DOCKER_TESTS=1`. Every container it creates
//! carries its splunkd-dev's manager id or its own test label and is removed at the end.

#[path = "../tests/common/mod.rs"]
mod common;

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig, PortBinding};
use bollard::query_parameters::{CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder};
use common::devserver::{DevServer, seed_stanza};
use common::docker::{
    LabelGuard, MANAGER_ID_LABEL, TEST_LABEL, TcpDockerProxy, bulk_log_image, catalog_entry,
    contract_image, docker, docker_available, docker_ok, host_port, variant_image, wait_stopped,
};
use dsdl_handler::runtime::plan::VOLUMES;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

const MLTK: &str = "/services/mltk";
/// The token every container of the bench serves with (stored as the connection's api_token).
const TOKEN: &str = "bench-docker-api-token-0123456789abcdef";
const JUPYTER_PASSWORD: &str = "Bench-jupyter-pw1";

fn main() {
    if std::env::var("DSDL_SKIP_DOCKER_TESTS").as_deref() == Ok("1") {
        println!("bench docker: skipped (DSDL_SKIP_DOCKER_TESTS=1)");
        return;
    }
    if !docker_available() {
        println!(
            "bench docker: skipped: the Docker engine does not answer at /var/run/docker.sock \
             through /usr/bin/docker (start it with scripts/start-docker.sh)"
        );
        return;
    }
    let started = Instant::now();
    machine_context();

    let t = Instant::now();
    let contract = contract_image();
    let exit_now = variant_image("exit-now", &[("DSDL_TEST_EXIT_AFTER", "0")]);
    println!(
        "test images ready in {:.1} s: {contract}, {exit_now}",
        t.elapsed().as_secs_f64()
    );

    let bed = Bed::new("bench-docker", &["--pool", "2"], &[("contract", &contract)]);
    start_latency(&bed, &contract);
    container_data(&bed, &contract, &exit_now);
    drop(bed);

    let log_bytes = env_u64("BENCH_LOG_BYTES", 1 << 30);
    if log_bytes > 0 {
        logs_tail(log_bytes);
    } else {
        println!("\n== 3. logs tail: skipped (BENCH_LOG_BYTES=0)");
    }
    logs_flood();
    println!(
        "\nbench docker: done in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

// ---------------------------------------------------------------------------------------------
// Setup
// ---------------------------------------------------------------------------------------------

/// A splunkd-dev with a saved docker connection (token [`TOKEN`]) and a catalog; the guard
/// (its value is the instance guid, the manager id of the containers the handler starts)
/// removes every container labelled with it when dropped.
struct Bed {
    s: DevServer,
    guard: LabelGuard,
    scratch: PathBuf,
}

impl Bed {
    fn new(tag: &str, args: &[&str], images: &[(&str, &str)]) -> Bed {
        Self::on(tag, args, images, "unix:///var/run/docker.sock")
    }

    fn on(tag: &str, args: &[&str], images: &[(&str, &str)], docker_url: &str) -> Bed {
        let mut all = vec!["--idle-timeout", "900"];
        all.extend_from_slice(args);
        let s = DevServer::start(tag, &all);
        let guard = LabelGuard { value: s.guid() };
        let scratch = s.home.join("bench-scratch");
        std::fs::create_dir_all(&scratch).expect("scratch directory");
        let bed = Bed { s, guard, scratch };
        let r = bed.post(
            "container_connection",
            &json!({
                "container_type": "docker",
                "connection_name": "local engine",
                "docker_url": docker_url,
                "jupyter_passwd": JUPYTER_PASSWORD,
                "api_token": TOKEN,
            }),
        );
        assert_eq!(r.status, 200, "saving the connection: {}", r.body);
        for (key, image) in images {
            common::docker::offer_image(&bed.s, key, image);
        }
        bed
    }

    /// `method` on `/services/mltk/<endpoint>` as admin, timed by curl (`time_total`, without
    /// curl's own start-up).
    fn call(&self, method: &str, endpoint: &str, body: Option<&Value>) -> Reply {
        let sep = if endpoint.contains('?') { '&' } else { '?' };
        let url = format!("{}{MLTK}/{endpoint}{sep}output_mode=json", self.s.url);
        let out_file = self.scratch.join("reply");
        let mut cmd = Command::new("curl");
        cmd.args(["-s", "-S", "--max-time", "300", "-u", &self.s.basic()])
            .args(["-X", method, "-o"])
            .arg(&out_file)
            .args(["-w", "%{http_code} %{time_total} %{size_download}"]);
        let text;
        if let Some(b) = body {
            text = b.to_string();
            cmd.args([
                "-H",
                "Content-Type: application/json",
                "--data-binary",
                &text,
            ]);
        }
        let out = cmd.arg(&url).output().expect("curl must be installed");
        let w = String::from_utf8_lossy(&out.stdout).to_string();
        let mut parts = w.split_whitespace();
        let status = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        let secs: f64 = parts
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(f64::NAN);
        let bytes = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        Reply {
            status,
            secs,
            bytes,
            body: std::fs::read_to_string(&out_file).unwrap_or_default(),
        }
    }

    fn post(&self, endpoint: &str, body: &Value) -> Reply {
        self.call("POST", endpoint, Some(body))
    }

    fn start(&self, model: &str, image: &str, wait: Option<&str>) -> Reply {
        let mut payload = json!({"model": model, "image": image, "mode": "PROD"});
        if let Some(w) = wait {
            payload["wait_seconds"] = json!(w);
        }
        self.post("start_container", &json!({ "payload": payload }))
    }

    fn stop(&self, model: &str) -> Reply {
        self.post("stop_container", &json!({"payload": {"model": model}}))
    }
}

struct Reply {
    status: u16,
    secs: f64,
    bytes: u64,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", excerpt(&self.body)))
    }

    /// Panics with the reply unless the status is 200.
    fn ok(self, what: &str) -> Reply {
        assert_eq!(self.status, 200, "{what}: {}", excerpt(&self.body));
        self
    }
}

fn excerpt(s: &str) -> &str {
    let mut end = s.len().min(2000);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a whole number")),
        _ => default,
    }
}

fn machine_context() {
    let sh = |cmd: &str, args: &[&str]| -> String {
        Command::new(cmd)
            .args(args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_default();
    let mem = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:").map(|v| v.trim().to_string()))
        .unwrap_or_default();
    println!("== machine");
    println!(
        "nproc {}; {cpu}; MemTotal {mem}; {}",
        sh("nproc", &[]),
        sh("uname", &["-sr"])
    );
    println!(
        "docker: {}",
        docker_ok(&[
            "version",
            "--format",
            "client {{.Client.Version}}, engine {{.Server.Version}} (API {{.Server.APIVersion}})"
        ])
    );
    println!(
        "docker info: {}",
        docker_ok(&[
            "info",
            "--format",
            "storage {{.Driver}}, logging {{.LoggingDriver}}, cgroup v{{.CgroupVersion}}, {{.Containers}} containers"
        ])
    );
}

// ---------------------------------------------------------------------------------------------
// Figures
// ---------------------------------------------------------------------------------------------

/// Nearest-rank percentile of seconds.
fn pct(samples: &[f64], p: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    let mut v = samples.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

fn max(samples: &[f64]) -> f64 {
    pct(samples, 100.0)
}

fn ms(secs: f64) -> String {
    format!("{:.1} ms", secs * 1000.0)
}

fn within(value: f64, budget: f64) -> &'static str {
    if value < budget { "within" } else { "OVER" }
}

// ---------------------------------------------------------------------------------------------
// 1. Start-to-reply latency against Docker's own create+start
// ---------------------------------------------------------------------------------------------

fn start_latency(bed: &Bed, image: &str) {
    let n = env_u64("BENCH_DOCKER_STARTS", 10) as usize;
    let ready_n = env_u64("BENCH_DOCKER_READY_STARTS", 3) as usize;
    println!(
        "\n== 1. start_container (PROD, wait_seconds 0) vs Docker's own create+start, {n} cycles"
    );
    let part = Instant::now();
    let (_, name) = catalog_entry(image);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let engine =
        Docker::connect_with_unix("/var/run/docker.sock", 120, bollard::API_DEFAULT_VERSION)
            .expect("bollard client");
    let own = LabelGuard::new("bench-direct");
    // The create body the handler sends for a PROD container (container_body in
    // src/runtime/docker/mod.rs: the API port published on a port the engine picks, the
    // app's named volumes), with this bench's test label instead of the handler's labels.
    let body = || ContainerCreateBody {
        image: Some(image.to_string()),
        env: Some(vec![
            format!("api_token={TOKEN}"),
            "ENABLE_HTTPS=false".into(),
            "MODE_DEV_PROD=PROD".into(),
        ]),
        labels: Some(HashMap::from([(TEST_LABEL.to_string(), own.value.clone())])),
        exposed_ports: Some(vec!["5000/tcp".to_string()]),
        host_config: Some(HostConfig {
            port_bindings: Some(HashMap::from([(
                "5000/tcp".to_string(),
                Some(vec![PortBinding {
                    host_ip: None,
                    host_port: Some(String::new()),
                }]),
            )])),
            binds: Some(
                VOLUMES
                    .iter()
                    .map(|(v, path, ro)| format!("{v}:{path}:{}", if *ro { "ro" } else { "rw" }))
                    .collect(),
            ),
            ..Default::default()
        }),
        ..Default::default()
    };

    let mut handler_start = Vec::new();
    let mut handler_stop = Vec::new();
    let mut phases: BTreeMap<String, usize> = BTreeMap::new();
    let mut direct = Vec::new();
    let mut direct_rm = Vec::new();
    // Warm-up (first conf reads, volumes created, image layers cached), not counted.
    let warm = bed
        .start("bench_start", &name, Some("0"))
        .ok("warm-up start");
    bed.stop("bench_start").ok("warm-up stop");
    println!("warm-up start (not counted): {}", ms(warm.secs));
    for i in 0..n {
        // Interleaved, so drift of the machine hits both the same way.
        let r = bed.start("bench_start", &name, Some("0")).ok("start");
        handler_start.push(r.secs);
        let phase = r.json()["updated_config"]["phase"]
            .as_str()
            .unwrap_or("?")
            .to_string();
        *phases.entry(phase).or_default() += 1;
        let r = bed.stop("bench_start").ok("stop");
        handler_stop.push(r.secs);

        let body = body();
        let name = format!("dsdl-bench-direct-{}-{i}", std::process::id());
        let (create_start, rm) = rt.block_on(async {
            let t = Instant::now();
            let created = engine
                .create_container(
                    Some(CreateContainerOptionsBuilder::default().name(&name).build()),
                    body,
                )
                .await
                .expect("docker create");
            engine
                .start_container(&created.id, None)
                .await
                .expect("docker start");
            let create_start = t.elapsed().as_secs_f64();
            let t = Instant::now();
            engine
                .remove_container(
                    &created.id,
                    Some(RemoveContainerOptionsBuilder::default().force(true).build()),
                )
                .await
                .expect("docker rm -f");
            (create_start, t.elapsed().as_secs_f64())
        });
        direct.push(create_start);
        direct_rm.push(rm);
    }
    let (h50, d50) = (pct(&handler_start, 50.0), pct(&direct, 50.0));
    println!(
        "handler start reply:      median {}  p90 {}  max {}",
        ms(h50),
        ms(pct(&handler_start, 90.0)),
        ms(max(&handler_start))
    );
    println!(
        "docker create+start:      median {}  p90 {}  max {}  (bollard, same create body)",
        ms(d50),
        ms(pct(&direct, 90.0)),
        ms(max(&direct))
    );
    // Docker's own time varies by tens of milliseconds from one start to the next, so the
    // difference of medians is noisy; the paired differences (same cycle) give its spread.
    let diffs: Vec<f64> = handler_start
        .iter()
        .zip(&direct)
        .map(|(h, d)| h - d)
        .collect();
    let mean = diffs.iter().sum::<f64>() / diffs.len().max(1) as f64;
    let sd = (diffs.iter().map(|d| (d - mean).powi(2)).sum::<f64>()
        / (diffs.len().max(2) - 1) as f64)
        .sqrt();
    println!(
        "handler overhead:         {} (start median minus create+start median); paired per \
         cycle: median {}, mean {} +- {} (standard error)",
        ms(h50 - d50),
        ms(pct(&diffs, 50.0)),
        ms(mean),
        ms(sd / (diffs.len().max(1) as f64).sqrt())
    );
    println!("phases of the wait_seconds 0 replies: {phases:?} (ready = the single probe passed)");
    println!(
        "handler stop reply:       median {}  p90 {};  docker rm -f median {}",
        ms(pct(&handler_stop, 50.0)),
        ms(pct(&handler_stop, 90.0)),
        ms(pct(&direct_rm, 50.0))
    );

    // The handler's fixed cost without Docker's create+start: a start of a model that already
    // runs with the same spec (conf and password reads, inspect, one probe, no write).
    let r = bed.start("bench_again", &name, Some("0")).ok("start");
    let mut again = Vec::new();
    for _ in 0..n {
        let r = bed.start("bench_again", &name, Some("0")).ok("start again");
        assert_eq!(
            r.json()["updated_config"]["changed"],
            false,
            "{}",
            excerpt(&r.body)
        );
        again.push(r.secs);
    }
    bed.stop("bench_again").ok("stop");
    println!(
        "start of a running model (idempotent, no create): median {}  p90 {}  (first start {})",
        ms(pct(&again, 50.0)),
        ms(pct(&again, 90.0)),
        ms(r.secs)
    );

    if ready_n > 0 {
        let mut waited = Vec::new();
        let mut ready = 0;
        for _ in 0..ready_n {
            let r = bed
                .start("bench_ready", &name, None)
                .ok("start (default wait)");
            waited.push(r.secs);
            if r.json()["updated_config"]["phase"] == "ready" {
                ready += 1;
            }
            bed.stop("bench_ready").ok("stop");
        }
        let w50 = pct(&waited, 50.0);
        println!(
            "default wait (until ready), {ready_n} cycles: median {}  max {}  ({ready}/{ready_n} ready); \
             readiness adds {} over wait_seconds 0",
            ms(w50),
            ms(max(&waited)),
            ms(w50 - h50)
        );
    }
    drop(own);
    println!("(part 1 took {:.1} s)", part.elapsed().as_secs_f64());
}

// ---------------------------------------------------------------------------------------------
// 2. container_data with 200 records, 50 of them dead
// ---------------------------------------------------------------------------------------------

fn container_data(bed: &Bed, contract: &str, exit_now: &str) {
    const RUNNING: usize = 10;
    const EXITED: usize = 5;
    const LIVE_RECORDS: usize = 150;
    const DEAD_RECORDS: usize = 50;
    let gets = env_u64("BENCH_DOCKER_DATA_GETS", 20) as usize;
    println!(
        "\n== 2. GET container_data: {} records ({LIVE_RECORDS} on {RUNNING} running containers, \
         {DEAD_RECORDS} on {EXITED} exited ones), {gets} requests",
        LIVE_RECORDS + DEAD_RECORDS
    );
    let part = Instant::now();
    let guid = &bed.guard.value;
    let labels = [
        "--label".to_string(),
        "mltk_container=".to_string(),
        "--label".to_string(),
        format!("{MANAGER_ID_LABEL}={guid}"),
        "-e".to_string(),
        format!("api_token={TOKEN}"),
        "-e".to_string(),
        "ENABLE_HTTPS=false".to_string(),
    ];
    let run = |image: &str, publish: bool| -> String {
        let mut args: Vec<&str> = labels.iter().map(String::as_str).collect();
        if publish {
            args.extend(["-p", "127.0.0.1::5000"]);
        }
        args.push(image);
        bed.guard.run(&args)
    };
    let (running, exited): (Vec<(String, u16)>, Vec<String>) = std::thread::scope(|sc| {
        let live: Vec<_> = (0..RUNNING)
            .map(|_| {
                sc.spawn(|| {
                    let id = run(contract, true);
                    let port = host_port(&id, 5000).expect("published port");
                    (id, port)
                })
            })
            .collect();
        let dead: Vec<_> = (0..EXITED)
            .map(|_| {
                sc.spawn(|| {
                    let id = run(exit_now, false);
                    wait_stopped(&id, Duration::from_secs(30));
                    id
                })
            })
            .collect();
        (
            live.into_iter().map(|h| h.join().unwrap()).collect(),
            dead.into_iter().map(|h| h.join().unwrap()).collect(),
        )
    });
    println!(
        "started {RUNNING} running and {EXITED} exited containers in {:.1} s",
        part.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    let records: Vec<(String, Vec<(String, String)>)> = (0..LIVE_RECORDS + DEAD_RECORDS)
        .map(|i| {
            let mut keys = vec![
                ("cluster".to_string(), "docker".to_string()),
                ("mode".to_string(), "PROD".to_string()),
                ("image".to_string(), "contract".to_string()),
                ("manager_id".to_string(), guid.clone()),
            ];
            if i < LIVE_RECORDS {
                let (id, port) = &running[i % RUNNING];
                keys.push(("id".into(), id.clone()));
                keys.push(("api_url".into(), format!("http://127.0.0.1:{port}")));
            } else {
                let id = &exited[i % EXITED];
                keys.push(("id".into(), id.clone()));
                keys.push(("api_url".into(), "http://127.0.0.1:9".into()));
            }
            (format!("bench_rec_{i:03}"), keys)
        })
        .collect();
    std::thread::scope(|sc| {
        for chunk in records.chunks(records.len().div_ceil(4)) {
            sc.spawn(move || {
                for (name, keys) in chunk {
                    let keys: Vec<(&str, &str)> =
                        keys.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                    seed_stanza(&bed.s, "dsdl_container", name, &keys);
                }
            });
        }
    });
    println!(
        "seeded {} records through configs/conf-dsdl_container in {:.1} s",
        records.len(),
        t.elapsed().as_secs_f64()
    );

    // The engine is reached through a counting front from here on, to count the engine
    // connections each request opens once the drivers are warm.
    let front = TcpDockerProxy::start();
    let r = bed.post(
        "container_connection",
        &json!({
            "container_type": "docker",
            "connection_name": "local engine",
            "is_edit": true,
            "docker_url": front.url(),
        }),
    );
    assert_eq!(r.status, 200, "re-pointing the connection: {}", r.body);
    let measure = |label: &str| {
        // Warm every driver of the pool (each keeps its own engine connections).
        let mut last = bed.call("GET", "container_data", None).ok("container_data");
        for _ in 0..4 {
            last = bed.call("GET", "container_data", None).ok("container_data");
        }
        let opened_before = front.accepted();
        let mut times = Vec::new();
        for _ in 0..gets {
            last = bed.call("GET", "container_data", None).ok("container_data");
            times.push(last.secs);
        }
        let opened = front.accepted() - opened_before;
        let v = last.json();
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        let mut rows = 0;
        if let Some(config) = v["config"].as_object() {
            for (model, row) in config {
                if model.starts_with("bench_rec_") {
                    rows += 1;
                    let key = format!(
                        "{}/{}",
                        row["status"].as_str().unwrap_or("?"),
                        row["state"].as_str().unwrap_or("?")
                    );
                    *counts.entry(key).or_default() += 1;
                }
            }
        }
        let p50 = pct(&times, 50.0);
        println!(
            "{label}: median {}  p99 {}  max {}  (budget under 2 s: {}); reply {} bytes",
            ms(p50),
            ms(pct(&times, 99.0)),
            ms(max(&times)),
            within(pct(&times, 99.0), 2.0),
            last.bytes
        );
        println!(
            "  engine connections opened after warm-up: {opened} in {gets} requests ({:.2} per \
             request; one per engine call without pooling)",
            opened as f64 / gets.max(1) as f64
        );
        println!(
            "  rows of the bench's {rows} records by status/state: {counts:?}; orphans {}; messages {}",
            v["orphans"].as_array().map_or(0, Vec::len),
            v.get("messages").map_or("none".into(), |m| m.to_string())
        );
    };
    measure("50 dead = exited");

    let mut rm = vec!["rm", "-f"];
    rm.extend(exited.iter().map(String::as_str));
    docker_ok(&rm);
    measure("50 dead = missing (containers removed)");

    let mut rm = vec!["rm", "-f"];
    rm.extend(running.iter().map(|(id, _)| id.as_str()));
    docker_ok(&rm);
    println!("(part 2 took {:.1} s)", part.elapsed().as_secs_f64());
}

// ---------------------------------------------------------------------------------------------
// 3. Logs tail of a container that has written 1 GB
// ---------------------------------------------------------------------------------------------

/// `VmHWM` and `VmRSS` of a process, in kB.
fn memory_kb(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

fn mb(kb: u64) -> String {
    format!("{:.1} MB", kb as f64 / 1024.0)
}

fn logs_tail(bytes: u64) {
    let tails = env_u64("BENCH_LOG_TAILS", 5) as usize;
    println!(
        "\n== 3. POST container_logs tail 1000 of a container that wrote {bytes} bytes, {tails} requests"
    );
    let part = Instant::now();
    let t = Instant::now();
    let image = bulk_log_image(bytes);
    println!("image {image} ready in {:.1} s", t.elapsed().as_secs_f64());
    // One driver serves every request, so its VmHWM is the peak of the log reads.
    let bed = Bed::new("bench-logs", &["--pool", "1"], &[("bulk", &image)]);
    let (_, name) = catalog_entry(&image);
    let t = Instant::now();
    let r = bed
        .start("bench_bulk", &name, Some("0"))
        .ok("start the bulk logger");
    let id = r.json()["updated_config"]["container_id"]
        .as_str()
        .expect("container_id")
        .to_string();
    let drivers = bed.s.drivers();
    println!(
        "started through the handler in {}; driver pids {drivers:?}",
        ms(r.secs)
    );

    // The stdout "done" line comes after every bulk line (the stderr one may overtake them).
    let needle = "dsdl-test-container bulk log done";
    let deadline = Instant::now() + Duration::from_secs(900);
    let done_line = loop {
        let out = docker(&["logs", "--tail", "5", &id]);
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        if let Some(line) = stdout.lines().find(|l| l.contains(needle)) {
            break line.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "the bulk logger did not finish within 900 s: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let wrote = t.elapsed().as_secs_f64();
    let log_path = docker_ok(&["inspect", "--format", "{{.LogPath}}", &id]);
    let on_disk = std::fs::metadata(&log_path).map(|m| m.len()).unwrap_or(0);
    println!(
        "writing took {wrote:.1} s from the start reply to the last line in the engine's log \
         ({:.1} MB/s of output); the container says: {:?}; json-file on disk {:.2} GB",
        bytes as f64 / wrote / 1e6,
        done_line.trim_start_matches(|c: char| !c.is_ascii_alphabetic()),
        on_disk as f64 / 1e9
    );

    let driver = drivers.first().copied();
    let before = driver.map(memory_kb);
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..tails {
        let r = bed
            .post(
                "container_logs",
                &json!({"model": "bench_bulk", "tail": 1000}),
            )
            .ok("container_logs");
        times.push(r.secs);
        last = Some(r);
    }
    let after = driver.map(memory_kb);
    if let Some(r) = &last {
        let v = r.json();
        let entries = v["container_logs"]["entries"]
            .as_array()
            .map_or(0, Vec::len);
        let last_log = v["container_logs"]["entries"]
            .as_array()
            .and_then(|e| e.last())
            .and_then(|e| e["log"].as_str())
            .unwrap_or("");
        println!(
            "container_logs tail 1000: median {}  max {}  (budget under 1 s: {}); reply {} bytes, \
             {entries} entries, the last {:?}",
            ms(pct(&times, 50.0)),
            ms(max(&times)),
            within(max(&times), 1.0),
            r.bytes,
            last_log.chars().take(60).collect::<String>()
        );
    }
    match (driver, before, after) {
        (Some(pid), Some((hwm0, rss0)), Some((hwm1, rss1))) => println!(
            "driver {pid}: VmHWM {} before the log reads, {} after (VmRSS {} -> {}); driver pids \
             now {:?}",
            mb(hwm0),
            mb(hwm1),
            mb(rss0),
            mb(rss1),
            bed.s.drivers()
        ),
        _ => println!("no driver process found under splunkd-dev {}", bed.s.pid()),
    }
    let r = bed.stop("bench_bulk");
    println!(
        "stopped and removed it (status {}, {})",
        r.status,
        ms(r.secs)
    );
    drop(bed);
    println!("(part 3 took {:.1} s)", part.elapsed().as_secs_f64());
}

// ---------------------------------------------------------------------------------------------
// 4. Peak driver memory for the largest logs replies (a flooding engine)
// ---------------------------------------------------------------------------------------------

fn logs_flood() {
    use common::flood_engine::FloodEngine;
    println!("\n== 4. POST container_logs from an engine that floods: driver peak memory");
    for (what, lines, line_bytes, tail) in [
        (
            "150 MB of 100-byte lines for tail 10",
            1_500_000u64,
            100usize,
            10u32,
        ),
        ("4,000 lines of 65 kB for tail 4000", 4_000, 65_000, 4_000),
        (
            "10,000 lines of 64 KiB for tail 10000",
            10_000,
            65_536,
            10_000,
        ),
    ] {
        let engine = FloodEngine::start(lines, line_bytes);
        // One driver serves every request, so its VmHWM is the peak of the log read.
        let bed = Bed::on("bench-flood", &["--pool", "1"], &[], &engine.url());
        common::flood_engine::seed_record(&bed.s, "flood");
        let driver = bed.s.drivers().first().copied();
        let before = driver.map(memory_kb);
        let r = bed.post("container_logs", &json!({"model": "flood", "tail": tail}));
        let after = driver.map(memory_kb);
        let entries = r.json()["container_logs"]["entries"]
            .as_array()
            .map_or(0, Vec::len);
        match (before, after) {
            (Some((hwm0, _)), Some((hwm1, _))) => println!(
                "{what}: status {} in {}, reply {} bytes, {entries} entries; driver VmHWM {} \
                 before, {} after (bound: under 64 MB)",
                r.status,
                ms(r.secs),
                r.bytes,
                mb(hwm0),
                mb(hwm1)
            ),
            _ => println!("{what}: no driver process found (status {})", r.status),
        }
    }
}
