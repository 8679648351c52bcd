//! The live side of `GET /mltk/container_data`: each record joined with what its runtime
//! reports for its workload and with a health probe of its API (concurrent, each bounded),
//! all within one deadline; workloads this search head runs that no record names are
//! reported as orphans and left alone. When a runtime cannot be asked, its records are still
//! listed, with state "unknown" and the reason.

use super::saved::{SavedConnection, manager_id, other_manager, warnings};
use crate::conffile::Stanza;
use crate::model::record::Records;
use crate::model::record::{self, running_id};
use crate::names::ContainerType;
use crate::protocol::reply::warn;
use crate::protocol::request::{Request, Secret};
use crate::runtime::Runtime;
use crate::runtime::connect::ensure_supported;
use crate::runtime::label;
use crate::runtime::plan::Urls;
use crate::runtime::probe::Probe;
use crate::runtime::state::{self, Live, Observed, State};
use crate::splunkd::SplunkdClient;
use futures_util::future::join_all;
use serde_json::{Map, Value};
use std::collections::HashMap;
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
    /// What the caller should know (runtime not asked, orphans, skipped TLS checks).
    pub messages: Vec<Value>,
}

/// One runtime's answers for one request.
pub struct Seen {
    /// The DSDL workloads on it that this search head may report (its own and the toolkit's).
    pub containers: Vec<Observed>,
    /// Record name to the probe of its API, for records whose workload runs.
    pub probes: HashMap<String, Probe>,
    /// Record name to the URLs found now for a running workload recorded without them (its
    /// address was not known when it started).
    pub filled: HashMap<String, Urls>,
}

/// What is known of one runtime.
enum Observation {
    /// This build does not drive it; the text says so.
    Unsupported(String),
    /// It could not be asked; the text says why.
    Failed(String),
    /// Its answers.
    Seen(Seen),
}

/// Joins `records` with the live view of each runtime they use.
pub async fn live_rows(store: &SplunkdClient, req: &Request, records: &[Stanza]) -> LiveView {
    let manager = manager_id(req);
    let in_use: Vec<ContainerType> = [ContainerType::Docker, ContainerType::Kubernetes]
        .into_iter()
        .filter(|ty| records.iter().any(|r| record::cluster(r) == Ok(*ty)))
        .collect();
    let observed = join_all(
        in_use
            .iter()
            .map(|ty| observe_saved(store, *ty, &manager, records)),
    )
    .await;
    let mut messages = Vec::new();
    let mut seen: Vec<(ContainerType, Observation)> = Vec::new();
    for (ty, (observation, notes)) in in_use.into_iter().zip(observed) {
        messages.extend(notes);
        if let Observation::Failed(why) = &observation {
            messages.push(warn(&format!("Live state was not checked: {why}")));
        }
        seen.push((ty, observation));
    }
    let mut rows = Map::new();
    for r in records {
        let cluster = record::cluster(r);
        let observation = seen
            .iter()
            .find(|(ty, _)| cluster.as_ref() == Ok(ty))
            .map(|(_, o)| o);
        let live = match (observation, &cluster) {
            _ if running_id(r).is_none() => Live::NoContainer,
            (_, Err(other)) => Live::Unchecked(format!("unknown cluster {other:?}")),
            (Some(Observation::Unsupported(why)), _) => Live::Unchecked(why.clone()),
            _ if other_manager(r, &manager).is_some() => Live::Unchecked(format!(
                "managed by another search head ({}); its state is checked there",
                other_manager(r, &manager).unwrap_or_default()
            )),
            (Some(Observation::Failed(why)), _) => Live::Unchecked(why.clone()),
            (Some(Observation::Seen(s)), _) => state::find(r, &s.containers),
            (None, _) => Live::Unchecked("not checked".into()),
        };
        let probe = match observation {
            Some(Observation::Seen(s)) => s.probes.get(&r.name),
            _ => None,
        };
        let filled = match observation {
            Some(Observation::Seen(s)) => s.filled.get(&r.name),
            _ => None,
        };
        // URLs found now are written to the record, where `| fit` and `| apply` read them.
        let record = match filled {
            Some(urls) => {
                let pairs = urls.pairs();
                if let Err(e) = store.put(&r.name, &pairs).await {
                    messages.push(warn(&format!(
                        "The URLs of model {} were found but not recorded: {}",
                        r.name, e.message
                    )));
                }
                let mut updated = r.clone();
                for (k, v) in &pairs {
                    updated.set(k, v.clone());
                }
                updated
            }
            None => r.clone(),
        };
        rows.insert(
            r.name.clone(),
            Value::Object(state::row(&record, &live, probe)),
        );
    }
    let orphans: Vec<Value> = seen
        .iter()
        .filter_map(|(_, o)| match o {
            Observation::Seen(s) => Some(s),
            _ => None,
        })
        .flat_map(|s| state::orphans(records, &s.containers))
        .filter(|o| o.manager_id.as_deref() == Some(manager.as_str()))
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
    LiveView {
        rows,
        orphans,
        messages,
    }
}

