//! `dsdl-test-container`: a small stand-in for the DSDL container image
//! (`splunk/splunk-mltk-container-docker` 5.2.4), the subject of the Docker end-to-end tests.
//! It is packaged into local images by `tests/common/docker.rs` (no registry needed) and is not
//! shipped in the app.
//!
//! It speaks the part of the image's contract the handler relies on (see
//! `dsdl-reference.md`, sections 2.5 and 7):
//!
//! - port 5000 (`DSDL_TEST_PORT`), `GET /` and `GET /summary` (and `POST /fit`, `/apply`,
//!   `/summary`, as the toolkit's search-time commands call them) answer 200 with a JSON-encoded
//!   *string* holding `{"app": "Splunk App for Data Science and Deep Learning", "version":
//!   "5.2.4", "model": ..., "token": "valid"}`, but only when the `Authorization` header contains
//!   the `api_token` environment value (a substring test, so the raw token and `Bearer <token>`
//!   both pass). Otherwise 401 `{"detail": "No header with token" | "No token setup" |
//!   "Invalid token"}`, as FastAPI would answer.
//! - TLS unless `ENABLE_HTTPS` is `false` (case-insensitive), as the image's uvicorn does: with
//!   `API_SSL_CERT`/`API_SSL_KEY` when both are set, else with a self-signed certificate generated
//!   at start (CN `dsdl`, SANs `dsdl`, `localhost`, `127.0.0.1`).
//! - `MODE_DEV_PROD=DEV` also serves trivial pages without auth on 8888 (`JUPYTER_PORT`, "jupyter
//!   stand-in", TLS only when `ENABLE_HTTPS` is `true`, like the image's Jupyter), 6006
//!   ("tensorboard stand-in") and 6000 ("mlflow stand-in").
//! - At start, one line on stdout (`dsdl-test-container listening on ...`) and one on stderr
//!   (`dsdl-test-container stderr ready`); then one stdout line per request.
//! - SIGTERM and SIGINT end it at once with code 0, so `docker stop` is quick; with
//!   `DSDL_TEST_IGNORE_SIGTERM=1` it installs no SIGTERM handler, so as PID 1 the kernel drops
//!   SIGTERM and only SIGKILL ends it, as with the real image's shell (`bootstrap_fast.sh`).
//!
//! Behaviour switches, so that image variants can be made with `docker import --change 'ENV ..'`:
//!
//! | variable | effect |
//! | --- | --- |
//! | `DSDL_TEST_EXIT_AFTER=<secs>` | exit after that many seconds (fractions allowed) ... |
//! | `DSDL_TEST_EXIT_CODE=<n>` | ... with this code (default 3) |
//! | `DSDL_TEST_LOG_LINES=<n>` | print n numbered lines at start, alternating stdout and stderr, with multi-byte UTF-8 |
//! | `DSDL_TEST_LOG_LINE_BYTES=<n>` | pad each of those lines to n bytes (without the newline), multi-byte padding included |
//! | `DSDL_TEST_LOG_BYTES=<n>` | write exactly n bytes of numbered lines to stdout as fast as possible, then `dsdl-test-container bulk log done: ...` on stdout and stderr; serving all the while |
//! | `DSDL_TEST_MEM_HOG=1` | after 1 s, allocate and touch memory until killed (an OOM test under a memory limit); stops growing at `DSDL_TEST_MEM_HOG_MAX_MB` (default 4096) to spare a machine without a limit |
//! | `DSDL_TEST_IGNORE_SIGTERM=1` | no SIGTERM handler: as PID 1, `docker stop` waits out its whole grace period and kills it |
//! | `DSDL_TEST_MODEL` | the `model` value of the health reply (default `no model exists`) |
//!
//! Nothing here panics on input: bad settings are reported on stderr and replaced by defaults,
//! write errors on stdout and stderr are ignored, and hyper parses the requests.

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, SERVER};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// The `app` value the health probe looks for.
const APP_NAME: &str = "Splunk App for Data Science and Deep Learning";
/// The image version this stand-in imitates.
const IMAGE_VERSION: &str = "5.2.4";
/// The text carried by every numbered log line, with multi-byte characters (2, 3 and 3 bytes).
const MULTIBYTE: &str = "línea ✓ 日本";
/// The legacy default Jupyter hash the real image refuses (reference section 5.3).
const DEFAULT_JUPYTER_HASH: &str = "sha1:f7432152c71d:e8520c26b9d960e838d562768c1d24ef5b9b76c7";

