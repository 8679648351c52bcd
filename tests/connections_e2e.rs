//! Connection settings end to end: the real `splunkd-dev` and driver binaries, called with
//! curl as a user would. Every endpoint and method of `/mltk/container_connection` and
//! `GET /mltk/test_container_connection`, with success and each error; the "Done when" flow
//! (save a Docker and a Kubernetes connection with secrets, read them back masked, list them,
//! delete one and see its secrets gone from storage/passwords); a leak test over every reply,
//! log and captured fixture; and concurrent saves from two driver processes.

mod common;

use common::devserver::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;

const NS: &str = "/servicesNS/nobody/dsdl_handler";
const BASE: &str = "/services/mltk/container_connection";

fn body(r: &Resp) -> Value {
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.body))
}

fn get(s: &DevServer, path: &str) -> Resp {
    admin_request(s, "GET", path, &[])
}

fn json_path(path: &str) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}output_mode=json")
}

/// Asserts an error reply: status, Splunk's `messages`, the AI Toolkit's `message` and
/// `status: fail`, and that the text mentions `needle`.
fn assert_error(r: &Resp, status: u16, needle: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    let v = body(r);
    let text = v["messages"][0]["text"].as_str().unwrap_or_default();
    assert_eq!(v["messages"][0]["type"], "ERROR", "{}", r.body);
    assert!(text.contains(needle), "{needle:?} not in {text:?}");
    assert_eq!(v["message"], text, "{}", r.body);
    assert_eq!(v["status"], "fail", "{}", r.body);
}

