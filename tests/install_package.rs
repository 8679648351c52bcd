//! What ships is what is tested: the package command builds the app archive (with this
//! build's driver), the archive is unpacked into a fresh SPLUNK_HOME under the target
//! directory (never the working tree), and splunkd-dev serves every `/mltk` endpoint from that
//! unpacked copy: its confs, its metadata and its `bin/dsdl-handler`, checked through
//! `/proc/<pid>/exe` of the driver processes.

mod common;

use common::devserver::*;
use dsdl_handler::package;
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const APP: &str = "dsdl_handler";

/// Runs the package command with the driver of this build (store-only gzip: the debug
/// driver is large) and returns the archive it reports.
fn build_package(out_dir: &Path) -> PathBuf {
    let out = Command::new(env!("CARGO_BIN_EXE_package"))
        .args([
            "--driver",
            env!("CARGO_BIN_EXE_dsdl-handler"),
            "--compression",
            "0",
        ])
        .arg("--out-dir")
        .arg(out_dir)
        .output()
        .expect("run the package command");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "package failed:\n{stdout}\n{stderr}");
    let path = stdout
        .lines()
        .find_map(|l| l.strip_prefix("package: wrote "))
        .and_then(|l| l.split(" (").next())
        .unwrap_or_else(|| panic!("no \"package: wrote\" line:\n{stdout}\n{stderr}"));
    let path = PathBuf::from(path);
    assert_eq!(
        path.file_name().and_then(|n| n.to_str()),
        Some(format!("{APP}-{}.tar.gz", env!("CARGO_PKG_VERSION")).as_str())
    );
    path
}

fn json(r: &Resp) -> Value {
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.body))
}

fn get(s: &DevServer, path: &str) -> Resp {
    admin_request(s, "GET", path, &[])
}

/// A Splunk-shaped error: the status, and an ERROR in `messages`.
fn assert_error(r: &Resp, statuses: &[u16], what: &str) {
    assert!(
        statuses.contains(&r.status),
        "{what}: status {} not in {statuses:?}: {}",
        r.status,
        r.body
    );
    let v = json(r);
    assert_eq!(v["messages"][0]["type"], "ERROR", "{what}: {}", r.body);
}

/// A reply of the driver for a runtime endpoint: success, or one of the statuses these
/// endpoints use for a runtime that is absent or unreachable, in Splunk's error shape.
fn assert_answered(r: &Resp, what: &str) {
    if r.status == 200 {
        assert_eq!(json(r)["status"], "success", "{what}: {}", r.body);
    } else {
        assert_error(r, &[400, 404, 409, 501, 502, 503], what);
    }
}

