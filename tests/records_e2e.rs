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
        ("%2E%2E", "must not contain"),
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

#[test]
fn delete_absent_running_forced_and_stopped_records() {
    let s = DevServer::start("records-delete", &[]);
    seed(&s);

    // 404: no such record; `default` is never a record.
    for model in ["ghost", "default"] {
        let r = delete(
            &s,
            &format!("/services/mltk/start_container/{model}?output_mode=json"),
        );
        assert_eq!(r.status, 404, "{model}: {}", r.body);
        let v = json(&r);
        assert!(
            v["messages"][0]["text"]
                .as_str()
                .unwrap()
                .contains("no deployment record")
        );
        assert_eq!(v["status"], "fail");
    }

    // 409 while the record names a container, also with force=false.
    for query in ["", "&force=false", "&force=0"] {
        let r = delete(
            &s,
            &format!("/services/mltk/start_container/m_prod?output_mode=json{query}"),
        );
        assert_eq!(r.status, 409, "{query}: {}", r.body);
        let text = json(&r)["messages"][0]["text"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            text.contains("4f1c0ffee") && text.contains("force=true"),
            "{text}"
        );
    }
    assert!(record_names(&s).contains(&"m_prod".to_string()));

    // force=true removes it anyway and says the container was not stopped.
    let r = delete(
        &s,
        "/services/mltk/start_container/m_prod?output_mode=json&force=true",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v = json(&r);
    assert_eq!(v["message"], "Deployment record deleted successfully");
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
    assert!(!record_names(&s).contains(&"m_prod".to_string()));
    let local = std::fs::read_to_string(
        s.home
            .join("etc/apps/dsdl_handler/local/dsdl_container.conf"),
    )
    .expect("local conf");
    assert!(!local.contains("[m_prod]"), "{local}");

    // force in a JSON body ({"payload": {...}} or flat) works the same.
    seed_stanza(&s, "dsdl_container", "m_body", &[("id", "c2")]);
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

    // A stopped record is deleted without force; a second delete is a 404.
    let r = delete(&s, "/services/mltk/start_container/m_dev?output_mode=json");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(json(&r).get("messages").is_none(), "{}", r.body);
    let r = delete(&s, "/services/mltk/start_container/m_dev?output_mode=json");
    assert_eq!(r.status, 404, "{}", r.body);
    // Default output mode: the object reply is JSON, as the toolkit's clients expect.
    let r = delete(&s, "/services/mltk/start_container/m_nomode");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(json(&r)["delete_data"]["container_id"], "m_nomode");
    assert_eq!(record_names(&s), ["__dev__"]);
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
    assert_eq!(v["message"], "Deployment record emptied successfully");
    assert_eq!(v["delete_data"]["status"], "deleted");
    assert_eq!(v["delete_data"]["record"], "emptied");
    let texts: Vec<&str> = v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["text"].as_str())
        .collect();
    assert!(texts.iter().any(|t| t.contains("not stopped")), "{texts:?}");
    assert!(texts.iter().any(|t| t.contains("emptied")), "{texts:?}");

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
    // Now empty: deleting again changes nothing and says so.
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
    let r = as_user("viewer:viewer-Pw-123", "DELETE", path);
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(record_names(&s).contains(&"m_dev".to_string()));
    let r = as_user("operator:operator-Pw-123", "DELETE", path);
    assert_eq!(r.status, 200, "{}", r.body);

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
            let expected = if token.is_some() {
                "127.0.0.1"
            } else {
                "system_authtoken"
            };
            assert!(text.contains(expected), "{method} {path}: {text}");
            assert!(!reply.to_string().contains("system-token"), "{reply}");
        }
    }
    // A bad name is refused before splunkd is asked, so it is a 400 even without one.
    let mut req = wire::request("DELETE", "/mltk/start_container/..%2F..", true);
    req["server"]["rest_uri"] = Value::String(closed);
    driver.send(&encode_request(&wire::init(), &wire::to_bytes(&req)));
    assert_eq!(driver.request_replies()["status"], 400);
}
