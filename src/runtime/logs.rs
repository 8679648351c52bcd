//! Container log frames to entries `{_time, log, stream}`. The engine sends one frame per log
//! message, each starting with its own timestamp; a line longer than the logging driver's
//! message size (16 KiB for json-file) arrives as several messages, the last one ending in a
//! newline, and a cut may fall inside a multi-byte character. So every frame's timestamp is
//! taken off, bytes are gathered per stream, and a line is decoded only once complete, with
//! the timestamp of its first part. Lines longer than [`MAX_LINE`] are cut (the rest is
//! dropped and the entry says so), and a reply keeps at most [`MAX_REPLY_BYTES`] of the
//! newest lines, so memory stays bounded whatever a container writes.

use crate::error::ApiError;
use crate::protocol::fields::Fields;
use serde_json::{Map, Value};
use std::collections::VecDeque;

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
    /// The log of the run before the last restart (Kubernetes: a crashed container's).
    pub previous: bool,
}

impl LogQuery {
    /// Reads `model`, `tail` (default [`DEFAULT_TAIL`]), `since` (Unix seconds or RFC 3339)
    /// `timestamps` (default true) and `previous` (default false); each problem is a 400
    /// that says what to send.
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
            previous: fields.flag("previous")?.unwrap_or(false),
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
pub struct LogLine {
    /// The engine's RFC 3339 timestamp, or empty.
    pub time: String,
    /// The line without its newline.
    pub log: String,
    /// Its stream.
    pub stream: Stream,
}

/// Longest a logs read goes on once the runtime answered; a read cut there replies with the
/// lines it has (a large tail of long lines can take longer than one call's bound).
pub const LOG_READ_LIMIT: std::time::Duration = std::time::Duration::from_secs(20);

/// Gathers chunks into lines, keeping only what a reply can hold: the newest `tail` lines
/// within [`MAX_REPLY_BYTES`], older ones dropped as newer ones arrive, so memory stays
/// bounded by the reply whatever the engine sends. It also counts the bytes read and says
/// when to stop: an engine (or a proxy) that floods a small `tail` is cut off at
/// [`read_budget`].
#[derive(Debug)]
pub struct Splitter {
    partial: [Vec<u8>; 3],
    time: [String; 3],
    cut: [bool; 3],
    entries: VecDeque<LogLine>,
    kept_bytes: usize,
    tail: usize,
    reply_budget: usize,
    read: usize,
    read_budget: usize,
    truncated: bool,
    timed_out: bool,
}

/// What a log read kept.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tail {
    /// The newest lines, oldest first.
    pub entries: Vec<LogLine>,
    /// Older lines within `tail` were left out to fit the reply budget.
    pub truncated: bool,
    /// Reading stopped at the read budget: the engine sent far more than `tail` lines.
    pub flooded: bool,
    /// Reading stopped at the time limit: newer lines may be missing.
    pub timed_out: bool,
}

/// Most bytes read for a `tail` of lines: twice the longest lines kept, at least 16 MiB and
/// at most 1 GiB. A well-behaved engine sends at most `tail` lines, so only a flood reaches it.
pub fn read_budget(tail: usize) -> usize {
    tail.saturating_mul(2 * (MAX_LINE + 64))
        .clamp(16 * 1024 * 1024, 1024 * 1024 * 1024)
}

impl Splitter {
    /// A splitter keeping the newest `tail` lines within [`MAX_REPLY_BYTES`], for frames that
    /// start with the engine's timestamp and a space.
    pub fn new(tail: usize) -> Splitter {
        Splitter::with_budgets(tail, MAX_REPLY_BYTES, read_budget(tail))
    }

    fn with_budgets(tail: usize, reply_budget: usize, read_budget: usize) -> Splitter {
        Splitter {
            partial: Default::default(),
            time: Default::default(),
            cut: [false; 3],
            entries: VecDeque::new(),
            kept_bytes: 0,
            tail: tail.max(1),
            reply_budget,
            read: 0,
            read_budget,
            truncated: false,
            timed_out: false,
        }
    }

    /// Adds one frame (one engine message) of `stream`; `false` once the read budget is
    /// spent, when the caller stops reading.
    pub fn push(&mut self, stream: Stream, frame: &[u8]) -> bool {
        self.read = self.read.saturating_add(frame.len());
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
        self.read < self.read_budget
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
        let entry = LogLine {
            time: std::mem::take(&mut self.time[i]),
            log,
            stream,
        };
        self.kept_bytes += entry.size();
        self.entries.push_back(entry);
        // The engine sends the newest `tail` lines; more than that (a flood) or more than a
        // reply holds pushes the oldest out.
        while self.entries.len() > self.tail
            || (self.kept_bytes > self.reply_budget && self.entries.len() > 1)
        {
            if self.entries.len() <= self.tail {
                self.truncated = true;
            }
            if let Some(old) = self.entries.pop_front() {
                self.kept_bytes -= old.size();
            }
        }
        if self.kept_bytes > self.reply_budget {
            // One line alone over the budget (only with a tiny budget): nothing fits.
            self.entries.clear();
            self.kept_bytes = 0;
            self.truncated = true;
        }
    }

    /// Notes that reading stopped at the time limit before the engine's last line.
    pub fn cut_at_time_limit(&mut self) {
        self.timed_out = true;
    }

