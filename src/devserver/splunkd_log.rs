//! splunkd-dev's own log, `var/log/splunk/splunkd.log`, in splunkd's line format, so driver
//! stderr and process exits land where they would on a real Splunk
//! (`... ERROR PersistentScript [... PersistentScriptIo] - From {cmd}: line`).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Appends lines to splunkd.log; never fails the caller.
pub struct SplunkdLog {
    path: PathBuf,
    file: Mutex<Option<File>>,
}

impl SplunkdLog {
    /// Opens (creating) the log; when it cannot be opened lines go to stderr instead.
    pub fn open(path: &Path) -> SplunkdLog {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let file = OpenOptions::new().create(true).append(true).open(path);
        if let Err(e) = &file {
            eprintln!(
                "splunkd-dev: cannot open {}: {e}; logging to stderr",
                path.display()
            );
        }
        SplunkdLog {
            path: path.to_path_buf(),
            file: Mutex::new(file.ok()),
        }
    }

    /// Where the log is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes one line as given (for logs with their own format, like splunkd_access.log).
    pub fn raw(&self, line: &str) {
        self.write(&format!("{}\n", line.trim_end_matches(['\n', '\r'])));
    }

    fn write(&self, text: &str) {
        let mut guard = self.file.lock().unwrap_or_else(|e| e.into_inner());
        match guard.as_mut() {
            Some(f) => {
                let _ = f.write_all(text.as_bytes());
            }
            None => eprint!("{text}"),
        }
    }

    /// Writes one line: `<time> <LEVEL> <component> [<thread>] - <message>`.
    pub fn line(&self, level: &str, component: &str, thread: &str, message: &str) {
        let time = jiff::Timestamp::now().strftime("%m-%d-%Y %H:%M:%S%.3f +0000");
        let text = format!(
            "{time} {level:<5} {component} [{} {thread}] - {}\n",
            std::process::id(),
            message.trim_end_matches(['\n', '\r'])
        );
        self.write(&text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_have_splunkds_shape() {
        let path = std::env::temp_dir().join(format!("splunkd-dev-log-{}.log", std::process::id()));
        let log = SplunkdLog::open(&path);
        log.line(
            "ERROR",
            "PersistentScript",
            "PersistentScriptIo",
            "From {x}: boom\n",
        );
        let text = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        assert!(text.contains(" ERROR PersistentScript ["), "{text}");
        assert!(
            text.trim_end()
                .ends_with("PersistentScriptIo] - From {x}: boom"),
            "{text}"
        );
        assert_eq!(text.lines().count(), 1);
        assert!(text.contains(" +0000 "));
    }
}
