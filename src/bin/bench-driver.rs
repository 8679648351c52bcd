//! Benchmarks of the persistent driver through real pipes, the way splunkd drives it:
//! per-request overhead (one request at a time: write the packet, read both replies), cold
//! start to the first reply, and resident memory after many requests. Figures are printed next
//! to the design's budgets; nothing is asserted. `scripts/bench.sh` builds the release binaries
//! and runs this pinned to one core (`taskset -c 0`) and unpinned.
//!
//! `bench-driver frame-only` is a baseline driver that only parses frames and answers a fixed
//! reply, so the cost of the handler itself can be read off against it.

use dsdl_handler::config::DriverConfig;
use dsdl_handler::log::Logger;
use dsdl_handler::protocol::frame::{
    self, FrameReader, Init, Limits, OP_BLOCK, OP_INIT, encode_request, read_reply,
};
use dsdl_handler::service::Service;
use std::fs::File;
use std::io::{BufReader, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

const USAGE: &str =
    "usage: bench-driver [--driver PATH] [--requests N] [--cold-starts N] [--rss-requests N]
       bench-driver frame-only
Runs the dsdl-handler benchmarks (release build expected) and prints a table with the budgets.
  --driver PATH       the dsdl-handler binary (default: next to this one)
  --requests N        requests per latency run (default 20000, after 2000 warm-up requests)
  --cold-starts N     process starts for the cold-start figure (default 50)
  --rss-requests N    requests before reading VmRSS and VmHWM (default 10000)
frame-only: serve stdin/stdout as a driver that only parses frames (the baseline).";

/// Largest reply the benchmark accepts.
const MAX_REPLY: usize = 64 * 1024 * 1024;

struct Options {
    driver: PathBuf,
    requests: usize,
    warmup: usize,
    cold_starts: usize,
    rss_requests: usize,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("frame-only") {
        return frame_only_driver();
    }
    let opts = match parse_args(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("bench-driver: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-driver: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse_args(args: &[String]) -> Result<Options, String> {
    let here = std::env::current_exe().map_err(|e| format!("cannot find myself: {e}"))?;
    let mut opts = Options {
        driver: here.with_file_name("dsdl-handler"),
        requests: 20_000,
        warmup: 2_000,
        cold_starts: 50,
        rss_requests: 10_000,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        let number = |v: &String| {
            v.parse::<usize>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| format!("{flag}: {v:?} is not a positive number"))
        };
        match flag.as_str() {
            "--driver" => opts.driver = PathBuf::from(value()?),
            "--requests" => opts.requests = number(value()?)?,
            "--cold-starts" => opts.cold_starts = number(value()?)?,
            "--rss-requests" => opts.rss_requests = number(value()?)?,
            "-h" | "--help" => return Err("help".into()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(opts)
}

/// A request packet as splunkd sends it (one combined packet).
fn packet(method: &str, rest_path: &str, json: bool, payload: Option<&str>) -> Vec<u8> {
    let mut req = serde_json::json!({
        "method": method,
        "rest_path": rest_path,
        "query": if json { serde_json::json!([["output_mode", "json"]]) } else { serde_json::json!([]) },
        "ns": {"app": "dsdl_handler", "user": "admin"},
        "session": {"user": "admin", "authtoken": "bench-token"},
        "server": {"rest_uri": "https://127.0.0.1:8089"},
    });
    if json {
        req["output_mode"] = "json".into();
        req["output_mode_explicit"] = true.into();
    }
    if let Some(p) = payload {
        req["payload"] = p.into();
    }
    let init = Init {
        command: vec!["/opt/splunk/etc/apps/dsdl_handler/bin/dsdl-handler".into()],
        command_arg: None,
    };
    encode_request(&init, &serde_json::to_vec(&req).unwrap_or_default())
}

/// A running driver with its pipes.
struct Driver {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Driver {
    fn spawn(program: &Path, args: &[&str], log_file: Option<&Path>) -> Result<Driver, String> {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env_remove("SPLUNK_HOME")
            .env_remove("DSDL_LOG_FILE")
            .env_remove("DSDL_MAX_BLOCK_BYTES")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(log) = log_file {
            cmd.env("DSDL_LOG_FILE", log);
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().ok_or("no stdout pipe")?);
        Ok(Driver {
            child,
            stdin,
            stdout,
        })
    }

    /// Sends one request packet and reads its init reply and data reply.
    fn round_trip(&mut self, packet: &[u8]) -> Result<Vec<u8>, String> {
        let stdin = self.stdin.as_mut().ok_or("stdin closed")?;
        stdin.write_all(packet).map_err(|e| format!("write: {e}"))?;
        let ack =
            read_reply(&mut self.stdout, MAX_REPLY).map_err(|e| format!("init reply: {e}"))?;
        if !ack.is_empty() {
            return Err(format!("init failed: {}", String::from_utf8_lossy(&ack)));
        }
        read_reply(&mut self.stdout, MAX_REPLY).map_err(|e| format!("data reply: {e}"))
    }

    /// VmRSS and VmHWM of the driver, in kB.
    fn memory_kb(&self) -> Result<(u64, u64), String> {
        let path = format!("/proc/{}/status", self.child.id());
        let status = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
                .ok_or_else(|| format!("{name} missing in {path}"))
        };
        Ok((field("VmRSS:")?, field("VmHWM:")?))
    }

    /// Closes stdin and waits for a clean exit.
    fn finish(mut self) -> Result<(), String> {
        self.stdin = None;
        let status = self.child.wait().map_err(|e| format!("wait: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("driver exited with {status}"))
        }
    }
}

/// Checks a reply's status without parsing the whole JSON.
fn expect_status(reply: &[u8], status: u16) -> Result<(), String> {
    let want = format!("{{\"status\":{status},");
    if reply.starts_with(want.as_bytes()) {
        Ok(())
    } else {
        let shown = String::from_utf8_lossy(&reply[..reply.len().min(120)]);
        Err(format!("expected status {status}, got {shown}"))
    }
}

/// Nearest-rank percentile of sorted samples.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

struct Latency {
    median: Duration,
    p99: Duration,
}

/// Runs `warmup` then `n` requests one at a time and returns the latency figures.
fn latency(
    program: &Path,
    args: &[&str],
    log_file: Option<&Path>,
    packet: &[u8],
    status: u16,
    warmup: usize,
    n: usize,
) -> Result<Latency, String> {
    let mut d = Driver::spawn(program, args, log_file)?;
    for _ in 0..warmup {
        expect_status(&d.round_trip(packet)?, status)?;
    }
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let reply = d.round_trip(packet)?;
        samples.push(started.elapsed());
        expect_status(&reply, status)?;
    }
    d.finish()?;
    samples.sort();
    Ok(Latency {
        median: percentile(&samples, 50.0),
        p99: percentile(&samples, 99.0),
    })
}

/// The handler alone, in this process: `Service::handle_block` on the block of `packet`,
/// without pipes or framing (and without a log file).
fn in_process(packet: &[u8], status: u16, warmup: usize, n: usize) -> Result<Latency, String> {
    let block = FrameReader::new(packet, Limits::default())
        .read_packet()
        .map_err(|e| e.to_string())?
        .and_then(|p| p.block)
        .ok_or("the packet has no block")?;
    let (config, _) = DriverConfig::from_lookup(|_| None, None);
    let mut service = Service::new(config, Logger::disabled()).map_err(|e| e.to_string())?;
    for _ in 0..warmup {
        expect_status(&service.handle_block(&block), status)?;
    }
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let reply = service.handle_block(&block);
        samples.push(started.elapsed());
        expect_status(&reply, status)?;
    }
    samples.sort();
    Ok(Latency {
        median: percentile(&samples, 50.0),
        p99: percentile(&samples, 99.0),
    })
}

/// Spawn to first data reply, `n` times.
fn cold_start(program: &Path, log_file: &Path, n: usize) -> Result<Latency, String> {
    let req = packet("GET", "/mltk", true, None);
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let mut d = Driver::spawn(program, &[], Some(log_file))?;
        let reply = d.round_trip(&req)?;
        samples.push(started.elapsed());
        expect_status(&reply, 200)?;
        d.finish()?;
    }
    samples.sort();
    Ok(Latency {
        median: percentile(&samples, 50.0),
        p99: percentile(&samples, 99.0),
    })
}

/// VmRSS and VmHWM (kB) after `n` requests of a mix: the index in JSON and XML, 404, 405,
/// malformed JSON and a 64 KiB payload.
fn memory_after(program: &Path, log_file: &Path, n: usize) -> Result<(u64, u64), String> {
    let big = "x".repeat(64 * 1024);
    let mix: Vec<(Vec<u8>, u16)> = vec![
        (packet("GET", "/mltk", true, None), 200),
        (packet("GET", "/mltk", false, None), 200),
        (packet("GET", "/mltk/nope", true, None), 404),
        (packet("DELETE", "/mltk/container_data", false, None), 405),
        (
            encode_request(
                &Init {
                    command: vec!["x".into()],
                    command_arg: None,
                },
                b"{not json",
            ),
            400,
        ),
        (packet("GET", "/mltk", true, Some(&big)), 200),
    ];
    let mut d = Driver::spawn(program, &[], Some(log_file))?;
    for i in 0..n {
        let (req, status) = &mix[i % mix.len()];
        expect_status(&d.round_trip(req)?, *status)?;
    }
    let mem = d.memory_kb()?;
    d.finish()?;
    Ok(mem)
}

fn us(d: Duration) -> String {
    format!("{:.1} us", d.as_secs_f64() * 1e6)
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn mb(kb: u64) -> String {
    format!("{:.1} MB", kb as f64 / 1024.0)
}

fn proc_field(path: &str, prefix: Option<&str>) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    match prefix {
        Some(p) => text
            .lines()
            .find_map(|l| l.strip_prefix(p))
            .unwrap_or("?")
            .trim()
            .to_string(),
        None => text
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
    }
}

fn row(what: &str, median: &str, p99: &str, budget: &str) {
    println!("{what:<46} {median:>11} {p99:>11}   {budget}");
}

fn run(o: &Options) -> Result<(), String> {
    if !o.driver.is_file() {
        return Err(format!(
            "no driver at {}; build it with cargo build --release --bin dsdl-handler",
            o.driver.display()
        ));
    }
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let dir = std::env::temp_dir().join(format!("dsdl-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let log = dir.join("dsdl_handler.log");
    let result = (|| {
        println!(
            "dsdl-handler benchmarks: driver {}, cpus allowed {}, load average before {}",
            o.driver.display(),
            proc_field("/proc/self/status", Some("Cpus_allowed_list:")),
            proc_field("/proc/loadavg", None)
        );
        println!(
            "per-request figures: {} requests one at a time after {} warm-up; cold start: {} starts",
            o.requests, o.warmup, o.cold_starts
        );
        row("what", "median", "p99", "budget");
        let index = packet("GET", "/mltk", true, None);
        let l = latency(
            &o.driver,
            &[],
            Some(&log),
            &index,
            200,
            o.warmup,
            o.requests,
        )?;
        row(
            "per request: GET /mltk json, log file on",
            &us(l.median),
            &us(l.p99),
            "< 15 us median, pinned to one core",
        );
        let l = latency(&o.driver, &[], None, &index, 200, o.warmup, o.requests)?;
        row(
            "per request: GET /mltk json, no log file",
            &us(l.median),
            &us(l.p99),
            "",
        );
        let not_found = packet("GET", "/mltk/nope", false, None);
        let l = latency(
            &o.driver,
            &[],
            Some(&log),
            &not_found,
            404,
            o.warmup,
            o.requests,
        )?;
        row(
            "per request: 404 in XML (parse, route, render)",
            &us(l.median),
            &us(l.p99),
            "",
        );
        let l = latency(
            &me,
            &["frame-only"],
            None,
            &index,
            200,
            o.warmup,
            o.requests,
        )?;
        row(
            "per request: frame-only driver (baseline)",
            &us(l.median),
            &us(l.p99),
            "design: about 7 us",
        );
        let l = in_process(&index, 200, o.warmup, o.requests)?;
        row(
            "handler alone, in process: GET /mltk json",
            &us(l.median),
            &us(l.p99),
            "",
        );
        let l = in_process(&not_found, 404, o.warmup, o.requests)?;
        row(
            "handler alone, in process: 404 in XML",
            &us(l.median),
            &us(l.p99),
            "",
        );
        let c = cold_start(&o.driver, &log, o.cold_starts)?;
        row(
            "cold start: spawn to first reply",
            &ms(c.median),
            &ms(c.p99),
            "< 10 ms",
        );
        let (rss, hwm) = memory_after(&o.driver, &log, o.rss_requests)?;
        row(
            &format!("memory after {} requests: VmRSS / VmHWM", o.rss_requests),
            &mb(rss),
            &mb(hwm),
            "< 20 MB",
        );
        println!("load average after {}", proc_field("/proc/loadavg", None));
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// The baseline: reads packets with the same frame reader and answers each INIT with the
/// empty success string and each BLOCK with a fixed reply, one write and flush per packet,
/// without parsing the request JSON.
fn frame_only_driver() -> ExitCode {
    const REPLY: &[u8] = br#"{"status":200,"headers":{},"payload":{}}"#;
    let (input, mut output) = match (
        std::io::stdin().as_fd().try_clone_to_owned(),
        std::io::stdout().as_fd().try_clone_to_owned(),
    ) {
        (Ok(i), Ok(o)) => (File::from(i), File::from(o)),
        _ => return ExitCode::FAILURE,
    };
    let mut reader = FrameReader::new(
        BufReader::with_capacity(64 * 1024, input),
        Limits::default(),
    );
    let mut out = Vec::with_capacity(256);
    loop {
        match reader.read_packet() {
            Ok(Some(p)) => {
                out.clear();
                if p.opcode & OP_INIT != 0 {
                    let _ = frame::write_string(&mut out, b"");
                }
                if p.opcode & OP_BLOCK != 0 {
                    let _ = frame::write_string(&mut out, REPLY);
                }
                if output
                    .write_all(&out)
                    .and_then(|()| output.flush())
                    .is_err()
                {
                    return ExitCode::FAILURE;
                }
            }
            Ok(None) => return ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("bench-driver frame-only: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
}
