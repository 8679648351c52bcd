//! Containers on a runtime: `POST start_container`, `POST stop_container`, container logs
//! (`POST container_logs`, `GET container_logs?model=`) and the live join of
//! `GET container_data`.
//!
//! Each request reads the saved connection and its secrets once, builds the plan with the
//! pure code in [`crate::runtime`], and talks to the engine through
//! [`crate::runtime::docker::Engine`]. The record in dsdl_container.conf is written only after
//! the container runs, and a failure after the container exists removes it again, so neither
//! a stale record nor a leaked container is left behind. Failures carry a real status plus the
//! toolkit's `updated_config.error` / `stopped_container.error`.

use super::body::Fields;
use super::{info, warn};
use crate::conffile::Stanza;
use crate::connection::CONF as CONNECTIONS;
use crate::connection::view::configured_name;
use crate::error::{ApiError, ErrorKind};
use crate::model::image::{self, Catalog};
use crate::model::record::{self, DEV_RECORD, Removal, emptying, running_id};
use crate::names::{self, ContainerType};
use crate::protocol::reply::Outcome;
use crate::protocol::request::{Request, Secret};
use crate::render::now_iso;
use crate::runtime::docker::settings::DockerSettings;
use crate::runtime::docker::{CALL_TIMEOUT, ContainerSpec, Engine, Inspected};
use crate::runtime::logs::{self, DEFAULT_TAIL, MAX_TAIL};
use crate::runtime::plan::{self, Phase, RecordFields, StartRequest, Urls, catalog_image, label};
use crate::runtime::probe::{ProbeTls, Prober};
use crate::runtime::secrets::{Secrets, random_token};
use crate::runtime::state::{self, Live, Observed};
use crate::service::Context;
use crate::splunkd::SplunkdClient;
use futures_util::future::join_all;
use serde_json::{Map, Value, json};
use std::time::{Duration, Instant};

/// How long a stop waits for the container to exit before killing it.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// Longest an image pull may take.
const PULL_LIMIT: Duration = Duration::from_secs(300);
/// Bound of one health probe, and of all probes of one `container_data`.
const PROBE_TIMEOUT: Duration = Duration::from_millis(1500);

/// The saved Docker connection with its secrets.
pub struct DockerConnection {
    /// The `[docker]` stanza.
    pub stanza: Stanza,
    /// Its secrets (realm `dsdl_docker`).
    pub secrets: Secrets,
    /// The connection's name.
    pub name: String,
}

impl DockerConnection {
    /// Reads the connection and its secrets (two calls, concurrently); 404 when no Docker
    /// connection is saved.
    pub async fn load(store: &SplunkdClient) -> Result<DockerConnection, ApiError> {
        let ty = ContainerType::Docker;
        let (stanza, secrets) = tokio::join!(
            store.get_stanza(CONNECTIONS, ty.as_str()),
            store.list_passwords(ty.realm())
        );
        let stanza = stanza?.unwrap_or_else(|| Stanza::new(ty.as_str()));
        let name = configured_name(&stanza)
            .map(str::to_string)
            .ok_or_else(|| {
                ApiError::not_found(
                    "No docker connection is saved: save one with POST /mltk/container_connection \
                 (container_type=docker, docker_url=...) and test it with POST \
                 /mltk/test_container_connection.",
                )
            })?;
        Ok(DockerConnection {
            stanza,
            secrets: Secrets::from_listing(secrets?),
            name,
        })
    }

    /// The settings and a connected engine.
    pub fn engine(&self) -> Result<(DockerSettings, Engine), ApiError> {
        let settings = DockerSettings::from_stanza(&self.stanza, &self.secrets)?;
        let engine = Engine::connect(&settings, CALL_TIMEOUT)?;
        Ok((settings, engine))
    }
}

/// The search head's manager id: splunkd's server guid.
pub fn manager_id(req: &Request) -> String {
    req.server
        .as_ref()
        .and_then(|s| s.guid.clone().or_else(|| s.servername.clone()))
        .filter(|g| !g.trim().is_empty())
        .unwrap_or_else(|| "dsdl-handler".to_string())
}

