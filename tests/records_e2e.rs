//! Deployment records and the image catalog end to end: the real `splunkd-dev` and driver
//! binaries, called with curl. Records are seeded through splunkd's
//! `configs/conf-dsdl_container` as admin, then every records endpoint and method is called
//! with success and each error: `GET container_data`, `GET container_logs`,
//! `GET start_container`, `GET stop_container`, `DELETE start_container/{model}`.

mod common;

use common::devserver::*;
use common::driver::Session;
use common::wire;
use dsdl_handler::protocol::frame::encode_request;
use serde_json::Value;

const NS: &str = "/servicesNS/nobody/dsdl_handler";

fn json(r: &Resp) -> Value {
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.body))
}

fn get(s: &DevServer, path: &str) -> Resp {
    admin_request(s, "GET", path, &[])
}

fn delete(s: &DevServer, path: &str) -> Resp {
    admin_request(s, "DELETE", path, &[])
}

/// The record names `container_data` reports.
fn record_names(s: &DevServer) -> Vec<String> {
    let r = get(s, "/services/mltk/container_data?output_mode=json");
    assert_eq!(r.status, 200, "{}", r.body);
    json(&r)["config"]
        .as_object()
        .expect("config object")
        .keys()
        .cloned()
        .collect()
}

/// A running PROD record, a DEV record, a record without mode, and one with a lower-case mode.
fn seed(s: &DevServer) {
    seed_stanza(
        s,
        "dsdl_container",
        "m_prod",
        &[
            ("id", "4f1c0ffee"),
            ("mode", "PROD"),
            ("cluster", "docker"),
            ("image", "mltk-container-golden-cpu:5.2.1"),
            ("api_url", "http://localhost:32768"),
            ("status", "Active"),
        ],
    );
    seed_stanza(
        s,
        "dsdl_container",
        "m_dev",
        &[("id", ""), ("mode", "dev"), ("api_url", "")],
    );
    seed_stanza(s, "dsdl_container", "m_nomode", &[("id", "")]);
}

