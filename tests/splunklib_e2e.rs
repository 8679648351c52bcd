//! splunkd-dev and the /mltk API driven by Splunk's Python SDK (splunklib), the client Splunk
//! apps use: `tests/python/splunklib_drive.py` logs in with a username and password (a form
//! body without a Content-Type), reads `service.confs` (`properties/...` then
//! `configs/conf-*`), uses `storage_passwords`, and calls every `/mltk` endpoint. Needs python3
//! with the `splunk-sdk` package; without it the test fails and says how to install it.

mod common;

use common::devserver::*;
use std::path::Path;
use std::process::Command;

#[test]
fn splunklib_drives_the_api() {
    common::require_python_module("splunklib.client", "splunk-sdk");
    let s = DevServer::start("splunklib", &[]);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/splunklib_drive.py");
    let out = Command::new("python3")
        .arg(&script)
        .args([s.url.as_str(), "admin", ADMIN_PASSWORD])
        .output()
        .expect("run the splunklib script");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the splunklib script failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(stdout.contains("all splunklib checks passed"), "{stdout}");
    // The script's secrets stay out of splunkd-dev's logs.
    for log in ["splunkd.log", "splunkd_access.log"] {
        let text =
            std::fs::read_to_string(s.home.join("var/log/splunk").join(log)).unwrap_or_default();
        for secret in ["splunklib-Secret-1", "splunklib-Jupyter-1", ADMIN_PASSWORD] {
            assert!(!text.contains(secret), "{secret} in {log}");
        }
    }
}
