//! The Docker runtime: one [`Engine`] per request, built from the saved connection
//! ([`settings`]), every call bounded in time and every failure given its meaning here
//! (unreachable, timeout, refused; not found and name taken passed on for the caller to
//! decide). [`Engine`] implements [`Runtime`]. [`diagnose`] is the staged connection test.

pub mod diagnose;
pub mod settings;

use super::error::{Failure, RuntimeError};
use super::label;
use super::logs::{LOG_READ_LIMIT, Splitter, Stream, Tail};
use super::plan::{Port, Urls, VOLUMES, url_host};
use super::probe::{Probe, ProbeTls};
use super::state::{Observed, State};
use super::{Found, Runtime, Workload};
use crate::names::ContainerType;
use crate::protocol::request::Secret;
use bollard::Docker;
use bollard::container::LogOutput;
use bollard::errors::Error as DockerError;
use bollard::models::{
    ContainerCreateBody, DeviceRequest, HostConfig, HostConfigLogConfig, PortBinding,
    VolumeCreateRequest,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, ListContainersOptionsBuilder,
    LogsOptionsBuilder, RemoveContainerOptionsBuilder, StopContainerOptionsBuilder,
};
use futures_util::StreamExt;
use settings::{DockerSettings, EngineAddress, EngineTls};
use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, Instant};

/// Default bound for one engine call.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// bollard's own per-client timeout, which cuts every call at the same value whatever the
/// call. Each call here carries its own bound ([`Engine::call_within`]: a stop waits out its
/// grace period, a pull has its own limit), so bollard's is set above all of them and never
/// decides.
const CLIENT_CEILING: Duration = Duration::from_secs(3600);

/// Longest an image pull may take.
const PULL_LIMIT: Duration = Duration::from_secs(60);

/// How long an idle engine connection is kept: below the idle timeouts of proxies in front of
/// an engine (dockerd itself keeps idle connections open).
const POOL_IDLE: Duration = Duration::from_secs(30);

/// A bollard client sending its requests through `client`.
fn custom_transport<C>(
    client: hyper_util::client::legacy::Client<C, EngineBody>,
    addr: String,
    secs: u64,
    version: &bollard::ClientVersion,
) -> Result<Docker, DockerError>
where
    C: hyper_util::client::legacy::connect::Connect + Clone + Send + Sync + 'static,
{
    let client = std::sync::Arc::new(client);
    Docker::connect_with_custom_transport(
        move |req: bollard::BollardRequest| {
            let client = client.clone();
            async move { client.request(req).await.map_err(DockerError::from) }
        },
        Some(addr),
        secs,
        version,
    )
}

/// Connects hyper's client to the engine's unix socket, whatever the request's host.
#[derive(Clone)]
struct UnixConnector(std::sync::Arc<std::path::PathBuf>);

impl tower_service::Service<hyper::Uri> for UnixConnector {
    type Response = hyper_util::rt::TokioIo<tokio::net::UnixStream>;
    type Error = std::io::Error;
    type Future = std::pin::Pin<
        Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send + 'static>,
    >;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: hyper::Uri) -> Self::Future {
        let path = self.0.clone();
        Box::pin(async move {
            let stream = tokio::net::UnixStream::connect(path.as_path()).await?;
            Ok(hyper_util::rt::TokioIo::new(stream))
        })
    }
}

thread_local! {
    /// Engine clients kept across requests ([`Engine::shared`]).
    static CLIENTS: crate::runtime::shared::Clients<Docker> =
        const { crate::runtime::shared::Clients::new() };
}

/// What makes two settings need different clients: the URL, the TLS material and the bound.
fn client_key(settings: &DockerSettings, timeout: Duration) -> [u8; 32] {
    let bound = timeout.as_nanos().to_le_bytes();
    let (ca, cert, key, skip) = match &settings.tls {
        Some(tls) => {
            let (cert, key) = tls.client.clone().unwrap_or_default();
            (
                tls.ca.clone().unwrap_or_default(),
                cert,
                key,
                vec![u8::from(tls.skip_verify)],
            )
        }
        None => Default::default(),
    };
    crate::runtime::shared::key(&[settings.url.as_bytes(), &bound, &ca, &cert, &key, &skip])
}

