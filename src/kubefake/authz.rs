//! Who may do what: a configurable list of rules (user, verbs, API groups, resources,
//! namespaces; `*` for any), read both to authorise each request (403 when no rule allows
//! it) and to answer `SelfSubjectAccessReview`s. Discovery and `/version` are open to every
//! authenticated user, and so is asking about one's own access, as the default RBAC roles
//! `system:discovery` and `system:basic-user` make them on a real cluster. Pure.

use super::status::{self, Reply};
use serde_json::{Value, json};

/// One permission: `user` may do `verbs` on `resources` of `groups` in `namespaces`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The user name.
    pub user: String,
    /// Verbs (`get`, `list`, `create`, ...), or `*`.
    pub verbs: Vec<String>,
    /// API groups ("" for the core group), or `*`.
    pub groups: Vec<String>,
    /// Resources, optionally `resource/subresource` (`pods/log`), or `*`.
    pub resources: Vec<String>,
    /// Namespaces the rule holds in; empty: every namespace and the cluster scope.
    pub namespaces: Vec<String>,
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

impl Rule {
    /// Everything, everywhere (a cluster admin).
    pub fn admin(user: &str) -> Rule {
        Rule {
            user: user.into(),
            verbs: strings(&["*"]),
            groups: strings(&["*"]),
            resources: strings(&["*"]),
            namespaces: Vec::new(),
        }
    }

    /// `verbs` on `resources` (in any group) in `namespaces` (empty: everywhere).
    pub fn allow(user: &str, verbs: &[&str], resources: &[&str], namespaces: &[&str]) -> Rule {
        Rule {
            user: user.into(),
            verbs: strings(verbs),
            groups: strings(&["*"]),
            resources: strings(resources),
            namespaces: strings(namespaces),
        }
    }

    fn covers(&self, a: &Attributes) -> bool {
        let any = |list: &[String], v: &str| list.iter().any(|x| x == "*" || x == v);
        let resource = match &a.subresource {
            Some(sub) if !sub.is_empty() => format!("{}/{sub}", a.resource),
            _ => a.resource.clone(),
        };
        self.user == a.user
            && any(&self.verbs, &a.verb)
            && any(&self.groups, &a.group)
            && any(&self.resources, &resource)
            && (self.namespaces.is_empty()
                || a.namespace
                    .as_ref()
                    .is_some_and(|n| self.namespaces.contains(n)))
    }
}

/// What a request (or a review) asks to do.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Attributes {
    /// Who asks.
    pub user: String,
    /// The verb.
    pub verb: String,
    /// The API group ("" for core).
    pub group: String,
    /// The resource (plural).
    pub resource: String,
    /// The subresource, e.g. `log`.
    pub subresource: Option<String>,
    /// The namespace; `None` for cluster scope.
    pub namespace: Option<String>,
    /// The object's name, when one is named.
    pub name: Option<String>,
}

/// Whether some rule allows `a`.
pub fn allowed(rules: &[Rule], a: &Attributes) -> bool {
    rules.iter().any(|r| r.covers(a))
}

/// The 403 the API server gives for `a`.
pub fn forbidden(a: &Attributes) -> Reply {
    let subject = match &a.name {
        Some(n) => format!("{} \"{n}\"", status::qualified(&a.group, &a.resource)),
        None => status::qualified(&a.group, &a.resource),
    };
    let resource = match &a.subresource {
        Some(sub) => format!("{}/{sub}", a.resource),
        None => a.resource.clone(),
    };
    let scope = match &a.namespace {
        Some(ns) => format!("in the namespace \"{ns}\""),
        None => "at the cluster scope".to_string(),
    };
    status::failure(
        403,
        "Forbidden",
        &format!(
            "{subject} is forbidden: User \"{}\" cannot {} resource \"{resource}\" in API group \
             \"{}\" {scope}",
            a.user, a.verb, a.group
        ),
        Some(
            json!({"name": a.name.clone().unwrap_or_default(), "group": a.group, "kind": a.resource}),
        ),
    )
}