/// Every credential of this app: (realm, username) -> clear text, as admin.
fn passwords(s: &DevServer) -> BTreeMap<(String, String), String> {
    let r = get(
        s,
        &format!("{NS}/storage/passwords?output_mode=json&count=0"),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    body(&r)["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            let c = &e["content"];
            (
                (
                    c["realm"].as_str().unwrap_or_default().to_string(),
                    c["username"].as_str().unwrap_or_default().to_string(),
                ),
                c["clear_password"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn realm_users(s: &DevServer, realm: &str) -> Vec<String> {
    passwords(s)
        .keys()
        .filter(|(r, _)| r == realm)
        .map(|(_, u)| u.clone())
        .collect()
}

/// The stanza of container_connections.conf as splunkd shows it, as admin.
fn stanza(s: &DevServer, ty: &str) -> serde_json::Map<String, Value> {
    let r = get(
        s,
        &format!("{NS}/configs/conf-container_connections/{ty}?output_mode=json"),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let mut c = body(&r)["entry"][0]["content"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    c.retain(|k, _| !k.starts_with("eai:") && k != "disabled");
    c
}

fn local_file(s: &DevServer, name: &str) -> String {
    std::fs::read_to_string(s.home.join("etc/apps/dsdl_handler/local").join(name))
        .unwrap_or_default()
}

fn docker_body(name: &str, extra: Value) -> Value {
    let mut v = json!({
        "container_type": "docker",
        "connection_name": name,
        "docker_url": "unix:///var/run/docker.sock",
        "endpoint_hostname": "localhost",
    });
    for (k, x) in extra.as_object().expect("object") {
        v[k] = x.clone();
    }
    v
}

fn k8s_pairs<'a>(name: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut v = vec![
        ("container_type", "kubernetes"),
        ("connection_name", name),
        ("auth_mode", "user-token"),
        ("cluster_url", "https://api.k8s.example.com:6443"),
        ("namespace", "dsdl"),
        ("is_kubernetes", "True"),
    ];
    v.extend_from_slice(extra);
    v
}

#[test]
fn save_read_list_and_delete_as_a_newcomer_would() {
    let s = DevServer::start("conn-flow", &[]);

    // Nothing configured: an empty collection, in both output modes.
    let r = get(&s, &json_path(BASE));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(body(&r)["paging"]["total"], 0);
    assert_eq!(body(&r)["entry"], json!([]));
    let atom = get(&s, BASE);
    assert_eq!(atom.status, 200);
    assert!(
        atom.body
            .contains("<opensearch:totalResults>0</opensearch:totalResults>")
    );

    // A Docker connection as wrapped JSON, secrets included.
    let r = admin_json(
        &s,
        "POST",
        &json_path(BASE),
        &json!({"payload": docker_body("local docker", json!({
            "api_token": "docker-api-token-1",
            "jupyter_password": "jupyter-pw-1",
            "docker_logging_splunk_token": "hec-for-docker-1",
            "splunk_hec_token": "default_token",
            "is_docker": true,
            "container_enable_https": "Yes",
        }))}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v = body(&r);
    assert_eq!(
        v["message"],
        "Container configurations updated successfully"
    );
    assert_eq!(
        v["result"],
        "Docker configuration saved successfully under stanza [docker]."
    );
    assert_eq!(v["status"], "success");
    assert_eq!(v["config"]["api_token"], "default_token");
    assert_eq!(v["config"]["jupyter_passwd"], "default_token");
    assert_eq!(v["config"]["container_enable_https"], "true");
    assert_eq!(v["config"]["splunk_hec_token"], "", "not stored");
    assert!(v["config"].get("is_docker").is_none());
    // Settings never given are there, empty (a script indexes them).
    assert_eq!(v["config"]["docker_network"], "");
    assert_eq!(v["config"]["endpoint_hostname_external"], "");

    // A Kubernetes connection as form pairs.
    let r = admin_form(
        &s,
        "POST",
        &json_path(BASE),
        &k8s_pairs(
            "prod-k8s",
            &[
                ("user_token", "k8s-user-token-1"),
                ("aws_access_key_id", "AKIA-not-in-conf"),
                ("hpa_enabled", "1"),
                ("min_cpu", "250m"),
                ("max_replicas", "3"),
                ("service_type", "node_port"),
            ],
        ),
    );
    assert_eq!(r.status, 200, "{}", r.body);

    // Secrets are in storage/passwords, one realm per type, and nowhere in the conf.
    let pw = passwords(&s);
    let get_pw = |realm: &str, user: &str| pw.get(&(realm.to_string(), user.to_string())).cloned();
    assert_eq!(
        get_pw("dsdl_docker", "api_token").as_deref(),
        Some("docker-api-token-1")
    );
    assert_eq!(
        get_pw("dsdl_docker", "jupyter_passwd").as_deref(),
        Some("jupyter-pw-1")
    );
    assert_eq!(
        get_pw("dsdl_docker", "docker_logging_splunk_token").as_deref(),
        Some("hec-for-docker-1")
    );
    assert_eq!(
        get_pw("dsdl_kubernetes", "user_token").as_deref(),
        Some("k8s-user-token-1")
    );
    assert_eq!(
        get_pw("dsdl_kubernetes", "aws_access_key_id").as_deref(),
        Some("AKIA-not-in-conf")
    );
    let conf = local_file(&s, "container_connections.conf");
    for secret in [
        "docker-api-token-1",
        "jupyter-pw-1",
        "hec-for-docker-1",
        "k8s-user-token-1",
        "AKIA",
    ] {
        assert!(!conf.contains(secret), "{secret} in the conf:\n{conf}");
    }
    assert!(conf.contains("hpa_enabled = true"), "{conf}");
    assert!(
        !conf.contains("is_kubernetes"),
        "UI flags are not stored:\n{conf}"
    );

    // Cluster defaults.
    let r = get(&s, &json_path(&format!("{BASE}/kubernetes")));
    assert_eq!(r.status, 200, "{}", r.body);
    let v = body(&r);
    assert_eq!(v["mesage"], "Cluster defaults fetched successfully");
    assert_eq!(v["message"], v["mesage"]);
    assert_eq!(v["status"], "success");
    assert_eq!(v["config"]["hpa_enabled"], json!(true));
    assert_eq!(v["config"]["min_cpu"], "250m");
    assert_eq!(v["config"]["max_replicas"], "3");
    assert_eq!(v["config"]["min_memory"], "");
    assert_eq!(v["config"]["_stanza"]["user_token"], "default_token");
    assert_eq!(v["config"]["_stanza"]["aws_access_key_id"], "default_token");
    assert_eq!(v["config"]["_stanza"]["client_key"], "");
    assert_eq!(v["config"]["_stanza"]["cpu_threshold_percent"], "");
    assert_eq!(v["config"]["_stanza"]["service_type"], "node_port");
    let r = get(&s, &json_path(&format!("{BASE}/docker")));
    assert_eq!(body(&r)["config"]["hpa_enabled"], json!(false));
    assert_eq!(body(&r)["config"]["_stanza"]["api_token"], "default_token");

    // One connection for editing.
    let r = get(&s, &json_path(&format!("{BASE}/docker/local%20docker")));
    assert_eq!(r.status, 200, "{}", r.body);
    let v = body(&r);
    assert_eq!(v["mesage"], "Container configuration fetched successfully");
    assert_eq!(v["config"]["connection_name"], "local docker");
    assert_eq!(v["config"]["docker_url"], "unix:///var/run/docker.sock");
    assert_eq!(v["config"]["docker_logging_splunk_token"], "default_token");
    assert_eq!(v["config"]["container_type"], "docker");
    assert_eq!(
        v["config"]["docker_network"], "",
        "saved empty, read as empty"
    );
    let r = get(&s, &json_path(&format!("{BASE}/kubernetes/prod-k8s")));
    assert_eq!(body(&r)["config"]["auth_mode"], "user-token");
    assert_eq!(body(&r)["config"]["user_token"], "default_token");

    // The list, in JSON and Atom.
    let r = get(&s, &json_path(BASE));
    let v = body(&r);
    assert_eq!(v["paging"]["total"], 2, "{}", r.body);
    let names: Vec<&str> = v["entry"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert_eq!(names, ["local docker", "prod-k8s"]);
    assert_eq!(v["entry"][0]["content"]["container_type"], "docker");
    assert_eq!(v["entry"][1]["content"]["container_type"], "kubernetes");
    assert_eq!(v["entry"][1]["content"]["user_token"], "default_token");
    let atom = get(&s, BASE);
    assert!(
        atom.body.contains("<title>prod-k8s</title>"),
        "{}",
        atom.body
    );
    assert!(
        atom.body
            .contains("<s:key name=\"user_token\">default_token</s:key>")
    );

    // The saved docker connection in the AI Toolkit's test layout.
    let r = get(
        &s,
        "/services/mltk/test_container_connection?output_mode=json",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v = body(&r);
    assert_eq!(v["message"], "Fetched the data successfully");
    assert_eq!(v["config"]["docker_url"], "unix:///var/run/docker.sock");
    assert_eq!(v["config"]["api_token"], "default_token");
    assert_eq!(v["config"]["jupyter_passwd"], "default_token");
    assert_eq!(v["config"]["splunk_hec_token"], "");
    assert_eq!(
        v["config"]["user_token"], "",
        "kubernetes secrets never show for docker"
    );
    assert_eq!(v["config"]["namespace"], "");
    let post = admin_json(
        &s,
        "POST",
        "/services/mltk/test_container_connection?output_mode=json",
        &json!({"container_type": "kubernetes", "cluster_url": "https://127.0.0.1:1"}),
    );
    // The saved auth_mode and namespace and the stored token are tested, at the URL given.
    assert_eq!(post.status, 503, "{}", post.body);
    let v = body(&post);
    assert_eq!(v["stages"][0]["result"], "passed", "{}", post.body);
    assert_eq!(v["stages"][1]["stage"], "connect", "{}", post.body);
    assert_eq!(v["stages"][1]["result"], "failed", "{}", post.body);
    let url_detail = v["stages"][0]["detail"].as_str().unwrap_or_default();
    assert!(
        url_detail.contains("auth_mode user-token, namespace dsdl"),
        "{url_detail}"
    );

    // Delete the Kubernetes connection: settings reset, its secrets gone, docker's kept.
    let r = admin_request(
        &s,
        "DELETE",
        &json_path(&format!("{BASE}/kubernetes/prod-k8s")),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v = body(&r);
    assert_eq!(v["message"], "Container configuration deleted successfully");
    assert_eq!(v["status"], "success");
    assert_eq!(v["config"]["message"], "Stanza [kubernetes] cleared.");
    assert_eq!(v["config"]["cleared_data"]["connection_name"], "");
    assert_eq!(v["config"]["cleared_data"]["hpa_enabled"], "false");
    assert_eq!(v["config"]["cleared_data"]["namespace"], "");
    assert_eq!(
        v["config"]["cleared_data"]["ingress_annotations"], "",
        "a key never saved is listed too"
    );
    assert_eq!(v["config"]["cleared_data"]["user_token"], "");
    assert_eq!(
        v["config"]["result"],
        "Docker configuration saved successfully under stanza [kubernetes]."
    );
    let mut deleted: Vec<&str> = v["deleted_credentials"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    deleted.sort();
    assert_eq!(deleted, ["aws_access_key_id", "user_token"]);
    assert!(realm_users(&s, "dsdl_kubernetes").is_empty());
    assert_eq!(realm_users(&s, "dsdl_docker").len(), 3);
    let k = stanza(&s, "kubernetes");
    assert_eq!(k["connection_name"], "");
    assert_eq!(k["namespace"], "");
    assert_eq!(k["hpa_enabled"], "false", "back to the shipped default");
    assert_eq!(k["allow_pull"], "true");
    let r = get(&s, &json_path(BASE));
    assert_eq!(body(&r)["paging"]["total"], 1);
    let gone = get(&s, &json_path(&format!("{BASE}/kubernetes/prod-k8s")));
    assert_error(
        &gone,
        404,
        "Connection Name 'prod-k8s' not present in container_type 'kubernetes'",
    );
    let again = admin_request(
        &s,
        "DELETE",
        &json_path(&format!("{BASE}/kubernetes/prod-k8s")),
        &[],
    );
    assert_error(&again, 404, "no kubernetes connection is saved");

    // A deleted type can be created again.
    let r = admin_form(&s, "POST", &json_path(BASE), &k8s_pairs("second-k8s", &[]));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        body(&r)["config"]["user_token"],
        "",
        "old secrets did not come back"
    );
}

#[test]
fn updates_replace_settings_and_keep_secrets() {
    let s = DevServer::start("conn-update", &[]);
    let r = admin_form(
        &s,
        "POST",
        &json_path(BASE),
        &k8s_pairs(
            "k",
            &[
                ("user_token", "tok-1"),
                ("client_key", "key-1"),
                ("hpa_enabled", "true"),
                ("storage_class", "gp2"),
            ],
        ),
    );
    assert_eq!(r.status, 200, "{}", r.body);

    // PUT without namespace/storage_class/hpa_enabled: those go back to their defaults;
    // user_token sent as default_token and client_key left out keep their stored values.
    let r = admin_json(
        &s,
        "PUT",
        &json_path(BASE),
        &json!({"container_type": "kubernetes", "connection_name": "k", "auth_mode": "cert-key",
                "cluster_url": "https://new.example.com:6443", "user_token": "default_token",
                "cluster_ca": "ca-2"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let c = stanza(&s, "kubernetes");
    assert_eq!(c["auth_mode"], "cert-key");
    assert_eq!(c["cluster_url"], "https://new.example.com:6443");
    assert_eq!(c["namespace"], "");
    assert_eq!(c["storage_class"], "");
    assert_eq!(c["hpa_enabled"], "false");
    let pw = passwords(&s);
    let realm = |u: &str| {
        pw.get(&("dsdl_kubernetes".to_string(), u.to_string()))
            .cloned()
    };
    assert_eq!(realm("user_token").as_deref(), Some("tok-1"));
    assert_eq!(realm("client_key").as_deref(), Some("key-1"));
    assert_eq!(realm("cluster_ca").as_deref(), Some("ca-2"));

    // POST with a true is_edit is an update too; a new secret value replaces the stored one.
    let r = admin_form(
        &s,
        "POST",
        &json_path(BASE),
        &k8s_pairs("k", &[("is_edit", "true"), ("user_token", "tok-2")]),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(stanza(&s, "kubernetes")["auth_mode"], "user-token");
    let pw = passwords(&s);
    assert_eq!(
        pw.get(&("dsdl_kubernetes".to_string(), "user_token".to_string()))
            .map(String::as_str),
        Some("tok-2")
    );
    assert_eq!(
        realm_users(&s, "dsdl_kubernetes").len(),
        3,
        "nothing deleted by a save"
    );
}

#[test]
fn bad_input_gets_a_4xx_that_says_what_to_fix_and_changes_nothing() {
    let s = DevServer::start("conn-bad", &[]);
    let r = admin_json(
        &s,
        "POST",
        &json_path(BASE),
        &docker_body("d1", json!({"api_token": "keep-me-1"})),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let before = (local_file(&s, "container_connections.conf"), passwords(&s));

    let post = |v: Value| admin_json(&s, "POST", &json_path(BASE), &v);
    let put = |v: Value| admin_json(&s, "PUT", &json_path(BASE), &v);
    let k8s = |extra: Value| {
        let mut v = json!({"container_type": "kubernetes", "connection_name": "k",
                           "auth_mode": "user-token", "cluster_url": "https://k:6443",
                           "user_token": "must-not-be-stored"});
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    };

    // 400s, each naming what to fix.
    assert_error(
        &post(k8s(json!({"colour": "blue"}))),
        400,
        "Unknown setting colour",
    );
    assert_error(
        &post(k8s(json!({"docker_url": "tcp://h:2375"}))),
        400,
        "docker_url is a docker setting",
    );
    assert_error(
        &post(k8s(json!({"auth_mode": "password"}))),
        400,
        "auth_mode must be one of cert-key, user-token, user-login, aws-iam, service-account",
    );
    assert_error(
        &post(k8s(json!({"service_type": "cluster_ip"}))),
        400,
        "service_type must be one of load_balancer, node_port, route, ingress",
    );
    assert_error(
        &post(k8s(json!({"hpa_enabled": "sometimes"}))),
        400,
        "hpa_enabled must be true or false",
    );
    assert_error(
        &post(k8s(json!({"cluster_url": "http://k:6443"}))),
        400,
        "cluster_url must start with https://",
    );
    assert_error(
        &post(k8s(json!({"min_replicas": "4", "max_replicas": "2"}))),
        400,
        "min_replicas (4) must not be more than max_replicas (2)",
    );
    assert_error(
        &post(k8s(json!({"connection_name": "a/b"}))),
        400,
        "connection name",
    );
    assert_error(
        &post(k8s(json!({"connection_name": ""}))),
        400,
        "connection_name is required",
    );
    assert_error(
        &post(k8s(json!({"container_type": "podman"}))),
        400,
        "container_type must be docker or kubernetes",
    );
    assert_error(
        &post(json!({"connection_name": "x"})),
        400,
        "container_type is required",
    );
    assert_error(
        &put(docker_body("d1", json!({"docker_url": "http://h:2375"}))),
        400,
        "docker_url must start with unix:// or tcp://",
    );
    assert_error(
        &put(docker_body(
            "d1",
            json!({"docker_url": "tcp://user:pw@h:2375"}),
        )),
        400,
        "user name or password",
    );
    let r = admin_form(
        &s,
        "POST",
        &json_path(BASE),
        &[("container_type", "docker"), ("connection_name", "d2")],
    );
    assert_error(&r, 400, "docker_url is required");
    let r = admin_request(
        &s,
        "POST",
        &json_path(BASE),
        &[
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            "{not json",
        ],
    );
    assert_error(&r, 400, "not valid JSON");
    let r = post(k8s(json!({"nope": 1, "auth_mode": "x"})));
    assert_error(&r, 400, "2 problems");

    // 409: the type already has a connection (same or another name).
    for name in ["d1", "d2"] {
        let r = post(docker_body(
            name,
            json!({"api_token": "must-not-be-stored"}),
        ));
        assert_error(&r, 409, "already exists");
        let text = body(&r)["message"].as_str().unwrap_or_default().to_string();
        for how in [
            "PUT",
            "is_edit",
            "DELETE /mltk/container_connection/docker/d1",
        ] {
            assert!(text.contains(how), "{how}: {text}");
        }
        if name == "d2" {
            // Another name: the toolkit replaced the connection; the 409 says how to.
            assert!(text.contains("To replace it, delete it first"), "{text}");
        }
    }
    // 404: an update of a name that is not the stored one, or of a type with no connection.
    assert_error(
        &put(docker_body("other", json!({}))),
        404,
        "Connection Name 'other' not present in container_type 'docker'",
    );
    let r = post(docker_body("other", json!({"is_edit": "1"})));
    assert_error(&r, 404, "not present");
    assert_error(
        &put(k8s(json!({}))),
        404,
        "no kubernetes connection is saved",
    );

    // Reads and deletes of unknown types and names.
    assert_error(
        &get(&s, &json_path(&format!("{BASE}/podman"))),
        404,
        "No container type \"podman\"",
    );
    assert_error(
        &get(&s, &json_path(&format!("{BASE}/podman/d1"))),
        404,
        "No container type",
    );
    assert_error(
        &get(&s, &json_path(&format!("{BASE}/docker/nope"))),
        404,
        "the docker connection is named \"d1\"",
    );
    assert_error(
        &get(&s, &json_path(&format!("{BASE}/kubernetes/k"))),
        404,
        "no kubernetes connection is saved",
    );
    assert_error(
        &get(&s, &json_path(&format!("{BASE}/docker/a%00b"))),
        400,
        "connection name",
    );
    assert_error(
        &get(&s, &json_path(&format!("{BASE}/docker/{}", "n".repeat(65)))),
        400,
        "longer than 64",
    );
    assert_error(
        &admin_request(
            &s,
            "DELETE",
            &json_path(&format!("{BASE}/docker/nope")),
            &[],
        ),
        404,
        "not present",
    );
    assert_error(
        &admin_request(&s, "DELETE", &json_path(&format!("{BASE}/podman/d1")), &[]),
        404,
        "No container type",
    );
    assert_error(
        &admin_request(
            &s,
            "DELETE",
            &json_path(&format!("{BASE}/docker/d1?force=maybe")),
            &[],
        ),
        400,
        "force must be true or false",
    );
    // Methods the paths do not take.
    let r = admin_request(&s, "DELETE", &json_path(BASE), &[]);
    assert_eq!(r.status, 405, "{}", r.body);
    assert_eq!(r.header("Allow").as_deref(), Some("GET, POST, PUT"));
    let r = admin_request(&s, "PUT", &json_path(&format!("{BASE}/docker/d1")), &[]);
    assert_eq!(r.status, 405, "{}", r.body);

    // Nothing changed.
    assert_eq!(
        (local_file(&s, "container_connections.conf"), passwords(&s)),
        before
    );
    // XML callers get the same error in Splunk's XML shape.
    let r = get(&s, &format!("{BASE}/podman"));
    assert_eq!(r.status, 404);
    assert!(
        r.body.contains("<msg type=\"ERROR\">No container type"),
        "{}",
        r.body
    );
}

#[test]
fn delete_is_refused_while_containers_run_unless_forced() {
    let s = DevServer::start("conn-delete", &[]);
    let r = admin_json(
        &s,
        "POST",
        &json_path(BASE),
        &docker_body("d", json!({"api_token": "t-1"})),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = admin_form(
        &s,
        "POST",
        &json_path(BASE),
        &k8s_pairs("k", &[("user_token", "u-1")]),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    // Records: one running on docker, one stopped on docker, one running on kubernetes.
    seed_stanza(
        &s,
        "dsdl_container",
        "m_run",
        &[("id", "0123abcd"), ("cluster", "docker"), ("mode", "PROD")],
    );
    seed_stanza(
        &s,
        "dsdl_container",
        "m_stopped",
        &[("id", ""), ("cluster", "docker")],
    );
    seed_stanza(
        &s,
        "dsdl_container",
        "m_k8s",
        &[("id", "m-k8s"), ("cluster", "kubernetes")],
    );

    let r = admin_request(&s, "DELETE", &json_path(&format!("{BASE}/docker/d")), &[]);
    assert_error(
        &r,
        409,
        "1 container is recorded as running through the docker connection (m_run)",
    );
    assert!(body(&r)["message"].as_str().unwrap().contains("force=true"));
    assert_eq!(
        realm_users(&s, "dsdl_docker"),
        ["api_token"],
        "a refused delete changes nothing"
    );
    assert_eq!(stanza(&s, "docker")["connection_name"], "d");

    // force=true in the query.
    let r = admin_request(
        &s,
        "DELETE",
        &json_path(&format!("{BASE}/docker/d?force=true")),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v = body(&r);
    assert_eq!(v["still_running"], json!(["m_run"]));
    assert_eq!(v["messages"][0]["type"], "WARN");
    let warn = v["messages"][0]["text"].as_str().unwrap();
    assert!(
        warn.contains("were not stopped") && warn.contains("m_run"),
        "{warn}"
    );
    assert!(realm_users(&s, "dsdl_docker").is_empty());
    assert_eq!(stanza(&s, "docker")["connection_name"], "");

    // force in the body (form), for the kubernetes connection.
    let r = admin_request(
        &s,
        "DELETE",
        &json_path(&format!("{BASE}/kubernetes/k")),
        &[],
    );
    assert_error(&r, 409, "(m_k8s)");
    let r = admin_form(
        &s,
        "DELETE",
        &json_path(&format!("{BASE}/kubernetes/k")),
        &[("force", "yes")],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(realm_users(&s, "dsdl_kubernetes").is_empty());
}

/// Every file below `dir`, recursively.
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn no_secret_reaches_a_reply_a_log_or_a_fixture() {
    let capture = scratch_dir("conn-leak-capture");
    let s = DevServer::start(
        "conn-leak",
        &["--capture", capture.to_str().expect("utf-8 path")],
    );
    let salt = format!(
        "{}{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default()
    );
    let canary = |field: &str, round: u32| format!("LEAK-CANARY-{field}-{round}-{salt}");
    let docker_secrets = [
        "api_token",
        "jupyter_passwd",
        "olly_splunk_access_token",
        "splunk_access_token",
        "splunk_hec_token",
        "docker_logging_splunk_token",
        "docker_ca",
        "docker_client_cert",
        "docker_client_key",
    ];
    let k8s_secrets = [
        "api_token",
        "jupyter_passwd",
        "olly_splunk_access_token",
        "splunk_access_token",
        "splunk_hec_token",
        "client_key",
        "client_cert",
        "cluster_ca",
        "user_token",
        "user_password",
        "aws_access_key_id",
        "aws_secret_access_key",
        "service_account_token",
    ];
    let mut canaries: Vec<String> = Vec::new();
    let mut replies: Vec<Resp> = Vec::new();

    for round in 0..2u32 {
        let mut d = docker_body("leaky docker", json!({}));
        for f in docker_secrets {
            d[f] = json!(canary(f, round));
            canaries.push(canary(f, round));
        }
        if round == 0 {
            // The UI's alias on the first round.
            d.as_object_mut().unwrap().remove("jupyter_passwd");
            d["jupyter_password"] = json!(canary("jupyter_passwd", 0));
        }
        let mut k: Vec<(String, String)> = k8s_pairs("leaky-k8s", &[])
            .into_iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        for f in k8s_secrets {
            k.push((f.to_string(), canary(&format!("k8s-{f}"), round)));
            canaries.push(canary(&format!("k8s-{f}"), round));
        }
        let k: Vec<(&str, &str)> = k.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        let method = if round == 0 { "POST" } else { "PUT" };
        let r = admin_json(&s, method, &json_path(BASE), &d);
        assert_eq!(r.status, 200, "{}", r.body);
        replies.push(r);
        let r = admin_form(&s, method, &json_path(BASE), &k);
        assert_eq!(r.status, 200, "{}", r.body);
        replies.push(r);
    }
    // Errors with secrets in the request: a duplicate, a bad value beside secrets, a secret
    // under an unknown name, a secret given twice.
    let dup = admin_json(
        &s,
        "POST",
        &json_path(BASE),
        &docker_body("leaky docker", json!({"api_token": canary("dup", 9)})),
    );
    assert_eq!(dup.status, 409);
    replies.push(dup);
    let bad = admin_json(
        &s,
        "PUT",
        &json_path(BASE),
        &docker_body(
            "leaky docker",
            json!({"api_token": canary("bad", 9), "allow_pull": "maybe"}),
        ),
    );
    assert_eq!(bad.status, 400);
    replies.push(bad);
    let unknown = admin_json(
        &s,
        "PUT",
        &json_path(BASE),
        &docker_body("leaky docker", json!({"hec_token": canary("unknown", 9)})),
    );
    assert_eq!(unknown.status, 400);
    replies.push(unknown);
    let twice = admin_json(
        &s,
        "PUT",
        &json_path(BASE),
        &docker_body(
            "leaky docker",
            json!({"jupyter_passwd": canary("twice-a", 9), "jupyter_password": canary("twice-b", 9)}),
        ),
    );
    assert_eq!(twice.status, 400);
    replies.push(twice);
    let structured = admin_json(
        &s,
        "PUT",
        &json_path(BASE),
        &docker_body(
            "leaky docker",
            json!({"api_token": {"nested": canary("nested", 9)}}),
        ),
    );
    assert_eq!(structured.status, 400);
    replies.push(structured);
    for tag in ["dup", "bad", "unknown", "twice-a", "twice-b", "nested"] {
        canaries.push(canary(tag, 9));
    }

    // Every read, in both output modes.
    for path in [
        BASE.to_string(),
        format!("{BASE}/docker"),
        format!("{BASE}/kubernetes"),
        format!("{BASE}/docker/leaky%20docker"),
        format!("{BASE}/kubernetes/leaky-k8s"),
        "/services/mltk/test_container_connection".to_string(),
    ] {
        for p in [path.clone(), json_path(&path)] {
            let r = get(&s, &p);
            assert_eq!(r.status, 200, "{p}: {}", r.body);
            assert!(r.body.contains("default_token"), "{p}: {}", r.body);
            replies.push(r);
        }
    }
    let r = admin_json(
        &s,
        "POST",
        "/services/mltk/test_container_connection?output_mode=json",
        &docker_body(
            "x",
            json!({"api_token": canary("test", 9), "docker_url": "unix:///nonexistent/dsdl.sock"}),
        ),
    );
    assert_eq!(
        r.status, 503,
        "a test that cannot connect stores nothing: {}",
        r.body
    );
    replies.push(r);
    canaries.push(canary("test", 9));
    // Kubernetes tests with secrets that fail: a token the API server refuses (401 at the
    // auth stage), and TLS material that is not PEM (400 naming the field, not its value).
    let cluster = common::kube::cluster();
    let refused = admin_json(
        &s,
        "POST",
        "/services/mltk/test_container_connection?output_mode=json",
        &json!({"container_type": "kubernetes", "auth_mode": "user-token",
                "cluster_url": cluster.url, "namespace": "dsdl",
                "cluster_ca": common::kube::b64(&cluster.ca_pem),
                "user_token": canary("k8s-test-token", 9)}),
    );
    assert_eq!(refused.status, 502, "{}", refused.body);
    replies.push(refused);
    let not_pem = admin_json(
        &s,
        "POST",
        "/services/mltk/test_container_connection?output_mode=json",
        &json!({"container_type": "kubernetes", "auth_mode": "cert-key",
                "cluster_url": cluster.url, "namespace": "dsdl",
                "cluster_ca": canary("k8s-test-ca", 9),
                "client_cert": canary("k8s-test-cert", 9),
                "client_key": canary("k8s-test-key", 9)}),
    );
    assert_eq!(not_pem.status, 400, "{}", not_pem.body);
    replies.push(not_pem);
    for tag in [
        "k8s-test-token",
        "k8s-test-ca",
        "k8s-test-cert",
        "k8s-test-key",
    ] {
        canaries.push(canary(tag, 9));
    }

    // The secrets really are stored (so the checks below are meaningful), only as $7$.
    let pw = passwords(&s);
    assert_eq!(
        pw.get(&("dsdl_docker".to_string(), "jupyter_passwd".to_string()))
            .map(String::as_str),
        Some(canary("jupyter_passwd", 1).as_str())
    );
    assert_eq!(realm_users(&s, "dsdl_docker").len(), docker_secrets.len());
    assert_eq!(realm_users(&s, "dsdl_kubernetes").len(), k8s_secrets.len());
    let passwords_conf = local_file(&s, "passwords.conf");
    let values: Vec<&str> = passwords_conf
        .lines()
        .filter_map(|l| {
            l.split_once('=')
                .filter(|(k, _)| k.trim() == "password")
                .map(|(_, v)| v.trim())
        })
        .collect();
    assert_eq!(
        values.len(),
        docker_secrets.len() + k8s_secrets.len(),
        "{passwords_conf}"
    );
    assert!(
        values.iter().all(|v| v.starts_with("$7$")),
        "{passwords_conf}"
    );

    // Deletes last.
    for path in [
        format!("{BASE}/docker/leaky%20docker"),
        format!("{BASE}/kubernetes/leaky-k8s"),
    ] {
        let r = admin_request(&s, "DELETE", &json_path(&path), &[]);
        assert_eq!(r.status, 200, "{}", r.body);
        replies.push(r);
    }
    assert!(
        realm_users(&s, "dsdl_docker").is_empty() && realm_users(&s, "dsdl_kubernetes").is_empty()
    );

    let check = |what: &str, text: &str| {
        for c in &canaries {
            assert!(!text.contains(c.as_str()), "{c} leaked into {what}");
        }
        assert!(!text.contains("LEAK-CANARY"), "a canary leaked into {what}");
    };
    for r in &replies {
        check("a reply", &format!("{}{}", r.headers, r.body));
    }
    let driver_log = s.home.join("var/log/splunk/dsdl_handler.log");
    let log = std::fs::read_to_string(&driver_log).expect("the driver's log exists");
    assert!(
        log.contains("container_connection"),
        "the log saw the requests"
    );
    check("dsdl_handler.log", &log);
    // The audit trail saw every change, failed ones too, and holds no secret either.
    let audit = std::fs::read_to_string(s.home.join("var/log/splunk/dsdl_handler_audit.log"))
        .expect("the audit trail exists");
    for action in ["save_connection", "test_connection", "delete_connection"] {
        assert!(
            audit.contains(&format!("\"action\":\"{action}\"")),
            "{action}: {audit}"
        );
    }
    check("dsdl_handler_audit.log", &audit);
    // Everything splunkd-dev wrote: its logs, the confs, passwords.conf (encrypted).
    for f in files_under(&s.home) {
        let bytes = std::fs::read(&f).unwrap_or_default();
        check(&f.display().to_string(), &String::from_utf8_lossy(&bytes));
    }
    check("splunkd-dev's stderr", &s.stderr());
    let fixtures = files_under(&capture);
    assert!(fixtures.len() >= replies.len(), "every round trip captured");
    for f in fixtures {
        check(
            &f.display().to_string(),
            &std::fs::read_to_string(&f).unwrap_or_default(),
        );
    }
    let _ = std::fs::remove_dir_all(&capture);
}

#[test]
fn two_driver_processes_saving_at_once_lose_nothing() {
    let s = DevServer::start("conn-concurrent", &["--pool", "2"]);
    let rounds = 20;
    for round in 0..rounds {
        let method = if round == 0 { "POST" } else { "PUT" };
        let desc_d = format!("docker round {round}");
        let desc_k = format!("kubernetes round {round}");
        let (tok_d, tok_k) = (format!("dt-{round}"), format!("kt-{round}"));
        std::thread::scope(|scope| {
            let a = scope.spawn(|| {
                admin_json(
                    &s,
                    method,
                    &json_path(BASE),
                    &docker_body("d", json!({"description": desc_d, "api_token": tok_d})),
                )
            });
            let b = scope.spawn(|| {
                admin_form(
                    &s,
                    method,
                    &json_path(BASE),
                    &k8s_pairs("k", &[("description", &desc_k), ("user_token", &tok_k)]),
                )
            });
            for r in [
                a.join().expect("docker save"),
                b.join().expect("kubernetes save"),
            ] {
                assert_eq!(r.status, 200, "round {round}: {}", r.body);
            }
        });
        let d = get(&s, &json_path(&format!("{BASE}/docker/d")));
        let k = get(&s, &json_path(&format!("{BASE}/kubernetes/k")));
        assert_eq!(
            body(&d)["config"]["description"],
            desc_d.as_str(),
            "round {round}"
        );
        assert_eq!(
            body(&k)["config"]["description"],
            desc_k.as_str(),
            "round {round}"
        );
        assert_eq!(body(&k)["config"]["namespace"], "dsdl", "round {round}");
        assert_eq!(
            body(&d)["config"]["docker_url"],
            "unix:///var/run/docker.sock"
        );
        let pw = passwords(&s);
        assert_eq!(
            pw.get(&("dsdl_docker".into(), "api_token".into())),
            Some(&tok_d),
            "round {round}"
        );
        assert_eq!(
            pw.get(&("dsdl_kubernetes".into(), "user_token".into())),
            Some(&tok_k),
            "round {round}"
        );
    }
    assert!(
        s.drivers().len() >= 2,
        "both pool processes served: {:?}",
        s.drivers()
    );
}

/// The REST calls the drivers made to splunkd so far (as splunk-system-user): (conf calls,
/// storage/passwords calls).
fn driver_calls(s: &DevServer) -> (usize, usize) {
    std::thread::sleep(std::time::Duration::from_millis(200));
    let log = std::fs::read_to_string(s.home.join("var/log/splunk/splunkd_access.log"))
        .unwrap_or_default();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(" splunk-system-user "))
        .collect();
    (
        lines
            .iter()
            .filter(|l| l.contains("/configs/conf-"))
            .count(),
        lines
            .iter()
            .filter(|l| l.contains("/storage/passwords"))
            .count(),
    )
}

#[test]
fn each_request_reads_each_store_once() {
    let s = DevServer::start("conn-calls", &[]);
    let r = admin_json(
        &s,
        "POST",
        &json_path(BASE),
        &docker_body("d", json!({"api_token": "t"})),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = admin_form(
        &s,
        "POST",
        &json_path(BASE),
        &k8s_pairs("k", &[("user_token", "u")]),
    );
    assert_eq!(r.status, 200, "{}", r.body);

    for (path, want) in [
        (BASE.to_string(), (1, 1)),
        (format!("{BASE}/kubernetes"), (1, 1)),
        (format!("{BASE}/docker/d"), (1, 1)),
        (
            "/services/mltk/test_container_connection".to_string(),
            (1, 1),
        ),
    ] {
        let before = driver_calls(&s);
        let r = get(&s, &json_path(&path));
        assert_eq!(r.status, 200, "{}", r.body);
        let after = driver_calls(&s);
        assert_eq!((after.0 - before.0, after.1 - before.1), want, "GET {path}");
    }
    // An update without new secrets: read the stanza, list the realm, write the stanza.
    let before = driver_calls(&s);
    let r = admin_json(
        &s,
        "PUT",
        &json_path(BASE),
        &docker_body("d", json!({"description": "x"})),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let after = driver_calls(&s);
    assert_eq!((after.0 - before.0, after.1 - before.1), (2, 1));
    // Bad input never reaches the store.
    let before = driver_calls(&s);
    let r = admin_json(
        &s,
        "PUT",
        &json_path(BASE),
        &docker_body("d", json!({"nope": "x"})),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(driver_calls(&s), before);
}
