//! What a start means, decided before any runtime call: the request read and checked, the
//! runtime name, labels, environment, ports, volumes and URLs of the container, and the
//! record written once it runs. Pure, so every rule is tested without an engine.
//!
//! Fixes over the AI Toolkit (see the reference's quirk list): the model name is validated;
//! a DEV start without a Jupyter password is a 400 instead of a container with a known
//! default hash; URLs use `https` when the container serves TLS; the spec that makes two
//! starts "the same" is the image, the mode and the GPU request.

use super::label;
use super::secrets::Secrets;
use super::state::State;
use crate::conffile::{Stanza, parse_bool};
use crate::error::ApiError;
use crate::model::image::{Catalog, Image};
use crate::model::record::{ACTIVE, Mode, WAITING, key};
use crate::names::{self, ContainerType};
use crate::protocol::fields::Fields;
use crate::protocol::request::Secret;
use sha2::{Digest, Sha256, Sha512};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// A start request, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartRequest {
    /// The model (record) name.
    pub model: String,
    /// The requested image: a catalog `image` value or catalog key.
    pub image: String,
    /// DEV or PROD.
    pub mode: Mode,
    /// Where to run it.
    pub cluster: ContainerType,
    /// Whether a GPU was asked for (`runtime = nvidia`).
    pub gpu: bool,
    /// How long to wait for the container's API to answer before replying `starting`.
    pub wait: Duration,
    /// The request's values of [`TUNING_KEYS`] that are not empty.
    pub tuning: BTreeMap<String, String>,
}

/// Settings of a Kubernetes deployment a start may give instead of the connection's cluster
/// defaults (checked by the runtime that reads them; Docker has no use for them).
pub const TUNING_KEYS: [&str; 8] = [
    "min_cpu",
    "max_cpu",
    "min_memory",
    "max_memory",
    "hpa_enabled",
    "min_replicas",
    "max_replicas",
    "cpu_threshold_percent",
];

/// Default wait for readiness.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(10);
/// Longest `wait_seconds`: half of splunkd-dev's (and a cautious splunkd's) reply timeout of
/// 120 s, so a start that also pulls or waits for another start still answers in time.
pub const MAX_WAIT_SECS: u64 = 60;

/// Reads a start body (`model`, `image`, `mode`, `cluster`, `runtime`, optional
/// `wait_seconds`); every problem is a 400 saying what to send.
pub fn start_request(fields: &Fields) -> Result<StartRequest, ApiError> {
    let text = |k: &str| {
        fields
            .text(k)
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    let model = text("model");
    if model.is_empty() {
        return Err(ApiError::bad_request(
            "model is required: the name of the model (record) to start, e.g. __dev__.",
        ));
    }
    let model = names::model_name(&model)?;
    let image = text("image");
    if image.is_empty() {
        return Err(ApiError::bad_request(
            "image is required: an image of the catalog (GET /mltk/stop_container lists them).",
        ));
    }
    let mode = match text("mode").to_ascii_uppercase().as_str() {
        "" | "DEV" => Mode::Dev,
        "PROD" => Mode::Prod,
        other => {
            return Err(ApiError::bad_request(format!(
                "mode must be DEV or PROD, not {:?}.",
                names::excerpt(other, 20)
            )));
        }
    };
    let cluster = match text("cluster").as_str() {
        "" => ContainerType::Docker,
        other => ContainerType::parse(other).map_err(|_| {
            ApiError::bad_request(format!(
                "cluster must be docker or kubernetes, not {:?}.",
                names::excerpt(other, 20)
            ))
        })?,
    };
    let gpu = match text("runtime").to_ascii_lowercase().as_str() {
        "" | "none" => false,
        "nvidia" => true,
        other => {
            return Err(ApiError::bad_request(format!(
                "runtime must be empty, none or nvidia, not {:?}.",
                names::excerpt(other, 20)
            )));
        }
    };
    let wait = match text("wait_seconds").as_str() {
        "" => DEFAULT_WAIT,
        raw => match raw.parse::<u64>() {
            Ok(s) if s <= MAX_WAIT_SECS => Duration::from_secs(s),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "wait_seconds must be a whole number from 0 to {MAX_WAIT_SECS}."
                )));
            }
        },
    };
    let tuning = TUNING_KEYS
        .iter()
        .map(|k| (k.to_string(), text(k)))
        .filter(|(_, v)| !v.is_empty())
        .collect();
    Ok(StartRequest {
        model,
        image,
        mode,
        cluster,
        gpu,
        wait,
        tuning,
    })
}

