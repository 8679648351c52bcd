//! Authorization cannot be sidestepped through the shape of the URL: splunkd-dev collapses
//! repeated slashes before it picks the restmap stanza, so `/services/mltk//start_container`
//! gets the `start_container` capability check, and it refuses `.` and `..` with a 400. The
//! refusals come from splunkd-dev itself: no driver process is started for them.

mod common;

use common::devserver::*;

/// Mutating calls with doubled or tripled slashes, each with the capability it needs.
const MUTATING: &[(&str, &str, &str)] = &[
    (
        "POST",
        "/services/mltk//start_container",
        "control_containers",
    ),
    (
        "POST",
        "/services/mltk///start_container",
        "control_containers",
    ),
    (
        "POST",
        "/services//mltk//stop_container",
        "control_containers",
    ),
    (
        "DELETE",
        "/services/mltk//start_container/m1",
        "control_containers",
    ),
    // Encoded dots are a name, not structure: still the start_container stanza.
    (
        "DELETE",
        "/services/mltk//start_container/%2E%2E",
        "control_containers",
    ),
    (
        "POST",
        "/servicesNS/nobody/dsdl_handler/mltk//container_connection",
        "setup_container_configuration",
    ),
    (
        "POST",
        "/servicesNS/nobody/dsdl_handler/mltk///container_connection/docker",
        "setup_container_configuration",
    ),
    (
        "DELETE",
        "/servicesNS/nobody//dsdl_handler//mltk//container_connection/docker/x",
        "setup_container_configuration",
    ),
    (
        "POST",
        "/services/mltk//test_container_connection",
        "setup_container_configuration",
    ),
    (
        "GET",
        "/servicesNS/nobody/dsdl_handler/mltk//container_data",
        "list_containers",
    ),
];

#[test]
fn doubled_slashes_get_the_stanza_of_the_endpoint() {
    let s = DevServer::start("path-authz", &[]);
    s.add_user("viewer", "viewer-pw", "user");
    s.add_user("ops", "ops-pw", "dsdl_admin");
    for (method, path, capability) in MUTATING {
        let url = format!("{}{path}?output_mode=json", s.url);
        let r = curl(
            &[
                "-u",
                "viewer:viewer-pw",
                "-X",
                method,
                "-d",
                "container_type=docker",
                &url,
            ],
            &[],
        );
        assert_eq!(r.status, 403, "{method} {path}: {}", r.body);
        assert!(
            r.body
                .contains(&format!("requires capability: {capability}")),
            "{method} {path}: {}",
            r.body
        );
    }
    assert!(
        s.drivers().is_empty(),
        "a driver was started for a refused call"
    );

    // A user holding the capability reaches the endpoint the canonical path names.
    let r = curl(
        &[
            "-u",
            "ops:ops-pw",
            "-d",
            "model=nothing_runs_here",
            &format!(
                "{}/servicesNS/nobody//dsdl_handler/mltk///stop_container?output_mode=json",
                s.url
            ),
        ],
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).expect("stop_container JSON");
    assert_eq!(v["stopped_container"]["changed"], false, "{}", r.body);
    let r = get_as(
        &s,
        &["-u", "ops:ops-pw"],
        "/services//mltk//container_connection?output_mode=json",
    );
    assert_eq!(r.status, 200, "{}", r.body);
}

#[test]
fn dot_segments_are_refused_before_routing() {
    let s = DevServer::start("path-dots", &[]);
    s.add_user("viewer", "viewer-pw", "user");
    for path in [
        "/services/mltk/./start_container",
        "/services/mltk/x/../start_container",
        "/services/mltk/container_connection/./docker",
        "/servicesNS/nobody/../mltk/start_container",
    ] {
        for user in ["viewer:viewer-pw".to_string(), s.basic()] {
            let url = format!("{}{path}", s.url);
            let r = curl(&["--path-as-is", "-u", &user, "-X", "POST", &url], &[]);
            assert_eq!(r.status, 400, "{user} POST {path}: {}", r.body);
            assert!(r.body.contains("is not allowed"), "{path}: {}", r.body);
        }
    }
    assert!(
        s.drivers().is_empty(),
        "a driver was started for a refused path"
    );
}
