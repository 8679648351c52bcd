//! Cross-check of splunkd-dev's `$7$` secrets with the independent `splunksecrets` PyPI
//! package (`pip install splunksecrets`): Python decrypts what splunkd-dev stored in
//! `passwords.conf`, and splunkd-dev reads a value Python encrypted. Skipped, with a note,
//! when the package is not installed.

use dsdl_handler::devserver::passwords;
use dsdl_handler::devserver::secret::SplunkSecret;
use dsdl_handler::devserver::types::{Caller, DevRequest, SplunkHome};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

const APP: &str = "compat_app";

fn splunksecrets_available() -> bool {
    Command::new("python3")
        .args(["-c", "import splunksecrets"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs a Python snippet with `input` on stdin and returns its stdout; the secret file path
/// is argv[1]. Values travel on stdin so they never show in a process list.
fn python(script: &str, secret_file: &Path, input: &str) -> String {
    let mut child = Command::new("python3")
        .args(["-c", script])
        .arg(secret_file)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("python3 finishes");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Decrypts stdin with the splunk.secret in argv[1], as the splunksecrets CLI does.
const DECRYPT: &str = "import sys
from splunksecrets.splunk import decrypt
secret = open(sys.argv[1], 'rb').read().strip()
sys.stdout.write(decrypt(secret, sys.stdin.read().strip()))";

/// Encrypts stdin with the splunk.secret in argv[1].
const ENCRYPT: &str = "import sys
from splunksecrets.splunk import encrypt_new
secret = open(sys.argv[1], 'rb').read().strip()
sys.stdout.write(encrypt_new(secret, sys.stdin.read()))";

fn request(method: &str, entity: Option<&str>, form: &[(&str, &str)]) -> DevRequest {
    let mut path = vec!["storage".to_string(), "passwords".to_string()];
    path.extend(entity.map(str::to_string));
    DevRequest {
        method: method.into(),
        ns_user: Some("nobody".into()),
        ns_app: Some(APP.into()),
        path,
        query: vec![("output_mode".into(), "json".into())],
        form: form
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        base_url: "https://127.0.0.1:8089".into(),
        caller: Caller {
            user: "admin".into(),
            roles: vec!["admin".into()],
            capabilities: ["list_storage_passwords", "edit_storage_passwords"]
                .iter()
                .map(|c| c.to_string())
                .collect(),
        },
    }
}

#[test]
fn splunksecrets_reads_ours_and_we_read_theirs() {
    if !splunksecrets_available() {
        eprintln!(
            "skipped: the splunksecrets Python package is not installed (pip install splunksecrets)"
        );
        return;
    }
    let root = std::env::temp_dir().join(format!("passwords-compat-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let home = SplunkHome::new(&root);
    std::fs::create_dir_all(home.app_dir(APP)).unwrap();

    // Ours, stored through storage/passwords, decrypted by splunksecrets.
    let ours = "compat-Ünïcode &=:$7$ value";
    let r = passwords::handle(
        &home,
        &request(
            "POST",
            None,
            &[
                ("name", "api_token"),
                ("realm", "dsdl_docker"),
                ("password", ours),
            ],
        ),
    );
    assert_eq!(r.status, 201);
    let conf = std::fs::read_to_string(home.app_dir(APP).join("local/passwords.conf")).unwrap();
    let stored = conf
        .lines()
        .find_map(|l| l.strip_prefix("password = "))
        .expect("a password line");
    assert!(stored.starts_with("$7$"));
    let decrypted = python(DECRYPT, &home.splunk_secret(), stored);
    assert!(
        decrypted == ours,
        "splunksecrets decrypted a different value"
    );

    // Theirs, encrypted by splunksecrets, read by SplunkSecret and through the store.
    let theirs = "from python ✓ with spaces ";
    let encrypted = python(ENCRYPT, &home.splunk_secret(), theirs);
    let key = SplunkSecret::load_or_create(&home.splunk_secret()).unwrap();
    assert!(key.decrypt(&encrypted).unwrap() == theirs);
    let unpadded = encrypted.trim_end_matches('=');
    assert!(key.decrypt(unpadded).unwrap() == theirs);

    std::fs::write(
        home.app_dir(APP).join("local/passwords.conf"),
        format!("{conf}\n[credential:dsdl_docker:from_python:]\npassword = {encrypted}\n"),
    )
    .unwrap();
    let r = passwords::handle(
        &home,
        &request("GET", Some("dsdl_docker:from_python:"), &[]),
    );
    assert_eq!(r.status, 200);
    let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert!(body["entry"][0]["content"]["clear_password"] == theirs);
    let _ = std::fs::remove_dir_all(&root);
}
