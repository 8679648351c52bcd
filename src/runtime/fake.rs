//! An in-memory [`Runtime`] for tests: the endpoint logic runs on it unchanged, and the
//! conformance suite holds it to the same behaviours as Docker. It is as awkward as an engine
//! where that matters: every call yields first (so concurrent requests interleave), names are
//! unique, `find` resolves names and id prefixes, ids are 64 hex digits, and its API answers
//! a probe only with the workload's own `api_token`.
//!
//! A workload behaves as the test container (`dsdl-test-container`) would with the same
//! environment ([`Behaviour::from_env`]): `DSDL_TEST_PORT` other than 5000 never answers,
//! `DSDL_TEST_EXIT_AFTER` / `DSDL_TEST_EXIT_CODE` exit after a while, `DSDL_TEST_LOG_LINES`
//! writes numbered lines at start. So one suite drives both with the same workloads.
//!
//! Always compiled (no I/O, no dependency), so integration tests can use it too.

use super::error::{Failure, RuntimeError};
use super::label;
use super::logs::{Splitter, Stream, Tail};
use super::plan::{Env, Port, Urls};
use super::probe::Probe;
use super::state::{Observed, State};
use super::{Found, Runtime, Workload};
use crate::names::ContainerType;
use crate::protocol::request::Secret;
use sha2::{Digest, Sha256};
use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

/// The host in the fake's URLs.
pub const HOST: &str = "fake.invalid";

/// How a workload behaves once started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Behaviour {
    /// Failed probes before its API answers; `None`: it never does.
    pub ready_after: Option<u32>,
    /// It exits this long after starting, with this code.
    pub exits: Option<(Duration, i64)>,
    /// Numbered lines it writes when it starts (odd ones on stdout, even ones on stderr).
    pub log_lines: u64,
}

impl Default for Behaviour {
    fn default() -> Behaviour {
        Behaviour {
            ready_after: Some(0),
            exits: None,
            log_lines: 0,
        }
    }
}

impl Behaviour {
    /// What the test container does with this environment.
    pub fn from_env(env: &Env) -> Behaviour {
        let num = |k: &str| env.get(k).and_then(|v| v.trim().parse::<f64>().ok());
        let port = num("DSDL_TEST_PORT").unwrap_or(5000.0);
        Behaviour {
            ready_after: (port == 5000.0).then_some(0),
            exits: num("DSDL_TEST_EXIT_AFTER")
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(|s| {
                    let code = num("DSDL_TEST_EXIT_CODE").unwrap_or(3.0) as i64;
                    (Duration::from_secs_f64(s), code)
                }),
            log_lines: num("DSDL_TEST_LOG_LINES").unwrap_or(0.0) as u64,
        }
    }
}

#[derive(Debug, Clone)]
struct Slot {
    found: Found,
    ports: Vec<Port>,
    logs: Vec<(jiff::Timestamp, Stream, String)>,
    behaviour: Behaviour,
    token: String,
    exits_at: Option<(Instant, i64)>,
    probes: u32,
}

#[derive(Debug, Default)]
struct Inner {
    slots: Vec<Slot>,
    created: u64,
    next_port: u16,
    missing_images: BTreeSet<String>,
    calls: Vec<String>,
}

/// The in-memory runtime.
#[derive(Debug, Default)]
pub struct Fake {
    inner: RefCell<Inner>,
}

impl Fake {
    /// An empty runtime that has every image.
    pub fn new() -> Fake {
        Fake::default()
    }

    /// Makes `image` missing: a preflight for it is [`Failure::NotFound`].
    pub fn without_image(&self, image: &str) {
        self.inner
            .borrow_mut()
            .missing_images
            .insert(image.to_string());
    }

    /// Puts a workload in place as if someone made it earlier (a leftover, a foreign one, one
    /// of the previous release); its id.
    pub fn insert(
        &self,
        name: &str,
        labels: HashMap<String, String>,
        state: State,
        age: Duration,
    ) -> String {
        let mut inner = self.inner.borrow_mut();
        let id = inner.new_id();
        let created_at = jiff::Timestamp::now()
            .checked_sub(jiff::SignedDuration::try_from(age).unwrap_or_default())
            .ok();
        let found = Found {
            observed: observed(&id, name, &labels, state),
            labels,
            ports: Vec::new(),
            created_at,
            resolved: None,
        };
        inner.slots.push(Slot {
            found,
            ports: Vec::new(),
            logs: Vec::new(),
            behaviour: Behaviour::default(),
            token: String::new(),
            exits_at: None,
            probes: 0,
        });
        id
    }

