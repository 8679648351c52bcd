//! Properties of the driver loop, run through the library (`driver::serve` over in-memory
//! buffers, the same code the binary runs over pipes):
//!
//! - a request gets the same replies however it is cut into packets and formatted (blank lines,
//!   printable opcodes, padded numbers), alone or in a sequence of requests;
//! - a stream cut anywhere answers the complete packets before the cut, then ends cleanly at a
//!   packet boundary and with an error inside a packet;
//! - for arbitrary bytes the reader never panics, and the driver either answers in step (one
//!   reply per INIT and per BLOCK) or stops with an error, never leaving a partial reply.
//!
//! Replies are compared after zeroing their `updated` timestamps.

mod common;

use base64::Engine;
use common::wire::{Encoder, Split, Style, normalise_timestamps, replies, reply_json};
use dsdl_handler::config::DriverConfig;
use dsdl_handler::driver::{self, DriverError};
use dsdl_handler::log::Logger;
use dsdl_handler::protocol::frame::{FrameReader, Init, Limits, OP_BLOCK, OP_END, OP_INIT, Packet};
use dsdl_handler::service::Service;
use proptest::prelude::*;
use serde_json::{Value, json};

fn service() -> Service {
    let (config, _) = DriverConfig::from_lookup(|_| None, None);
    Service::new(config, Logger::disabled()).expect("start the service")
}

/// Small caps so that random lengths hit them often and stay cheap.
fn small_limits() -> Limits {
    Limits {
        max_block: 4096,
        max_command_string: 256,
        max_commands: 8,
    }
}

/// Serves `input` to the end and returns the loop's result and everything written.
fn serve(svc: &mut Service, input: &[u8], limits: Limits) -> (Result<(), DriverError>, Vec<u8>) {
    let mut out = Vec::new();
    let result = driver::serve(input, &mut out, svc, limits);
    (result, out)
}

/// Serves a stream that must be answered without error; returns the normalised output.
fn serve_ok(svc: &mut Service, input: &[u8]) -> Vec<u8> {
    let (result, out) = serve(svc, input, Limits::default());
    if let Err(e) = result {
        panic!("driver failed on a valid stream: {e}");
    }
    normalise_timestamps(&out)
}

/// One request as splunkd could describe it. Without `server.rest_uri` and
/// `system_authtoken`, so an endpoint that needs splunkd answers before any network call and
/// a reply depends on the request alone.
#[derive(Debug, Clone)]
struct Req {
    init: Init,
    json: Value,
}

impl Req {
    fn block(&self) -> Vec<u8> {
        serde_json::to_vec(&self.json).unwrap()
    }
}

fn method() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("GET"),
        Just("POST"),
        Just("PUT"),
        Just("DELETE"),
        Just("PATCH"),
        Just("get"),
    ]
    .prop_map(String::from)
}

fn rest_path() -> impl Strategy<Value = String> {
    let known = prop_oneof![
        Just("/mltk"),
        Just("/mltk/"),
        Just("/mltk/container_connection"),
        Just("/mltk/container_connection/docker"),
        Just("/mltk/container_connection/kubernetes/my%20conn"),
        Just("/mltk/container_data"),
        Just("/mltk/start_container/__dev__"),
        Just("/mltk/start_container/%ff"),
        Just("/mltk/ünïcødé/日本語/🦀"),
        Just("/other"),
        Just(""),
    ]
    .prop_map(String::from);
    prop_oneof![
        3 => known,
        1 => "/mltk/[a-z_%0-9ü日🦀/]{0,16}",
        1 => "\\PC{0,24}",
    ]
}

/// Text with any character, newlines and quotes included.
fn text(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("(?s).{{0,{max}}}")).unwrap()
}

