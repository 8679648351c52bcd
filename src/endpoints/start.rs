//! `POST /mltk/start_container`: starts a model's container from the catalog on the saved
//! Docker connection.
//!
//! Order of work: check the request, read the connection, the catalog and the record (three
//! calls), check what can be checked before touching the engine (Jupyter password, GPU
//! runtime, network, image), then create the container under the model's runtime name. The
//! engine's name uniqueness is the lock between concurrent starts: the loser waits for the
//! winner's container and reports it. The record is written once the container runs, updated
//! when it is ready, and removed again with the container if anything after the create fails,
//! so a failed start leaves neither a record nor a container.

use super::docker::{
    DockerConnection, ensure_api_token, kubernetes_not_yet, manager_id, mirror_api_token, prober,
    skip_verify_note, write_record,
};
use super::info;
use crate::conffile::Stanza;
use crate::error::{ApiError, ErrorKind};
use crate::model::image::{self, Catalog};
use crate::model::record::{self, running_id};
use crate::names::{self, ContainerType};
use crate::protocol::fields::Fields;
use crate::protocol::reply::Outcome;
use crate::protocol::request::{Request, Secret};
use crate::render::now_iso;
use crate::runtime::docker::settings::DockerSettings;
use crate::runtime::docker::{ContainerSpec, Engine, Inspected};
use crate::runtime::plan::{
    self, Existing, Phase, RecordFields, StartRequest, Urls, catalog_image, label,
};
use crate::service::Context;
use crate::splunkd::SplunkdClient;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Longest an image pull may take.
const PULL_LIMIT: Duration = Duration::from_secs(60);
/// Longest a whole start may take, pull and waits included: well below the handler timeout
/// (120 s in splunkd-dev), so the driver is never killed mid-start with its container
/// running and its record saying `starting`. Waits are cut short to fit; a pull that cannot
/// fit is a 504.
pub const START_BUDGET: Duration = Duration::from_secs(90);
/// How long a start waits for another start of the same model to bring its container up.
const RACE_WAIT: Duration = Duration::from_secs(25);
/// A container still only "created" this long after its creation is a leftover of a start
/// that died half-way (a start takes at most a create and a start call, 10 s each).
const LEFTOVER_AGE: Duration = Duration::from_secs(60);
/// How long a start watches a container that stopped for its removal by a concurrent stop.
const REMOVAL_WINDOW: Duration = Duration::from_secs(2);

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
    let deadline = Instant::now() + START_BUDGET;
    let want = plan::start_request(&Fields::from_request(req)?)?;
    if want.cluster == ContainerType::Kubernetes {
        return Err(kubernetes_not_yet());
    }
    let store = ctx.store(req).await?;
    let (conn, catalog, found) = tokio::join!(
        DockerConnection::load(&store),
        store.list_stanzas(image::CONF),
        store.get_stanza(record::CONF, &want.model)
    );
    let (mut conn, found) = (conn?, found?);
    let catalog = Catalog::from_stanzas(&catalog?);
    let entry = catalog_image(&catalog, &want.image)?;
    let image_ref = format!("{}{}", entry.repo, entry.image);
    let manager = manager_id(req);
    if let Some(other) = found
        .as_ref()
        .and_then(|r| super::docker::other_manager(r, &manager))
    {
        return Err(ApiError::conflict(format!(
            "Model {} is managed by another search head ({other}); start or stop it there.",
            want.model
        )));
    }

    let mut messages = Vec::new();
    messages.extend(super::body::unknown_keys_warning(
        req,
        super::body::START_KEYS,
    ));
    let jupyter = match conn.secrets.get("jupyter_passwd") {
        Some(p) => Some(plan::jupyter_hash(p.expose())?),
        None if want.mode == record::Mode::Dev => {
            return Err(ApiError::bad_request(
                "A DEV container needs a Jupyter password: save jupyter_passwd (or \
                 jupyter_password) with the docker connection; the image refuses to start \
                 Jupyter without one.",
            ));
        }
        None => None,
    };
    let (token, generated) = ensure_api_token(&store, &mut conn.secrets).await?;
    // `| fit` and `| apply` read the token where the toolkit keeps it.
    mirror_api_token(&store, &token).await?;
    if generated {
        messages.push(info(
            "No api_token was stored; a new one was generated and stored for this connection.",
        ));
    }
    let (settings, engine) = conn.engine()?;
    messages.extend(skip_verify_note(&settings));
    let spec_hash = plan::spec_hash(&image_ref, want.mode, want.gpu);
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
        ),
        labels: plan::labels(&want.model, &manager, want.mode, &spec_hash)
            .into_iter()
            .collect(),
        ports: plan::ports(want.mode, &want.model),
        network: settings.network.clone(),
        host_ip: settings.publish_ip.map(str::to_string),
        logging: settings.logging.clone(),
        gpu: want.gpu,
    };
    let run = Start {
        store: &store,
        engine: &engine,
        settings: &settings,
        want: &want,
        spec: &spec,
        spec_hash: &spec_hash,
        token: &token,
        manager: &manager,
        connection: &conn.name,
        image: &entry.image,
        deadline,
    };
    run.refuse_other_recorded_container(found.as_ref()).await?;
    run.preflight(&mut messages).await?;

    // The engine's name uniqueness decides between concurrent starts; a lost race is waited
    // out, and a leftover or vanished container gives one more try.
    for _ in 0..2 {
        if let Some(existing) = engine.inspect(&spec.name).await? {
            let label_of = |k: &str| existing.labels.get(k).cloned();
            match plan::existing(label_of, &existing.observed.state, &manager, &spec_hash) {
                Existing::Running => return run.already_running(existing, messages).await,
                Existing::InProgress => match run.wait_for_other().await? {
                    Some(outcome) => return Ok(with_messages(outcome, messages)),
                    None => continue,
                },
                Existing::Replaceable => {
                    engine.remove(&existing.observed.id).await?;
                }
                Existing::Different => {
                    return Err(ApiError::conflict(format!(
                        "Model {} already runs with a different image, mode or GPU setting \
                         (container {}); stop it first with POST /mltk/stop_container.",
                        want.model, existing.observed.name
                    )));
                }
                Existing::Foreign => {
                    return Err(ApiError::conflict(format!(
                        "A container named {} exists on the engine but was not started by this \
                         search head; remove or rename it, or start the model under another \
                         name.",
                        spec.name
                    )));
                }
            }
        }
        match engine.create(&spec).await {
            Ok(id) => return run.finish(&id, messages).await,
            // Another process created it between our look and our create: wait for it.
            Err(e) if e.kind == ErrorKind::Conflict => match run.wait_for_other().await? {
                Some(outcome) => return Ok(with_messages(outcome, messages)),
                None => continue,
            },
            Err(e) => return Err(e),
        }
    }
    Err(ApiError::conflict(format!(
        "Another start of model {} is in progress; try again in a moment.",
        want.model
    )))
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

