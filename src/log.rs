//! Routine events as JSON lines in the app's own log file (indexed by Splunk into `_internal`),
//! faults on stderr (relayed by splunkd into splunkd.log). Callers pass only fields that are
//! safe to log: never a token, a password or an Authorization header.

use serde::Serialize;
use serde_json::{Map, Value};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

/// Appends one JSON object per line to the log file.
pub struct Logger {
    file: Option<File>,
}

impl Logger {
    /// Opens (creating) the log file; on failure logs go nowhere and the reason is on stderr.
    pub fn open(path: Option<&Path>) -> Logger {
        let file = path.and_then(|p| {
            if let Some(dir) = p.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            match OpenOptions::new().create(true).append(true).open(p) {
                Ok(f) => Some(f),
                Err(e) => {
                    fault(&format!("cannot open log file {}: {e}", p.display()));
                    None
                }
            }
        });
        Logger { file }
    }

    /// A logger that drops everything (tests, benchmarks).
    pub fn disabled() -> Logger {
        Logger { file: None }
    }

    /// Writes one event: `time`, `level` and `event` first, then `fields`.
    pub fn event(&mut self, level: &str, event: &str, fields: Map<String, Value>) {
        self.write(&Line {
            time: &crate::render::now_iso(),
            level,
            event,
            fields: &fields,
        });
    }

    /// The `request` event every request ends with, written without building a map (it is
    /// on every request's path): the same keys in the same order as [`Logger::event`] gives.
    pub fn request(&mut self, level: &str, request: &RequestFields<'_>) {
        #[derive(Serialize)]
        struct RequestLine<'a> {
            time: &'a str,
            level: &'a str,
            event: &'a str,
            #[serde(flatten)]
            request: &'a RequestFields<'a>,
        }
        self.write(&RequestLine {
            time: &crate::render::now_iso(),
            level,
            event: "request",
            request,
        });
    }

    /// Writes one line as it is (the audit trail's events, which have their own shape).
    pub fn line(&mut self, line: &impl Serialize) {
        self.write(line);
    }

    fn write(&mut self, line: &impl Serialize) {
        let Some(file) = self.file.as_mut() else {
            return;
        };
        let mut bytes = serde_json::to_vec(line).unwrap_or_default();
        bytes.push(b'\n');
        if file.write_all(&bytes).is_err() {
            self.file = None;
            fault("writing the log file failed; file logging is off for this process");
        }
    }
}

/// One event line: its header, then the fields.
#[derive(Serialize)]
struct Line<'a> {
    time: &'a str,
    level: &'a str,
    event: &'a str,
    #[serde(flatten)]
    fields: &'a Map<String, Value>,
}

/// What the `request` event says about a request (never a credential).
#[derive(Debug, Serialize)]
pub struct RequestFields<'a> {
    /// GET, POST, ...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<&'a str>,
    /// The path under `/mltk`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The caller's user name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<&'a str>,
    /// The reply's status.
    pub status: u16,
    /// Time from the block to the reply.
    pub duration_us: u64,
}

/// Reports a fault on stderr, which splunkd copies into splunkd.log.
pub fn fault(message: &str) {
    eprintln!("dsdl-handler: {message}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_line_has_the_keys_and_order_of_an_event() {
        let path = std::env::temp_dir().join(format!("dsdl-log-{}.jsonl", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let mut log = Logger::open(Some(&path));
        let mut fields = Map::new();
        fields.insert("method".into(), Value::from("GET"));
        fields.insert("path".into(), Value::from("/mltk"));
        fields.insert("user".into(), Value::from("admin"));
        fields.insert("status".into(), Value::from(200));
        fields.insert("duration_us".into(), Value::from(12));
        log.event("INFO", "request", fields);
        log.request(
            "INFO",
            &RequestFields {
                method: Some("GET"),
                path: Some("/mltk".into()),
                user: Some("admin"),
                status: 200,
                duration_us: 12,
            },
        );
        let text = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        let keys = |line: &str| -> Vec<(String, Value)> {
            let v: Map<String, Value> = serde_json::from_str(line).unwrap();
            v.into_iter().filter(|(k, _)| k != "time").collect()
        };
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(keys(lines[0]), keys(lines[1]));
        assert!(lines[1].starts_with(r#"{"time":""#), "{text}");
    }
}
