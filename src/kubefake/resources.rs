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

/// The named groups (not the core one), in table order.
fn groups() -> Vec<(&'static str, Vec<&'static str>)> {
    let mut out: Vec<(&str, Vec<&str>)> = Vec::new();
    for t in TYPES.iter().filter(|t| !t.group.is_empty()) {
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
pub fn group_list() -> Value {
    let groups: Vec<Value> = groups()
        .iter()
        .map(|(name, versions)| group_object(name, versions))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `GET /apis/{group}`.
pub fn api_group(group: &str) -> Option<Value> {
    let (name, versions) = groups().into_iter().find(|(g, _)| *g == group)?;
    let mut obj = group_object(name, &versions);
    obj["kind"] = json!("APIGroup");
    obj["apiVersion"] = json!("v1");
    Some(obj)
}

/// `GET /api/v1` or `/apis/{group}/{version}`: the resources of one group version.
pub fn resource_list(group: &str, version: &str) -> Option<Value> {
    let resources: Vec<Value> = TYPES
        .iter()
        .filter(|t| t.group == group && t.version == version)
        .map(ResourceType::discovery)
        .collect();
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
        let core = resource_list("", "v1").unwrap();
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
                "persistentvolumeclaims"
            ]
        );
        let groups = group_list();
        let group_names: Vec<&str> = groups["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            group_names,
            ["authentication.k8s.io", "authorization.k8s.io"]
        );
        assert_eq!(
            groups["groups"][1]["preferredVersion"]["groupVersion"],
            "authorization.k8s.io/v1"
        );
        assert!(resource_list("apps", "v1").is_none());
        assert!(api_group("authorization.k8s.io").is_some());
        assert!(api_group("apps").is_none());
        assert_eq!(find("", "v1", "nodes").unwrap().kind, "Node");
        assert_eq!(by_kind("", "ConfigMap").unwrap().plural, "configmaps");
    }
}
