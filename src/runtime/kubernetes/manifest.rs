//! The objects a Kubernetes start applies, built from a [`Workload`] and the connection's
//! settings: a Secret holding the environment's secrets, a Deployment, a Service, an Ingress
//! or OpenShift Route per exposed port when asked, and an HPA when enabled. Pure: each is a
//! JSON object ready for server-side apply, checked in CI against the pinned API's schemas
//! (`kubernetes-validate --strict`).
//!
//! Fixes over the AI Toolkit (reference 6.3): the API token and every other secret reach the
//! pod from the Secret, never as literals in the pod spec; the pod has readiness and liveness
//! probes that send the token; `imagePullSecrets` only when configured; Ingress annotations
//! really applied; owner references on everything the Deployment brings, HPA included, so a
//! stop leaves nothing behind; requests and limits checked as quantities up front.

use super::quantity::quantity;
use crate::conffile::{Stanza, parse_bool};
use crate::error::ApiError;
use crate::runtime::Workload;
use crate::runtime::label;
use crate::runtime::plan::{Port, Role};
use base64::Engine;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// The shared volume claim every model mounts at `/srv`, as the AI Toolkit names it.
pub const SHARED_CLAIM: &str = "dltk";

/// The container's name in the pod.
pub const CONTAINER: &str = "mltk-model";

/// The key a Secret's value is read from is the variable's own name.
fn secret_name(deployment: &str) -> String {
    format!("{deployment}-env")
}

/// How a model's ports are reached from outside the cluster (`service_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposure {
    /// A `LoadBalancer` Service.
    LoadBalancer,
    /// A `NodePort` Service (the toolkit's default).
    NodePort,
    /// A `ClusterIP` Service and an OpenShift Route per port.
    Route,
    /// A `ClusterIP` Service and an Ingress per port.
    Ingress,
}

impl Exposure {
    /// `service_type` as the AI Toolkit spells it; empty is a node port, as there.
    pub fn parse(raw: &str) -> Result<Exposure, ApiError> {
        Ok(match raw.trim() {
            "load_balancer" => Exposure::LoadBalancer,
            "" | "node_port" => Exposure::NodePort,
            "route" => Exposure::Route,
            "ingress" => Exposure::Ingress,
            other => {
                return Err(ApiError::bad_request(format!(
                    "service_type = {:?} is not one of load_balancer, node_port, route, ingress.",
                    crate::names::excerpt(other, 40)
                )));
            }
        })
    }
}

/// Requests and limits of the model's container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resources {
    /// `min_cpu`.
    pub cpu_request: String,
    /// `max_cpu`.
    pub cpu_limit: String,
    /// `min_memory`.
    pub memory_request: String,
    /// `max_memory`.
    pub memory_limit: String,
}

/// A HorizontalPodAutoscaler's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Autoscale {
    /// `min_replicas`.
    pub min: u32,
    /// `max_replicas`.
    pub max: u32,
    /// `cpu_threshold_percent`.
    pub cpu_percent: u32,
}

/// Everything a start's objects depend on besides the workload, read from the connection
/// (its cluster defaults) with the start request's overrides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Where the objects go.
    pub namespace: String,
    /// How ports are reached.
    pub exposure: Exposure,
    /// Splunk runs in the cluster (`in_cluster_mode`): the API needs no outside exposure.
    pub in_cluster: bool,
    /// Requests and limits.
    pub resources: Resources,
    /// The HPA, when enabled.
    pub autoscale: Option<Autoscale>,
    /// `image_pull_secrets`, when set (the toolkit's literal `None` counts as unset).
    pub pull_secret: Option<String>,
    /// Mount the shared claim (the connection has a `storage_class`).
    pub shared_volume: bool,
    /// `ingress_host_pattern`, with `{name}` and `{port}`.
    pub ingress_host_pattern: Option<String>,
    /// `ingress_annotations`, a JSON object of strings.
    pub ingress_annotations: BTreeMap<String, String>,
    /// The container serves its API over TLS (`container_enable_https`).
    pub https: bool,
}

