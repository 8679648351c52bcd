//! Paths to routes (pure), and the answer to each: discovery from the type table, objects
//! from the store, `SelfSubjectAccessReview`s from the rules. Every resource request is
//! authorised here with the attributes a kube-apiserver would derive from it.

use super::authz::{self, Attributes, Rule};
use super::resources::{self, ResourceType};
use super::selector;
use super::status::{self, Reply};
use super::store::Store;
use serde_json::Value;

/// What a path asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    /// `/version`.
    Version,
    /// `/api`: the core group's versions.
    Api,
    /// `/apis`: the named groups.
    Apis,
    /// `/apis/{group}`.
    ApiGroup(String),
    /// `/api/v1` or `/apis/{group}/{version}`: one group version's resources.
    Resources {
        /// "" for core.
        group: String,
        /// The version.
        version: String,
    },
    /// A type's objects, in a namespace or (`None`) in all of them / the cluster.
    Collection {
        /// The type.
        rt: &'static ResourceType,
        /// The namespace of the path.
        namespace: Option<String>,
    },
    /// One object.
    Object {
        /// The type.
        rt: &'static ResourceType,
        /// The namespace of the path.
        namespace: Option<String>,
        /// Its name.
        name: String,
    },
    /// Anything else.
    NotFound,
}

/// The route of `path`.
pub fn parse(path: &str) -> Route {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let (group, version, rest) = match segs.as_slice() {
        ["version"] => return Route::Version,
        ["api"] => return Route::Api,
        ["apis"] => return Route::Apis,
        ["apis", g] => return Route::ApiGroup(g.to_string()),
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Route::NotFound,
    };
    let find = |plural: &str| resources::find(group, version, plural);
    match rest {
        [] => Route::Resources {
            group: group.into(),
            version: version.into(),
        },
        ["namespaces", ns, plural, tail @ ..] if !ns.is_empty() => {
            let Some(rt) = find(plural).filter(|t| t.namespaced) else {
                return Route::NotFound;
            };
            let namespace = Some(ns.to_string());
            match tail {
                [] => Route::Collection { rt, namespace },
                [name] => Route::Object {
                    rt,
                    namespace,
                    name: name.to_string(),
                },
                _ => Route::NotFound,
            }
        }
        [plural] => match find(plural) {
            Some(rt) => Route::Collection {
                rt,
                namespace: None,
            },
            None => Route::NotFound,
        },
        [plural, name] => match find(plural).filter(|t| !t.namespaced) {
            Some(rt) => Route::Object {
                rt,
                namespace: None,
                name: name.to_string(),
            },
            None => Route::NotFound,
        },
        _ => Route::NotFound,
    }
}

/// What a request handler sees besides the request.
pub struct Context<'a> {
    /// The objects.
    pub store: &'a mut Store,
    /// The permissions.
    pub rules: &'a [Rule],
    /// The authenticated user.
    pub user: &'a str,
    /// `host:port` as clients reach the server (for `/api`).
    pub server_address: &'a str,
    /// The `/version` document.
    pub version: &'a Value,
}

/// The verb RBAC knows a request by.
fn verb(method: &str, route: &Route, query: &[(String, String)]) -> Option<&'static str> {
    let watch = query
        .iter()
        .any(|(k, v)| k == "watch" && (v == "true" || v == "1"));
    Some(match (method, route) {
        ("GET", Route::Collection { .. }) if watch => "watch",
        ("GET", Route::Collection { .. }) => "list",
        ("POST", Route::Collection { .. }) => "create",
        ("DELETE", Route::Collection { .. }) => "deletecollection",
        ("GET", Route::Object { .. }) => "get",
        ("PUT", Route::Object { .. }) => "update",
        ("PATCH", Route::Object { .. }) => "patch",
        ("DELETE", Route::Object { .. }) => "delete",
        _ => return None,
    })
}