/// The probe settings of a connection.
fn prober(settings: &DockerSettings, timeout: Duration) -> Result<Prober, ApiError> {
    let tls = ProbeTls::from_settings(
        settings.container_ca_path.as_deref(),
        settings.container_check_hostname,
        settings.skip_verify,
    );
    Prober::new(tls, timeout).map_err(ApiError::internal)
}

// ---------------------------------------------------------------------------------------
// start

/// `POST /mltk/start_container`.
pub async fn start(ctx: &Context, req: &Request) -> Result<Outcome, ApiError> {
    start_inner(ctx, req).await.map_err(|e| {
        let text = e.message.clone();
        e.with_legacy("message", format!("Failed to start the container: {text}"))
            .with_legacy("updated_config", json!({ "error": text }))
            .with_legacy("status", "fail")
    })
}

async fn start_inner(ctx: &Context, req: &Request) -> Result<Outcome, ApiError> {
    let fields = Fields::from_request(req)?;
    let want = plan::start_request(&fields)?;
    if want.cluster == ContainerType::Kubernetes {
        return Err(kubernetes_not_yet());
    }
    let store = ctx.store(req)?;
    let (conn, catalog) = tokio::join!(
        DockerConnection::load(&store),
        store.list_stanzas(image::CONF)
    );
    let mut conn = conn?;
    let catalog = Catalog::from_stanzas(&catalog?);
    let entry = catalog_image(&catalog, &want.image)?;
    let image_ref = format!("{}{}", entry.repo, entry.image);

    let mut messages = Vec::new();
    let jupyter = match conn.secrets.get("jupyter_passwd") {
        Some(p) => Some(plan::jupyter_hash(p.expose())?),
        None if want.mode == plan::Mode::Dev => {
            return Err(ApiError::bad_request(
                "A DEV container needs a Jupyter password: save jupyter_passwd (or \
                 jupyter_password) with the docker connection; the image refuses to start \
                 Jupyter without one.",
            ));
        }
        None => None,
    };
    let token = match conn.secrets.get("api_token") {
        Some(t) => t.clone(),
        None => {
            let realm = ContainerType::Docker.realm();
            let fresh = Secret::new(random_token(64).map_err(ApiError::internal)?);
            let t = if store
                .create_password(realm, "api_token", fresh.expose())
                .await?
            {
                messages.push(info(
                    "No api_token was stored; a new one was generated and stored for this \
                     connection.",
                ));
                fresh
            } else {
                // Another request stored one first: use that one.
                store
                    .get_password(realm, "api_token")
                    .await?
                    .ok_or_else(|| {
                        ApiError::conflict("The api_token changed during the start; try again.")
                    })?
            };
            conn.secrets.set("api_token", t.clone());
            t
        }
    };
    let (settings, engine) = conn.engine()?;
    if settings.skip_verify {
        messages.push(warn(SKIP_VERIFY_NOTE));
    }
    let manager = manager_id(req);
    let spec_hash = plan::spec_hash(&image_ref, want.mode, want.gpu);
    let labels = plan::labels(&want.model, &manager, want.mode, &spec_hash);
    let spec = ContainerSpec {
        name: names::runtime_name(&want.model),
        image: image_ref.clone(),
        env: plan::environment(
            &conn.stanza,
            &conn.secrets,
            want.mode,
            settings.https,
            &token,
            jupyter.as_deref(),
        )
        .to_strings(),
        labels: labels.clone().into_iter().collect(),
        ports: plan::ports(want.mode, &want.model),
        network: settings.network.clone(),
        logging: settings
            .logging
            .as_ref()
            .map(|(u, t)| (u.clone(), t.expose().to_string())),
        gpu: want.gpu,
    };
    let ctx = StartCtx {
        store: &store,
        engine: &engine,
        settings: &settings,
        want: &want,
        spec: &spec,
        token: &token,
        manager: &manager,
        connection: &conn.name,
        image: &entry.image,
    };

    // Idempotence: a container of this model already here?
    if let Some(existing) = engine.inspect(&spec.name).await? {
        match ours(&existing, &manager, &spec_hash) {
            Mine::Same if existing.observed.state == "running" => {
                return ctx.already_running(existing, messages).await;
            }
            Mine::Same if existing.observed.state == "created" => {
                // Another process may be starting it right now: wait for it.
                if let Some(done) = ctx.lost_race(messages.clone()).await? {
                    return Ok(done);
                }
            }
            Mine::Same | Mine::Stale => {
                // Stopped or left over: replace it.
                engine.remove(&existing.observed.id).await?;
            }
            Mine::Different => {
                return Err(ApiError::conflict(format!(
                    "Model {} already runs with a different image, mode or GPU setting \
                     (container {}); stop it first with POST /mltk/stop_container.",
                    want.model, existing.observed.name
                )));
            }
            Mine::Foreign => {
                return Err(ApiError::conflict(format!(
                    "A container named {} exists on the engine but was not started by this \
                     search head; remove or rename it, or start the model under another name.",
                    spec.name
                )));
            }
        }
    }

    if !engine.has_image(&image_ref).await? {
        if !settings.allow_pull {
            return Err(ApiError::not_found(format!(
                "The image {image_ref} is not on the Docker engine at {} and pulling is off: \
                 load it there (docker pull or docker load), or set allow_pull = true on the \
                 docker connection.",
                settings.url
            )));
        }
        engine.pull(&image_ref, PULL_LIMIT).await?;
        messages.push(info(&format!("Pulled the image {image_ref}.")));
    }
    if want.gpu && !engine.has_gpu_runtime().await? {
        return Err(ApiError::bad_request(format!(
            "runtime=nvidia needs the NVIDIA container runtime, which the Docker engine at {} \
             does not have: install the NVIDIA container toolkit there, or start without \
             runtime=nvidia.",
            settings.url
        )));
    }
    if let Some(net) = &settings.network
        && !engine.network_exists(net).await?
    {
        return Err(ApiError::bad_request(format!(
            "The docker_network {net:?} does not exist on the engine: create it (docker network \
             create {net}) or clear docker_network."
        )));
    }
    let volume_labels = [
        (label::MANAGED_BY.to_string(), label::MANAGER.to_string()),
        (label::MANAGER_ID.to_string(), manager.clone()),
    ]
    .into_iter()
    .collect();
    engine.ensure_volumes(&volume_labels).await?;

    let id = match engine.create(&spec).await {
        Ok(id) => id,
        Err(e) if e.kind == ErrorKind::Conflict => {
            // Another process created it between our check and our create.
            return ctx.lost_race(messages).await?.ok_or_else(|| {
                ApiError::conflict(format!(
                    "Another start of model {} was in progress; try again in a moment.",
                    want.model
                ))
            });
        }
        Err(e) => return Err(e),
    };
    match ctx.start_created(&id).await {
        Ok((body_messages, outcome)) => {
            messages.extend(body_messages);
            Ok(with_messages(outcome, messages))
        }
        Err(e) => {
            // No leak: a container that did not make it to a record is removed.
            if let Err(cleanup) = engine.remove(&id).await {
                crate::log::fault(&format!(
                    "start of {} failed and its container {id} could not be removed: {}",
                    want.model, cleanup.message
                ));
            }
            Err(e)
        }
    }
}

