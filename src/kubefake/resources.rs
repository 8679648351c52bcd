//! The resource types the fake serves, in one table: discovery (`/api`, `/apis`, each group
//! version's resource list), routing and the store all read it, so a new kind (Deployments,
//! Services, Pods...) is one more entry plus whatever behaviour it needs beyond plain CRUD.

use serde_json::{Value, json};

/// One resource type, as discovery describes it.
#[derive(Debug)]
pub struct ResourceType {
    /// API group; empty for the core group.
    pub group: &'static str,
    /// API version within the group.
    pub version: &'static str,
    /// The plural the URL uses.
    pub plural: &'static str,
    /// The singular name.
    pub singular: &'static str,
    /// The object's `kind`.
    pub kind: &'static str,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// The verbs discovery lists, and the only ones the fake accepts for this type.
    pub verbs: &'static [&'static str],
    /// kubectl's abbreviations.
    pub short_names: &'static [&'static str],
    /// Fills in what the server sets on create (e.g. a namespace's `status.phase`).
    pub defaults: fn(&mut Value),
    /// Served only by an OpenShift cluster (`Options::openshift`).
    pub openshift: bool,
}

/// Types are the same when they are served at the same place.
impl PartialEq for ResourceType {
    fn eq(&self, other: &ResourceType) -> bool {
        (self.group, self.version, self.plural) == (other.group, other.version, other.plural)
    }
}

impl ResourceType {
    /// `v1` or `group/version`, as `apiVersion` says.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Whether a cluster (`openshift` or not) serves the type.
    pub fn served(&self, openshift: bool) -> bool {
        openshift || !self.openshift
    }

    /// Whether the type supports `verb`.
    pub fn allows(&self, verb: &str) -> bool {
        self.verbs.contains(&verb)
    }

    /// The entry of an `APIResourceList`.
    fn discovery(&self) -> Value {
        json!({
            "name": self.plural,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": self.verbs,
            "shortNames": self.short_names,
        })
    }
}

fn no_defaults(_: &mut Value) {}

/// A new namespace is `Active` and carries the `kubernetes.io/metadata.name` label.
fn namespace_defaults(obj: &mut Value) {
    let name = obj["metadata"]["name"].clone();
    obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = name;
    obj["spec"]["finalizers"] = json!(["kubernetes"]);
    obj["status"] = json!({"phase": "Active"});
}

/// A new claim waits for a volume (no provisioner runs here), as one on a
/// `WaitForFirstConsumer` storage class does.
fn claim_defaults(obj: &mut Value) {
    obj["status"] = json!({"phase": "Pending"});
}

/// Sets `obj[path]` to `value` unless something is there already: defaults run on every
/// write, as the API server's defaulting does, so they only fill gaps.
fn fill(obj: &mut Value, path: &[&str], value: Value) {
    let mut at = obj;
    for key in path {
        if !at.is_object() {
            *at = json!({});
        }
        at = &mut at[*key];
    }
    if at.is_null() {
        *at = value;
    }
}

/// Kinds whose `spec` changes bump `metadata.generation` start at 1.
fn generation(obj: &mut Value) {
    fill(obj, &["metadata", "generation"], json!(1));
}