#[test]
fn reads_group_count_and_list_the_catalog() {
    let s = DevServer::start("records-read", &[]);
    seed(&s);

    // container_data: every record with its stored keys; without a docker connection the live
    // state of records naming a container is unknown, and records without one are stopped.
    let r = get(&s, "/services/mltk/container_data?output_mode=json");
    assert_eq!(r.status, 200, "{}", r.body);
    let v = json(&r);
    assert_eq!(v["message"], "Fetched the container successfully");
    assert_eq!(v["status"], "success");
    let config = v["config"].as_object().expect("config");
    let names: Vec<&str> = config.keys().map(String::as_str).collect();
    assert_eq!(names, ["__dev__", "m_dev", "m_nomode", "m_prod"]);
    assert_eq!(
        config["m_prod"]["status"], "Unknown",
        "a stored Active is not trusted"
    );
    assert_eq!(config["m_prod"]["id"], "4f1c0ffee");
    assert_eq!(config["m_prod"]["image"], "mltk-container-golden-cpu:5.2.1");
    for (name, c) in config {
        let (state, status) = if c["id"] == "" {
            ("stopped", "Inactive")
        } else {
            ("unknown", "Unknown")
        };
        assert_eq!(c["state"], state, "{name}: {c:?}");
        assert_eq!(c["status"], status, "{name}: {c:?}");
        for key in ["mode", "image", "api_url", "jupyter_url", "mlflow_url"] {
            assert!(c[key].is_string(), "{name} lacks {key}: {c:?}");
        }
    }
    let warning = v["messages"][0]["text"].as_str().unwrap_or_default();
    assert!(warning.contains("No docker connection"), "{v}");
    assert_eq!(
        config["__dev__"]["api_url"], "",
        "[__dev__] ships with empty keys"
    );
    assert!(
        !config["m_prod"]
            .as_object()
            .unwrap()
            .contains_key("eai:acl")
    );
    assert!(
        !config["m_prod"]
            .as_object()
            .unwrap()
            .contains_key("disabled")
    );
    assert_eq!(v["messages"][0]["type"], "WARN");
    assert!(
        v["messages"][0]["text"]
            .as_str()
            .unwrap()
            .contains("not checked")
    );

    // Object replies are JSON in the default output mode too (the toolkit's clients read JSON).
    let plain = get(&s, "/services/mltk/container_data");
    assert_eq!(plain.status, 200);
    assert_eq!(json(&plain)["config"], v["config"]);
    // The app namespace gives the same answer.
    let ns = get(&s, &format!("{NS}/mltk/container_data?output_mode=json"));
    assert_eq!(json(&ns)["config"], v["config"]);

    // container_logs: the DEV/PROD/ACTIVE/INACTIVE grouping.
    let r = get(&s, "/services/mltk/container_logs?output_mode=json");
    assert_eq!(r.status, 200, "{}", r.body);
    let v = json(&r);
    assert_eq!(v["message"], "Fetched the dev prod data successfully");
    assert_eq!(v["status"], "success");
    let group = |g: &str| -> Vec<String> {
        v["config"][g]
            .as_object()
            .unwrap_or_else(|| panic!("group {g}: {v}"))
            .keys()
            .cloned()
            .collect()
    };
    assert_eq!(group("DEV"), ["m_dev"]);
    assert_eq!(group("PROD"), ["m_prod"]);
    assert_eq!(group("ACTIVE"), ["m_prod"]);
    assert_eq!(group("INACTIVE"), ["__dev__", "m_dev", "m_nomode"]);
    assert_eq!(
        v["config"]["PROD"]["m_prod"]["api_url"],
        "http://localhost:32768"
    );
    let note = v["messages"][0]["text"]
        .as_str()
        .expect("a note on modeless records");
    assert!(
        note.contains("m_nomode") && note.contains("__dev__"),
        "{note}"
    );

    // start_container: counts, with mode_prod counting PROD records only.
    let r = get(&s, "/services/mltk/start_container?output_mode=json");
    assert_eq!(r.status, 200, "{}", r.body);
    let v = json(&r);
    assert_eq!(
        v["message"],
        "Fetched the container status stanzas successfully"
    );
    assert_eq!(
        v["container_status"]["counts"],
        serde_json::json!({"active": 1, "inactive": 3, "mode_dev": 1, "mode_prod": 1, "mode_other": 2})
    );
    assert!(
        v["messages"][0]["text"]
            .as_str()
            .unwrap()
            .contains("in neither mode_dev nor mode_prod")
    );

    // stop_container: the shipped catalog.
    let r = get(&s, "/services/mltk/stop_container?output_mode=json");
    assert_eq!(r.status, 200, "{}", r.body);
    let v = json(&r);
    assert_eq!(v["message"], "Retrieved Docker images successfully");
    assert_eq!(v["status"], "success");
    let images = v["docker_images"].as_object().expect("docker_images");
    assert_eq!(images.len(), 10, "{images:?}");
    assert_eq!(
        images["golden-gpu"],
        serde_json::json!({"label": "Golden Image GPU (5.2.1)",
            "image": "mltk-container-golden-gpu:5.2.1", "repo": "splunk/",
            "runtime": "none,nvidia"})
    );
    assert_eq!(images["golden-cpu"]["runtime"], "none");
    assert_eq!(
        images["ai-investigator"]["image"],
        "mltk-container-ubi-llm-rag:ai-investigator-beta-1.0.0"
    );
    // A local image is listed, a stanza without an image is left out with a warning.
    seed_stanza(
        &s,
        "docker_images",
        "my-image",
        &[
            ("title", "Mine"),
            ("image", "mine:1"),
            ("repo", "reg.example/"),
        ],
    );
    seed_stanza(&s, "docker_images", "no-image", &[("title", "Broken")]);
    let v = json(&get(&s, "/services/mltk/stop_container?output_mode=json"));
    assert_eq!(v["docker_images"]["my-image"]["repo"], "reg.example/");
    assert!(v["docker_images"].get("no-image").is_none());
    assert_eq!(v["messages"][0]["type"], "WARN");
    assert!(
        v["messages"][0]["text"]
            .as_str()
            .unwrap()
            .contains("no-image")
    );
}

