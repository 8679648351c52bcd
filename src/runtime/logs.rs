//! Container log chunks to entries `{_time, log, stream}`. Engines send chunks, not lines:
//! a line may span chunks and a chunk may end inside a multi-byte character, so bytes are
//! gathered per stream and decoded only once a line is complete. Lines longer than
//! [`MAX_LINE`] are cut (the rest of the line is dropped and the entry says so), so memory
//! stays bounded whatever a container writes.

use serde_json::{Map, Value};

/// Longest line kept, in bytes.
pub const MAX_LINE: usize = 64 * 1024;

/// Default and largest `tail`.
pub const DEFAULT_TAIL: u32 = 1000;
/// Largest `tail` accepted.
pub const MAX_TAIL: u32 = 10_000;

/// Where a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
    /// A TTY (both streams merged by the engine).
    Console,
}

impl Stream {
    /// The reply spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
            Stream::Console => "console",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The engine's RFC 3339 timestamp, or empty.
    pub time: String,
    /// The line without its newline.
    pub log: String,
    /// Its stream.
    pub stream: Stream,
}

/// Gathers chunks into lines.
#[derive(Debug, Default)]
pub struct Splitter {
    partial: [Vec<u8>; 3],
    cut: [bool; 3],
    entries: Vec<Entry>,
}

impl Splitter {
    /// A splitter for chunks whose lines start with the engine's timestamp and a space.
    pub fn new() -> Splitter {
        Splitter::default()
    }

    /// Adds a chunk of `stream`.
    pub fn push(&mut self, stream: Stream, mut bytes: &[u8]) {
        let i = stream.index();
        while !bytes.is_empty() {
            let (line, rest, complete) = match bytes.iter().position(|&b| b == b'\n') {
                Some(n) => (&bytes[..n], &bytes[n + 1..], true),
                None => (bytes, &[][..], false),
            };
            let room = MAX_LINE.saturating_sub(self.partial[i].len());
            if line.len() > room {
                self.partial[i].extend_from_slice(&line[..room]);
                self.cut[i] = true;
            } else {
                self.partial[i].extend_from_slice(line);
            }
            if complete {
                self.emit(stream);
            }
            bytes = rest;
        }
    }

    fn emit(&mut self, stream: Stream) {
        let i = stream.index();
        let raw = std::mem::take(&mut self.partial[i]);
        let cut = std::mem::replace(&mut self.cut[i], false);
        let (time, body) = split_timestamp(&raw);
        // A cut may land inside a character: lossy decoding marks it instead of failing.
        let mut log = String::from_utf8_lossy(body).into_owned();
        if cut {
            log.push_str(" … [line cut at 64 KiB]");
        }
        self.entries.push(Entry {
            time: time.to_string(),
            log,
            stream,
        });
    }

    /// The entries, with a last line that had no newline.
    pub fn finish(mut self) -> Vec<Entry> {
        for stream in [Stream::Stdout, Stream::Stderr, Stream::Console] {
            if !self.partial[stream.index()].is_empty() {
                self.emit(stream);
            }
        }
        self.entries
    }
}

/// Splits `2026-11-23T01:56:52.649558979Z rest` into the timestamp and the rest; a line
/// without a leading timestamp keeps all its bytes.
fn split_timestamp(raw: &[u8]) -> (&str, &[u8]) {
    if let Some(space) = raw.iter().take(40).position(|&b| b == b' ')
        && let Ok(ts) = std::str::from_utf8(&raw[..space])
        && looks_like_timestamp(ts)
    {
        return (ts, &raw[space + 1..]);
    }
    ("", raw)
}

fn looks_like_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[..4].iter().all(u8::is_ascii_digit)
        && (s.ends_with('Z') || s[19..].contains(['+', '-']))
}

/// The reply form of entries: `{_time, log, stream}` (`_time` left out when timestamps were
/// not asked for).
pub fn to_json(entries: &[Entry], timestamps: bool) -> Vec<Value> {
    entries
        .iter()
        .map(|e| {
            let mut m = Map::new();
            if timestamps {
                m.insert("_time".into(), Value::String(e.time.clone()));
            }
            m.insert("log".into(), Value::String(e.log.clone()));
            m.insert("stream".into(), Value::String(e.stream.as_str().into()));
            Value::Object(m)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TS: &str = "2026-11-23T01:56:52.649558979Z";

    #[test]
    fn lines_keep_their_stream_and_time() {
        let mut s = Splitter::new();
        s.push(Stream::Stdout, format!("{TS} hello\n{TS} wor").as_bytes());
        s.push(Stream::Stderr, format!("{TS} oops\n").as_bytes());
        s.push(Stream::Stdout, b"ld\n");
        let e = s.finish();
        assert_eq!(e.len(), 3);
        assert_eq!((e[0].log.as_str(), e[0].stream), ("hello", Stream::Stdout));
        assert_eq!(e[0].time, TS);
        assert_eq!((e[1].log.as_str(), e[1].stream), ("oops", Stream::Stderr));
        assert_eq!(e[2].log, "world");
        let json = to_json(&e, true);
        assert_eq!(json[1]["stream"], "stderr");
        assert_eq!(json[1]["_time"], TS);
        assert!(to_json(&e, false)[0].get("_time").is_none());
    }

    #[test]
    fn a_line_without_a_timestamp_is_kept_whole() {
        let mut s = Splitter::new();
        s.push(Stream::Console, b"no time here\nlast");
        let e = s.finish();
        assert_eq!(e[0].log, "no time here");
        assert_eq!(e[0].time, "");
        assert_eq!(e[1].log, "last");
    }

    #[test]
    fn long_lines_are_cut_and_memory_stays_bounded() {
        let mut s = Splitter::new();
        let chunk = vec![b'x'; 10_000];
        for _ in 0..100 {
            s.push(Stream::Stdout, &chunk);
        }
        assert!(s.partial[0].len() <= MAX_LINE);
        s.push(Stream::Stdout, b"\nnext\n");
        let e = s.finish();
        assert!(e[0].log.ends_with("[line cut at 64 KiB]"));
        assert!(e[0].log.len() < MAX_LINE + 40);
        assert_eq!(e[1].log, "next");
    }

    proptest! {
        /// Any split of the bytes gives the same entries, multi-byte characters included.
        #[test]
        fn any_split_gives_the_same_lines(cuts in proptest::collection::vec(0usize..200, 0..8)) {
            let text = format!("{TS} línea ✓ 日本 one\n{TS} two 🚀\n{TS} three\n");
            let bytes = text.as_bytes();
            let mut whole = Splitter::new();
            whole.push(Stream::Stdout, bytes);
            let expected = whole.finish();
            let mut points: Vec<usize> = cuts.into_iter().map(|c| c % bytes.len()).collect();
            points.sort_unstable();
            let mut s = Splitter::new();
            let mut last = 0;
            for p in points {
                s.push(Stream::Stdout, &bytes[last..p]);
                last = p;
            }
            s.push(Stream::Stdout, &bytes[last..]);
            prop_assert_eq!(s.finish(), expected.clone());
            prop_assert_eq!(expected[0].log.as_str(), "línea ✓ 日本 one");
        }
    }
}