/// Cluster defaults of the AI Toolkit's UI and `create_deployment`.
const DEFAULTS: [(&str, &str); 7] = [
    ("min_cpu", "250m"),
    ("max_cpu", "800m"),
    ("min_memory", "512Mi"),
    ("max_memory", "3Gi"),
    ("min_replicas", "1"),
    ("max_replicas", "3"),
    ("cpu_threshold_percent", "70"),
];

impl Settings {
    /// Reads `connection` with `overrides` (the start request's values, which win when not
    /// empty) in `namespace`. Every bad value is a 400 naming its setting.
    pub fn read(
        connection: &Stanza,
        overrides: &BTreeMap<String, String>,
        namespace: &str,
    ) -> Result<Settings, ApiError> {
        let get = |key: &str| -> Option<String> {
            overrides
                .get(key)
                .map(|v| v.trim())
                .filter(|v| !v.is_empty())
                .or_else(|| connection.get(key).map(str::trim).filter(|v| !v.is_empty()))
                .map(str::to_string)
        };
        let or_default = |key: &str| {
            get(key).unwrap_or_else(|| {
                DEFAULTS
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map(|(_, v)| v.to_string())
                    .unwrap_or_default()
            })
        };
        let flag = |key: &str| -> Result<bool, ApiError> {
            match get(key) {
                None => Ok(false),
                Some(v) => parse_bool(&v).ok_or_else(|| {
                    ApiError::bad_request(format!("{key} = {v:?} is not true or false."))
                }),
            }
        };
        let count = |key: &str| -> Result<u32, ApiError> {
            let v = or_default(key);
            v.parse::<u32>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                ApiError::bad_request(format!("{key} = {v:?} is not a whole number from 1."))
            })
        };
        let resources = Resources {
            cpu_request: quantity("min_cpu", &or_default("min_cpu"))?,
            cpu_limit: quantity("max_cpu", &or_default("max_cpu"))?,
            memory_request: quantity("min_memory", &or_default("min_memory"))?,
            memory_limit: quantity("max_memory", &or_default("max_memory"))?,
        };
        let autoscale = if flag("hpa_enabled")? {
            let a = Autoscale {
                min: count("min_replicas")?,
                max: count("max_replicas")?,
                cpu_percent: count("cpu_threshold_percent")?,
            };
            if a.min > a.max {
                return Err(ApiError::bad_request(format!(
                    "min_replicas ({}) must not be more than max_replicas ({}).",
                    a.min, a.max
                )));
            }
            Some(a)
        } else {
            None
        };
        let ingress_annotations = match get("ingress_annotations") {
            None => BTreeMap::new(),
            Some(text) => annotations(&text)?,
        };
        Ok(Settings {
            namespace: namespace.to_string(),
            exposure: Exposure::parse(&get("service_type").unwrap_or_default())?,
            in_cluster: flag("in_cluster_mode").unwrap_or(false),
            resources,
            autoscale,
            pull_secret: get("image_pull_secrets").filter(|s| s != "None"),
            shared_volume: get("storage_class").is_some(),
            ingress_host_pattern: get("ingress_host_pattern"),
            ingress_annotations,
            https: flag("container_enable_https").unwrap_or(false),
        })
    }
}

/// `ingress_annotations`: a JSON object whose values are strings (numbers and booleans are
/// written as text, as annotations must be).
fn annotations(text: &str) -> Result<BTreeMap<String, String>, ApiError> {
    let bad = || {
        ApiError::bad_request(
            "ingress_annotations is not a JSON object of annotations, e.g. \
             {\"nginx.ingress.kubernetes.io/proxy-body-size\": \"100m\"}.",
        )
    };
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(text) else {
        return Err(bad());
    };
    map.into_iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k, s)),
            Value::Number(n) => Ok((k, n.to_string())),
            Value::Bool(b) => Ok((k, b.to_string())),
            _ => Err(bad()),
        })
        .collect()
}

/// A model's objects, named after `workload.name` (a DNS-1035 label, see
/// [`crate::names::runtime_name`]).
#[derive(Debug)]
pub struct Design<'a> {
    /// What runs.
    pub workload: &'a Workload,
    /// Where and how.
    pub settings: &'a Settings,
}

