//! Deployment records (`dsdl_container.conf`, one stanza per model): which stanzas are
//! records, how they are classified (DEV/PROD, active/inactive, running), the reply bodies
//! built from them, and what removing one means. Pure: the endpoints fetch the stanzas with one
//! list call and hand them here.
//!
//! Choices (see the reference's quirk list and the design's decisions):
//! - `[default]` is splunkd's inheritance stanza, not a record, and is never reported;
//! - a record never carries a secret, so token- or password-like keys are dropped from every
//!   reply even if someone wrote one into the conf;
//! - live state (`state`, and a `status` of Active only when the API answers now) comes from
//!   the runtime, joined in [`crate::runtime::state`]; a stored `Active` is never trusted;
//! - `mode` is compared trimmed and case-insensitively; a record with no mode, or another
//!   mode, is in neither DEV nor PROD (the toolkit counted it as PROD);
//! - "active" keeps the toolkit's meaning: an `api_url` is recorded;
//! - "running" means a non-empty `id`: the runtime was given a container for it.

use crate::conffile::Stanza;
use crate::error::ApiError;
use crate::names::is_secret_name;
use serde_json::{Map, Value, json};

/// The conf holding the records.
pub const CONF: &str = "dsdl_container";

/// The shared development record, shipped in `default/` and therefore never deleted.
pub const DEV_RECORD: &str = "__dev__";

/// The stanza splunkd lists for inherited defaults; not a record.
pub const DEFAULT_STANZA: &str = "default";

/// A record's mode; also the mode a start asks for, so the runtimes and the records share it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `DEV`: a development container (API, Jupyter, TensorBoard, MLflow and Spark UI).
    Dev,
    /// `PROD`: a serving container (the API only).
    Prod,
}

impl Mode {
    /// `DEV` or `PROD`, as records and the container environment spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Dev => "DEV",
            Mode::Prod => "PROD",
        }
    }
}

/// The keys of a record that the handler writes or reads by name, spelled once.
pub mod key {
    /// The engine's container id; non-empty means a container was given for the record.
    pub const ID: &str = "id";
    /// `DEV` or `PROD`.
    pub const MODE: &str = "mode";
    /// `docker` or `kubernetes`; empty in records older than the key.
    pub const CLUSTER: &str = "cluster";
    /// `name:tag` of the image.
    pub const IMAGE: &str = "image";
    /// `nvidia` when a GPU was requested, else empty.
    pub const RUNTIME: &str = "runtime";
    /// The container's API; set means "active" in the toolkit's sense.
    pub const API_URL: &str = "api_url";
    /// The API as reached from outside the host.
    pub const API_URL_EXTERNAL: &str = "api_url_external";
    /// Jupyter (DEV only).
    pub const JUPYTER_URL: &str = "jupyter_url";
    /// TensorBoard (DEV only).
    pub const TENSORBOARD_URL: &str = "tensorboard_url";
    /// Spark UI (DEV only).
    pub const SPARK_URL: &str = "spark_url";
    /// MLflow (DEV only).
    pub const MLFLOW_URL: &str = "mlflow_url";
    /// One of the status words ([`super::ACTIVE`], [`super::WAITING`], ...).
    pub const STATUS: &str = "status";
    /// The search head that manages the container.
    pub const MANAGER_ID: &str = "manager_id";
    /// The runtime's name for the container.
    pub const RUNTIME_NAME: &str = "runtime_name";
    /// The connection the container runs through.
    pub const CONNECTION_NAME: &str = "connection_name";
    /// Readiness at the last write: `starting`, `ready` or `failed`.
    pub const PHASE: &str = "phase";
    /// Why a start failed, when `phase` is `failed`.
    pub const PHASE_REASON: &str = "phase_reason";
    /// When the container was started (ISO 8601).
    pub const STARTED_AT: &str = "started_at";
}

/// The mode of a record, trimmed and case-insensitive; `None` for no mode or another mode.
pub fn mode(record: &Stanza) -> Option<Mode> {
    match record
        .get(key::MODE)
        .map(|m| m.trim().to_ascii_uppercase())
        .as_deref()
    {
        Some("DEV") => Some(Mode::Dev),
        Some("PROD") => Some(Mode::Prod),
        _ => None,
    }
}

/// Whether the record names a container (`id` set): removing it would orphan that container.
pub fn running_id(record: &Stanza) -> Option<&str> {
    record
        .get(key::ID)
        .map(str::trim)
        .filter(|id| !id.is_empty())
}

/// The runtime a record's container runs on: `cluster` empty or `docker` is Docker (records
/// written before the key existed are Docker's), `kubernetes` is Kubernetes; any other value
/// is returned as an error for the caller to report.
pub fn cluster(record: &Stanza) -> Result<crate::names::ContainerType, String> {
    match record.get(key::CLUSTER).map(str::trim).unwrap_or_default() {
        "" => Ok(crate::names::ContainerType::Docker),
        other => crate::names::ContainerType::parse(other).map_err(|_| other.to_string()),
    }
}

