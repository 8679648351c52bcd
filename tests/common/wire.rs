//! The protocol seen from splunkd's side: requests encoded the way splunkd may send them (split
//! into packets in any way, with blank lines, printable opcodes or padded numbers) and the
//! driver's stdout parsed strictly, so that a stray or missing byte fails the test.

use dsdl_handler::protocol::frame::{Init, OP_BLOCK, OP_END, OP_INIT};
use serde_json::{Value, json};

/// `command[0]` as splunkd sends it: the absolute script path inside the app's `bin` directory.
pub const SCRIPT: &str = "/opt/splunk/etc/apps/dsdl_handler/bin/dsdl-handler";

/// The init section splunkd sends for a stanza with no `script.arg.*` and no `script.param`.
pub fn init() -> Init {
    Init {
        command: vec![SCRIPT.into()],
        command_arg: None,
    }
}

/// An init section with explicit command strings and `command_arg` (`""` means none).
pub fn init_with(command: &[&str], arg: &str) -> Init {
    Init {
        command: command.iter().map(|s| s.to_string()).collect(),
        command_arg: (!arg.is_empty()).then(|| arg.to_string()),
    }
}

/// A request JSON as splunkd builds it for `method` on `rest_path`; `json_mode` adds
/// `output_mode=json` the way a `?output_mode=json` URL does.
pub fn request(method: &str, rest_path: &str, json_mode: bool) -> Value {
    let mut r = json!({
        "method": method,
        "rest_path": rest_path,
        "query": [],
        "ns": {"app": "dsdl_handler", "user": "admin"},
        "session": {"user": "admin", "authtoken": "TOKEN"},
        "server": {"rest_uri": "https://127.0.0.1:8089"},
    });
    if json_mode {
        r["output_mode"] = json!("json");
        r["output_mode_explicit"] = json!(true);
        r["query"] = json!([["output_mode", "json"]]);
    }
    r
}

/// The compact JSON bytes of a request.
pub fn to_bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).expect("a Value always serialises")
}

/// How one request is cut into packets. splunkd usually sends one combined packet, but the
/// protocol allows any split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// `INIT|BLOCK|END` in one packet.
    Combined,
    /// `INIT`, then `BLOCK|END`.
    InitThenBlockEnd,
    /// `INIT|BLOCK`, then `END`.
    InitBlockThenEnd,
    /// `INIT`, `BLOCK` and `END` as three packets.
    Separate,
}

impl Split {
    /// Every split.
    pub const ALL: [Split; 4] = [
        Split::Combined,
        Split::InitThenBlockEnd,
        Split::InitBlockThenEnd,
        Split::Separate,
    ];

    /// The opcodes of the packets this split sends, in order.
    pub fn opcodes(self) -> &'static [u8] {
        match self {
            Split::Combined => &[OP_INIT | OP_BLOCK | OP_END],
            Split::InitThenBlockEnd => &[OP_INIT, OP_BLOCK | OP_END],
            Split::InitBlockThenEnd => &[OP_INIT | OP_BLOCK, OP_END],
            Split::Separate => &[OP_INIT, OP_BLOCK, OP_END],
        }
    }
}

/// Freedoms of the wire format that the reader must accept.
#[derive(Clone, Debug, Default)]
pub struct Style {
    /// LF bytes written before each opcode and each number, taken in turn (empty: none).
    pub blank_lines: Vec<usize>,
    /// Opcodes sent as the printable character with the same low bits (`'7'` = 0x37).
    pub printable_opcodes: bool,
    /// Numbers padded with spaces and ended with CR LF (`" 42 \r\n"`).
    pub padded_numbers: bool,
}

/// Writes packets with a [`Style`].
pub struct Encoder {
    style: Style,
    turn: usize,
    out: Vec<u8>,
    packets: Vec<(usize, u8)>,
}

impl Encoder {
    /// An encoder with nothing written yet.
    pub fn new(style: Style) -> Self {
        Encoder {
            style,
            turn: 0,
            out: Vec::new(),
            packets: Vec::new(),
        }
    }

    fn blank_lines(&mut self) {
        if self.style.blank_lines.is_empty() {
            return;
        }
        let n = self.style.blank_lines[self.turn % self.style.blank_lines.len()];
        self.turn += 1;
        self.out.extend(std::iter::repeat_n(b'\n', n));
    }

    fn number(&mut self, n: usize) {
        self.blank_lines();
        let text = if self.style.padded_numbers {
            format!("  {n} \r\n")
        } else {
            format!("{n}\n")
        };
        self.out.extend_from_slice(text.as_bytes());
    }

    fn string(&mut self, bytes: &[u8]) {
        self.number(bytes.len());
        self.out.extend_from_slice(bytes);
    }

    /// One packet: the init section and block are written when the opcode has their flag.
    pub fn packet(&mut self, opcode: u8, init: Option<&Init>, block: Option<&[u8]>) -> &mut Self {
        self.blank_lines();
        let byte = if self.style.printable_opcodes {
            b'0' | opcode
        } else {
            opcode
        };
        assert_ne!(byte, b'\n', "an opcode byte of 0x0A cannot be sent");
        self.out.push(byte);
        if opcode & OP_INIT != 0 {
            let init = init.expect("an INIT packet needs an init section");
            self.number(init.command.len());
            for c in &init.command {
                self.string(c.as_bytes());
            }
            self.string(init.command_arg.as_deref().unwrap_or("").as_bytes());
        }
        if opcode & OP_BLOCK != 0 {
            self.string(block.expect("a BLOCK packet needs a block"));
        }
        self.packets.push((self.out.len(), opcode));
        self
    }

