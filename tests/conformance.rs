//! Protocol conformance of the built `dsdl-handler` binary, driven through pipes the way
//! splunkd drives a persistent REST handler (see the protocol notes, section 2 and 9):
//! packets split in every way, blank lines, printable opcodes, script args, multi-byte UTF-8,
//! large blocks, long sessions, EOF, malformed frames and malformed request JSON.
//!
//! stdout is always parsed strictly: after the replies a case expects, not one byte may be left.

mod common;

use common::driver::{Run, Session, run, run_with_env};
use common::wire::{
    self, Encoder, SCRIPT, Split, Style, encode, error_text, init, init_with, normalise_timestamps,
    reply_json, request, status, to_bytes,
};
use dsdl_handler::protocol::frame::{OP_BLOCK, OP_END, OP_INIT, encode_packet, encode_request};
use dsdl_handler::router::ENDPOINTS;
use serde_json::{Value, json};
use std::time::Duration;

/// The request that needs no backend: `GET /mltk?output_mode=json`.
fn index_json() -> Vec<u8> {
    to_bytes(&request("GET", "/mltk", true))
}

/// A combined packet for a request JSON.
fn combined(block: &[u8]) -> Vec<u8> {
    encode_request(&init(), block)
}

/// Checks the reply to `GET /mltk?output_mode=json`: the endpoint table in Splunk's JSON
/// envelope.
fn assert_index_reply(reply: &Value) {
    assert_eq!(status(reply), 200, "{reply}");
    let entries = reply["payload"]["entry"].as_array().expect("entry list");
    let want: Vec<String> = ENDPOINTS
        .iter()
        .filter(|e| !e.pattern.is_empty())
        .map(|e| e.pattern.to_string())
        .collect();
    let got: Vec<&str> = entries.iter().filter_map(|e| e["name"].as_str()).collect();
    assert_eq!(got, want, "{reply}");
    assert_eq!(reply["payload"]["paging"]["total"], json!(want.len()));
}

/// Asserts a run ended cleanly and returns its data replies (init replies checked empty).
fn clean_replies(run: &Run, requests: usize) -> Vec<Value> {
    assert!(
        run.status.success(),
        "{:?}; stderr: {}",
        run.status,
        run.stderr
    );
    let replies = run.replies();
    assert_eq!(
        replies.len(),
        2 * requests,
        "one init and one data reply each"
    );
    replies
        .chunks(2)
        .map(|pair| {
            assert_eq!(pair[0], b"", "init reply is not the empty success string");
            reply_json(&pair[1])
        })
        .collect()
}

#[test]
fn combined_packet_gets_an_init_ack_and_one_reply() {
    let run = run(&combined(&index_json()));
    let replies = clean_replies(&run, 1);
    assert_index_reply(&replies[0]);
    assert!(
        run.stderr.is_empty(),
        "faults on a clean run: {}",
        run.stderr
    );
}

/// The request of the protocol notes, section 2.4, byte for byte (283 bytes).
const NOTES_EXAMPLE_JSON: &[u8] = br#"{"method":"GET","rest_path":"/hello/world","path_info":"world","output_mode":"json","output_mode_explicit":true,"query":[["output_mode","json"]],"ns":{"app":"my_app","user":"admin"},"session":{"user":"admin","authtoken":"TOKEN"}}"#;

fn notes_example_packet(json: &[u8]) -> Vec<u8> {
    let mut wire = b"\x071\n42\n/opt/splunk/etc/apps/my_app/bin/my_handler0\n".to_vec();
    wire.extend_from_slice(format!("{}\n", json.len()).as_bytes());
    wire.extend_from_slice(json);
    wire
}

/// Checks `0\n<len>\n<json>` exactly, with the JSON compact and in status, headers, payload
/// order as the reference driver writes it; returns the reply.
fn assert_reply_framing(stdout: &[u8]) -> Value {
    let rest = stdout
        .strip_prefix(b"0\n")
        .expect("starts with the init ack");
    let nl = rest.iter().position(|&b| b == b'\n').expect("length line");
    let len: usize = std::str::from_utf8(&rest[..nl]).unwrap().parse().unwrap();
    let body = &rest[nl + 1..];
    assert_eq!(body.len(), len, "reply length counts the bytes that follow");
    let reply = reply_json(body);
    assert_eq!(
        serde_json::to_vec(&reply).unwrap(),
        body,
        "reply is compact JSON"
    );
    let keys: Vec<&String> = reply.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["status", "headers", "payload"]);
    reply
}