/// Settings read from the environment once at start.
#[derive(Debug, Clone)]
struct Settings {
    /// The API port (`DSDL_TEST_PORT`, default 5000).
    port: u16,
    /// `api_token`; empty when unset.
    token: String,
    /// The API serves TLS (`ENABLE_HTTPS` anything but `false`).
    https: bool,
    /// The Jupyter stand-in serves TLS (`ENABLE_HTTPS` is `true`).
    jupyter_https: bool,
    /// `MODE_DEV_PROD=DEV`.
    dev: bool,
    /// `JUPYTER_PORT`, default 8888.
    jupyter_port: u16,
    /// `JUPYTER_PASSWD` is set, non-empty and not the bundled default.
    jupyter_password_ok: bool,
    /// `API_SSL_CERT` and `API_SSL_KEY`, when both are set.
    cert_files: Option<(String, String)>,
    /// `DSDL_TEST_EXIT_AFTER`.
    exit_after: Option<Duration>,
    /// `DSDL_TEST_EXIT_CODE`, default 3.
    exit_code: u8,
    /// `DSDL_TEST_LOG_LINES`.
    log_lines: u64,
    /// `DSDL_TEST_LOG_LINE_BYTES`.
    log_line_bytes: usize,
    /// `DSDL_TEST_LOG_BYTES`.
    log_bytes: u64,
    /// `DSDL_TEST_MEM_HOG=1`.
    mem_hog: bool,
    /// `DSDL_TEST_MEM_HOG_MAX_MB`, default 4096.
    mem_hog_max_mb: u64,
    /// `DSDL_TEST_IGNORE_SIGTERM`: leave SIGTERM to the kernel's default for PID 1 (dropped).
    ignore_sigterm: bool,
    /// `DSDL_TEST_MODEL`.
    model: String,
}

/// An environment variable, empty when unset or not valid UTF-8.
fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_default()
}

/// A numeric environment variable; unset or empty gives `default`, garbage is reported and
/// gives `default` too.
fn env_num<T: std::str::FromStr>(name: &str, default: T) -> T {
    let raw = env(name);
    let raw = raw.trim();
    if raw.is_empty() {
        return default;
    }
    match raw.parse() {
        Ok(v) => v,
        Err(_) => {
            say_err(&format!(
                "dsdl-test-container: ignoring {name}={raw:?} (not a number)"
            ));
            default
        }
    }
}

/// Whether a switch variable is on (`1`, `true`, `yes`).
fn is_set(name: &str) -> bool {
    matches!(env(name).trim(), "1" | "true" | "TRUE" | "yes")
}

