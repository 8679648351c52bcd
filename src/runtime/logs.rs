//! Container log frames to entries `{_time, log, stream}`. The engine sends one frame per log
//! message, each starting with its own timestamp; a line longer than the logging driver's
//! message size (16 KiB for json-file) arrives as several messages, the last one ending in a
//! newline, and a cut may fall inside a multi-byte character. So every frame's timestamp is
//! taken off, bytes are gathered per stream, and a line is decoded only once complete, with
//! the timestamp of its first part. Lines longer than [`MAX_LINE`] are cut (the rest is
//! dropped and the entry says so), and a reply keeps at most [`MAX_REPLY_BYTES`] of the
//! newest lines, so memory stays bounded whatever a container writes.

use crate::endpoints::body::Fields;
use crate::error::ApiError;
use serde_json::{Map, Value};

/// Longest line kept, in bytes.
pub const MAX_LINE: usize = 64 * 1024;

/// Most log text in one reply; older lines beyond it are left out.
pub const MAX_REPLY_BYTES: usize = 8 * 1024 * 1024;

/// Default `tail`.
pub const DEFAULT_TAIL: u32 = 1000;
/// Largest `tail` accepted.
pub const MAX_TAIL: u32 = 10_000;

/// What a log read asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogQuery {
    /// The model whose container's logs are read.
    pub model: String,
    /// Lines from the end (1 to [`MAX_TAIL`]).
    pub tail: u32,
    /// Only lines after this Unix time.
    pub since: Option<i64>,
    /// Whether entries carry `_time`.
    pub timestamps: bool,
}

impl LogQuery {
    /// Reads `model`, `tail` (default [`DEFAULT_TAIL`]), `since` (Unix seconds or RFC 3339)
    /// and `timestamps` (default true); each problem is a 400 that says what to send.
    pub fn from_fields(fields: &Fields) -> Result<LogQuery, ApiError> {
        let text = |k: &str| {
            fields
                .text(k)
                .map(|t| t.trim().to_string())
                .unwrap_or_default()
        };
        let model = text("model");
        if model.is_empty() {
            return Err(ApiError::bad_request(
                "model is required: the name of the model (record) whose logs to read.",
            ));
        }
        let model = crate::names::model_name(&model)?;
        let tail = match text("tail").as_str() {
            "" => DEFAULT_TAIL,
            t => t
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_TAIL).contains(n))
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "tail must be a whole number from 1 to {MAX_TAIL}."
                    ))
                })?,
        };
        let since = match text("since").as_str() {
            "" => None,
            s => Some(match s.parse::<i64>() {
                Ok(n) if n >= 0 => n,
                _ => s
                    .parse::<jiff::Timestamp>()
                    .map(|t| t.as_second())
                    .map_err(|_| {
                        ApiError::bad_request(
                            "since must be Unix seconds or an RFC 3339 time such as \
                             2026-11-23T10:00:00Z.",
                        )
                    })?,
            }),
        };
        Ok(LogQuery {
            model,
            tail,
            since,
            timestamps: fields.flag("timestamps")?.unwrap_or(true),
        })
    }
}

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
    time: [String; 3],
    cut: [bool; 3],
    entries: Vec<Entry>,
}

impl Splitter {
    /// A splitter for frames that start with the engine's timestamp and a space.
    pub fn new() -> Splitter {
        Splitter::default()
    }