/// The port name of a role (Service, container and Ingress ports refer to it).
pub fn port_name(role: Role) -> &'static str {
    match role {
        Role::Api => "api",
        Role::Jupyter => "jupyter",
        Role::Tensorboard => "tensorboard",
        Role::Mlflow => "mlflow",
        Role::Spark => "spark",
    }
}

/// The Service port of a container port: the toolkit publishes MLflow's 6000 on 6060.
fn service_port(p: &Port) -> u16 {
    p.host.unwrap_or(match p.role {
        Role::Mlflow => 6060,
        _ => p.container,
    })
}

impl Design<'_> {
    fn name(&self) -> &str {
        &self.workload.name
    }

    /// The labels every object carries: the selector labels of the workload.
    pub fn labels(&self) -> Map<String, Value> {
        self.workload
            .labels
            .iter()
            .filter(|(k, _)| label::SELECTORS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect()
    }

    /// The annotations every object carries: the workload's values that are not label values.
    pub fn annotations(&self) -> Map<String, Value> {
        self.workload
            .labels
            .iter()
            .filter(|(k, _)| label::ANNOTATIONS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect()
    }

    /// The pods' selector: who manages them and for which model, never the spec (which
    /// changes while the Deployment's selector cannot).
    pub fn selector(&self) -> Map<String, Value> {
        self.labels()
            .into_iter()
            .filter(|(k, _)| {
                [label::MANAGED_BY, label::MANAGER_ID, label::MODEL_KEY].contains(&k.as_str())
            })
            .collect()
    }

    fn metadata(&self, name: &str) -> Value {
        json!({
            "name": name,
            "namespace": self.settings.namespace,
            "labels": self.labels(),
            "annotations": self.annotations(),
        })
    }

    /// The environment: secret values (by [`crate::names::is_secret_name`]) from the Secret,
    /// the rest as literals.
    fn env(&self) -> Vec<Value> {
        let secret = secret_name(self.name());
        self.workload
            .env
            .0
            .iter()
            .map(|(k, v)| {
                if crate::names::is_secret_name(k) {
                    json!({"name": k, "valueFrom": {"secretKeyRef": {"name": secret, "key": k}}})
                } else {
                    json!({"name": k, "value": v})
                }
            })
            .collect()
    }

    /// The Secret holding the environment's secret values (base64, as `data` is).
    pub fn secret(&self) -> Value {
        let b64 = base64::engine::general_purpose::STANDARD;
        let data: Map<String, Value> = self
            .workload
            .env
            .0
            .iter()
            .filter(|(k, _)| crate::names::is_secret_name(k))
            .map(|(k, v)| (k.clone(), json!(b64.encode(v))))
            .collect();
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": self.metadata(&secret_name(self.name())),
            "type": "Opaque",
            "data": data,
        })
    }

    /// An exec probe of the API on 127.0.0.1:5000 with the token from the environment:
    /// `ready` needs a 2xx answer, otherwise any HTTP answer (a 401 included) proves the API
    /// is alive, so a token mismatch never restarts the pod. The image has Python, not curl.
    fn probe(&self, ready: bool) -> Value {
        let scheme = if self.settings.https { "https" } else { "http" };
        let script = format!(
            "import os,ssl,urllib.request as u,urllib.error as e\n\
             r=u.Request('{scheme}://127.0.0.1:5000/',headers={{'Authorization':os.environ.get('api_token','')}})\n\
             try:\n u.urlopen(r,timeout=4,context=ssl._create_unverified_context())\n\
             except e.HTTPError:\n raise SystemExit({})\n",
            if ready { 1 } else { 0 }
        );
        let (delay, period, failures) = if ready { (5, 5, 3) } else { (60, 20, 6) };
        json!({
            "exec": {"command": ["python3", "-c", script]},
            "initialDelaySeconds": delay,
            "periodSeconds": period,
            "timeoutSeconds": 5,
            "failureThreshold": failures,
        })
    }

    /// The Deployment: one replica (the HPA's minimum when enabled; the applied config then
    /// leaves `replicas` to the HPA), the selector labels on the pods.
    pub fn deployment(&self) -> Value {
        let s = self.settings;
        let mut requests =
            json!({"cpu": s.resources.cpu_request, "memory": s.resources.memory_request});
        let mut limits = json!({"cpu": s.resources.cpu_limit, "memory": s.resources.memory_limit});
        if self.workload.gpu {
            requests["nvidia.com/gpu"] = json!("1");
            limits["nvidia.com/gpu"] = json!("1");
        }
        let ports: Vec<Value> = self
            .workload
            .ports
            .iter()
            .map(|p| json!({"name": port_name(p.role), "containerPort": p.container, "protocol": "TCP"}))
            .collect();
        let mut container = json!({
            "name": CONTAINER,
            "image": self.workload.image,
            "imagePullPolicy": "IfNotPresent",
            "ports": ports,
            "env": self.env(),
            "resources": {"requests": requests, "limits": limits},
            "readinessProbe": self.probe(true),
            "livenessProbe": self.probe(false),
            "securityContext": {"allowPrivilegeEscalation": false},
        });
        let mut pod_spec = json!({"containers": []});
        if s.shared_volume {
            container["volumeMounts"] = json!([{"name": "data", "mountPath": "/srv"}]);
            pod_spec["volumes"] =
                json!([{"name": "data", "persistentVolumeClaim": {"claimName": SHARED_CLAIM}}]);
        }
        if let Some(secret) = &s.pull_secret {
            pod_spec["imagePullSecrets"] = json!([{"name": secret}]);
        }
        pod_spec["containers"] = json!([container]);
        let mut pod_labels = self.labels();
        pod_labels.extend(self.selector());
        let mut spec = json!({
            "selector": {"matchLabels": self.selector()},
            "strategy": {"type": "Recreate"},
            "progressDeadlineSeconds": 600,
            "template": {
                "metadata": {"labels": pod_labels, "annotations": self.annotations()},
                "spec": pod_spec,
            },
        });
        if s.autoscale.is_none() {
            spec["replicas"] = json!(1);
        }
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": self.metadata(self.name()),
            "spec": spec,
        })
    }

    /// The Service: every port of the workload, by name; `LoadBalancer`, `NodePort` or
    /// `ClusterIP` (behind a Route or an Ingress) per [`Exposure`].
    pub fn service(&self) -> Value {
        let ports: Vec<Value> = self
            .workload
            .ports
            .iter()
            .map(|p| {
                json!({
                    "name": port_name(p.role),
                    "port": service_port(p),
                    "targetPort": port_name(p.role),
                    "protocol": "TCP",
                })
            })
            .collect();
        let kind = match self.settings.exposure {
            Exposure::LoadBalancer => "LoadBalancer",
            Exposure::NodePort => "NodePort",
            Exposure::Route | Exposure::Ingress => "ClusterIP",
        };
        let mut metadata = self.metadata(self.name());
        if self.settings.exposure == Exposure::LoadBalancer {
            metadata["annotations"]["service.beta.kubernetes.io/aws-load-balancer-scheme"] =
                json!("internet-facing");
            metadata["annotations"]["service.beta.kubernetes.io/aws-load-balancer-internal"] =
                json!("false");
        }
        json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": metadata,
            "spec": {"type": kind, "selector": self.selector(), "ports": ports},
        })
    }

    /// The ports reached from outside: all, but the API when Splunk runs in the cluster.
    fn exposed(&self) -> impl Iterator<Item = &Port> {
        let in_cluster = self.settings.in_cluster;
        self.workload
            .ports
            .iter()
            .filter(move |p| !(in_cluster && p.role == Role::Api))
    }

    /// The host of port `role` from `ingress_host_pattern`.
    pub fn ingress_host(&self, role: Role) -> Option<String> {
        ingress_host(self.settings, self.name(), role)
    }

    /// One Ingress per exposed port, when the exposure is `Ingress`: `<name>-<port>`, the
    /// connection's annotations, the host from the pattern (none: any host).
    pub fn ingresses(&self) -> Vec<Value> {
        if self.settings.exposure != Exposure::Ingress {
            return Vec::new();
        }
        self.exposed()
            .map(|p| {
                let port = port_name(p.role);
                let mut metadata = self.metadata(&format!("{}-{port}", self.name()));
                for (k, v) in &self.settings.ingress_annotations {
                    metadata["annotations"][k] = json!(v);
                }
                let mut rule = json!({"http": {"paths": [{
                    "path": "/",
                    "pathType": "Prefix",
                    "backend": {"service": {"name": self.name(), "port": {"name": port}}},
                }]}});
                if let Some(host) = self.ingress_host(p.role) {
                    rule["host"] = json!(host);
                }
                json!({
                    "apiVersion": "networking.k8s.io/v1",
                    "kind": "Ingress",
                    "metadata": metadata,
                    "spec": {"rules": [rule]},
                })
            })
            .collect()
    }

    /// One OpenShift Route per exposed port, when the exposure is `Route`: TLS at the edge,
    /// or passed through to a container that serves TLS itself.
    pub fn routes(&self) -> Vec<Value> {
        if self.settings.exposure != Exposure::Route {
            return Vec::new();
        }
        let termination = if self.settings.https {
            "passthrough"
        } else {
            "edge"
        };
        self.exposed()
            .map(|p| {
                let port = port_name(p.role);
                json!({
                    "apiVersion": "route.openshift.io/v1",
                    "kind": "Route",
                    "metadata": self.metadata(&format!("{}-{port}", self.name())),
                    "spec": {
                        "to": {"kind": "Service", "name": self.name(), "weight": 100},
                        "port": {"targetPort": port},
                        "tls": {"termination": termination, "insecureEdgeTerminationPolicy": "Redirect"},
                    },
                })
            })
            .collect()
    }

    /// The HPA (`autoscaling/v2`), when enabled: CPU utilisation against the requests.
    pub fn autoscaler(&self) -> Option<Value> {
        let a = self.settings.autoscale?;
        Some(json!({
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": self.metadata(self.name()),
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": self.name()},
                "minReplicas": a.min,
                "maxReplicas": a.max,
                "metrics": [{"type": "Resource", "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": a.cpu_percent},
                }}],
            },
        }))
    }

    /// Everything the Deployment brings, in the order they are applied after it.
    pub fn dependents(&self) -> Vec<Value> {
        let mut out = vec![self.secret(), self.service()];
        out.extend(self.ingresses());
        out.extend(self.routes());
        out.extend(self.autoscaler());
        out
    }
}