/// The catalog entry a start asks for, by its `image` value or its key; a 400 listing the
/// offered images otherwise.
pub fn catalog_image<'a>(catalog: &'a Catalog, wanted: &str) -> Result<&'a Image, ApiError> {
    catalog
        .images
        .iter()
        .find(|i| i.image == wanted)
        .or_else(|| catalog.images.iter().find(|i| i.key == wanted))
        .ok_or_else(|| {
            let offered: Vec<&str> = catalog.images.iter().map(|i| i.image.as_str()).collect();
            ApiError::bad_request(format!(
                "Image {:?} is not in the catalog (docker_images.conf); offered: {}.",
                names::excerpt(wanted, 80),
                if offered.is_empty() {
                    "none".to_string()
                } else {
                    offered.join(", ")
                }
            ))
        })
}

/// The role of a published port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The container API (5000).
    Api,
    /// Jupyter Lab (8888).
    Jupyter,
    /// TensorBoard (6006).
    Tensorboard,
    /// MLflow UI (6000).
    Mlflow,
    /// Spark UI (4040).
    Spark,
}

/// A container port and how it is published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Port {
    /// What serves on it.
    pub role: Role,
    /// The port inside the container.
    pub container: u16,
    /// A fixed host port, or `None` for one the engine picks.
    pub host: Option<u16>,
}

/// The published ports: PROD the API only; DEV all five, on fixed host ports for the shared
/// `__dev__` container (6000 goes to 6060) and on engine-picked ports otherwise.
pub fn ports(mode: Mode, model: &str) -> Vec<Port> {
    let all = [
        (Role::Jupyter, 8888, 8888),
        (Role::Tensorboard, 6006, 6006),
        (Role::Mlflow, 6000, 6060),
        (Role::Spark, 4040, 4040),
        (Role::Api, 5000, 5000),
    ];
    let fixed = model == crate::model::record::DEV_RECORD;
    all.iter()
        .filter(|(role, _, _)| mode == Mode::Dev || *role == Role::Api)
        .map(|&(role, container, host)| Port {
            role,
            container,
            host: fixed.then_some(host),
        })
        .collect()
}

/// The named volumes every container mounts: (volume, path, read-only).
pub const VOLUMES: &[(&str, &str, bool)] = &[
    ("mltk-container-data", "/srv", false),
    ("mltk-container-app", "/srv/backup/app", true),
    ("mltk-container-notebooks", "/srv/backup/notebooks", true),
];

/// The container's environment; `Debug` shows the names only (values hold tokens).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Env(pub Vec<(String, String)>);

impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(k, _)| k))
            .finish()
    }
}

impl Env {
    /// Sets `key`, replacing an earlier value.
    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        let value = value.into();
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = value,
            None => self.0.push((key.to_string(), value)),
        }
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// `KEY=value` strings for the engine.
    pub fn to_strings(&self) -> Vec<String> {
        self.0.iter().map(|(k, v)| format!("{k}={v}")).collect()
    }
}

/// Whether a toolkit "enabled" flag is on: contains `true` (any case) or equals `1`.
fn enabled(raw: &str) -> bool {
    let l = raw.trim().to_ascii_lowercase();
    l.contains("true") || l == "1" || parse_bool(&l) == Some(true)
}

/// Whether the connection's containers serve their API over TLS (`container_enable_https`),
/// on every runtime.
pub fn serves_https(stanza: &Stanza) -> bool {
    stanza
        .get("container_enable_https")
        .and_then(|v| parse_bool(v.trim()))
        .unwrap_or(false)
}

