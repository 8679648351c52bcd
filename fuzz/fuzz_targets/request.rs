//! The request path over arbitrary data blocks: `Request::parse`, the body, the accessors, the
//! router and the rendering of error replies, then the whole of `Service::handle_block` (parse,
//! route, endpoint, render). Every reply must be JSON with an integer status, headers as
//! arrays of strings and a payload. A panic anywhere is a crash (libfuzzer-sys aborts on
//! panic, even inside the service's own catch_unwind).
//!
//! Blocks that would let an endpoint call splunkd (both `server.rest_uri` and
//! `system_authtoken` set) skip `handle_block`: a mutated URI would send the fuzzer to the
//! network and its 10 s timeout. Endpoints still run up to their first store call.
#![no_main]

use dsdl_handler::config::DriverConfig;
use dsdl_handler::log::Logger;
use dsdl_handler::protocol::reply::Reply;
use dsdl_handler::protocol::request::Request;
use dsdl_handler::router;
use dsdl_handler::service::Service;
use dsdl_handler::splunkd::SplunkdConfig;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use std::cell::RefCell;

fn config() -> DriverConfig {
    DriverConfig::from_lookup(|_| None, None).0
}

thread_local! {
    static SERVICE: RefCell<Service> = RefCell::new(
        Service::new(config(), Logger::disabled()).expect("start the service")
    );
}

/// Checks the shape of a reply and returns its status.
fn check_reply(bytes: &[u8]) -> u64 {
    let v: Value = serde_json::from_slice(bytes).expect("a reply is JSON");
    let status = v["status"].as_u64().expect("an integer status");
    assert!((100..600).contains(&status));
    let headers = v["headers"].as_object().expect("headers is an object");
    for values in headers.values() {
        let values = values.as_array().expect("header values are an array");
        assert!(values.iter().all(Value::is_string));
    }
    assert!(v.get("payload").is_some());
    status
}

fuzz_target!(|data: &[u8]| {
    let parsed = Request::parse(data);
    if let Ok(req) = &parsed {
        let _ = req.body();
        let _ = (
            req.user(),
            req.query_arg("output_mode"),
            req.form_arg("name"),
        );
        let _ = req.header("Authorization");
        let json = req.wants_json();
        if let Err(e) = router::route(&req.method, &req.mltk_path()) {
            assert_eq!(
                check_reply(&Reply::error(&e, json).to_bytes()),
                u64::from(e.status())
            );
        }
    }
    let reaches_splunkd = parsed
        .as_ref()
        .is_ok_and(|req| SplunkdConfig::from_request(req, &config()).is_ok());
    if !reaches_splunkd {
        let reply = SERVICE.with(|s| s.borrow_mut().handle_block(data));
        check_reply(&reply);
    }
});