const SKIP_VERIFY_NOTE: &str = "tls_skip_verify is set on the docker connection: TLS \
    certificates were NOT verified for this request.";

fn kubernetes_not_yet() -> ApiError {
    ApiError::new(
        ErrorKind::NotImplemented,
        "cluster=kubernetes is not supported by this version of dsdl-handler yet; use \
         cluster=docker.",
    )
}

/// How an existing container relates to this start.
enum Mine {
    /// Ours, same spec.
    Same,
    /// Ours, another spec.
    Different,
    /// Ours (or the toolkit's) and not running with a known spec: replaceable.
    Stale,
    /// Someone else's.
    Foreign,
}

fn ours(c: &Inspected, manager: &str, spec: &str) -> Mine {
    let get = |k: &str| c.labels.get(k).map(String::as_str);
    match get(label::MANAGER_ID) {
        Some(m) if m == manager => match get(label::SPEC) {
            Some(s) if s == spec => Mine::Same,
            _ if c.observed.state != "running" => Mine::Stale,
            _ => Mine::Different,
        },
        _ => Mine::Foreign,
    }
}

struct StartCtx<'a> {
    store: &'a SplunkdClient,
    engine: &'a Engine,
    settings: &'a DockerSettings,
    want: &'a StartRequest,
    spec: &'a ContainerSpec,
    token: &'a Secret,
    manager: &'a str,
    connection: &'a str,
    image: &'a str,
}

