//! Routine events as JSON lines in the app's own log file (indexed by Splunk into `_internal`),
//! faults on stderr (relayed by splunkd into splunkd.log). Callers pass only fields that are
//! safe to log: never a token, a password or an Authorization header.

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
        let Some(file) = self.file.as_mut() else {
            return;
        };
        let mut line = Map::new();
        line.insert("time".into(), Value::String(crate::render::now_iso()));
        line.insert("level".into(), Value::String(level.into()));
        line.insert("event".into(), Value::String(event.into()));
        line.extend(fields);
        let mut bytes = serde_json::to_vec(&Value::Object(line)).unwrap_or_default();
        bytes.push(b'\n');
        if file.write_all(&bytes).is_err() {
            self.file = None;
            fault("writing the log file failed; file logging is off for this process");
        }
    }
}

/// Reports a fault on stderr, which splunkd copies into splunkd.log.
pub fn fault(message: &str) {
    eprintln!("dsdl-handler: {message}");
}
