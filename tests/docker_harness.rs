//! The Docker test harness itself (`tests/common/docker.rs` and `dsdl-test-container`) against
//! the real engine: the locally built images speak the DSDL container contract (token-checked
//! health on 5000, optional TLS, DEV side ports, stdout and stderr output), the variants behave
//! as named (crash with code 3, chatty multi-byte logs, exact bulk log size, OOM kill), the TLS
//! and TCP fronts forward to the engine (and fail as they should), and cleanup removes exactly
//! what a test labelled. Needs the engine: `scripts/start-docker.sh`.

mod common;

use common::devserver::{Resp, curl};
use common::docker::*;
use std::time::{Duration, Instant};

const APP: &str = "Splunk App for Data Science and Deep Learning";

/// GET `url` with an optional `Authorization` header value.
fn get(url: &str, auth: Option<&str>, extra: &[&str]) -> Resp {
    let header;
    let mut args: Vec<&str> = Vec::new();
    if let Some(a) = auth {
        header = format!("Authorization: {a}");
        args.extend(["-H", header.as_str()]);
    }
    args.push(url);
    curl(&args, extra)
}

/// A curl result for assertion messages.
fn show(r: &Resp) -> String {
    format!(
        "status {} curl exit {}\n{}{}",
        r.status, r.curl_exit, r.headers, r.body
    )
}

/// The health body: a JSON string whose content is the summary object.
fn summary(r: &Resp) -> serde_json::Value {
    let outer: serde_json::Value =
        serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.body));
    let inner = outer
        .as_str()
        .unwrap_or_else(|| panic!("the body is not a JSON string: {}", r.body));
    serde_json::from_str(inner)
        .unwrap_or_else(|e| panic!("not a JSON object inside ({e}): {inner}"))
}

#[test]
fn contract_image_checks_the_token_and_logs_both_streams() {
    if !require_docker() {
        return;
    }
    let guard = LabelGuard::new("contract");
    let image = contract_image();
    assert!(image.starts_with("dsdl-test/contract:"), "{image}");
    let (id, addr) = run_contract(
        &guard,
        &image,
        &["-e", "api_token=abc", "-e", "ENABLE_HTTPS=false"],
    );
    let base = format!("http://{addr}");

    for path in ["/", "/summary"] {
        let url = format!("{base}{path}");
        let r = get(&url, None, &[]);
        assert_eq!(r.status, 401, "{path}: {}", r.body);
        assert!(r.body.contains("No header with token"), "{}", r.body);

        let r = get(&url, Some("wrong"), &[]);
        assert_eq!(r.status, 401, "{path}: {}", r.body);
        assert!(r.body.contains("Invalid token"), "{}", r.body);

        for auth in ["abc", "Bearer abc"] {
            let r = get(&url, Some(auth), &[]);
            assert_eq!(r.status, 200, "{path} with {auth:?}: {}", r.body);
            assert!(r.body.contains(APP), "{}", r.body);
            let s = summary(&r);
            assert_eq!(s["app"], APP);
            assert_eq!(s["version"], "5.2.4");
            assert_eq!(s["token"], "valid");
        }
    }
    let r = get(&format!("{base}/nope"), Some("abc"), &[]);
    assert_eq!(r.status, 404, "{}", r.body);

    let (out, err) = container_logs(&id);
    assert!(
        out.contains("dsdl-test-container listening on http://0.0.0.0:5000"),
        "stdout: {out}"
    );
    assert!(
        err.contains("dsdl-test-container stderr ready"),
        "stderr: {err}"
    );
    assert!(!out.contains("stderr ready"), "streams mixed: {out}");
    assert!(
        out.contains("\"GET /summary HTTP/1.1\" 200"),
        "stdout: {out}"
    );
    assert!(out.contains("\"GET / HTTP/1.1\" 401"), "stdout: {out}");

    // Image metadata: the catalog entry and the content label.
    let (repo, name) = catalog_entry(&image);
    assert_eq!(repo, "dsdl-test/");
    assert!(name.starts_with("contract:"));
    assert_eq!(contract_image(), image, "the build is memoised");
    let cmd = docker_ok(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config.Cmd}}",
        &image,
    ]);
    assert_eq!(cmd, r#"["/dsdl-test-container"]"#);

    // docker stop is quick: the server exits on SIGTERM.
    let started = Instant::now();
    docker_ok(&["stop", &id]);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let state = inspect_state(&id).expect("stopped container still exists");
    assert_eq!(state.exit_code, 0, "{:?}", state.raw);
}