fn request() -> impl Strategy<Value = Req> {
    let command = prop::collection::vec(text(12), 0..4);
    let init = (text(40), command, text(12)).prop_map(|(script, args, arg)| Init {
        command: std::iter::once(script).chain(args).collect(),
        command_arg: (!arg.is_empty()).then_some(arg),
    });
    let output_mode = prop_oneof![
        Just(None),
        Just(Some("json")),
        Just(Some("xml")),
        Just(Some("JSON"))
    ];
    let payload = prop_oneof![
        Just(None),
        prop::collection::vec(any::<u8>(), 0..200).prop_map(|b| Some((false, b))),
        prop::collection::vec(any::<u8>(), 0..200).prop_map(|b| Some((true, b))),
    ];
    let query = prop::collection::vec((text(8), text(8)), 0..4);
    (init, method(), rest_path(), output_mode, query, payload).prop_map(
        |(init, method, path, mode, query, payload)| {
            let mut json = json!({
                "method": method,
                "rest_path": path,
                "query": query.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
                "session": {"user": "admin", "authtoken": "TOKEN"},
            });
            if let Some(mode) = mode {
                json["output_mode"] = json!(mode);
            }
            match payload {
                Some((false, bytes)) => {
                    json["payload"] = json!(String::from_utf8_lossy(&bytes));
                }
                Some((true, bytes)) => {
                    json["payload_base64"] =
                        json!(base64::engine::general_purpose::STANDARD.encode(bytes));
                }
                None => {}
            }
            Req { init, json }
        },
    )
}

fn style() -> impl Strategy<Value = Style> {
    (
        prop::collection::vec(0..4usize, 0..6),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(blank_lines, printable_opcodes, padded_numbers)| Style {
            blank_lines,
            printable_opcodes,
            padded_numbers,
        })
}

fn split() -> impl Strategy<Value = Split> {
    prop::sample::select(Split::ALL.to_vec())
}

/// The reference output for a sequence of requests: each sent alone, combined, plain.
fn reference_output(svc: &mut Service, reqs: &[Req]) -> Vec<u8> {
    reqs.iter()
        .flat_map(|r| {
            let wire = Encoder::new(Style::default())
                .request(&r.init, &r.block(), Split::Combined)
                .bytes();
            serve_ok(svc, &wire)
        })
        .collect()
}