/// The environment of the reference (section 5.3), from the connection stanza and secrets.
/// `jupyter_hash` is the hashed Jupyter password (required in DEV by the caller).
pub fn environment(
    connection: &Stanza,
    secrets: &Secrets,
    mode: Mode,
    https: bool,
    api_token: &Secret,
    jupyter_hash: Option<&str>,
) -> Env {
    let value = |k: &str| connection.get(k).map(str::trim).unwrap_or_default();
    let secret = |k: &str| {
        secrets
            .get(k)
            .map(|s| s.expose().to_string())
            .unwrap_or_default()
    };
    let mut env = Env::default();
    env.set("olly_enabled", "false");
    env.set("splunk_access_enabled", "false");
    env.set("splunk_hec_enabled", "false");
    env.set("ENABLE_HTTPS", if https { "true" } else { "false" });
    if let Some(hash) = jupyter_hash {
        env.set("JUPYTER_PASSWD", hash);
    }
    env.set("MODE_DEV_PROD", mode.as_str());
    env.set("api_token", api_token.expose());
    if enabled(value("olly_enabled")) {
        env.set("SPLUNK_ACCESS_TOKEN", secret("olly_splunk_access_token"));
        env.set("OTEL_TRACES_EXPORTER", "jaeger-thrift-splunk");
        env.set("OTEL_SERVICE_NAME", value("olly_otel_service_name"));
        env.set("OTEL_EXPORTER_JAEGER_ENDPOINT", value("olly_otel_endpoint"));
        env.set("olly_enabled", value("olly_enabled"));
    }
    if enabled(value("splunk_access_enabled")) {
        env.set("splunk_access_token", secret("splunk_access_token"));
        env.set("splunk_access_host", value("splunk_access_host"));
        env.set("splunk_access_port", value("splunk_access_port"));
        env.set("splunk_access_enabled", value("splunk_access_enabled"));
    }
    if enabled(value("splunk_hec_enabled")) {
        env.set("splunk_hec_token", secret("splunk_hec_token"));
        env.set("splunk_hec_url", value("splunk_hec_url"));
        env.set("splunk_hec_enabled", value("splunk_hec_enabled"));
    }
    env
}

/// A Jupyter password hash (`sha512:<salt>:<hex>`, the form Jupyter's `passwd_check` and the
/// AI Toolkit use) with a fresh 12-hex-digit salt.
pub fn jupyter_hash(password: &str) -> Result<String, ApiError> {
    let mut salt = [0u8; 6];
    getrandom::fill(&mut salt)
        .map_err(|e| ApiError::internal(format!("no randomness available: {e}")))?;
    Ok(jupyter_hash_with_salt(password, &names::hex(&salt)))
}

fn jupyter_hash_with_salt(password: &str, salt: &str) -> String {
    let digest = Sha512::digest(format!("{password}{salt}").as_bytes());
    format!("sha512:{salt}:{}", names::hex(&digest))
}

/// Hash of what makes two starts of a model the same: image reference, mode, GPU.
pub fn spec_hash(image_ref: &str, mode: Mode, gpu: bool) -> String {
    names::hex(&Sha256::digest(
        format!("{image_ref}\n{}\n{gpu}", mode.as_str()).as_bytes(),
    ))
}

/// The spec hash cut to its first 40 hex digits (160 bits, as many as a git object id): a
/// valid label value, unlike the 64 digits of the full hash.
pub fn spec_id(spec: &str) -> &str {
    spec.get(..40).unwrap_or(spec)
}

