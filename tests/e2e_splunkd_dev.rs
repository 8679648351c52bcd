//! End to end through the real `splunkd-dev` binary with curl, as a user would call it:
//! authentication (401), capabilities (403), namespaces, 404/405, TLS with the generated
//! certificate, a killed driver replaced, idle drivers retired, fixture capture, and start-up
//! errors that name their cause.
//!
//! Each test starts its own server (`--port 0`, its own SPLUNK_HOME under the target
//! directory), so the tests run in parallel; the server is stopped when the test ends.

mod common;

use common::devserver::*;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn auth_failures_are_401() {
    let s = DevServer::start("auth", &[]);
    let none = get_as(&s, &[], "/services/mltk");
    assert_eq!(none.status, 401, "{}", none.body);
    assert!(
        none.body
            .contains("<msg type=\"WARN\">call not properly authenticated</msg>"),
        "{}",
        none.body
    );
    assert_eq!(
        none.header("WWW-Authenticate").as_deref(),
        Some("Basic realm=\"/splunk\"")
    );

    let wrong = get_as(&s, &["-u", "admin:wrong"], "/services/mltk");
    assert_eq!(wrong.status, 401);
    let ghost = get_as(&s, &["-u", "ghost:x"], "/services/mltk");
    assert_eq!(ghost.status, 401);
    for header in [
        "Authorization: Splunk not-a-session-key",
        "Authorization: Bearer not-a-session-key",
        "Authorization: Digest x",
    ] {
        let r = get_as(&s, &["-H", header], "/services/mltk");
        assert_eq!(r.status, 401, "{header}: {}", r.body);
    }
    let json = get_as(&s, &[], "/services/mltk?output_mode=json");
    assert_eq!(json.status, 401);
    let v: serde_json::Value = serde_json::from_str(&json.body).expect("JSON 401 body");
    assert_eq!(v["messages"][0]["text"], "call not properly authenticated");

    let bad_login = curl(
        &[
            "-d",
            "username=admin",
            "-d",
            "password=wrong",
            &format!("{}/services/auth/login", s.url),
        ],
        &[],
    );
    assert_eq!(bad_login.status, 401);
    assert!(
        bad_login.body.contains("Login failed"),
        "{}",
        bad_login.body
    );
    assert!(!bad_login.body.contains(ADMIN_PASSWORD));
}

#[test]
fn login_keys_work_as_splunk_and_bearer() {
    let s = DevServer::start("login", &[]);
    let xml = curl(
        &[
            "-d",
            "username=admin",
            "-d",
            &format!("password={ADMIN_PASSWORD}"),
            &format!("{}/services/auth/login", s.url),
        ],
        &[],
    );
    assert_eq!(xml.status, 200, "{}", xml.body);
    let key = xml
        .body
        .split("<sessionKey>")
        .nth(1)
        .and_then(|r| r.split("</sessionKey>").next())
        .expect("sessionKey element")
        .to_string();
    assert!(key.len() >= 32);
    let json_key = s.login(&[]);
    assert_ne!(key, json_key, "each login is a new session");

    for header in [
        format!("Authorization: Splunk {key}"),
        format!("Authorization: Bearer {json_key}"),
    ] {
        let r = get_as(&s, &["-H", &header], "/services/mltk?output_mode=json");
        assert_eq!(r.status, 200, "{}", r.body);
        let v: serde_json::Value = serde_json::from_str(&r.body).expect("endpoint table JSON");
        let names: Vec<&str> = v["entry"]
            .as_array()
            .expect("entries")
            .iter()
            .filter_map(|e| e["name"].as_str())
            .collect();
        assert!(names.contains(&"container_data"), "{names:?}");
        assert!(
            r.header("Content-Type")
                .unwrap_or_default()
                .starts_with("application/json")
        );
        assert_eq!(
            r.header("X-Content-Type-Options").as_deref(),
            Some("nosniff")
        );
    }
    let atom = get_as(&s, &["-u", &s.basic()], "/services/mltk");
    assert_eq!(atom.status, 200);
    assert!(atom.body.starts_with("<?xml"), "{}", atom.body);
    assert!(
        atom.body
            .contains("<feed xmlns=\"http://www.w3.org/2005/Atom\"")
    );
    assert!(
        atom.header("Content-Type")
            .unwrap_or_default()
            .starts_with("text/xml")
    );

    let info = get_as(
        &s,
        &["-u", &s.basic()],
        "/services/server/info?output_mode=json",
    );
    assert_eq!(info.status, 200, "{}", info.body);
    let v: serde_json::Value = serde_json::from_str(&info.body).expect("server info JSON");
    assert_eq!(
        v["entry"][0]["content"]["guid"].as_str().map(str::len),
        Some(36)
    );
}