/// The number of replies a packet is due: one for INIT, one for BLOCK.
fn replies_due(opcode: u8) -> usize {
    usize::from(opcode & OP_INIT != 0) + usize::from(opcode & OP_BLOCK != 0)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn every_split_and_style_gets_the_same_replies(req in request(), style in style()) {
        let mut svc = service();
        let want = reference_output(&mut svc, std::slice::from_ref(&req));
        let replies = replies(&want).expect("strict framing");
        prop_assert_eq!(replies.len(), 2);
        prop_assert_eq!(&replies[0], b"");
        reply_json(&replies[1]);
        for split in Split::ALL {
            for style in [Style::default(), style.clone()] {
                let wire = Encoder::new(style.clone()).request(&req.init, &req.block(), split).bytes();
                let got = serve_ok(&mut svc, &wire);
                prop_assert_eq!(
                    &got, &want,
                    "{:?} {:?}: {:?}", split, style, String::from_utf8_lossy(&got)
                );
            }
        }
    }

    #[test]
    fn a_sequence_of_requests_is_answered_in_step(
        reqs in prop::collection::vec((request(), split(), style()), 1..6),
    ) {
        let mut svc = service();
        let plain: Vec<Req> = reqs.iter().map(|(r, _, _)| r.clone()).collect();
        let want = reference_output(&mut svc, &plain);
        // One stream in which every request has its own split and style.
        let mut wire = Vec::new();
        for (r, split, style) in &reqs {
            wire.extend(Encoder::new(style.clone()).request(&r.init, &r.block(), *split).bytes());
        }
        prop_assert_eq!(serve_ok(&mut svc, &wire), want);
    }

    #[test]
    fn a_cut_stream_answers_whole_packets_then_ends_or_fails(
        reqs in prop::collection::vec((request(), split()), 1..4),
        style in style(),
        cut_at in any::<prop::sample::Index>(),
    ) {
        let mut svc = service();
        let mut enc = Encoder::new(style);
        for (r, split) in &reqs {
            enc.request(&r.init, &r.block(), *split);
        }
        let wire = enc.bytes();
        let full = replies(&serve_ok(&mut svc, &wire)).expect("strict framing");
        let cut = cut_at.index(wire.len() + 1);
        // Packets wholly before the cut, and whether the cut is at a boundary (after a packet
        // or in the blank lines before the next opcode).
        let done: Vec<&(usize, u8)> = enc.packets().iter().filter(|(end, _)| *end <= cut).collect();
        let last_end = done.last().map_or(0, |(end, _)| *end);
        let at_boundary = wire[last_end..cut].iter().all(|&b| b == b'\n');
        let due: usize = done.iter().map(|(_, op)| replies_due(*op)).sum();

        let (result, out) = serve(&mut svc, &wire[..cut], Limits::default());
        let got = replies(&normalise_timestamps(&out)).expect("no partial reply");
        prop_assert_eq!(&got[..], &full[..due]);
        prop_assert_eq!(result.is_ok(), at_boundary, "cut at {} of {}: {:?}", cut, wire.len(), result.err());
    }

    #[test]
    fn frame_reader_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let mut reader = FrameReader::new(&bytes[..], small_limits());
        for _ in 0..bytes.len() + 1 {
            match reader.read_packet() {
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
    }

    #[test]
    fn arbitrary_bytes_are_answered_in_step_or_stop_the_driver(input in noisy_stream()) {
        let mut svc = service();
        let (result, out) = serve(&mut svc, &input, small_limits());
        let got = replies(&out).map_err(|e| TestCaseError::fail(format!("stdout: {e}")))?;
        let (due, clean_end) = expected_replies(&input, small_limits());
        prop_assert_eq!(got.len(), due, "{:?}", result);
        prop_assert_eq!(result.is_ok(), clean_end, "{:?}", result.err());
        for (i, reply) in got.iter().enumerate() {
            // Data replies are JSON with an integer status; init replies are empty or text.
            if let Ok(v) = serde_json::from_slice::<Value>(reply) {
                if v.get("status").is_some() {
                    reply_json(reply);
                }
            } else {
                prop_assert!(reply.is_empty() || reply.starts_with(b"INIT"), "reply {}: {:?}", i, reply);
            }
        }
    }
}

/// What the protocol notes (sections 2.3 and 2.6) say a driver owes for a stream: one reply
/// per INIT and per BLOCK, stopping at the first framing error or at an INIT while a request
/// is open (answered), a BLOCK with none open (not answered) or an END with none open.
/// Returns the number of replies and whether the stream ends cleanly.
fn expected_replies(input: &[u8], limits: Limits) -> (usize, bool) {
    let mut reader = FrameReader::new(input, limits);
    let mut due = 0;
    let mut open = false;
    loop {
        let packet: Packet = match reader.read_packet() {
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

/// Streams that get past the first byte: valid requests, packets with any opcode, blank
/// lines, numbers and garbage, in any order.
fn noisy_stream() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        3 => (request(), split(), style()).prop_map(|(r, split, style)| {
            Encoder::new(style).request(&r.init, &r.block(), split).bytes()
        }),
        3 => (0u8..16, request(), style()).prop_filter_map("0x0A cannot be sent", |(op, r, style)| {
            (op != b'\n' || style.printable_opcodes).then(|| {
                Encoder::new(style).packet(op, Some(&r.init), Some(&r.block())).bytes()
            })
        }),
        1 => Just(b"\n\n".to_vec()),
        1 => (0u64..10_000).prop_map(|n| format!("{n}\n").into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..24),
    ];
    prop::collection::vec(piece, 0..8).prop_map(|pieces| pieces.concat())
}