/// The labels (schema 2) of a container started for `model` by `manager_id`.
pub fn labels(model: &str, manager_id: &str, mode: Mode, spec: &str) -> BTreeMap<String, String> {
    [
        (label::LEGACY_CONTAINER, ""),
        (label::LEGACY_MODEL, model),
        (label::MANAGED_BY, label::MANAGER),
        (label::MANAGER_ID, manager_id),
        (label::MODEL_KEY, &names::label_value(model)),
        (label::MODEL, model),
        (label::MODE, &mode.as_str().to_ascii_lowercase()),
        (label::SPEC_ID, spec_id(spec)),
        (label::SPEC, spec),
        (label::SCHEMA, label::SCHEMA_VERSION),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The label filters that find a model's containers, each on its own: the schema-2 selector,
/// then the raw model label, which containers started before the upgrade (schema 1) carry and
/// Docker ones of schema 2 still do. A container found must also name `model` in
/// [`label::MODEL`], so a name that looks like another model's selector finds nothing.
pub fn model_filters(model: &str) -> [(&'static str, String); 2] {
    [
        (label::MODEL_KEY, names::label_value(model)),
        (label::MODEL, model.to_string()),
    ]
}

/// How a container already under the model's runtime name relates to a start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Ours, running this spec: the start changes nothing.
    Running,
    /// Ours, created but not started: another start is under way (whatever its spec).
    InProgress,
    /// Ours, stopped: replaced by the new container.
    Replaceable,
    /// Ours, running another spec: 409 until it is stopped.
    Different,
    /// Not started by this search head: never touched.
    Foreign,
}

/// Classifies a container found under the model's runtime name from its manager-id and
/// spec labels (`label_of` reads labels and annotations alike) and its state. The full spec
/// hash decides, as both schemas carry it; [`label::SPEC_ID`] only when it is missing.
pub fn existing(
    label_of: impl Fn(&str) -> Option<String>,
    state: &State,
    manager: &str,
    spec: &str,
) -> Existing {
    if label_of(label::MANAGER_ID).as_deref() != Some(manager) {
        return Existing::Foreign;
    }
    let same = match label_of(label::SPEC) {
        Some(full) => full == spec,
        None => label_of(label::SPEC_ID).as_deref() == Some(spec_id(spec)),
    };
    match state {
        State::Created => Existing::InProgress,
        State::Running | State::Paused | State::Restarting if same => Existing::Running,
        State::Running | State::Paused | State::Restarting => Existing::Different,
        _ => Existing::Replaceable,
    }
}

/// A URL host: IPv6 addresses in brackets.
pub fn url_host(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

/// The URLs of a started container from its published host ports. The API and Jupyter use
/// `https` when the container serves TLS; TensorBoard, MLflow and Spark never do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Urls {
    /// What Splunk calls (`endpoint_hostname`).
    pub api_url: String,
    /// The API on the external host.
    pub api_url_external: String,
    /// DEV only, on the external host.
    pub jupyter_url: String,
    /// DEV only.
    pub tensorboard_url: String,
    /// DEV only.
    pub spark_url: String,
    /// DEV only.
    pub mlflow_url: String,
}

/// Builds [`Urls`] from the host port of each role.
pub fn urls(
    host: &str,
    external: &str,
    https: bool,
    published: &[(Role, u16)],
) -> Result<Urls, String> {
    let port = |role: Role| published.iter().find(|(r, _)| *r == role).map(|(_, p)| *p);
    let scheme = if https { "https" } else { "http" };
    let (host, external) = (url_host(host), url_host(external));
    let api = port(Role::Api).ok_or("the engine published no host port for the API (5000)")?;
    let at = |scheme: &str, role: Role| {
        port(role)
            .map(|p| format!("{scheme}://{external}:{p}"))
            .unwrap_or_default()
    };
    Ok(Urls {
        api_url: format!("{scheme}://{host}:{api}"),
        api_url_external: format!("{scheme}://{external}:{api}"),
        jupyter_url: at(scheme, Role::Jupyter),
        tensorboard_url: at("http", Role::Tensorboard),
        spark_url: at("http", Role::Spark),
        mlflow_url: at("http", Role::Mlflow),
    })
}

impl Urls {
    /// The record keys of these URLs.
    pub fn pairs(&self) -> Vec<(String, String)> {
        [
            (key::API_URL, &self.api_url),
            (key::API_URL_EXTERNAL, &self.api_url_external),
            (key::JUPYTER_URL, &self.jupyter_url),
            (key::TENSORBOARD_URL, &self.tensorboard_url),
            (key::SPARK_URL, &self.spark_url),
            (key::MLFLOW_URL, &self.mlflow_url),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
    }
}

/// The phase a start reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Running; the API did not answer yet.
    Starting,
    /// Running and the API answered with the token.
    Ready,
    /// Not running.
    Failed,
}

impl Phase {
    /// The stored and reported spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Starting => "starting",
            Phase::Ready => "ready",
            Phase::Failed => "failed",
        }
    }
}