#[test]
fn capabilities_are_checked_before_the_driver() {
    let s = DevServer::start("caps", &[]);
    s.add_user("viewer", "viewer-pw", "user");
    s.add_user("ops", "ops-pw", "dsdl_admin");
    let denied = get_as(
        &s,
        &["-u", "viewer:viewer-pw"],
        "/services/mltk/container_data",
    );
    assert_eq!(denied.status, 403, "{}", denied.body);
    assert!(
        denied.body.contains("requires capability: list_containers"),
        "{}",
        denied.body
    );
    assert!(denied.body.contains("user=viewer"), "{}", denied.body);
    // Nothing reached a driver for the denied call.
    assert!(s.drivers().is_empty(), "a driver was started for a 403");

    for user in [s.basic(), "ops:ops-pw".to_string()] {
        let allowed = get_as(
            &s,
            &["-u", &user],
            "/services/mltk/container_data?output_mode=json",
        );
        assert!(
            allowed.status != 403 && allowed.status != 401,
            "{user}: {} {}",
            allowed.status,
            allowed.body
        );
    }
    // The viewer still reaches endpoints without a capability rule.
    let index = get_as(&s, &["-u", "viewer:viewer-pw"], "/services/mltk");
    assert_eq!(index.status, 200, "{}", index.body);
}

#[test]
fn not_found_and_method_not_allowed() {
    let s = DevServer::start("errors", &[]);
    let auth = ["-u".to_string(), s.basic()];
    let auth: Vec<&str> = auth.iter().map(String::as_str).collect();
    let under_mltk = get_as(&s, &auth, "/services/mltk/nope");
    assert_eq!(under_mltk.status, 404, "{}", under_mltk.body);
    assert!(
        under_mltk.body.contains("<msg type=\"ERROR\">"),
        "{}",
        under_mltk.body
    );
    for path in [
        "/services/nope",
        "/nothing/here",
        "/servicesNS/admin/dsdl_handler/nope",
    ] {
        let r = get_as(&s, &auth, path);
        assert_eq!(r.status, 404, "{path}: {}", r.body);
    }
    let user = get_as(&s, &auth, "/servicesNS/nosuchuser/dsdl_handler/mltk");
    assert_eq!(user.status, 404);
    assert!(
        user.body.contains("User does not exist: nosuchuser"),
        "{}",
        user.body
    );
    let app = get_as(&s, &auth, "/servicesNS/admin/nosuchapp/mltk");
    assert_eq!(app.status, 404);
    assert!(app.body.contains("nosuchapp"), "{}", app.body);

    let mut args = auth.clone();
    args.extend(["-X", "DELETE"]);
    let r = get_as(&s, &args, "/services/mltk/container_data");
    assert_eq!(r.status, 405, "{}", r.body);
    assert_eq!(r.header("Allow").as_deref(), Some("GET"));
}

#[test]
fn namespaces_reach_the_driver() {
    let s = DevServer::start("ns", &[]);
    let key = s.login(&[]);
    let h = format!("Authorization: Splunk {key}");
    for (path, origin_suffix) in [
        ("/services/mltk?output_mode=json", "/services/mltk"),
        (
            "/servicesNS/admin/dsdl_handler/mltk?output_mode=json",
            "/servicesNS/admin/dsdl_handler/mltk",
        ),
        (
            "/servicesNS/-/-/mltk?output_mode=json",
            "/servicesNS/-/-/mltk",
        ),
        (
            "/servicesNS/nobody/dsdl_handler/mltk?output_mode=json",
            "/servicesNS/nobody/dsdl_handler/mltk",
        ),
    ] {
        let r = get_as(&s, &["-H", &h], path);
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        let v: serde_json::Value = serde_json::from_str(&r.body).expect("JSON");
        let origin = v["origin"].as_str().unwrap_or_default();
        assert_eq!(origin, format!("{}{origin_suffix}", s.url), "{path}");
    }
}

