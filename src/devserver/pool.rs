//! Persistent driver processes, as splunkd runs them: one pool per distinct driver
//! configuration (program, argv, environment), one request per process at a time. A request
//! takes an idle process, or starts another one when all are busy, up to `max_per_driver`
//! processes each (splunkd-dev's `--pool`); only past that cap does it wait. A process that dies, times out or writes out of step is
//! discarded (the caller gets a 5xx) and the next request starts a fresh one; idle processes
//! are retired by closing their stdin. Driver stderr goes to splunkd.log.

use super::splunkd_log::SplunkdLog;
use crate::protocol::frame::{self, Init};
use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::Semaphore;

/// Largest reply accepted from a driver.
pub const MAX_REPLY: usize = 256 * 1024 * 1024;

/// How to start a driver: processes are shared between requests with equal specs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DriverSpec {
    /// `driver`, env-substituted and absolute.
    pub program: PathBuf,
    /// `driver.arg.N` in order.
    pub args: Vec<String>,
    /// `driver.env.NAME` plus what splunkd sets (SPLUNK_HOME, ...), sorted by name.
    pub env: Vec<(String, String)>,
    /// Working directory of the process.
    pub cwd: PathBuf,
}

impl DriverSpec {
    /// The command line as splunkd logs it: `"prog" "arg" ...`.
    pub fn display(&self) -> String {
        std::iter::once(self.program.display().to_string())
            .chain(self.args.iter().cloned())
            .map(|a| format!("{a:?}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Pool limits.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    /// Processes per driver configuration.
    pub max_per_driver: usize,
    /// Idle time after which a process is retired (stdin closed).
    pub idle_timeout: Duration,
    /// Time a process has to answer one request before it is killed.
    pub reply_timeout: Duration,
}

/// Why a request did not get a reply from its driver.
#[derive(Debug)]
pub enum PoolError {
    /// The driver could not be started.
    Spawn {
        /// The program.
        program: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// The process exited, closed its pipes or wrote something that is not a reply.
    Died(String),
    /// No reply within the reply timeout; the process was killed.
    Timeout(Duration),
    /// The driver refused the init section (a non-empty init reply).
    InitRejected(String),
}

impl PoolError {
    /// The HTTP status the client gets.
    pub fn status(&self) -> u16 {
        match self {
            PoolError::Spawn { .. } | PoolError::InitRejected(_) => 500,
            PoolError::Died(_) => 502,
            PoolError::Timeout(_) => 504,
        }
    }
}

impl fmt::Display for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PoolError::Spawn { program, error } => write!(
                f,
                "Cannot start the persistent REST handler {}: {error}",
                program.display()
            ),
            PoolError::Died(why) => write!(
                f,
                "The persistent REST handler process failed before replying ({why}); it has been replaced, see splunkd.log"
            ),
            PoolError::Timeout(d) => write!(
                f,
                "The persistent REST handler did not reply within {} s; the process was killed",
                d.as_secs()
            ),
            PoolError::InitRejected(text) => {
                write!(f, "The persistent REST handler refused the request: {text}")
            }
        }
    }
}

impl std::error::Error for PoolError {}

struct Proc {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    pid: u32,
    last_used: Instant,
}

struct Group {
    spec: DriverSpec,
    idle: Mutex<Vec<Proc>>,
    permits: Arc<Semaphore>,
}

/// Every driver process of the server.
pub struct Pool {
    groups: Mutex<HashMap<DriverSpec, Arc<Group>>>,
    settings: PoolSettings,
    log: Arc<SplunkdLog>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Reads one length-prefixed string (`<len>\n<bytes>`, blank lines skipped before the length).
async fn read_string<R: tokio::io::AsyncBufRead + Unpin>(
    r: &mut R,
    max: usize,
) -> Result<Vec<u8>, String> {
    let mut line = Vec::with_capacity(16);
    loop {
        line.clear();
        let n = (&mut *r)
            .take(34)
            .read_until(b'\n', &mut line)
            .await
            .map_err(|e| format!("reading its stdout failed: {e}"))?;
        if n == 0 {
            return Err("it closed stdout".into());
        }
        if line.last() != Some(&b'\n') {
            return Err(format!(
                "it wrote {:?} where a reply length was expected",
                String::from_utf8_lossy(&line)
            ));
        }
        if line.trim_ascii().is_empty() {
            continue;
        }
        break;
    }
    let text = String::from_utf8_lossy(line.trim_ascii()).into_owned();
    let len: usize = text
        .parse()
        .map_err(|_| format!("it wrote {text:?} where a reply length was expected"))?;
    if len > max {
        return Err(format!(
            "its reply of {len} bytes is over the limit of {max}"
        ));
    }
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf)
        .await
        .map_err(|e| format!("its reply ended early: {e}"))?;
    Ok(buf)
}

fn describe_exit(status: ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            return format!("killed by signal {sig}");
        }
    }
    match status.code() {
        Some(c) => format!("exited with code {c}"),
        None => "exited".into(),
    }
}