/// One start, once everything it needs is read.
struct Start<'a> {
    store: &'a SplunkdClient,
    engine: &'a Engine,
    settings: &'a DockerSettings,
    want: &'a StartRequest,
    spec: &'a ContainerSpec,
    spec_hash: &'a str,
    token: &'a Secret,
    manager: &'a str,
    connection: &'a str,
    image: &'a str,
    /// When the start must have answered ([`START_BUDGET`]).
    deadline: Instant,
}

impl Start<'_> {
    /// 409 when the record names a live container other than the one this start would make
    /// (a toolkit-started container, say): starting would leave it running unrecorded.
    async fn refuse_other_recorded_container(
        &self,
        found: Option<&Stanza>,
    ) -> Result<(), ApiError> {
        let Some(id) = found.and_then(running_id) else {
            return Ok(());
        };
        match self.engine.inspect_recorded(&self.want.model, id).await? {
            Some(c) if c.observed.name != self.spec.name && plan::is_alive(&c.observed.state) => {
                Err(ApiError::conflict(format!(
                    "Model {} already has a container ({}, {}) recorded; stop it first with POST \
                     /mltk/stop_container.",
                    self.want.model, c.observed.name, c.observed.state
                )))
            }
            _ => Ok(()),
        }
    }

    /// What can fail before a container exists: GPU runtime, network, image (pulled last,
    /// only when allowed), the shared volumes.
    async fn preflight(&self, messages: &mut Vec<Value>) -> Result<(), ApiError> {
        let url = &self.settings.url;
        if self.want.gpu && !self.engine.has_gpu_runtime().await? {
            return Err(ApiError::bad_request(format!(
                "runtime=nvidia needs the NVIDIA container runtime, which the Docker engine at \
                 {url} does not have: install the NVIDIA container toolkit there, or start \
                 without runtime=nvidia."
            )));
        }
        if let Some(net) = &self.settings.network
            && !self.engine.network_exists(net).await?
        {
            return Err(ApiError::bad_request(format!(
                "The docker_network {net:?} does not exist on the engine: create it (docker \
                 network create {net}) or clear docker_network."
            )));
        }
        let image = &self.spec.image;
        if !self.engine.has_image(image).await? {
            if !self.settings.allow_pull {
                return Err(ApiError::not_found(format!(
                    "The image {image} is not on the Docker engine at {url} and pulling is off: \
                     load it there (docker pull or docker load), or set allow_pull = true on \
                     the docker connection."
                )));
            }
            let left = self.deadline.saturating_duration_since(Instant::now());
            self.engine.pull(image, PULL_LIMIT.min(left)).await?;
            messages.push(info(&format!("Pulled the image {image}.")));
        }
        let volume_labels = [
            (label::MANAGED_BY.to_string(), label::MANAGER.to_string()),
            (label::MANAGER_ID.to_string(), self.manager.to_string()),
        ]
        .into_iter()
        .collect();
        self.engine.ensure_volumes(&volume_labels).await
    }

    /// Starts the created container, records it, waits for readiness. Any failure removes
    /// the container and the record again.
    async fn finish(&self, id: &str, mut messages: Vec<Value>) -> Result<Outcome, ApiError> {
        let mut recorded = false;
        match self.bring_up(id, &mut recorded).await {
            Ok((urls, phase, reason)) => {
                if phase == Phase::Starting {
                    messages.push(info(&format!(
                        "The container runs but its API did not answer yet ({reason}); GET \
                         /mltk/container_data shows when it is Active."
                    )));
                }
                Ok(with_messages(self.reply(id, &urls, phase, true), messages))
            }
            Err(e) => {
                if let Err(cleanup) = self.engine.remove(id).await {
                    crate::log::fault(&format!(
                        "start of {} failed and its container {id} could not be removed: {}",
                        self.want.model, cleanup.message
                    ));
                }
                if recorded
                    && let Err(cleanup) = self
                        .store
                        .delete_stanza(record::CONF, &self.want.model)
                        .await
                {
                    crate::log::fault(&format!(
                        "start of {} failed and its record could not be removed: {}",
                        self.want.model, cleanup.message
                    ));
                }
                Err(e)
            }
        }
    }

    async fn bring_up(
        &self,
        id: &str,
        recorded: &mut bool,
    ) -> Result<(Urls, Phase, String), ApiError> {
        self.engine.start(id).await.map_err(|e| match e.kind {
            ErrorKind::NotFound => ApiError::conflict(format!(
                "The container of model {} was removed while it was being started (a stop at the \
                 same time?); start it again.",
                self.want.model
            )),
            _ => e,
        })?;
        let inspected = self
            .engine
            .inspect(id)
            .await?
            .ok_or_else(|| self.vanished())?;
        let urls = self.urls(&inspected)?;
        let started_at = now_iso();
        let starting = self.record(id, &urls, Phase::Starting, &started_at);
        write_record(self.store, &self.want.model, &starting.pairs()).await?;
        *recorded = true;
        let (phase, reason) = self.wait_ready(id, &urls).await?;
        if phase == Phase::Ready {
            let ready = self.record(id, &urls, Phase::Ready, &started_at);
            write_record(self.store, &self.want.model, &ready.pairs()).await?;
        }
        Ok((urls, phase, reason))
    }

    /// 409: only a stop (or someone on the engine) removes a container during its start.
    fn vanished(&self) -> ApiError {
        ApiError::conflict(format!(
            "The container of model {} was stopped and removed by another request while it was \
             starting; start it again if that was not intended.",
            self.want.model
        ))
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

    /// Probes until the API answers, the container stops or goes, or the wait is over.
    async fn wait_ready(&self, id: &str, urls: &Urls) -> Result<(Phase, String), ApiError> {
        let prober = prober(self.settings, Duration::from_secs(1))?;
        let until = (Instant::now() + self.want.wait).min(self.deadline);
        loop {
            let p = prober.probe(&urls.api_url, self.token.expose()).await;
            if p.ok {
                return Ok((Phase::Ready, String::new()));
            }
            let now = self
                .engine
                .inspect(id)
                .await?
                .ok_or_else(|| self.vanished())?;
            if now.observed.state != "running" {
                return Err(self.ended(id, &now).await);
            }
            if Instant::now() >= until {
                return Ok((Phase::Starting, p.detail));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The error for a container that is no longer running during its start. A stop by
    /// another request removes it right after it exits, so a container gone within
    /// [`REMOVAL_WINDOW`] was stopped on purpose (409); one still there died on its own (502).
    async fn ended(&self, id: &str, c: &Inspected) -> ApiError {
        let until = Instant::now() + REMOVAL_WINDOW;
        while Instant::now() < until {
            match self.engine.inspect(id).await {
                Ok(None) => return self.vanished(),
                Ok(Some(_)) => tokio::time::sleep(Duration::from_millis(100)).await,
                Err(_) => break,
            }
        }
        self.died(id, c).await
    }

    /// The error for a container that stopped during its start: its exit code and last
    /// output, with every secret of its environment masked.
    async fn died(&self, id: &str, c: &Inspected) -> ApiError {
        let tail = self.engine.logs(id, 20, None).await.unwrap_or_default();
        let output: Vec<String> = tail.entries.into_iter().map(|e| e.log).collect();
        let secrets: Vec<&str> = self
            .spec
            .env
            .0
            .iter()
            .filter(|(k, _)| names::is_secret_name(k))
            .map(|(_, v)| v.as_str())
            .collect();
        let quoted = names::mask(&output.join(" | "), &secrets);
        ApiError::new(
            ErrorKind::BadGateway,
            format!(
                "The container stopped during start ({}, exit code {}); its last output: {}",
                c.observed.state,
                c.observed.exit_code.unwrap_or(-1),
                names::excerpt(&quoted, 2000)
            ),
        )
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
        Outcome::ok(json!({
            "message": if changed {
                "The container started successfully"
            } else {
                "The container is already running"
            },
            "updated_config": {
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
            },
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

    /// Another start created the container: its outcome once it runs, `None` when there is
    /// nothing to wait for (it vanished, or it is a leftover that was removed).
    async fn wait_for_other(&self) -> Result<Option<Outcome>, ApiError> {
        let until = (Instant::now() + RACE_WAIT).min(self.deadline);
        loop {
            // The engine reserves a name before the container can be inspected, so a
            // container that is not there yet is waited for too.
            let current = self.engine.inspect(&self.spec.name).await?;
            match current {
                Some(c) if c.observed.state == "running" => {
                    let label_of = |k: &str| c.labels.get(k).cloned();
                    let state = &c.observed.state;
                    return match plan::existing(label_of, state, self.manager, self.spec_hash) {
                        Existing::Running => {
                            let urls = self.urls(&c)?;
                            Ok(Some(self.reply(
                                &c.observed.id,
                                &urls,
                                Phase::Starting,
                                false,
                            )))
                        }
                        _ => Err(ApiError::conflict(format!(
                            "Another start of model {} with a different image, mode or GPU \
                             setting won; stop it first.",
                            self.want.model
                        ))),
                    };
                }
                Some(c) if c.observed.state == "created" && is_leftover(&c) => {
                    self.engine.remove(&c.observed.id).await?;
                    return Ok(None);
                }
                Some(c) if c.observed.state != "created" => return Ok(None),
                None if Instant::now() >= until => return Ok(None),
                _ if Instant::now() >= until => {
                    return Err(ApiError::conflict(format!(
                        "Another start of model {} is still in progress; try again in a moment.",
                        self.want.model
                    )));
                }
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }
}

/// Whether a container that is only "created" was made long enough ago to be a leftover.
fn is_leftover(c: &Inspected) -> bool {
    c.created_at.is_some_and(|t| {
        jiff::Timestamp::now().duration_since(t)
            > jiff::SignedDuration::try_from(LEFTOVER_AGE).unwrap_or_default()
    })
}