/// Answers a `SelfSubjectAccessReview` body for `user`: the review with its `status`.
pub fn review(rules: &[Rule], user: &str, mut body: Value) -> Result<Value, Reply> {
    let spec = &body["spec"];
    let Some(ra) = spec.get("resourceAttributes").filter(|v| v.is_object()) else {
        if spec
            .get("nonResourceAttributes")
            .is_some_and(Value::is_object)
        {
            body["status"] = json!({"allowed": true, "reason": "non-resource URLs are open to authenticated users"});
            return Ok(body);
        }
        return Err(status::invalid(
            "authorization.k8s.io",
            "selfsubjectaccessreviews",
            "",
            "spec.resourceAttributes: Invalid value: exactly one of nonResourceAttributes or \
             resourceAttributes must be specified",
        ));
    };
    let text = |k: &str| ra.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let opt = |k: &str| Some(text(k)).filter(|s| !s.is_empty());
    let a = Attributes {
        user: user.to_string(),
        verb: text("verb"),
        group: text("group"),
        resource: text("resource"),
        subresource: opt("subresource"),
        namespace: opt("namespace"),
        name: opt("name"),
    };
    body["status"] = if allowed(rules, &a) {
        json!({"allowed": true, "reason": format!("allowed by the fake's rules for {user:?}")})
    } else {
        json!({"allowed": false})
    };
    body["kind"] = json!("SelfSubjectAccessReview");
    body["apiVersion"] = json!("authorization.k8s.io/v1");
    if !body["metadata"].is_object() {
        body["metadata"] = json!({});
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(user: &str, verb: &str, resource: &str, ns: Option<&str>) -> Attributes {
        Attributes {
            user: user.into(),
            verb: verb.into(),
            resource: resource.into(),
            namespace: ns.map(Into::into),
            ..Attributes::default()
        }
    }

    #[test]
    fn rules_decide() {
        let rules = vec![
            Rule::admin("root"),
            Rule::allow(
                "dev",
                &["get", "list"],
                &["configmaps", "pods/log"],
                &["dsdl"],
            ),
        ];
        assert!(allowed(&rules, &attrs("root", "delete", "nodes", None)));
        assert!(allowed(
            &rules,
            &attrs("dev", "list", "configmaps", Some("dsdl"))
        ));
        assert!(!allowed(
            &rules,
            &attrs("dev", "list", "configmaps", Some("other"))
        ));
        assert!(!allowed(&rules, &attrs("dev", "list", "configmaps", None)));
        assert!(!allowed(
            &rules,
            &attrs("dev", "create", "configmaps", Some("dsdl"))
        ));
        assert!(!allowed(
            &rules,
            &attrs("nobody", "get", "configmaps", Some("dsdl"))
        ));
        let mut log = attrs("dev", "get", "pods", Some("dsdl"));
        assert!(!allowed(&rules, &log));
        log.subresource = Some("log".into());
        assert!(allowed(&rules, &log));
    }

    #[test]
    fn forbidden_reads_like_the_api_server() {
        let mut a = attrs("bob", "get", "namespaces", None);
        a.name = Some("dsdl".into());
        let r = forbidden(&a);
        assert_eq!(r.code, 403);
        assert_eq!(
            r.body["message"],
            "namespaces \"dsdl\" is forbidden: User \"bob\" cannot get resource \"namespaces\" \
             in API group \"\" at the cluster scope"
        );
    }

    #[test]
    fn reviews_answer_from_the_rules() {
        let rules = vec![Rule::allow("dev", &["create"], &["deployments"], &["dsdl"])];
        let ask = |verb: &str, ns: &str| {
            review(
                &rules,
                "dev",
                json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                       "spec": {"resourceAttributes": {"verb": verb, "group": "apps",
                                "resource": "deployments", "namespace": ns}}}),
            )
            .unwrap()["status"]["allowed"]
                .as_bool()
                .unwrap()
        };
        assert!(ask("create", "dsdl"));
        assert!(!ask("delete", "dsdl"));
        assert!(!ask("create", "default"));
        assert_eq!(
            review(&rules, "dev", json!({"spec": {}})).unwrap_err().code,
            422
        );
    }
}