    /// The lines kept, with a last line that had no newline.
    pub fn finish(mut self) -> Tail {
        for stream in [Stream::Stdout, Stream::Stderr, Stream::Console] {
            if !self.partial[stream.index()].is_empty() {
                self.emit(stream);
            }
        }
        Tail {
            flooded: self.read >= self.read_budget,
            timed_out: self.timed_out,
            truncated: self.truncated,
            entries: self.entries.into(),
        }
    }
}

impl LogLine {
    /// The bytes it takes in a reply, for the budget.
    fn size(&self) -> usize {
        self.log.len() + self.time.len()
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
        && (s.ends_with('Z') || b[19..].iter().any(|c| matches!(c, b'+' | b'-')))
}

/// The reply form of entries: `{_time, log, stream}`; `_time` is `""` when timestamps were
/// not asked for (the toolkit's UI and scripts index it on every entry).
pub fn to_json(entries: &[LogLine], timestamps: bool) -> Vec<Value> {
    entries
        .iter()
        .map(|e| {
            let mut m = Map::new();
            let time = if timestamps { e.time.as_str() } else { "" };
            m.insert("_time".into(), Value::String(time.into()));
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
        let mut s = Splitter::new(usize::MAX);
        s.push(Stream::Stdout, &frame(TS, "hello\n"));
        s.push(Stream::Stdout, &frame(TS, "wor"));
        s.push(Stream::Stderr, &frame(TS2, "oops\n"));
        s.push(Stream::Stdout, &frame(TS2, "ld\n"));
        let e = s.finish().entries;
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
        assert_eq!(to_json(&e, false)[0]["_time"], "");
    }

    #[test]
    fn a_line_without_a_timestamp_is_kept_whole() {
        let mut s = Splitter::new(usize::MAX);
        s.push(Stream::Console, b"no time here\nlast");
        let e = s.finish().entries;
        assert_eq!(e[0].log, "no time here");
        assert_eq!(e[0].time, "");
        assert_eq!(e[1].log, "last");
        assert!(!looks_like_timestamp("2026-01-01T00:00:0é x"));
    }

    #[test]
    fn long_lines_are_cut_and_memory_stays_bounded() {
        let mut s = Splitter::new(usize::MAX);
        let chunk = "x".repeat(10_000);
        for _ in 0..100 {
            s.push(Stream::Stdout, &frame(TS, &chunk));
        }
        assert!(s.partial[0].len() <= MAX_LINE);
        s.push(Stream::Stdout, &frame(TS, "\n"));
        s.push(Stream::Stdout, &frame(TS, "next\n"));
        let e = s.finish().entries;
        assert!(e[0].log.ends_with("[line cut at 64 KiB]"));
        assert!(e[0].log.len() < MAX_LINE + 40);
        assert_eq!(e[1].log, "next");
    }

    #[test]
    fn only_the_newest_lines_within_tail_and_the_budget_are_kept() {
        let line = |i: usize| frame(TS, &format!("{i:03}\n"));
        // The budget: 3 lines of 3 characters and a 30-byte timestamp.
        let mut s = Splitter::with_budgets(100, 3 * (3 + TS.len()), usize::MAX);
        for i in 0..10 {
            assert!(s.push(Stream::Stdout, &line(i)));
        }
        let t = s.finish();
        assert!(t.truncated && !t.flooded);
        assert_eq!(
            t.entries.iter().map(|e| e.log.as_str()).collect::<Vec<_>>(),
            ["007", "008", "009"]
        );
        // More lines than the tail asked for (a flooding engine): the newest `tail`, and not
        // called truncated, since nothing within the tail was left out.
        let mut s = Splitter::with_budgets(2, usize::MAX, usize::MAX);
        for i in 0..10 {
            s.push(Stream::Stdout, &line(i));
        }
        let t = s.finish();
        assert!(!t.truncated);
        assert_eq!(t.entries.len(), 2);
        assert_eq!(t.entries[1].log, "009");
    }

    /// Memory for a flood: only what is kept grows, and reading stops at the budget.
    #[test]
    fn a_flood_is_kept_small_and_cut_off() {
        let mut s = Splitter::with_budgets(10, 1000, 100_000);
        let mut frames = 0;
        while s.push(Stream::Stdout, &frame(TS, "flood line\n")) {
            frames += 1;
            assert!(frames < 10_000, "reading never stopped");
            assert!(s.entries.len() <= 10 && s.kept_bytes <= 1000);
        }
        let t = s.finish();
        assert!(t.flooded && t.entries.len() == 10 && !t.truncated);
    }

    #[test]
    fn the_read_budget_scales_with_tail_within_bounds() {
        assert_eq!(read_budget(10), 16 * 1024 * 1024);
        assert!(read_budget(1000) > 100 * 1024 * 1024);
        assert_eq!(read_budget(10_000), 1024 * 1024 * 1024);
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
            let mut s = Splitter::new(usize::MAX);
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
            let got = s.finish().entries;
            let logs: Vec<&str> = got.iter().map(|e| e.log.as_str()).collect();
            prop_assert_eq!(logs, lines.to_vec());
            prop_assert!(got.iter().all(|e| e.time == TS || e.time == TS2));
        }
    }
}