/// The host of port `role` of the objects named `name`, from `ingress_host_pattern`
/// (`{name}`, `{port}`).
pub fn ingress_host(settings: &Settings, name: &str, role: Role) -> Option<String> {
    settings
        .ingress_host_pattern
        .as_ref()
        .map(|p| p.replace("{name}", name).replace("{port}", port_name(role)))
}

/// `obj` owned by the Deployment `name` with `uid`, so it goes when the Deployment goes.
pub fn owned_by(mut obj: Value, name: &str, uid: &str) -> Value {
    obj["metadata"]["ownerReferences"] = json!([{
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": name,
        "uid": uid,
        "controller": true,
        "blockOwnerDeletion": true,
    }]);
    obj
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::record::Mode;
    use crate::runtime::plan::{Env, labels, ports, spec_hash};

    pub(crate) fn workload(mode: Mode, gpu: bool) -> Workload {
        let mut env = Env::default();
        env.set("MODE_DEV_PROD", mode.as_str());
        env.set("api_token", "tok-123");
        env.set("JUPYTER_PASSWD", "sha512:ab:cd");
        env.set("splunk_hec_enabled", "false");
        let spec = spec_hash("repo/img:1", mode, gpu);
        Workload {
            name: crate::names::runtime_name("My_Model"),
            image: "repo/img:1".into(),
            env,
            labels: labels("My_Model", "guid-1", mode, &spec),
            ports: ports(mode, "My_Model"),
            gpu,
            tuning: Default::default(),
        }
    }

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, ApiError> {
        Settings::read(
            &Stanza::from_pairs("kubernetes", pairs),
            &BTreeMap::new(),
            "dsdl",
        )
    }

    #[test]
    fn settings_take_the_defaults_and_name_each_bad_value() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.exposure, Exposure::NodePort);
        assert_eq!(s.resources.cpu_request, "250m");
        assert_eq!(s.resources.memory_limit, "3Gi");
        assert_eq!((s.autoscale, s.pull_secret.clone()), (None, None));
        let s = settings(&[
            ("hpa_enabled", "yes"),
            ("max_replicas", "5"),
            ("image_pull_secrets", "None"),
        ])
        .unwrap();
        assert_eq!(
            s.autoscale,
            Some(Autoscale {
                min: 1,
                max: 5,
                cpu_percent: 70
            })
        );
        assert_eq!(s.pull_secret, None, "the toolkit's literal None is unset");
        for (pairs, field) in [
            (vec![("max_memory", "3GB")], "max_memory"),
            (vec![("min_cpu", "lots")], "min_cpu"),
            (vec![("service_type", "cluster_ip")], "service_type"),
            (
                vec![
                    ("hpa_enabled", "1"),
                    ("min_replicas", "4"),
                    ("max_replicas", "2"),
                ],
                "min_replicas",
            ),
            (
                vec![("hpa_enabled", "1"), ("max_replicas", "0")],
                "max_replicas",
            ),
            (vec![("ingress_annotations", "[1]")], "ingress_annotations"),
            (vec![("hpa_enabled", "maybe")], "hpa_enabled"),
        ] {
            let e = settings(&pairs).unwrap_err();
            assert_eq!(e.status(), 400);
            assert!(e.message.starts_with(field), "{field}: {}", e.message);
        }
        // A request's override wins over the connection's default.
        let over = BTreeMap::from([("max_cpu".to_string(), "2".to_string())]);
        let s = Settings::read(
            &Stanza::from_pairs("kubernetes", &[("max_cpu", "800m")]),
            &over,
            "dsdl",
        )
        .unwrap();
        assert_eq!(s.resources.cpu_limit, "2");
    }

    #[test]
    fn secrets_reach_the_pod_only_through_the_secret() {
        let w = workload(Mode::Prod, false);
        let s = settings(&[]).unwrap();
        let d = Design {
            workload: &w,
            settings: &s,
        };
        let deployment = d.deployment().to_string();
        assert!(!deployment.contains("tok-123"), "{deployment}");
        assert!(!deployment.contains("sha512:ab:cd"));
        let env = &d.deployment()["spec"]["template"]["spec"]["containers"][0]["env"];
        let token = env
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == "api_token")
            .unwrap();
        assert_eq!(
            token["valueFrom"]["secretKeyRef"]["name"],
            format!("{}-env", w.name)
        );
        let mode = env
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == "MODE_DEV_PROD")
            .unwrap();
        assert_eq!(mode["value"], "PROD");
        let secret = d.secret();
        let b64 = base64::engine::general_purpose::STANDARD;
        assert_eq!(secret["data"]["api_token"], b64.encode("tok-123"));
        assert!(secret["data"].get("MODE_DEV_PROD").is_none());
    }

    #[test]
    fn prod_and_dev_publish_their_ports_by_name() {
        let s = settings(&[]).unwrap();
        let prod = workload(Mode::Prod, false);
        let svc = Design {
            workload: &prod,
            settings: &s,
        }
        .service();
        assert_eq!(svc["spec"]["type"], "NodePort");
        assert_eq!(svc["spec"]["ports"].as_array().unwrap().len(), 1);
        assert_eq!(svc["spec"]["ports"][0]["name"], "api");
        let dev = workload(Mode::Dev, false);
        let svc = Design {
            workload: &dev,
            settings: &s,
        }
        .service();
        let ports: Vec<(String, u64)> = svc["spec"]["ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["name"].as_str().unwrap().to_string(),
                    p["port"].as_u64().unwrap(),
                )
            })
            .collect();
        assert!(ports.contains(&("mlflow".into(), 6060)), "{ports:?}");
        assert!(ports.contains(&("jupyter".into(), 8888)), "{ports:?}");
        assert_eq!(ports.len(), 5);
        // The selector never holds the spec, so a new spec can be applied to the Deployment.
        let d = Design {
            workload: &dev,
            settings: &s,
        };
        assert!(d.selector().keys().all(|k| k != label::SPEC_ID));
        let selector = &d.deployment()["spec"]["selector"]["matchLabels"];
        let pod = &d.deployment()["spec"]["template"]["metadata"]["labels"];
        for (k, v) in selector.as_object().unwrap() {
            assert_eq!(&pod[k], v, "{k}");
        }
    }

    #[test]
    fn gpu_hpa_ingress_and_routes_appear_when_asked() {
        let gpu = workload(Mode::Prod, true);
        let s = settings(&[
            ("hpa_enabled", "true"),
            ("service_type", "ingress"),
            ("ingress_host_pattern", "{name}-{port}.apps.example.com"),
            (
                "ingress_annotations",
                r#"{"nginx.ingress.kubernetes.io/ssl-redirect": "true", "n": 1}"#,
            ),
            ("image_pull_secrets", "regcred"),
            ("storage_class", "nfs"),
        ])
        .unwrap();
        let d = Design {
            workload: &gpu,
            settings: &s,
        };
        let dep = d.deployment();
        let c = &dep["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["resources"]["limits"]["nvidia.com/gpu"], "1");
        assert!(dep["spec"].get("replicas").is_none(), "left to the HPA");
        assert_eq!(
            dep["spec"]["template"]["spec"]["imagePullSecrets"][0]["name"],
            "regcred"
        );
        assert_eq!(
            dep["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"],
            "dltk"
        );
        let ing = d.ingresses();
        assert_eq!(ing.len(), 1);
        assert_eq!(
            ing[0]["spec"]["rules"][0]["host"],
            format!("{}-api.apps.example.com", gpu.name)
        );
        assert_eq!(
            ing[0]["metadata"]["annotations"]["nginx.ingress.kubernetes.io/ssl-redirect"],
            "true"
        );
        assert_eq!(ing[0]["metadata"]["annotations"]["n"], "1");
        assert!(d.routes().is_empty());
        let hpa = d.autoscaler().unwrap();
        assert_eq!(
            hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"],
            70
        );
        assert_eq!(d.dependents().len(), 4, "secret, service, ingress, hpa");

        let s = settings(&[("service_type", "route"), ("in_cluster_mode", "true")]).unwrap();
        let dev = workload(Mode::Dev, false);
        let d = Design {
            workload: &dev,
            settings: &s,
        };
        let routes = d.routes();
        assert_eq!(
            routes.len(),
            4,
            "every port but the API, which Splunk reaches inside"
        );
        assert!(
            routes
                .iter()
                .all(|r| r["spec"]["tls"]["termination"] == "edge")
        );
        assert_eq!(d.service()["spec"]["type"], "ClusterIP");
        assert!(d.ingresses().is_empty() && d.autoscaler().is_none());
        let dep = d.deployment();
        assert!(
            dep["spec"]["template"]["spec"]
                .get("imagePullSecrets")
                .is_none()
        );
        assert!(dep["spec"]["template"]["spec"].get("volumes").is_none());
    }

    #[test]
    fn every_object_is_owned_by_the_deployment_when_applied() {
        let w = workload(Mode::Prod, false);
        let s = settings(&[]).unwrap();
        let d = Design {
            workload: &w,
            settings: &s,
        };
        for obj in d.dependents() {
            let owned = owned_by(obj, &w.name, "uid-1");
            assert_eq!(owned["metadata"]["ownerReferences"][0]["uid"], "uid-1");
            assert_eq!(owned["metadata"]["namespace"], "dsdl");
            assert_eq!(
                owned["metadata"]["labels"][label::MANAGED_BY],
                label::MANAGER
            );
        }
    }
}
