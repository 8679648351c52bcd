//! Beside the AI Toolkit: with `Splunk_ML_Toolkit` installed, the handler keeps its records,
//! connections and the container token where the toolkit's search-time commands read them, and
//! takes over the secrets the toolkit saved before. Checked with a stand-in of the toolkit's
//! lookup (tests/python/aitk_container_lookup.py: the conf files on disk, the token through
//! Splunk's Python SDK) that then calls the started container's API, as `| fit` would.

mod common;

use common::devserver::{DevServer, Resp, admin_form, admin_json};
use common::docker::{LabelGuard, catalog_entry, contract_image, require_docker};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;

const TOOLKIT: &str = "Splunk_ML_Toolkit";

/// A minimal AI Toolkit app: its identity and the default stanzas its confs ship with.
fn install_toolkit(home: &Path) {
    let app = home.join("etc/apps").join(TOOLKIT);
    let default = app.join("default");
    std::fs::create_dir_all(&default).expect("toolkit app dir");
    for (file, text) in [
        (
            "app.conf",
            "[launcher]\nversion = 5.6.0\n\n[ui]\nlabel = AI Toolkit\nis_visible = true\n",
        ),
        ("container_connections.conf", "[docker]\n\n[kubernetes]\n"),
        (
            "dsdl_container.conf",
            "[__dev__]\nmode = DEV\ncluster = docker\n",
        ),
        ("docker_images.conf", ""),
    ] {
        std::fs::write(default.join(file), text).expect("toolkit conf");
    }
}

fn mltk(s: &DevServer, method: &str, endpoint: &str, body: &Value) -> Resp {
    admin_json(
        s,
        method,
        &format!("/services/mltk/{endpoint}?output_mode=json"),
        body,
    )
}

fn json_of(r: &Resp) -> Value {
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.body))
}

/// Runs the toolkit's lookup for `model`/`mode` and calls `verb` on the container.
fn toolkit_lookup(s: &DevServer, model: &str, mode: &str, verb: &str) -> (bool, String) {
    let basic = s.basic();
    let (user, password) = basic.split_once(':').expect("user:password");
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/aitk_container_lookup.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(&s.home)
        .args([s.url.as_str(), user, password, model, mode, verb])
        .output()
        .expect("run python3");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("No module named 'splunklib'"),
        "Splunk's Python SDK is missing: run scripts/test.sh (or pip install splunk-sdk)"
    );
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success(), format!("{stdout}{stderr}"))
}

