//! Packet framing of splunkd's persistent REST protocol (`scripttype = persist`).
//!
//! Requests arrive as packets: an opcode byte whose low four bits are flags, an optional init
//! section (command strings plus `command_arg`) and an optional data block. Numbers are ASCII
//! decimal terminated by LF; strings are a number followed by exactly that many raw bytes. Blank
//! lines before opcodes and numbers are skipped. Replies are strings in the same encoding.
//! Both directions live here so the driver, splunkd-dev, the tests and the benchmarks share one
//! implementation of the wire format.

use std::fmt;
use std::io::{self, BufRead, Read, Write};

/// Start of a request: an init section follows.
pub const OP_INIT: u8 = 0x01;
/// A data block (the request JSON) follows.
pub const OP_BLOCK: u8 = 0x02;
/// This packet ends the request.
pub const OP_END: u8 = 0x04;
/// Reserved by splunkd for streaming; accepted and treated as non-streaming.
pub const OP_ALLOW_STREAM: u8 = 0x08;

/// Caps on every length the peer can announce, so a hostile or corrupt count never becomes an
/// allocation of arbitrary size. An over-long command string or count is a protocol error; an
/// over-long data block is read past and reported in [`Packet::oversized`], since its length
/// is known and the request can be refused (413) without losing the framing.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest data block (request JSON) accepted.
    pub max_block: usize,
    /// Largest single command string or `command_arg`.
    pub max_command_string: usize,
    /// Largest number of command strings in one init section.
    pub max_commands: usize,
}

/// Default cap on a data block: 64 MiB.
pub const DEFAULT_MAX_BLOCK: usize = 64 * 1024 * 1024;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_block: DEFAULT_MAX_BLOCK,
            max_command_string: 64 * 1024,
            max_commands: 256,
        }
    }
}

/// The init section of a packet: what splunkd says to run for this request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Init {
    /// `command[0]` is the restmap `script` path, the rest are `script.arg.N`.
    pub command: Vec<String>,
    /// `script.param`; `None` when splunkd sent an empty string.
    pub command_arg: Option<String>,
}

/// One packet as read from splunkd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// The low four bits of the opcode byte.
    pub opcode: u8,
    /// Present when the INIT flag is set.
    pub init: Option<Init>,
    /// Present when the BLOCK flag is set and the block was within the cap.
    pub block: Option<Vec<u8>>,
    /// Present instead of `block` when the block was over the cap: its length is known, so it
    /// was read and dropped and the stream is still in step; the request gets a 413.
    pub oversized: Option<Oversized>,
}

impl Packet {
    /// Whether the packet carried a data block (kept or dropped): each one is owed a reply.
    pub fn has_block(&self) -> bool {
        self.block.is_some() || self.oversized.is_some()
    }
}

/// A data block over [`Limits::max_block`], read and discarded without being held in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Oversized {
    /// The length the block announced (and had).
    pub len: u64,
    /// The cap it broke.
    pub max: usize,
    /// Its first [`OVERSIZED_HEAD`] bytes, enough to tell the output mode the caller wanted.
    pub head: Vec<u8>,
}

/// How much of an oversized block is kept (see [`Oversized::head`]).
pub const OVERSIZED_HEAD: usize = 4096;

/// A framing failure. After one of these the stream position is unknown, so the only safe
/// reaction is to stop reading (the driver exits and splunkd starts a fresh process).
#[derive(Debug)]
pub enum FrameError {
    /// Reading the pipe failed.
    Io(io::Error),
    /// The stream ended inside a packet.
    UnexpectedEof(&'static str),
    /// A length or count was not an ASCII decimal number.
    BadNumber {
        /// Which number (`block length`, `command count`, ...).
        what: &'static str,
        /// The text found instead (at most a short line).
        text: String,
    },
    /// A length or count was over its cap.
    TooLong {
        /// Which number.
        what: &'static str,
        /// The length announced.
        len: u64,
        /// The cap it broke.
        max: usize,
    },
    /// A command string was not UTF-8.
    BadUtf8(&'static str),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Io(e) => write!(f, "reading the request pipe failed: {e}"),
            FrameError::UnexpectedEof(what) => {
                write!(
                    f,
                    "the request stream ended in the middle of a packet ({what})"
                )
            }
            FrameError::BadNumber { what, text } => {
                write!(f, "{what} is not a decimal number: {text:?}")
            }
            FrameError::TooLong { what, len, max } => {
                write!(f, "{what} of {len} is over the limit of {max}")
            }
            FrameError::BadUtf8(what) => write!(f, "{what} is not valid UTF-8"),
        }
    }
}