/// Answers `method` on `route`.
pub fn handle(
    ctx: Context<'_>,
    method: &str,
    route: &Route,
    query: &[(String, String)],
    body: &[u8],
) -> Reply {
    let discovery = |found: Option<Value>| found.map(Reply::ok).unwrap_or_else(status::no_route);
    let (rt, namespace, name) = match route {
        Route::NotFound => return status::no_route(),
        _ if method != "GET"
            && !matches!(route, Route::Collection { .. } | Route::Object { .. }) =>
        {
            return status::method_not_allowed();
        }
        Route::Version => return Reply::ok(ctx.version.clone()),
        Route::Api => return Reply::ok(resources::api_versions(ctx.server_address)),
        Route::Apis => return Reply::ok(resources::group_list()),
        Route::ApiGroup(g) => return discovery(resources::api_group(g)),
        Route::Resources { group, version } => {
            return discovery(resources::resource_list(group, version));
        }
        Route::Collection { rt, namespace } => (*rt, namespace.clone(), None),
        Route::Object {
            rt,
            namespace,
            name,
        } => (*rt, namespace.clone(), Some(name.clone())),
    };
    let Some(verb) = verb(method, route, query).filter(|v| rt.allows(v)) else {
        return status::method_not_allowed();
    };
    // Everyone may ask who they are (system:basic-user).
    if rt.plural == "selfsubjectreviews" {
        return match serde_json::from_slice(body) {
            Ok(review) => Reply::created(super::auth::self_review(ctx.user, review)),
            Err(e) => status::bad_request(&format!("the body is not JSON: {e}")),
        };
    }
    // Everyone may ask what they may do (system:basic-user).
    if rt.plural == "selfsubjectaccessreviews" {
        return match serde_json::from_slice(body) {
            Ok(review) => {
                authz::review(ctx.rules, ctx.user, review).map_or_else(|e| e, Reply::created)
            }
            Err(e) => status::bad_request(&format!("the body is not JSON: {e}")),
        };
    }
    let attributes = Attributes {
        user: ctx.user.to_string(),
        verb: verb.to_string(),
        group: rt.group.to_string(),
        resource: rt.plural.to_string(),
        subresource: None,
        // The API server files a namespace under itself.
        namespace: if rt.plural == "namespaces" {
            name.clone()
        } else {
            namespace.clone()
        },
        name: name.clone(),
    };
    if !authz::allowed(ctx.rules, &attributes) {
        return authz::forbidden(&attributes);
    }
    let ns = namespace.as_deref().unwrap_or("");
    let namespaces = resources::find("", "v1", "namespaces");
    let result = match (verb, name) {
        ("list", _) => {
            let text = query
                .iter()
                .find(|(k, _)| k == "labelSelector")
                .map(|(_, v)| v.as_str())
                .unwrap_or("");
            match selector::parse(text) {
                Ok(sel) => Ok(Reply::ok(ctx.store.list(rt, namespace.as_deref(), &sel))),
                Err(e) => Err(status::bad_request(&e)),
            }
        }
        ("get", Some(name)) => ctx.store.get(rt, ns, &name).map(Reply::ok),
        ("delete", Some(name)) => ctx.store.delete(rt, ns, &name).map(|obj| {
            status::success(serde_json::json!({
                "name": name, "group": rt.group, "kind": rt.plural,
                "uid": obj["metadata"]["uid"],
            }))
        }),
        ("create", None) => match serde_json::from_slice::<Value>(body) {
            Err(e) => Err(status::bad_request(&format!("the body is not JSON: {e}"))),
            Ok(_) if rt.namespaced && namespace.is_none() => Err(status::method_not_allowed()),
            Ok(obj) => match namespaces.filter(|_| rt.namespaced) {
                Some(ns_type) if ctx.store.get(ns_type, "", ns).is_err() => {
                    Err(status::not_found("namespaces", ns))
                }
                _ => ctx.store.create(rt, ns, obj).map(Reply::created),
            },
        },
        _ => Err(status::method_not_allowed()),
    };
    result.unwrap_or_else(|e| e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_route() {
        assert_eq!(parse("/version"), Route::Version);
        assert_eq!(
            parse("/apis/authorization.k8s.io"),
            Route::ApiGroup("authorization.k8s.io".into())
        );
        assert_eq!(
            parse("/api/v1"),
            Route::Resources {
                group: "".into(),
                version: "v1".into()
            }
        );
        let ns = resources::find("", "v1", "namespaces").unwrap();
        let cm = resources::find("", "v1", "configmaps").unwrap();
        assert_eq!(
            parse("/api/v1/namespaces/dsdl"),
            Route::Object {
                rt: ns,
                namespace: None,
                name: "dsdl".into()
            }
        );
        assert_eq!(
            parse("/api/v1/namespaces"),
            Route::Collection {
                rt: ns,
                namespace: None
            }
        );
        assert_eq!(
            parse("/api/v1/namespaces/dsdl/configmaps/c"),
            Route::Object {
                rt: cm,
                namespace: Some("dsdl".into()),
                name: "c".into()
            }
        );
        assert_eq!(
            parse("/api/v1/configmaps"),
            Route::Collection {
                rt: cm,
                namespace: None
            }
        );
        assert_eq!(
            parse("/api/v1/configmaps/c"),
            Route::NotFound,
            "namespaced needs a namespace"
        );
        assert_eq!(
            parse("/api/v1/namespaces/dsdl/nodes"),
            Route::NotFound,
            "nodes are cluster-scoped"
        );
        assert_eq!(parse("/apis/apps/v1/deployments"), Route::NotFound);
        assert_eq!(parse("/healthz/x"), Route::NotFound);
    }

    fn call(
        store: &mut Store,
        rules: &[Rule],
        user: &str,
        method: &str,
        path: &str,
        body: Value,
    ) -> Reply {
        let version = json!({"gitVersion": "v1.33.0"});
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let query: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        let ctx = Context {
            store,
            rules,
            user,
            server_address: "127.0.0.1:1",
            version: &version,
        };
        handle(
            ctx,
            method,
            &parse(path),
            &query,
            body.to_string().as_bytes(),
        )
    }

    #[test]
    fn requests_are_authorised_and_served() {
        let mut s = Store::default();
        let rules = vec![
            Rule::admin("root"),
            Rule::allow(
                "dev",
                &["get", "list", "create"],
                &["configmaps", "namespaces"],
                &["dsdl"],
            ),
        ];
        let r = &rules;
        assert_eq!(
            call(
                &mut s,
                r,
                "root",
                "POST",
                "/api/v1/namespaces",
                json!({"metadata": {"name": "dsdl"}})
            )
            .code,
            201
        );
        assert_eq!(
            call(
                &mut s,
                r,
                "dev",
                "GET",
                "/api/v1/namespaces/dsdl",
                json!(null)
            )
            .code,
            200
        );
        let denied = call(&mut s, r, "dev", "GET", "/api/v1/namespaces", json!(null));
        assert_eq!(denied.code, 403);
        assert_eq!(
            denied.body["message"],
            "namespaces is forbidden: User \"dev\" cannot list resource \"namespaces\" in API group \"\" at the cluster scope"
        );
        let cm = json!({"metadata": {"name": "c", "labels": {"a": "b"}}});
        assert_eq!(
            call(
                &mut s,
                r,
                "dev",
                "POST",
                "/api/v1/namespaces/dsdl/configmaps",
                cm.clone()
            )
            .code,
            201
        );
        assert_eq!(
            call(
                &mut s,
                r,
                "dev",
                "POST",
                "/api/v1/namespaces/dsdl/configmaps",
                cm.clone()
            )
            .code,
            409
        );
        assert_eq!(
            call(
                &mut s,
                r,
                "root",
                "POST",
                "/api/v1/namespaces/gone/configmaps",
                cm
            )
            .code,
            404
        );
        let list = call(
            &mut s,
            r,
            "dev",
            "GET",
            "/api/v1/namespaces/dsdl/configmaps?labelSelector=a%3Db",
            json!(null),
        );
        assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
        assert_eq!(
            call(
                &mut s,
                r,
                "dev",
                "GET",
                "/api/v1/namespaces/dsdl/configmaps?labelSelector=a+in",
                json!(null)
            )
            .code,
            400
        );
        assert_eq!(
            call(
                &mut s,
                r,
                "dev",
                "DELETE",
                "/api/v1/namespaces/dsdl/configmaps/c",
                json!(null)
            )
            .code,
            403
        );
        let del = call(
            &mut s,
            r,
            "root",
            "DELETE",
            "/api/v1/namespaces/dsdl/configmaps/c",
            json!(null),
        );
        assert_eq!(
            (del.code, del.body["status"].as_str()),
            (200, Some("Success"))
        );
        assert_eq!(
            call(
                &mut s,
                r,
                "root",
                "GET",
                "/api/v1/namespaces/dsdl/configmaps/c",
                json!(null)
            )
            .code,
            404
        );
        assert_eq!(
            call(&mut s, r, "root", "POST", "/api/v1/nodes", json!({})).code,
            405
        );
        assert_eq!(
            call(&mut s, r, "root", "POST", "/version", json!({})).code,
            405
        );
        let review = json!({"spec": {"resourceAttributes": {"verb": "create", "resource": "configmaps", "namespace": "dsdl"}}});
        let answer = call(
            &mut s,
            r,
            "dev",
            "POST",
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            review,
        );
        assert_eq!(
            (answer.code, answer.body["status"]["allowed"].as_bool()),
            (201, Some(true))
        );
        assert_eq!(
            call(&mut s, r, "nobody", "GET", "/apis", json!(null)).code,
            200
        );
    }
}
