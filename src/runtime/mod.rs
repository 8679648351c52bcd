//! The container runtimes behind one seam: the [`Runtime`] trait names the verbs the endpoints
//! need (preflight, find, list, create, start, stop, remove, logs, URLs, health), in
//! runtime-neutral types ([`Workload`], [`Found`], [`state::State`]) and errors by meaning
//! ([`error::RuntimeError`]). The endpoints are written once against it; [`connect`] picks the
//! runtime of a saved connection, and the runtimes this build leaves out are gated here, at
//! their module, not in the endpoints.
//!
//! Pure plans: [`plan`] (names, labels, environment, ports, URLs), [`state`] (live rows),
//! [`logs`] (the log splitter). At the edge: [`docker`], and [`fake`], the in-memory runtime
//! the tests drive the same endpoint logic with. [`probe`] (the health check of a container's
//! API) is shared.
//!
//! Adding a runtime: its own module here implementing [`Runtime`] (and a staged test
//! returning a [`diagnosis::Diagnosis`]), one variant and one arm in each of the five matches
//! of [`connect`], and one subject in `tests/runtime_conformance.rs`. No endpoint changes.

pub mod connect;
pub mod diagnosis;
#[cfg(feature = "runtimes")]
pub mod docker;
pub mod error;
pub mod fake;
#[cfg(feature = "runtimes")]
pub mod kubernetes;
pub mod label;
pub mod logs;
pub mod plan;
pub mod probe;
pub mod secrets;
pub mod shared;
pub mod state;

use crate::names::ContainerType;
use crate::protocol::request::Secret;
use error::{Failure, RuntimeError};
use logs::Tail;
use plan::{Env, Port, Role, Urls};
use probe::Probe;
use state::Observed;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// What a start asks a runtime to run: the plan of [`plan`] in neutral terms. What only one
/// runtime needs (Docker's network and logging driver, say) comes from that runtime's own
/// settings. `Debug` never shows a secret (the environment shows names only).
#[derive(Debug, Clone)]
pub struct Workload {
    /// The runtime name: fixed per model, so the runtime's name uniqueness makes concurrent
    /// starts of one model meet on one workload.
    pub name: String,
    /// Full image reference (`repo` + `image` of the catalog entry).
    pub image: String,
    /// The environment the image reads (tokens included).
    pub env: Env,
    /// Labels and annotations by which the workload is found again ([`plan::labels`]).
    pub labels: BTreeMap<String, String>,
    /// The ports to publish: PROD the API, DEV all five.
    pub ports: Vec<Port>,
    /// Request every GPU.
    pub gpu: bool,
    /// The start's deployment settings ([`plan::TUNING_KEYS`]) for a runtime that has them.
    pub tuning: BTreeMap<String, String>,
}

/// A workload as a runtime reports it when asked by name or id: identity and state, its
/// labels, the ports its URLs are built from, and when it was made.
#[derive(Debug, Clone)]
pub struct Found {
    /// State and identity.
    pub observed: Observed,
    /// Its labels (and annotations, where the runtime keeps them apart).
    pub labels: HashMap<String, String>,
    /// Container port to the port it is reached on from outside (Docker: the published host
    /// port).
    pub ports: Vec<(u16, u16)>,
    /// When the runtime made it (to tell a start under way from a leftover).
    pub created_at: Option<jiff::Timestamp>,
    /// The URLs, when the runtime resolves them itself (Kubernetes reads its Service and
    /// Routes), or why they are not known yet; `None`: built from `ports`.
    pub resolved: Option<Result<Urls, String>>,
}

impl Found {
    /// The outside port of each published role.
    pub fn published(&self, ports: &[Port]) -> Vec<(Role, u16)> {
        ports
            .iter()
            .filter_map(|p| {
                self.ports
                    .iter()
                    .find(|(c, _)| *c == p.container)
                    .map(|(_, h)| (p.role, *h))
            })
            .collect()
    }

