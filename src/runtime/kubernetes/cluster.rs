//! The Kubernetes runtime: a model is a Deployment in the connection's namespace, with a
//! Secret (the environment's secrets), a Service and, when asked, Ingresses or Routes and an
//! HPA, all owned by the Deployment and labelled with the model's selector labels. The objects
//! come from [`super::manifest`]; states from [`super::observe`]; URLs from
//! [`super::address`].
//!
//! The Deployment is created (a POST, so a name taken is the API server's 409 and two
//! concurrent starts meet on one Deployment), the rest server-side applied with one field
//! manager; a failure half-way deletes the Deployment, and with it what it owns. A stop
//! deletes the Deployment and every object carrying the model's labels, and waits a bounded
//! time for its pods to go. Every call is bounded; kube retries 429/503/504 within the bound.

use super::address::{self, NodeHosts};
use super::client;
use super::error::{KubeFailure, within};
use super::manifest::{self, Design, Exposure, Settings};
use super::observe::{self, TOOLKIT_CONTAINER, TOOLKIT_MODEL};
use super::settings::KubeSettings;
use crate::conffile::Stanza;
use crate::error::{ApiError, ErrorKind};
use crate::names::ContainerType;
use crate::protocol::request::Secret;
use crate::runtime::docker::settings::{flag, value};
use crate::runtime::error::{Failure, RuntimeError};
use crate::runtime::label;
use crate::runtime::logs::{LogLine, Stream, Tail};
use crate::runtime::plan::{Port, Role, Urls};
use crate::runtime::probe::{Probe, ProbeTls};
use crate::runtime::secrets::Secrets;
use crate::runtime::state::Observed;
use crate::runtime::{Found, Runtime, Workload};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{Node, PersistentVolumeClaim, Pod, Secret as KubeSecret, Service};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, ListParams, LogParams, Patch, PatchParams,
    PostParams,
};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The field manager of every object this runtime writes.
pub const FIELD_MANAGER: &str = "dsdl-handler";

/// Bound of one API call.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// How often a stop looks whether the pods are gone.
const POD_POLL: Duration = Duration::from_millis(250);

thread_local! {
    /// Kube clients kept across requests, so a poll reuses the API server connection (and
    /// aws-iam without `cluster_url` does not ask EKS again).
    static CLIENTS: crate::runtime::shared::Clients<kube::Client> =
        const { crate::runtime::shared::Clients::new() };
}

/// A Kubernetes cluster reached through a saved connection.
pub struct Cluster {
    kube: kube::Client,
    settings: KubeSettings,
    connection: Stanza,
    hosts: NodeHosts,
    probe_tls: ProbeTls,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// A runtime error from an API error, by its kind.
fn from_api(e: ApiError) -> RuntimeError {
    let kind = match e.kind {
        ErrorKind::BadRequest => Failure::BadSettings,
        ErrorKind::Unavailable => Failure::Unreachable,
        ErrorKind::Timeout => Failure::Timeout,
        ErrorKind::NotFound => Failure::NotFound,
        ErrorKind::Conflict => Failure::Conflict,
        _ => Failure::Refused,
    };
    RuntimeError::new(kind, e.message)
}

/// `call`, bounded by [`CALL_TIMEOUT`], its error read for `what`.
async fn bounded<T>(
    what: &str,
    call: impl std::future::Future<Output = Result<T, kube::Error>>,
) -> Result<T, RuntimeError> {
    within(CALL_TIMEOUT, what, call)
        .await
        .map_err(KubeFailure::into_runtime)
}

/// `k=v,k2=v2`: a label selector from labels.
fn selector_text(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The role of a Service port name.
fn role_of(name: &str) -> Option<Role> {
    [
        Role::Api,
        Role::Jupyter,
        Role::Tensorboard,
        Role::Mlflow,
        Role::Spark,
    ]
    .into_iter()
    .find(|r| manifest::port_name(*r) == name)
}

/// The kinds a model's objects besides its Deployment come in, as dynamic API resources.
fn dependent_kinds(exposure: Exposure) -> Vec<ApiResource> {
    let mut kinds = vec![
        ApiResource::erase::<Service>(&()),
        ApiResource::erase::<KubeSecret>(&()),
        ApiResource::erase::<HorizontalPodAutoscaler>(&()),
        ApiResource::erase::<Ingress>(&()),
    ];
    if exposure == Exposure::Route {
        kinds.push(route_resource());
    }
    kinds
}

/// OpenShift's Route (no k8s-openapi type).
fn route_resource() -> ApiResource {
    ApiResource {
        group: "route.openshift.io".into(),
        version: "v1".into(),
        api_version: "route.openshift.io/v1".into(),
        kind: "Route".into(),
        plural: "routes".into(),
    }
}

impl Cluster {
    /// A client for the connection in `stanza` with `secrets` (aws-iam without `cluster_url`
    /// asks EKS where the cluster is first).
    pub async fn connect(stanza: &Stanza, secrets: &Secrets) -> Result<Cluster, RuntimeError> {
        let settings = KubeSettings::from_stanza(stanza, secrets).map_err(from_api)?;
        let key = settings.client_key();
        let kube = match CLIENTS.with(|c| c.get(key)) {
            Some(kube) => kube,
            None => {
                let kube = client::client(&settings).await.map_err(from_api)?;
                CLIENTS.with(|c| c.put(key, kube.clone()));
                kube
            }
        };
        let hosts = NodeHosts {
            internal: value(stanza, "node_port_hostname_internal").map(str::to_string),
            external: value(stanza, "node_port_hostname_external").map(str::to_string),
        };
        let probe_tls = ProbeTls::from_settings(
            value(stanza, "endpoint_cert_filename_or_path"),
            flag(stanza, "endpoint_cert_check_hostname", true),
            settings.skip_verify,
        );
        Ok(Cluster {
            kube,
            settings,
            connection: stanza.clone(),
            hosts,
            probe_tls,
        })
    }

    fn namespace(&self) -> &str {
        &self.settings.namespace
    }

    fn deployments(&self) -> Api<Deployment> {
        Api::namespaced(self.kube.clone(), self.namespace())
    }

    fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.kube.clone(), self.namespace())
    }