#[test]
fn without_a_token_configured_every_probe_is_refused() {
    if !require_docker() {
        return;
    }
    let guard = LabelGuard::new("no-token");
    let (_, addr) = run_contract(&guard, &contract_image(), &["-e", "ENABLE_HTTPS=false"]);
    let r = get(&format!("http://{addr}/"), Some("anything"), &[]);
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.body.contains("No token setup"), "{}", r.body);
}

#[test]
fn https_is_served_unless_enable_https_is_false() {
    if !require_docker() {
        return;
    }
    let guard = LabelGuard::new("https");
    // The image's rule: anything but "false" means TLS, "True" and unset included.
    for setting in [Some("true"), Some("True"), None] {
        let mut extra = vec!["-e", "api_token=tok"];
        let env;
        if let Some(v) = setting {
            env = format!("ENABLE_HTTPS={v}");
            extra.extend(["-e", env.as_str()]);
        }
        let (id, addr) = run_contract(&guard, &contract_image(), &extra);
        let r = get(&format!("https://{addr}/"), Some("tok"), &["-k"]);
        assert_eq!(r.status, 200, "ENABLE_HTTPS={setting:?}: {}", show(&r));
        assert!(r.body.contains(APP));
        let plain = get(&format!("http://{addr}/"), Some("tok"), &[]);
        assert_ne!(plain.status, 200, "plain HTTP to a TLS port");
        // Verified TLS fails: the certificate is self-signed (CN dsdl).
        let verified = get(&format!("https://{addr}/"), Some("tok"), &[]);
        assert_eq!(verified.curl_exit, 60, "{}", show(&verified));
        let (out, _) = container_logs(&id);
        assert!(out.contains("listening on https://0.0.0.0:5000"), "{out}");
    }
}

#[test]
fn dev_mode_serves_the_side_ports() {
    if !require_docker() {
        return;
    }
    let guard = LabelGuard::new("dev");
    let (id, addr) = run_contract(
        &guard,
        &contract_image(),
        &[
            "-e",
            "api_token=t",
            "-e",
            "ENABLE_HTTPS=false",
            "-e",
            "MODE_DEV_PROD=DEV",
            "-e",
            "JUPYTER_PASSWD=sha256:test",
            "-p",
            "127.0.0.1::8888",
            "-p",
            "127.0.0.1::6006",
            "-p",
            "127.0.0.1::6000",
        ],
    );
    assert_eq!(get(&format!("http://{addr}/"), Some("t"), &[]).status, 200);
    for (port, what) in [
        (8888, "jupyter stand-in"),
        (6006, "tensorboard stand-in"),
        (6000, "mlflow stand-in"),
    ] {
        let host = host_port(&id, port).expect("published port");
        let r = get(&format!("http://127.0.0.1:{host}/"), None, &[]);
        assert_eq!(r.status, 200, "{port}: {}", show(&r));
        assert!(r.body.contains(what), "{}", r.body);
    }
}

#[test]
fn crasher_exits_with_code_3() {
    if !require_docker() {
        return;
    }
    let guard = LabelGuard::new("crasher");
    let id = guard.run(&["-e", "ENABLE_HTTPS=false", &crasher_image()]);
    let state = wait_stopped(&id, Duration::from_secs(30)).expect("container kept");
    assert_eq!(state.status, "exited", "{:?}", state.raw);
    assert_eq!(state.exit_code, 3, "{:?}", state.raw);
    assert!(!state.oom_killed);
    let (out, err) = container_logs(&id);
    assert!(out.contains("exiting with code 3"), "{out}");
    assert!(err.contains("DSDL_TEST_EXIT_AFTER"), "{err}");
    assert_eq!(guard.containers(), vec![id]);
}

#[test]
fn chatty_logs_alternate_streams_with_multibyte_text() {
    if !require_docker() {
        return;
    }
    let guard = LabelGuard::new("chatty");
    let id = guard.run(&["-e", "ENABLE_HTTPS=false", &chatty_image()]);
    wait_for_log(&id, "line 003000 of 3000 stderr", Duration::from_secs(30));
    let (out, err) = container_logs(&id);
    let numbered = |s: &str, stream: &str| {
        s.lines()
            .filter(|l| l.starts_with("line ") && l.contains(stream))
            .count()
    };
    assert_eq!(numbered(&out, "stdout"), 1500);
    assert_eq!(numbered(&err, "stderr"), 1500);
    assert!(
        out.contains("line 000001 of 3000 stdout línea ✓ 日本"),
        "{out}"
    );
    assert!(err.contains("line 000002 of 3000 stderr línea ✓ 日本"));
    // --tail counts the entries of both streams together.
    let tail = docker(&["logs", "--tail", "4", &id]);
    let both = format!(
        "{}{}",
        String::from_utf8_lossy(&tail.stdout),
        String::from_utf8_lossy(&tail.stderr)
    );
    // Which stream's lines come last depends on how the engine drained the two pipes.
    assert_eq!(both.lines().count(), 4, "{both}");
    assert!(both.lines().all(|l| l.starts_with("line 00")), "{both}");
}

