//! `POST /mltk/start_container`: starts a model's container from the catalog on the saved
//! connection of the request's `cluster`.
//!
//! Order of work: check the request, read the connection, the catalog and the record (three
//! calls), check what can be checked before touching the runtime (Jupyter password, then the
//! runtime's preflight: GPU support, network, image), then create the workload under the
//! model's runtime name. The runtime's name uniqueness is the lock between concurrent starts:
//! the loser waits for the winner's workload and reports it. The record is written once the
//! workload runs, updated when it is ready, and removed again with the workload if anything
//! after the create fails, so a failed start leaves neither a record nor a workload.
//!
//! [`Start`] is that state machine, generic over the runtime and the record store, so it runs
//! unchanged on the in-memory fake in tests.

use super::saved::{SavedConnection, ensure_api_token, manager_id, mirror_api_token, warnings};
use crate::conffile::Stanza;
use crate::context::Context;
use crate::error::{ApiError, ErrorKind};
use crate::model::image::{self, Catalog};
use crate::model::record::{self, Records, running_id};
use crate::names;
use crate::protocol::fields::Fields;
use crate::protocol::reply::Outcome;
use crate::protocol::reply::info;
use crate::protocol::request::{Request, Secret};
use crate::render::now_iso;
use crate::runtime::connect::ensure_supported;
use crate::runtime::error::Failure;
use crate::runtime::plan::{
    self, Existing, Phase, RecordFields, StartRequest, Urls, catalog_image,
};
use crate::runtime::secrets::Secrets;
use crate::runtime::state::State;
use crate::runtime::{Found, Runtime, Workload, find_recorded};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

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
/// Bound of one health probe during a start.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

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
    ensure_supported(want.cluster)?;
    let store = ctx.store(req).await?;
    let (conn, catalog, found) = tokio::join!(
        SavedConnection::load(&store, want.cluster),
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
        .and_then(|r| super::saved::other_manager(r, &manager))
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
            return Err(ApiError::bad_request(format!(
                "A DEV container needs a Jupyter password: save jupyter_passwd (or \
                 jupyter_password) with the {} connection; the image refuses to start \
                 Jupyter without one.",
                want.cluster.as_str()
            )));
        }
        None => None,
    };
    let (token, generated) = ensure_api_token(&store, want.cluster, &mut conn.secrets).await?;
    // `| fit` and `| apply` read the token where the toolkit keeps it.
    mirror_api_token(&store, &token).await?;
    if generated {
        messages.push(info(
            "No api_token was stored; a new one was generated and stored for this connection.",
        ));
    }
    let rt = conn.connect().await?;
    messages.extend(warnings(&rt));
    let (workload, spec_hash) = workload(
        &want,
        &image_ref,
        &manager,
        &conn.stanza,
        &conn.secrets,
        &token,
        jupyter.as_deref(),
    );
    Start {
        runtime: &rt,
        records: &store,
        want: &want,
        workload: &workload,
        spec_hash: &spec_hash,
        token: &token,
        manager: &manager,
        connection: &conn.name,
        image: &entry.image,
        deadline,
    }
    .run(found.as_ref(), messages)
    .await
}

/// What a start of `want` runs: the workload of the plan (name, image, environment from the
/// connection, labels, ports) and its spec hash.
pub fn workload(
    want: &StartRequest,
    image_ref: &str,
    manager: &str,
    connection: &Stanza,
    secrets: &Secrets,
    token: &Secret,
    jupyter_hash: Option<&str>,
) -> (Workload, String) {
    let spec_hash = plan::spec_hash(image_ref, want.mode, want.gpu);
    let workload = Workload {
        name: names::runtime_name(&want.model),
        image: image_ref.to_string(),
        env: plan::environment(
            connection,
            secrets,
            want.mode,
            plan::serves_https(connection),
            token,
            jupyter_hash,
        ),
        labels: plan::labels(&want.model, manager, want.mode, &spec_hash),
        ports: plan::ports(want.mode, &want.model),
        gpu: want.gpu,
        tuning: want.tuning.clone(),
    };
    (workload, spec_hash)
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

/// One start, once everything it needs is read: the state machine of a start, on any
/// runtime and record store.
pub struct Start<'a, R, S> {
    /// Where the workload runs.
    pub runtime: &'a R,
    /// Where its record is kept.
    pub records: &'a S,
    /// What was asked.
    pub want: &'a StartRequest,
    /// What runs.
    pub workload: &'a Workload,
    /// The spec hash of [`plan::spec_hash`] (also in the workload's labels).
    pub spec_hash: &'a str,
    /// The API token the container's API wants.
    pub token: &'a Secret,
    /// This search head's manager id.
    pub manager: &'a str,
    /// The connection's name, for the record.
    pub connection: &'a str,
    /// `name:tag` of the catalog image, for the record and the reply.
    pub image: &'a str,
    /// When the start must have answered ([`START_BUDGET`]).
    pub deadline: Instant,
}

