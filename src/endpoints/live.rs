//! The live side of `GET /mltk/container_data`: each Docker record joined with what the
//! engine reports for its container and with a health probe of its API (concurrent, each
//! bounded), all within one deadline; containers this search head runs that no record names
//! are reported as orphans and left alone. When the engine cannot be asked, the records are
//! still listed, with state "unknown" and the reason.

use super::docker::{DockerConnection, manager_id, other_manager, prober, skip_verify_note};
use super::warn;
use crate::conffile::Stanza;
use crate::model::record::{self, running_id};
use crate::names::ContainerType;
use crate::protocol::request::{Request, Secret};
use crate::runtime::docker::Engine;
use crate::runtime::plan::label;
use crate::runtime::probe::{Probe, Prober};
use crate::runtime::state::{self, Live, Observed};
use crate::splunkd::SplunkdClient;
use futures_util::future::join_all;
use serde_json::{Map, Value};
use std::time::Duration;

/// Bound of one health probe.
const PROBE_TIMEOUT: Duration = Duration::from_millis(1500);
/// Bound of the whole live view (listing, inspections, probes).
const LIVE_DEADLINE: Duration = Duration::from_secs(5);

/// Rows, orphans and messages for `container_data`.
pub struct LiveView {
    /// Record name to its row.
    pub rows: Map<String, Value>,
    /// Containers of this search head without a record.
    pub orphans: Vec<Value>,
    /// What the caller should know (engine not asked, orphans, skipped TLS checks).
    pub messages: Vec<Value>,
}

/// The engine's answers for one request.
struct Seen {
    containers: Vec<Observed>,
    probes: Vec<Option<Probe>>,
}

/// Joins `records` with the engine's live view.
pub async fn live_rows(store: &SplunkdClient, req: &Request, records: &[Stanza]) -> LiveView {
    let manager = manager_id(req);
    let mut messages = Vec::new();
    let is_docker = |r: &Stanza| record::cluster(r) == Ok(ContainerType::Docker);
    let seen = if records.iter().any(is_docker) {
        match tokio::time::timeout(
            LIVE_DEADLINE,
            observe(store, &manager, records, &mut messages),
        )
        .await
        {
            Ok(Ok(seen)) => Ok(seen),
            Ok(Err(why)) => Err(why),
            Err(_) => Err(format!(
                "the Docker engine did not answer within {} s",
                LIVE_DEADLINE.as_secs()
            )),
        }
    } else {
        Err(String::new())
    };
    if let Err(why) = &seen
        && !why.is_empty()
    {
        messages.push(warn(&format!("Live state was not checked: {why}")));
    }
    let mut rows = Map::new();
    for (i, r) in records.iter().enumerate() {
        let live = match (&seen, record::cluster(r)) {
            _ if running_id(r).is_none() => Live::NoContainer,
            (_, Ok(ContainerType::Kubernetes)) => {
                Live::Unchecked("Kubernetes state is not checked by this version".into())
            }
            (_, Err(other)) => Live::Unchecked(format!("unknown cluster {other:?}")),
            _ if other_manager(r, &manager).is_some() => Live::Unchecked(format!(
                "managed by another search head ({}); its state is checked there",
                other_manager(r, &manager).unwrap_or_default()
            )),
            (Err(why), _) => Live::Unchecked(why.clone()),
            (Ok(seen), _) => state::find(r, &seen.containers),
        };
        let probe = seen
            .as_ref()
            .ok()
            .and_then(|s| s.probes.get(i).cloned().flatten());
        rows.insert(
            r.name.clone(),
            Value::Object(state::row(r, &live, probe.as_ref())),
        );
    }
    let orphans: Vec<Value> = match &seen {
        Ok(seen) => state::orphans(records, &seen.containers)
            .into_iter()
            .filter(|o| o.manager_id.as_deref() == Some(manager.as_str()))
            .map(state::orphan_json)
            .collect(),
        Err(_) => Vec::new(),
    };
    if !orphans.is_empty() {
        messages.push(warn(&format!(
            "{} container(s) started by this search head have no record (orphans); they were \
             left running. Stop them with POST /mltk/stop_container and their model name, or \
             remove them on the engine.",
            orphans.len()
        )));
    }
    LiveView {
        rows,
        orphans,
        messages,
    }
}

/// The engine's view of the app's containers (exit codes filled in for stopped ones) and a
/// probe of each running record's API; an error says why there is no view.
async fn observe(
    store: &SplunkdClient,
    manager: &str,
    records: &[Stanza],
    messages: &mut Vec<Value>,
) -> Result<Seen, String> {
    let conn = DockerConnection::load(store).await.map_err(|e| e.message)?;
    let (settings, engine) = conn.engine().map_err(|e| e.message)?;
    messages.extend(skip_verify_note(&settings));
    let mut containers = engine
        .list_labelled(label::LEGACY_CONTAINER, "")
        .await
        .map_err(|e| e.message)?;
    containers.retain(|c| c.manager_id.is_none() || c.manager_id.as_deref() == Some(manager));
    fill_exit_codes(&engine, &mut containers).await;
    let prober = prober(&settings, PROBE_TIMEOUT).map_err(|e| e.message)?;
    let token = conn.secrets.get("api_token").cloned();
    let probes = probe_running(&prober, token.as_ref(), records, &containers, manager).await;
    Ok(Seen { containers, probes })
}

/// Exit codes and OOM kills need an inspect; only for containers that are not running.
async fn fill_exit_codes(engine: &Engine, containers: &mut [Observed]) {
    let details = join_all(
        containers
            .iter()
            .filter(|c| c.state != "running")
            .map(|c| engine.inspect(&c.id)),
    )
    .await;
    for d in details.into_iter().flatten().flatten() {
        if let Some(c) = containers.iter_mut().find(|c| c.id == d.observed.id) {
            c.exit_code = d.observed.exit_code;
            c.oom_killed = d.observed.oom_killed;
        }
    }
}

/// A probe for each record whose container runs here (`None` for the others), concurrently.
async fn probe_running(
    prober: &Prober,
    token: Option<&Secret>,
    records: &[Stanza],
    containers: &[Observed],
    manager: &str,
) -> Vec<Option<Probe>> {
    join_all(records.iter().map(|r| async move {
        let running = matches!(state::find(r, containers), Live::Seen(o) if o.state == "running");
        if !running || other_manager(r, manager).is_some() {
            return None;
        }
        Some(match token {
            Some(t) => {
                prober
                    .probe(r.get(record::key::API_URL).unwrap_or_default(), t.expose())
                    .await
            }
            None => Probe {
                ok: false,
                detail: "no api_token is stored for the docker connection".into(),
            },
        })
    }))
    .await
}