/// A connected engine with its connection's settings (nothing is sent until the first call).
pub struct Engine {
    docker: Docker,
    settings: DockerSettings,
    timeout: Duration,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("url", &self.settings.url)
            .finish()
    }
}

impl Engine {
    /// Builds the client for `settings`; only a missing unix socket (unreachable) or unusable
    /// TLS material (bad settings) fails here.
    pub fn connect(settings: &DockerSettings, timeout: Duration) -> Result<Engine, RuntimeError> {
        let secs = CLIENT_CEILING.as_secs();
        let version = bollard::API_DEFAULT_VERSION;
        // Every engine is reached through a pooled hyper client (bollard's own clients keep
        // no idle connections), so a driver that reuses this engine ([`Engine::shared`])
        // reuses its connections.
        let docker = match (&settings.address, &settings.tls) {
            (EngineAddress::Unix(path), _) if !path.exists() => Err(
                DockerError::SocketNotFoundError(path.to_string_lossy().into_owned()),
            ),
            (EngineAddress::Unix(path), _) => {
                let mut builder = hyper_util::client::legacy::Client::builder(
                    hyper_util::rt::TokioExecutor::new(),
                );
                builder.pool_idle_timeout(POOL_IDLE);
                let client = builder
                    .build::<_, EngineBody>(UnixConnector(std::sync::Arc::new(path.clone())));
                custom_transport(client, "http://localhost".into(), secs, version)
            }
            (EngineAddress::Tcp { host, port }, None) => {
                let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
                http.set_connect_timeout(Some(timeout));
                http.set_nodelay(true);
                let mut builder = hyper_util::client::legacy::Client::builder(
                    hyper_util::rt::TokioExecutor::new(),
                );
                builder.pool_idle_timeout(POOL_IDLE);
                let client = builder.build::<_, EngineBody>(http);
                let addr = format!("http://{}:{port}", url_host(host));
                custom_transport(client, addr, secs, version)
            }
            (EngineAddress::Tcp { host, port }, Some(tls)) => {
                let config = engine_tls_config(tls)
                    .map_err(|e| RuntimeError::new(Failure::BadSettings, e))?;
                let client =
                    crate::tls::https_client::<EngineBody>(config, timeout, Some(POOL_IDLE));
                let addr = format!("https://{}:{port}", url_host(host));
                custom_transport(client, addr, secs, version)
            }
        }
        .map_err(|e| engine_error(e, "connect", &settings.url))?;
        Ok(Engine {
            docker,
            settings: settings.clone(),
            timeout,
        })
    }

    /// [`Engine::connect`], reusing the client (and so its pooled keep-alive connections)
    /// built for the same settings earlier on this thread. The driver answers every request
    /// on one thread, so a poll after the first opens no new engine connection; changed
    /// settings (URL, TLS material, bound) give a new client at once. Requests never share
    /// credentials through it: the engine connection carries none beyond the connection's own.
    pub fn shared(settings: &DockerSettings, timeout: Duration) -> Result<Engine, RuntimeError> {
        let key = client_key(settings, timeout);
        let docker = CLIENTS.with(|c| {
            c.get_or_build(key, || Engine::connect(settings, timeout).map(|e| e.docker))
        })?;
        Ok(Engine {
            docker,
            settings: settings.clone(),
            timeout,
        })
    }

    /// The connection's settings.
    pub fn settings(&self) -> &DockerSettings {
        &self.settings
    }

    /// The same engine with every call bounded by `limit` (a staged test gives each call
    /// what is left of its deadline).
    pub fn within(&self, limit: Duration) -> Engine {
        Engine {
            docker: self.docker.clone(),
            settings: self.settings.clone(),
            timeout: limit,
        }
    }