    /// Whether it has existed longer than `age`.
    pub fn older_than(&self, age: Duration) -> bool {
        self.created_at.is_some_and(|t| {
            jiff::Timestamp::now().duration_since(t)
                > jiff::SignedDuration::try_from(age).unwrap_or_default()
        })
    }
}

/// The verbs the endpoints use. Errors carry their meaning ([`Failure`]); a verb that reads
/// something that may be absent answers `None` or `false` rather than an error.
///
/// Used generically on the driver's single-threaded runtime, so the futures need not be
/// `Send`.
#[allow(async_fn_in_trait)]
pub trait Runtime {
    /// Which runtime this is (recorded as the record's `cluster`).
    fn kind(&self) -> ContainerType;

    /// Warnings every reply through this connection carries (TLS checks skipped by setting).
    fn warnings(&self) -> Vec<String>;

    /// Checks what can fail before anything is made (GPU support, network, image: pulled when
    /// allowed, within `until`) and makes what every workload shares (volumes). Returns notes
    /// for the reply ("pulled the image").
    async fn preflight(&self, w: &Workload, until: Instant) -> Result<Vec<String>, RuntimeError>;

    /// The workload with this name or full id; `None` when there is none. A runtime that
    /// resolves prefixes may answer another id: [`find_recorded`] checks.
    async fn find(&self, name_or_id: &str) -> Result<Option<Found>, RuntimeError>;

    /// Workloads labelled `key=value` (any value when `value` is empty), running or not,
    /// with exit codes known for those that ended.
    async fn list(&self, key: &str, value: &str) -> Result<Vec<Observed>, RuntimeError>;

    /// Makes the workload without starting it; its id. A name already taken is
    /// [`Failure::AlreadyExists`].
    async fn create(&self, w: &Workload) -> Result<String, RuntimeError>;

    /// Starts a made workload; [`Failure::NotFound`] when it is gone.
    async fn start(&self, id: &str) -> Result<(), RuntimeError>;

    /// Stops (waiting `grace` before killing) and removes; `false` when it did not exist.
    async fn stop_and_remove(&self, id: &str, grace: Duration) -> Result<bool, RuntimeError>;

    /// Removes at once; `false` when it did not exist.
    async fn remove(&self, id: &str) -> Result<bool, RuntimeError>;

    /// The last `tail` lines (since a Unix time when given), newest last, bounded as
    /// [`logs::Splitter`] bounds them; `previous`: of the run before a restart, where the
    /// runtime keeps runs apart (Kubernetes; Docker's log spans every run). A runtime that
    /// cannot read this workload's output back answers [`Failure::Unsupported`].
    async fn logs(
        &self,
        id: &str,
        tail: u32,
        since: Option<i64>,
        previous: bool,
    ) -> Result<Tail, RuntimeError>;

    /// The URLs of a running workload made with `ports`; the error says what is missing.
    fn urls(&self, found: &Found, ports: &[Port]) -> Result<Urls, String>;

    /// Health probes of the APIs at `urls` with the token, concurrently, each bounded by
    /// `timeout`; one result per URL, in order.
    async fn probe(&self, urls: &[&str], token: &Secret, timeout: Duration) -> Vec<Probe>;
}

/// The workload a deployment record names by `id`, for reading, stopping or removing it:
/// `None` when the runtime has none by that id; a conflict, touching nothing, when what the
/// runtime resolves is not exactly that workload or not a DSDL one
/// ([`state::recorded_problem`]).
pub async fn find_recorded<R: Runtime>(
    rt: &R,
    model: &str,
    recorded: &str,
) -> Result<Option<Found>, RuntimeError> {
    let Some(found) = rt.find(recorded).await? else {
        return Ok(None);
    };
    match state::recorded_problem(recorded, &found.observed.id, &found.labels) {
        None => Ok(Some(found)),
        Some(why) => Err(RuntimeError::new(
            Failure::Conflict,
            format!(
                "The record of model {model} {why}: id {:?}. Nothing was read, stopped or \
                 removed; correct or remove the record [{model}] in dsdl_container.conf.",
                crate::names::excerpt(recorded, 80)
            ),
        )),
    }
}