impl Settings {
    fn from_env() -> Settings {
        let enable_https = env("ENABLE_HTTPS");
        let jupyter_passwd = env("JUPYTER_PASSWD");
        let cert = env("API_SSL_CERT");
        let key = env("API_SSL_KEY");
        let exit_after = env_num::<f64>("DSDL_TEST_EXIT_AFTER", -1.0);
        Settings {
            port: env_num("DSDL_TEST_PORT", 5000),
            token: env("api_token"),
            https: !enable_https.trim().eq_ignore_ascii_case("false"),
            jupyter_https: enable_https.trim().eq_ignore_ascii_case("true"),
            dev: env("MODE_DEV_PROD").trim().eq_ignore_ascii_case("DEV"),
            jupyter_port: env_num("JUPYTER_PORT", 8888),
            jupyter_password_ok: !jupyter_passwd.is_empty()
                && jupyter_passwd != DEFAULT_JUPYTER_HASH,
            cert_files: (!cert.is_empty() && !key.is_empty()).then_some((cert, key)),
            exit_after: (exit_after.is_finite() && exit_after >= 0.0)
                .then(|| Duration::from_secs_f64(exit_after.min(1e9))),
            exit_code: env_num("DSDL_TEST_EXIT_CODE", 3),
            log_lines: env_num("DSDL_TEST_LOG_LINES", 0),
            log_line_bytes: env_num("DSDL_TEST_LOG_LINE_BYTES", 0),
            log_bytes: env_num("DSDL_TEST_LOG_BYTES", 0),
            mem_hog: is_set("DSDL_TEST_MEM_HOG"),
            ignore_sigterm: is_set("DSDL_TEST_IGNORE_SIGTERM"),
            mem_hog_max_mb: env_num("DSDL_TEST_MEM_HOG_MAX_MB", 4096),
            model: std::env::var("DSDL_TEST_MODEL").unwrap_or_else(|_| "no model exists".into()),
        }
    }
}

/// One line on stdout; write errors (a closed pipe) are ignored.
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// One line on stderr; write errors are ignored.
fn say_err(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// What a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The model API (port 5000): token-checked health.
    Api,
    /// A DEV-mode side service: a trivial page, no auth.
    Page(&'static str),
}

/// Shared state of the request handlers.
struct Ctx {
    settings: Settings,
}

fn main() -> ExitCode {
    let settings = Settings::from_env();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            say_err(&format!("dsdl-test-container: cannot start tokio: {e}"));
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(settings)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            say_err(&format!("dsdl-test-container: {e}"));
            ExitCode::from(1)
        }
    }
}

/// Binds the listeners, prints the start lines, starts the behaviour switches and serves until
/// a signal or `DSDL_TEST_EXIT_AFTER`; returns the exit code.
async fn run(settings: Settings) -> Result<u8, String> {
    let api_tls = if settings.https {
        Some(tls_acceptor(&settings)?)
    } else {
        None
    };
    let jupyter_tls = if settings.jupyter_https {
        api_tls.clone()
    } else {
        None
    };
    let mut listeners = vec![(settings.port, Kind::Api, api_tls)];
    if settings.dev {
        listeners.push((
            settings.jupyter_port,
            Kind::Page("jupyter stand-in"),
            jupyter_tls,
        ));
        listeners.push((6006, Kind::Page("tensorboard stand-in"), None));
        listeners.push((6000, Kind::Page("mlflow stand-in"), None));
    }
    let ctx = Arc::new(Ctx {
        settings: settings.clone(),
    });
    let mut described = Vec::new();
    for (port, kind, tls) in listeners {
        let addr = SocketAddr::from(([0, 0, 0, 0], port));
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        described.push(match kind {
            Kind::Api => format!("{scheme}://{addr}"),
            Kind::Page(what) => format!("{scheme}://{addr} ({what})"),
        });
        tokio::spawn(serve(listener, tls, kind, ctx.clone()));
    }
    say(&format!(
        "dsdl-test-container listening on {} (mode {}, api_token {})",
        described.join(", "),
        if settings.dev { "DEV" } else { "PROD" },
        if settings.token.is_empty() {
            "unset"
        } else {
            "set"
        }
    ));
    say_err("dsdl-test-container stderr ready");
    if settings.dev && !settings.jupyter_password_ok {
        say_err(
            "dsdl-test-container: JUPYTER_PASSWD is empty or the bundled default; \
             the real image would not start Jupyter",
        );
    }

    if settings.log_lines > 0 {
        numbered_lines(settings.log_lines, settings.log_line_bytes);
    }
    if settings.log_bytes > 0 {
        let bytes = settings.log_bytes;
        std::thread::spawn(move || bulk_log(bytes));
    }
    if settings.mem_hog {
        let max = settings.mem_hog_max_mb;
        std::thread::spawn(move || mem_hog(max));
    }

    let exit_after = async {
        match settings.exit_after {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending::<()>().await,
        }
    };
    let ignore_sigterm = settings.ignore_sigterm;
    let sigterm = async {
        use tokio::signal::unix::{SignalKind, signal};
        if ignore_sigterm {
            // No handler: SIGTERM keeps its default action, which the kernel does not apply
            // to PID 1, exactly like a shell script as the container's entry point.
            say("dsdl-test-container ignores SIGTERM (DSDL_TEST_IGNORE_SIGTERM)");
            return std::future::pending::<()>().await;
        }
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = exit_after => {
            say(&format!("dsdl-test-container exiting with code {} (DSDL_TEST_EXIT_AFTER)", settings.exit_code));
            say_err("dsdl-test-container exit requested by DSDL_TEST_EXIT_AFTER");
            Ok(settings.exit_code)
        }
        _ = sigterm => {
            say("dsdl-test-container stopping on SIGTERM");
            Ok(0)
        }
        _ = tokio::signal::ctrl_c() => {
            say("dsdl-test-container stopping on SIGINT");
            Ok(0)
        }
    }
}