#[test]
fn long_lines_are_padded_exactly() {
    if !require_docker() {
        return;
    }
    let guard = LabelGuard::new("long-lines");
    let id = guard.run(&["-e", "ENABLE_HTTPS=false", &long_lines_image(4, 1000)]);
    wait_for_log(&id, "line 000004 of 4 stderr", Duration::from_secs(30));
    let (out, err) = container_logs(&id);
    let lines: Vec<&str> = out
        .lines()
        .chain(err.lines())
        .filter(|l| l.starts_with("line "))
        .collect();
    assert_eq!(lines.len(), 4);
    for l in lines {
        assert_eq!(l.len(), 1000, "{l}");
    }
}

#[test]
fn bulk_log_writes_exactly_the_requested_bytes() {
    if !require_docker() {
        return;
    }
    let guard = LabelGuard::new("bulk");
    let id = guard.run(&["-e", "ENABLE_HTTPS=false", &bulk_log_image(1_000_000)]);
    wait_bulk_log_done(&id, Duration::from_secs(60));
    let out = docker(&["logs", &id]);
    let stdout = String::from_utf8(out.stdout).expect("valid UTF-8");
    let last = stdout.lines().last().unwrap_or("");
    assert!(
        last.starts_with("dsdl-test-container bulk log done: 1000000 bytes"),
        "{last}"
    );
    let bulk: usize = stdout
        .split_inclusive('\n')
        .filter(|l| l.starts_with("bulk ") || l.starts_with('.'))
        .map(str::len)
        .sum();
    assert_eq!(bulk, 1_000_000);
}

#[test]
fn memory_hog_is_oom_killed_under_a_limit() {
    if !require_docker() {
        return;
    }
    let guard = LabelGuard::new("oom");
    let id = guard.run(&[
        "--memory",
        "64m",
        "--memory-swap",
        "64m",
        "-e",
        "ENABLE_HTTPS=false",
        &mem_hog_image(),
    ]);
    let state = wait_stopped(&id, Duration::from_secs(60)).expect("container kept");
    assert!(state.oom_killed, "{:?}", state.raw);
    assert_eq!(state.exit_code, 137, "{:?}", state.raw);
}