impl StartCtx<'_> {
    /// Starts a created container, waits for readiness, writes the record.
    async fn start_created(&self, id: &str) -> Result<(Vec<Value>, Outcome), ApiError> {
        self.engine.start(id).await?;
        let inspected = self.engine.inspect(id).await?.ok_or_else(|| {
            ApiError::new(
                ErrorKind::BadGateway,
                "The container disappeared right after it was started.",
            )
        })?;
        let urls = self.urls(&inspected)?;
        let (phase, reason) = self.wait_ready(id, &urls).await?;
        let started_at = now_iso();
        let fields = self.record(id, &urls, phase, &started_at);
        write_record(self.store, &self.want.model, &fields.pairs()).await?;
        let mut messages = Vec::new();
        if phase == Phase::Starting {
            messages.push(info(&format!(
                "The container runs but its API did not answer yet ({reason}); GET \
                 /mltk/container_data shows when it is Active."
            )));
        }
        Ok((messages, self.reply(id, &urls, phase, true)))
    }

    /// The URLs from the published ports.
    fn urls(&self, inspected: &Inspected) -> Result<Urls, ApiError> {
        plan::urls(
            &self.settings.endpoint_hostname,
            &self.settings.endpoint_hostname_external,
            self.settings.https,
            &inspected.published(&self.spec.ports),
        )
        .map_err(|e| {
            ApiError::new(
                ErrorKind::BadGateway,
                format!("The container started but {e}."),
            )
        })
    }

    /// Probes until the API answers, the container stops, or the wait is over.
    async fn wait_ready(&self, id: &str, urls: &Urls) -> Result<(Phase, String), ApiError> {
        let prober = prober(self.settings, Duration::from_secs(1))?;
        let until = Instant::now() + self.want.wait;
        loop {
            let p = prober.probe(&urls.api_url, self.token.expose()).await;
            if p.ok {
                return Ok((Phase::Ready, String::new()));
            }
            let state = self.engine.inspect(id).await?;
            if let Some(s) = state.filter(|s| s.observed.state != "running") {
                let tail = self.engine.logs(id, 20, None).await.unwrap_or_default();
                let output: Vec<String> = tail.into_iter().map(|e| e.log).collect();
                return Err(ApiError::new(
                    ErrorKind::BadGateway,
                    format!(
                        "The container stopped during start ({}, exit code {}); its last output: {}",
                        s.observed.state,
                        s.observed.exit_code.unwrap_or(-1),
                        names::excerpt(&output.join(" | "), 2000)
                    ),
                ));
            }
            if Instant::now() >= until {
                return Ok((Phase::Starting, p.detail));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    fn record<'b>(
        &'b self,
        id: &'b str,
        urls: &'b Urls,
        phase: Phase,
        started_at: &'b str,
    ) -> RecordFields<'b> {
        RecordFields {
            id,
            runtime_name: &self.spec.name,
            mode: self.want.mode,
            cluster: ContainerType::Docker,
            image: self.image,
            gpu: self.want.gpu,
            urls,
            phase,
            manager_id: self.manager,
            connection_name: self.connection,
            started_at,
        }
    }

    /// The reply for a container that runs with this spec.
    fn reply(&self, id: &str, urls: &Urls, phase: Phase, changed: bool) -> Outcome {
        let config = json!({
            "container_id": id,
            "container_name": self.spec.name,
            "mode": self.want.mode.as_str(),
            "cluster": "docker",
            "image": self.image,
            "runtime": if self.want.gpu { "nvidia" } else { "" },
            "api_url": urls.api_url,
            "api_url_external": urls.api_url_external,
            "jupyter_url": urls.jupyter_url,
            "tensorboard_url": urls.tensorboard_url,
            "spark_url": urls.spark_url,
            "mlflow_url": urls.mlflow_url,
            "phase": phase.as_str(),
            "changed": changed,
        });
        Outcome::ok(json!({
            "message": if changed {
                "The container started successfully"
            } else {
                "The container is already running"
            },
            "updated_config": config,
            "status": "success",
        }))
    }

    /// The model already runs with this spec: make sure the record says so, change nothing
    /// else.
    async fn already_running(
        &self,
        c: Inspected,
        mut messages: Vec<Value>,
    ) -> Result<Outcome, ApiError> {
        let urls = self.urls(&c)?;
        let id = c.observed.id.clone();
        let probe = prober(self.settings, Duration::from_secs(1))?
            .probe(&urls.api_url, self.token.expose())
            .await;
        let phase = if probe.ok {
            Phase::Ready
        } else {
            Phase::Starting
        };
        let stored = self
            .store
            .get_stanza(record::CONF, &self.want.model)
            .await?;
        if stored.as_ref().and_then(running_id) != Some(id.as_str()) {
            let started_at = now_iso();
            let fields = self.record(&id, &urls, phase, &started_at);
            write_record(self.store, &self.want.model, &fields.pairs()).await?;
            messages.push(info("The record was missing or stale and was rewritten."));
        }
        Ok(with_messages(
            self.reply(&id, &urls, phase, false),
            messages,
        ))
    }

    /// Another process created the container first: report it once it runs. `None` when
    /// it never ran and was removed as a leftover (the caller may create it afresh).
    async fn lost_race(&self, messages: Vec<Value>) -> Result<Option<Outcome>, ApiError> {
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            match self.engine.inspect(&self.spec.name).await? {
                Some(c) if c.observed.state == "running" => {
                    let spec = plan::spec_hash(&self.spec.image, self.want.mode, self.want.gpu);
                    return match ours(&c, self.manager, &spec) {
                        Mine::Same => {
                            let urls = self.urls(&c)?;
                            let reply = self.reply(&c.observed.id, &urls, Phase::Starting, false);
                            Ok(Some(with_messages(reply, messages)))
                        }
                        _ => Err(ApiError::conflict(format!(
                            "Another start of model {} created a different container at the \
                             same time; stop it first.",
                            self.want.model
                        ))),
                    };
                }
                Some(c) if c.observed.state == "created" && Instant::now() >= until => {
                    // Created but never started (a start that died half-way): a leftover.
                    self.engine.remove(&c.observed.id).await?;
                    return Ok(None);
                }
                // The engine reserves a name before the container can be inspected, so a
                // container that is not there yet is waited for too.
                _ if Instant::now() < until => tokio::time::sleep(Duration::from_millis(100)).await,
                other => {
                    let seen = other.map_or("gone".to_string(), |c| c.observed.state);
                    return Err(ApiError::conflict(format!(
                        "Another start of model {} is in progress (its container is {seen}); \
                         try again in a moment.",
                        self.want.model
                    )));
                }
            }
        }
    }
}

