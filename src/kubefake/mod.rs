//! kube-fake: a stateful fake Kubernetes API server for the tests, since no real cluster can
//! run here. It serves HTTPS on loopback with a throwaway CA, checks bearer, Basic,
//! client-certificate and EKS credentials for real, authorises every request against a
//! configurable rule list (and answers `SelfSubjectAccessReview`s from it), keeps objects in
//! a generic store, runs what a cluster runs for workloads (Deployments become pods whose
//! status moves on with time and whose containers act out the test container's environment,
//! Services get addresses and their node ports on the host lead to the pods' model API,
//! owners take their dependents with them, pods have logs), takes server-side apply and merge patches, reports errors as `Status`
//! objects, and fails on demand. Real clients (kube, kubectl, the Python client) talk to it
//! unchanged.
//!
//! Module map: [`server`] (connections, the order of checks) → [`faults`] (injected
//! failures), [`auth`] with [`eks`] (who is calling), [`routes`] (path → route, answers) with
//! [`authz`] (rules, reviews) and [`protobuf`] (kubectl's request bodies), [`resources`] (the
//! type table behind discovery and routing, with each kind's defaults), [`store`] and
//! [`selector`] (objects, label and field selectors), [`openapi`] (just enough for kubectl), [`apply`] (server-side apply, merge
//! patches, managed fields), [`gc`] (deletion and its cascade), [`status`] (answers and
//! errors); the simulated cluster: [`cluster`] (its settings and memory), [`controller`]
//! (Deployments → pods → status, the image names that make them fail), [`behaviour`] (a
//! container's environment → what the project's test container would do with it),
//! [`services`] (cluster IPs, node ports, load balancers), [`logs`] (pod logs); the node
//! ports on the host: [`node_ports`] (a listener per node port) → [`endpoints`] (which ready
//! pod a connection goes to) → [`model_api`] (what the pod's DSDL API answers); [`pki`] (certificates, TLS),
//! [`kubeconfig`] (for kubectl and the Python client).
//!
//! Growing it: a new kind is an entry in [`resources::TYPES`] (with its defaults); behaviour
//! that needs other objects or time goes in a module of its own, called from
//! `routes::catch_up` (moved on before every request, at the request's instant, so tests are
//! deterministic without a background task) or from `routes::admit` (on every write).

pub mod apply;
pub mod auth;
pub mod authz;
pub mod behaviour;
pub mod cluster;
pub mod controller;
pub mod eks;
pub mod endpoints;
pub mod faults;
pub mod gc;
pub mod kubeconfig;
pub mod logs;
pub mod model_api;
pub mod node_ports;
pub mod openapi;
pub mod pki;
pub mod protobuf;
pub mod resources;
pub mod routes;
pub mod selector;
pub mod server;
pub mod services;
pub mod status;
pub mod store;

use authz::Rule;
use cluster::{Behaviour, Cluster};
use eks::EksAccount;
use faults::FaultKind;
use kubeconfig::KubeUser;
use serde_json::{Value, json};
use server::{Seen, State};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use store::Store;

/// A node the fake reports, with how many `nvidia.com/gpu` it can allocate.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    /// The node name.
    pub name: String,
    /// Allocatable GPUs; 0: the resource is not advertised at all.
    pub gpus: u32,
}

/// What the fake starts with. `Debug` leaves the credentials out.
#[derive(Clone)]
pub struct Options {
    /// Bearer token → user.
    pub tokens: Vec<(String, String)>,
    /// Basic user → password.
    pub passwords: Vec<(String, String)>,
    /// The EKS cluster name tokens must be bound to.
    pub eks_cluster: String,
    /// AWS identities allowed to present EKS tokens.
    pub eks_accounts: Vec<EksAccount>,
    /// Who may do what.
    pub rules: Vec<Rule>,
    /// Namespaces that exist.
    pub namespaces: Vec<String>,
    /// Nodes.
    pub nodes: Vec<NodeSpec>,
    /// `gitVersion` of `/version` (`v<major>.<minor>.<patch>`).
    pub git_version: String,
    /// The loopback port; 0: any free one.
    pub port: u16,
    /// The names the server's certificate holds (to provoke a host name mismatch).
    pub server_names: Vec<String>,
    /// Serve OpenShift's `route.openshift.io` Routes (and list them in discovery); off, the
    /// group is a 404 as on a plain cluster.
    pub openshift: bool,
    /// A pod's containers start (`Pending` → `Running`, not ready) this long after it appears.
    pub pod_start_after: Duration,
    /// ... and are ready this long after it appears.
    pub pod_ready_after: Duration,
    /// A crashing container restarts (and a failing image pull retries) this often.
    pub restart_every: Duration,
    /// A `LoadBalancer` Service gets its ingress address this long after it appears.
    pub load_balancer_after: Duration,
    /// The load balancer's hostname; `None`: the IP `127.0.0.1`.
    pub load_balancer_hostname: Option<String>,
}