/// The observation of the runtime `ty` through its saved connection, within
/// [`LIVE_DEADLINE`], with the connection's warnings.
async fn observe_saved(
    store: &SplunkdClient,
    ty: ContainerType,
    manager: &str,
    records: &[Stanza],
) -> (Observation, Vec<Value>) {
    if ensure_supported(ty).is_err() {
        let what = match ty {
            ContainerType::Docker => "Docker",
            ContainerType::Kubernetes => "Kubernetes",
        };
        return (
            Observation::Unsupported(format!("{what} state is not checked by this version")),
            Vec::new(),
        );
    }
    let ours: Vec<&Stanza> = records
        .iter()
        .filter(|r| record::cluster(r) == Ok(ty))
        .collect();
    let work = async {
        let conn = SavedConnection::load(store, ty)
            .await
            .map_err(|e| e.message)?;
        let rt = conn.connect().await.map_err(|e| e.message)?;
        let notes = warnings(&rt);
        let token = conn.secrets.get("api_token").cloned();
        let seen = observe(&rt, manager, &ours, token.as_ref())
            .await
            .map_err(|e| e.message)?;
        Ok::<_, String>((seen, notes))
    };
    match tokio::time::timeout(LIVE_DEADLINE, work).await {
        Ok(Ok((seen, notes))) => (Observation::Seen(seen), notes),
        Ok(Err(why)) => (Observation::Failed(why), Vec::new()),
        Err(_) => (
            Observation::Failed(format!(
                "the {} runtime did not answer within {} s",
                ty.as_str(),
                LIVE_DEADLINE.as_secs()
            )),
            Vec::new(),
        ),
    }
}

/// One runtime's view of the DSDL workloads this search head may report (exit codes known
/// for those that ended) and a probe of each running record's API, concurrently.
pub async fn observe<R: Runtime>(
    rt: &R,
    manager: &str,
    records: &[&Stanza],
    token: Option<&Secret>,
) -> Result<Seen, crate::runtime::error::RuntimeError> {
    let mut containers = rt.list(label::LEGACY_CONTAINER, "").await?;
    containers.retain(|c| c.manager_id.is_none() || c.manager_id.as_deref() == Some(manager));
    let running: Vec<&Stanza> = records
        .iter()
        .copied()
        .filter(|r| other_manager(r, manager).is_none())
        .filter(
            |r| matches!(state::find(r, &containers), Live::Seen(o) if o.state == State::Running),
        )
        .collect();
    // Records without URLs: ask the runtime once more (one look per such record only).
    let unaddressed = running
        .iter()
        .filter(|r| r.get(record::key::API_URL).unwrap_or_default().is_empty());
    let looks = join_all(unaddressed.map(|r| async move {
        let id = running_id(r)?;
        let found = rt.find(id).await.ok()??;
        let urls = rt.urls(&found, &[]).ok()?;
        Some((r.name.clone(), urls))
    }))
    .await;
    let filled: HashMap<String, Urls> = looks.into_iter().flatten().collect();
    let probes = match token {
        Some(t) => {
            let urls: Vec<&str> = running
                .iter()
                .map(|r| match filled.get(&r.name) {
                    Some(u) => u.api_url.as_str(),
                    None => r.get(record::key::API_URL).unwrap_or_default(),
                })
                .collect();
            rt.probe(&urls, t, PROBE_TIMEOUT).await
        }
        None => running
            .iter()
            .map(|_| Probe::fail("no api_token is stored for the connection"))
            .collect(),
    };
    let probes = running.iter().map(|r| r.name.clone()).zip(probes).collect();
    Ok(Seen {
        containers,
        probes,
        filled,
    })
}