fn with_messages(outcome: Outcome, messages: Vec<Value>) -> Outcome {
    match outcome {
        Outcome::Object { status, mut body } if !messages.is_empty() => {
            body["messages"] = Value::Array(messages);
            Outcome::Object { status, body }
        }
        other => other,
    }
}

/// Writes the model's record, creating the stanza when it does not exist.
async fn write_record(
    store: &SplunkdClient,
    model: &str,
    pairs: &[(String, String)],
) -> Result<(), ApiError> {
    match store.update_stanza(record::CONF, model, pairs).await {
        Err(e) if e.kind == ErrorKind::NotFound => {
            store.create_stanza(record::CONF, model, pairs).await
        }
        other => other,
    }
}

// ---------------------------------------------------------------------------------------
// stop

/// `POST /mltk/stop_container`.
pub async fn stop(ctx: &Context, req: &Request) -> Result<Outcome, ApiError> {
    stop_inner(ctx, req).await.map_err(|e| {
        let text = e.message.clone();
        e.with_legacy("message", "Failed to stop the container.")
            .with_legacy("stopped_container", json!({ "error": text }))
            .with_legacy("status", "fail")
    })
}

async fn stop_inner(ctx: &Context, req: &Request) -> Result<Outcome, ApiError> {
    let fields = Fields::from_request(req)?;
    let model = model_field(&fields)?;
    let store = ctx.store(req)?;
    let found = if model == record::DEFAULT_STANZA {
        None
    } else {
        store.get_stanza(record::CONF, &model).await?
    };
    if found
        .as_ref()
        .and_then(|r| r.get("cluster"))
        .is_some_and(|c| c.trim().eq_ignore_ascii_case("kubernetes"))
    {
        return Err(kubernetes_not_yet());
    }
    let (removed, mut messages) = stop_model(&store, req, &model, found.as_ref()).await?;
    let record_change = match &found {
        Some(r) => clear_record(&store, r).await?,
        None => false,
    };
    let changed = !removed.is_empty() || record_change;
    let id = removed
        .first()
        .cloned()
        .or_else(|| found.as_ref().and_then(running_id).map(str::to_string))
        .unwrap_or_default();
    let text = if removed.is_empty() {
        format!("Model {model} was not running; nothing to stop.")
    } else {
        format!("Container {} stopped successfully", removed.join(", "))
    };
    messages.insert(0, info(&text));
    Ok(Outcome::ok(json!({
        "message": text,
        "status": "success",
        "stopped_container": {
            "container_id": id,
            "model": model,
            "status": "stopped",
            "changed": changed,
            "removed_containers": removed,
        },
        "messages": messages,
    })))
}