impl Options {
    /// How the simulated parts behave.
    fn behaviour(&self) -> Behaviour {
        Behaviour {
            openshift: self.openshift,
            pod_start_after: self.pod_start_after,
            pod_ready_after: self.pod_ready_after,
            restart_every: self.restart_every,
            load_balancer_after: self.load_balancer_after,
            load_balancer_hostname: self.load_balancer_hostname.clone(),
        }
    }
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("eks_cluster", &self.eks_cluster)
            .field("rules", &self.rules)
            .field("namespaces", &self.namespaces)
            .field("nodes", &self.nodes)
            .field("git_version", &self.git_version)
            .field("port", &self.port)
            .field("server_names", &self.server_names)
            .field("behaviour", &self.behaviour())
            .finish_non_exhaustive()
    }
}

impl Default for Options {
    fn default() -> Options {
        let behaviour = Behaviour::default();
        Options {
            tokens: Vec::new(),
            passwords: Vec::new(),
            eks_cluster: "kube-fake".into(),
            eks_accounts: Vec::new(),
            rules: Vec::new(),
            namespaces: vec!["default".into(), "kube-system".into()],
            nodes: vec![NodeSpec {
                name: "node-1".into(),
                gpus: 0,
            }],
            // The API version the project pins (k8s-openapi's v1_33).
            git_version: "v1.33.0".into(),
            port: 0,
            server_names: vec!["127.0.0.1".into(), "localhost".into()],
            openshift: false,
            pod_start_after: behaviour.pod_start_after,
            pod_ready_after: behaviour.pod_ready_after,
            restart_every: behaviour.restart_every,
            load_balancer_after: behaviour.load_balancer_after,
            load_balancer_hostname: None,
        }
    }
}

