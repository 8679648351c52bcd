//! What the Kubernetes runtime may need to do in its namespace, as the `(verb, resource)`
//! pairs a `SelfSubjectAccessReview` asks about, so a connection test can name each missing
//! permission before a start runs into it. Pure.

/// The verbs used on an object the runtime manages whole.
const MANAGE: &[&str] = &["create", "get", "list", "patch", "delete"];

/// One permission: `verb` on `resource` (with its API group and subresource).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    /// `create`, `get`, ...
    pub verb: &'static str,
    /// The API group (`""` for the core group).
    pub group: &'static str,
    /// The plural resource name.
    pub resource: &'static str,
    /// `log` for `pods/log`.
    pub subresource: Option<&'static str>,
}

impl Permission {
    /// `resource.group` or `resource/subresource`, as RBAC rules and kubectl name it.
    pub fn resource_name(&self) -> String {
        match (self.group, self.subresource) {
            ("", None) => self.resource.to_string(),
            ("", Some(sub)) => format!("{}/{sub}", self.resource),
            (group, None) => format!("{}.{group}", self.resource),
            (group, Some(sub)) => format!("{}.{group}/{sub}", self.resource),
        }
    }
}

impl std::fmt::Display for Permission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.verb, self.resource_name())
    }
}

/// Every permission the runtime needs for a connection with `service_type` (`ingress` adds
/// Ingresses, `route` OpenShift Routes) and, when `storage_class` is set, the shared PVC's
/// creation. Deployments, Services, Secrets (the API token) and HPAs are managed whole; pods
/// are read (state and logs); the shared PVC is read.
pub fn required(service_type: &str, storage_class: bool) -> Vec<Permission> {
    let mut wanted: Vec<(
        &[&'static str],
        &'static str,
        &'static str,
        Option<&'static str>,
    )> = vec![
        (MANAGE, "apps", "deployments", None),
        (MANAGE, "", "services", None),
        (&["create", "get", "patch", "delete"], "", "secrets", None),
        (MANAGE, "autoscaling", "horizontalpodautoscalers", None),
        (&["get", "list"], "", "pods", None),
        (&["get"], "", "pods", Some("log")),
    ];
    match service_type.trim() {
        "ingress" => wanted.push((MANAGE, "networking.k8s.io", "ingresses", None)),
        "route" => wanted.push((MANAGE, "route.openshift.io", "routes", None)),
        _ => {}
    }
    let pvc: &[&str] = if storage_class {
        &["create", "get"]
    } else {
        &["get"]
    };
    wanted.push((pvc, "", "persistentvolumeclaims", None));
    wanted
        .into_iter()
        .flat_map(|(verbs, group, resource, subresource)| {
            verbs.iter().map(move |verb| Permission {
                verb,
                group,
                resource,
                subresource,
            })
        })
        .collect()
}

/// A kubectl command that grants `missing` in `namespace` to whoever is bound to the role
/// (verbs and resources are merged, so it may grant a little more than is missing).
pub fn grant_hint(missing: &[Permission], namespace: &str) -> String {
    let mut verbs: Vec<&str> = Vec::new();
    let mut resources: Vec<String> = Vec::new();
    for p in missing {
        if !verbs.contains(&p.verb) {
            verbs.push(p.verb);
        }
        let name = p.resource_name();
        if !resources.contains(&name) {
            resources.push(name);
        }
    }
    format!(
        "Grant them with a Role and a RoleBinding, e.g. kubectl -n {namespace} create role \
         dsdl-handler --verb={} --resource={}, then kubectl -n {namespace} create rolebinding \
         dsdl-handler --role=dsdl-handler --user=<the connection's user> (or \
         --serviceaccount=<namespace>:<name>).",
        verbs.join(","),
        resources.join(",")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[Permission]) -> Vec<String> {
        list.iter().map(|p| p.to_string()).collect()
    }

    #[test]
    fn the_service_type_and_storage_class_decide_the_extras() {
        let base = names(&required("node_port", false));
        for p in [
            "create deployments.apps",
            "patch deployments.apps",
            "delete services",
            "get pods/log",
            "list pods",
            "create secrets",
            "delete horizontalpodautoscalers.autoscaling",
            "get persistentvolumeclaims",
        ] {
            assert!(base.contains(&p.to_string()), "{p} in {base:?}");
        }
        assert!(
            !base
                .iter()
                .any(|p| p.contains("ingresses") || p.contains("routes"))
        );
        assert!(!base.contains(&"create persistentvolumeclaims".to_string()));

        let ingress = names(&required("ingress", true));
        assert!(ingress.contains(&"create ingresses.networking.k8s.io".to_string()));
        assert!(ingress.contains(&"create persistentvolumeclaims".to_string()));
        let route = names(&required(" route ", false));
        assert!(route.contains(&"delete routes.route.openshift.io".to_string()));
        assert!(!route.iter().any(|p| p.contains("ingresses")));
        // No pair twice.
        let mut sorted = ingress.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), ingress.len());
    }

    #[test]
    fn the_grant_hint_names_each_verb_and_resource_once() {
        let missing = [
            Permission {
                verb: "create",
                group: "apps",
                resource: "deployments",
                subresource: None,
            },
            Permission {
                verb: "get",
                group: "",
                resource: "pods",
                subresource: Some("log"),
            },
            Permission {
                verb: "create",
                group: "",
                resource: "services",
                subresource: None,
            },
        ];
        let hint = grant_hint(&missing, "dsdl");
        assert!(
            hint.contains("--verb=create,get --resource=deployments.apps,pods/log,services"),
            "{hint}"
        );
        assert!(hint.contains("kubectl -n dsdl create role"), "{hint}");
    }
}
