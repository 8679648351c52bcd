//! The AI Toolkit's DSDL pages, replayed: each call its UI makes (reference section 3.15), in
//! the order a user drives it, with the bodies it sends (flat JSON for test and save,
//! `{"payload": {...}}` for start, stop and logs), through splunkd-dev and the real driver to
//! the local Docker engine. For every reply, each key the UI reads is checked to be there with
//! the JSON type it expects, and rows are put through the UI's own filter expression.

mod common;

use common::devserver::{DevServer, Resp, admin_json, admin_request};
use common::docker::{LabelGuard, catalog_entry, contract_image, offer_image, require_docker};
use serde_json::{Map, Value, json};

const MLTK: &str = "/services/mltk";
const CONNECTION: &str = "ui docker";
const CONNECTION_PATH: &str = "docker/ui%20docker";
const DEV: &str = "__dev__";

/// The JSON type the UI expects at a key.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Str,
    Num,
    Bool,
    Obj,
    Arr,
}

/// Asserts that `v` has `pointer` (RFC 6901, e.g. `/config/min_cpu`) with a value of `kind`;
/// returns it.
fn has<'a>(call: &str, v: &'a Value, pointer: &str, kind: Kind) -> &'a Value {
    let found = v
        .pointer(pointer)
        .unwrap_or_else(|| panic!("{call}: the UI reads {pointer}, which is missing: {v}"));
    let ok = match kind {
        Kind::Str => found.is_string(),
        Kind::Num => found.is_number(),
        Kind::Bool => found.is_boolean(),
        Kind::Obj => found.is_object(),
        Kind::Arr => found.is_array(),
    };
    assert!(ok, "{call}: {pointer} should be {kind:?}, is {found}");
    found
}

/// Asserts that every value of the object at `pointer` is a string (the UI's form fields and
/// table cells).
fn all_strings(call: &str, v: &Value, pointer: &str) {
    for (k, x) in has(call, v, pointer, Kind::Obj)
        .as_object()
        .into_iter()
        .flatten()
    {
        assert!(
            x.is_string(),
            "{call}: {pointer}/{k} should be a string, is {x}"
        );
    }
}

/// The toolkit UI's container table and filters: the cell shows
/// `status || (api_url ? 'Active' : 'Unknown')`; ACTIVE keeps "active", INACTIVE "inactive"
/// and "unknown" (lower-cased). `Some(true)` is ACTIVE, `Some(false)` INACTIVE.
fn ui_filter(row: &Map<String, Value>) -> Option<bool> {
    let text = |k: &str| row.get(k).and_then(Value::as_str).unwrap_or_default();
    let shown = match text("status") {
        "" if text("api_url").is_empty() => "Unknown",
        "" => "Active",
        s => s,
    };
    match shown.to_lowercase().as_str() {
        "active" => Some(true),
        "inactive" | "unknown" => Some(false),
        _ => None,
    }
}

/// One UI call: `method` on `/services/mltk/<endpoint>` with a JSON body (or none), 200
/// expected; the reply body.
fn call(s: &DevServer, what: &str, method: &str, endpoint: &str, body: Option<Value>) -> Value {
    let path = format!("{MLTK}/{endpoint}?output_mode=json");
    let r: Resp = match body {
        Some(b) => admin_json(s, method, &path, &b),
        None => admin_request(s, method, &path, &[]),
    };
    assert_eq!(r.status, 200, "{what}: {}", r.body);
    let v: Value = serde_json::from_str(&r.body)
        .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {}", r.body));
    assert_eq!(has(what, &v, "/status", Kind::Str), "success", "{what}");
    v
}