/// The TLS acceptor: the configured certificate files, or a fresh self-signed certificate.
fn tls_acceptor(settings: &Settings) -> Result<TlsAcceptor, String> {
    let (certs, key) = match &settings.cert_files {
        Some((cert, key)) => {
            let certs = CertificateDer::pem_file_iter(cert)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("API_SSL_CERT {cert}: {e}"))?;
            if certs.is_empty() {
                return Err(format!("API_SSL_CERT {cert}: no certificate"));
            }
            let key =
                PrivateKeyDer::from_pem_file(key).map_err(|e| format!("API_SSL_KEY {key}: {e}"))?;
            (certs, key)
        }
        None => {
            let names = vec!["dsdl".to_string(), "localhost".into(), "127.0.0.1".into()];
            let mut params = rcgen::CertificateParams::new(names)
                .map_err(|e| format!("certificate parameters: {e}"))?;
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, "dsdl");
            let key = rcgen::KeyPair::generate().map_err(|e| format!("key generation: {e}"))?;
            let cert = params
                .self_signed(&key)
                .map_err(|e| format!("self-signing: {e}"))?;
            (
                vec![cert.der().clone()],
                PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
        }
    };
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("TLS versions: {e}"))?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| format!("TLS certificate: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Accepts connections on `listener` forever, one task per connection.
async fn serve(listener: TcpListener, tls: Option<TlsAcceptor>, kind: Kind, ctx: Arc<Ctx>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                say_err(&format!("dsdl-test-container: accept failed: {e}"));
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let tls = tls.clone();
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let scheme = if tls.is_some() { "https" } else { "http" };
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                let ctx = ctx.clone();
                async move { Ok::<_, Infallible>(handle(&ctx, kind, &req, peer, scheme)) }
            });
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(30));
            let result = match tls {
                Some(acceptor) => {
                    match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream))
                        .await
                    {
                        Ok(Ok(s)) => http.serve_connection(TokioIo::new(s), svc).await,
                        Ok(Err(e)) => {
                            say(&format!("{peer} TLS handshake failed: {e}"));
                            return;
                        }
                        Err(_) => {
                            say(&format!("{peer} TLS handshake timed out"));
                            return;
                        }
                    }
                }
                None => http.serve_connection(TokioIo::new(stream), svc).await,
            };
            if let Err(e) = result
                && !e.is_incomplete_message()
            {
                say(&format!("{peer} connection ended: {e}"));
            }
        });
    }
}