#[test]
fn each_read_is_one_conf_call_whatever_the_record_count() {
    let s = DevServer::start("records-calls", &[]);
    for i in 0..25 {
        seed_stanza(
            &s,
            "dsdl_container",
            &format!("model_{i:02}"),
            &[("mode", "PROD"), ("id", "")],
        );
    }
    for endpoint in [
        "container_data",
        "container_logs",
        "start_container",
        "stop_container",
    ] {
        let before = driver_conf_calls(&s);
        let r = get(&s, &format!("/services/mltk/{endpoint}?output_mode=json"));
        assert_eq!(r.status, 200, "{endpoint}: {}", r.body);
        // container_data also reads the docker connection, to reach the engine: still one
        // call per conf, whatever the record count.
        let expected = if endpoint == "container_data" { 2 } else { 1 };
        assert_eq!(driver_conf_calls(&s) - before, expected, "{endpoint}");
    }
    assert_eq!(record_names(&s).len(), 26);
}

#[test]
fn delete_refuses_bad_names_and_changes_nothing() {
    let s = DevServer::start("records-badname", &[]);
    seed(&s);
    let before = record_names(&s);
    let long = "m".repeat(101);
    for (raw, why) in [
        ("..%2F..", "contains '/'"),
        ("..%2F..%2Fetc%2Fpasswd", "contains '/'"),
        ("m_prod%2F..", "contains '/'"),
        ("a%00b", "contains"),
        ("a%0Ab", "contains"),
        ("a%1Fb", "contains"),
        ("a%20b", "contains"),
        ("%C3%A9t%C3%A9", "contains"),
        (long.as_str(), "longer than 100"),
    ] {
        let r = delete(
            &s,
            &format!("/services/mltk/start_container/{raw}?output_mode=json&force=true"),
        );
        assert_eq!(r.status, 400, "{raw}: {}", r.body);
        let v = json(&r);
        let text = v["messages"][0]["text"].as_str().expect("an error text");
        assert!(text.contains(why), "{raw}: {text}");
        assert_eq!(v["status"], "fail");
        assert_eq!(v["message"], text);
    }
    // `..` percent-encoded is a dot segment of the path, refused before routing.
    let r = delete(&s, "/services/mltk/start_container/%2E%2E?output_mode=json");
    assert_eq!(r.status, 400, "{}", r.body);
    // Invalid UTF-8 once decoded.
    let r = delete(&s, "/services/mltk/start_container/%FF?output_mode=json");
    assert_eq!(r.status, 400, "{}", r.body);
    // A bad force value is a 400 too.
    let r = delete(
        &s,
        "/services/mltk/start_container/m_dev?output_mode=json&force=maybe",
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("force must be true or false"), "{}", r.body);
    // Errors follow the output mode: Splunk's XML by default.
    let r = delete(&s, "/services/mltk/start_container/..%2F..");
    assert_eq!(r.status, 400);
    assert!(
        r.body.starts_with("<?xml") && r.body.contains("<msg type=\"ERROR\">The model name"),
        "{}",
        r.body
    );
    assert_eq!(record_names(&s), before, "no bad request changed anything");
}

