//! Runs the built `dsdl-handler` binary the way splunkd does: no arguments, requests on stdin,
//! replies on stdout, faults on stderr. Each run gets its own log file (`DSDL_LOG_FILE`) in a
//! fresh temporary directory, and `SPLUNK_HOME` is unset, so nothing outside it is written.
//! A watchdog kills a driver that hangs, so a hang fails the test instead of stalling it.

use std::io::{BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::wire;

/// How long any one driver process may live in a test.
const WATCHDOG: Duration = Duration::from_secs(60);

/// Driver settings read from the environment; cleared so the caller's environment cannot
/// change a test.
const DRIVER_ENV: &[&str] = &[
    "SPLUNK_HOME",
    "DSDL_LOG_FILE",
    "DSDL_MAX_BLOCK_BYTES",
    "DSDL_SPLUNKD_CA",
    "DSDL_APP",
];

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "dsdl-handler-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create a temporary directory");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What a finished driver process left behind.
#[derive(Debug)]
pub struct Run {
    /// How the process ended.
    pub status: ExitStatus,
    /// Everything written to stdout that the test had not read yet.
    pub stdout: Vec<u8>,
    /// Everything written to stderr.
    pub stderr: String,
    /// The log file's contents.
    pub log: String,
    /// From closing stdin (or the last write) to the process's exit.
    pub exit_after: Duration,
}

impl Run {
    /// The unread stdout split strictly into replies; panics on any stray or partial byte.
    pub fn replies(&self) -> Vec<Vec<u8>> {
        wire::replies(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not a clean sequence of replies: {e}"))
    }

    /// The log file's lines, each parsed as JSON.
    pub fn log_lines(&self) -> Vec<serde_json::Value> {
        self.log
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("log line {l:?}: {e}")))
            .collect()
    }

    /// Asserts a protocol failure: a non-zero exit with a message on stderr.
    pub fn assert_protocol_error(&self) {
        assert!(
            !self.status.success(),
            "expected a non-zero exit, got {:?}",
            self.status
        );
        assert!(
            self.stderr.contains("dsdl-handler: protocol error"),
            "stderr does not explain the failure: {:?}",
            self.stderr
        );
    }
}

/// One running driver process.
pub struct Session {
    child: Arc<Mutex<Child>>,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    stderr: Option<JoinHandle<String>>,
    writer: Option<JoinHandle<()>>,
    watchdog: Option<mpsc::Sender<()>>,
    closed_at: Option<Instant>,
    dir: TempDir,
}

impl Session {
    /// Starts the driver with the default settings.
    pub fn start() -> Session {
        Session::start_with_env(&[])
    }

    /// Starts the driver with extra environment variables.
    pub fn start_with_env(env: &[(&str, &str)]) -> Session {
        let dir = TempDir::new();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_dsdl-handler"));
        for var in DRIVER_ENV {
            cmd.env_remove(var);
        }
        cmd.env("DSDL_LOG_FILE", dir.0.join("dsdl_handler.log"))
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start dsdl-handler");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut stderr = child.stderr.take().expect("piped stderr");
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        });
        let child = Arc::new(Mutex::new(child));
        let (cancel, cancelled) = mpsc::channel::<()>();
        let watched = Arc::clone(&child);
        std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = cancelled.recv_timeout(WATCHDOG) {
                eprintln!("watchdog: dsdl-handler hung for {WATCHDOG:?}; killing it");
                // Child::kill does nothing to a child already reaped.
                let _ = watched.lock().unwrap().kill();
            }
        });
        Session {
            child,
            stdin,
            stdout,
            stderr: Some(stderr),
            writer: None,
            watchdog: Some(cancel),
            closed_at: None,
            dir,
        }
    }

    /// The driver's process id, for reading its `/proc` entries.
    pub fn pid(&self) -> u32 {
        self.child.lock().unwrap().id()
    }

    /// Writes bytes to the driver's stdin (in one go, as splunkd writes a packet).
    pub fn send(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        stdin.write_all(bytes).expect("write to the driver");
        stdin.flush().expect("flush to the driver");
    }

    /// Writes bytes from a background thread and then closes stdin, for input larger than a
    /// pipe buffer or input the driver may stop reading early. Write errors (the driver
    /// exited) are ignored: the test judges the output.
    pub fn send_all_and_close(&mut self, bytes: Vec<u8>) {
        let mut stdin = self.stdin.take().expect("stdin is open");
        self.writer = Some(std::thread::spawn(move || {
            let _ = stdin.write_all(&bytes);
        }));
    }

    /// Reads one reply, strictly framed; panics if the driver ends or stalls instead.
    pub fn reply(&mut self) -> Vec<u8> {
        let mut digits = Vec::new();
        loop {
            let mut b = [0u8; 1];
            if let Err(e) = self.stdout.read_exact(&mut b) {
                panic!("driver stdout ended before a reply ({e}); read {digits:?}");
            }
            match b[0] {
                b'\n' if !digits.is_empty() => break,
                d if d.is_ascii_digit() && digits != b"0" => digits.push(d),
                other => panic!("bad byte {other:#04x} in a reply length after {digits:?}"),
            }
        }
        let len: usize = String::from_utf8(digits).unwrap().parse().unwrap();
        let mut body = vec![0u8; len];
        self.stdout
            .read_exact(&mut body)
            .expect("driver stdout ended inside a reply");
        body
    }

    /// Reads the init reply and the data reply of one request; the init reply must be the
    /// empty success string.
    pub fn request_replies(&mut self) -> serde_json::Value {
        assert_eq!(
            self.reply(),
            b"",
            "init reply is not the empty success string"
        );
        wire::reply_json(&self.reply())
    }

    /// Waits up to `timeout` for the driver to exit on its own (stdin stays open); returns
    /// whether it did.
    pub fn wait_for_exit(&mut self, timeout: Duration) -> bool {
        let started = Instant::now();
        while started.elapsed() < timeout {
            if self
                .child
                .lock()
                .unwrap()
                .try_wait()
                .expect("wait")
                .is_some()
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }

    /// Closes stdin: a clean end of stream for the driver.
    pub fn close(&mut self) {
        self.stdin = None;
        self.closed_at = Some(Instant::now());
    }

    /// Closes stdin if still open, waits for the exit and collects what is left.
    pub fn finish(mut self) -> Run {
        if self.stdin.is_some() {
            self.close();
        }
        let mut stdout = Vec::new();
        let _ = self.stdout.read_to_end(&mut stdout);
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
        let closed_at = self.closed_at.unwrap_or_else(Instant::now);
        let status = loop {
            if let Some(status) = self.child.lock().unwrap().try_wait().expect("wait") {
                break status;
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        let exit_after = closed_at.elapsed();
        self.watchdog = None;
        let stderr = self.stderr.take().unwrap().join().unwrap_or_default();
        let log = std::fs::read_to_string(self.dir.0.join("dsdl_handler.log")).unwrap_or_default();
        Run {
            status,
            stdout,
            stderr,
            log,
            exit_after,
        }
    }
}

/// Feeds `input` to a fresh driver, closes stdin and collects everything.
pub fn run(input: &[u8]) -> Run {
    run_with_env(input, &[])
}

/// [`run`] with extra environment variables.
pub fn run_with_env(input: &[u8], env: &[(&str, &str)]) -> Run {
    let mut s = Session::start_with_env(env);
    s.closed_at = Some(Instant::now());
    s.send_all_and_close(input.to_vec());
    s.finish()
}