    /// Runs one engine call within the bound, mapping its failure.
    async fn call<T>(
        &self,
        what: &str,
        f: impl Future<Output = Result<T, DockerError>>,
    ) -> Result<T, RuntimeError> {
        self.call_within(self.timeout, what, f).await
    }

    async fn call_within<T>(
        &self,
        limit: Duration,
        what: &str,
        f: impl Future<Output = Result<T, DockerError>>,
    ) -> Result<T, RuntimeError> {
        match tokio::time::timeout(limit, f).await {
            Ok(r) => r.map_err(|e| engine_error(e, what, &self.settings.url)),
            Err(_) => Err(RuntimeError::new(
                Failure::Timeout,
                format!(
                    "The Docker engine at {} did not answer ({what}) within {} s.",
                    self.settings.url,
                    limit.as_secs_f32()
                ),
            )),
        }
    }

    /// `GET /_ping`.
    pub async fn ping(&self) -> Result<(), RuntimeError> {
        self.call("ping", self.docker.ping()).await.map(|_| ())
    }

    /// The engine's version and API version.
    pub async fn version(&self) -> Result<(String, String), RuntimeError> {
        let v = self.call("version", self.docker.version()).await?;
        Ok((
            v.version.unwrap_or_default(),
            v.api_version.unwrap_or_default(),
        ))
    }

    /// Whether the engine has the `nvidia` runtime (the NVIDIA container toolkit).
    pub async fn has_gpu_runtime(&self) -> Result<bool, RuntimeError> {
        let info = self.call("info", self.docker.info()).await?;
        Ok(info.runtimes.is_some_and(|r| r.contains_key("nvidia")))
    }