    fn dynamic(&self, kind: &ApiResource) -> Api<DynamicObject> {
        Api::namespaced_with(self.kube.clone(), self.namespace(), kind)
    }

    /// The deployment settings with a start's `tuning`.
    fn design_settings(&self, tuning: &BTreeMap<String, String>) -> Result<Settings, RuntimeError> {
        Settings::read(&self.connection, tuning, self.namespace()).map_err(from_api)
    }

    /// Pods matching `selector` (none for an empty one).
    async fn pods_of(&self, selector: &BTreeMap<String, String>) -> Result<Vec<Pod>, RuntimeError> {
        if selector.is_empty() {
            return Ok(Vec::new());
        }
        let params = ListParams::default().labels(&selector_text(selector));
        Ok(bounded("the model's pods", self.pods().list(&params))
            .await?
            .items)
    }

    /// Deployments and pods with the label selector `deployments` / `pods`.
    async fn listed(
        &self,
        deployments: &str,
        pods: &str,
    ) -> Result<(Vec<Deployment>, Vec<Pod>), RuntimeError> {
        let (deployment_params, pod_params) = (
            ListParams::default().labels(deployments),
            ListParams::default().labels(pods),
        );
        let (deployment_api, pod_api) = (self.deployments(), self.pods());
        let (d, p) = tokio::join!(
            bounded("the Deployments", deployment_api.list(&deployment_params)),
            bounded("the pods", pod_api.list(&pod_params))
        );
        Ok((d?.items, p?.items))
    }

    /// The URLs of the Deployment `d`, from its Service (and Routes), or why not yet.
    async fn resolve(&self, d: &Deployment) -> Result<Urls, String> {
        let name = d.metadata.name.clone().unwrap_or_default();
        let settings = Settings::read(&self.connection, &BTreeMap::new(), self.namespace())
            .map_err(|e| e.message)?;
        let services: Api<Service> = Api::namespaced(self.kube.clone(), self.namespace());
        let service = bounded("the model's Service", services.get_opt(&name))
            .await
            .map_err(|e| e.message)?
            .ok_or("the model's Service does not exist")?;
        let roles: Vec<Role> = service
            .spec
            .iter()
            .flat_map(|s| s.ports.iter().flatten())
            .filter_map(|p| p.name.as_deref().and_then(role_of))
            .collect();
        let routes = if settings.exposure == Exposure::Route {
            let params = ListParams::default().labels(&selector_text(&observe::selector_of(d)));
            bounded(
                "the model's Routes",
                self.dynamic(&route_resource()).list(&params),
            )
            .await
            .map_err(|e| e.message)?
            .items
            .into_iter()
            .filter_map(|r| serde_json::to_value(r).ok())
            .collect()
        } else {
            Vec::new()
        };
        address::urls(&name, &roles, &settings, &self.hosts, &service, &routes)
    }