#[test]
fn byte_exact_example_of_the_protocol_notes() {
    assert_eq!(NOTES_EXAMPLE_JSON.len(), 229);
    let wire = notes_example_packet(NOTES_EXAMPLE_JSON);
    assert_eq!(wire.len(), 283);
    assert_eq!(
        &wire[..0x36],
        b"\x071\n42\n/opt/splunk/etc/apps/my_app/bin/my_handler0\n229\n"
    );

    // /hello/world is not an /mltk path: a 404 in JSON, framed exactly like the example.
    let out = run(&wire);
    assert!(out.status.success(), "{}", out.stderr);
    let reply = assert_reply_framing(&out.stdout);
    assert_eq!(status(&reply), 404);
    assert!(error_text(&reply, true).contains("/hello/world"));

    // The same bytes addressed to /mltk: 200 with a JSON object payload.
    let json = br#"{"method":"GET","rest_path":"/mltk","path_info":"","output_mode":"json","output_mode_explicit":true,"query":[["output_mode","json"]],"ns":{"app":"my_app","user":"admin"},"session":{"user":"admin","authtoken":"TOKEN"}}"#;
    let out = run(&notes_example_packet(json));
    assert!(out.status.success(), "{}", out.stderr);
    assert_index_reply(&assert_reply_framing(&out.stdout));
}

#[test]
fn every_split_of_a_request_gets_the_same_replies_in_one_process() {
    let block = index_json();
    let mut enc = Encoder::new(Style::default());
    for split in Split::ALL {
        enc.request(&init(), &block, split);
    }
    // And once more combined, to show the process is still in step after the splits.
    enc.request(&init(), &block, Split::Combined);
    let run = run(&enc.bytes());
    let replies = clean_replies(&run, Split::ALL.len() + 1);
    let first = normalise_timestamps(&to_bytes(&replies[0]));
    for r in &replies {
        assert_index_reply(r);
        assert_eq!(normalise_timestamps(&to_bytes(r)), first);
    }
}

#[test]
fn each_split_alone_gets_init_ack_then_data_reply() {
    for split in Split::ALL {
        let run = run(&encode(&init(), &index_json(), split, &Style::default()));
        let replies = clean_replies(&run, 1);
        assert_index_reply(&replies[0]);
    }
}

#[test]
fn blank_lines_before_opcodes_and_numbers_are_skipped() {
    // Hand-written: blank lines before the opcode, the count, each string length and the block.
    let json = index_json();
    let mut wire =
        b"\n\n\x07\n1\n\n\n42\n/opt/splunk/etc/apps/my_app/bin/my_handler\n0\n\n".to_vec();
    wire.extend_from_slice(format!("{}\n", json.len()).as_bytes());
    wire.extend_from_slice(&json);
    wire.extend_from_slice(b"\n\n\n");
    let replies = clean_replies(&run(&wire), 1);
    assert_index_reply(&replies[0]);

    // Every split, with one to three blank lines in turn before every opcode and number.
    let style = Style {
        blank_lines: vec![1, 2, 0, 3],
        ..Style::default()
    };
    let mut enc = Encoder::new(style);
    for split in Split::ALL {
        enc.request(&init(), &json, split);
    }
    for r in clean_replies(&run(&enc.bytes()), Split::ALL.len()) {
        assert_index_reply(&r);
    }
}

#[test]
fn padded_numbers_are_trimmed_like_python_int() {
    let style = Style {
        padded_numbers: true,
        ..Style::default()
    };
    let replies = clean_replies(
        &run(&encode(&init(), &index_json(), Split::Separate, &style)),
        1,
    );
    assert_index_reply(&replies[0]);
}