/// Whether the record has an `api_url` (the toolkit's meaning of "active").
pub fn is_active(record: &Stanza) -> bool {
    record
        .get(key::API_URL)
        .is_some_and(|u| !u.trim().is_empty())
}

/// The records among listed stanzas: `[default]` dropped, and keys whose name looks like a
/// secret ([`is_secret_name`]) removed, so they never leave the handler.
pub fn records(stanzas: Vec<Stanza>) -> Vec<Stanza> {
    stanzas
        .into_iter()
        .filter(|s| s.name != DEFAULT_STANZA)
        .map(|mut s| {
            s.entries.retain(|(k, _)| !is_secret_name(k));
            s
        })
        .collect()
}

/// `status` when the container's API answers now.
pub const ACTIVE: &str = "Active";
/// `status` of a running container whose API does not answer (yet): the toolkit probe's word.
pub const WAITING: &str = "Waiting for Url to start";
/// `status` of a record without a running container (none recorded, gone, exited, killed).
pub const INACTIVE: &str = "Inactive";
/// `status` when the container's state could not be checked.
pub const UNKNOWN: &str = "Unknown";

/// The keys the AI Toolkit's record replies always carry (its `dsdl_container.conf` layout);
/// its UI and scripts index them directly, so a missing one reads as `""`, never as absent.
pub const TOOLKIT_KEYS: &[&str] = &[
    key::ID,
    key::MODE,
    key::CLUSTER,
    key::IMAGE,
    key::RUNTIME,
    key::API_URL,
    key::API_URL_EXTERNAL,
    key::JUPYTER_URL,
    key::TENSORBOARD_URL,
    key::SPARK_URL,
    key::MLFLOW_URL,
    key::STATUS,
];

/// A record's keys as a JSON object, in stored order, then any of [`TOOLKIT_KEYS`] it lacks
/// as `""`.
pub fn content(record: &Stanza) -> Map<String, Value> {
    let mut out: Map<String, Value> = record
        .entries
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    for k in TOOLKIT_KEYS {
        out.entry(*k)
            .or_insert_with(|| Value::String(String::new()));
    }
    out
}

/// `config` of `GET container_logs`: records by mode (`DEV`, `PROD`) and by whether an
/// `api_url` is recorded (`ACTIVE`, `INACTIVE`); also the names in neither mode group.
pub fn groups(records: &[Stanza]) -> (Map<String, Value>, Vec<String>) {
    let (mut dev, mut prod, mut active, mut inactive) =
        (Map::new(), Map::new(), Map::new(), Map::new());
    let mut modeless = Vec::new();
    for r in records {
        let c = Value::Object(content(r));
        match mode(r) {
            Some(Mode::Dev) => {
                dev.insert(r.name.clone(), c.clone());
            }
            Some(Mode::Prod) => {
                prod.insert(r.name.clone(), c.clone());
            }
            None => modeless.push(r.name.clone()),
        }
        if is_active(r) {
            active.insert(r.name.clone(), c);
        } else {
            inactive.insert(r.name.clone(), c);
        }
    }
    let mut out = Map::new();
    out.insert("DEV".into(), Value::Object(dev));
    out.insert("PROD".into(), Value::Object(prod));
    out.insert("ACTIVE".into(), Value::Object(active));
    out.insert("INACTIVE".into(), Value::Object(inactive));
    (out, modeless)
}

/// The counts of `GET start_container`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Records with an `api_url`.
    pub active: usize,
    /// Records without one.
    pub inactive: usize,
    /// Records in DEV mode.
    pub mode_dev: usize,
    /// Records in PROD mode (only those: the toolkit also counted modeless records here).
    pub mode_prod: usize,
    /// Records with no mode or another mode, in neither `mode_dev` nor `mode_prod`.
    pub mode_other: usize,
}

impl Counts {
    /// Counts `records`.
    pub fn of(records: &[Stanza]) -> Counts {
        let mut c = Counts::default();
        for r in records {
            if is_active(r) {
                c.active += 1;
            } else {
                c.inactive += 1;
            }
            match mode(r) {
                Some(Mode::Dev) => c.mode_dev += 1,
                Some(Mode::Prod) => c.mode_prod += 1,
                None => c.mode_other += 1,
            }
        }
        c
    }

    /// The `counts` object.
    pub fn to_json(self) -> Value {
        json!({
            "active": self.active,
            "inactive": self.inactive,
            "mode_dev": self.mode_dev,
            "mode_prod": self.mode_prod,
            "mode_other": self.mode_other,
        })
    }
}