/// Answers one request and logs it on stdout.
fn handle(
    ctx: &Ctx,
    kind: Kind,
    req: &Request<Incoming>,
    peer: SocketAddr,
    scheme: &str,
) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    let (status, body) = match kind {
        Kind::Page(what) => (
            StatusCode::OK,
            format!("<html><body><h1>{what}</h1><p>dsdl-test-container</p></body></html>\n"),
        ),
        Kind::Api => api(&ctx.settings, req.method(), path, req),
    };
    say(&format!(
        "{peer} \"{} {} {:?}\" {} {scheme}",
        req.method(),
        req.uri(),
        req.version(),
        status.as_u16()
    ));
    let content_type = match kind {
        Kind::Page(_) => "text/html; charset=utf-8",
        Kind::Api => "application/json",
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp.headers_mut()
        .insert(SERVER, HeaderValue::from_static("dsdl-test-container"));
    resp
}

/// The model API: `/` and `/summary` behind the token check, FastAPI-style errors elsewhere.
fn api(
    settings: &Settings,
    method: &Method,
    path: &str,
    req: &Request<Incoming>,
) -> (StatusCode, String) {
    let detail = |s: &str| serde_json::json!({ "detail": s }).to_string();
    // GET / and /summary are the health check; POST /fit, /apply and /summary are what the
    // toolkit's search-time commands (`| fit`, `| apply`, `| summary`) call.
    let allowed: &[Method] = match path {
        "/" => &[Method::GET, Method::HEAD],
        "/summary" => &[Method::GET, Method::HEAD, Method::POST],
        "/fit" | "/apply" => &[Method::POST],
        _ => return (StatusCode::NOT_FOUND, detail("Not Found")),
    };
    if !allowed.contains(method) {
        return (StatusCode::METHOD_NOT_ALLOWED, detail("Method Not Allowed"));
    }
    if let Err(why) = authorize(req.headers().get(AUTHORIZATION), &settings.token) {
        return (StatusCode::UNAUTHORIZED, detail(why));
    }
    let summary = serde_json::json!({
        "app": APP_NAME,
        "version": IMAGE_VERSION,
        "model": settings.model,
        "token": "valid",
    })
    .to_string();
    // FastAPI returns the json.dumps() text as the body, so the reply is a JSON string.
    (
        StatusCode::OK,
        serde_json::Value::String(summary).to_string(),
    )
}

/// The image's token rule: the header must contain the configured token.
fn authorize(header: Option<&HeaderValue>, token: &str) -> Result<(), &'static str> {
    let Some(header) = header else {
        return Err("No header with token");
    };
    if token.is_empty() {
        return Err("No token setup");
    }
    let (hay, needle) = (header.as_bytes(), token.as_bytes());
    if hay.windows(needle.len()).any(|w| w == needle) {
        Ok(())
    } else {
        Err("Invalid token")
    }
}

/// `n` numbered lines, odd ones on stdout and even ones on stderr, each padded to `pad` bytes
/// (without the newline) when `pad` is larger than the line.
fn numbered_lines(n: u64, pad: usize) {
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    for i in 1..=n {
        let stream = if i % 2 == 1 { "stdout" } else { "stderr" };
        let mut line = format!("line {i:06} of {n} {stream} {MULTIBYTE}");
        pad_to(&mut line, pad);
        let _ = if i % 2 == 1 {
            writeln!(out, "{line}")
        } else {
            writeln!(err, "{line}")
        };
    }
    let _ = out.flush();
}

/// Pads `line` to exactly `len` bytes when shorter: multi-byte characters first (so that long
/// lines split by the logging driver cut through them), ASCII for the last bytes.
fn pad_to(line: &mut String, len: usize) {
    const CYCLE: [char; 4] = ['é', '✓', '日', '-'];
    let mut k = 0;
    while line.len() + 4 < len {
        line.push(CYCLE[k % CYCLE.len()]);
        k += 1;
    }
    while line.len() < len {
        line.push('.');
    }
}