#[test]
fn printable_opcodes_use_only_the_low_four_bits() {
    let json = index_json();
    // '7' = 0x37, then '1', '2', '4' = INIT, BLOCK, END, then '3' '4' and '1' '6'.
    let printable = Style {
        printable_opcodes: true,
        ..Style::default()
    };
    let mut enc = Encoder::new(printable);
    for split in Split::ALL {
        enc.request(&init(), &json, split);
    }
    let wire = enc.bytes();
    assert_eq!(wire[0], b'7');
    for r in clean_replies(&run(&wire), Split::ALL.len()) {
        assert_index_reply(&r);
    }

    // ALLOW_STREAM (0x08) is accepted and answered non-streaming: one reply per block.
    // 0x0F raw and '?' (0x3F) printable.
    let mut enc = Encoder::new(Style::default());
    enc.packet(0x0F, Some(&init()), Some(&json));
    enc.raw(b"?");
    enc.raw(&encode_request(&init(), &json)[1..]);
    for r in clean_replies(&run(&enc.bytes()), 2) {
        assert_index_reply(&r);
    }
}

#[test]
fn script_args_and_param_arrive_in_the_init_section() {
    // Several command strings (script.arg.N), with spaces, newlines and multi-byte UTF-8 in
    // them, and a script.param: none of it may shift the framing.
    let inits = [
        init_with(&[SCRIPT, "--mode", "two words"], "param=value"),
        init_with(&[SCRIPT, "line one\nline two", "ünïcødé ✓"], "p\n2\n3"),
        init_with(&[SCRIPT], ""),
        init_with(&[SCRIPT, "", "", ""], "only a param"),
    ];
    let mut enc = Encoder::new(Style::default());
    for (i, init) in inits.iter().enumerate() {
        enc.request(init, &index_json(), Split::ALL[i % Split::ALL.len()]);
    }
    for r in clean_replies(&run(&enc.bytes()), inits.len()) {
        assert_index_reply(&r);
    }
}

#[test]
fn multi_byte_utf8_lengths_count_bytes() {
    let path = "/mltk/ünïcødé/日本語/🦀";
    assert!(path.len() > path.chars().count());
    let mut req = request("GET", path, true);
    req["query"] = json!([["output_mode", "json"], ["名前", "値 ✓"], ["a", "ü"]]);
    req["payload"] = json!("ペイロード 🦀 ");
    let init = init_with(&[SCRIPT, "引数"], "パラメータ");
    let mut enc = Encoder::new(Style::default());
    enc.request(&init, &to_bytes(&req), Split::Combined);
    // A following request proves every length was counted in bytes: if one had been counted
    // in characters, the rest of the stream would be read out of step.
    enc.request(&init, &index_json(), Split::Separate);
    let run = run(&enc.bytes());
    let replies = clean_replies(&run, 2);
    assert_eq!(status(&replies[0]), 404);
    let text = error_text(&replies[0], true);
    assert!(text.contains(path), "the message names the path: {text}");
    assert_index_reply(&replies[1]);

    // The same in XML: the path is escaped into the body, and the reply's length prefix
    // counts its bytes (checked by the strict reply parser).
    let req = request("GET", path, false);
    let replies = clean_replies(&run_one(&to_bytes(&req)), 1);
    assert!(error_text(&replies[0], false).contains(path));
}

fn run_one(block: &[u8]) -> Run {
    run(&combined(block))
}

#[test]
fn one_mebibyte_payload_and_reply() {
    const MIB: usize = 1024 * 1024;
    // 1 MiB of payload bytes, mixing ASCII and 3-byte characters.
    let unit = "payload ✓ ";
    assert_eq!(unit.len(), 12);
    let mut payload = unit.repeat(MIB / unit.len());
    payload.push_str(&"x".repeat(MIB - payload.len()));
    assert_eq!(payload.len(), MIB);
    let mut req = request("GET", "/mltk", true);
    req["payload"] = json!(payload);

    // A 1 MiB path comes back in the 404 message: a reply over 1 MiB through the pipe.
    let long_path = format!("/mltk/{}", "ü".repeat(MIB / 2));
    let mut enc = Encoder::new(Style::default());
    enc.request(&init(), &to_bytes(&req), Split::Combined);
    enc.request(
        &init(),
        &to_bytes(&request("GET", &long_path, true)),
        Split::InitThenBlockEnd,
    );
    enc.request(&init(), &index_json(), Split::Combined);
    let run = run(&enc.bytes());
    let replies = clean_replies(&run, 3);
    assert_index_reply(&replies[0]);
    assert_eq!(status(&replies[1]), 404);
    assert!(error_text(&replies[1], true).contains(&long_path));
    assert!(to_bytes(&replies[1]).len() > MIB);
    assert_index_reply(&replies[2]);
}

