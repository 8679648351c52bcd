//! Oversized and mistyped input through the real splunkd-dev with curl: a request over the
//! driver's block cap is a 413 from the same driver process, which then serves the next
//! request; keys a stop does not understand are named in a warning.

mod common;

use common::devserver::*;
use common::docker::require_docker;
use serde_json::{Value, json};

/// Every stanza of the app's restmap.conf with `driver.env.DSDL_MAX_BLOCK_BYTES = <cap>`.
fn app_with_block_cap(tag: &str, cap: usize) -> String {
    let app = app_copy(tag, |dir| {
        let path = dir.join("default/restmap.conf");
        let text = std::fs::read_to_string(&path).expect("read restmap.conf");
        let text = text.replace(
            "scripttype = persist\n",
            &format!("scripttype = persist\ndriver.env.DSDL_MAX_BLOCK_BYTES = {cap}\n"),
        );
        std::fs::write(&path, text).expect("write restmap.conf");
    });
    app.to_str().expect("UTF-8 path").to_string()
}

fn body_json(r: &Resp) -> Value {
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.body))
}

#[test]
fn an_over_cap_request_is_413_and_the_same_driver_serves_the_next() {
    let app = app_with_block_cap("oversized", 200_000);
    let s = DevServer::start("oversized", &["--app-dir", &app, "--pool", "1"]);
    let index = admin_request(&s, "GET", "/services/mltk?output_mode=json", &[]);
    assert_eq!(index.status, 200, "{}", index.body);
    let drivers = s.drivers();
    assert_eq!(drivers.len(), 1, "{drivers:?}");

    // A form value of 100,000 NULs: 300 KB on the wire, about 900 KB as request JSON; and a
    // GET with 300 KB of control bytes.
    let dir = scratch_dir("oversized-bodies");
    let (nuls, control) = (dir.join("nuls"), dir.join("control"));
    std::fs::write(&nuls, format!("v={}", "%00".repeat(100_000))).expect("write body");
    let control_bytes: Vec<u8> = (0..300_000).map(|i| [0u8, 1, 0x1b, 0x7f][i % 4]).collect();
    std::fs::write(&control, control_bytes).expect("write body");
    let (nuls, control) = (
        format!("@{}", nuls.display()),
        format!("@{}", control.display()),
    );
    let cases = [
        (
            "POST",
            "/services/mltk/container_logs?output_mode=json",
            ["--data-binary", nuls.as_str()],
        ),
        (
            "GET",
            "/servicesNS/nobody/dsdl_handler/mltk/container_data?output_mode=json",
            ["--data-binary", control.as_str()],
        ),
    ];
    for (method, path, data) in &cases {
        let r = admin_request(&s, method, path, data);
        assert_eq!(r.status, 413, "{method} {path}: {}", r.body);
        let text = body_json(&r)["messages"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(
            text.contains("too large") && text.contains("limit of 200000 bytes"),
            "{text}"
        );
        let again = admin_request(&s, "GET", "/services/mltk?output_mode=json", &[]);
        assert_eq!(again.status, 200, "{}", again.body);
        assert_eq!(s.drivers(), drivers, "the driver was replaced");
    }
    drop(s);
    let _ = std::fs::remove_dir_all(&app);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn keys_a_stop_does_not_understand_are_named_in_a_warning() {
    if !require_docker() {
        return;
    }
    let s = DevServer::start("unknown-keys", &[]);
    let path = "/services/mltk/stop_container?output_mode=json";
    let warnings = |r: &Resp| -> Vec<String> {
        assert_eq!(r.status, 200, "{}", r.body);
        body_json(r)["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .filter(|m| m["type"] == "WARN")
            .filter_map(|m| m["text"].as_str().map(str::to_string))
            .collect()
    };
    let model = "unknown_keys_nothing_runs";
    let r = admin_json(
        &s,
        "POST",
        path,
        &json!({"payload": {"model": model, "modle": "x", "force": true}}),
    );
    let w = warnings(&r);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains("\"modle\"") && w[0].contains("\"force\"") && !w[0].contains("\"model\""),
        "{w:?}"
    );
    // The toolkit UI's body, and splunklib's habit of sending output_mode in the body: quiet.
    let r = admin_json(&s, "POST", path, &json!({"payload": {"model": model}}));
    assert!(warnings(&r).is_empty(), "{}", r.body);
    let r = admin_form(
        &s,
        "POST",
        path,
        &[("model", model), ("output_mode", "json")],
    );
    assert!(warnings(&r).is_empty(), "{}", r.body);
}