    /// Sets a workload's state (and exit code), as a crash or an outside stop would.
    pub fn set_state(&self, id: &str, state: State, exit_code: Option<i64>) {
        if let Some(s) = self.inner.borrow_mut().slot_mut(id) {
            s.found.observed.state = state;
            s.found.observed.exit_code = exit_code;
        }
    }

    /// Appends a log line written at `at`.
    pub fn log(&self, id: &str, at: jiff::Timestamp, stream: Stream, line: &str) {
        if let Some(s) = self.inner.borrow_mut().slot_mut(id) {
            s.logs.push((at, stream, line.to_string()));
        }
    }

    /// Every workload, as `list` of all would report it.
    pub fn workloads(&self) -> Vec<Observed> {
        let inner = self.inner.borrow();
        inner
            .slots
            .iter()
            .map(|s| s.found.observed.clone())
            .collect()
    }

    /// How many times each verb was called, as `verb` strings in call order.
    pub fn calls(&self) -> Vec<String> {
        self.inner.borrow().calls.clone()
    }

    /// Records the call, lets other tasks run first (as a real runtime's round trip does),
    /// then lets time pass: workloads due to exit have exited.
    async fn enter(&self, verb: &str) {
        self.inner.borrow_mut().calls.push(verb.to_string());
        tokio::task::yield_now().await;
        let now = Instant::now();
        for slot in self.inner.borrow_mut().slots.iter_mut() {
            if let Some((at, code)) = slot.exits_at
                && now >= at
                && slot.found.observed.state == State::Running
            {
                slot.exits_at = None;
                slot.found.observed.state = State::Exited;
                slot.found.observed.exit_code = Some(code);
                let line = format!("dsdl-test-container: exiting with code {code}");
                slot.logs
                    .push((jiff::Timestamp::now(), Stream::Stderr, line));
            }
        }
    }
}

impl Inner {
    fn new_id(&mut self) -> String {
        self.created += 1;
        let digest = Sha256::digest(format!("fake-{}", self.created));
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Docker's resolution: an exact id, an exact name, or a unique id prefix.
    fn resolve(&self, name_or_id: &str) -> Option<usize> {
        if name_or_id.is_empty() {
            return None;
        }
        let exact = self
            .slots
            .iter()
            .position(|s| s.found.observed.id == name_or_id || s.found.observed.name == name_or_id);
        exact.or_else(|| {
            let matching: Vec<usize> = (0..self.slots.len())
                .filter(|&i| self.slots[i].found.observed.id.starts_with(name_or_id))
                .collect();
            (matching.len() == 1).then(|| matching[0])
        })
    }

    fn slot_mut(&mut self, name_or_id: &str) -> Option<&mut Slot> {
        let i = self.resolve(name_or_id)?;
        self.slots.get_mut(i)
    }
}

fn observed(id: &str, name: &str, labels: &HashMap<String, String>, state: State) -> Observed {
    Observed {
        id: id.to_string(),
        name: name.to_string(),
        state,
        exit_code: None,
        oom_killed: false,
        model: labels.get(label::MODEL).cloned(),
        manager_id: labels.get(label::MANAGER_ID).cloned(),
        failure: None,
    }
}

fn gone(id: &str) -> RuntimeError {
    RuntimeError::new(Failure::NotFound, format!("No such workload: {id}"))
}

impl Runtime for Fake {
    fn kind(&self) -> ContainerType {
        ContainerType::Docker
    }

    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }

    async fn preflight(&self, w: &Workload, _until: Instant) -> Result<Vec<String>, RuntimeError> {
        self.enter("preflight").await;
        if self.inner.borrow().missing_images.contains(&w.image) {
            return Err(RuntimeError::new(
                Failure::NotFound,
                format!("The image {} is not on the fake runtime.", w.image),
            ));
        }
        Ok(Vec::new())
    }

    async fn find(&self, name_or_id: &str) -> Result<Option<Found>, RuntimeError> {
        self.enter("find").await;
        let inner = self.inner.borrow();
        Ok(inner
            .resolve(name_or_id)
            .map(|i| inner.slots[i].found.clone()))
    }

    async fn list(&self, key: &str, value: &str) -> Result<Vec<Observed>, RuntimeError> {
        self.enter("list").await;
        let inner = self.inner.borrow();
        Ok(inner
            .slots
            .iter()
            .filter(|s| match s.found.labels.get(key) {
                Some(v) => value.is_empty() || v == value,
                None => false,
            })
            .map(|s| s.found.observed.clone())
            .collect())
    }