/// Request `i` of a long session: the index, or a 404 whose message names `i`, so every
/// reply shows which request it answers.
fn numbered_request(i: usize) -> Vec<u8> {
    if i.is_multiple_of(3) {
        index_json()
    } else {
        let path = format!("/mltk/request-{i:04}");
        to_bytes(&request("GET", &path, i.is_multiple_of(2)))
    }
}

fn assert_numbered_reply(i: usize, reply: &Value) {
    if i.is_multiple_of(3) {
        assert_index_reply(reply);
    } else {
        assert_eq!(status(reply), 404, "request {i}: {reply}");
        let text = error_text(reply, i.is_multiple_of(2));
        assert!(
            text.contains(&format!("/mltk/request-{i:04}")),
            "reply out of order: request {i} got {text:?}"
        );
    }
}

#[test]
fn five_hundred_requests_one_at_a_time_on_one_process() {
    let mut s = Session::start();
    for i in 0..500 {
        let split = Split::ALL[i % Split::ALL.len()];
        s.send(&encode(
            &init(),
            &numbered_request(i),
            split,
            &Style::default(),
        ));
        let reply = s.request_replies();
        assert_numbered_reply(i, &reply);
    }
    let run = s.finish();
    assert!(run.status.success(), "{:?}: {}", run.status, run.stderr);
    assert!(run.stdout.is_empty(), "stray bytes after the last reply");
    assert_eq!(run.log_lines().len(), 500, "one log line per request");
}

#[test]
fn five_hundred_requests_written_at_once_are_answered_in_order() {
    let mut enc = Encoder::new(Style::default());
    for i in 0..500 {
        enc.request(&init(), &numbered_request(i), Split::ALL[i % 4]);
    }
    let run = run(&enc.bytes());
    for (i, r) in clean_replies(&run, 500).iter().enumerate() {
        assert_numbered_reply(i, r);
    }
}

#[test]
fn eof_at_a_packet_boundary_exits_zero_promptly() {
    // After a complete request, with the process idle: splunkd retiring it.
    let mut s = Session::start();
    s.send(&combined(&index_json()));
    assert_index_reply(&s.request_replies());
    std::thread::sleep(Duration::from_millis(50));
    s.close();
    let idle = s.finish();
    assert!(idle.status.success(), "{:?}: {}", idle.status, idle.stderr);
    assert!(idle.stdout.is_empty(), "nothing after the replies");
    assert!(
        idle.exit_after < Duration::from_secs(2),
        "exit took {:?}",
        idle.exit_after
    );
    assert!(idle.stderr.is_empty(), "{}", idle.stderr);

    // No input at all, only blank lines, or a boundary right after an INIT packet.
    let init_only = Encoder::new(Style::default())
        .packet(OP_INIT, Some(&init()), None)
        .bytes();
    for (input, want) in [
        (&b""[..], &b""[..]),
        (b"\n\n\n", b""),
        (&init_only[..], b"0\n"),
    ] {
        let out = run(input);
        assert!(out.status.success(), "{:?}: {}", input, out.stderr);
        assert_eq!(out.stdout, want, "{input:?}");
    }
}

#[test]
fn eof_inside_a_packet_exits_non_zero_without_partial_output() {
    let first = combined(&index_json());
    let small = to_bytes(&json!({"method": "GET", "rest_path": "/mltk"}));
    for style in [
        Style::default(),
        Style {
            blank_lines: vec![1],
            ..Style::default()
        },
    ] {
        let second = encode(&init_with(&["/x"], "p"), &small, Split::Combined, &style);
        // Every cut strictly inside the second packet (after any blank lines before it).
        let start = style.blank_lines.first().copied().unwrap_or(0) + 1;
        for cut in start..second.len() {
            let mut input = first.clone();
            input.extend_from_slice(&second[..cut]);
            let run = run(&input);
            run.assert_protocol_error();
            let replies = run.replies();
            assert_eq!(
                replies.len(),
                2,
                "cut at {cut}: only the first request's replies"
            );
            assert_index_reply(&reply_json(&replies[1]));
        }
    }
}