impl std::error::Error for FrameError {}

impl From<io::Error> for FrameError {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            FrameError::UnexpectedEof("string body")
        } else {
            FrameError::Io(e)
        }
    }
}

/// Longest run of digits (plus surrounding whitespace) accepted for one number.
const MAX_NUMBER_LINE: usize = 32;

/// Reads packets from a buffered byte stream.
pub struct FrameReader<R> {
    inner: R,
    limits: Limits,
}

impl<R: BufRead> FrameReader<R> {
    /// Wraps a buffered reader; `limits` caps every announced length.
    pub fn new(inner: R, limits: Limits) -> Self {
        FrameReader { inner, limits }
    }

    /// Reads the next packet. `Ok(None)` means a clean end of stream at a packet boundary.
    pub fn read_packet(&mut self) -> Result<Option<Packet>, FrameError> {
        let Some(byte) = self.next_non_lf()? else {
            return Ok(None);
        };
        let opcode = byte & 0x0F;
        let init = if opcode & OP_INIT != 0 {
            Some(self.read_init()?)
        } else {
            None
        };
        let (mut block, mut oversized) = (None, None);
        if opcode & OP_BLOCK != 0 {
            let len = self.read_len("block length", usize::MAX)?;
            if len <= self.limits.max_block {
                block = Some(self.read_exact_vec(len)?);
            } else {
                oversized = Some(self.discard(len as u64)?);
            }
        }
        Ok(Some(Packet {
            opcode,
            init,
            block,
            oversized,
        }))
    }

    /// Reads and drops a block of `len` bytes over the cap, keeping only its head, so the
    /// stream stays in step without the block ever being held whole.
    fn discard(&mut self, len: u64) -> Result<Oversized, FrameError> {
        let head_len = len.min(OVERSIZED_HEAD as u64) as usize;
        let head = self.read_exact_vec(head_len)?;
        let rest = len - head_len as u64;
        let copied = io::copy(&mut (&mut self.inner).take(rest), &mut io::sink())?;
        if copied != rest {
            return Err(FrameError::UnexpectedEof("oversized block"));
        }
        Ok(Oversized {
            len,
            max: self.limits.max_block,
            head,
        })
    }

    fn read_init(&mut self) -> Result<Init, FrameError> {
        let count = self.read_len("command count", self.limits.max_commands)?;
        let mut command = Vec::with_capacity(count);
        for _ in 0..count {
            command.push(self.read_text("command string")?);
        }
        let arg = self.read_text("command_arg")?;
        Ok(Init {
            command,
            command_arg: (!arg.is_empty()).then_some(arg),
        })
    }

    fn read_text(&mut self, what: &'static str) -> Result<String, FrameError> {
        let len = self.read_len(what, self.limits.max_command_string)?;
        let bytes = self.read_exact_vec(len)?;
        String::from_utf8(bytes).map_err(|_| FrameError::BadUtf8(what))
    }

    fn read_exact_vec(&mut self, len: usize) -> Result<Vec<u8>, FrameError> {
        let mut buf = vec![0u8; len];
        self.inner.read_exact(&mut buf)?;
        Ok(buf)
    }

    /// Skips LF bytes and returns the next byte, or `None` at end of stream.
    fn next_non_lf(&mut self) -> Result<Option<u8>, FrameError> {
        loop {
            let buf = match self.inner.fill_buf() {
                Ok(buf) => buf,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(FrameError::Io(e)),
            };
            if buf.is_empty() {
                return Ok(None);
            }
            match buf.iter().position(|&b| b != b'\n') {
                Some(i) => {
                    let b = buf[i];
                    self.inner.consume(i + 1);
                    return Ok(Some(b));
                }
                None => {
                    let n = buf.len();
                    self.inner.consume(n);
                }
            }
        }
    }