    /// Whether a network exists.
    pub async fn network_exists(&self, name: &str) -> Result<bool, RuntimeError> {
        match self
            .call("inspect network", self.docker.inspect_network(name, None))
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.kind == Failure::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Whether an image is present.
    pub async fn has_image(&self, image: &str) -> Result<bool, RuntimeError> {
        match self
            .call("inspect image", self.docker.inspect_image(image))
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.kind == Failure::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Pulls an image, bounded by `limit`.
    pub async fn pull(&self, image: &str, limit: Duration) -> Result<(), RuntimeError> {
        let (name, tag) = split_tag(image);
        let options = CreateImageOptionsBuilder::default()
            .from_image(name)
            .tag(tag)
            .build();
        let mut stream = self.docker.create_image(Some(options), None, None);
        let pull = async {
            while let Some(item) = stream.next().await {
                item?;
            }
            Ok(())
        };
        self.call_within(limit, &format!("pull {image}"), pull)
            .await
    }

    /// Creates the shared named volumes (labelled as this manager's) if missing.
    pub async fn ensure_volumes(
        &self,
        labels: &HashMap<String, String>,
    ) -> Result<(), RuntimeError> {
        for (name, _, _) in VOLUMES {
            let request = VolumeCreateRequest {
                name: Some(name.to_string()),
                labels: Some(labels.clone()),
                ..Default::default()
            };
            self.call("create volume", self.docker.create_volume(request))
                .await?;
        }
        Ok(())
    }

    /// Containers carrying the label `key=value`, or `key` with any value when `value` is
    /// empty (running or not), as the list call reports them (no exit codes).
    async fn list_labelled(&self, key: &str, value: &str) -> Result<Vec<Observed>, RuntimeError> {
        let filter = if value.is_empty() {
            key.to_string()
        } else {
            format!("{key}={value}")
        };
        let filters = HashMap::from([("label", vec![filter.as_str()])]);
        let options = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        let list = self
            .call(
                "list containers",
                self.docker.list_containers(Some(options)),
            )
            .await?;
        Ok(list
            .into_iter()
            .map(|c| {
                let labels = c.labels.unwrap_or_default();
                Observed {
                    id: c.id.unwrap_or_default(),
                    name: c
                        .names
                        .and_then(|n| n.into_iter().next())
                        .unwrap_or_default()
                        .trim_start_matches('/')
                        .to_string(),
                    state: State::from(c.state.map(|s| s.to_string()).unwrap_or_default().as_str()),
                    exit_code: None,
                    oom_killed: false,
                    model: labels.get(label::MODEL).cloned(),
                    manager_id: labels.get(label::MANAGER_ID).cloned(),
                    failure: None,
                }
            })
            .collect())
    }

    /// A container's state, exit code and published ports; `None` when it does not exist.
    pub async fn inspect(&self, id: &str) -> Result<Option<Found>, RuntimeError> {
        let info = match self
            .call("inspect container", self.docker.inspect_container(id, None))
            .await
        {
            Ok(i) => i,
            Err(e) if e.kind == Failure::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let labels = info
            .config
            .as_ref()
            .and_then(|c| c.labels.clone())
            .unwrap_or_default();
        let created_at = info
            .created
            .as_deref()
            .and_then(|c| c.parse::<jiff::Timestamp>().ok());
        let state = info.state.unwrap_or_default();
        let ports = info
            .network_settings
            .and_then(|n| n.ports)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(key, bindings)| {
                let container: u16 = key.split('/').next()?.parse().ok()?;
                let host = bindings?
                    .into_iter()
                    .find_map(|b| b.host_port?.parse::<u16>().ok())?;
                Some((container, host))
            })
            .collect();
        let word = state.status.map(|s| s.to_string()).unwrap_or_default();
        Ok(Some(Found {
            observed: Observed {
                id: info.id.unwrap_or_default(),
                name: info
                    .name
                    .unwrap_or_default()
                    .trim_start_matches('/')
                    .to_string(),
                state: State::from(word.as_str()),
                exit_code: state.exit_code,
                oom_killed: state.oom_killed.unwrap_or(false),
                model: labels.get(label::MODEL).cloned(),
                manager_id: labels.get(label::MANAGER_ID).cloned(),
                failure: None,
            },
            labels,
            ports,
            created_at,
            resolved: None,
        }))
    }

    /// Starts a created container.
    async fn start_container(&self, id: &str) -> Result<(), RuntimeError> {
        self.call("start container", self.docker.start_container(id, None))
            .await
    }

    /// Stops (with `grace` before SIGKILL) and removes a container; `false` when it did not
    /// exist.
    async fn stop_container(&self, id: &str, grace: Duration) -> Result<bool, RuntimeError> {
        let secs = grace.as_secs() as i32;
        let stop = StopContainerOptionsBuilder::default().t(secs).build();
        match self
            .call_within(
                self.timeout + grace,
                "stop container",
                self.docker.stop_container(id, Some(stop)),
            )
            .await
        {
            Ok(()) => {}
            Err(e) if e.kind == Failure::NotFound => return Ok(false),
            Err(e) => return Err(e),
        }
        self.remove_container(id).await
    }

    /// Removes a container by force; `false` when it did not exist.
    async fn remove_container(&self, id: &str) -> Result<bool, RuntimeError> {
        let options = RemoveContainerOptionsBuilder::default().force(true).build();
        match self
            .call(
                "remove container",
                self.docker.remove_container(id, Some(options)),
            )
            .await
        {
            Ok(()) => Ok(true),
            Err(e) if e.kind == Failure::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The last `tail` lines of a container's logs (since a Unix time when given), read as a
    /// stream that keeps only what the reply can hold ([`Splitter`]).
    async fn read_logs(
        &self,
        id: &str,
        tail: u32,
        since: Option<i64>,
    ) -> Result<Tail, RuntimeError> {
        let tail_text = tail.to_string();
        let mut options = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .timestamps(true)
            .tail(&tail_text);
        if let Some(since) = since {
            options = options.since(since.clamp(0, i32::MAX as i64) as i32);
        }
        let mut stream = self.docker.logs(id, Some(options.build()));
        // The first message is one engine call within the usual bound (a silent engine is a
        // 504); the rest is read until LOG_READ_LIMIT, and a read cut there keeps what it has.
        let mut splitter = Splitter::new(tail as usize);
        let first = self.call("read logs", async { stream.next().await.transpose() });
        let Some(first) = first.await? else {
            return Ok(splitter.finish());
        };
        let deadline = tokio::time::Instant::now() + LOG_READ_LIMIT;
        let mut next = Some(first);
        while let Some(chunk) = next.take() {
            let more = match chunk {
                LogOutput::StdOut { message } => splitter.push(Stream::Stdout, &message),
                LogOutput::StdErr { message } => splitter.push(Stream::Stderr, &message),
                LogOutput::Console { message } => splitter.push(Stream::Console, &message),
                LogOutput::StdIn { .. } => true,
            };
            if !more {
                break;
            }
            next = match tokio::time::timeout_at(deadline, stream.next()).await {
                Ok(Some(chunk)) => {
                    Some(chunk.map_err(|e| engine_error(e, "read logs", &self.settings.url))?)
                }
                Ok(None) => None,
                Err(_) => {
                    splitter.cut_at_time_limit();
                    None
                }
            };
        }
        Ok(splitter.finish())
    }
}

/// The note every reply carries when `tls_skip_verify` was in effect.
pub const SKIP_VERIFY_NOTE: &str = "tls_skip_verify is set on the docker connection: TLS \
    certificates were NOT verified for this request.";

impl Runtime for Engine {
    fn kind(&self) -> ContainerType {
        ContainerType::Docker
    }

    fn warnings(&self) -> Vec<String> {
        if self.settings.skip_verify {
            vec![SKIP_VERIFY_NOTE.to_string()]
        } else {
            Vec::new()
        }
    }

    /// GPU runtime, network, image (pulled last, only when allowed), the shared volumes.
    async fn preflight(&self, w: &Workload, until: Instant) -> Result<Vec<String>, RuntimeError> {
        let url = &self.settings.url;
        let refuse = |kind, text: String| Err(RuntimeError::new(kind, text));
        if w.gpu && !self.has_gpu_runtime().await? {
            return refuse(
                Failure::BadSettings,
                format!(
                    "runtime=nvidia needs the NVIDIA container runtime, which the Docker engine \
                     at {url} does not have: install the NVIDIA container toolkit there, or \
                     start without runtime=nvidia."
                ),
            );
        }
        if let Some(net) = &self.settings.network
            && !self.network_exists(net).await?
        {
            return refuse(
                Failure::BadSettings,
                format!(
                    "The docker_network {net:?} does not exist on the engine: create it (docker \
                     network create {net}) or clear docker_network."
                ),
            );
        }
        let mut notes = Vec::new();
        let image = &w.image;
        if !self.has_image(image).await? {
            if !self.settings.allow_pull {
                return refuse(
                    Failure::NotFound,
                    format!(
                        "The image {image} is not on the Docker engine at {url} and pulling is \
                         off: load it there (docker pull or docker load), or set allow_pull = \
                         true on the docker connection."
                    ),
                );
            }
            let left = until.saturating_duration_since(Instant::now());
            self.pull(image, PULL_LIMIT.min(left)).await?;
            notes.push(format!("Pulled the image {image}."));
        }
        let volume_labels = [label::MANAGED_BY, label::MANAGER_ID]
            .iter()
            .filter_map(|k| Some((k.to_string(), w.labels.get(*k)?.clone())))
            .collect();
        self.ensure_volumes(&volume_labels).await?;
        Ok(notes)
    }

    async fn find(&self, name_or_id: &str) -> Result<Option<Found>, RuntimeError> {
        self.inspect(name_or_id).await
    }

    /// The list call, then an inspect of each container that is not running for its exit
    /// code and OOM kill (concurrently).
    async fn list(&self, key: &str, value: &str) -> Result<Vec<Observed>, RuntimeError> {
        let mut containers = self.list_labelled(key, value).await?;
        let details = futures_util::future::join_all(
            containers
                .iter()
                .filter(|c| c.state != State::Running)
                .map(|c| self.inspect(&c.id)),
        )
        .await;
        for d in details.into_iter().flatten().flatten() {
            if let Some(c) = containers.iter_mut().find(|c| c.id == d.observed.id) {
                c.exit_code = d.observed.exit_code;
                c.oom_killed = d.observed.oom_killed;
            }
        }
        Ok(containers)
    }

    async fn create(&self, w: &Workload) -> Result<String, RuntimeError> {
        let options = CreateContainerOptionsBuilder::default()
            .name(&w.name)
            .build();
        let body = container_body(w, &self.settings);
        match self
            .call(
                "create container",
                self.docker.create_container(Some(options), body),
            )
            .await
        {
            Ok(created) => Ok(created.id),
            Err(e) if e.kind == Failure::Conflict => Err(RuntimeError {
                kind: Failure::AlreadyExists,
                ..e
            }),
            Err(e) => Err(e),
        }
    }

    async fn start(&self, id: &str) -> Result<(), RuntimeError> {
        self.start_container(id).await
    }

    async fn stop_and_remove(&self, id: &str, grace: Duration) -> Result<bool, RuntimeError> {
        self.stop_container(id, grace).await
    }

    async fn remove(&self, id: &str) -> Result<bool, RuntimeError> {
        self.remove_container(id).await
    }

    /// One log per container, spanning every run: `previous` adds nothing.
    async fn logs(
        &self,
        id: &str,
        tail: u32,
        since: Option<i64>,
        _previous: bool,
    ) -> Result<Tail, RuntimeError> {
        self.read_logs(id, tail, since).await
    }

    /// From the published host ports, on the connection's endpoint host names.
    fn urls(&self, found: &Found, ports: &[Port]) -> Result<Urls, String> {
        super::plan::urls(
            &self.settings.endpoint_hostname,
            &self.settings.endpoint_hostname_external,
            self.settings.https,
            &found.published(ports),
        )
    }

    async fn probe(&self, urls: &[&str], token: &Secret, timeout: Duration) -> Vec<Probe> {
        let tls = ProbeTls::from_settings(
            self.settings.container_ca_path.as_deref(),
            self.settings.container_check_hostname,
            self.settings.skip_verify,
        );
        super::probe::probe_all(tls, urls, token, timeout).await
    }
}

/// The engine's create body for a workload on this connection (network, publish address and
/// logging driver come from its settings).
pub fn container_body(spec: &Workload, settings: &DockerSettings) -> ContainerCreateBody {
    let port_key = |p: &Port| format!("{}/tcp", p.container);
    let bindings: HashMap<String, Option<Vec<PortBinding>>> = spec
        .ports
        .iter()
        .map(|p| {
            (
                port_key(p),
                Some(vec![PortBinding {
                    host_ip: settings.publish_ip.map(str::to_string),
                    host_port: Some(p.host.map(|h| h.to_string()).unwrap_or_default()),
                }]),
            )
        })
        .collect();
    let binds = VOLUMES
        .iter()
        .map(|(v, path, ro)| format!("{v}:{path}:{}", if *ro { "ro" } else { "rw" }))
        .collect();
    let log_config = settings
        .logging
        .as_ref()
        .map(|(url, token)| HostConfigLogConfig {
            typ: Some("splunk".into()),
            config: Some(HashMap::from([
                ("splunk-url".to_string(), url.clone()),
                ("splunk-token".to_string(), token.expose().to_string()),
            ])),
        });
    let device_requests = spec.gpu.then(|| {
        vec![DeviceRequest {
            driver: Some("nvidia".into()),
            count: Some(-1),
            capabilities: Some(vec![vec!["gpu".into()]]),
            ..Default::default()
        }]
    });
    ContainerCreateBody {
        image: Some(spec.image.clone()),
        env: Some(spec.env.to_strings()),
        labels: Some(spec.labels.clone().into_iter().collect()),
        exposed_ports: Some(spec.ports.iter().map(port_key).collect()),
        host_config: Some(HostConfig {
            port_bindings: Some(bindings),
            binds: Some(binds),
            network_mode: settings.network.clone(),
            log_config,
            device_requests,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// `repo/name:tag` into name and tag (`latest` when none); a `:` in a registry host port is
/// not a tag.
pub fn split_tag(image: &str) -> (&str, &str) {
    match image.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, tag),
        _ => (image, "latest"),
    }
}

/// The request body type bollard sends (its own alias is crate-private).
type EngineBody = http_body_util::Either<
    http_body_util::Full<hyper::body::Bytes>,
    http_body_util::StreamBody<
        std::pin::Pin<
            Box<
                dyn futures_util::Stream<
                        Item = Result<hyper::body::Frame<hyper::body::Bytes>, std::io::Error>,
                    > + Send,
            >,
        >,
    >,
>;

/// The rustls settings for a TLS engine; an error names the unusable PEM.
pub fn engine_tls_config(tls: &EngineTls) -> Result<rustls::ClientConfig, String> {
    use crate::tls::{Verify, client_auth_from_pem, client_config, roots_from_pem};
    let verify = match (&tls.ca, tls.skip_verify) {
        (_, true) => Verify::AcceptAny,
        (Some(ca), false) => Verify::Anchors {
            roots: roots_from_pem(ca).map_err(|e| format!("docker_ca cannot be used: {e}"))?,
            hostname: true,
        },
        (None, false) => return Err("docker_ca is required for TLS".into()),
    };
    let auth = match &tls.client {
        Some((cert, key)) => Some(
            client_auth_from_pem(cert, key)
                .map_err(|e| format!("docker_client_cert/docker_client_key: {e}"))?,
        ),
        None => None,
    };
    client_config(verify, auth)
}

/// Gives a bollard error its meaning: what the engine said, or why it could not be reached.
pub fn engine_error(e: DockerError, what: &str, url: &str) -> RuntimeError {
    match e {
        DockerError::DockerResponseServerError {
            status_code,
            message,
        } => {
            let kind = match status_code {
                404 => Failure::NotFound,
                409 => Failure::Conflict,
                // The engine cannot do this for this container (e.g. read logs from a logging
                // driver without read support).
                501 => Failure::Unsupported,
                _ => Failure::Refused,
            };
            RuntimeError::new(
                kind,
                format!(
                    "The Docker engine at {url} refused to {what} ({status_code}): {}",
                    message.trim()
                ),
            )
        }
        DockerError::SocketNotFoundError(path) => RuntimeError::new(
            Failure::Unreachable,
            format!(
                "The Docker engine socket {path} does not exist: is Docker running on this \
                 host, and is docker_url right?"
            ),
        ),
        DockerError::RequestTimeoutError => RuntimeError::new(
            Failure::Timeout,
            format!("The Docker engine at {url} did not answer ({what}) in time."),
        ),
        other => {
            let chain = crate::tls::causes(&other);
            if let Some(tls) = crate::tls::find_rustls_error(&other) {
                return RuntimeError::new(
                    Failure::Refused,
                    format!(
                        "TLS with the Docker engine at {url} failed: {}.",
                        crate::tls::explain(tls)
                    ),
                );
            }
            let unreachable = matches!(
                other,
                DockerError::HyperLegacyError { .. }
                    | DockerError::IOError { .. }
                    | DockerError::HyperResponseError { .. }
            );
            if unreachable {
                RuntimeError::new(
                    Failure::Unreachable,
                    format!("The Docker engine at {url} cannot be reached ({what}): {chain}"),
                )
            } else {
                RuntimeError::new(
                    Failure::Refused,
                    format!("The Docker engine at {url} failed to {what}: {chain}"),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApiError;

    #[test]
    fn tags_split_without_confusing_registry_ports() {
        assert_eq!(split_tag("splunk/img:5.2.1"), ("splunk/img", "5.2.1"));
        assert_eq!(split_tag("reg:5000/img"), ("reg:5000/img", "latest"));
        assert_eq!(split_tag("reg:5000/img:1"), ("reg:5000/img", "1"));
        assert_eq!(split_tag("img"), ("img", "latest"));
    }

    #[test]
    fn create_body_publishes_ports_volumes_and_gpu() {
        let spec = Workload {
            name: "mltk-m-1".into(),
            image: "r/i:1".into(),
            env: super::super::plan::Env(vec![("A".into(), "1".into())]),
            labels: [("k".to_string(), "v".to_string())].into_iter().collect(),
            ports: super::super::plan::ports(crate::model::record::Mode::Dev, "__dev__"),
            gpu: true,
            tuning: Default::default(),
        };
        let stanza = crate::conffile::Stanza::from_pairs(
            "docker",
            &[
                ("docker_url", "tcp://engine:2375"),
                ("docker_network", "net"),
                ("docker_logging_endpoint_hostname", "http://hec"),
            ],
        );
        let mut secrets = super::super::secrets::Secrets::default();
        secrets.set("docker_logging_splunk_token", Secret::new("t"));
        let settings = DockerSettings::from_stanza(&stanza, &secrets).unwrap();
        let body = container_body(&spec, &settings);
        let host = body.host_config.unwrap();
        let bindings = host.port_bindings.unwrap();
        assert_eq!(bindings.len(), 5);
        let mlflow = bindings["6000/tcp"].as_ref().unwrap();
        assert_eq!(mlflow[0].host_port.as_deref(), Some("6060"));
        assert_eq!(mlflow[0].host_ip, None, "every interface");
        assert_eq!(
            host.binds.unwrap()[1],
            "mltk-container-app:/srv/backup/app:ro"
        );
        assert_eq!(host.network_mode.as_deref(), Some("net"));
        assert_eq!(host.log_config.unwrap().typ.as_deref(), Some("splunk"));
        assert_eq!(host.device_requests.unwrap()[0].count, Some(-1));
        let prod = Workload {
            ports: super::super::plan::ports(crate::model::record::Mode::Prod, "m"),
            gpu: false,
            ..spec
        };
        let loopback = DockerSettings {
            logging: None,
            publish_ip: Some("127.0.0.1"),
            ..settings
        };
        let host = container_body(&prod, &loopback).host_config.unwrap();
        let bindings = host.port_bindings.unwrap();
        assert_eq!(
            bindings["5000/tcp"].as_ref().unwrap()[0]
                .host_port
                .as_deref(),
            Some("")
        );
        assert!(host.device_requests.is_none() && host.log_config.is_none());
        assert_eq!(
            bindings["5000/tcp"].as_ref().unwrap()[0].host_ip.as_deref(),
            Some("127.0.0.1")
        );
    }

    #[test]
    fn engine_errors_map_to_statuses() {
        let e = engine_error(
            DockerError::DockerResponseServerError {
                status_code: 404,
                message: "No such image".into(),
            },
            "inspect image",
            "unix:///s",
        );
        assert_eq!(ApiError::from(e.clone()).status(), 404);
        let e = engine_error(
            DockerError::DockerResponseServerError {
                status_code: 500,
                message: "boom".into(),
            },
            "create container",
            "unix:///s",
        );
        assert_eq!(ApiError::from(e.clone()).status(), 502);
        let e = engine_error(
            DockerError::SocketNotFoundError("/nope.sock".into()),
            "ping",
            "unix:///nope.sock",
        );
        assert_eq!(ApiError::from(e.clone()).status(), 503);
        assert!(e.message.contains("/nope.sock"));
        assert_eq!(
            ApiError::from(engine_error(DockerError::RequestTimeoutError, "ping", "u")).status(),
            504
        );
    }
}