#[test]
fn tls_with_the_generated_certificate() {
    let s = DevServer::start("tls", &["--tls"]);
    assert!(s.url.starts_with("https://127.0.0.1:"), "{}", s.url);
    let cert = s.home.join("etc/auth/splunkd-dev-cert.pem");
    assert!(cert.is_file());
    let cacert = ["--cacert", cert.to_str().expect("utf-8 path")];
    let key = s.login(&cacert);
    let ok = curl(
        &[
            "-H",
            &format!("Authorization: Bearer {key}"),
            &format!("{}/services/mltk?output_mode=json", s.url),
        ],
        &cacert,
    );
    assert_eq!(ok.status, 200, "{}", ok.body);
    let localhost = curl(
        &[
            "-u",
            &s.basic(),
            &format!("{}/services/mltk", s.url.replace("127.0.0.1", "localhost")),
        ],
        &cacert,
    );
    assert_eq!(localhost.status, 200, "SAN localhost");
    let unverified = curl(
        &["-u", &s.basic(), &format!("{}/services/mltk", s.url)],
        &[],
    );
    assert_eq!(
        unverified.curl_exit, 60,
        "an untrusted certificate is refused by curl"
    );

    // The driver was told which CA to trust for its calls back to splunkd-dev.
    let drivers = s.drivers();
    assert_eq!(drivers.len(), 1, "{drivers:?}");
    let environ = std::fs::read(format!("/proc/{}/environ", drivers[0])).expect("driver environ");
    let want = format!(
        "DSDL_SPLUNKD_CA={}",
        cert.canonicalize().expect("cert path").display()
    );
    assert!(
        environ.split(|b| *b == 0).any(|kv| kv == want.as_bytes()),
        "{want} not in the driver's environment"
    );
}

#[test]
fn a_killed_driver_is_replaced() {
    let s = DevServer::start("crash", &["--pool", "2"]);
    let auth = ["-u", &s.basic()];
    let first = get_as(&s, &auth, "/services/mltk?output_mode=json");
    assert_eq!(first.status, 200, "{}", first.body);
    let before = s.drivers();
    assert!(!before.is_empty(), "a driver runs after a request");
    for pid in &before {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    }
    std::thread::sleep(Duration::from_millis(200));
    let again = get_as(&s, &auth, "/services/mltk?output_mode=json");
    assert_eq!(again.status, 200, "{}", again.body);
    let after = s.drivers();
    assert!(!after.is_empty());
    assert!(
        after.iter().all(|p| !before.contains(p)),
        "{before:?} -> {after:?}"
    );
    let log =
        std::fs::read_to_string(s.home.join("var/log/splunk/splunkd.log")).unwrap_or_default();
    assert!(log.contains("killed by signal 9"), "{log}");
}