/// What a start records in the model's stanza of dsdl_container.conf.
#[derive(Debug, Clone)]
pub struct RecordFields<'a> {
    /// The engine's container id.
    pub id: &'a str,
    /// The runtime name (container name).
    pub runtime_name: &'a str,
    /// DEV or PROD.
    pub mode: Mode,
    /// docker or kubernetes.
    pub cluster: ContainerType,
    /// `name:tag` without the repository, as the toolkit stores it.
    pub image: &'a str,
    /// Whether a GPU was requested.
    pub gpu: bool,
    /// The container's URLs.
    pub urls: &'a Urls,
    /// Readiness at reply time.
    pub phase: Phase,
    /// The search head that manages it.
    pub manager_id: &'a str,
    /// The connection it runs through.
    pub connection_name: &'a str,
    /// When it started (ISO 8601).
    pub started_at: &'a str,
}

impl RecordFields<'_> {
    /// The keys to write, in the toolkit's order followed by this handler's.
    pub fn pairs(&self) -> Vec<(String, String)> {
        let status = if self.phase == Phase::Ready {
            ACTIVE
        } else {
            WAITING
        };
        [
            (key::ID, self.id),
            (key::MODE, self.mode.as_str()),
            (key::CLUSTER, self.cluster.as_str()),
            (key::IMAGE, self.image),
            (key::RUNTIME, if self.gpu { "nvidia" } else { "" }),
            (key::API_URL, &self.urls.api_url),
            (key::API_URL_EXTERNAL, &self.urls.api_url_external),
            (key::JUPYTER_URL, &self.urls.jupyter_url),
            (key::TENSORBOARD_URL, &self.urls.tensorboard_url),
            (key::SPARK_URL, &self.urls.spark_url),
            (key::MLFLOW_URL, &self.urls.mlflow_url),
            (key::STATUS, status),
            (key::MANAGER_ID, self.manager_id),
            (key::RUNTIME_NAME, self.runtime_name),
            (key::CONNECTION_NAME, self.connection_name),
            (key::PHASE, self.phase.as_str()),
            (key::PHASE_REASON, ""),
            (key::STARTED_AT, self.started_at),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(v: serde_json::Value) -> Fields {
        Fields(v.as_object().unwrap().clone())
    }

    #[test]
    fn start_requests_are_checked() {
        let r = start_request(&fields(json!({"model": "m1", "image": "img:1"}))).unwrap();
        assert_eq!(r.mode, Mode::Dev);
        assert_eq!(r.cluster, ContainerType::Docker);
        assert!(!r.gpu);
        assert_eq!(r.wait, DEFAULT_WAIT);
        let r = start_request(&fields(json!({
            "model": "m1", "image": "img:1", "mode": " prod ", "cluster": "docker",
            "runtime": "nvidia", "wait_seconds": "0"
        })))
        .unwrap();
        assert_eq!((r.mode, r.gpu, r.wait), (Mode::Prod, true, Duration::ZERO));
        for (body, needle) in [
            (json!({"image": "i"}), "model is required"),
            (json!({"model": "../x", "image": "i"}), "model name"),
            (json!({"model": "m"}), "image is required"),
            (
                json!({"model": "m", "image": "i", "mode": "test"}),
                "mode must be",
            ),
            (
                json!({"model": "m", "image": "i", "cluster": "nomad"}),
                "cluster must be",
            ),
            (
                json!({"model": "m", "image": "i", "runtime": "amd"}),
                "runtime must be",
            ),
            (
                json!({"model": "m", "image": "i", "wait_seconds": "900"}),
                "wait_seconds",
            ),
            (
                json!({"model": "m", "image": "i", "wait_seconds": "120"}),
                "from 0 to 60",
            ),
        ] {
            let e = start_request(&fields(body)).unwrap_err();
            assert_eq!(e.status(), 400);
            assert!(e.message.contains(needle), "{} / {needle}", e.message);
        }
    }

    #[test]
    fn images_are_found_by_value_or_key() {
        let catalog = Catalog::from_stanzas(&[
            Stanza::from_pairs("golden-cpu", &[("image", "golden:1"), ("repo", "splunk/")]),
            Stanza::from_pairs("other", &[("image", "other:2")]),
        ]);
        assert_eq!(
            catalog_image(&catalog, "golden:1").unwrap().key,
            "golden-cpu"
        );
        assert_eq!(catalog_image(&catalog, "other").unwrap().image, "other:2");
        let e = catalog_image(&catalog, "nope:1").unwrap_err();
        assert!(e.message.contains("golden:1, other:2"), "{}", e.message);
    }

    #[test]
    fn dev_ports_are_fixed_only_for_the_shared_dev_container() {
        let prod = ports(Mode::Prod, "m");
        assert_eq!(prod.len(), 1);
        assert_eq!((prod[0].container, prod[0].host), (5000, None));
        let dev = ports(Mode::Dev, "m");
        assert_eq!(dev.len(), 5);
        assert!(dev.iter().all(|p| p.host.is_none()));
        let shared = ports(Mode::Dev, "__dev__");
        let mlflow = shared.iter().find(|p| p.role == Role::Mlflow).unwrap();
        assert_eq!((mlflow.container, mlflow.host), (6000, Some(6060)));
        assert!(shared.iter().all(|p| p.host.is_some()));
    }

    #[test]
    fn environment_follows_the_reference_with_the_fixes() {
        let conn = Stanza::from_pairs(
            "docker",
            &[
                ("splunk_hec_enabled", "True"),
                ("splunk_hec_url", "https://hec:8088"),
                ("olly_enabled", "false"),
            ],
        );
        let secrets = Secrets::from_listing(vec![
            ("splunk_hec_token".into(), Secret::new("hec-secret")),
            (
                "olly_splunk_access_token".into(),
                Secret::new("olly-secret"),
            ),
        ]);
        let token = Secret::new("tok");
        let env = environment(
            &conn,
            &secrets,
            Mode::Dev,
            false,
            &token,
            Some("sha512:x:y"),
        );
        assert_eq!(env.get("ENABLE_HTTPS"), Some("false"));
        assert_eq!(env.get("MODE_DEV_PROD"), Some("DEV"));
        assert_eq!(env.get("api_token"), Some("tok"));
        assert_eq!(env.get("JUPYTER_PASSWD"), Some("sha512:x:y"));
        assert_eq!(env.get("splunk_hec_token"), Some("hec-secret"));
        assert_eq!(env.get("splunk_hec_enabled"), Some("True"));
        assert_eq!(env.get("olly_enabled"), Some("false"));
        assert_eq!(env.get("SPLUNK_ACCESS_TOKEN"), None);
        assert!(!format!("{env:?}").contains("tok\""), "{env:?}");
        let prod = environment(&conn, &Secrets::default(), Mode::Prod, true, &token, None);
        assert_eq!(prod.get("ENABLE_HTTPS"), Some("true"));
        assert_eq!(prod.get("JUPYTER_PASSWD"), None);
        assert_eq!(prod.get("splunk_hec_token"), Some(""));
    }

    #[test]
    fn jupyter_hashes_are_salted_sha512() {
        let h = jupyter_hash_with_salt("pw", "0a1b2c3d4e5f");
        assert!(h.starts_with("sha512:0a1b2c3d4e5f:"));
        assert_eq!(h.len(), "sha512:0a1b2c3d4e5f:".len() + 128);
        let a = jupyter_hash("pw").unwrap();
        let b = jupyter_hash("pw").unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn spec_hash_depends_on_image_mode_and_gpu() {
        let base = spec_hash("r/i:1", Mode::Dev, false);
        assert_eq!(base.len(), 64);
        assert_eq!(base, spec_hash("r/i:1", Mode::Dev, false));
        assert_ne!(base, spec_hash("r/i:2", Mode::Dev, false));
        assert_ne!(base, spec_hash("r/i:1", Mode::Prod, false));
        assert_ne!(base, spec_hash("r/i:1", Mode::Dev, true));
        let l = labels("m", "guid-1", Mode::Prod, &base);
        assert_eq!(l[label::LEGACY_CONTAINER], "");
        assert_eq!(l[label::MANAGER_ID], "guid-1");
        assert_eq!(l[label::MODE], "prod");
    }

    #[test]
    fn urls_use_https_for_the_api_and_jupyter_only() {
        let published = [
            (Role::Api, 32768),
            (Role::Jupyter, 32769),
            (Role::Mlflow, 6060),
        ];
        let u = urls("localhost", "dsdl.example", true, &published).unwrap();
        assert_eq!(u.api_url, "https://localhost:32768");
        assert_eq!(u.api_url_external, "https://dsdl.example:32768");
        assert_eq!(u.jupyter_url, "https://dsdl.example:32769");
        assert_eq!(u.mlflow_url, "http://dsdl.example:6060");
        assert_eq!(u.spark_url, "");
        let u = urls("::1", "::1", false, &published[..1]).unwrap();
        assert_eq!(u.api_url, "http://[::1]:32768");
        assert!(urls("h", "h", false, &[]).is_err());
    }

    #[test]
    fn records_say_active_only_when_ready() {
        let urls = Urls::default();
        let mut f = RecordFields {
            id: "abc",
            runtime_name: "mltk-m",
            mode: Mode::Prod,
            cluster: ContainerType::Docker,
            image: "i:1",
            gpu: false,
            urls: &urls,
            phase: Phase::Starting,
            manager_id: "g",
            connection_name: "c",
            started_at: "t",
        };
        let get = |pairs: &[(String, String)], k: &str| {
            pairs.iter().find(|(key, _)| key == k).unwrap().1.clone()
        };
        assert_eq!(get(&f.pairs(), "status"), "Waiting for Url to start");
        f.phase = Phase::Ready;
        assert_eq!(get(&f.pairs(), "status"), "Active");
        assert_eq!(get(&f.pairs(), "runtime"), "");
    }

    #[test]
    fn a_written_record_reads_back_as_written() {
        // The start writes the record here and model::record reads it: one set of key names
        // and one Mode, so each mode, runtime and the toolkit's keys survive the round trip.
        use crate::model::record;
        let urls = Urls {
            api_url: "http://h:1".into(),
            ..Urls::default()
        };
        for mode in [Mode::Dev, Mode::Prod] {
            for cluster in [ContainerType::Docker, ContainerType::Kubernetes] {
                let f = RecordFields {
                    id: "abc",
                    runtime_name: "mltk-m",
                    mode,
                    cluster,
                    image: "i:1",
                    gpu: true,
                    urls: &urls,
                    phase: Phase::Ready,
                    manager_id: "g",
                    connection_name: "c",
                    started_at: "t",
                };
                let pairs = f.pairs();
                let pairs: Vec<(&str, &str)> = pairs
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                let r = Stanza::from_pairs("m", &pairs);
                assert_eq!(record::mode(&r), Some(mode));
                assert_eq!(record::cluster(&r), Ok(cluster));
                assert_eq!(record::running_id(&r), Some("abc"));
                assert!(record::is_active(&r));
                for k in record::TOOLKIT_KEYS {
                    assert!(pairs.iter().any(|(key, _)| key == k), "{k} not written");
                }
            }
        }
    }

    /// The labels the first release (schema 1) put on a container, as they are on engines
    /// now.
    fn schema1(model: &str, manager: &str, mode: &str, spec: &str) -> BTreeMap<String, String> {
        [
            (label::LEGACY_CONTAINER, ""),
            ("mltk_model", model),
            ("app.kubernetes.io/managed-by", "dsdl-handler"),
            ("com.splunk.mltk/manager-id", manager),
            ("com.splunk.mltk/model", model),
            ("com.splunk.mltk/mode", mode),
            ("com.splunk.mltk/spec-sha256", spec),
            ("com.splunk.mltk/schema", "1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn selector_labels_are_valid_on_both_runtimes() {
        let guid = "8E4D1C52-3B6A-4F0E-9B7D-2A1C5E6F7A8B";
        let spec = spec_hash("r/i:1", Mode::Dev, false);
        let long = format!("_{}", "Ab.".repeat(33));
        for model in ["__dev__", "My.Model_1", "m", long.as_str()] {
            let l = labels(model, guid, Mode::Dev, &spec);
            for (k, v) in &l {
                let selector = label::SELECTORS.contains(&k.as_str());
                assert_ne!(
                    selector,
                    label::ANNOTATIONS.contains(&k.as_str()),
                    "{k} is one or the other"
                );
                if selector {
                    assert!(names::is_label_value(v), "{model}: {k}={v}");
                }
            }
            assert_eq!(l[label::MODEL_KEY], names::label_value(model));
            assert_eq!(l[label::MODEL], model);
            assert_eq!(l[label::SPEC], spec);
            assert_eq!(l[label::SPEC_ID], spec[..40]);
            assert_eq!(l[label::SCHEMA], "2");
        }
        // The first release's values: a model label and a spec label no selector may use.
        let old = schema1("__dev__", guid, "dev", &spec);
        assert!(!names::is_label_value(&old[label::MODEL]));
        assert!(!names::is_label_value(&old[label::SPEC]));
        assert_eq!(spec_id("abc"), "abc");
    }

    #[test]
    fn a_models_containers_are_found_under_either_schema() {
        let spec = spec_hash("r/i:1", Mode::Prod, false);
        let found = |l: &BTreeMap<String, String>, model: &str| {
            model_filters(model)
                .iter()
                .any(|(k, v)| l.get(*k) == Some(v))
        };
        for model in ["__dev__", "My.Model_1"] {
            let new = labels(model, "g1", Mode::Prod, &spec);
            let old = schema1(model, "g1", "prod", &spec);
            assert!(found(&new, model) && found(&old, model), "{model}");
            // The selector alone finds schema 2 (what Kubernetes selects on).
            let (key, value) = &model_filters(model)[0];
            assert_eq!(new.get(*key), Some(value));
            assert!(names::is_label_value(value));
            assert!(!found(&new, "other") && !found(&old, "other"));
        }
    }

    #[test]
    fn containers_started_before_the_upgrade_are_classified_alike() {
        let spec = spec_hash("r/i:1", Mode::Prod, false);
        let old = schema1("m", "g1", "prod", &spec);
        let l = |k: &str| old.get(k).cloned();
        assert_eq!(
            existing(l, &State::from("running"), "g1", &spec),
            Existing::Running
        );
        assert_eq!(
            existing(l, &State::from("created"), "g1", &spec),
            Existing::InProgress
        );
        assert_eq!(
            existing(l, &State::from("exited"), "g1", &spec),
            Existing::Replaceable
        );
        let other = spec_hash("r/i:2", Mode::Prod, false);
        assert_eq!(
            existing(l, &State::from("running"), "g1", &other),
            Existing::Different
        );
        assert_eq!(
            existing(l, &State::from("running"), "g2", &spec),
            Existing::Foreign
        );
        // Labels only (a runtime whose annotations were not read): the spec id decides.
        let new = labels("m", "g1", Mode::Prod, &spec);
        let selectors = |k: &str| {
            label::SELECTORS
                .contains(&k)
                .then(|| new.get(k).cloned())
                .flatten()
        };
        assert_eq!(
            existing(selectors, &State::from("running"), "g1", &spec),
            Existing::Running
        );
        assert_eq!(
            existing(selectors, &State::from("running"), "g1", &other),
            Existing::Different
        );
    }

    #[test]
    fn existing_containers_are_classified_by_manager_spec_and_state() {
        let spec = spec_hash("r/i:1", Mode::Prod, false);
        let ours = labels("m", "g1", Mode::Prod, &spec);
        let l = |k: &str| ours.get(k).cloned();
        assert_eq!(
            existing(l, &State::from("running"), "g1", &spec),
            Existing::Running
        );
        assert_eq!(
            existing(l, &State::from("created"), "g1", &spec),
            Existing::InProgress
        );
        assert_eq!(
            existing(l, &State::from("exited"), "g1", &spec),
            Existing::Replaceable
        );
        assert_eq!(
            existing(l, &State::from("running"), "g1", "other"),
            Existing::Different
        );
        assert_eq!(
            existing(l, &State::from("created"), "g1", "other"),
            Existing::InProgress
        );
        assert_eq!(
            existing(l, &State::from("running"), "g2", &spec),
            Existing::Foreign
        );
        assert_eq!(
            existing(|_| None, &State::from("exited"), "g1", &spec),
            Existing::Foreign
        );
        assert!(State::Created.is_alive() && !State::Exited.is_alive());
    }
}