    /// Reads one decimal number: blank lines skipped, ASCII whitespace trimmed, LF-terminated.
    fn read_len(&mut self, what: &'static str, max: usize) -> Result<usize, FrameError> {
        let first = self.next_non_lf()?.ok_or(FrameError::UnexpectedEof(what))?;
        let mut line = vec![first];
        loop {
            let mut b = [0u8; 1];
            match self.inner.read_exact(&mut b) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return Err(FrameError::UnexpectedEof(what));
                }
                Err(e) => return Err(FrameError::Io(e)),
            }
            if b[0] == b'\n' {
                break;
            }
            if line.len() >= MAX_NUMBER_LINE {
                return Err(FrameError::BadNumber {
                    what,
                    text: String::from_utf8_lossy(&line).into_owned(),
                });
            }
            line.push(b[0]);
        }
        let text = std::str::from_utf8(&line).unwrap_or("").trim_ascii();
        let bad = || FrameError::BadNumber {
            what,
            text: String::from_utf8_lossy(&line).into_owned(),
        };
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let len: u64 = text.parse().map_err(|_| bad())?;
        if len > max as u64 {
            return Err(FrameError::TooLong { what, len, max });
        }
        Ok(len as usize)
    }
}

/// Writes one length-prefixed string (`<len>\n<bytes>`), the only thing ever sent to splunkd.
pub fn write_string<W: Write>(out: &mut W, bytes: &[u8]) -> io::Result<()> {
    writeln!(out, "{}", bytes.len())?;
    out.write_all(bytes)
}

/// Encodes a packet as splunkd would send it: the client side of the protocol, used by
/// splunkd-dev, the tests and the benchmarks.
pub fn encode_packet(opcode: u8, init: Option<&Init>, block: Option<&[u8]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(block.map_or(0, <[u8]>::len) + 64);
    out.push(opcode);
    if let Some(init) = init {
        out.extend_from_slice(init.command.len().to_string().as_bytes());
        out.push(b'\n');
        for c in &init.command {
            // Writing into a Vec cannot fail.
            let _ = write_string(&mut out, c.as_bytes());
        }
        let arg = init.command_arg.as_deref().unwrap_or("");
        let _ = write_string(&mut out, arg.as_bytes());
    }
    if let Some(block) = block {
        let _ = write_string(&mut out, block);
    }
    out
}

/// Encodes a whole request as one combined INIT|BLOCK|END packet, as splunkd usually sends it.
pub fn encode_request(init: &Init, request_json: &[u8]) -> Vec<u8> {
    encode_packet(OP_INIT | OP_BLOCK | OP_END, Some(init), Some(request_json))
}