    /// Server-side applies `obj` (owned by the Deployment) as this runtime's field manager.
    async fn apply(&self, obj: &Value) -> Result<(), RuntimeError> {
        let kind = obj["kind"].as_str().unwrap_or_default();
        let name = obj["metadata"]["name"].as_str().unwrap_or_default();
        let resource = dependent_kinds(Exposure::Route)
            .into_iter()
            .find(|r| r.kind == kind)
            .ok_or_else(|| RuntimeError::new(Failure::BadSettings, format!("no API for {kind}")))?;
        let params = PatchParams::apply(FIELD_MANAGER).force();
        bounded(
            &format!("the {kind} {name}"),
            self.dynamic(&resource)
                .patch(name, &params, &Patch::Apply(obj)),
        )
        .await
        .map(|_| ())
    }

    /// Deletes the Deployment `id` (its pods and owned objects follow) and every other object
    /// carrying its model's labels; whether the Deployment existed, and its pod selector.
    async fn delete(&self, id: &str) -> Result<(bool, BTreeMap<String, String>), RuntimeError> {
        let Some(d) = bounded("the Deployment", self.deployments().get_opt(id)).await? else {
            return Ok((false, BTreeMap::new()));
        };
        let selector = observe::selector_of(&d);
        let what = format!("the Deployment {id}");
        match bounded(
            &what,
            self.deployments().delete(id, &DeleteParams::background()),
        )
        .await
        {
            Ok(_) => {}
            Err(e) if e.kind == Failure::NotFound => return Ok((false, selector)),
            Err(e) => return Err(e),
        }
        let labels = observe::labels_of(&d.metadata);
        let ours = labels.get(label::MANAGED_BY).map(String::as_str) == Some(label::MANAGER);
        let exposure = Settings::read(&self.connection, &BTreeMap::new(), self.namespace())
            .map(|s| s.exposure)
            .unwrap_or(Exposure::NodePort);
        if ours && !selector.is_empty() {
            // Objects that lost their owner reference (or never had one) go too; only ours,
            // selected by manager and model.
            let params = ListParams::default().labels(&selector_text(&selector));
            for kind in dependent_kinds(exposure) {
                let api = self.dynamic(&kind);
                let listed = match bounded(&format!("the {}s", kind.kind), api.list(&params)).await
                {
                    Ok(l) => l.items,
                    Err(e) if e.kind == Failure::NotFound => Vec::new(),
                    Err(e) => return Err(e),
                };
                for obj in listed {
                    let name = obj.metadata.name.clone().unwrap_or_default();
                    match bounded(
                        &format!("the {} {name}", kind.kind),
                        api.delete(&name, &DeleteParams::background()),
                    )
                    .await
                    {
                        Ok(_) => {}
                        Err(e) if e.kind == Failure::NotFound => {}
                        Err(e) => return Err(e),
                    }
                }
            }
        } else if labels.contains_key(TOOLKIT_CONTAINER) {
            // The AI Toolkit's HPA has no owner reference: it is named after the Deployment.
            let hpas = self.dynamic(&ApiResource::erase::<HorizontalPodAutoscaler>(&()));
            if let Some(hpa) = bounded("the HPA", hpas.get_opt(id)).await?
                && hpa.data["spec"]["scaleTargetRef"]["name"] == id
            {
                let _ = bounded("the HPA", hpas.delete(id, &DeleteParams::background())).await;
            }
        }
        Ok((true, selector))
    }

    /// Makes the shared volume claim when the connection has a `storage_class`; whether it
    /// was made now.
    pub async fn ensure_shared_claim(&self) -> Result<bool, RuntimeError> {
        let Some(class) = value(&self.connection, "storage_class") else {
            return Ok(false);
        };
        shared_claim(&self.kube, self.namespace(), class, CALL_TIMEOUT)
            .await
            .map_err(KubeFailure::into_runtime)
    }
}