/// Stops and removes every container of `model` this search head manages: the one its
/// record names and any found by label. Returns the removed ids and messages.
pub async fn stop_model(
    store: &SplunkdClient,
    req: &Request,
    model: &str,
    found: Option<&Stanza>,
) -> Result<(Vec<String>, Vec<Value>), ApiError> {
    let recorded = found.and_then(running_id).map(str::to_string);
    let conn = match DockerConnection::load(store).await {
        Ok(c) => c,
        Err(e) if e.kind == ErrorKind::NotFound && recorded.is_none() => {
            return Ok((Vec::new(), Vec::new()));
        }
        Err(e) => return Err(e),
    };
    let (settings, engine) = conn.engine()?;
    let mut messages = Vec::new();
    if settings.skip_verify {
        messages.push(warn(SKIP_VERIFY_NOTE));
    }
    let manager = manager_id(req);
    let mut ids: Vec<String> = recorded.into_iter().collect();
    for c in engine.list_labelled(label::MODEL, model).await? {
        if c.manager_id.as_deref() == Some(manager.as_str())
            && !ids.iter().any(|i| c.id.starts_with(i.as_str()))
        {
            ids.push(c.id);
        }
    }
    let mut removed = Vec::new();
    for id in ids {
        if engine.stop_and_remove(&id, STOP_GRACE).await? {
            removed.push(id);
        }
    }
    Ok((removed, messages))
}