/// How a record is removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    /// Delete the stanza.
    Delete,
    /// Set these keys to empty (the stanza ships in `default/` and cannot be deleted); an
    /// empty list means the record is already empty and nothing is written.
    Empty(Vec<String>),
}

/// What `DELETE start_container/{model}` does to an existing record once the model is deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemovalPlan {
    /// What to do to the stanza.
    pub removal: Removal,
    /// The container id the record named, when it was removed with `force` while running.
    pub forced_past: Option<String>,
}

/// Decides how to remove `record`: 409 while it names a container unless `force`; the dev
/// record is emptied, every other record deleted.
pub fn plan_removal(record: &Stanza, force: bool) -> Result<RemovalPlan, ApiError> {
    let running = running_id(record).map(str::to_string);
    if let Some(id) = &running
        && !force
    {
        return Err(ApiError::conflict(format!(
            "Model {} is recorded as running (container {id}); stop it first with \
             POST /mltk/stop_container, or pass force=true to stop it and delete the model.",
            record.name
        )));
    }
    let removal = if record.name == DEV_RECORD {
        emptying(record)
    } else {
        Removal::Delete
    };
    Ok(RemovalPlan {
        removal,
        forced_past: running,
    })
}

/// The keys to clear so `record` holds no deployment: every key that has a value.
pub fn emptying(record: &Stanza) -> Removal {
    Removal::Empty(
        record
            .entries
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, _)| k.clone())
            .collect(),
    )
}

/// The note for a model deleted with `force` while its record named a container.
pub fn forced_note(model: &str, removed: &[String]) -> String {
    if removed.is_empty() {
        format!("Model {model} was recorded as running, but its container no longer exists.")
    } else {
        format!(
            "Model {model} was running; force=true stopped and removed its container ({}) \
             before the model was deleted.",
            removed.join(", ")
        )
    }
}

/// Where the deployment records live, as a start, a stop and the live view use them: the
/// splunkd conf in production, [`MemoryRecords`] in tests of the endpoint logic.
#[allow(async_fn_in_trait)]
pub trait Records {
    /// The record of `model`, if any.
    async fn get(&self, model: &str) -> Result<Option<Stanza>, ApiError>;
    /// Writes these keys of `model`'s record, creating it when missing.
    async fn put(&self, model: &str, pairs: &[(String, String)]) -> Result<(), ApiError>;
    /// Deletes `model`'s record; whether there was one.
    async fn delete(&self, model: &str) -> Result<bool, ApiError>;
}

/// Records held in memory (tests).
#[derive(Debug, Default)]
pub struct MemoryRecords(std::cell::RefCell<std::collections::BTreeMap<String, Stanza>>);

impl MemoryRecords {
    /// Every record, by name.
    pub fn all(&self) -> Vec<Stanza> {
        self.0.borrow().values().cloned().collect()
    }
}

impl Records for MemoryRecords {
    async fn get(&self, model: &str) -> Result<Option<Stanza>, ApiError> {
        Ok(self.0.borrow().get(model).cloned())
    }

    async fn put(&self, model: &str, pairs: &[(String, String)]) -> Result<(), ApiError> {
        let mut all = self.0.borrow_mut();
        let record = all
            .entry(model.to_string())
            .or_insert_with(|| Stanza::new(model));
        for (k, v) in pairs {
            record.set(k, v.clone());
        }
        Ok(())
    }