#[test]
fn idle_drivers_are_retired() {
    let s = DevServer::start("idle", &["--idle-timeout", "1"]);
    let r = get_as(&s, &["-u", &s.basic()], "/services/mltk");
    assert_eq!(r.status, 200);
    // The process goes first and its log line follows: wait for both (a loaded machine can
    // put a moment between them).
    let deadline = Instant::now() + Duration::from_secs(20);
    let log =
        || std::fs::read_to_string(s.home.join("var/log/splunk/splunkd.log")).unwrap_or_default();
    while !s.drivers().is_empty() || !log().contains("retired after idling: exited with code 0") {
        assert!(
            Instant::now() < deadline,
            "idle driver not retired: {:?}\n{}",
            s.drivers(),
            log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let r = get_as(&s, &["-u", &s.basic()], "/services/mltk");
    assert_eq!(r.status, 200, "a new driver serves the next request");
}

#[test]
fn capture_writes_redacted_fixtures() {
    let capture = scratch_dir("capture-out");
    let s = DevServer::start(
        "capture",
        &["--capture", capture.to_str().expect("utf-8 path")],
    );
    let key = s.login(&[]);
    let h = format!("Authorization: Splunk {key}");
    let get = get_as(
        &s,
        &["-H", &h],
        "/servicesNS/admin/dsdl_handler/mltk?output_mode=json",
    );
    assert_eq!(get.status, 200);
    let post = get_as(
        &s,
        &[
            "-u",
            &s.basic(),
            "-d",
            "name=dev",
            "-d",
            "jupyter_password=form-secret-123",
            "-d",
            "api_token=form-token-456",
        ],
        "/services/mltk/container_connection",
    );
    assert_ne!(post.status, 403, "{}", post.body);
    let json_post = get_as(
        &s,
        &[
            "-u",
            &s.basic(),
            "-H",
            "Content-Type: application/json",
            "-d",
            r#"{"docker":{"api_token":"json-token-789","image":"img"}}"#,
        ],
        "/services/mltk/container_connection",
    );
    assert_ne!(json_post.status, 403);

    let mut files: Vec<PathBuf> = std::fs::read_dir(&capture)
        .expect("capture dir")
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    let names: Vec<String> = files
        .iter()
        .filter_map(|p| Some(p.file_name()?.to_str()?.to_string()))
        .collect();
    assert_eq!(
        names,
        [
            "0001-get-mltk.json",
            "0002-post-mltk-container-connection.json",
            "0003-post-mltk-container-connection.json"
        ]
    );
    for f in &files {
        let text = std::fs::read_to_string(f).expect("fixture");
        for secret in [
            key.as_str(),
            ADMIN_PASSWORD,
            "form-secret-123",
            "form-token-456",
            "json-token-789",
            s.url.as_str(),
            s.home.to_str().unwrap_or("-"),
        ] {
            assert!(
                !text.contains(secret),
                "{} leaks {secret}:\n{text}",
                f.display()
            );
        }
        let v: serde_json::Value = serde_json::from_str(&text).expect("fixture JSON");
        assert_eq!(v["request"]["session"]["authtoken"], "<session_key>");
        assert_eq!(v["request"]["system_authtoken"], "<system_key>");
        assert_eq!(v["request"]["server"]["rest_uri"], "<rest_uri>");
        assert_eq!(
            v["init"]["command"][0],
            "$SPLUNK_HOME/etc/apps/dsdl_handler/bin/dsdl-handler"
        );
        assert!(v["reply"].is_object() && v["volatile"].is_array());
    }
    let first: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&files[0]).expect("fixture")).expect("JSON");
    assert_eq!(
        first["description"],
        "GET /servicesNS/admin/dsdl_handler/mltk as admin"
    );
    assert_eq!(
        first["request"]["ns"],
        serde_json::json!({"app": "dsdl_handler", "user": "admin"})
    );
    let volatile: Vec<&str> = first["volatile"]
        .as_array()
        .expect("volatile")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(volatile.contains(&"/payload/updated"), "{volatile:?}");
    assert!(
        volatile.contains(&"/payload/entry/*/updated"),
        "{volatile:?}"
    );
    let second: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&files[1]).expect("fixture")).expect("JSON");
    assert_eq!(
        second["request"]["form"][1],
        serde_json::json!(["jupyter_password", "<redacted>"])
    );
    assert_eq!(
        second["request"]["form"][0],
        serde_json::json!(["name", "dev"])
    );
    drop(s);
    let _ = std::fs::remove_dir_all(&capture);
}

/// Runs `splunkd-dev` with `args` to its exit; its exit status and stderr.
fn splunkd_dev_fails(args: &[&std::ffi::OsStr]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_splunkd-dev"))
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run splunkd-dev");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn start_up_errors_say_what_failed_and_why() {
    // A SPLUNK_HOME below a regular file cannot be created: the message names the directory
    // and the operating system's reason, for serve and for add-user alike.
    let dir = scratch_dir("startup");
    let file = dir.join("a-file");
    std::fs::write(&file, "").unwrap();
    let home = file.join("home");
    for args in [
        vec![
            "--port".as_ref(),
            "0".as_ref(),
            "--splunk-home".as_ref(),
            home.as_os_str(),
        ],
        vec![
            "add-user".as_ref(),
            "someone".as_ref(),
            "--password".as_ref(),
            "pw-for-the-test-1".as_ref(),
            "--splunk-home".as_ref(),
            home.as_os_str(),
        ],
    ] {
        let (code, stderr) = splunkd_dev_fails(&args);
        assert_eq!(code, Some(1), "{stderr}");
        let want = format!(
            "splunkd-dev: cannot create SPLUNK_HOME {}: ",
            home.display()
        );
        let line = stderr
            .lines()
            .find(|l| l.starts_with(&want))
            .unwrap_or_else(|| panic!("no {want:?} in {stderr}"));
        assert!(
            line.len() > want.len() && line.contains("directory"),
            "the cause is missing: {line}"
        );
    }

    // A busy port is refused before SPLUNK_HOME is touched.
    let busy = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let fresh = dir.join("fresh-home");
    let (code, stderr) = splunkd_dev_fails(&[
        "--port".as_ref(),
        port.as_ref(),
        "--splunk-home".as_ref(),
        fresh.as_os_str(),
    ]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("port {port} on 127.0.0.1 is already in use")),
        "{stderr}"
    );
    assert!(!fresh.exists());
    let _ = std::fs::remove_dir_all(&dir);
}
