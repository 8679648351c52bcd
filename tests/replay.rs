//! Replay: every fixture in `fixtures/` (captured through splunkd-dev with `--capture`, see
//! scripts/capture-fixtures.sh) is sent through the real `dsdl-handler` binary, in file-name
//! order, against one fresh splunkd-dev store, and the reply must equal the captured one.
//!
//! Placeholders are put back before sending (`<session_key>`, `<system_key>`, `<rest_uri>`,
//! `$SPLUNK_HOME`); replies are compared after the live `rest_uri` is turned back into its
//! placeholder, ISO timestamps are zeroed and the fixture's `volatile` JSON pointers (with `*`
//! for any array index) are blanked.

mod common;

use common::devserver::DevServer;
use common::driver::Session;
use common::wire;
use dsdl_handler::protocol::frame::{Init, encode_request};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fixtures/ exists")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

/// Replaces every whole-string or substring occurrence of `from` in string values.
fn substitute(v: &mut Value, pairs: &[(&str, &str)]) {
    match v {
        Value::String(s) => {
            for (from, to) in pairs {
                if s.contains(from) {
                    *s = s.replace(from, to);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| substitute(i, pairs)),
        Value::Object(map) => map.values_mut().for_each(|i| substitute(i, pairs)),
        _ => {}
    }
}

/// Sets the value at a JSON pointer with `*` wildcards to null, wherever it exists.
fn blank(v: &mut Value, pointer: &[&str]) {
    let Some((first, rest)) = pointer.split_first() else {
        *v = Value::Null;
        return;
    };
    match (v, *first) {
        (Value::Array(items), "*") => items.iter_mut().for_each(|i| blank(i, rest)),
        (Value::Array(items), idx) => {
            if let Some(i) = idx.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                blank(i, rest);
            }
        }
        (Value::Object(map), key) => {
            if let Some(i) = map.get_mut(key) {
                blank(i, rest);
            }
        }
        _ => {}
    }
}

fn normalise(reply: &Value, volatile: &[String]) -> Value {
    let bytes = wire::normalise_timestamps(&serde_json::to_vec(reply).expect("serialise"));
    let mut v: Value = serde_json::from_slice(&bytes).expect("reparse");
    for p in volatile {
        let parts: Vec<&str> = p.split('/').skip(1).collect();
        blank(&mut v, &parts);
    }
    v
}

#[test]
fn fixtures_replay_through_the_real_binary() {
    let files = fixtures();
    assert!(
        files.len() >= 10,
        "fixtures/ should hold the captured set; run scripts/capture-fixtures.sh"
    );
    let server = DevServer::start("replay", &[]);
    let key = server.login(&[]);
    let home = server.home.to_string_lossy().into_owned();
    let mut driver = Session::start_with_env(&[("SPLUNK_HOME", &home)]);

    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(file).expect("read fixture");
        let fixture: Value = serde_json::from_str(&text).expect("fixture is JSON");
        for secret in [&key, "changeme"] {
            assert!(!text.contains(secret), "{name} holds a secret");
        }

        let mut request = fixture["request"].clone();
        substitute(
            &mut request,
            &[
                ("<session_key>", &key),
                ("<system_key>", &key),
                ("<rest_uri>", &server.url),
            ],
        );
        let command: Vec<String> = fixture["init"]["command"]
            .as_array()
            .expect("init.command")
            .iter()
            .map(|c| c.as_str().unwrap_or("").replace("$SPLUNK_HOME", &home))
            .collect();
        let init = Init {
            command,
            command_arg: fixture["init"]["command_arg"].as_str().map(str::to_string),
        };
        driver.send(&encode_request(
            &init,
            &serde_json::to_vec(&request).expect("serialise request"),
        ));
        let mut got = driver.request_replies();
        substitute(&mut got, &[(&server.url, "<rest_uri>")]);

        let volatile: Vec<String> = fixture["volatile"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|p| p.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let (got, want) = (
            normalise(&got, &volatile),
            normalise(&fixture["reply"], &volatile),
        );
        assert_eq!(
            got,
            want,
            "{name}: {}\n got: {}\nwant: {}",
            fixture["description"],
            serde_json::to_string_pretty(&got).unwrap_or_default(),
            serde_json::to_string_pretty(&want).unwrap_or_default()
        );
    }
    driver.close();
}

#[test]
fn volatile_pointers_and_substitution() {
    let mut v = serde_json::json!({"a": [{"t": 1, "k": 2}, {"t": 3}], "s": "x<rest_uri>/y"});
    blank(&mut v, &["a", "*", "t"]);
    substitute(&mut v, &[("<rest_uri>", "http://h:1")]);
    assert_eq!(
        v,
        serde_json::json!({"a": [{"t": null, "k": 2}, {"t": null}], "s": "xhttp://h:1/y"})
    );
}