    /// Where each packet written so far ends, with its opcode.
    pub fn packets(&self) -> &[(usize, u8)] {
        &self.packets
    }

    /// One whole request cut into packets as `split` says.
    pub fn request(&mut self, init: &Init, block: &[u8], split: Split) -> &mut Self {
        for &op in split.opcodes() {
            self.packet(op, Some(init), Some(block));
        }
        self
    }

    /// Raw bytes, for deliberately malformed input.
    pub fn raw(&mut self, bytes: &[u8]) -> &mut Self {
        self.out.extend_from_slice(bytes);
        self
    }

    /// Everything written so far.
    pub fn bytes(&self) -> Vec<u8> {
        self.out.clone()
    }
}

/// One request in one split and style.
pub fn encode(init: &Init, block: &[u8], split: Split, style: &Style) -> Vec<u8> {
    Encoder::new(style.clone())
        .request(init, block, split)
        .bytes()
}

/// Splits a driver's stdout into replies, strictly: each reply is a decimal length (no sign,
/// padding or leading zero), one LF, then exactly that many bytes, and nothing may be left over.
pub fn replies(out: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let mut rest = out;
    let mut found = Vec::new();
    while !rest.is_empty() {
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        let leftover = || {
            format!(
                "after {} complete replies, stray bytes: {:?}",
                found.len(),
                String::from_utf8_lossy(&rest[..rest.len().min(80)])
            )
        };
        if digits == 0 || rest.get(digits) != Some(&b'\n') || (digits > 1 && rest[0] == b'0') {
            return Err(leftover());
        }
        let len: usize = std::str::from_utf8(&rest[..digits])
            .ok()
            .and_then(|t| t.parse().ok())
            .ok_or_else(leftover)?;
        let body = &rest[digits + 1..];
        if body.len() < len {
            return Err(format!(
                "after {} complete replies, a truncated reply: {len} bytes announced, {} present",
                found.len(),
                body.len()
            ));
        }
        found.push(body[..len].to_vec());
        rest = &body[len..];
    }
    Ok(found)
}

/// Parses a data reply and checks the shape every reply must have: an integer status, headers
/// as an object whose values are arrays of strings, and a `payload` key.
pub fn reply_json(bytes: &[u8]) -> Value {
    let v: Value = serde_json::from_slice(bytes).unwrap_or_else(|e| {
        panic!(
            "reply is not JSON ({e}): {:?}",
            String::from_utf8_lossy(bytes)
        )
    });
    let status = v["status"].as_u64().expect("status is an integer");
    assert!((100..600).contains(&status), "status {status}");
    let headers = v["headers"].as_object().expect("headers is an object");
    for (name, values) in headers {
        let ok = values
            .as_array()
            .is_some_and(|vs| vs.iter().all(Value::is_string));
        assert!(ok, "header {name} is not an array of strings: {values}");
    }
    assert!(v.get("payload").is_some(), "reply has no payload key: {v}");
    v
}

/// The status of a parsed reply.
pub fn status(reply: &Value) -> u64 {
    reply["status"].as_u64().expect("status is an integer")
}

/// The one error message of an error reply, from Splunk's JSON shape (`messages`) or XML shape
/// (`<response><messages><msg type="ERROR">`), checking which shape it is.
pub fn error_text(reply: &Value, json_mode: bool) -> String {
    if json_mode {
        let msgs = reply["payload"]["messages"]
            .as_array()
            .expect("JSON error has messages");
        assert_eq!(msgs.len(), 1, "{reply}");
        assert_eq!(msgs[0]["type"], "ERROR", "{reply}");
        msgs[0]["text"]
            .as_str()
            .expect("message text is a string")
            .to_string()
    } else {
        assert_eq!(
            reply["headers"]["Content-Type"],
            json!(["text/xml; charset=UTF-8"]),
            "{reply}"
        );
        let body = reply["payload"].as_str().expect("XML error is a string");
        assert!(body.starts_with("<?xml"), "{body}");
        assert!(body.contains("<response>\n  <messages>"), "{body}");
        let open = "<msg type=\"ERROR\">";
        let start = body.find(open).expect("XML error has an ERROR msg") + open.len();
        let end = start + body[start..].find("</msg>").expect("msg is closed");
        body[start..end].to_string()
    }
}

/// Replaces every `YYYY-MM-DDTHH:MM:SS+00:00` timestamp by zeros of the same length, so that
/// two replies made at different times compare equal (and their length prefixes stay right).
pub fn normalise_timestamps(bytes: &[u8]) -> Vec<u8> {
    const SHAPE: &[u8] = b"dddd-dd-ddTdd:dd:dd+00:00";
    let mut out = bytes.to_vec();
    let mut i = 0;
    while i + SHAPE.len() <= out.len() {
        let window = &out[i..i + SHAPE.len()];
        let matches = window.iter().zip(SHAPE).all(|(&b, &s)| match s {
            b'd' => b.is_ascii_digit(),
            s => b == s,
        });
        if matches {
            for (b, &s) in out[i..i + SHAPE.len()].iter_mut().zip(SHAPE) {
                if s == b'd' {
                    *b = b'0';
                }
            }
            i += SHAPE.len();
        } else {
            i += 1;
        }
    }
    out
}