/// Deletes the record, or empties it for the shipped `__dev__`; whether anything changed.
async fn clear_record(store: &SplunkdClient, found: &Stanza) -> Result<bool, ApiError> {
    if found.name != DEV_RECORD {
        return store.delete_stanza(record::CONF, &found.name).await;
    }
    match emptying(found) {
        Removal::Empty(keys) if !keys.is_empty() => {
            let pairs: Vec<(String, &str)> = keys.into_iter().map(|k| (k, "")).collect();
            store
                .update_stanza(record::CONF, &found.name, &pairs)
                .await?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

fn model_field(fields: &Fields) -> Result<String, ApiError> {
    let model = fields.text("model").unwrap_or_default();
    if model.trim().is_empty() {
        return Err(ApiError::bad_request(
            "model is required: the name of the model (record), e.g. __dev__.",
        ));
    }
    names::model_name(model.trim())
}

// ---------------------------------------------------------------------------------------
// logs

/// `POST /mltk/container_logs` and `GET /mltk/container_logs?model=`.
pub async fn container_logs(ctx: &Context, req: &Request) -> Result<Outcome, ApiError> {
    logs_inner(ctx, req).await.map_err(|e| {
        e.with_legacy("message", "Failed to fetch the logs.")
            .with_legacy("status", "failure")
    })
}

/// What a log read asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogQuery {
    /// The model.
    pub model: String,
    /// Lines from the end.
    pub tail: u32,
    /// Only lines after this Unix time.
    pub since: Option<i64>,
    /// Whether entries carry `_time`.
    pub timestamps: bool,
}

/// Reads `model`, `tail`, `since` (Unix seconds or RFC 3339) and `timestamps` from the body
/// or, for GET, the query.
pub fn log_query(fields: &Fields) -> Result<LogQuery, ApiError> {
    let model = model_field(fields)?;
    let tail = match fields.text("tail").map(|t| t.trim().to_string()).as_deref() {
        None | Some("") => DEFAULT_TAIL,
        Some(t) => t
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_TAIL).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request(format!("tail must be a whole number from 1 to {MAX_TAIL}."))
            })?,
    };
    let since = match fields.text("since").map(|t| t.trim().to_string()).as_deref() {
        None | Some("") => None,
        Some(s) => Some(match s.parse::<i64>() {
            Ok(n) if n >= 0 => n,
            _ => s
                .parse::<jiff::Timestamp>()
                .map(|t| t.as_second())
                .map_err(|_| {
                    ApiError::bad_request(
                        "since must be Unix seconds or an RFC 3339 time such as 2026-11-23T10:00:00Z.",
                    )
                })?,
        }),
    };
    let timestamps = fields.flag("timestamps")?.unwrap_or(true);
    Ok(LogQuery {
        model,
        tail,
        since,
        timestamps,
    })
}

async fn logs_inner(ctx: &Context, req: &Request) -> Result<Outcome, ApiError> {
    let fields = if req.method == "GET" {
        let pairs: Vec<(String, String)> = req.query.clone();
        Fields::from_pairs(&pairs)
    } else {
        Fields::from_request(req)?
    };
    let q = log_query(&fields)?;
    let store = ctx.store(req)?;
    let found = store
        .get_stanza(record::CONF, &q.model)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "There is no deployment record for model {}; GET /mltk/container_data lists them.",
                q.model
            ))
        })?;
    if found
        .get("cluster")
        .is_some_and(|c| c.trim().eq_ignore_ascii_case("kubernetes"))
    {
        return Err(kubernetes_not_yet());
    }
    let id = running_id(&found).map(str::to_string).ok_or_else(|| {
        ApiError::conflict(format!(
            "Model {} has no container (it is stopped); start it to have logs.",
            q.model
        ))
    })?;
    let conn = DockerConnection::load(&store).await?;
    let (_, engine) = conn.engine()?;
    let entries = match engine.logs(&id, q.tail, q.since).await {
        Ok(e) => e,
        Err(e) if e.kind == ErrorKind::NotFound => {
            return Err(ApiError::not_found(format!(
                "The container of model {} ({id}) no longer exists on the engine, so its logs are \
                 gone; stop the model to clear its record.",
                q.model
            )));
        }
        Err(e) if e.message.contains("does not support reading") => {
            return Err(ApiError::conflict(format!(
                "The container of model {} uses a logging driver Docker cannot read back (for \
                 example the splunk driver): find its output where that driver sends it.",
                q.model
            )));
        }
        Err(e) => return Err(e),
    };
    Ok(Outcome::ok(json!({
        "message": "Fetched the logs of container successfully ",
        "container_logs": {
            "entries": logs::to_json(&entries, q.timestamps),
            "container_id": id,
            "tail": q.tail,
        },
        "status": "success",
    })))
}

// ---------------------------------------------------------------------------------------
// container_data