impl Pool {
    /// An empty pool.
    pub fn new(settings: PoolSettings, log: Arc<SplunkdLog>) -> Arc<Pool> {
        Arc::new(Pool {
            groups: Mutex::new(HashMap::new()),
            settings,
            log,
        })
    }

    fn group(&self, spec: &DriverSpec) -> Arc<Group> {
        let mut groups = lock(&self.groups);
        groups
            .entry(spec.clone())
            .or_insert_with(|| {
                Arc::new(Group {
                    spec: spec.clone(),
                    idle: Mutex::new(Vec::new()),
                    permits: Arc::new(Semaphore::new(self.settings.max_per_driver.max(1))),
                })
            })
            .clone()
    }

    /// Sends one request (one combined INIT|BLOCK|END packet) and returns the reply bytes.
    pub async fn call(
        &self,
        spec: &DriverSpec,
        init: &Init,
        request: &[u8],
    ) -> Result<Vec<u8>, PoolError> {
        let group = self.group(spec);
        let _permit = group
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| PoolError::Died("the pool is shutting down".into()))?;
        let mut proc = match self.take_idle(&group).await {
            Some(p) => p,
            None => self.spawn(spec)?,
        };
        let packet = frame::encode_request(init, request);
        let exchange = async {
            proc.stdin
                .write_all(&packet)
                .await
                .map_err(|e| format!("writing the request failed: {e}"))?;
            proc.stdin
                .flush()
                .await
                .map_err(|e| format!("writing the request failed: {e}"))?;
            let init_reply = read_string(&mut proc.stdout, MAX_REPLY).await?;
            let data = read_string(&mut proc.stdout, MAX_REPLY).await?;
            Ok::<_, String>((init_reply, data))
        };
        match tokio::time::timeout(self.settings.reply_timeout, exchange).await {
            Ok(Ok((init_reply, data))) => {
                proc.last_used = Instant::now();
                lock(&group.idle).push(proc);
                if init_reply.is_empty() {
                    Ok(data)
                } else {
                    Err(PoolError::InitRejected(
                        String::from_utf8_lossy(&init_reply).into_owned(),
                    ))
                }
            }
            Ok(Err(why)) => {
                let exit = self
                    .discard(&group.spec, proc, "failed during a request")
                    .await;
                Err(PoolError::Died(match exit {
                    Some(e) => format!("{why}; the process {e}"),
                    None => why,
                }))
            }
            Err(_) => {
                self.discard(&group.spec, proc, "did not reply in time")
                    .await;
                Err(PoolError::Timeout(self.settings.reply_timeout))
            }
        }
    }

    /// An idle process that is still alive and in step; dead or out-of-step ones are dropped.
    async fn take_idle(&self, group: &Group) -> Option<Proc> {
        loop {
            let mut proc = lock(&group.idle).pop()?;
            let exited = matches!(proc.child.try_wait(), Ok(Some(_)));
            // Polling once without waiting: pending means nothing unexpected is buffered.
            let stray = tokio::time::timeout(Duration::ZERO, proc.stdout.fill_buf()).await;
            let healthy = !exited && stray.is_err();
            if healthy {
                return Some(proc);
            }
            let why = if exited {
                "had exited while idle"
            } else {
                "wrote to stdout while idle"
            };
            self.discard(&group.spec, proc, why).await;
        }
    }

    fn spawn(&self, spec: &DriverSpec) -> Result<Proc, PoolError> {
        let mut cmd = Command::new(&spec.program);
        cmd.args(&spec.args)
            .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .current_dir(&spec.cwd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|error| PoolError::Spawn {
            program: spec.program.clone(),
            error,
        })?;
        let pid = child.id().unwrap_or(0);
        let (Some(stdin), Some(stdout), stderr) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(PoolError::Spawn {
                program: spec.program.clone(),
                error: std::io::Error::other("the process has no pipes"),
            });
        };
        if let Some(stderr) = stderr {
            let log = self.log.clone();
            let cmdline = spec.display();
            tokio::spawn(async move {
                let mut r = BufReader::new(stderr);
                let mut line = Vec::new();
                loop {
                    line.clear();
                    match (&mut r).take(64 * 1024).read_until(b'\n', &mut line).await {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {
                            let text = String::from_utf8_lossy(&line);
                            log.line(
                                "ERROR",
                                "PersistentScript",
                                "PersistentScriptIo",
                                &format!("From {{{cmdline}}}: {}", text.trim_end()),
                            );
                        }
                    }
                }
            });
        }
        self.log.line(
            "INFO",
            "PersistentScript",
            "PersistentScriptIo",
            &format!("Process {{{}}}: started, pid {pid}", spec.display()),
        );
        Ok(Proc {
            child,
            stdin,
            stdout: BufReader::with_capacity(64 * 1024, stdout),
            pid,
            last_used: Instant::now(),
        })
    }

    /// Kills a process that cannot be trusted any more and logs how it ended.
    async fn discard(&self, spec: &DriverSpec, mut proc: Proc, why: &str) -> Option<String> {
        let status = match proc.child.try_wait() {
            Ok(Some(s)) => Some(s),
            _ => {
                let _ = proc.child.start_kill();
                tokio::time::timeout(Duration::from_secs(5), proc.child.wait())
                    .await
                    .ok()
                    .and_then(Result::ok)
            }
        };
        let exit = status.map(describe_exit);
        self.log.line(
            "WARN",
            "PersistentScript",
            "PersistentScriptIo",
            &format!(
                "Process {{{}}} (pid {}) {why}: {}; discarded",
                spec.display(),
                proc.pid,
                exit.as_deref().unwrap_or("exit status unknown")
            ),
        );
        exit
    }

    /// Retires processes idle for longer than the idle timeout and drops dead ones.
    pub async fn reap(&self) {
        let groups: Vec<Arc<Group>> = lock(&self.groups).values().cloned().collect();
        for group in groups {
            let (mut dead, mut old) = (Vec::new(), Vec::new());
            {
                let mut idle = lock(&group.idle);
                let mut keep = Vec::new();
                for mut p in idle.drain(..) {
                    if matches!(p.child.try_wait(), Ok(Some(_))) {
                        dead.push(p);
                    } else if p.last_used.elapsed() >= self.settings.idle_timeout {
                        old.push(p);
                    } else {
                        keep.push(p);
                    }
                }
                *idle = keep;
            }
            for proc in old {
                self.retire(&group.spec, proc);
            }
            for proc in dead {
                self.discard(&group.spec, proc, "had exited while idle")
                    .await;
            }
        }
    }

    /// Closes a process's stdin (the driver exits at EOF) and waits for it in the background,
    /// killing it if it lingers.
    fn retire(&self, spec: &DriverSpec, proc: Proc) {
        let Proc {
            mut child,
            stdin,
            pid,
            ..
        } = proc;
        drop(stdin);
        let log = self.log.clone();
        let cmdline = spec.display();
        tokio::spawn(async move {
            let status = match tokio::time::timeout(Duration::from_secs(10), child.wait()).await {
                Ok(Ok(s)) => describe_exit(s),
                _ => {
                    let _ = child.start_kill();
                    let _ = child.wait().await;
                    "did not exit after stdin was closed; killed".into()
                }
            };
            log.line(
                "INFO",
                "PersistentScript",
                "PersistentScriptIo",
                &format!("Process {{{cmdline}}} (pid {pid}) retired after idling: {status}"),
            );
        });
    }

    /// Runs [`Pool::reap`] periodically for the life of the runtime.
    pub fn start_reaper(self: &Arc<Self>) {
        let pool = Arc::downgrade(self);
        let every = (self.settings.idle_timeout / 4)
            .clamp(Duration::from_millis(100), Duration::from_secs(5));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match pool.upgrade() {
                    Some(p) => p.reap().await,
                    None => break,
                }
            }
        });
    }

    /// Process ids of the idle processes (for diagnostics and tests).
    pub fn idle_pids(&self) -> Vec<u32> {
        let groups: Vec<Arc<Group>> = lock(&self.groups).values().cloned().collect();
        groups
            .iter()
            .flat_map(|g| lock(&g.idle).iter().map(|p| p.pid).collect::<Vec<_>>())
            .collect()
    }

    /// Closes every idle process's stdin and waits up to `grace` for them to exit.
    pub async fn shutdown(&self, grace: Duration) {
        let groups: Vec<Arc<Group>> = lock(&self.groups).drain().map(|(_, g)| g).collect();
        let mut children = Vec::new();
        for g in groups {
            g.permits.close();
            for p in lock(&g.idle).drain(..) {
                drop(p.stdin);
                children.push(p.child);
            }
        }
        let _ = tokio::time::timeout(grace, async {
            for c in &mut children {
                let _ = c.wait().await;
            }
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_length_prefixed_strings() {
        let mut input: &[u8] = b"0\n\n5\nhello3\nabc";
        let mut r = BufReader::new(&mut input);
        assert_eq!(read_string(&mut r, 100).await.unwrap(), b"");
        assert_eq!(read_string(&mut r, 100).await.unwrap(), b"hello");
        assert_eq!(read_string(&mut r, 100).await.unwrap(), b"abc");
        assert!(
            read_string(&mut r, 100)
                .await
                .unwrap_err()
                .contains("closed")
        );
        for (bad, want) in [
            (&b"x\n"[..], "reply length"),
            (b"10\nabc", "ended early"),
            (b"1000\n", "over the limit"),
            (
                b"1234567890123456789012345678901234567890\n",
                "reply length",
            ),
        ] {
            let mut input = bad;
            let mut r = BufReader::new(&mut input);
            let e = read_string(&mut r, 100).await.unwrap_err();
            assert!(e.contains(want), "{e}");
        }
    }

    fn sh(script: &str) -> DriverSpec {
        DriverSpec {
            program: PathBuf::from("/bin/sh"),
            args: vec!["-c".into(), script.into()],
            env: vec![],
            cwd: std::env::temp_dir(),
        }
    }

    fn pool(reply_timeout: Duration) -> Arc<Pool> {
        let log = Arc::new(SplunkdLog::open(
            &std::env::temp_dir().join(format!("splunkd-dev-pool-{}.log", std::process::id())),
        ));
        Pool::new(
            PoolSettings {
                max_per_driver: 2,
                idle_timeout: Duration::from_millis(200),
                reply_timeout,
            },
            log,
        )
    }

    fn init() -> Init {
        Init {
            command: vec!["x".into()],
            command_arg: None,
        }
    }

    #[tokio::test]
    async fn at_most_max_processes_serve_one_request_each() {
        if !std::path::Path::new("/bin/sh").exists() {
            return;
        }
        let p = pool(Duration::from_secs(10));
        let len = frame::encode_request(&init(), b"{}").len();
        let slow = sh(&format!(
            "while [ \"$(head -c {len} | wc -c)\" -eq {len} ]; do sleep 0.3; printf '0\\n2\\n{{}}'; done"
        ));
        let started = Instant::now();
        let calls = (0..4).map(|_| {
            let (p, slow) = (p.clone(), slow.clone());
            tokio::spawn(async move { p.call(&slow, &init(), b"{}").await })
        });
        for c in calls.collect::<Vec<_>>() {
            assert_eq!(c.await.unwrap().unwrap(), b"{}");
        }
        assert!(
            started.elapsed() >= Duration::from_millis(550),
            "4 requests on 2 processes take two rounds"
        );
        let mut pids = p.idle_pids();
        pids.sort();
        pids.dedup();
        assert_eq!(pids.len(), 2, "{pids:?}");
        p.shutdown(Duration::from_secs(2)).await;
    }

    #[tokio::test]
    async fn another_process_starts_when_all_are_busy() {
        if !std::path::Path::new("/bin/sh").exists() {
            return;
        }
        let p = pool(Duration::from_secs(10));
        let len = frame::encode_request(&init(), b"slow").len();
        // Requests of equal length; a "slow" one takes 1.5 s, a "fast" one none.
        let driver = sh(&format!(
            "while req=$(head -c {len}) && [ -n \"$req\" ]; do case \"$req\" in *slow*) sleep 1.5;; esac; printf '0\\n2\\n{{}}'; done"
        ));
        assert_eq!(p.call(&driver, &init(), b"fast").await.unwrap(), b"{}");
        assert_eq!(p.call(&driver, &init(), b"fast").await.unwrap(), b"{}");
        assert_eq!(
            p.idle_pids().len(),
            1,
            "sequential requests share one process"
        );

        let started = Instant::now();
        let slow: Vec<_> = (0..2)
            .map(|_| {
                let (p, d) = (p.clone(), driver.clone());
                tokio::spawn(async move { p.call(&d, &init(), b"slow").await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(p.idle_pids().is_empty(), "both processes are busy");
        // The cap of 2 is reached: a third request waits for one of them.
        let third = p.call(&driver, &init(), b"fast").await.unwrap();
        assert_eq!(third, b"{}");
        assert!(
            started.elapsed() >= Duration::from_millis(1400),
            "the third request waited for a busy process"
        );
        for s in slow {
            assert_eq!(s.await.unwrap().unwrap(), b"{}");
        }
        let mut pids = p.idle_pids();
        pids.sort();
        pids.dedup();
        assert_eq!(pids.len(), 2, "no more than the cap: {pids:?}");

        // Under a higher cap the same load starts a third process and does not wait.
        let roomy = Pool::new(
            PoolSettings {
                max_per_driver: 3,
                ..p.settings
            },
            p.log.clone(),
        );
        let slow: Vec<_> = (0..2)
            .map(|_| {
                let (p, d) = (roomy.clone(), driver.clone());
                tokio::spawn(async move { p.call(&d, &init(), b"slow").await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let quick = Instant::now();
        assert_eq!(roomy.call(&driver, &init(), b"fast").await.unwrap(), b"{}");
        assert!(
            quick.elapsed() < Duration::from_millis(1000),
            "the third request was answered by a new process in {:?}",
            quick.elapsed()
        );
        for s in slow {
            assert_eq!(s.await.unwrap().unwrap(), b"{}");
        }
        assert_eq!(roomy.idle_pids().len(), 3);
        p.shutdown(Duration::from_secs(2)).await;
        roomy.shutdown(Duration::from_secs(2)).await;
    }

    #[tokio::test]
    async fn crashes_timeouts_and_retirement() {
        if !std::path::Path::new("/bin/sh").exists() {
            return;
        }
        let p = pool(Duration::from_millis(500));
        let len = frame::encode_request(&init(), b"{}").len();
        // Replies to one request, then exits: the second call needs a new process.
        let once = sh(&format!(
            "head -c {len} >/dev/null; printf '0\\n2\\n{{}}'; exit 3"
        ));
        assert_eq!(p.call(&once, &init(), b"{}").await.unwrap(), b"{}");
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(p.call(&once, &init(), b"{}").await.unwrap(), b"{}");

        let dies = sh("exit 7");
        let e = p.call(&dies, &init(), b"{}").await.unwrap_err();
        assert_eq!(e.status(), 502, "{e}");

        let hangs = sh("sleep 5");
        let e = p.call(&hangs, &init(), b"{}").await.unwrap_err();
        assert_eq!(e.status(), 504, "{e}");

        let refuses = sh("printf '4\\nnope0\\n'; cat >/dev/null");
        let e = p.call(&refuses, &init(), b"{}").await.unwrap_err();
        assert!(
            matches!(e, PoolError::InitRejected(ref t) if t == "nope"),
            "{e}"
        );

        let missing = DriverSpec {
            program: PathBuf::from("/nonexistent/driver"),
            ..sh("")
        };
        assert_eq!(
            p.call(&missing, &init(), b"{}").await.unwrap_err().status(),
            500
        );

        let echo = sh("while true; do printf '0\\n2\\nok'; sleep 0.05; done");
        // Writes more than one reply: the idle check sees the stray bytes and drops it.
        assert_eq!(p.call(&echo, &init(), b"{}").await.unwrap(), b"ok");
        tokio::time::sleep(Duration::from_millis(300)).await;
        p.reap().await;
        assert!(p.idle_pids().is_empty(), "idle processes retired");
        p.shutdown(Duration::from_secs(1)).await;
    }
}