/// The `/version` document for `git_version`.
fn version(git_version: &str) -> Value {
    let mut parts = git_version.trim_start_matches('v').split('.');
    let major = parts.next().unwrap_or("1");
    let minor = parts.next().unwrap_or("0");
    json!({
        "major": major,
        "minor": minor,
        "gitVersion": git_version,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z",
        "goVersion": "go1.24.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

/// A node object as the kubelet reports it.
fn node(spec: &NodeSpec) -> Value {
    let mut resources = json!({"cpu": "4", "memory": "16Gi", "pods": "110"});
    if spec.gpus > 0 {
        resources["nvidia.com/gpu"] = json!(spec.gpus.to_string());
    }
    json!({
        "metadata": {"name": spec.name, "labels": {
            "kubernetes.io/hostname": spec.name, "kubernetes.io/os": "linux",
        }},
        "status": {
            "capacity": resources,
            "allocatable": resources,
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
        },
    })
}

/// The store the options describe.
fn seed(options: &Options) -> Result<Store, String> {
    let mut store = Store::default();
    let types = |plural| resources::find("", "v1", plural).ok_or("a core type is missing");
    let (ns_type, node_type) = (types("namespaces")?, types("nodes")?);
    for ns in &options.namespaces {
        store
            .create(ns_type, "", json!({"metadata": {"name": ns}}))
            .map_err(|e| format!("namespace {ns}: {}", e.body["message"]))?;
    }
    for n in &options.nodes {
        store
            .create(node_type, "", node(n))
            .map_err(|e| format!("node {}: {}", n.name, e.body["message"]))?;
    }
    Ok(store)
}

/// A running fake; dropping it stops the server (and ends every connection).
pub struct KubeFake {
    /// `https://127.0.0.1:<port>`.
    pub url: String,
    /// The CA that signed the server's certificate, PEM.
    pub ca_pem: String,
    state: Arc<State>,
    pki: Arc<pki::Pki>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for KubeFake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeFake")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl KubeFake {
    /// Starts the fake on its own thread (usable from sync and async tests alike); it is
    /// listening when this returns.
    pub fn start(options: Options) -> Result<KubeFake, String> {
        let pki = Arc::new(pki::Pki::generate_for(&options.server_names)?);
        let tls = pki.server_config()?;
        let listener = std::net::TcpListener::bind(("127.0.0.1", options.port))
            .map_err(|e| format!("cannot listen on 127.0.0.1:{}: {e}", options.port))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("cannot listen: {e}"))?;
        let address = listener
            .local_addr()
            .map_err(|e| format!("cannot listen: {e}"))?
            .to_string();
        let state = Arc::new(State {
            store: Mutex::new(seed(&options)?),
            cluster: Mutex::new(Cluster::new(options.behaviour())),
            rules: Mutex::new(options.rules.clone()),
            credentials: Mutex::new(auth::Credentials {
                tokens: options.tokens.clone(),
                passwords: options.passwords.clone(),
                eks_cluster: options.eks_cluster.clone(),
                eks_accounts: options.eks_accounts.clone(),
            }),
            faults: faults::Faults::default(),
            version: version(&options.git_version),
            address: address.clone(),
            seen: Mutex::new(Vec::new()),
            clock_ahead: Default::default(),
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the fake's runtime: {e}"))?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let shared = state.clone();
        let server_pki = pki.clone();
        let thread = std::thread::Builder::new()
            .name("kube-fake".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                        return;
                    };
                    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
                    tokio::select! {
                        _ = server::serve(shared.clone(), server_pki, listener, acceptor) => {}
                        _ = node_ports::run(shared) => {}
                        _ = stopped => {}
                    }
                });
            })
            .map_err(|e| format!("cannot start the fake's thread: {e}"))?;
        Ok(KubeFake {
            url: format!("https://{address}"),
            ca_pem: pki.ca_pem.clone(),
            state,
            pki,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// A client certificate (and key), PEM, that authenticates as `user`.
    pub fn client_cert(&self, user: &str) -> Result<(String, String), String> {
        self.pki.client_cert(user)
    }

    /// Makes the next `count` requests (under `path_prefix`, when given) fail with `kind`.
    pub fn inject(&self, kind: FaultKind, count: usize, path_prefix: Option<&str>) {
        self.state.faults.inject(kind, count, path_prefix);
    }

    /// Makes the next `count` `method` requests (e.g. only `PATCH`) under `path_prefix` fail
    /// with `kind`.
    pub fn inject_on(&self, kind: FaultKind, count: usize, method: &str, path_prefix: &str) {
        self.state
            .faults
            .inject_on(kind, count, Some(method), Some(path_prefix));
    }

    /// Appends `line` to the log of pod `pod`'s first container in `ns`, as written now.
    pub fn append_log(&self, ns: &str, pod: &str, line: &str) -> Result<(), String> {
        let container = self
            .with_store(|s| {
                let pods = resources::find("", "v1", "pods")?;
                let obj = s.get(pods, ns, pod).ok()?;
                obj["spec"]["containers"][0]["name"]
                    .as_str()
                    .map(str::to_string)
            })
            .flatten()
            .ok_or_else(|| format!("no pod {ns}/{pod} with a container"))?;
        let mut cluster = self
            .state
            .cluster
            .lock()
            .map_err(|_| "the fake's state is unusable".to_string())?;
        cluster
            .appended
            .entry((ns.to_string(), pod.to_string(), container))
            .or_default()
            .push((jiff::Timestamp::now(), line.to_string()));
        Ok(())
    }

    /// Disarms every injected failure.
    pub fn clear_faults(&self) {
        self.state.faults.clear();
    }

    /// Runs the server's clock `ahead` of the host's, as a server with a skewed clock does:
    /// an EKS token minted now looks that much older to it.
    pub fn set_clock_ahead(&self, ahead: std::time::Duration) {
        self.state
            .clock_ahead
            .store(ahead.as_secs(), std::sync::atomic::Ordering::Relaxed);
    }

    /// Replaces the permission rules.
    pub fn set_rules(&self, rules: Vec<Rule>) {
        if let Ok(mut r) = self.state.rules.lock() {
            *r = rules;
        }
    }

    /// Runs `f` on the store (to seed or inspect objects).
    pub fn with_store<R>(&self, f: impl FnOnce(&mut Store) -> R) -> Option<R> {
        self.state.store.lock().ok().map(|mut s| f(&mut s))
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Seen> {
        self.state
            .seen
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    /// A kubeconfig for this server as `user`, in `namespace`.
    pub fn kubeconfig(&self, user: &KubeUser, namespace: &str) -> String {
        kubeconfig::render(&self.url, &self.ca_pem, user, namespace)
    }
}

impl Drop for KubeFake {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