/// Live rows for `container_data`: every record joined with the engine's view and a probe
/// (concurrent, each bounded), plus orphans and messages.
pub async fn live_rows(
    store: &SplunkdClient,
    req: &Request,
    records: &[Stanza],
) -> (Map<String, Value>, Vec<Value>, Vec<Value>) {
    let mut messages = Vec::new();
    let docker_records: Vec<&Stanza> = records.iter().filter(|r| is_docker(r)).collect();
    let engine_view = if docker_records.is_empty() {
        Err("no Docker record".to_string())
    } else {
        observe(store, req).await
    };
    let (observed, token, prober) = match engine_view {
        Ok(v) => v,
        Err(why) => {
            if !docker_records.is_empty() {
                messages.push(warn(&format!("Live state was not checked: {why}")));
            }
            (Vec::new(), None, None)
        }
    };
    let checked = prober.is_some();
    // Probes of running containers, concurrently.
    let probes = join_all(records.iter().map(|r| {
        let live = state::find(r, &observed);
        let prober = prober.as_ref();
        let token = token.as_ref();
        async move {
            match (live, prober, token) {
                (Live::Seen(o), Some(p), Some(t)) if o.state == "running" => Some(
                    p.probe(r.get("api_url").unwrap_or_default(), t.expose())
                        .await,
                ),
                _ => None,
            }
        }
    }))
    .await;
    let mut rows = Map::new();
    for (r, probe) in records.iter().zip(probes) {
        let live = if !is_docker(r) {
            if running_id(r).is_some() {
                Live::Unchecked("Kubernetes state is not checked by this version".into())
            } else {
                Live::NoContainer
            }
        } else if checked {
            state::find(r, &observed)
        } else if running_id(r).is_some() {
            Live::Unchecked("the Docker engine was not reachable".into())
        } else {
            Live::NoContainer
        };
        rows.insert(
            r.name.clone(),
            Value::Object(state::row(r, &live, probe.as_ref())),
        );
    }
    let orphans: Vec<Value> = state::orphans(records, &observed)
        .into_iter()
        .filter(|o| o.manager_id.as_deref() == Some(manager_id(req).as_str()))
        .map(state::orphan_json)
        .collect();
    if !orphans.is_empty() {
        messages.push(warn(&format!(
            "{} container(s) started by this search head have no record (orphans); they were \
             left running. Stop them with POST /mltk/stop_container and their model name, or \
             remove them on the engine.",
            orphans.len()
        )));
    }
    (rows, orphans, messages)
}

fn is_docker(r: &Stanza) -> bool {
    r.get("cluster")
        .map(str::trim)
        .is_none_or(|c| c.is_empty() || c.eq_ignore_ascii_case("docker"))
}

/// The engine's view of the app's containers (exit codes filled in for stopped ones), the
/// API token and a prober; an error says why the view is missing.
async fn observe(
    store: &SplunkdClient,
    req: &Request,
) -> Result<(Vec<Observed>, Option<Secret>, Option<Prober>), String> {
    let conn = DockerConnection::load(store).await.map_err(|e| e.message)?;
    let (settings, engine) = conn.engine().map_err(|e| e.message)?;
    let mut seen = engine
        .list_labelled(label::LEGACY_CONTAINER, "")
        .await
        .map_err(|e| e.message)?;
    let manager = manager_id(req);
    seen.retain(|c| c.manager_id.is_none() || c.manager_id.as_deref() == Some(manager.as_str()));
    // Exit codes and OOM kills need an inspect; only for containers that are not running.
    let details = join_all(
        seen.iter()
            .filter(|c| c.state != "running")
            .map(|c| engine.inspect(&c.id)),
    )
    .await;
    for d in details.into_iter().flatten().flatten() {
        if let Some(c) = seen.iter_mut().find(|c| c.id == d.observed.id) {
            c.exit_code = d.observed.exit_code;
            c.oom_killed = d.observed.oom_killed;
        }
    }
    let prober = prober(&settings, PROBE_TIMEOUT).map_err(|e| e.message)?;
    Ok((seen, conn.secrets.get("api_token").cloned(), Some(prober)))
}