/// The shared volume claim (`dltk`, 2Gi, ReadWriteMany, `class`, as the AI Toolkit makes it)
/// in `namespace`, each call bounded by `limit`: found, or made (`true`). Used by starts and
/// by the connection test.
pub async fn shared_claim(
    kube: &kube::Client,
    namespace: &str,
    class: &str,
    limit: Duration,
) -> Result<bool, KubeFailure> {
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(kube.clone(), namespace);
    let what = format!("the volume claim {}", manifest::SHARED_CLAIM);
    if within(limit, &what, claims.get_opt(manifest::SHARED_CLAIM))
        .await?
        .is_some()
    {
        return Ok(false);
    }
    let claim: PersistentVolumeClaim = serde_json::from_value(json!({
        "metadata": {"name": manifest::SHARED_CLAIM, "namespace": namespace,
                     "labels": {"app": "dltk", label::MANAGED_BY: label::MANAGER}},
        "spec": {
            "accessModes": ["ReadWriteMany"],
            "storageClassName": class,
            "resources": {"requests": {"storage": "2Gi"}},
        },
    }))
    .map_err(|e| KubeFailure {
        code: None,
        message: format!("{what} cannot be built: {e}"),
        kind: Failure::BadSettings,
    })?;
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..PostParams::default()
    };
    match within(limit, &what, claims.create(&params, &claim)).await {
        Ok(_) => Ok(true),
        // Made by a concurrent request in between: there it is.
        Err(f) if f.kind == Failure::AlreadyExists => Ok(false),
        Err(f) => Err(f),
    }
}

impl Runtime for Cluster {
    fn kind(&self) -> ContainerType {
        ContainerType::Kubernetes
    }

    fn warnings(&self) -> Vec<String> {
        client::warnings(&self.settings)
    }

    /// The deployment settings (a bad quantity is a 400 before anything is made), the shared
    /// volume, and a note when a GPU is asked for and no node advertises one.
    async fn preflight(&self, w: &Workload, _until: Instant) -> Result<Vec<String>, RuntimeError> {
        self.design_settings(&w.tuning)?;
        let mut notes = Vec::new();
        if self.ensure_shared_claim().await? {
            notes.push(format!(
                "Created the shared volume claim {} in namespace {}.",
                manifest::SHARED_CLAIM,
                self.namespace()
            ));
        }
        if w.gpu {
            let nodes: Api<Node> = Api::all(self.kube.clone());
            // A user who may not list nodes is not refused: the pod says if it cannot run.
            if let Ok(list) = bounded("the nodes", nodes.list(&ListParams::default())).await {
                let gpus = list.items.iter().any(|n| {
                    n.status
                        .as_ref()
                        .and_then(|s| s.allocatable.as_ref())
                        .and_then(|a| a.get("nvidia.com/gpu"))
                        .is_some_and(|q| q.0.trim() != "0")
                });
                if !gpus {
                    notes.push(
                        "No node advertises nvidia.com/gpu: the model's pod stays Pending until \
                         one does (install the NVIDIA device plugin on a GPU node)."
                            .into(),
                    );
                }
            }
        }
        Ok(notes)
    }

    async fn find(&self, name_or_id: &str) -> Result<Option<Found>, RuntimeError> {
        let Some(d) = bounded("the Deployment", self.deployments().get_opt(name_or_id)).await?
        else {
            return Ok(None);
        };
        let pods = self.pods_of(&observe::selector_of(&d)).await?;
        let picked: Vec<&Pod> = pods.iter().collect();
        let observed = observe::observe(&d, &picked);
        let resolved = Some(self.resolve(&d).await);
        Ok(Some(Found {
            labels: observe::labels_of(&d.metadata),
            ports: Vec::new(),
            created_at: d.metadata.creation_timestamp.as_ref().map(|t| t.0),
            resolved,
            observed,
        }))
    }

    /// One LIST of Deployments and one of pods by label (for the toolkit's marker, its own
    /// labels too), joined by each Deployment's selector. An annotation key selects nothing.
    async fn list(&self, key: &str, value: &str) -> Result<Vec<Observed>, RuntimeError> {
        // Raw names and full hashes are annotations here: nothing can be selected by them
        // (the model's selector label finds its objects).
        if label::ANNOTATIONS.contains(&key) {
            return Ok(Vec::new());
        }
        let selector = if value.is_empty() {
            key.to_string()
        } else {
            format!("{key}={value}")
        };
        let (mut deployments, mut pods) = self.listed(&selector, &selector).await?;
        if key == label::LEGACY_CONTAINER && value.is_empty() {
            let (d, p) = self.listed(TOOLKIT_CONTAINER, TOOLKIT_MODEL).await?;
            deployments.extend(d);
            pods.extend(p);
        }
        Ok(deployments
            .iter()
            .map(|d| {
                let selector = observe::selector_of(d);
                let mine: Vec<&Pod> = pods
                    .iter()
                    .filter(|p| observe::selects(&selector, p))
                    .collect();
                observe::observe(d, &mine)
            })
            .collect())
    }