/// Writes exactly `total` bytes of numbered lines to stdout, in large writes; the last line is
/// ASCII filler when a full numbered line no longer fits, so the output stays valid UTF-8.
fn bulk_log(total: u64) {
    let started = std::time::Instant::now();
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
    let mut line: Vec<u8> = Vec::with_capacity(256);
    let mut written: u64 = 0;
    let mut i: u64 = 0;
    let filler = "bulk log line for the 1 GB benchmark ".repeat(2);
    while written < total {
        buf.clear();
        while buf.len() < (1 << 20) - 256 {
            let room = total - written - buf.len() as u64;
            if room == 0 {
                break;
            }
            line.clear();
            let _ = writeln!(line, "bulk {:010} {filler}{MULTIBYTE}", i + 1);
            if line.len() as u64 <= room {
                i += 1;
                buf.extend_from_slice(&line);
            } else {
                buf.resize(buf.len() + room as usize - 1, b'.');
                buf.push(b'\n');
            }
        }
        // The lock is taken per buffer (which ends at a line end), so request lines of the
        // API can go out between buffers and the API keeps answering during the write.
        let mut out = std::io::stdout().lock();
        if out.write_all(&buf).and_then(|()| out.flush()).is_err() {
            break;
        }
        drop(out);
        written += buf.len() as u64;
    }
    // On both streams: the stdout line is ordered after the bulk lines (the engine drains the
    // two pipes independently, so the stderr line may land in the middle of them).
    let done = format!(
        "dsdl-test-container bulk log done: {written} bytes, {i} lines in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    say(&done);
    say_err(&done);
}

/// Allocates and touches memory in 16 MiB steps until killed, or until `max_mb` is reached
/// (then it holds what it has).
///
/// It waits a second first, as a model outgrows its limit well after it started: a kill in a
/// container's first milliseconds races the engine's OOM event, and Docker then records exit
/// 137 without `OOMKilled` (seen on cgroup v2).
fn mem_hog(max_mb: u64) {
    const STEP: usize = 16 << 20;
    std::thread::sleep(Duration::from_secs(1));
    let mut held: Vec<Vec<u8>> = Vec::new();
    let mut total_mb: u64 = 0;
    while total_mb + 16 <= max_mb {
        let mut block = vec![0u8; STEP];
        // Touch every page with a non-zero value so the kernel really backs it.
        for (n, b) in block.iter_mut().step_by(4096).enumerate() {
            *b = (n % 251) as u8 + 1;
        }
        held.push(block);
        total_mb += 16;
        if total_mb.is_multiple_of(64) {
            say(&format!("dsdl-test-container holds {total_mb} MiB"));
        }
    }
    say(&format!(
        "dsdl-test-container memory hog stopped at {total_mb} MiB (DSDL_TEST_MEM_HOG_MAX_MB)"
    ));
    loop {
        std::thread::sleep(Duration::from_secs(3600));
        std::hint::black_box(&held);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_rule_matches_the_image() {
        let h = |s: &'static str| HeaderValue::from_static(s);
        assert_eq!(authorize(None, "abc"), Err("No header with token"));
        assert_eq!(authorize(None, ""), Err("No header with token"));
        assert_eq!(authorize(Some(&h("abc")), ""), Err("No token setup"));
        assert_eq!(authorize(Some(&h("abd")), "abc"), Err("Invalid token"));
        assert_eq!(authorize(Some(&h("")), "abc"), Err("Invalid token"));
        assert_eq!(authorize(Some(&h("abc")), "abc"), Ok(()));
        assert_eq!(authorize(Some(&h("Bearer abc")), "abc"), Ok(()));
        let raw = HeaderValue::from_bytes(b"\xffabc\xfe").unwrap();
        assert_eq!(authorize(Some(&raw), "abc"), Ok(()));
    }

    #[test]
    fn padding_is_exact_and_valid_utf8() {
        for len in [0, 10, 40, 41, 42, 43, 44, 100, 16_385, 20_000] {
            let mut line = format!("line 000001 of 1 stdout {MULTIBYTE}");
            let before = line.len();
            pad_to(&mut line, len);
            assert_eq!(line.len(), len.max(before));
        }
    }
}
