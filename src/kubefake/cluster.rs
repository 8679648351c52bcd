//! What the fake cluster is besides its objects: how its simulated parts behave (from the
//! options: OpenShift or not, how fast pods start, how soon load balancers get an address)
//! and what they remember (when each pod and service appeared, to the nanosecond, since
//! `creationTimestamp` only holds seconds; log lines tests appended).

use super::store::Key;
use jiff::Timestamp;
use std::collections::BTreeMap;
use std::time::Duration;

/// How the simulated parts behave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Behaviour {
    /// Serve OpenShift's `route.openshift.io` too.
    pub openshift: bool,
    /// A pod's containers start (`Pending` → `Running`) this long after it appears.
    pub pod_start_after: Duration,
    /// ... and are ready this long after it appears.
    pub pod_ready_after: Duration,
    /// A crashing container restarts (and an image pull retries) this often.
    pub restart_every: Duration,
    /// A `LoadBalancer` Service gets its ingress address this long after it appears.
    pub load_balancer_after: Duration,
    /// The load balancer's hostname; `None`: the IP `127.0.0.1`.
    pub load_balancer_hostname: Option<String>,
}

impl Default for Behaviour {
    fn default() -> Behaviour {
        Behaviour {
            openshift: false,
            pod_start_after: Duration::from_millis(100),
            pod_ready_after: Duration::from_millis(300),
            restart_every: Duration::from_millis(500),
            load_balancer_after: Duration::from_millis(100),
            load_balancer_hostname: None,
        }
    }
}

/// (namespace, pod, container): whose log.
pub type LogKey = (String, String, String);

/// The simulated parts' settings and memory.
#[derive(Debug, Default)]
pub struct Cluster {
    /// How they behave.
    pub behaviour: Behaviour,
    /// When each pod and service appeared (keyed as in the store).
    pub born: BTreeMap<Key, Timestamp>,
    /// Lines tests appended to a container's log, with when.
    pub appended: BTreeMap<LogKey, Vec<(Timestamp, String)>>,
}

impl Cluster {
    /// A cluster that behaves as `behaviour` says.
    pub fn new(behaviour: Behaviour) -> Cluster {
        Cluster {
            behaviour,
            ..Cluster::default()
        }
    }

    /// Forgets an object that is gone (and, for a pod, its appended log lines).
    pub fn forget(&mut self, key: &Key) {
        self.born.remove(key);
        if key.0 == "/pods" {
            self.appended
                .retain(|(ns, pod, _), _| !(*ns == key.1 && *pod == key.2));
        }
    }
}

/// Nanoseconds from `from` to `to` (negative when `to` is earlier).
pub fn elapsed(from: Timestamp, to: Timestamp) -> i128 {
    to.as_nanosecond() - from.as_nanosecond()
}

/// `at` moved on by `d`.
pub fn after(at: Timestamp, d: Duration) -> Timestamp {
    let nanos = at.as_nanosecond() + i128::try_from(d.as_nanos()).unwrap_or(i128::MAX / 2);
    Timestamp::from_nanosecond(nanos).unwrap_or(at)
}

/// Whole seconds, as status fields carry times.
pub fn seconds(at: Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Nanoseconds in `d`, signed to compare with [`elapsed`].
pub fn nanos(d: Duration) -> i128 {
    i128::try_from(d.as_nanos()).unwrap_or(i128::MAX / 2)
}