    async fn create(&self, w: &Workload) -> Result<String, RuntimeError> {
        self.enter("create").await;
        let mut inner = self.inner.borrow_mut();
        if inner.slots.iter().any(|s| s.found.observed.name == w.name) {
            return Err(RuntimeError::new(
                Failure::AlreadyExists,
                format!("The name {} is already in use.", w.name),
            ));
        }
        let id = inner.new_id();
        let labels: HashMap<String, String> = w.labels.clone().into_iter().collect();
        inner.slots.push(Slot {
            found: Found {
                observed: observed(&id, &w.name, &labels, State::Created),
                labels,
                ports: Vec::new(),
                created_at: Some(jiff::Timestamp::now()),
                resolved: None,
            },
            ports: w.ports.clone(),
            logs: Vec::new(),
            behaviour: Behaviour::from_env(&w.env),
            token: w.env.get("api_token").unwrap_or_default().to_string(),
            exits_at: None,
            probes: 0,
        });
        Ok(id)
    }

    async fn start(&self, id: &str) -> Result<(), RuntimeError> {
        self.enter("start").await;
        let mut inner = self.inner.borrow_mut();
        let Some(i) = inner.resolve(id) else {
            return Err(gone(id));
        };
        let mut published = Vec::new();
        for p in inner.slots[i].ports.clone() {
            let host = p.host.unwrap_or_else(|| {
                inner.next_port += 1;
                40000 + inner.next_port
            });
            published.push((p.container, host));
        }
        let slot = &mut inner.slots[i];
        slot.found.ports = published;
        let now = jiff::Timestamp::now();
        // The test container's lines, word for word.
        let total = slot.behaviour.log_lines;
        for i in 1..=total {
            let stream = if i % 2 == 1 {
                Stream::Stdout
            } else {
                Stream::Stderr
            };
            let line = format!("line {i:06} of {total} {} línea ✓ 日本", stream.as_str());
            slot.logs.push((now, stream, line));
        }
        slot.found.observed.state = State::Running;
        slot.exits_at = slot
            .behaviour
            .exits
            .map(|(after, code)| (Instant::now() + after, code));
        Ok(())
    }

    async fn stop_and_remove(&self, id: &str, _grace: Duration) -> Result<bool, RuntimeError> {
        self.enter("stop").await;
        self.remove(id).await
    }

    async fn remove(&self, id: &str) -> Result<bool, RuntimeError> {
        self.enter("remove").await;
        let mut inner = self.inner.borrow_mut();
        Ok(match inner.resolve(id) {
            Some(i) => {
                inner.slots.remove(i);
                true
            }
            None => false,
        })
    }

    async fn logs(
        &self,
        id: &str,
        tail: u32,
        since: Option<i64>,
        _previous: bool,
    ) -> Result<Tail, RuntimeError> {
        self.enter("logs").await;
        let inner = self.inner.borrow();
        let i = inner.resolve(id).ok_or_else(|| gone(id))?;
        let mut splitter = Splitter::new(tail as usize);
        for (at, stream, line) in &inner.slots[i].logs {
            if since.is_some_and(|s| at.as_second() < s) {
                continue;
            }
            let frame = format!("{} {line}\n", at.strftime("%Y-%m-%dT%H:%M:%S%.9fZ"));
            splitter.push(*stream, frame.as_bytes());
        }
        Ok(splitter.finish())
    }

    fn urls(&self, found: &Found, ports: &[Port]) -> Result<Urls, String> {
        super::plan::urls(HOST, HOST, false, &found.published(ports))
    }

    async fn probe(&self, urls: &[&str], token: &Secret, _timeout: Duration) -> Vec<Probe> {
        self.enter("probe").await;
        let mut inner = self.inner.borrow_mut();
        urls.iter()
            .map(|url| {
                let port = url.rsplit(':').next().and_then(|p| p.parse::<u16>().ok());
                let slot = inner.slots.iter_mut().find(|s| {
                    s.found.observed.state == State::Running
                        && s.found.ports.iter().any(|(_, h)| Some(*h) == port)
                });
                let Some(slot) = slot else {
                    return Probe::fail(format!("nothing answers at {url}"));
                };
                slot.probes += 1;
                // The test container logs each request on stdout.
                let line = "127.0.0.1:40000 \"GET / HTTP/1.1\" 200 http".to_string();
                slot.logs
                    .push((jiff::Timestamp::now(), Stream::Stdout, line));
                match slot.behaviour.ready_after {
                    // The test container's check: the header contains the token.
                    Some(n) if slot.probes > n && token.expose().contains(&slot.token) => {
                        Probe::ok()
                    }
                    Some(n) if slot.probes > n => {
                        Probe::fail(format!("the API at {url} refused the token (401)"))
                    }
                    _ => Probe::fail(format!("the API at {url} refused the connection")),
                }
            })
            .collect()
    }
}