/// A framing error after one good request: the process must stop with a message on stderr,
/// after writing exactly the replies due before the error (the good request's two, then the
/// ones `extra` lists by prefix) and nothing else.
fn assert_stops_after(name: &str, bad: &[u8], env: &[(&str, &str)], extra: &[&[u8]]) {
    let mut input = combined(&index_json());
    input.extend_from_slice(bad);
    let out = run_with_env(&input, env);
    out.assert_protocol_error();
    let replies = out.replies();
    let shown: Vec<_> = replies
        .iter()
        .map(|r| String::from_utf8_lossy(&r[..r.len().min(60)]).into_owned())
        .collect();
    assert_eq!(replies.len(), 2 + extra.len(), "{name}: replies {shown:?}");
    assert_eq!(replies[0], b"", "{name}");
    assert_index_reply(&reply_json(&replies[1]));
    for (got, want) in replies[2..].iter().zip(extra) {
        assert!(got.starts_with(want), "{name}: {shown:?}");
    }
}

#[test]
fn malformed_frames_stop_the_driver_with_only_complete_replies() {
    let init_packet = Encoder::new(Style::default())
        .packet(OP_INIT, Some(&init()), None)
        .bytes();
    let after_init = |bad: &[u8]| [init_packet.clone(), bad.to_vec()].concat();
    let ack: &[u8] = b"";
    // (what, the bytes after the good request, the replies due before the stop by prefix)
    type Case<'a> = (&'static str, Vec<u8>, Vec<&'a [u8]>);
    let cases: Vec<Case> = vec![
        (
            "non-digit length",
            b"\x071\nx2\n/x0\n2\n{}".to_vec(),
            vec![],
        ),
        ("digits then garbage", b"\x071\n12a\n".to_vec(), vec![]),
        ("a number line of spaces", b"\x07 \n".to_vec(), vec![]),
        ("negative length", after_init(b"\x02-5\nabcde"), vec![ack]),
        (
            "number line over 32 bytes",
            after_init(format!("\x02{}1\n{{}}", "0".repeat(40)).as_bytes()),
            vec![ack],
        ),
        (
            "number line of 40 spaces and a digit",
            after_init(&[b"\x02".to_vec(), vec![b' '; 40], b"5\n".to_vec()].concat()),
            vec![ack],
        ),
        ("command count over its cap", b"\x01300\n".to_vec(), vec![]),
        (
            "command string not UTF-8",
            b"\x011\n2\n\xff\xfe0\n".to_vec(),
            vec![],
        ),
        ("BLOCK with no open request", b"\x022\n{}".to_vec(), vec![]),
        ("END with no open request", b"\x04".to_vec(), vec![]),
        (
            "BLOCK after the request ended",
            after_init(b"\x022\n{}\x04\x022\n{}"),
            vec![ack, br#"{"status":400"#],
        ),
        // The reference answers the second INIT with error text, then stops.
        (
            "INIT while a request is open",
            after_init(&init_packet),
            vec![ack, b"INIT"],
        ),
    ];
    for (name, bad, extra) in &cases {
        assert_stops_after(name, bad, &[], extra);
    }
    // A block over DSDL_MAX_BLOCK_BYTES is answered (413) once it has been read whole; a
    // stream that ends inside it is still cut short.
    assert!(index_json().len() < 1024);
    let mut cut = combined(&[b' '; 2000]);
    cut.truncate(cut.len() - 1);
    assert_stops_after(
        "block over DSDL_MAX_BLOCK_BYTES cut short",
        &cut,
        &[("DSDL_MAX_BLOCK_BYTES", "1024")],
        &[],
    );
}

#[test]
fn block_of_exactly_the_cap_is_accepted() {
    let mut req = request("GET", "/mltk", true);
    req["payload"] = json!("");
    let mut block = to_bytes(&req);
    // Pad with trailing whitespace (valid JSON) up to exactly the cap.
    block.resize(1024, b' ');
    let replies = clean_replies(
        &run_with_env(&combined(&block), &[("DSDL_MAX_BLOCK_BYTES", "1024")]),
        1,
    );
    assert_index_reply(&replies[0]);
}

/// A request over `DSDL_MAX_BLOCK_BYTES` (a `GET /mltk` padded with whitespace), with
/// `output_mode=json` or not.
fn over_cap_request(json_mode: bool, len: usize) -> Vec<u8> {
    let mut block = to_bytes(&request("GET", "/mltk", json_mode));
    block.resize(len, b' ');
    block
}

#[test]
fn an_over_cap_block_gets_413_and_the_same_process_serves_the_next_request() {
    let mut enc = Encoder::new(Style::default());
    enc.request(&init(), &over_cap_request(true, 1025), Split::Combined)
        .request(&init(), &index_json(), Split::Combined)
        .request(
            &init(),
            &over_cap_request(false, 5000),
            Split::InitThenBlockEnd,
        )
        .request(
            &init(),
            &over_cap_request(true, 100_000),
            Split::InitBlockThenEnd,
        )
        .request(&init(), &index_json(), Split::Separate);
    let run = run_with_env(&enc.bytes(), &[("DSDL_MAX_BLOCK_BYTES", "1024")]);
    let replies = clean_replies(&run, 5);
    for (i, (json_mode, len)) in [(0, (true, 1025)), (2, (false, 5000)), (3, (true, 100_000))] {
        let r = &replies[i];
        assert_eq!(status(r), 413, "{r}");
        let text = error_text(r, json_mode);
        assert!(
            text.contains(&format!("{len} bytes")) && text.contains("limit of 1024 bytes"),
            "{text}"
        );
    }
    assert_index_reply(&replies[1]);
    assert_index_reply(&replies[4]);
    let statuses: Vec<u64> = run
        .log_lines()
        .iter()
        .filter_map(|l| l["status"].as_u64())
        .collect();
    assert_eq!(statuses, [413, 200, 413, 413, 200]);
}

/// Peak resident memory of a running process in KiB (`VmHWM`).
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in proc status")
}

