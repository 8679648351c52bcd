//! Benchmark of `GET /services/mltk/container_data` through a real (release) `splunkd-dev`,
//! as a client sees it: for each record count (default 10 and 200) a fresh splunkd-dev is
//! started with its own SPLUNK_HOME in the temp directory, the records are seeded through
//! `configs/conf-dsdl_container`, and then
//! - the splunkd REST calls one request makes are counted from `splunkd_access.log` (the conf
//!   calls the drivers make as `splunk-system-user`), over a number of sequential requests;
//! - requests per second are measured with concurrent clients (keep-alive) for a few seconds,
//!   with the median and p99 latency.
//!
//! Figures are printed, not asserted. `scripts/bench.sh` builds the release binaries and runs
//! this after the driver benchmarks.

use base64::Engine;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::cell::RefCell;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

const USAGE: &str = "usage: bench-records [--splunkd-dev PATH] [--records N,N...] [--clients N] [--seconds S] [--count-requests N] [--tls] [--kubernetes]
Measures GET /services/mltk/container_data and GET /services/mltk/start_container (output_mode=json)
through splunkd-dev.
  --splunkd-dev PATH   the splunkd-dev binary (default: next to this one; release build expected)
  --records N,N...     record counts to measure (default 20,200)
  --tls                splunkd-dev serves HTTPS (the drivers then call it over TLS too)
  --kubernetes         the records are Kubernetes models, each a Deployment and Service on the
                       in-repo fake API server (kube-fake); Kubernetes API calls are counted too
  --clients N          concurrent clients for the throughput run (default 4)
  --seconds S          length of the throughput run (default 5)
  --count-requests N   sequential requests over which REST calls are counted (default 50)";

const ADMIN_PASSWORD: &str = "bench-Admin-Pw1";
/// The polled reads, measured one after the other.
const PATHS: [&str; 2] = [
    "/services/mltk/container_data?output_mode=json",
    "/services/mltk/start_container?output_mode=json",
];

type HttpClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