/// Reads one reply string written by a driver (the client side of the protocol).
pub fn read_reply<R: BufRead>(input: &mut R, max: usize) -> Result<Vec<u8>, FrameError> {
    let mut reader = FrameReader::new(
        input,
        Limits {
            max_block: max,
            ..Limits::default()
        },
    );
    let len = reader.read_len("reply length", max)?;
    reader.read_exact_vec(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn init() -> Init {
        Init {
            command: vec!["/opt/splunk/etc/apps/a/bin/dsdl-handler".into()],
            command_arg: None,
        }
    }

    fn read_all(bytes: &[u8]) -> Result<Vec<Packet>, FrameError> {
        let mut r = FrameReader::new(bytes, Limits::default());
        let mut out = Vec::new();
        while let Some(p) = r.read_packet()? {
            out.push(p);
        }
        Ok(out)
    }

    #[test]
    fn combined_packet_round_trips() {
        let bytes = encode_request(&init(), br#"{"method":"GET"}"#);
        let packets = read_all(&bytes).unwrap();
        assert_eq!(packets.len(), 1);
        assert_eq!(packets[0].opcode, 7);
        assert_eq!(packets[0].init.as_ref().unwrap(), &init());
        assert_eq!(
            packets[0].block.as_deref(),
            Some(&br#"{"method":"GET"}"#[..])
        );
    }

    #[test]
    fn byte_exact_example_from_the_protocol_notes() {
        let json = br#"{"method":"GET"}"#;
        let mut wire = b"\x071\n42\n/opt/splunk/etc/apps/my_app/bin/my_handler0\n".to_vec();
        wire.extend_from_slice(format!("{}\n", json.len()).as_bytes());
        wire.extend_from_slice(json);
        let p = &read_all(&wire).unwrap()[0];
        let init = p.init.as_ref().unwrap();
        assert_eq!(init.command, ["/opt/splunk/etc/apps/my_app/bin/my_handler"]);
        assert_eq!(init.command_arg, None);
        assert_eq!(p.block.as_deref(), Some(&json[..]));
    }

    #[test]
    fn blank_lines_whitespace_and_printable_opcodes_are_accepted() {
        let wire = b"\n\n7\n1\n\n3\nabc\n 5 \nparam\n\n2\n{}";
        let p = &read_all(wire).unwrap()[0];
        assert_eq!(p.opcode, 7, "'7' is 0x37: only the low nibble counts");
        let init = p.init.as_ref().unwrap();
        assert_eq!(init.command, ["abc"]);
        assert_eq!(init.command_arg.as_deref(), Some("param"));
        assert_eq!(p.block.as_deref(), Some(&b"{}"[..]));
    }

    #[test]
    fn split_packets_are_read_separately() {
        let mut wire = encode_packet(OP_INIT, Some(&init()), None);
        wire.extend(encode_packet(OP_BLOCK, None, Some(b"{}")));
        wire.extend(encode_packet(OP_END, None, None));
        let ps = read_all(&wire).unwrap();
        assert_eq!(ps.iter().map(|p| p.opcode).collect::<Vec<_>>(), [1, 2, 4]);
    }

    fn small_blocks() -> Limits {
        Limits {
            max_block: 10,
            ..Limits::default()
        }
    }

    #[test]
    fn an_oversized_block_is_dropped_and_the_stream_stays_in_step() {
        let big = vec![b'x'; OVERSIZED_HEAD + 5000];
        let mut wire = encode_request(&init(), &big);
        wire.extend(encode_request(&init(), b"{}"));
        let mut r = FrameReader::new(&wire[..], small_blocks());
        let p = r.read_packet().unwrap().unwrap();
        assert!(p.block.is_none() && p.has_block());
        let o = p.oversized.unwrap();
        assert_eq!((o.len, o.max), (big.len() as u64, 10));
        assert_eq!(o.head, &big[..OVERSIZED_HEAD]);
        let next = r.read_packet().unwrap().unwrap();
        assert_eq!(next.block.as_deref(), Some(&b"{}"[..]));
        assert!(next.oversized.is_none());
        assert!(r.read_packet().unwrap().is_none());
    }

    #[test]
    fn a_block_at_the_cap_is_kept() {
        let wire = encode_packet(OP_BLOCK, None, Some(b"0123456789"));
        let p = FrameReader::new(&wire[..], small_blocks())
            .read_packet()
            .unwrap()
            .unwrap();
        assert_eq!(p.block.as_deref(), Some(&b"0123456789"[..]));
        assert!(p.oversized.is_none());
    }

    #[test]
    fn oversized_and_malformed_lengths_are_errors() {
        // An oversized block cut short (in its head or after it) is still a framing error.
        for wire in [&b"\x02100\nabc"[..], &b"\x025000\n"[..]] {
            let mut r = FrameReader::new(wire, small_blocks());
            assert!(matches!(r.read_packet(), Err(FrameError::UnexpectedEof(_))));
        }
        let mut wire = b"\x025000\n".to_vec();
        wire.extend(vec![b'x'; 4999]);
        let mut r = FrameReader::new(&wire[..], small_blocks());
        assert!(matches!(
            r.read_packet(),
            Err(FrameError::UnexpectedEof("oversized block"))
        ));
        let mut r = FrameReader::new(
            &b"\x011\n100\n"[..],
            Limits {
                max_command_string: 10,
                ..Limits::default()
            },
        );
        assert!(matches!(r.read_packet(), Err(FrameError::TooLong { .. })));
        assert!(matches!(
            read_all(b"\x02-5\nabc"),
            Err(FrameError::BadNumber { .. })
        ));
        assert!(matches!(
            read_all(b"\x0299999999999999999999999999999999999999\n"),
            Err(FrameError::BadNumber { .. })
        ));
        assert!(matches!(
            read_all(b"\x0210\nabc"),
            Err(FrameError::UnexpectedEof(_))
        ));
        assert!(matches!(
            read_all(b"\x01"),
            Err(FrameError::UnexpectedEof(_))
        ));
        assert!(matches!(
            read_all(b"\x011\n2\n\xff\xfe0\n"),
            Err(FrameError::BadUtf8(_))
        ));
    }

    #[test]
    fn clean_eof_and_empty_input() {
        assert!(read_all(b"").unwrap().is_empty());
        assert!(read_all(b"\n\n\n").unwrap().is_empty());
    }

    #[test]
    fn replies_are_length_prefixed() {
        let mut out = Vec::new();
        write_string(&mut out, b"").unwrap();
        write_string(&mut out, "h\u{e9}".as_bytes()).unwrap();
        assert_eq!(out, b"0\n3\nh\xc3\xa9");
        let mut cursor = &out[..];
        assert_eq!(read_reply(&mut cursor, 100).unwrap(), b"");
        assert_eq!(read_reply(&mut cursor, 100).unwrap(), "h\u{e9}".as_bytes());
    }
}