/// A Deployment's defaults (apps/v1 `SetDefaults_Deployment`).
fn deployment_defaults(obj: &mut Value) {
    generation(obj);
    fill(obj, &["spec", "replicas"], json!(1));
    fill(obj, &["spec", "revisionHistoryLimit"], json!(10));
    fill(obj, &["spec", "progressDeadlineSeconds"], json!(600));
    fill(
        obj,
        &["spec", "strategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}),
    );
    fill(obj, &["status"], json!({}));
}

/// A Pod waits to be scheduled until the deployment controller moves it on.
fn pod_defaults(obj: &mut Value) {
    fill(obj, &["spec", "restartPolicy"], json!("Always"));
    fill(obj, &["spec", "dnsPolicy"], json!("ClusterFirst"));
    fill(obj, &["status", "phase"], json!("Pending"));
}

/// A Service's defaults; its addresses come from [`super::services`], which needs the store.
fn service_defaults(obj: &mut Value) {
    fill(obj, &["spec", "type"], json!("ClusterIP"));
    fill(obj, &["spec", "sessionAffinity"], json!("None"));
    if let Some(ports) = obj["spec"]["ports"].as_array_mut() {
        for port in ports {
            fill(port, &["protocol"], json!("TCP"));
            let number = port["port"].clone();
            fill(port, &["targetPort"], number);
        }
    }
    fill(obj, &["status", "loadBalancer"], json!({}));
}

/// A Secret is `Opaque` unless typed, and `stringData` is folded into `data` (base64), as
/// the API server does on every write.
fn secret_defaults(obj: &mut Value) {
    use base64::Engine;
    fill(obj, &["type"], json!("Opaque"));
    let Some(plain) = obj.as_object_mut().and_then(|o| o.remove("stringData")) else {
        return;
    };
    if let Some(plain) = plain.as_object() {
        for (key, value) in plain {
            let text = value.as_str().unwrap_or_default();
            obj["data"][key] = json!(base64::engine::general_purpose::STANDARD.encode(text));
        }
    }
}

/// An Ingress (no controller runs here: the load balancer stays empty).
fn ingress_defaults(obj: &mut Value) {
    generation(obj);
    fill(obj, &["status", "loadBalancer"], json!({}));
}

/// An HPA has seen no metrics yet.
fn hpa_defaults(obj: &mut Value) {
    generation(obj);
    fill(
        obj,
        &["status"],
        json!({"currentReplicas": 0, "desiredReplicas": 0}),
    );
}

/// An OpenShift Route: the router admits it at once under `<name>-<namespace>.apps.kube-fake`
/// when no host is given.
fn route_defaults(obj: &mut Value) {
    let host = format!(
        "{}-{}.apps.kube-fake",
        obj["metadata"]["name"].as_str().unwrap_or_default(),
        obj["metadata"]["namespace"].as_str().unwrap_or_default()
    );
    fill(obj, &["spec", "host"], json!(host));
    fill(obj, &["spec", "wildcardPolicy"], json!("None"));
    let host = obj["spec"]["host"].clone();
    obj["status"] = json!({"ingress": [{
        "host": host,
        "routerName": "default",
        "wildcardPolicy": "None",
        "conditions": [{"type": "Admitted", "status": "True"}],
    }]});
}

/// The verbs of plain CRUD objects.
const CRUD: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// Every type served.
pub const TYPES: &[ResourceType] = &[
    ResourceType {
        group: "",
        version: "v1",
        plural: "namespaces",
        singular: "namespace",
        kind: "Namespace",
        namespaced: false,
        verbs: &["create", "delete", "get", "list"],
        short_names: &["ns"],
        defaults: namespace_defaults,
        openshift: false,
    },
    ResourceType {
        group: "",
        version: "v1",
        plural: "nodes",
        singular: "node",
        kind: "Node",
        namespaced: false,
        verbs: &["get", "list"],
        short_names: &["no"],
        defaults: no_defaults,
        openshift: false,
    },
    ResourceType {
        group: "",
        version: "v1",
        plural: "configmaps",
        singular: "configmap",
        kind: "ConfigMap",
        namespaced: true,
        verbs: CRUD,
        short_names: &["cm"],
        defaults: no_defaults,
        openshift: false,
    },
    ResourceType {
        group: "",
        version: "v1",
        plural: "persistentvolumeclaims",
        singular: "persistentvolumeclaim",
        kind: "PersistentVolumeClaim",
        namespaced: true,
        verbs: CRUD,
        short_names: &["pvc"],
        defaults: claim_defaults,
        openshift: false,
    },
    ResourceType {
        group: "",
        version: "v1",
        plural: "pods",
        singular: "pod",
        kind: "Pod",
        namespaced: true,
        verbs: CRUD,
        short_names: &["po"],
        defaults: pod_defaults,
        openshift: false,
    },
    ResourceType {
        group: "",
        version: "v1",
        plural: "services",
        singular: "service",
        kind: "Service",
        namespaced: true,
        verbs: &[
            "create", "delete", "get", "list", "patch", "update", "watch",
        ],
        short_names: &["svc"],
        defaults: service_defaults,
        openshift: false,
    },
    ResourceType {
        group: "",
        version: "v1",
        plural: "secrets",
        singular: "secret",
        kind: "Secret",
        namespaced: true,
        verbs: CRUD,
        short_names: &[],
        defaults: secret_defaults,
        openshift: false,
    },
    ResourceType {
        group: "apps",
        version: "v1",
        plural: "deployments",
        singular: "deployment",
        kind: "Deployment",
        namespaced: true,
        verbs: CRUD,
        short_names: &["deploy"],
        defaults: deployment_defaults,
        openshift: false,
    },
    ResourceType {
        group: "autoscaling",
        version: "v2",
        plural: "horizontalpodautoscalers",
        singular: "horizontalpodautoscaler",
        kind: "HorizontalPodAutoscaler",
        namespaced: true,
        verbs: CRUD,
        short_names: &["hpa"],
        defaults: hpa_defaults,
        openshift: false,
    },
    ResourceType {
        group: "networking.k8s.io",
        version: "v1",
        plural: "ingresses",
        singular: "ingress",
        kind: "Ingress",
        namespaced: true,
        verbs: CRUD,
        short_names: &["ing"],
        defaults: ingress_defaults,
        openshift: false,
    },
    ResourceType {
        group: "route.openshift.io",
        version: "v1",
        plural: "routes",
        singular: "route",
        kind: "Route",
        namespaced: true,
        verbs: CRUD,
        short_names: &[],
        defaults: route_defaults,
        openshift: true,
    },
    ResourceType {
        group: "authentication.k8s.io",
        version: "v1",
        plural: "selfsubjectreviews",
        singular: "selfsubjectreview",
        kind: "SelfSubjectReview",
        namespaced: false,
        verbs: &["create"],
        short_names: &[],
        defaults: no_defaults,
        openshift: false,
    },
    ResourceType {
        group: "authorization.k8s.io",
        version: "v1",
        plural: "selfsubjectaccessreviews",
        singular: "selfsubjectaccessreview",
        kind: "SelfSubjectAccessReview",
        namespaced: false,
        verbs: &["create"],
        short_names: &[],
        defaults: no_defaults,
        openshift: false,
    },
];

/// The type at `group`/`version`/`plural`.
pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static ResourceType> {
    TYPES
        .iter()
        .find(|t| t.group == group && t.version == version && t.plural == plural)
}

/// The type of `kind` (for objects that name theirs).
pub fn by_kind(group: &str, kind: &str) -> Option<&'static ResourceType> {
    TYPES.iter().find(|t| t.group == group && t.kind == kind)
}