    async fn create(&self, w: &Workload) -> Result<String, RuntimeError> {
        let settings = self.design_settings(&w.tuning)?;
        let design = Design {
            workload: w,
            settings: &settings,
        };
        let deployment: Deployment = serde_json::from_value(design.deployment()).map_err(|e| {
            RuntimeError::new(
                Failure::BadSettings,
                format!("the Deployment cannot be built: {e}"),
            )
        })?;
        let params = PostParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..PostParams::default()
        };
        let created = bounded(
            &format!("the Deployment {}", w.name),
            self.deployments().create(&params, &deployment),
        )
        .await?;
        let uid = created.metadata.uid.clone().unwrap_or_default();
        for obj in design.dependents() {
            if let Err(e) = self.apply(&manifest::owned_by(obj, &w.name, &uid)).await {
                // Nothing half-made stays: the Deployment takes what it owns with it.
                let _ = self.delete(&w.name).await;
                return Err(e);
            }
        }
        Ok(w.name.clone())
    }

    /// The Deployment runs once made; this checks it is still there.
    async fn start(&self, id: &str) -> Result<(), RuntimeError> {
        match bounded("the Deployment", self.deployments().get_opt(id)).await? {
            Some(_) => Ok(()),
            None => Err(RuntimeError::new(
                Failure::NotFound,
                format!("the Deployment {id} does not exist"),
            )),
        }
    }

    /// Deletes, then waits up to `grace` for the pods to go (a warning in the log if not).
    async fn stop_and_remove(&self, id: &str, grace: Duration) -> Result<bool, RuntimeError> {
        let (existed, selector) = self.delete(id).await?;
        let until = Instant::now() + grace;
        while existed && !selector.is_empty() {
            if self.pods_of(&selector).await?.is_empty() {
                break;
            }
            if Instant::now() >= until {
                crate::log::fault(&format!(
                    "the pods of Deployment {id} were still terminating {} s after it was deleted",
                    grace.as_secs()
                ));
                break;
            }
            tokio::time::sleep(POD_POLL).await;
        }
        Ok(existed)
    }

    async fn remove(&self, id: &str) -> Result<bool, RuntimeError> {
        Ok(self.delete(id).await?.0)
    }

    /// The model's own pods' logs, each line tagged with its pod, merged by time; a pod that
    /// has none yet says why.
    async fn logs(
        &self,
        id: &str,
        tail: u32,
        since: Option<i64>,
        previous: bool,
    ) -> Result<Tail, RuntimeError> {
        let Some(d) = bounded("the Deployment", self.deployments().get_opt(id)).await? else {
            return Err(RuntimeError::new(
                Failure::NotFound,
                format!("the Deployment {id} does not exist"),
            ));
        };
        let mut pods = self.pods_of(&observe::selector_of(&d)).await?;
        pods.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        let since_time = since.and_then(|t| jiff::Timestamp::from_second(t).ok());
        let mut entries: Vec<LogLine> = Vec::new();
        for pod in &pods {
            let name = pod.metadata.name.clone().unwrap_or_default();
            let params = LogParams {
                tail_lines: Some(i64::from(tail)),
                since_time,
                timestamps: true,
                previous,
                ..LogParams::default()
            };
            match bounded(
                &format!("the log of pod {name}"),
                self.pods().logs(&name, &params),
            )
            .await
            {
                Ok(text) => entries.extend(text.lines().filter(|l| !l.is_empty()).map(|line| {
                    let (time, log) = line.split_once(' ').unwrap_or(("", line));
                    LogLine {
                        time: time.to_string(),
                        log: format!("[{name}] {log}"),
                        stream: Stream::Console,
                    }
                })),
                Err(e) => entries.push(LogLine {
                    time: String::new(),
                    log: format!("[{name}] no logs: {}", e.message),
                    stream: Stream::Console,
                }),
            }
        }
        entries.sort_by(|a, b| a.time.cmp(&b.time));
        let keep = entries.len().saturating_sub(tail as usize);
        Ok(Tail {
            entries: entries.split_off(keep),
            truncated: false,
            flooded: false,
            timed_out: false,
        })
    }

    fn urls(&self, found: &Found, _ports: &[Port]) -> Result<Urls, String> {
        found
            .resolved
            .clone()
            .unwrap_or_else(|| Err("the model's Service was not read".into()))
    }

    async fn probe(&self, urls: &[&str], token: &Secret, timeout: Duration) -> Vec<Probe> {
        crate::runtime::probe::probe_all(self.probe_tls.clone(), urls, token, timeout).await
    }
}