/// The `messages` texts of a reply.
fn texts(v: &Value) -> Vec<String> {
    v["messages"]
        .as_array()
        .map(|m| {
            m.iter()
                .filter_map(|m| m["text"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn delete_removes_the_model_then_its_record() {
    let s = DevServer::start("records-delete", &[]);
    seed(&s);

    // 404: no such model (and no record).
    let r = delete(&s, "/services/mltk/start_container/ghost?output_mode=json");
    assert_eq!(r.status, 404, "{}", r.body);
    let v = json(&r);
    let text = texts(&v)[0].clone();
    assert!(text.contains("__mlspl_ghost.mlmodel"), "{text}");
    assert!(!text.contains("record"), "{text}");
    assert_eq!(v["status"], "fail");
    assert_eq!(v["message"], text);

    // 409 while the record names a container, also with force=false; the model is not asked.
    let model = seed_model(&s, None, "search", "m_prod");
    for query in ["", "&force=false", "&force=0"] {
        let r = delete(
            &s,
            &format!("/services/mltk/start_container/m_prod?output_mode=json{query}"),
        );
        assert_eq!(r.status, 409, "{query}: {}", r.body);
        let text = texts(&json(&r))[0].clone();
        assert!(
            text.contains("4f1c0ffee") && text.contains("force=true"),
            "{text}"
        );
    }
    assert!(record_names(&s).contains(&"m_prod".to_string()));
    assert!(model.is_file(), "a refused delete leaves the model");

    // A model that does not exist: 404 even with force, nothing changes, the record is kept
    // and the message says how to remove it.
    std::fs::remove_file(&model).expect("remove the model file");
    let r = delete(
        &s,
        "/services/mltk/start_container/m_prod?output_mode=json&force=true",
    );
    assert_eq!(r.status, 404, "{}", r.body);
    let text = texts(&json(&r))[0].clone();
    assert!(
        text.contains("record was kept") && text.contains("POST /mltk/stop_container"),
        "{text}"
    );
    assert!(record_names(&s).contains(&"m_prod".to_string()));

    // force=true with the model there: the model goes, then the record; a WARN says the
    // container was not stopped (no docker connection), an INFO what happened to the record.
    let model = seed_model(&s, None, "search", "m_prod");
    let r = delete(
        &s,
        "/services/mltk/start_container/m_prod?output_mode=json&force=true",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v = json(&r);
    assert_eq!(v["message"], "Model deleted successfully");
    assert_eq!(v["status"], "success");
    assert_eq!(
        v["delete_data"],
        serde_json::json!({"status": "deleted", "container_id": "m_prod", "record": "deleted"})
    );
    assert_eq!(v["messages"][0]["type"], "WARN");
    let warn = v["messages"][0]["text"].as_str().unwrap();
    assert!(
        warn.contains("4f1c0ffee") && warn.contains("not stopped"),
        "{warn}"
    );
    assert!(
        texts(&v)
            .iter()
            .any(|t| t.contains("record of model m_prod was removed")),
        "{v}"
    );
    assert!(!model.exists(), "the model file is gone");
    assert!(!record_names(&s).contains(&"m_prod".to_string()));
    let local = std::fs::read_to_string(
        s.home
            .join("etc/apps/dsdl_handler/local/dsdl_container.conf"),
    )
    .expect("local conf");
    assert!(!local.contains("[m_prod]"), "{local}");

    // force in a JSON body ({"payload": {...}} or flat) works the same.
    seed_stanza(&s, "dsdl_container", "m_body", &[("id", "c2")]);
    let model = seed_model(&s, None, "search", "m_body");
    let r = admin_request(
        &s,
        "DELETE",
        "/services/mltk/start_container/m_body?output_mode=json",
        &[
            "-H",
            "Content-Type: application/json",
            "-d",
            r#"{"payload": {"force": true}}"#,
        ],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!model.exists());

    // A stopped record needs no force; a second delete is a 404 (the model is gone).
    let model = seed_model(&s, None, "search", "m_dev");
    let r = delete(&s, "/services/mltk/start_container/m_dev?output_mode=json");
    assert_eq!(r.status, 200, "{}", r.body);
    let v = json(&r);
    assert_eq!(v["messages"].as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v["messages"][0]["type"], "INFO");
    assert!(!model.exists());
    let r = delete(&s, "/services/mltk/start_container/m_dev?output_mode=json");
    assert_eq!(r.status, 404, "{}", r.body);

    // Default output mode: the object reply is JSON, as the toolkit's clients expect.
    seed_model(&s, None, "search", "m_nomode");
    let r = delete(&s, "/services/mltk/start_container/m_nomode");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(json(&r)["delete_data"]["container_id"], "m_nomode");
    assert_eq!(record_names(&s), ["__dev__"]);

    // A model without a deployment record (the toolkit's usual case): deleted, record "none".
    let model = seed_model(&s, None, "search", "solo");
    let r = delete(&s, "/services/mltk/start_container/solo?output_mode=json");
    assert_eq!(r.status, 200, "{}", r.body);
    let v = json(&r);
    assert_eq!(v["delete_data"]["record"], "none");
    assert!(texts(&v)[0].contains("no deployment record"), "{v}");
    assert!(!model.exists());

    // In a namespace: the caller's private model in that app.
    let private = seed_model(&s, Some("admin"), "search", "mine");
    let shared_elsewhere = seed_model(&s, None, "dsdl_handler", "mine");
    let r = delete(
        &s,
        "/servicesNS/admin/search/mltk/start_container/mine?output_mode=json",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!private.exists(), "the private model of admin in search");
    assert!(
        shared_elsewhere.is_file(),
        "another app's model is untouched"
    );
}

#[test]
fn the_dev_record_is_emptied_not_deleted() {
    let s = DevServer::start("records-dev", &[]);
    update_stanza(
        &s,
        "dsdl_container",
        "__dev__",
        &[
            ("id", "d3v"),
            ("mode", "DEV"),
            ("api_url", "http://localhost:5000"),
            ("status", "Active"),
        ],
    );
    let model = seed_model(&s, None, "search", "__dev__");
    let r = delete(
        &s,
        "/services/mltk/start_container/__dev__?output_mode=json",
    );
    assert_eq!(r.status, 409, "{}", r.body);

    let r = delete(
        &s,
        "/services/mltk/start_container/__dev__?output_mode=json&force=yes",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v = json(&r);
    assert_eq!(v["message"], "Model deleted successfully");
    assert_eq!(v["delete_data"]["status"], "deleted");
    assert_eq!(v["delete_data"]["record"], "emptied");
    let texts = texts(&v);
    assert!(texts.iter().any(|t| t.contains("not stopped")), "{texts:?}");
    assert!(texts.iter().any(|t| t.contains("emptied")), "{texts:?}");
    assert!(!model.exists());

    let config = json(&get(&s, "/services/mltk/container_data?output_mode=json"))["config"].clone();
    let dev = config["__dev__"]
        .as_object()
        .expect("__dev__ is still there");
    assert_eq!(dev.get("state").and_then(Value::as_str), Some("stopped"));
    for key in ["id", "mode", "api_url", "cluster"] {
        assert_eq!(
            dev.get(key).and_then(Value::as_str),
            Some(""),
            "{key}: {dev:?}"
        );
    }
    // Now empty: deleting a new __dev__ model leaves the record as it is and says so.
    seed_model(&s, None, "search", "__dev__");
    let r = delete(
        &s,
        "/services/mltk/start_container/__dev__?output_mode=json",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("already empty"), "{}", r.body);
}

#[test]
fn an_empty_catalog_is_200_with_an_empty_map() {
    let app = app_copy("records-noimages", |dir| {
        std::fs::write(
            dir.join("default/docker_images.conf"),
            "# no images shipped\n",
        )
        .expect("write empty catalog");
    });
    let app_arg = app.to_str().expect("UTF-8 path").to_string();
    let s = DevServer::start("records-noimages", &["--app-dir", &app_arg]);
    let r = get(&s, "/services/mltk/stop_container?output_mode=json");
    assert_eq!(r.status, 200, "{}", r.body);
    let v = json(&r);
    assert_eq!(v["docker_images"], serde_json::json!({}));
    assert_eq!(v["status"], "success");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .starts_with("No Docker images found in docker_images.conf"),
        "{v}"
    );
    // The default output mode gives the same JSON object.
    let plain = get(&s, "/services/mltk/stop_container");
    assert_eq!(plain.status, 200);
    assert_eq!(json(&plain)["docker_images"], serde_json::json!({}));
    drop(s);
    let _ = std::fs::remove_dir_all(&app);
}

#[test]
fn capabilities_and_methods() {
    let s = DevServer::start("records-caps", &[]);
    seed(&s);
    s.add_user("viewer", "viewer-Pw-123", "user");
    s.add_user("operator", "operator-Pw-123", "dsdl_admin");
    let as_user = |who: &str, method: &str, path: &str| {
        let url = format!("{}{path}", s.url);
        curl(&["-u", who, "-X", method, &url], &[])
    };
    for endpoint in [
        "container_data",
        "container_logs",
        "start_container",
        "stop_container",
    ] {
        let path = format!("/services/mltk/{endpoint}?output_mode=json");
        let r = as_user("viewer:viewer-Pw-123", "GET", &path);
        assert_eq!(r.status, 403, "{endpoint}: {}", r.body);
        let r = as_user("operator:operator-Pw-123", "GET", &path);
        assert_eq!(r.status, 200, "{endpoint}: {}", r.body);
    }
    let path = "/services/mltk/start_container/m_dev?output_mode=json";
    let shared = seed_model(&s, None, "search", "m_dev");
    let r = as_user("viewer:viewer-Pw-123", "DELETE", path);
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(record_names(&s).contains(&"m_dev".to_string()));
    // The model is deleted with the caller's own permissions: an operator may control
    // containers but not write the search app's lookups, so splunkd's 403 is passed on and
    // neither the model nor the record changes.
    let r = as_user("operator:operator-Pw-123", "DELETE", path);
    assert_eq!(r.status, 403, "{}", r.body);
    let v = json(&r);
    assert_eq!(v["status"], "fail");
    assert!(
        v["messages"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .contains("user=operator"),
        "{v}"
    );
    assert!(shared.is_file(), "the model stays");
    assert!(record_names(&s).contains(&"m_dev".to_string()));
    // The operator's own (private) model is theirs to delete.
    let private = seed_model(&s, Some("operator"), "search", "op_model");
    let r = as_user(
        "operator:operator-Pw-123",
        "DELETE",
        "/services/mltk/start_container/op_model?output_mode=json",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!private.exists());
    // An administrator may delete the shared one.
    let r = admin_request(&s, "DELETE", path, &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!shared.exists());
    assert!(!record_names(&s).contains(&"m_dev".to_string()));

    // Methods the records endpoints do not take.
    for (method, path) in [
        ("DELETE", "/services/mltk/container_data"),
        ("PUT", "/services/mltk/stop_container"),
        ("DELETE", "/services/mltk/start_container"),
        ("GET", "/services/mltk/start_container/m_prod"),
    ] {
        let r = admin_request(&s, method, &format!("{path}?output_mode=json"), &[]);
        assert_eq!(r.status, 405, "{method} {path}: {}", r.body);
        assert!(r.header("Allow").is_some(), "{method} {path}");
    }
}

#[test]
fn splunkd_unreachable_or_no_system_token_is_a_503_with_the_toolkit_keys() {
    // A port nothing listens on: bind one, then let it go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let closed = format!("http://127.0.0.1:{port}");
    let mut driver = Session::start();
    for (method, path, legacy_status) in [
        ("GET", "/mltk/container_data", "fail"),
        ("GET", "/mltk/container_logs", "fail"),
        ("GET", "/mltk/start_container", "fail"),
        ("GET", "/mltk/stop_container", "failure"),
        ("DELETE", "/mltk/start_container/m1", "fail"),
    ] {
        for token in [Some("system-token"), None] {
            let mut req = wire::request(method, path, true);
            req["server"]["rest_uri"] = Value::String(closed.clone());
            if let Some(t) = token {
                req["system_authtoken"] = Value::String(t.into());
            }
            driver.send(&encode_request(&wire::init(), &wire::to_bytes(&req)));
            let reply = driver.request_replies();
            assert_eq!(reply["status"], 503, "{method} {path} {token:?}: {reply}");
            let payload = &reply["payload"];
            assert_eq!(payload["status"], legacy_status, "{payload}");
            assert!(payload["message"].is_string(), "{payload}");
            let text = payload["messages"][0]["text"].as_str().unwrap_or_default();
            // A DELETE first asks splunkd for the caller's capabilities with the session key,
            // so it names splunkd's URI either way.
            let expected = if token.is_some() || method == "DELETE" {
                "127.0.0.1"
            } else {
                "system_authtoken"
            };
            assert!(text.contains(expected), "{method} {path}: {text}");
            assert!(!reply.to_string().contains("system-token"), "{reply}");
        }
    }
    // A path with a dot segment is refused before splunkd is asked, so it is a 400 even
    // without one.
    let mut req = wire::request("DELETE", "/mltk/start_container/%2E%2E", true);
    req["server"]["rest_uri"] = Value::String(closed);
    driver.send(&encode_request(&wire::init(), &wire::to_bytes(&req)));
    assert_eq!(driver.request_replies()["status"], 400);
}