    async fn delete(&self, model: &str) -> Result<bool, ApiError> {
        Ok(self.0.borrow_mut().remove(model).is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(name: &str, keys: &[(&str, &str)]) -> Stanza {
        Stanza {
            name: name.into(),
            entries: keys
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn sample() -> Vec<Stanza> {
        records(vec![
            rec("default", &[("mode", "DEV")]),
            rec("__dev__", &[("id", ""), ("mode", ""), ("api_url", "")]),
            rec(
                "m_dev",
                &[("id", "abc"), ("mode", " dev "), ("api_url", "http://h:1")],
            ),
            rec(
                "m_prod",
                &[("id", "def"), ("mode", "PROD"), ("api_url", "")],
            ),
            rec("m_odd", &[("mode", "staging"), ("api_url", "http://h:2")]),
        ])
    }

    #[test]
    fn default_stanza_and_secret_keys_are_dropped() {
        let r = records(vec![
            rec("default", &[]),
            rec(
                "m",
                &[
                    ("id", "1"),
                    ("api_token", "s3"),
                    ("jupyter_passwd", "x"),
                    ("client_key", "k"),
                    ("aws_secret_access_key", "a"),
                    ("splunk_hec_token", "t"),
                    ("api_url", "u"),
                ],
            ),
        ]);
        assert_eq!(r.len(), 1);
        let keys: Vec<&str> = r[0].entries.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["id", "api_url"]);
    }

    #[test]
    fn grouping_by_mode_and_api_url() {
        let (g, modeless) = groups(&sample());
        let names = |k: &str| -> Vec<String> {
            g[k].as_object()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default()
        };
        assert_eq!(names("DEV"), ["m_dev"]);
        assert_eq!(names("PROD"), ["m_prod"]);
        assert_eq!(names("ACTIVE"), ["m_dev", "m_odd"]);
        assert_eq!(names("INACTIVE"), ["__dev__", "m_prod"]);
        assert_eq!(modeless, ["__dev__", "m_odd"]);
        assert_eq!(g["DEV"]["m_dev"]["id"], "abc");
    }

    #[test]
    fn every_toolkit_key_is_in_a_reply_even_when_not_stored() {
        let c = content(&rec("m", &[("mode", "PROD"), ("extra", "x")]));
        for k in TOOLKIT_KEYS {
            assert!(c[*k].is_string(), "{k}");
        }
        assert_eq!(c["mode"], "PROD");
        assert_eq!(c["api_url"], "");
        assert_eq!(c["extra"], "x");
        let (g, _) = groups(&sample());
        assert_eq!(g["INACTIVE"]["m_prod"]["jupyter_url"], "");
    }

    #[test]
    fn counts_fix_the_prod_quirk() {
        let c = Counts::of(&sample());
        assert_eq!(
            c,
            Counts {
                active: 2,
                inactive: 2,
                mode_dev: 1,
                mode_prod: 1,
                mode_other: 2,
            }
        );
        assert_eq!(c.to_json()["mode_prod"], 1);
        assert_eq!(Counts::of(&[]), Counts::default());
    }

    #[test]
    fn removal_refuses_a_running_record_without_force() {
        let running = rec("m", &[("id", " 0123abc "), ("mode", "PROD")]);
        let e = plan_removal(&running, false).unwrap_err();
        assert_eq!(e.status(), 409);
        assert!(e.message.contains("0123abc") && e.message.contains("force=true"));
        let forced = plan_removal(&running, true).unwrap();
        assert_eq!(forced.removal, Removal::Delete);
        assert_eq!(forced.forced_past.as_deref(), Some("0123abc"));

        let stopped = rec("m", &[("id", ""), ("mode", "PROD")]);
        let plan = plan_removal(&stopped, false).unwrap();
        assert_eq!(plan.removal, Removal::Delete);
        assert_eq!(plan.forced_past, None);
    }

    #[test]
    fn the_dev_record_is_emptied_not_deleted() {
        let dev = rec(
            DEV_RECORD,
            &[
                ("id", ""),
                ("mode", "DEV"),
                ("api_url", "http://h"),
                ("cluster", ""),
            ],
        );
        let plan = plan_removal(&dev, false).unwrap();
        assert_eq!(
            plan.removal,
            Removal::Empty(vec!["mode".into(), "api_url".into()])
        );
        let empty = rec(DEV_RECORD, &[("id", ""), ("mode", "")]);
        assert_eq!(
            plan_removal(&empty, false).unwrap().removal,
            Removal::Empty(vec![])
        );
        let running_dev = rec(DEV_RECORD, &[("id", "c1")]);
        assert_eq!(plan_removal(&running_dev, false).unwrap_err().status(), 409);
        assert_eq!(
            plan_removal(&running_dev, true).unwrap().removal,
            Removal::Empty(vec!["id".into()])
        );
    }

    #[test]
    fn shipped_default_file_matches_its_spec() {
        let spec =
            crate::confspec::Spec::parse(include_str!("../../README/dsdl_container.conf.spec"));
        let conf =
            crate::conffile::ConfFile::parse(include_str!("../../default/dsdl_container.conf"))
                .expect("default/dsdl_container.conf parses");
        assert_eq!(spec.undescribed(&conf), Vec::<(String, String)>::new());
        let dev = conf.get(DEV_RECORD).expect("[__dev__] ships");
        assert!(dev.entries.len() >= 10 && dev.entries.iter().all(|(_, v)| v.is_empty()));
        assert_eq!(running_id(dev), None);
        // Every key the endpoints read is described.
        for key in ["id", "mode", "api_url", "status", "cluster", "image"] {
            assert!(spec.allows("any_model", key), "{key}");
        }
    }

    #[test]
    fn a_records_cluster_defaults_to_docker() {
        use crate::names::ContainerType;
        assert_eq!(cluster(&rec("m", &[])), Ok(ContainerType::Docker));
        assert_eq!(
            cluster(&rec("m", &[("cluster", " Docker ")])),
            Ok(ContainerType::Docker)
        );
        assert_eq!(
            cluster(&rec("m", &[("cluster", "kubernetes")])),
            Ok(ContainerType::Kubernetes)
        );
        assert_eq!(
            cluster(&rec("m", &[("cluster", "nomad")])),
            Err("nomad".to_string())
        );
    }
}