struct Options {
    splunkd_dev: PathBuf,
    records: Vec<usize>,
    clients: usize,
    seconds: u64,
    count_requests: usize,
    tls: bool,
    kubernetes: bool,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = match parse_args(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("bench-records: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bench-records: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&opts)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-records: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse_args(args: &[String]) -> Result<Options, String> {
    let here = std::env::current_exe().map_err(|e| format!("cannot find myself: {e}"))?;
    let mut o = Options {
        splunkd_dev: here.with_file_name("splunkd-dev"),
        records: vec![20, 200],
        clients: 4,
        seconds: 5,
        count_requests: 50,
        tls: false,
        kubernetes: false,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        let number = |v: &str| {
            v.trim()
                .parse::<usize>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| format!("{flag}: {v:?} is not a positive number"))
        };
        match flag.as_str() {
            "--splunkd-dev" => o.splunkd_dev = PathBuf::from(value()?),
            "--records" => o.records = value()?.split(',').map(number).collect::<Result<_, _>>()?,
            "--clients" => o.clients = number(value()?)?,
            "--seconds" => o.seconds = number(value()?)? as u64,
            "--count-requests" => o.count_requests = number(value()?)?,
            "--tls" => o.tls = true,
            "--kubernetes" => o.kubernetes = true,
            "-h" | "--help" => return Err("help".into()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(o)
}

/// A running splunkd-dev with its own SPLUNK_HOME; stopped and removed when dropped.
struct Server {
    child: Child,
    url: String,
    home: PathBuf,
}

impl Server {
    fn start(program: &Path, tag: &str, pool: usize, tls: bool) -> Result<Server, String> {
        let home =
            std::env::temp_dir().join(format!("dsdl-bench-records-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&home);
        let mut child = Command::new(program)
            .arg("--splunk-home")
            .arg(&home)
            .args(["--port", "0", "--admin-password", ADMIN_PASSWORD])
            .args(["--pool", &pool.to_string()])
            .args(if tls { &["--tls"][..] } else { &[][..] })
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
        let mut line = String::new();
        let read = child
            .stdout
            .take()
            .map(|out| BufReader::new(out).read_line(&mut line));
        let mut server = Server {
            child,
            url: String::new(),
            home,
        };
        if !matches!(read, Some(Ok(n)) if n > 0) {
            return Err("splunkd-dev printed no ready line".into());
        }
        server.url = line
            .strip_prefix("splunkd-dev ready: ")
            .and_then(|rest| rest.split_whitespace().next())
            .ok_or_else(|| format!("unexpected ready line {line:?}"))?
            .to_string();
        Ok(server)
    }

    /// REST calls the drivers made so far with the system token, from splunkd_access.log.
    fn driver_calls(&self) -> usize {
        std::fs::read_to_string(self.home.join("var/log/splunk/splunkd_access.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(" splunk-system-user "))
            .count()
    }

    /// Connections splunkd-dev accepted so far, from splunkd.log.
    fn connections(&self) -> usize {
        std::fs::read_to_string(self.home.join("var/log/splunk/splunkd.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("accepted connection from"))
            .count()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

/// One HTTP request as admin; returns the status and body.
async fn send(
    client: &HttpClient,
    auth: &str,
    method: Method,
    url: &str,
    form: Option<String>,
) -> Result<(StatusCode, Bytes), String> {
    let mut builder = Request::builder()
        .method(method)
        .uri(url)
        .header("Authorization", auth);
    if form.is_some() {
        builder = builder.header("Content-Type", "application/x-www-form-urlencoded");
    }
    let req = builder
        .body(Full::new(Bytes::from(form.unwrap_or_default())))
        .map_err(|e| format!("request: {e}"))?;
    let resp = client
        .request(req)
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("{url}: {e}"))?
        .to_bytes();
    Ok((status, body))
}

/// The figures for one record count and path.
struct Figures {
    records: usize,
    path: &'static str,
    calls_per_request: f64,
    connections_per_request: f64,
    /// Kubernetes API calls per request (with `--kubernetes`).
    api_calls_per_request: Option<f64>,
    requests: usize,
    elapsed: Duration,
    median: Duration,
    p99: Duration,
}

/// A keep-alive client for splunkd-dev, over TLS (its certificate accepted as is) when asked.
fn http_client() -> Result<HttpClient, String> {
    let config = dsdl_handler::tls::client_config(dsdl_handler::tls::Verify::AcceptAny, None)?;
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_or_http()
        .enable_http1()
        .build();
    Ok(Client::builder(TokioExecutor::new()).build(https))
}

async fn measure(o: &Options, records: usize) -> Result<Vec<Figures>, String> {
    let server = Server::start(&o.splunkd_dev, &records.to_string(), o.clients, o.tls)?;
    let client = http_client()?;
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("admin:{ADMIN_PASSWORD}"))
    );
    let seed_url = format!(
        "{}/servicesNS/nobody/dsdl_handler/configs/conf-dsdl_container?output_mode=json",
        server.url
    );
    let cluster = if o.kubernetes {
        Some(kube::seed(&client, &auth, &server.url, records).await?)
    } else {
        None
    };
    for i in 0..records {
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("name", &format!("model_{i:04}"))
            .append_pair("mode", if i % 2 == 0 { "PROD" } else { "DEV" })
            .append_pair(
                "cluster",
                if o.kubernetes { "kubernetes" } else { "docker" },
            )
            .append_pair("image", "mltk-container-golden-cpu:5.2.1")
            .append_pair("id", &record_id(o, i))
            .append_pair("api_url", &record_url(o, i))
            .append_pair("status", "Active")
            .finish();
        let (status, body) = send(&client, &auth, Method::POST, &seed_url, Some(form)).await?;
        if status != StatusCode::CREATED {
            return Err(format!(
                "seeding record {i}: HTTP {status}: {}",
                String::from_utf8_lossy(&body)
            ));
        }
    }
    let url = format!("{}{}", server.url, PATHS[0]);

    // The reply holds every record (and [__dev__]): the benchmark measures the real thing.
    let (status, body) = send(&client, &auth, Method::GET, &url, None).await?;
    let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
    let listed = v["config"].as_object().map(|m| m.len()).unwrap_or(0);
    if status != StatusCode::OK || listed != records + 1 {
        return Err(format!(
            "container_data answered {status} with {listed} records, expected {}",
            records + 1
        ));
    }

    let mut figures = Vec::new();
    for path in PATHS {
        figures
            .push(measure_path(o, &server, cluster.as_ref(), &client, &auth, records, path).await?);
    }
    Ok(figures)
}

/// The API URL record `i` holds. On Kubernetes a closed port: every probe fails at once, so
/// the figures are the driver's and the API server's, not kube-fake's model API answering
/// 200 probes on one thread.
fn record_url(o: &Options, i: usize) -> String {
    if o.kubernetes {
        "http://127.0.0.1:9".to_string()
    } else {
        format!("http://localhost:{}", 30000 + i)
    }
}

/// The id record `i` names: a Docker container id, or the Deployment of model `i`.
fn record_id(o: &Options, i: usize) -> String {
    if o.kubernetes {
        dsdl_handler::names::runtime_name(&format!("model_{i:04}"))
    } else {
        format!("{i:064x}")
    }
}

/// The Kubernetes side: a fake API server with one Deployment and Service per record, and
/// the saved connection to it.
mod kube {
    use super::{HttpClient, send};
    use dsdl_handler::kubefake::authz::Rule;
    use dsdl_handler::kubefake::{KubeFake, Options};
    use dsdl_handler::model::record::Mode;
    use dsdl_handler::runtime::Workload;
    use dsdl_handler::runtime::kubernetes::manifest::{Design, Settings};
    use dsdl_handler::runtime::plan;
    use hyper::{Method, StatusCode};
    use std::collections::BTreeMap;

    const TOKEN: &str = "bench-kube-token";
    const NS: &str = "dsdl";

    /// Starts the fake, makes `records` models on it through its API, saves the connection.
    pub async fn seed(
        client: &HttpClient,
        auth: &str,
        url: &str,
        records: usize,
    ) -> Result<KubeFake, String> {
        let fake = KubeFake::start(Options {
            tokens: vec![(TOKEN.into(), "bench".into())],
            rules: vec![Rule::admin("bench")],
            namespaces: vec![NS.into()],
            ..Options::default()
        })?;
        let b64 = |t: &str| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, t);
        let connection = serde_json::json!({
            "container_type": "kubernetes", "connection_name": "bench", "auth_mode": "user-token",
            "cluster_url": fake.url, "namespace": NS, "user_token": TOKEN,
            "cluster_ca": b64(&fake.ca_pem), "node_port_hostname_internal": "127.0.0.1",
            "node_port_hostname_external": "127.0.0.1",
        });
        let (status, body) = send(
            client,
            auth,
            Method::POST,
            &format!("{url}/services/mltk/container_connection?output_mode=json"),
            Some(connection.to_string()),
        )
        .await?;
        if status != StatusCode::OK {
            return Err(format!(
                "saving the connection: HTTP {status}: {}",
                String::from_utf8_lossy(&body)
            ));
        }
        let stanza = dsdl_handler::conffile::Stanza::from_pairs(
            "kubernetes",
            &[
                ("auth_mode", "user-token"),
                ("cluster_url", &fake.url),
                ("namespace", NS),
            ],
        );
        let secrets = dsdl_handler::runtime::secrets::Secrets::from_listing(vec![
            (
                "user_token".into(),
                dsdl_handler::protocol::request::Secret::new(TOKEN),
            ),
            (
                "cluster_ca".into(),
                dsdl_handler::protocol::request::Secret::new(fake.ca_pem.clone()),
            ),
        ]);
        let settings = dsdl_handler::runtime::kubernetes::settings::KubeSettings::from_stanza(
            &stanza, &secrets,
        )
        .map_err(|e| e.message)?;
        let kube = dsdl_handler::runtime::kubernetes::client::client(&settings)
            .await
            .map_err(|e| e.message)?;
        let design_settings =
            Settings::read(&stanza, &BTreeMap::new(), NS).map_err(|e| e.message)?;
        let params = kube::api::PatchParams::apply("bench").force();
        for i in 0..records {
            let model = format!("model_{i:04}");
            let mode = if i % 2 == 0 { Mode::Prod } else { Mode::Dev };
            let image = "splunk/mltk-container-golden-cpu:5.2.1";
            let w = Workload {
                name: dsdl_handler::names::runtime_name(&model),
                image: image.into(),
                env: plan::Env::default(),
                labels: plan::labels(&model, "bench", mode, &plan::spec_hash(image, mode, false)),
                ports: plan::ports(mode, &model),
                gpu: false,
                tuning: BTreeMap::new(),
            };
            let d = Design {
                workload: &w,
                settings: &design_settings,
            };
            for obj in [d.deployment(), d.service()] {
                let kind = obj["kind"].as_str().unwrap_or_default().to_string();
                let resource = if kind == "Deployment" {
                    kube::api::ApiResource::erase::<k8s_openapi::api::apps::v1::Deployment>(&())
                } else {
                    kube::api::ApiResource::erase::<k8s_openapi::api::core::v1::Service>(&())
                };
                let api: kube::Api<kube::api::DynamicObject> =
                    kube::Api::namespaced_with(kube.clone(), NS, &resource);
                api.patch(&w.name, &params, &kube::api::Patch::Apply(&obj))
                    .await
                    .map_err(|e| format!("{kind} {}: {e}", w.name))?;
            }
        }
        Ok(fake)
    }
}

/// One path on a seeded server: calls and connections per request over sequential requests
/// once every driver of the pool is warm, then latency under concurrent clients.
async fn measure_path(
    o: &Options,
    server: &Server,
    cluster: Option<&dsdl_handler::kubefake::KubeFake>,
    client: &HttpClient,
    auth: &str,
    records: usize,
    path: &'static str,
) -> Result<Figures, String> {
    let url = format!("{}{path}", server.url);
    // Warm-up: concurrent requests reach every driver of the pool.
    let warm: Vec<_> = (0..o.clients * 3)
        .map(|_| send(client, auth, Method::GET, &url, None))
        .collect();
    for r in futures_util::future::join_all(warm).await {
        let (status, _) = r?;
        if status != StatusCode::OK {
            return Err(format!("{path} answered {status}"));
        }
    }
    // REST calls and new connections per request, over sequential requests (the bench's
    // own client keeps its connection, so new ones are the drivers').
    let (calls_before, conns_before) = (server.driver_calls(), server.connections());
    let api_before = cluster.map(|c| c.requests().len());
    for _ in 0..o.count_requests {
        let (status, _) = send(client, auth, Method::GET, &url, None).await?;
        if status != StatusCode::OK {
            return Err(format!("{path} answered {status}"));
        }
    }
    let per = |n: usize| n as f64 / o.count_requests as f64;
    let calls_per_request = per(server.driver_calls() - calls_before);
    let connections_per_request = per(server.connections() - conns_before);
    let api_calls_per_request = cluster
        .zip(api_before)
        .map(|(c, before)| per(c.requests().len() - before));

    // Throughput: `clients` concurrent loops for `seconds`.
    let samples: Rc<RefCell<Vec<Duration>>> = Rc::default();
    let failures: Rc<RefCell<Vec<String>>> = Rc::default();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(o.seconds);
    let local = tokio::task::LocalSet::new();
    for _ in 0..o.clients {
        let (client, auth, url) = (client.clone(), auth.to_string(), url.clone());
        let (samples, failures) = (samples.clone(), failures.clone());
        local.spawn_local(async move {
            while Instant::now() < deadline {
                let t = Instant::now();
                match send(&client, &auth, Method::GET, &url, None).await {
                    Ok((StatusCode::OK, _)) => samples.borrow_mut().push(t.elapsed()),
                    Ok((status, _)) => failures.borrow_mut().push(format!("HTTP {status}")),
                    Err(e) => failures.borrow_mut().push(e),
                }
            }
        });
    }
    local.await;
    let elapsed = started.elapsed();
    if let Some(first) = failures.borrow().first() {
        return Err(format!(
            "{} failed requests, first: {first}",
            failures.borrow().len()
        ));
    }
    let mut samples = samples.take();
    samples.sort();
    Ok(Figures {
        records,
        path,
        calls_per_request,
        connections_per_request,
        api_calls_per_request,
        requests: samples.len(),
        elapsed,
        median: percentile(&samples, 50.0),
        p99: percentile(&samples, 99.0),
    })
}

/// Nearest-rank percentile of sorted samples.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

async fn run(o: &Options) -> Result<(), String> {
    if !o.splunkd_dev.is_file() {
        return Err(format!(
            "no splunkd-dev at {}; build it with cargo build --release --bin splunkd-dev --bin dsdl-handler",
            o.splunkd_dev.display()
        ));
    }
    println!(
        "GET container_data and start_container through splunkd-dev ({}, {}): {} concurrent \
         clients for {} s, driver pool {}; calls and new connections counted over {} \
         sequential requests after warm-up",
        o.splunkd_dev.display(),
        if o.tls { "HTTPS" } else { "HTTP" },
        o.clients,
        o.seconds,
        o.clients,
        o.count_requests
    );
    println!(
        "{:>8} {:>16} {:>14} {:>16} {:>14} {:>9} {:>9} {:>10} {:>10}",
        "records",
        "endpoint",
        "calls/request",
        "new conns/req",
        "k8s calls/req",
        "requests",
        "req/s",
        "median",
        "p99"
    );
    for &n in &o.records {
        for f in measure(o, n).await? {
            let endpoint = f
                .path
                .trim_start_matches("/services/mltk/")
                .split('?')
                .next()
                .unwrap_or_default();
            println!(
                "{:>8} {:>16} {:>14.2} {:>16.2} {:>14} {:>9} {:>9.1} {:>10} {:>10}",
                f.records,
                endpoint,
                f.calls_per_request,
                f.connections_per_request,
                f.api_calls_per_request
                    .map_or_else(|| "-".to_string(), |n| format!("{n:.2}")),
                f.requests,
                f.requests as f64 / f.elapsed.as_secs_f64(),
                ms(f.median),
                ms(f.p99)
            );
        }
    }
    println!("budget: one splunkd REST call per conf read, never one per stanza");
    Ok(())
}