#[test]
fn tls_proxy_forwards_to_the_engine_and_verifies() {
    if !require_docker() {
        return;
    }
    let proxy = TlsDockerProxy::start(TlsProxyOptions::default());
    assert!(
        proxy.url().starts_with("tcp://127.0.0.1:"),
        "{}",
        proxy.url()
    );
    let dir = std::env::temp_dir().join(unique_value("tls-proxy"));
    let pem = proxy.write_pem_files(&dir);
    let ping = format!("{}/_ping", proxy.https_url());
    let ca = pem.ca.to_string_lossy().to_string();
    let wrong = pem.wrong_ca.to_string_lossy().to_string();

    let r = curl(&[&ping], &["--cacert", &ca]);
    assert_eq!((r.status, r.body.as_str()), (200, "OK"), "{}", show(&r));
    let by_name = format!("https://localhost:{}/_ping", proxy.port());
    assert_eq!(curl(&[&by_name], &["--cacert", &ca]).status, 200);

    let r = curl(&[&ping], &["--cacert", &wrong]);
    assert_eq!(
        r.curl_exit,
        60,
        "the wrong CA must fail verification: {}",
        show(&r)
    );

    // The docker client itself through the front (API calls, not just ping).
    let url = proxy.url();
    let version = docker_ok(&[
        "-H",
        &url,
        "--tlsverify",
        "--tlscacert",
        &ca,
        "version",
        "--format",
        "{{.Server.APIVersion}}",
    ]);
    assert!(version.starts_with("1."), "{version}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn tls_proxy_can_require_a_client_certificate() {
    if !require_docker() {
        return;
    }
    let proxy = TlsDockerProxy::start(TlsProxyOptions {
        require_client_cert: true,
        ..Default::default()
    });
    let dir = std::env::temp_dir().join(unique_value("tls-proxy-mtls"));
    let pem = proxy.write_pem_files(&dir);
    let ping = format!("{}/_ping", proxy.https_url());
    let (ca, cert, key) = (
        pem.ca.to_string_lossy().to_string(),
        pem.cert.to_string_lossy().to_string(),
        pem.key.to_string_lossy().to_string(),
    );
    let r = curl(&[&ping], &["--cacert", &ca]);
    assert_ne!(
        r.status,
        200,
        "no client certificate must fail: {}",
        show(&r)
    );
    assert_ne!(r.curl_exit, 0);
    let r = curl(&[&ping], &["--cacert", &ca, "--cert", &cert, "--key", &key]);
    assert_eq!((r.status, r.body.as_str()), (200, "OK"), "{}", show(&r));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn tls_proxy_with_other_names_fails_hostname_checks() {
    if !require_docker() {
        return;
    }
    let proxy = TlsDockerProxy::start(TlsProxyOptions {
        server_names: vec!["docker.invalid".into()],
        ..Default::default()
    });
    let dir = std::env::temp_dir().join(unique_value("tls-proxy-names"));
    let pem = proxy.write_pem_files(&dir);
    let ca = pem.ca.to_string_lossy().to_string();
    let r = curl(
        &[&format!("{}/_ping", proxy.https_url())],
        &["--cacert", &ca],
    );
    assert_eq!(r.curl_exit, 60, "{}", show(&r));
    // The chain itself is fine: with the expected name resolved to the proxy it verifies.
    let resolve = format!("docker.invalid:{}:127.0.0.1", proxy.port());
    let url = format!("https://docker.invalid:{}/_ping", proxy.port());
    let r = curl(&[&url], &["--cacert", &ca, "--resolve", &resolve]);
    assert_eq!(r.status, 200, "{}", show(&r));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn tcp_proxy_budget_refuses_after_n_connections() {
    if !require_docker() {
        return;
    }
    let mut proxy = TcpDockerProxy::start();
    let ping = format!("{}/_ping", proxy.http_url());
    assert_eq!(curl(&[&ping], &[]).status, 200);
    proxy.allow(2);
    assert_eq!(curl(&[&ping], &[]).status, 200);
    assert_eq!(curl(&[&ping], &[]).status, 200);
    let r = curl(&[&ping], &[]);
    assert_eq!(
        r.status,
        0,
        "the third connection must be closed: {}",
        show(&r)
    );
    assert_ne!(r.curl_exit, 0);
    assert_eq!(proxy.refused(), 1);
    assert_eq!(proxy.accepted(), 3);
    proxy.unlimited();
    assert_eq!(curl(&[&ping], &[]).status, 200);

    // A connection cut mid-request: a streaming call ends when the front cuts it.
    let events = std::process::Command::new("curl")
        .args(["-s", "-N", "--max-time", "20"])
        .arg(format!("{}/events", proxy.http_url()))
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("curl");
    let mut events = events;
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    proxy.cut_connections();
    let status = events.wait().expect("curl ends");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_ne!(
        status.code(),
        Some(28),
        "curl timed out: the cut did not close it"
    );

    proxy.shutdown();
    let r = curl(&[&ping], &[]);
    assert_eq!(
        r.curl_exit,
        7,
        "a stopped proxy refuses connections: {}",
        show(&r)
    );
}

#[test]
fn guard_removes_only_what_carries_its_labels() {
    if !require_docker() {
        return;
    }
    let image = contract_image();
    let outsider = LabelGuard::new("outsider");
    let outsider_id = docker_ok(&["create", "--label", &outsider.label(), &image]);
    let (container, volume, managed) = {
        let guard = LabelGuard::new("cleanup");
        let volume = format!("dsdl-test-vol-{}", guard.value);
        docker_ok(&["volume", "create", "--label", &guard.label(), &volume]);
        let mount = format!("{volume}:/srv");
        let container = guard.run(&["-v", &mount, "-e", "ENABLE_HTTPS=false", &image]);
        // A container labelled only the way the handler labels its own (manager id).
        let manager = format!("{MANAGER_ID_LABEL}={}", guard.value);
        let managed = docker_ok(&["create", "--label", &manager, &image]);
        let mut found = guard.containers();
        found.sort();
        let mut expected = vec![container.clone(), managed.clone()];
        expected.sort();
        assert_eq!(found, expected);
        (container, volume, managed)
    };
    assert!(inspect_state(&container).is_none(), "container left behind");
    assert!(
        inspect_state(&managed).is_none(),
        "managed container left behind"
    );
    assert!(
        !docker(&["volume", "inspect", &volume]).status.success(),
        "volume left behind"
    );
    assert!(
        inspect_state(&outsider_id).is_some(),
        "a container of another label was removed"
    );
    drop(outsider);
    assert!(inspect_state(&outsider_id).is_none());
}