/// `GET /api`: the core group's versions.
pub fn api_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

/// The named groups (not the core one) a cluster serves, in table order.
fn groups(openshift: bool) -> Vec<(&'static str, Vec<&'static str>)> {
    let mut out: Vec<(&str, Vec<&str>)> = Vec::new();
    for t in TYPES
        .iter()
        .filter(|t| !t.group.is_empty() && t.served(openshift))
    {
        match out.iter_mut().find(|(g, _)| *g == t.group) {
            Some((_, versions)) if !versions.contains(&t.version) => versions.push(t.version),
            Some(_) => {}
            None => out.push((t.group, vec![t.version])),
        }
    }
    out
}

/// The `APIGroup` object of `name` and its versions (the first preferred).
fn group_object(name: &str, versions: &[&str]) -> Value {
    let versions: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
        .collect();
    json!({
        "name": name,
        "versions": versions,
        "preferredVersion": versions[0],
    })
}

/// `GET /apis`: every named group.
pub fn group_list(openshift: bool) -> Value {
    let groups: Vec<Value> = groups(openshift)
        .iter()
        .map(|(name, versions)| group_object(name, versions))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `GET /apis/{group}`.
pub fn api_group(group: &str, openshift: bool) -> Option<Value> {
    let (name, versions) = groups(openshift).into_iter().find(|(g, _)| *g == group)?;
    let mut obj = group_object(name, &versions);
    obj["kind"] = json!("APIGroup");
    obj["apiVersion"] = json!("v1");
    Some(obj)
}

/// `GET /api/v1` or `/apis/{group}/{version}`: the resources of one group version.
pub fn resource_list(group: &str, version: &str, openshift: bool) -> Option<Value> {
    let mut resources: Vec<Value> = Vec::new();
    for t in TYPES
        .iter()
        .filter(|t| t.group == group && t.version == version && t.served(openshift))
    {
        resources.push(t.discovery());
        // The one subresource served: a pod's log.
        if t.plural == "pods" {
            resources.push(json!({
                "name": "pods/log", "singularName": "", "namespaced": true,
                "kind": "Pod", "verbs": ["get"],
            }));
        }
    }
    if resources.is_empty() {
        return None;
    }
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_lists_every_type_once() {
        let core = resource_list("", "v1", false).unwrap();
        let names: Vec<&str> = core["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "namespaces",
                "nodes",
                "configmaps",
                "persistentvolumeclaims",
                "pods",
                "pods/log",
                "services",
                "secrets"
            ]
        );
        let groups = group_list(false);
        let group_names: Vec<&str> = groups["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            group_names,
            [
                "apps",
                "autoscaling",
                "networking.k8s.io",
                "authentication.k8s.io",
                "authorization.k8s.io"
            ]
        );
        assert_eq!(
            groups["groups"][4]["preferredVersion"]["groupVersion"],
            "authorization.k8s.io/v1"
        );
        assert!(resource_list("apps", "v1", false).is_some());
        assert!(resource_list("apps", "v2", false).is_none());
        assert!(api_group("authorization.k8s.io", false).is_some());
        assert!(api_group("batch", false).is_none());
        // Routes only on OpenShift.
        assert!(api_group("route.openshift.io", false).is_none());
        assert!(resource_list("route.openshift.io", "v1", false).is_none());
        assert!(api_group("route.openshift.io", true).is_some());
        let on_openshift = group_list(true);
        assert!(
            on_openshift["groups"]
                .as_array()
                .unwrap()
                .iter()
                .any(|g| g["name"] == "route.openshift.io")
        );
        assert_eq!(find("", "v1", "nodes").unwrap().kind, "Node");
        assert_eq!(by_kind("", "ConfigMap").unwrap().plural, "configmaps");
        assert_eq!(by_kind("apps", "Deployment").unwrap().plural, "deployments");
    }

    #[test]
    fn defaults_fill_gaps_only() {
        let deploy = find("apps", "v1", "deployments").unwrap();
        let mut d = json!({"metadata": {"name": "m", "generation": 4}, "spec": {"replicas": 0}});
        (deploy.defaults)(&mut d);
        assert_eq!(d["spec"]["replicas"], 0);
        assert_eq!(d["metadata"]["generation"], 4);
        assert_eq!(d["spec"]["progressDeadlineSeconds"], 600);
        let svc = find("", "v1", "services").unwrap();
        let mut s = json!({"spec": {"ports": [{"port": 80}]}});
        (svc.defaults)(&mut s);
        assert_eq!(
            s["spec"]["ports"][0],
            json!({"port": 80, "protocol": "TCP", "targetPort": 80})
        );
        assert_eq!(s["spec"]["type"], "ClusterIP");
        let secret = find("", "v1", "secrets").unwrap();
        let mut x = json!({"stringData": {"k": "v"}, "data": {"a": "Yg=="}});
        (secret.defaults)(&mut x);
        assert_eq!(
            x,
            json!({"data": {"a": "Yg==", "k": "dg=="}, "type": "Opaque"})
        );
        let route = find("route.openshift.io", "v1", "routes").unwrap();
        let mut r = json!({"metadata": {"name": "m", "namespace": "dsdl"}});
        (route.defaults)(&mut r);
        assert_eq!(r["spec"]["host"], "m-dsdl.apps.kube-fake");
        assert!(route.openshift && !route.served(false) && route.served(true));
    }
}