/// `getContainerData()`: the row of `model`, with the cells the table shows.
fn dev_row(s: &DevServer) -> Map<String, Value> {
    let what = "getContainerData";
    let v = call(s, what, "GET", "container_data", None);
    has(what, &v, "/message", Kind::Str);
    for (name, _) in has(what, &v, "/config", Kind::Obj)
        .as_object()
        .into_iter()
        .flatten()
    {
        for key in [
            "status",
            "api_url",
            "mode",
            "image",
            "jupyter_url",
            "id",
            "cluster",
        ] {
            has(what, &v, &format!("/config/{name}/{key}"), Kind::Str);
        }
    }
    has(what, &v, &format!("/config/{DEV}"), Kind::Obj)
        .as_object()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn the_toolkit_ui_reads_what_it_expects_from_every_reply() {
    if !require_docker() {
        return;
    }
    let image = contract_image();
    let s = DevServer::start("toolkit-ui", &["--pool", "2"]);
    // Removes every container this splunkd-dev starts, also when an assertion fails.
    let _guard = LabelGuard { value: s.guid() };
    offer_image(&s, "ui-image", &image);
    let (_, image_field) = catalog_entry(&image);

    // getDSDLConfigData('/kubernetes'): the start dialog's defaults.
    let what = "getDSDLConfigData('/kubernetes')";
    let v = call(&s, what, "GET", "container_connection/kubernetes", None);
    for key in [
        "min_cpu",
        "max_cpu",
        "min_memory",
        "max_memory",
        "min_replicas",
        "max_replicas",
    ] {
        has(what, &v, &format!("/config/{key}"), Kind::Str);
    }
    has(what, &v, "/config/hpa_enabled", Kind::Bool);
    has(what, &v, "/config/_stanza/cpu_threshold_percent", Kind::Str);
    all_strings(what, &v, "/config/_stanza");

    // saveDSDLConnection: a flat body, as the connection form builds it.
    let what = "saveDSDLConnection";
    let form = json!({
        "container_type": "docker",
        "connection_name": CONNECTION,
        "description": "",
        "docker_url": "unix:///var/run/docker.sock",
        "endpoint_hostname": "localhost",
        "jupyter_password": "Ui-jupyter-pw1",
        "is_docker": true,
        "ssl_passthrough": false,
    });
    let v = call(&s, what, "POST", "container_connection", Some(form.clone()));
    for key in ["/message", "/result"] {
        has(what, &v, key, Kind::Str);
    }

    // getDSDLConfigData('/docker/<name>'): the edit form, every field a string.
    let what = "getDSDLConfigData('/docker/<name>')";
    let v = call(
        &s,
        what,
        "GET",
        &format!("container_connection/{CONNECTION_PATH}"),
        None,
    );
    all_strings(what, &v, "/config");
    assert_eq!(
        has(what, &v, "/config/connection_name", Kind::Str),
        CONNECTION
    );
    for key in [
        "description",
        "docker_url",
        "endpoint_hostname",
        "endpoint_hostname_external",
        "docker_network",
    ] {
        has(what, &v, &format!("/config/{key}"), Kind::Str);
    }

    // testDSDLConfigData: the form again, flat, with the api_token the UI generates.
    let what = "testDSDLConfigData";
    let mut details = form.clone();
    details["api_token"] = json!("A".repeat(32) + &"7".repeat(32));
    details["is_edit"] = json!(true);
    let v = call(&s, what, "POST", "test_container_connection", Some(details));
    has(what, &v, "/message", Kind::Str);
    assert!(v.pointer("/updated_config/error").is_none(), "{what}: {v}");
    all_strings(what, &v, "/updated_config");
    for key in [
        "docker_url",
        "endpoint_hostname",
        "endpoint_hostname_external",
        "docker_network",
        "docker_logging_endpoint_hostname",
        "docker_logging_splunk_token",
        "jupyter_passwd",
    ] {
        has(what, &v, &format!("/updated_config/{key}"), Kind::Str);
    }

    // updateDSDLConnection: the UI saves updated_config with its own fields, empties dropped.
    let what = "updateDSDLConnection";
    let mut save: Map<String, Value> = v["updated_config"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, x)| x.as_str() != Some(""))
        .map(|(k, x)| (k.clone(), x.clone()))
        .collect();
    for (k, x) in [
        ("connection_name", json!(CONNECTION)),
        ("description", json!("edited by the UI")),
        ("container_type", json!("docker")),
        ("is_docker", json!(true)),
    ] {
        save.insert(k.into(), x);
    }
    let v = call(
        &s,
        what,
        "PUT",
        "container_connection",
        Some(Value::Object(save)),
    );
    has(what, &v, "/result", Kind::Str);

    // getDSDLImages: the image dropdown.
    let what = "getDSDLImages";
    let v = call(&s, what, "GET", "stop_container", None);
    let images = has(what, &v, "/docker_images", Kind::Obj).clone();
    for (k, _) in images.as_object().into_iter().flatten() {
        has(what, &v, &format!("/docker_images/{k}/label"), Kind::Str);
        has(what, &v, &format!("/docker_images/{k}/image"), Kind::Str);
    }
    assert_eq!(images["ui-image"]["image"], image_field.as_str(), "{v}");

    // startContainer: the dialog's payload for the development container.
    let what = "startContainer";
    let v = call(
        &s,
        what,
        "POST",
        "start_container",
        Some(json!({"payload": {
            "image": image_field,
            "model": DEV,
            "mode": "DEV",
            "cluster": "docker",
            "runtime": "",
        }})),
    );
    has(what, &v, "/message", Kind::Str);
    assert!(v.pointer("/updated_config/error").is_none(), "{what}: {v}");
    for key in [
        "container_id",
        "mode",
        "cluster",
        "image",
        "runtime",
        "api_url",
        "api_url_external",
        "jupyter_url",
        "tensorboard_url",
        "spark_url",
        "mlflow_url",
    ] {
        has(what, &v, &format!("/updated_config/{key}"), Kind::Str);
    }

    // getContainerData: the running development container is in the ACTIVE filter.
    let row = dev_row(&s);
    assert_eq!(row["status"], "Active", "{row:?}");
    assert_eq!(ui_filter(&row), Some(true), "{row:?}");

    // getActiveInactiveContainers: the counters (polled by the UI).
    let what = "getActiveInactiveContainers";
    let v = call(&s, what, "GET", "start_container", None);
    for key in ["active", "inactive", "mode_dev", "mode_prod"] {
        has(
            what,
            &v,
            &format!("/container_status/counts/{key}"),
            Kind::Num,
        );
    }
    assert_eq!(v["container_status"]["counts"]["active"], 1, "{v}");

    // containerLogs: the log viewer.
    let what = "containerLogs";
    let v = call(
        &s,
        what,
        "POST",
        "container_logs",
        Some(json!({"payload": {"model": DEV}})),
    );
    has(what, &v, "/message", Kind::Str);
    let entries = has(what, &v, "/container_logs/entries", Kind::Arr).clone();
    assert!(!entries.as_array().is_none_or(Vec::is_empty), "{what}: {v}");
    for i in 0..entries.as_array().map_or(0, Vec::len) {
        has(what, &entries, &format!("/{i}/_time"), Kind::Str);
        has(what, &entries, &format!("/{i}/log"), Kind::Str);
    }

    // stopContainer.
    let what = "stopContainer";
    let v = call(
        &s,
        what,
        "POST",
        "stop_container",
        Some(json!({"payload": {"model": DEV}})),
    );
    assert!(
        v.pointer("/stopped_container/error").is_none(),
        "{what}: {v}"
    );
    has(what, &v, "/stopped_container/container_id", Kind::Str);
    has(what, &v, "/stopped_container/status", Kind::Str);
    has(what, &v, "/messages/0/text", Kind::Str);

    // getContainerData again: the stopped development container is in the INACTIVE filter.
    let row = dev_row(&s);
    assert_eq!(ui_filter(&row), Some(false), "{row:?}");
    let v = call(
        &s,
        "getActiveInactiveContainers",
        "GET",
        "start_container",
        None,
    );
    assert_eq!(v["container_status"]["counts"]["active"], 0, "{v}");

    // deleteModels(name): the table's Delete on a model row (hidden for __dev__ and Active
    // rows) deletes the MLTK model, as the toolkit's handler does.
    let model_file = common::devserver::seed_model(&s, None, "dsdl_handler", "ui_model");
    let what = "deleteModels";
    let v = call(&s, what, "DELETE", "start_container/ui_model", None);
    has(what, &v, "/message", Kind::Str);
    assert_eq!(has(what, &v, "/status", Kind::Str), "success");
    assert_eq!(has(what, &v, "/delete_data/status", Kind::Str), "deleted");
    assert_eq!(
        has(what, &v, "/delete_data/container_id", Kind::Str),
        "ui_model"
    );
    assert!(!model_file.exists(), "{what}: the model file is gone");

    // deleteContainerConnection('/docker/<name>').
    let what = "deleteContainerConnection";
    let v = call(
        &s,
        what,
        "DELETE",
        &format!("container_connection/{CONNECTION_PATH}"),
        None,
    );
    has(what, &v, "/message", Kind::Str);
    assert_eq!(has(what, &v, "/config/status", Kind::Str), "success");
    for key in ["/config/message", "/config/result"] {
        has(what, &v, key, Kind::Str);
    }
    all_strings(what, &v, "/config/cleared_data");
    has(what, &v, "/config/cleared_data/docker_network", Kind::Str);
}

#[test]
fn the_ui_filter_is_the_toolkits_expression() {
    let row = |pairs: &[(&str, &str)]| -> Map<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect()
    };
    assert_eq!(ui_filter(&row(&[("status", "Active")])), Some(true));
    assert_eq!(ui_filter(&row(&[("status", "Inactive")])), Some(false));
    assert_eq!(ui_filter(&row(&[("status", "Unknown")])), Some(false));
    assert_eq!(
        ui_filter(&row(&[("status", "Waiting for Url to start")])),
        None
    );
    assert_eq!(ui_filter(&row(&[("status", "Stopped")])), None);
    assert_eq!(ui_filter(&row(&[("api_url", "http://h:1")])), Some(true));
    assert_eq!(ui_filter(&row(&[])), Some(false));
}