#[test]
fn an_over_cap_block_is_streamed_past_not_held() {
    // 96 MiB over a 1 MiB cap: the driver must read past it without holding it.
    let mut s = Session::start_with_env(&[("DSDL_MAX_BLOCK_BYTES", "1048576")]);
    let block = over_cap_request(true, 96 << 20);
    s.send(&combined(&block));
    drop(block);
    let reply = s.request_replies();
    assert_eq!(status(&reply), 413, "{reply}");
    s.send(&combined(&index_json()));
    assert_index_reply(&s.request_replies());
    let peak = peak_rss_kib(s.pid());
    assert!(peak < 48 * 1024, "peak resident {peak} KiB");
    let run = s.finish();
    assert!(run.status.success(), "{:?}: {}", run.status, run.stderr);
}

#[test]
fn malformed_request_json_gets_a_400_and_the_process_stays_in_step() {
    // (block, whether the 400 comes as JSON)
    let cases: &[(&[u8], bool)] = &[
        (b"not json", false),
        (b"", false),
        (b"[]", false),
        (b"{\"method\":\"GET\",\"rest_path\":\"/mltk\xff\"}", false),
        (br#"{"method":5}"#, false),
        (br#"{"method":"GET","rest_path":["/mltk"]}"#, false),
        (br#"{"rest_path":"/mltk"}"#, false),
        (br#"{"method":5,"output_mode":"json"}"#, true),
        (br#"{"output_mode":"json"}"#, true),
        (
            br#"{"method":"GET","output_mode":"json","query":"a=b"}"#,
            true,
        ),
        (
            br#"{"method":"GET","output_mode":"json","query":[["a"]]}"#,
            true,
        ),
        (br#"{"method":"GET","output_mode":"json","ns":"app"}"#, true),
        (
            br#"{"method":"GET","output_mode":"json","session":{"authtoken":7}}"#,
            true,
        ),
        (
            br#"{"method":"GET","output_mode":"json","connection":{"listening_port":"x"}}"#,
            true,
        ),
    ];
    let mut enc = Encoder::new(Style::default());
    for (i, (block, _)) in cases.iter().enumerate() {
        enc.request(&init(), block, Split::ALL[i % 4]);
        enc.request(&init(), &index_json(), Split::Combined);
    }
    let run = run(&enc.bytes());
    let replies = clean_replies(&run, 2 * cases.len());
    for (i, (block, json_mode)) in cases.iter().enumerate() {
        let bad = &replies[2 * i];
        let what = String::from_utf8_lossy(block);
        assert_eq!(status(bad), 400, "{what}: {bad}");
        let text = error_text(bad, *json_mode);
        assert!(text.contains("request JSON"), "{what}: {text}");
        assert_index_reply(&replies[2 * i + 1]);
    }
}

#[test]
fn unknown_paths_are_404_and_wrong_methods_405_with_allow() {
    // (method, path, json, status, Allow)
    let cases: &[(&str, &str, bool, u64, Option<&str>)] = &[
        ("GET", "/mltk/nope", false, 404, None),
        ("GET", "/mltk/nope", true, 404, None),
        ("GET", "/other", true, 404, None),
        ("GET", "/mltk/container_data/extra", false, 404, None),
        ("DELETE", "/mltk/container_data", true, 405, Some("GET")),
        ("PUT", "/mltk", false, 405, Some("GET")),
        ("POST", "/mltk/start_container/m", true, 405, Some("DELETE")),
        (
            "PATCH",
            "/mltk/container_connection",
            false,
            405,
            Some("GET, POST, PUT"),
        ),
        ("DELETE", "/mltk/start_container/%ff", true, 400, None),
    ];
    let mut enc = Encoder::new(Style::default());
    for (method, path, json_mode, _, _) in cases {
        enc.request(
            &init(),
            &to_bytes(&request(method, path, *json_mode)),
            Split::Combined,
        );
    }
    let run = run(&enc.bytes());
    let replies = clean_replies(&run, cases.len());
    for (reply, (method, path, json_mode, want, allow)) in replies.iter().zip(cases) {
        assert_eq!(status(reply), *want, "{method} {path}: {reply}");
        let text = error_text(reply, *json_mode);
        assert!(!text.is_empty());
        match allow {
            Some(allow) => {
                assert_eq!(reply["headers"]["Allow"], json!([allow]), "{method} {path}");
                assert!(text.contains(allow), "{text}");
            }
            None => assert!(reply["headers"].get("Allow").is_none(), "{reply}"),
        }
    }
}

#[test]
fn index_in_the_default_output_mode_is_an_atom_feed() {
    let replies = clean_replies(&run_one(&to_bytes(&request("GET", "/mltk", false))), 1);
    let reply = &replies[0];
    assert_eq!(status(reply), 200);
    assert_eq!(
        reply["headers"]["Content-Type"],
        json!(["text/xml; charset=UTF-8"])
    );
    let atom = reply["payload"].as_str().expect("Atom is a string payload");
    assert!(atom.starts_with("<?xml"), "{atom}");
    assert!(atom.contains("<feed xmlns=\"http://www.w3.org/2005/Atom\""));
    for e in ENDPOINTS.iter().filter(|e| !e.pattern.is_empty()) {
        assert!(
            atom.contains(&format!("<title>{}</title>", e.pattern)),
            "{}",
            e.pattern
        );
    }
}

#[test]
fn log_has_one_json_line_per_request_and_no_secret() {
    const SECRETS: [&str; 5] = [
        "session-token-7f3a9c1e",
        "system-token-c81e44d0",
        "header-token-0b5e9d2a",
        "cookie-token-5d10f7c3",
        "form-password-91aa2b",
    ];
    let with_secrets = |method: &str, path: &str| {
        let mut r = request(method, path, true);
        r["session"]["authtoken"] = json!(SECRETS[0]);
        r["system_authtoken"] = json!(SECRETS[1]);
        r["headers"] = json!([["Authorization", format!("Splunk {}", SECRETS[2])]]);
        r["cookies"] = json!([["splunkd_8089", SECRETS[3]]]);
        r["form"] = json!([["password", SECRETS[4]]]);
        to_bytes(&r)
    };
    let blocks = [
        with_secrets("GET", "/mltk"),
        with_secrets("GET", "/mltk/nope"),
        with_secrets("DELETE", "/mltk/container_data"),
        with_secrets("GET", "/mltk/"),
        // Unparseable, with the tokens in it.
        format!(
            r#"{{"method":5,"session":{{"authtoken":"{}"}},"system_authtoken":"{}"}}"#,
            SECRETS[0], SECRETS[1]
        )
        .into_bytes(),
    ];
    let mut enc = Encoder::new(Style::default());
    for (i, b) in blocks.iter().enumerate() {
        enc.request(&init(), b, Split::ALL[i % 4]);
    }
    let run = run(&enc.bytes());
    let replies = clean_replies(&run, blocks.len());
    let lines = run.log_lines();
    assert_eq!(lines.len(), blocks.len(), "log:\n{}", run.log);
    for (line, reply) in lines.iter().zip(&replies) {
        assert_eq!(line["event"], "request", "{line}");
        assert_eq!(line["status"], reply["status"], "{line}");
        assert!(
            line["time"].is_string() && line["level"].is_string(),
            "{line}"
        );
    }
    assert_eq!(lines[1]["path"], "/mltk/nope");
    assert_eq!(lines[2]["method"], "DELETE");
    assert_eq!(lines[0]["user"], "admin");
    for secret in SECRETS {
        assert!(
            !run.log.contains(secret),
            "log holds {secret}:\n{}",
            run.log
        );
        assert!(!run.stderr.contains(secret), "stderr holds {secret}");
    }
    assert!(!run.log.contains("Authorization"), "{}", run.log);
}

#[test]
fn split_packets_may_be_delivered_in_pieces_and_still_be_answered() {
    // splunkd writes a packet in one go, but a pipe may deliver it in pieces: the driver must
    // wait for the rest rather than treat a short read as a boundary.
    let wire = encode(&init(), &index_json(), Split::Separate, &Style::default());
    let mut s = Session::start();
    for chunk in wire.chunks(7) {
        s.send(chunk);
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_index_reply(&s.request_replies());
    let run = s.finish();
    assert!(run.status.success());
    assert!(run.stdout.is_empty());
}

#[test]
fn init_reply_comes_before_the_block_arrives() {
    // With split packets splunkd may wait for the init ack before sending the block.
    let mut s = Session::start();
    s.send(
        &Encoder::new(Style::default())
            .packet(OP_INIT, Some(&init()), None)
            .bytes(),
    );
    assert_eq!(s.reply(), b"", "init ack for an INIT-only packet");
    s.send(
        &Encoder::new(Style::default())
            .packet(OP_BLOCK, None, Some(&index_json()))
            .bytes(),
    );
    assert_index_reply(&wire::reply_json(&s.reply()));
    s.send(
        &Encoder::new(Style::default())
            .packet(OP_END, None, None)
            .bytes(),
    );
    let run = s.finish();
    assert!(run.status.success(), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "END is answered with nothing");
}

#[test]
fn a_closed_reply_pipe_stops_the_driver_with_a_message() {
    // splunkd went away: the driver cannot deliver a reply and must exit non-zero rather than
    // go on reading requests it cannot answer.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_dsdl-handler"))
        .env_remove("SPLUNK_HOME")
        .env_remove("DSDL_LOG_FILE")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start dsdl-handler");
    drop(child.stdout.take());
    let mut stdin = child.stdin.take().expect("piped stdin");
    // The write may fail once the driver has exited; only the exit matters.
    let _ = std::io::Write::write_all(&mut stdin, &combined(&index_json()));
    drop(stdin);
    let out = child.wait_with_output().expect("wait for dsdl-handler");
    assert!(!out.status.success(), "{:?}", out.status);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("writing a reply failed"), "{stderr}");
}

// The test helpers themselves: the encoder, the strict reply parser, the normaliser.

#[test]
fn helper_encoder_matches_the_library_encoder_in_the_plain_style() {
    let init = init_with(&[SCRIPT, "arg one"], "param");
    let block = br#"{"method":"GET"}"#;
    assert_eq!(
        encode(&init, block, Split::Combined, &Style::default()),
        encode_request(&init, block)
    );
    let mut split = encode_packet(OP_INIT, Some(&init), None);
    split.extend(encode_packet(OP_BLOCK, None, Some(block)));
    split.extend(encode_packet(OP_END, None, None));
    assert_eq!(
        encode(&init, block, Split::Separate, &Style::default()),
        split
    );
}

#[test]
fn helper_strict_reply_parser_rejects_stray_and_truncated_bytes() {
    assert_eq!(
        wire::replies(b"0\n3\nabc").unwrap(),
        [b"".to_vec(), b"abc".to_vec()]
    );
    assert!(wire::replies(b"").unwrap().is_empty());
    for bad in [
        &b"0\n3\nab"[..],
        b"0\n3\nabcd",
        b"\n0\n",
        b"03\nabc",
        b" 3\nabc",
        b"3",
    ] {
        assert!(
            wire::replies(bad).is_err(),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn helper_timestamps_are_normalised_in_place() {
    let a = normalise_timestamps(b"x2024-01-02T03:04:05+00:00y");
    assert_eq!(a, b"x0000-00-00T00:00:00+00:00y");
    assert_eq!(
        normalise_timestamps(b"2024-01-02 03:04"),
        b"2024-01-02 03:04"
    );
}
