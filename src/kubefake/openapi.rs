//! A minimal OpenAPI v3 (`/openapi/v3` and one document per group version): no schemas, only
//! each type's object path with a `PATCH` that names its kind and takes `fieldValidation`.
//! That is what kubectl reads to decide the server validates fields itself (`kubectl apply`
//! and `create` refuse to send anything otherwise, unless told `--validate=false`). Pure.

use super::resources::{ResourceType, TYPES};
use serde_json::{Map, Value, json};

/// The path of the document of a group version: `api/v1` or `apis/{group}/{version}`.
fn document_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// The types a cluster serves, as (group, version) pairs in table order.
fn group_versions(openshift: bool) -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for t in TYPES.iter().filter(|t| t.served(openshift)) {
        if !out.contains(&(t.group, t.version)) {
            out.push((t.group, t.version));
        }
    }
    out
}

/// `GET /openapi/v3`: where each group version's document is.
pub fn root(openshift: bool) -> Value {
    let mut paths = Map::new();
    for (group, version) in group_versions(openshift) {
        let path = document_path(group, version);
        paths.insert(
            path.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{path}")}),
        );
    }
    json!({"paths": paths})
}

/// The object path of `t` and its operations.
fn object_path(t: &ResourceType) -> (String, Value) {
    let base = format!("/{}", document_path(t.group, t.version));
    let path = if t.namespaced {
        format!("{base}/namespaces/{{namespace}}/{}/{{name}}", t.plural)
    } else {
        format!("{base}/{}/{{name}}", t.plural)
    };
    let gvk = json!({"group": t.group, "version": t.version, "kind": t.kind});
    let query = |name: &str| json!({"name": name, "in": "query", "schema": {"type": "string"}});
    let mut ops = json!({});
    if t.allows("get") {
        ops["get"] = json!({"x-kubernetes-group-version-kind": gvk, "x-kubernetes-action": "get"});
    }
    if t.allows("patch") {
        ops["patch"] = json!({
            "x-kubernetes-group-version-kind": gvk,
            "x-kubernetes-action": "patch",
            "parameters": [query("dryRun"), query("fieldManager"), query("fieldValidation"),
                           query("force")],
        });
    }
    (path, ops)
}

/// `GET /openapi/v3/api/v1` or `/openapi/v3/apis/{group}/{version}`.
pub fn document(group: &str, version: &str, openshift: bool) -> Option<Value> {
    let types: Vec<&ResourceType> = TYPES
        .iter()
        .filter(|t| t.group == group && t.version == version && t.served(openshift))
        .collect();
    if types.is_empty() {
        return None;
    }
    let paths: Map<String, Value> = types.into_iter().map(object_path).collect();
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.33.0"},
        "paths": paths,
        "components": {"schemas": {}},
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_takes_field_validation() {
        let r = root(false);
        assert_eq!(
            r["paths"]["apis/apps/v1"]["serverRelativeURL"],
            "/openapi/v3/apis/apps/v1"
        );
        assert!(r["paths"].get("apis/route.openshift.io/v1").is_none());
        assert!(root(true)["paths"]["apis/route.openshift.io/v1"].is_object());
        let apps = document("apps", "v1", false).unwrap();
        let patch =
            &apps["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert_eq!(
            patch["x-kubernetes-group-version-kind"]["kind"],
            "Deployment"
        );
        assert!(
            patch["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "fieldValidation")
        );
        assert!(document("", "v1", false).unwrap()["paths"]["/api/v1/nodes/{name}"].is_object());
        assert!(document("batch", "v1", false).is_none());
    }
}