#[test]
fn fit_and_apply_find_what_a_start_beside_the_toolkit_wrote() {
    if !require_docker() {
        return;
    }
    let s = DevServer::start("toolkit-stores", &["--pool", "2"]);
    install_toolkit(&s.home);
    let _guard = LabelGuard { value: s.guid() };
    let ns = format!("/servicesNS/nobody/{TOOLKIT}");

    // What the toolkit saved before this handler was installed: its shared secrets.
    let r = admin_form(
        &s,
        "POST",
        &format!("{ns}/storage/passwords?output_mode=json"),
        &[
            ("name", "jupyter_passwd"),
            ("realm", "dltk_kubernetes"),
            ("password", "Toolkit-jp-1"),
        ],
    );
    assert_eq!(r.status, 201, "{}", r.body);

    // A connection saved and tested through this handler, and an image in the toolkit's
    // catalog (where the toolkit UI offers images from).
    let r = mltk(
        &s,
        "POST",
        "container_connection",
        &json!({"container_type": "docker", "connection_name": "beside toolkit",
                "docker_url": "unix:///var/run/docker.sock"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = mltk(
        &s,
        "POST",
        "test_container_connection",
        &json!({"container_type": "docker"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let image = contract_image();
    let (repo, name) = catalog_entry(&image);
    let r = admin_form(
        &s,
        "POST",
        &format!("{ns}/configs/conf-docker_images?output_mode=json"),
        &[
            ("name", "contract"),
            ("title", "contract"),
            ("image", &name),
            ("repo", &repo),
            ("runtime", "none"),
        ],
    );
    assert_eq!(r.status, 201, "{}", r.body);

    // Before any start the toolkit's lookup fails as it does with the toolkit's own handlers.
    let (ok, out) = toolkit_lookup(&s, "beside1", "prod", "summary");
    assert!(!ok, "{out}");

    let r = mltk(
        &s,
        "POST",
        "start_container",
        &json!({"payload": {"model": "beside1", "image": name, "mode": "PROD"}}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let api_url = json_of(&r)["updated_config"]["api_url"]
        .as_str()
        .unwrap_or_default()
        .to_string();

    // Everything landed in the toolkit's local/ on disk, through splunkd.
    let local = s.home.join("etc/apps").join(TOOLKIT).join("local");
    let records = std::fs::read_to_string(local.join("dsdl_container.conf")).expect("records");
    assert!(records.contains("[beside1]"), "{records}");
    let conns = std::fs::read_to_string(local.join("container_connections.conf")).expect("conns");
    assert!(
        conns.contains("[docker]") && conns.contains("beside toolkit"),
        "{conns}"
    );
    assert!(
        !Path::new(&s.home)
            .join("etc/apps/dsdl_handler/local/dsdl_container.conf")
            .exists(),
        "nothing in this app's own namespace"
    );

    // The toolkit's search-time lookup finds the URL and token and reaches the API.
    let (ok, out) = toolkit_lookup(&s, "beside1", "prod", "summary");
    assert!(ok, "{out}");
    let found: Value = serde_json::from_str(&out).unwrap_or_else(|_| panic!("{out}"));
    assert_eq!(found["api_url"], api_url.as_str());
    assert_eq!(found["cluster"], "docker");
    assert_eq!(
        found["status"], 200,
        "the container accepted the toolkit's token: {out}"
    );
    let (ok, out) = toolkit_lookup(&s, "beside1", "prod", "fit");
    assert!(ok && out.contains("\"status\": 200"), "{out}");

    // The toolkit's Jupyter password was adopted into this handler's realm (a DEV start needs
    // it), and the toolkit's copy is left in place.
    let r = admin_form(
        &s,
        "GET",
        &format!("{ns}/storage/passwords/dsdl_docker:jupyter_passwd:?output_mode=json"),
        &[],
    );
    assert_eq!(r.status, 200, "adopted: {}", r.body);
    assert_eq!(
        json_of(&r)["entry"][0]["content"]["clear_password"],
        "Toolkit-jp-1",
        "the toolkit's value"
    );
    let r = admin_form(
        &s,
        "GET",
        &format!("{ns}/storage/passwords/dltk_kubernetes:jupyter_passwd:?output_mode=json"),
        &[],
    );
    assert_eq!(r.status, 200, "the toolkit's copy stays: {}", r.body);

    // Once adopted, polling the table reads the secrets once (this handler's realm only, not
    // the toolkit's as well): the UI polls container_data every few seconds.
    let passwords_gets = || {
        std::thread::sleep(std::time::Duration::from_millis(200));
        std::fs::read_to_string(s.home.join("var/log/splunk/splunkd_access.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(" splunk-system-user ") && l.contains("GET /servicesNS"))
            .filter(|l| l.contains("/storage/passwords"))
            .count()
    };
    let before = passwords_gets();
    let r = admin_form(
        &s,
        "GET",
        "/services/mltk/container_data?output_mode=json",
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(passwords_gets() - before, 1, "one secrets read per poll");

    // Stopping the model removes its record; the toolkit's lookup falls back to [__dev__],
    // which has no URL, and fails as the toolkit would.
    let r = mltk(
        &s,
        "POST",
        "stop_container",
        &json!({"payload": {"model": "beside1"}}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let (ok, out) = toolkit_lookup(&s, "beside1", "prod", "summary");
    assert!(!ok && out.contains("is undefined"), "{out}");
}

#[test]
fn without_the_toolkit_the_stores_stay_in_this_app() {
    let s = DevServer::start("toolkit-absent", &["--pool", "1"]);
    let r = mltk(
        &s,
        "POST",
        "container_connection",
        &json!({"container_type": "docker", "connection_name": "standalone",
                "docker_url": "unix:///var/run/docker.sock"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let own = s
        .home
        .join("etc/apps/dsdl_handler/local/container_connections.conf");
    let text = std::fs::read_to_string(&own).expect("saved in this app");
    assert!(text.contains("standalone"), "{text}");
    assert!(!s.home.join("etc/apps").join(TOOLKIT).exists());
}

/// The toolkit's own handler stanza, served by a stand-in driver (this project's binary with a
/// log of its own, so the test can tell which app's handler answered).
fn install_toolkit_handler(home: &Path) -> std::path::PathBuf {
    install_toolkit(home);
    let log = home.join("toolkit-handler.log");
    let restmap = format!(
        "[script:mltk]\nmatch = /mltk\nscripttype = persist\nscript = util/rest_handler.py\n\
         driver = {}\ndriver.env.DSDL_LOG_FILE = {}\ndriver.env.DSDL_TOOLKIT_MODE = off\n\
         requireAuthentication = true\noutput_modes = json\npassSystemAuth = true\n\
         passPayload = true\n",
        env!("CARGO_BIN_EXE_dsdl-handler"),
        log.display()
    );
    let default = home.join("etc/apps").join(TOOLKIT).join("default");
    std::fs::write(default.join("restmap.conf"), restmap).expect("toolkit restmap");
    log
}

/// Lines of a driver log naming `path` (the drivers log one JSON line per request).
fn served(log: &Path, path: &str) -> usize {
    let needle = format!("\"path\":\"{path}\"");
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(&needle))
        .count()
}

#[test]
fn beside_the_toolkit_ours_answer_the_endpoints_and_disabling_ours_goes_back() {
    let home = common::devserver::scratch_dir("toolkit-beside");
    let toolkit_log = install_toolkit_handler(&home);
    let s = DevServer::start_at(home, &["--pool", "2"]);
    let ours = s.home.join("var/log/splunk/dsdl_handler.log");

    // Every endpoint has a stanza of ours with a longer match than the toolkit's /mltk.
    for endpoint in [
        "container_data",
        "start_container",
        "stop_container",
        "container_connection",
        "openapi.json",
    ] {
        let r = admin_form(
            &s,
            "GET",
            &format!("/services/mltk/{endpoint}?output_mode=json"),
            &[],
        );
        assert_eq!(r.status, 200, "{endpoint}: {}", r.body);
        let path = format!("/mltk/{endpoint}");
        assert_eq!(served(&ours, &path), 1, "ours answered {endpoint}");
        assert_eq!(served(&toolkit_log, &path), 0, "not the toolkit's");
    }
    // The bare /mltk is matched equally by both apps; the toolkit's app sorts first and keeps
    // it, as splunkd's app precedence would.
    let r = admin_form(&s, "GET", "/services/mltk?output_mode=json", &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(served(&toolkit_log, "/mltk"), 1, "{}", r.body);

    // Going back: disable this app (what `splunk disable app dsdl_handler` writes), restart.
    let local = s.home.join("etc/apps/dsdl_handler/local");
    std::fs::create_dir_all(&local).expect("local dir");
    std::fs::write(local.join("app.conf"), "[install]\nstate = disabled\n").expect("app.conf");
    let s = s.restart(&["--pool", "2"]);
    let r = admin_form(
        &s,
        "GET",
        "/services/mltk/container_data?output_mode=json",
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        served(&toolkit_log, "/mltk/container_data"),
        1,
        "the toolkit's handler now"
    );
    assert_eq!(
        served(&ours, "/mltk/container_data"),
        1,
        "ours no more than before"
    );
}