impl<R: Runtime, S: Records> Start<'_, R, S> {
    /// Runs the start: `found` is the model's record as read before. The runtime's name
    /// uniqueness decides between concurrent starts; a lost race is waited out, and a
    /// leftover or vanished workload gives one more try.
    pub async fn run(
        &self,
        found: Option<&Stanza>,
        mut messages: Vec<Value>,
    ) -> Result<Outcome, ApiError> {
        self.refuse_other_recorded_container(found).await?;
        for note in self.runtime.preflight(self.workload, self.deadline).await? {
            messages.push(info(&note));
        }
        let name = &self.workload.name;
        for _ in 0..2 {
            if let Some(existing) = self.runtime.find(name).await? {
                let label_of = |k: &str| existing.labels.get(k).cloned();
                let state = &existing.observed.state;
                match plan::existing(label_of, state, self.manager, self.spec_hash) {
                    Existing::Running => {
                        return self.already_running(existing, found, messages).await;
                    }
                    Existing::InProgress => match self.wait_for_other().await? {
                        Some(outcome) => return Ok(with_messages(outcome, messages)),
                        None => continue,
                    },
                    Existing::Replaceable => {
                        self.runtime.remove(&existing.observed.id).await?;
                    }
                    Existing::Different => {
                        return Err(ApiError::conflict(format!(
                            "Model {} already runs with a different image, mode or GPU \
                             setting (container {}); stop it first with POST \
                             /mltk/stop_container.",
                            self.want.model, existing.observed.name
                        )));
                    }
                    Existing::Foreign => {
                        return Err(ApiError::conflict(format!(
                            "A container named {name} exists on the engine but was not started \
                             by this search head; remove or rename it, or start the model under \
                             another name."
                        )));
                    }
                }
            }
            match self.runtime.create(self.workload).await {
                Ok(id) => return self.finish(&id, messages).await,
                // Another process created it between our look and our create: wait for it.
                Err(e) if e.kind == Failure::AlreadyExists => match self.wait_for_other().await? {
                    Some(outcome) => return Ok(with_messages(outcome, messages)),
                    None => continue,
                },
                Err(e) => return Err(e.into()),
            }
        }
        Err(ApiError::conflict(format!(
            "Another start of model {} is in progress; try again in a moment.",
            self.want.model
        )))
    }

    /// 409 when the record names a live container other than the one this start would make
    /// (a toolkit-started container, say): starting would leave it running unrecorded.
    async fn refuse_other_recorded_container(
        &self,
        found: Option<&Stanza>,
    ) -> Result<(), ApiError> {
        let Some(id) = found.and_then(running_id) else {
            return Ok(());
        };
        match find_recorded(self.runtime, &self.want.model, id).await? {
            Some(c) if c.observed.name != self.workload.name && c.observed.state.is_alive() => {
                Err(ApiError::conflict(format!(
                    "Model {} already has a container ({}, {}) recorded; stop it first with POST \
                     /mltk/stop_container.",
                    self.want.model, c.observed.name, c.observed.state
                )))
            }
            _ => Ok(()),
        }
    }

    /// Starts the created workload, records it, waits for readiness. Any failure removes
    /// the workload and the record again.
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
                if let Err(cleanup) = self.runtime.remove(id).await {
                    crate::log::fault(&format!(
                        "start of {} failed and its container {id} could not be removed: {}",
                        self.want.model, cleanup.message
                    ));
                }
                if recorded && let Err(cleanup) = self.records.delete(&self.want.model).await {
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
        self.runtime.start(id).await.map_err(|e| match e.kind {
            Failure::NotFound => ApiError::conflict(format!(
                "The container of model {} was removed while it was being started (a stop at the \
                 same time?); start it again.",
                self.want.model
            )),
            _ => e.into(),
        })?;
        let found = self
            .runtime
            .find(id)
            .await?
            .ok_or_else(|| self.vanished())?;
        let (first, pending) = self.urls(&found);
        let started_at = now_iso();
        let starting = self.record(id, &first, Phase::Starting, &started_at);
        self.records
            .put(&self.want.model, &starting.pairs())
            .await?;
        *recorded = true;
        let (phase, reason, urls) = self.wait_ready(id, first.clone(), pending).await?;
        if phase == Phase::Ready || urls != first {
            let now = self.record(id, &urls, phase, &started_at);
            self.records.put(&self.want.model, &now.pairs()).await?;
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

    /// The URLs of the running workload; empty, with the reason, while the runtime cannot
    /// tell them yet (a load balancer still being made): a later look fills them in.
    fn urls(&self, found: &Found) -> (Urls, Option<String>) {
        match self.runtime.urls(found, &self.workload.ports) {
            Ok(urls) => (urls, None),
            Err(why) => (Urls::default(), Some(why)),
        }
    }

    /// One health probe of the workload's API.
    async fn probe(&self, urls: &Urls) -> crate::runtime::probe::Probe {
        let probes = self
            .runtime
            .probe(&[urls.api_url.as_str()], self.token, PROBE_TIMEOUT)
            .await;
        probes
            .into_iter()
            .next()
            .unwrap_or_else(|| crate::runtime::probe::Probe::fail("not probed"))
    }

    /// Probes until the API answers, the workload stops or goes, or the wait is over; URLs
    /// not known yet (`pending` says why) are looked for on the way. The phase reached, why
    /// not ready, and the URLs.
    async fn wait_ready(
        &self,
        id: &str,
        mut urls: Urls,
        mut pending: Option<String>,
    ) -> Result<(Phase, String, Urls), ApiError> {
        let until = (Instant::now() + self.want.wait).min(self.deadline);
        loop {
            let p = match &pending {
                Some(why) => crate::runtime::probe::Probe::fail(why.clone()),
                None => self.probe(&urls).await,
            };
            if p.ok {
                return Ok((Phase::Ready, String::new(), urls));
            }
            let now = self
                .runtime
                .find(id)
                .await?
                .ok_or_else(|| self.vanished())?;
            if now.observed.state != State::Running || now.observed.failure.is_some() {
                return Err(self.ended(id, &now).await);
            }
            if pending.is_some() {
                (urls, pending) = self.urls(&now);
            }
            if Instant::now() >= until {
                return Ok((Phase::Starting, p.detail, urls));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The error for a workload that is no longer running during its start. A stop by
    /// another request removes it right after it exits, so one gone within
    /// [`REMOVAL_WINDOW`] was stopped on purpose (409); one still there died on its own (502).
    async fn ended(&self, id: &str, c: &Found) -> ApiError {
        let until = Instant::now() + REMOVAL_WINDOW;
        while Instant::now() < until {
            match self.runtime.find(id).await {
                Ok(None) => return self.vanished(),
                Ok(Some(_)) => tokio::time::sleep(Duration::from_millis(100)).await,
                Err(_) => break,
            }
        }
        self.died(id, c).await
    }

    /// The error for a workload that stopped during its start: its exit code and last
    /// output, with every secret of its environment masked.
    async fn died(&self, id: &str, c: &Found) -> ApiError {
        let tail = self
            .runtime
            .logs(id, 20, None, false)
            .await
            .unwrap_or_default();
        let output: Vec<String> = tail.entries.into_iter().map(|e| e.log).collect();
        let secrets: Vec<&str> = self
            .workload
            .env
            .0
            .iter()
            .filter(|(k, _)| names::is_secret_name(k))
            .map(|(_, v)| v.as_str())
            .collect();
        let quoted = names::mask(&output.join(" | "), &secrets);
        let what = match &c.observed.failure {
            Some(why) => format!("The container could not start ({why})"),
            None => format!(
                "The container stopped during start ({}, exit code {})",
                c.observed.state,
                c.observed.exit_code.unwrap_or(-1)
            ),
        };
        ApiError::new(
            ErrorKind::BadGateway,
            format!("{what}; its last output: {}", names::excerpt(&quoted, 2000)),
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
            runtime_name: &self.workload.name,
            mode: self.want.mode,
            cluster: self.runtime.kind(),
            image: self.image,
            gpu: self.want.gpu,
            urls,
            phase,
            manager_id: self.manager,
            connection_name: self.connection,
            started_at,
        }
    }

    /// The reply for a workload that runs with this spec.
    fn reply(&self, id: &str, urls: &Urls, phase: Phase, changed: bool) -> Outcome {
        Outcome::ok(json!({
            "message": if changed {
                "The container started successfully"
            } else {
                "The container is already running"
            },
            "updated_config": {
                "container_id": id,
                "container_name": self.workload.name,
                "mode": self.want.mode.as_str(),
                "cluster": self.runtime.kind().as_str(),
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

    /// The model already runs with this spec: make sure the record (`stored`, as this request
    /// read it) says so, change nothing else.
    async fn already_running(
        &self,
        c: Found,
        stored: Option<&Stanza>,
        mut messages: Vec<Value>,
    ) -> Result<Outcome, ApiError> {
        let (urls, pending) = self.urls(&c);
        let id = c.observed.id.clone();
        let phase = if pending.is_none() && self.probe(&urls).await.ok {
            Phase::Ready
        } else {
            Phase::Starting
        };
        if stored.and_then(running_id) != Some(id.as_str()) {
            let started_at = now_iso();
            let fields = self.record(&id, &urls, phase, &started_at);
            self.records.put(&self.want.model, &fields.pairs()).await?;
            messages.push(info("The record was missing or stale and was rewritten."));
        }
        Ok(with_messages(
            self.reply(&id, &urls, phase, false),
            messages,
        ))
    }

    /// Another start created the workload: its outcome once it runs, `None` when there is
    /// nothing to wait for (it vanished, or it is a leftover that was removed).
    async fn wait_for_other(&self) -> Result<Option<Outcome>, ApiError> {
        let until = (Instant::now() + RACE_WAIT).min(self.deadline);
        loop {
            // The engine reserves a name before the container can be inspected, so a
            // workload that is not there yet is waited for too.
            let current = self.runtime.find(&self.workload.name).await?;
            match current {
                Some(c) if c.observed.state == State::Running => {
                    let label_of = |k: &str| c.labels.get(k).cloned();
                    let state = &c.observed.state;
                    return match plan::existing(label_of, state, self.manager, self.spec_hash) {
                        Existing::Running => {
                            let (urls, _) = self.urls(&c);
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
                Some(c) if c.observed.state == State::Created && c.older_than(LEFTOVER_AGE) => {
                    self.runtime.remove(&c.observed.id).await?;
                    return Ok(None);
                }
                Some(c) if c.observed.state != State::Created => return Ok(None),
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

#[cfg(test)]
mod tests {
    //! The start state machine on the in-memory runtime, including the branches only a rare
    //! race reaches on a real engine (a leftover of a start that died half-way, a start
    //! still under way, a stop during the start).

    use super::*;
    use crate::model::record::{MemoryRecords, Mode};
    use crate::names::ContainerType;
    use crate::runtime::fake::Fake;
    use crate::runtime::label;
    use std::collections::HashMap;

    const MANAGER: &str = "sh-1";

    /// What a start of `model` with `image` (and extra environment) would run.
    struct Case {
        want: StartRequest,
        workload: Workload,
        spec_hash: String,
        token: Secret,
        budget: Duration,
    }

    fn case(model: &str, image: &str, env: &[(&str, &str)]) -> Case {
        let want = StartRequest {
            model: model.into(),
            image: image.into(),
            mode: Mode::Prod,
            cluster: ContainerType::Docker,
            gpu: false,
            wait: Duration::from_secs(2),
            tuning: Default::default(),
        };
        let token = Secret::new("t0ken");
        let connection = Stanza::new("docker");
        let (mut workload, spec_hash) = workload(
            &want,
            image,
            MANAGER,
            &connection,
            &Secrets::default(),
            &token,
            None,
        );
        for (k, v) in env {
            workload.env.set(k, *v);
        }
        Case {
            want,
            workload,
            spec_hash,
            token,
            budget: START_BUDGET,
        }
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    async fn run(rt: &Fake, records: &MemoryRecords, c: &Case) -> Result<Outcome, ApiError> {
        let found = records.get(&c.want.model).await?;
        Start {
            runtime: rt,
            records,
            want: &c.want,
            workload: &c.workload,
            spec_hash: &c.spec_hash,
            token: &c.token,
            manager: MANAGER,
            connection: "conn",
            image: &c.want.image,
            deadline: Instant::now() + c.budget,
        }
        .run(found.as_ref(), Vec::new())
        .await
    }

    fn body(o: &Outcome) -> &Value {
        match o {
            Outcome::Object { body, .. } => body,
            other => panic!("not an object reply: {other:?}"),
        }
    }

    fn labels_of(c: &Case) -> HashMap<String, String> {
        c.workload.labels.clone().into_iter().collect()
    }

    #[test]
    fn a_start_records_the_workload_once_its_api_answers() {
        let (rt, records) = (Fake::new(), MemoryRecords::default());
        let c = case("m1", "r/img:1", &[]);
        let reply = block_on(run(&rt, &records, &c)).unwrap();
        let config = &body(&reply)["updated_config"];
        assert_eq!(config["changed"], true);
        assert_eq!(config["phase"], "ready");
        let id = config["container_id"].as_str().unwrap();
        assert_eq!(id.len(), 64);
        let record = &records.all()[0];
        assert_eq!(record.get("id"), Some(id));
        assert_eq!(record.get("phase"), Some("ready"));
        assert_eq!(record.get("status"), Some(record::ACTIVE));
        assert_eq!(record.get("cluster"), Some("docker"));
        assert!(record.get("api_url").unwrap().starts_with("http://"));
    }

    #[test]
    fn a_repeated_start_rewrites_a_lost_record_and_nothing_else() {
        let (rt, records) = (Fake::new(), MemoryRecords::default());
        let c = case("m0", "r/img:1", &[]);
        let first = block_on(run(&rt, &records, &c)).unwrap();
        let id = body(&first)["updated_config"]["container_id"].clone();
        let again = block_on(run(&rt, &records, &c)).unwrap();
        assert_eq!(body(&again)["updated_config"]["changed"], false);
        assert!(
            body(&again).get("messages").is_none(),
            "the record was right"
        );
        block_on(records.delete("m0")).unwrap();
        let lost = block_on(run(&rt, &records, &c)).unwrap();
        assert_eq!(body(&lost)["updated_config"]["container_id"], id);
        assert!(
            body(&lost)["messages"][0]["text"]
                .as_str()
                .unwrap()
                .contains("rewritten")
        );
        assert_eq!(records.all()[0].get("id"), id.as_str());
        assert_eq!(rt.workloads().len(), 1);
    }

    #[test]
    fn a_leftover_of_a_start_that_died_half_way_is_replaced() {
        let (rt, records) = (Fake::new(), MemoryRecords::default());
        let c = case("m2", "r/img:1", &[]);
        // Made long ago and never started: the start that made it is gone.
        let leftover = rt.insert(
            &c.workload.name,
            labels_of(&c),
            State::Created,
            LEFTOVER_AGE * 2,
        );
        let reply = block_on(run(&rt, &records, &c)).unwrap();
        let id = body(&reply)["updated_config"]["container_id"]
            .as_str()
            .unwrap()
            .to_string();
        assert_ne!(id, leftover);
        let left: Vec<String> = rt.workloads().into_iter().map(|w| w.id).collect();
        assert_eq!(left, vec![id], "the leftover is removed, the new one runs");
    }

    #[test]
    fn a_start_still_under_way_is_waited_for_then_a_conflict() {
        let (rt, records) = (Fake::new(), MemoryRecords::default());
        let mut c = case("m3", "r/img:1", &[]);
        c.budget = Duration::from_millis(600);
        // Made just now by another start that has not started it yet.
        let other = rt.insert(
            &c.workload.name,
            labels_of(&c),
            State::Created,
            Duration::ZERO,
        );
        let e = block_on(run(&rt, &records, &c)).unwrap_err();
        assert_eq!(e.status(), 409, "{}", e.message);
        assert!(e.message.contains("still in progress"), "{}", e.message);
        assert_eq!(
            rt.workloads()[0].id,
            other,
            "the other start's workload is left"
        );
        assert!(records.all().is_empty());
    }

    #[test]
    fn a_stopped_workload_of_ours_is_replaced_and_a_foreign_one_refused() {
        let (rt, records) = (Fake::new(), MemoryRecords::default());
        let c = case("m4", "r/img:1", &[]);
        let old = rt.insert(&c.workload.name, labels_of(&c), State::Exited, LEFTOVER_AGE);
        let reply = block_on(run(&rt, &records, &c)).unwrap();
        assert_ne!(body(&reply)["updated_config"]["container_id"], old.as_str());
        assert_eq!(rt.workloads().len(), 1);

        let c = case("m5", "r/img:1", &[]);
        let theirs = HashMap::from([("com.example".to_string(), "db".to_string())]);
        rt.insert(&c.workload.name, theirs, State::Running, LEFTOVER_AGE);
        let e = block_on(run(&rt, &records, &c)).unwrap_err();
        assert_eq!(e.status(), 409);
        assert!(
            e.message.contains("not started by this search head"),
            "{}",
            e.message
        );
        assert_eq!(rt.workloads().len(), 2, "the foreign workload is untouched");
    }

    #[test]
    fn a_workload_that_dies_during_its_start_leaves_nothing_behind() {
        let (rt, records) = (Fake::new(), MemoryRecords::default());
        let c = case(
            "m6",
            "r/img:1",
            &[("DSDL_TEST_PORT", "5999"), ("DSDL_TEST_EXIT_AFTER", "0.2")],
        );
        let e = block_on(run(&rt, &records, &c)).unwrap_err();
        assert_eq!(e.status(), 502, "{}", e.message);
        assert!(e.message.contains("exit code 3"), "{}", e.message);
        assert!(e.message.contains("exiting with code 3"), "{}", e.message);
        assert!(rt.workloads().is_empty(), "the workload is removed");
        assert!(records.all().is_empty(), "the record is removed");
    }

    #[test]
    fn an_api_that_never_answers_gives_starting_within_the_wait() {
        let (rt, records) = (Fake::new(), MemoryRecords::default());
        let mut c = case("m7", "r/img:1", &[("DSDL_TEST_PORT", "5999")]);
        c.want.wait = Duration::from_millis(500);
        let started = Instant::now();
        let reply = block_on(run(&rt, &records, &c)).unwrap();
        assert!(started.elapsed() < Duration::from_secs(3));
        assert_eq!(body(&reply)["updated_config"]["phase"], "starting");
        assert!(
            body(&reply)["messages"][0]["text"]
                .as_str()
                .unwrap()
                .contains("did not answer yet")
        );
        assert_eq!(records.all()[0].get("phase"), Some("starting"));
    }

    #[test]
    fn a_wrong_token_is_not_ready() {
        let (rt, records) = (Fake::new(), MemoryRecords::default());
        let mut c = case("m8", "r/img:1", &[("api_token", "another")]);
        c.want.wait = Duration::from_millis(300);
        let reply = block_on(run(&rt, &records, &c)).unwrap();
        assert_eq!(body(&reply)["updated_config"]["phase"], "starting");
    }

    #[test]
    fn a_stop_during_the_start_is_a_conflict_not_a_failure() {
        let (rt, records) = (Fake::new(), MemoryRecords::default());
        let mut c = case("m9", "r/img:1", &[("DSDL_TEST_PORT", "5999")]);
        c.want.wait = Duration::from_secs(5);
        let (start, stopped) = block_on(async {
            let stop = async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                super::super::stop::stop_workloads(&rt, MANAGER, "m9", None).await
            };
            tokio::join!(run(&rt, &records, &c), stop)
        });
        assert_eq!(stopped.unwrap().len(), 1);
        let e = start.unwrap_err();
        assert_eq!(e.status(), 409, "{}", e.message);
        assert!(e.message.contains("stopped and removed by another request"));
        assert!(records.all().is_empty());
    }

    #[test]
    fn a_missing_image_is_404_before_anything_is_made() {
        let (rt, records) = (Fake::new(), MemoryRecords::default());
        rt.without_image("r/gone:1");
        let c = case("m10", "r/gone:1", &[]);
        let e = block_on(run(&rt, &records, &c)).unwrap_err();
        assert_eq!(e.status(), 404);
        assert!(!rt.calls().contains(&"create".to_string()));
    }

    #[test]
    fn a_recorded_toolkit_container_is_not_orphaned_by_a_start() {
        let (rt, records) = (Fake::new(), MemoryRecords::default());
        let c = case("m11", "r/img:1", &[]);
        let toolkit = HashMap::from([(label::LEGACY_CONTAINER.to_string(), String::new())]);
        let theirs = rt.insert("dsdl_m11", toolkit, State::Running, LEFTOVER_AGE);
        block_on(records.put("m11", &[("id".into(), theirs.clone())])).unwrap();
        let e = block_on(run(&rt, &records, &c)).unwrap_err();
        assert_eq!(e.status(), 409);
        assert!(
            e.message.contains("already has a container"),
            "{}",
            e.message
        );
        assert_eq!(rt.workloads().len(), 1);
    }
}