    /// Adds one frame (one engine message) of `stream`.
    pub fn push(&mut self, stream: Stream, frame: &[u8]) {
        let i = stream.index();
        let (time, mut bytes) = split_timestamp(frame);
        while !bytes.is_empty() {
            if self.partial[i].is_empty() && !self.cut[i] {
                // A new line: it is stamped with the time of its first part.
                self.time[i] = time.to_string();
            }
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
        // A cut may land inside a character: lossy decoding marks it instead of failing.
        let mut log = String::from_utf8_lossy(&raw).into_owned();
        if cut {
            log.push_str(" … [line cut at 64 KiB]");
        }
        self.entries.push(Entry {
            time: std::mem::take(&mut self.time[i]),
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

/// The newest entries whose text fits in `budget` bytes, and whether older ones were left out.
pub fn newest_within(mut entries: Vec<Entry>, budget: usize) -> (Vec<Entry>, bool) {
    let mut used = 0usize;
    let mut keep = entries.len();
    for e in entries.iter().rev() {
        used = used.saturating_add(e.log.len() + e.time.len());
        if used > budget {
            break;
        }
        keep -= 1;
    }
    let dropped = keep > 0;
    entries.drain(..keep);
    (entries, dropped)
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
        && (s.ends_with('Z') || b[19..].iter().any(|c| matches!(c, b'+' | b'-')))
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
    const TS2: &str = "2026-11-23T01:56:53.000000001Z";

    fn frame(ts: &str, body: &str) -> Vec<u8> {
        format!("{ts} {body}").into_bytes()
    }

    #[test]
    fn log_queries_are_checked() {
        let f = |v: serde_json::Value| Fields(v.as_object().unwrap().clone());
        let q = LogQuery::from_fields(&f(serde_json::json!({"model": "m"}))).unwrap();
        assert_eq!((q.tail, q.since, q.timestamps), (DEFAULT_TAIL, None, true));
        let q = LogQuery::from_fields(&f(serde_json::json!({
            "model": "m", "tail": 5, "since": "2026-11-23T10:00:00Z", "timestamps": "no"
        })))
        .unwrap();
        assert_eq!(
            (q.tail, q.since, q.timestamps),
            (5, Some(1_795_428_000), false)
        );
        for (body, needle) in [
            (serde_json::json!({}), "model is required"),
            (serde_json::json!({"model": "m", "tail": 0}), "tail"),
            (serde_json::json!({"model": "m", "tail": 10_001}), "tail"),
            (
                serde_json::json!({"model": "m", "since": "yesterday"}),
                "since",
            ),
            (
                serde_json::json!({"model": "m", "timestamps": "maybe"}),
                "timestamps",
            ),
        ] {
            let e = LogQuery::from_fields(&f(body)).unwrap_err();
            assert!(
                e.status() == 400 && e.message.contains(needle),
                "{}",
                e.message
            );
        }
    }

    #[test]
    fn lines_keep_their_stream_and_time() {
        let mut s = Splitter::new();
        s.push(Stream::Stdout, &frame(TS, "hello\n"));
        s.push(Stream::Stdout, &frame(TS, "wor"));
        s.push(Stream::Stderr, &frame(TS2, "oops\n"));
        s.push(Stream::Stdout, &frame(TS2, "ld\n"));
        let e = s.finish();
        assert_eq!(e.len(), 3);
        assert_eq!((e[0].log.as_str(), e[0].stream), ("hello", Stream::Stdout));
        assert_eq!(e[0].time, TS);
        assert_eq!((e[1].log.as_str(), e[1].stream), ("oops", Stream::Stderr));
        assert_eq!(
            e[2].log, "world",
            "the second part's timestamp is taken off"
        );
        assert_eq!(e[2].time, TS, "a line keeps the time of its first part");
        let json = to_json(&e, true);
        assert_eq!(json[1]["stream"], "stderr");
        assert_eq!(json[1]["_time"], TS2);
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
        assert!(!looks_like_timestamp("2026-01-01T00:00:0é x"));
    }

    #[test]
    fn long_lines_are_cut_and_memory_stays_bounded() {
        let mut s = Splitter::new();
        let chunk = "x".repeat(10_000);
        for _ in 0..100 {
            s.push(Stream::Stdout, &frame(TS, &chunk));
        }
        assert!(s.partial[0].len() <= MAX_LINE);
        s.push(Stream::Stdout, &frame(TS, "\n"));
        s.push(Stream::Stdout, &frame(TS, "next\n"));
        let e = s.finish();
        assert!(e[0].log.ends_with("[line cut at 64 KiB]"));
        assert!(e[0].log.len() < MAX_LINE + 40);
        assert_eq!(e[1].log, "next");
    }

    #[test]
    fn replies_keep_the_newest_lines_within_the_budget() {
        let e: Vec<Entry> = (0..10)
            .map(|i| Entry {
                time: String::new(),
                log: format!("{i:03}"),
                stream: Stream::Stdout,
            })
            .collect();
        let (kept, dropped) = newest_within(e.clone(), 9);
        assert!(dropped);
        assert_eq!(
            kept.iter().map(|e| e.log.as_str()).collect::<Vec<_>>(),
            ["007", "008", "009"]
        );
        let (kept, dropped) = newest_within(e, 1000);
        assert_eq!((kept.len(), dropped), (10, false));
    }

    proptest! {
        /// A line sent as several engine messages, cut anywhere (inside characters too),
        /// comes back whole, with the time of its first message.
        #[test]
        fn messages_split_anywhere_give_the_same_lines(cuts in proptest::collection::vec(0usize..200, 0..8)) {
            let lines = ["línea ✓ 日本 one", "two 🚀", "three"];
            let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
            let bytes = text.as_bytes();
            let mut points: Vec<usize> = cuts.into_iter().map(|c| c % bytes.len()).collect();
            points.push(bytes.len());
            // Newlines end messages too.
            points.extend(bytes.iter().enumerate().filter(|(_, b)| **b == b'\n').map(|(i, _)| i + 1));
            points.sort_unstable();
            points.dedup();
            let mut s = Splitter::new();
            let mut last = 0;
            for (n, p) in points.into_iter().enumerate() {
                if p == last {
                    continue;
                }
                let ts = if n % 2 == 0 { TS } else { TS2 };
                let mut f = format!("{ts} ").into_bytes();
                f.extend_from_slice(&bytes[last..p]);
                s.push(Stream::Stdout, &f);
                last = p;
            }
            let got = s.finish();
            let logs: Vec<&str> = got.iter().map(|e| e.log.as_str()).collect();
            prop_assert_eq!(logs, lines.to_vec());
            prop_assert!(got.iter().all(|e| e.time == TS || e.time == TS2));
        }
    }
}