#[test]
fn the_unpacked_package_serves_every_endpoint() {
    let work = scratch_dir("install-package");
    let archive = build_package(&work.join("dist"));

    // The archive: only the app, under dsdl_handler/, with Splunk's modes.
    let members = package::list_tar_gz(&archive).expect("list the archive");
    let problems = package::verify_listing(APP, &members);
    assert!(problems.is_empty(), "{problems:#?}");
    let names: Vec<&str> = members.iter().map(|m| m.path.as_str()).collect();
    for absent in [
        "restmap.conf",
        "local/",
        "bin/package",
        "bin/splunkd-dev",
        "bin/kube-fake",
        "Cargo.toml",
        "src/",
    ] {
        assert!(
            !names
                .iter()
                .any(|n| n.starts_with(&format!("{APP}/{absent}"))),
            "{absent} must not ship: {names:?}"
        );
    }
    assert!(names.contains(&"dsdl_handler/default/restmap.conf"));

    // A fresh SPLUNK_HOME with the archive unpacked into etc/apps, as Splunk installs it.
    let home = work.join("splunk");
    let apps = home.join("etc/apps");
    std::fs::create_dir_all(&apps).unwrap();
    let untar = Command::new("tar")
        .arg("-xzf")
        .arg(&archive)
        .arg("-C")
        .arg(&apps)
        .output()
        .expect("tar must be installed");
    assert!(
        untar.status.success(),
        "{}",
        String::from_utf8_lossy(&untar.stderr)
    );
    let app_dir = apps.join(APP).canonicalize().unwrap();
    let driver = app_dir.join("bin").join(package::DRIVER);
    assert_eq!(
        std::fs::metadata(&driver).unwrap().permissions().mode() & 0o777,
        0o755
    );
    assert_eq!(
        std::fs::read(&driver).unwrap(),
        std::fs::read(env!("CARGO_BIN_EXE_dsdl-handler")).unwrap(),
        "the packaged driver is this build's"
    );
    let readme = std::fs::read_to_string(app_dir.join("README.txt")).unwrap();
    assert!(
        readme.contains("bin/dsdl-handler") && readme.contains("SHA-256:"),
        "README.txt declares the binary: {readme}"
    );
    assert!(!app_dir.join("local").exists());

    // splunkd-dev on that SPLUNK_HOME with the unpacked app installed in place: nothing is
    // copied from the working tree (DevServer's own scratch home stays unused).
    let home_arg = home.to_str().unwrap().to_string();
    let app_arg = app_dir.to_str().unwrap().to_string();
    let s = DevServer::start(
        "install-package-unused",
        &["--splunk-home", &home_arg, "--app-dir", &app_arg],
    );
    assert!(
        s.stderr()
            .contains(&format!("app {APP} installed from {}", app_dir.display())),
        "{}",
        s.stderr()
    );

    // The endpoint table, in both namespaces and both output modes.
    let r = get(&s, "/services/mltk?output_mode=json");
    assert_eq!(r.status, 200, "{}", r.body);
    for endpoint in [
        "container_connection",
        "test_container_connection",
        "container_data",
        "container_logs",
        "start_container",
        "stop_container",
    ] {
        assert!(r.body.contains(endpoint), "{endpoint} in {}", r.body);
    }
    let r = get(
        &s,
        &format!("/servicesNS/nobody/{APP}/mltk?output_mode=json"),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = get(&s, "/services/mltk");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body.contains("<feed"),
        "Atom without output_mode: {}",
        r.body
    );
    let anonymous = curl(&[&format!("{}/services/mltk", s.url)], &[]);
    assert_eq!(anonymous.status, 401);
    assert_error(
        &get(&s, "/services/mltk/nope?output_mode=json"),
        &[404],
        "unknown path",
    );
    let r = admin_request(
        &s,
        "DELETE",
        "/services/mltk/container_data?output_mode=json",
        &[],
    );
    assert_eq!(r.status, 405, "{}", r.body);
    assert!(r.header("Allow").is_some_and(|a| a.contains("GET")));

    // Records and the catalog, read from the unpacked default/ and written through splunkd.
    seed_stanza(
        &s,
        "dsdl_container",
        "pkg_prod",
        &[("id", "4f1c0ffee"), ("mode", "PROD"), ("cluster", "docker")],
    );
    seed_stanza(
        &s,
        "dsdl_container",
        "pkg_idle",
        &[("id", ""), ("mode", "DEV")],
    );
    let r = get(&s, "/services/mltk/container_data?output_mode=json");
    assert_eq!(r.status, 200, "{}", r.body);
    let config = json(&r)["config"].clone();
    for name in ["__dev__", "pkg_prod", "pkg_idle"] {
        assert!(config.get(name).is_some(), "{name} in {config}");
    }
    let r = get(&s, "/services/mltk/container_logs?output_mode=json");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        json(&r)["config"]["PROD"].get("pkg_prod").is_some(),
        "{}",
        r.body
    );
    let r = get(&s, "/services/mltk/start_container?output_mode=json");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        json(&r)["container_status"]["counts"].is_object(),
        "{}",
        r.body
    );
    let r = get(&s, "/services/mltk/stop_container?output_mode=json");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        json(&r)["docker_images"]["golden-cpu"]["image"],
        "mltk-container-golden-cpu:5.2.1",
        "the catalog of the unpacked default/docker_images.conf"
    );
    let del = |model: &str| {
        admin_request(
            &s,
            "DELETE",
            &format!("/services/mltk/start_container/{model}?output_mode=json"),
            &[],
        )
    };
    assert_error(&del("pkg_prod"), &[409], "a running record");
    assert_error(&del("ghost"), &[404], "no model");
    assert_error(&del("..%2F.."), &[400], "a bad model name");
    // An MLTK model of that name, shared in the search app (this server's SPLUNK_HOME is
    // `home`, not the DevServer's scratch one).
    let model = home.join("etc/apps/search/lookups/__mlspl_pkg_idle.mlmodel");
    std::fs::create_dir_all(model.parent().unwrap()).expect("create lookups/");
    std::fs::write(&model, b"{}").expect("write a model file");
    let r = del("pkg_idle");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!model.exists(), "the MLTK model is deleted");

    // The runtime endpoints are routed to the driver and answer in Splunk's shape (no Docker
    // engine is reachable at these addresses; stopping a model that is not running is a
    // success that changes nothing).
    let r = admin_form(
        &s,
        "POST",
        "/services/mltk/test_container_connection?output_mode=json",
        &[
            ("container_type", "docker"),
            (
                "docker_url",
                "unix:///nonexistent-dsdl-package-test/docker.sock",
            ),
        ],
    );
    assert_answered(&r, "test_container_connection");
    for (endpoint, pairs) in [
        (
            "start_container",
            vec![("model", "ghost"), ("image", "no-such-image:1")],
        ),
        ("stop_container", vec![("model", "ghost")]),
        ("container_logs", vec![("model", "ghost")]),
    ] {
        let r = admin_form(
            &s,
            "POST",
            &format!("/services/mltk/{endpoint}?output_mode=json"),
            &pairs,
        );
        assert_answered(&r, endpoint);
    }

    // Connection settings: create, conflict, read masked, update, validate, delete.
    let c = "/services/mltk/container_connection";
    let docker = [
        ("container_type", "docker"),
        ("connection_name", "pkg docker"),
        (
            "docker_url",
            "unix:///nonexistent-dsdl-package-test/docker.sock",
        ),
        ("api_token", "pkg-s3cret-token"),
    ];
    let r = admin_form(&s, "POST", &format!("{c}?output_mode=json"), &docker);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_error(
        &admin_form(&s, "POST", &format!("{c}?output_mode=json"), &docker),
        &[409],
        "a second docker connection",
    );
    for path in [
        format!("{c}?output_mode=json"),
        format!("{c}/docker?output_mode=json"),
        format!("{c}/docker/pkg%20docker?output_mode=json"),
        "/services/mltk/test_container_connection?output_mode=json".to_string(),
    ] {
        let r = get(&s, &path);
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        assert!(
            !r.body.contains("pkg-s3cret-token"),
            "{path} leaks: {}",
            r.body
        );
    }
    let r = admin_form(
        &s,
        "PUT",
        &format!("{c}?output_mode=json"),
        &[
            ("container_type", "docker"),
            ("connection_name", "pkg docker"),
            ("docker_url", "tcp://docker-host.invalid:2376"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_error(
        &admin_form(
            &s,
            "POST",
            &format!("{c}?output_mode=json"),
            &[
                ("container_type", "kubernetes"),
                ("connection_name", "k"),
                ("auth_mode", "password"),
            ],
        ),
        &[400],
        "a bad auth_mode",
    );
    // pkg_prod is recorded as running through this connection.
    assert_error(
        &admin_request(
            &s,
            "DELETE",
            &format!("{c}/docker/pkg%20docker?output_mode=json"),
            &[],
        ),
        &[409],
        "a connection in use",
    );
    let r = admin_request(
        &s,
        "DELETE",
        &format!("{c}/docker/pkg%20docker?output_mode=json&force=true"),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_error(
        &admin_request(
            &s,
            "DELETE",
            &format!("{c}/docker/pkg%20docker?output_mode=json"),
            &[],
        ),
        &[404],
        "a deleted connection",
    );

    // The unpacked authorize.conf and metadata: a plain user gets 403 before the driver runs.
    let add = Command::new(env!("CARGO_BIN_EXE_splunkd-dev"))
        .args(["add-user", "--splunk-home", &home_arg])
        .args(["viewer", "--password", "viewer-Pw-123", "--roles", "user"])
        .output()
        .unwrap();
    assert!(
        add.status.success(),
        "{}",
        String::from_utf8_lossy(&add.stderr)
    );
    for (method, endpoint) in [("GET", "container_data"), ("POST", "container_connection")] {
        let url = format!("{}/services/mltk/{endpoint}?output_mode=json", s.url);
        let r = curl(&["-u", "viewer:viewer-Pw-123", "-X", method, &url], &[]);
        assert_eq!(r.status, 403, "{method} {endpoint}: {}", r.body);
    }

    // Every driver that answered is the unpacked app's bin/dsdl-handler.
    let drivers = s.drivers();
    assert!(!drivers.is_empty(), "no driver process is running");
    for pid in drivers {
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
        assert_eq!(exe, driver, "driver {pid} runs {}", exe.display());
    }

    drop(s);
    std::fs::remove_dir_all(&work).unwrap();
}
