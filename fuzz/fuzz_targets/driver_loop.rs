//! The driver loop over arbitrary input: `driver::serve` with a real service. Whatever the
//! bytes, the output must be a sequence of complete replies with nothing stray or partial,
//! one per INIT and per BLOCK up to where the driver stops, and the loop must end cleanly
//! exactly when the input ends at a packet boundary with every request in sequence.
//!
//! Inputs with a block that would let the driver call splunkd (`server.rest_uri` with
//! `system_authtoken`, or with `session.authtoken` for the capability check) are skipped: a
//! mutated URI would send the fuzzer to the network.
#![no_main]

use dsdl_handler::config::DriverConfig;
use dsdl_handler::driver;
use dsdl_handler::log::Logger;
use dsdl_handler::protocol::frame::{FrameReader, Limits, OP_END, read_reply};
use dsdl_handler::protocol::request::Request;
use dsdl_handler::service::Service;
use dsdl_handler::splunkd::{CallerSession, SplunkdConfig};
use libfuzzer_sys::fuzz_target;
use std::cell::RefCell;

const LIMITS: Limits = Limits {
    max_block: 64 * 1024,
    max_command_string: 4096,
    max_commands: 64,
};

fn config() -> DriverConfig {
    DriverConfig::from_lookup(|_| None, None).0
}

thread_local! {
    static SERVICE: RefCell<Service> = RefCell::new(
        Service::new(config(), Logger::disabled()).expect("start the service")
    );
}

/// Whether any block in `input` is a request that could make an endpoint call splunkd.
fn reaches_splunkd(input: &[u8]) -> bool {
    let config = config();
    let mut reader = FrameReader::new(input, LIMITS);
    while let Ok(Some(packet)) = reader.read_packet() {
        let parsed = packet.block.as_deref().map(Request::parse);
        if let Some(Ok(req)) = parsed
            && (SplunkdConfig::from_request(&req, &config).is_ok()
                || (SplunkdConfig::caller_only(&req, &config).is_ok()
                    && CallerSession::to_check(&req).is_ok()))
        {
            return true;
        }
    }
    false
}

/// The replies the protocol notes (sections 2.3 and 2.6) say are due for `input`, and
/// whether it ends cleanly.
fn replies_due(input: &[u8]) -> (usize, bool) {
    let mut reader = FrameReader::new(input, LIMITS);
    let (mut due, mut open) = (0, false);
    loop {
        let packet = match reader.read_packet() {
            Ok(Some(p)) => p,
            Ok(None) => return (due, true),
            Err(_) => return (due, false),
        };
        if packet.init.is_some() {
            due += 1;
            if open {
                return (due, false);
            }
            open = true;
        }
        if packet.has_block() {
            if !open {
                return (due, false);
            }
            due += 1;
        }
        if packet.opcode & OP_END != 0 {
            if !open {
                return (due, false);
            }
            open = false;
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if reaches_splunkd(data) {
        return;
    }
    let mut out = Vec::new();
    let result = SERVICE.with(|s| driver::serve(data, &mut out, &mut s.borrow_mut(), LIMITS));
    let mut rest = &out[..];
    let mut count = 0;
    while !rest.is_empty() {
        read_reply(&mut rest, usize::MAX).expect("output is complete replies only");
        count += 1;
    }
    let (due, clean) = replies_due(data);
    assert_eq!(count, due, "one reply per INIT and per BLOCK");
    assert_eq!(result.is_ok(), clean);
});
