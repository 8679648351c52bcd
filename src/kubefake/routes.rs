//! Paths to routes (pure), and the answer to each: discovery from the type table, objects
//! from the store, `SelfSubjectAccessReview`s from the rules. Every resource request is
//! authorised here with the attributes a kube-apiserver would derive from it.

use super::apply::{self, PatchKind};
use super::authz::{self, Attributes, Rule};
use super::cluster::{self, Cluster};
use super::resources::{self, ResourceType};
use super::status::{self, Reply};
use super::store::Store;
use super::{controller, gc, logs, openapi, selector, services};
use jiff::Timestamp;
use serde_json::{Value, json};

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
    /// `/openapi/v3`: where each group version's OpenAPI document is.
    OpenApi,
    /// `/openapi/v3/api/v1` or `/openapi/v3/apis/{group}/{version}`.
    OpenApiDocument {
        /// "" for core.
        group: String,
        /// The version.
        version: String,
    },
    /// `/api/v1/namespaces/{ns}/pods/{name}/log`.
    Log {
        /// The namespace.
        namespace: String,
        /// The pod.
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
        ["openapi", "v3"] => return Route::OpenApi,
        ["openapi", "v3", "api", v] => ("", *v, &[][..]),
        ["openapi", "v3", "apis", g, v] => (*g, *v, &[][..]),
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Route::NotFound,
    };
    if segs.first() == Some(&"openapi") {
        return Route::OpenApiDocument {
            group: group.into(),
            version: version.into(),
        };
    }
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
                [name, "log"] if rt.plural == "pods" && rt.group.is_empty() => Route::Log {
                    namespace: ns.to_string(),
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
    /// The simulated parts (controllers, kubelet, load balancers).
    pub cluster: &'a mut Cluster,
    /// The instant the request is answered at.
    pub now: Timestamp,
    /// The request's `Content-Type` ("" when none).
    pub content_type: &'a str,
    /// The request's `User-Agent` (the default field manager).
    pub user_agent: &'a str,
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

/// The value of query parameter `key`.
fn param<'q>(query: &'q [(String, String)], key: &str) -> Option<&'q str> {
    query
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// 404 when a namespaced type's namespace does not exist.
fn namespace_exists(store: &Store, rt: &ResourceType, ns: &str) -> Result<(), Reply> {
    match resources::find("", "v1", "namespaces").filter(|_| rt.namespaced) {
        Some(ns_type) if store.get(ns_type, "", ns).is_err() => {
            Err(status::not_found("namespaces", ns))
        }
        _ => Ok(()),
    }
}

/// What a write does before the store sees it: a Service's addresses.
fn admit(
    store: &Store,
    rt: &ResourceType,
    ns: &str,
    obj: &mut Value,
    old: Option<&Value>,
) -> Result<(), Reply> {
    if rt.group.is_empty() && rt.plural == "services" {
        services::admit(store, ns, obj, old)?;
    }
    Ok(())
}

/// Moves the simulated parts on to the request's instant.
fn catch_up(ctx: &mut Context<'_>) {
    controller::reconcile(ctx.store, ctx.cluster, ctx.now);
    services::reconcile(ctx.store, ctx.cluster, ctx.now);
}

/// Answers `method` on `route`.
pub fn handle(
    mut ctx: Context<'_>,
    method: &str,
    route: &Route,
    query: &[(String, String)],
    body: &[u8],
) -> Reply {
    let openshift = ctx.cluster.behaviour.openshift;
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
        Route::Apis => return Reply::ok(resources::group_list(openshift)),
        Route::ApiGroup(g) => return discovery(resources::api_group(g, openshift)),
        Route::Resources { group, version } => {
            return discovery(resources::resource_list(group, version, openshift));
        }
        Route::OpenApi => return Reply::ok(openapi::root(openshift)),
        Route::OpenApiDocument { group, version } => {
            return discovery(openapi::document(group, version, openshift));
        }
        Route::Log { namespace, name } => return pod_log(ctx, namespace, name, query),
        Route::Collection { rt, namespace } => (*rt, namespace.clone(), None),
        Route::Object {
            rt,
            namespace,
            name,
        } => (*rt, namespace.clone(), Some(name.clone())),
    };
    // A type this cluster does not serve is not there at all (Routes off OpenShift).
    if !rt.served(openshift) {
        return status::no_route();
    }
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
    catch_up(&mut ctx);
    let ns = namespace.as_deref().unwrap_or("");
    let manager = param(query, "fieldManager")
        .map(str::to_string)
        .unwrap_or_else(|| apply::default_manager(ctx.user_agent));
    let result = match (verb, name) {
        ("list", _) => list(&ctx, rt, namespace.as_deref(), query),
        ("get", Some(name)) => ctx.store.get(rt, ns, &name).map(Reply::ok),
        ("delete", Some(name)) => delete(&mut ctx, rt, ns, &name, query, body),
        ("create", None) if rt.namespaced && namespace.is_none() => {
            Err(status::method_not_allowed())
        }
        ("create", None) => create(&mut ctx, rt, ns, &manager, body),
        ("update", Some(name)) => update(&mut ctx, rt, ns, &name, &manager, body),
        ("patch", Some(name)) => patch(&mut ctx, rt, ns, &name, query, body),
        _ => Err(status::method_not_allowed()),
    };
    result.unwrap_or_else(|e| e)
}

/// A list, by label and field selector.
fn list(
    ctx: &Context<'_>,
    rt: &ResourceType,
    namespace: Option<&str>,
    query: &[(String, String)],
) -> Result<Reply, Reply> {
    let labels = selector::parse(param(query, "labelSelector").unwrap_or(""))
        .map_err(|e| status::bad_request(&e))?;
    let fields = selector::parse_fields(param(query, "fieldSelector").unwrap_or(""))
        .map_err(|e| status::bad_request(&e))?;
    let mut answer = ctx.store.list(rt, namespace, &labels);
    if let Some(items) = answer["items"].as_array_mut() {
        items.retain(|obj| selector::fields_match(&fields, obj));
    }
    Ok(Reply::ok(answer))
}

/// `DELETE` of one object, with the cascade: a Status, or for a pod (deleted gracefully on
/// a real cluster) the pod, marked.
fn delete(
    ctx: &mut Context<'_>,
    rt: &ResourceType,
    ns: &str,
    name: &str,
    query: &[(String, String)],
    body: &[u8],
) -> Result<Reply, Reply> {
    let policy = gc::propagation(query, body);
    let mut obj = gc::delete(ctx.store, ctx.cluster, rt, ns, name, policy.as_deref())?;
    if rt.plural == "pods" && rt.group.is_empty() {
        obj["metadata"]["deletionTimestamp"] = json!(cluster::seconds(ctx.now));
        obj["metadata"]["deletionGracePeriodSeconds"] = json!(30);
        return Ok(Reply::ok(obj));
    }
    Ok(status::success(json!({
        "name": name, "group": rt.group, "kind": rt.plural,
        "uid": obj["metadata"]["uid"],
    })))
}

/// `POST`: a new object, its fields owned by `manager` (an `Update`).
fn create(
    ctx: &mut Context<'_>,
    rt: &ResourceType,
    ns: &str,
    manager: &str,
    body: &[u8],
) -> Result<Reply, Reply> {
    let mut obj: Value = serde_json::from_slice(body)
        .map_err(|e| status::bad_request(&format!("the body is not JSON: {e}")))?;
    namespace_exists(ctx.store, rt, ns)?;
    admit(ctx.store, rt, ns, &mut obj, None)?;
    if let Some(meta) = obj["metadata"].as_object_mut() {
        meta.remove("managedFields");
    }
    let paths = apply::field_paths(&obj);
    let now = cluster::seconds(ctx.now);
    apply::record_update(&mut obj, manager, &rt.api_version(), paths, &now);
    ctx.store.create(rt, ns, obj).map(Reply::created)
}

/// `PUT`: replaces the object (409 when `resourceVersion` is given and stale).
fn update(
    ctx: &mut Context<'_>,
    rt: &ResourceType,
    ns: &str,
    name: &str,
    manager: &str,
    body: &[u8],
) -> Result<Reply, Reply> {
    let mut obj: Value = serde_json::from_slice(body)
        .map_err(|e| status::bad_request(&format!("the body is not JSON: {e}")))?;
    if obj["metadata"]["name"].as_str().unwrap_or(name) != name {
        return Err(status::bad_request(&format!(
            "the name of the object ({}) does not match the name on the URL ({name})",
            obj["metadata"]["name"].as_str().unwrap_or_default()
        )));
    }
    obj["metadata"]["name"] = json!(name);
    let live = ctx.store.get(rt, ns, name)?;
    if let Some(rv) = obj["metadata"]["resourceVersion"].as_str()
        && live["metadata"]["resourceVersion"].as_str() != Some(rv)
    {
        return Err(status::conflict(&format!(
            "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; \
             please apply your changes to the latest version and try again",
            status::qualified(rt.group, rt.plural)
        )));
    }
    admit(ctx.store, rt, ns, &mut obj, Some(&live))?;
    let paths = apply::field_paths(&obj);
    obj["metadata"]["managedFields"] = live["metadata"]["managedFields"].clone();
    apply::record_update(
        &mut obj,
        manager,
        &rt.api_version(),
        paths,
        &cluster::seconds(ctx.now),
    );
    ctx.store.replace(rt, ns, obj).map(Reply::ok)
}

/// `PATCH`: server-side apply (creates when absent) or a merge patch.
fn patch(
    ctx: &mut Context<'_>,
    rt: &ResourceType,
    ns: &str,
    name: &str,
    query: &[(String, String)],
    body: &[u8],
) -> Result<Reply, Reply> {
    let now = cluster::seconds(ctx.now);
    let live = ctx.store.get(rt, ns, name).ok();
    match apply::patch_kind(ctx.content_type)? {
        PatchKind::Apply => {
            let Some(manager) = param(query, "fieldManager").filter(|m| !m.is_empty()) else {
                return Err(status::failure(
                    422,
                    "Invalid",
                    "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is \
                     required for apply patch",
                    Some(json!({"group": "meta.k8s.io", "kind": "PatchOptions",
                        "causes": [{"reason": "FieldValueRequired", "message": "Required value: is required for apply patch", "field": "fieldManager"}]})),
                ));
            };
            let force = param(query, "force").is_some_and(|f| f == "true" || f == "1");
            let mut applied = apply::read_body(body)?;
            let given = applied["metadata"]["name"]
                .as_str()
                .unwrap_or(name)
                .to_string();
            if given != name {
                return Err(status::bad_request(&format!(
                    "the name of the object ({given}) does not match the name on the URL ({name})"
                )));
            }
            applied["metadata"]["name"] = json!(name);
            let (api_version, kind) = (rt.api_version(), rt.kind);
            if applied["apiVersion"] != api_version.as_str() || applied["kind"] != kind {
                return Err(status::bad_request(&format!(
                    "an apply patch must name its type: apiVersion {api_version} and kind {kind} \
                     (got {} and {})",
                    applied["apiVersion"], applied["kind"]
                )));
            }
            let mut obj = apply::apply(live.as_ref(), applied, manager, force, &now)?;
            admit(ctx.store, rt, ns, &mut obj, live.as_ref())?;
            if live.is_none() {
                namespace_exists(ctx.store, rt, ns)?;
                return ctx.store.create(rt, ns, obj).map(Reply::created);
            }
            ctx.store.replace(rt, ns, obj).map(Reply::ok)
        }
        PatchKind::Merge => {
            if param(query, "force").is_some() {
                return Err(status::failure(
                    422,
                    "Invalid",
                    "PatchOptions.meta.k8s.io \"\" is invalid: force: Forbidden: may not be \
                     specified for non-apply patch",
                    Some(json!({"group": "meta.k8s.io", "kind": "PatchOptions",
                        "causes": [{"reason": "FieldValueForbidden", "message": "Forbidden: may not be specified for non-apply patch", "field": "force"}]})),
                ));
            }
            let mut obj = live.ok_or_else(|| status::not_found(rt.plural, name))?;
            let patch: Value = serde_json::from_slice(body)
                .map_err(|e| status::bad_request(&format!("the patch is not JSON: {e}")))?;
            let old = obj.clone();
            apply::merge_patch(&mut obj, &patch);
            obj["metadata"]["name"] = json!(name);
            admit(ctx.store, rt, ns, &mut obj, Some(&old))?;
            let manager = param(query, "fieldManager")
                .map(str::to_string)
                .unwrap_or_else(|| apply::default_manager(ctx.user_agent));
            apply::record_update(
                &mut obj,
                &manager,
                &rt.api_version(),
                apply::field_paths(&patch),
                &now,
            );
            ctx.store.replace(rt, ns, obj).map(Reply::ok)
        }
    }
}

/// `GET .../pods/{name}/log`, authorised as `get` on `pods/log`.
fn pod_log(mut ctx: Context<'_>, ns: &str, name: &str, query: &[(String, String)]) -> Reply {
    let attributes = Attributes {
        user: ctx.user.to_string(),
        verb: "get".into(),
        group: String::new(),
        resource: "pods".into(),
        subresource: Some("log".into()),
        namespace: Some(ns.to_string()),
        name: Some(name.to_string()),
    };
    if !authz::allowed(ctx.rules, &attributes) {
        return authz::forbidden(&attributes);
    }
    catch_up(&mut ctx);
    logs::read(ctx.store, ctx.cluster, ns, name, query, ctx.now)
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
        assert_eq!(parse("/apis/batch/v1/jobs"), Route::NotFound);
        assert_eq!(
            parse("/api/v1/namespaces/dsdl/pods/p/log"),
            Route::Log {
                namespace: "dsdl".into(),
                name: "p".into()
            }
        );
        assert_eq!(
            parse("/api/v1/namespaces/dsdl/services/s/log"),
            Route::NotFound
        );
        assert_eq!(parse("/healthz/x"), Route::NotFound);
        assert_eq!(parse("/openapi/v3"), Route::OpenApi);
        assert_eq!(
            parse("/openapi/v3/apis/apps/v1"),
            Route::OpenApiDocument {
                group: "apps".into(),
                version: "v1".into()
            }
        );
        assert_eq!(parse("/openapi/v2"), Route::NotFound);
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
        let mut cluster = Cluster::default();
        let ctx = Context {
            store,
            rules,
            user,
            server_address: "127.0.0.1:1",
            version: &version,
            cluster: &mut cluster,
            now: Timestamp::now(),
            content_type: "application/json",
            user_agent: "test/1.0",
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

    /// A request as admin at `ms` after a fixed instant, with a cluster that persists.
    fn send(
        (store, cluster): (&mut Store, &mut Cluster),
        ms: i64,
        method: &str,
        path: &str,
        content_type: &str,
        body: Value,
    ) -> Reply {
        let version = json!({"gitVersion": "v1.33.0"});
        let rules = [Rule::admin("root")];
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let query: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        let ctx = Context {
            store,
            rules: &rules,
            user: "root",
            server_address: "127.0.0.1:1",
            version: &version,
            cluster,
            now: Timestamp::from_millisecond(1_780_000_000_000 + ms).unwrap(),
            content_type,
            user_agent: "kubectl/v1.33.0 (linux/amd64)",
        };
        let body = if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        };
        handle(ctx, method, &parse(path), &query, &body)
    }

    #[test]
    fn a_deployment_applied_runs_logs_and_goes() {
        let mut store = Store::default();
        let mut cluster = Cluster::default();
        let ns = resources::find("", "v1", "namespaces").unwrap();
        store
            .create(ns, "", json!({"metadata": {"name": "dsdl"}}))
            .unwrap();
        let node = resources::find("", "v1", "nodes").unwrap();
        store
            .create(
                node,
                "",
                json!({"metadata": {"name": "n1"}, "status": {"allocatable": {}}}),
            )
            .unwrap();
        let mut go = |ms: i64, method: &str, path: &str, content_type: &str, body: Value| {
            send(
                (&mut store, &mut cluster),
                ms,
                method,
                path,
                content_type,
                body,
            )
        };
        let apply = "application/apply-patch+yaml";
        let deploy = "/apis/apps/v1/namespaces/dsdl/deployments/m";
        let body = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "m", "labels": {"app": "m"}},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "m"}},
                     "template": {"metadata": {"labels": {"app": "m"}},
                                  "spec": {"containers": [{"name": "c", "image": "model:1"}]}}}});
        // Apply needs a field manager.
        assert_eq!(go(0, "PATCH", deploy, apply, body.clone()).code, 422);
        let with = format!("{deploy}?fieldManager=dsdl-handler&force=true");
        let created = go(0, "PATCH", &with, apply, body.clone());
        assert_eq!(created.code, 201, "{:?}", created.body);
        assert_eq!(created.body["metadata"]["generation"], 1);
        assert_eq!(
            created.body["metadata"]["managedFields"][0]["manager"],
            "dsdl-handler"
        );
        // A second apply of the same object is an update.
        let again = go(10, "PATCH", &with, apply, body.clone());
        assert_eq!(
            (again.code, again.body["metadata"]["generation"].as_u64()),
            (200, Some(1))
        );
        // Another manager changing replicas conflicts.
        let mut three = body.clone();
        three["spec"]["replicas"] = json!(3);
        let other = format!("{deploy}?fieldManager=other");
        let conflict = go(20, "PATCH", &other, apply, three.clone());
        assert_eq!(conflict.code, 409);
        assert_eq!(
            conflict.body["message"],
            "Apply failed with 1 conflict: conflict with \"dsdl-handler\": .spec.replicas"
        );
        // A merge patch needs no manager and bumps the generation.
        let scaled = go(
            30,
            "PATCH",
            deploy,
            "application/merge-patch+json",
            json!({"spec": {"replicas": 1}}),
        );
        assert_eq!(
            (scaled.code, scaled.body["metadata"]["generation"].as_u64()),
            (200, Some(2))
        );
        let merge = "application/merge-patch+json";
        let forced_merge = go(
            31,
            "PATCH",
            &format!("{deploy}?force=true"),
            merge,
            json!({}),
        );
        assert_eq!(forced_merge.code, 422);
        // PUT: a stale resourceVersion is a conflict; the current one replaces.
        let mut put = scaled.body.clone();
        put["metadata"]["resourceVersion"] = json!("1");
        assert_eq!(
            go(32, "PUT", deploy, "application/json", put.clone()).code,
            409
        );
        // The controller writes status in between, as on a real cluster: read, then write.
        let current = go(33, "GET", deploy, "", Value::Null);
        put["metadata"]["resourceVersion"] = current.body["metadata"]["resourceVersion"].clone();
        let replaced = go(33, "PUT", deploy, "application/json", put);
        assert_eq!(
            (
                replaced.code,
                replaced.body["metadata"]["generation"].as_u64()
            ),
            (200, Some(2)),
            "{:?}",
            replaced.body
        );
        let pods = "/api/v1/namespaces/dsdl/pods?labelSelector=app%3Dm";
        let listed = go(40, "GET", pods, "", Value::Null);
        let items = listed.body["items"].as_array().unwrap().clone();
        assert_eq!(items.len(), 1);
        let pod = items[0]["metadata"]["name"].as_str().unwrap().to_string();
        assert!(pod.starts_with("m-"), "{pod}");
        let log = format!("/api/v1/namespaces/dsdl/pods/{pod}/log");
        let waiting = go(50, "GET", &log, "", Value::Null);
        assert_eq!(waiting.code, 400);
        assert_eq!(
            waiting.body["message"],
            format!("container \"c\" in pod \"{pod}\" is waiting to start: ContainerCreating")
        );
        // Ready after 300 ms from its creation at 40 ms.
        let d = go(400, "GET", deploy, "", Value::Null);
        assert_eq!(d.body["status"]["readyReplicas"], 1, "{}", d.body["status"]);
        assert_eq!(d.body["status"]["observedGeneration"], 2);
        let text = go(400, "GET", &format!("{log}?tailLines=1"), "", Value::Null);
        assert_eq!(text.as_text(), Some("Ready to serve\n"));
        // A service owned by the deployment gets an address and goes with it.
        let uid = d.body["metadata"]["uid"].clone();
        let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "m",
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "m", "uid": uid}]},
            "spec": {"type": "NodePort", "selector": {"app": "m"}, "ports": [{"port": 5000}]}});
        let s = go(
            410,
            "PATCH",
            "/api/v1/namespaces/dsdl/services/m?fieldManager=dsdl-handler",
            apply,
            svc,
        );
        assert_eq!(s.code, 201);
        assert_eq!(s.body["spec"]["ports"][0]["nodePort"], 30000);
        assert!(
            s.body["spec"]["clusterIP"]
                .as_str()
                .unwrap()
                .starts_with("10.96.")
        );
        let gone = go(
            420,
            "DELETE",
            &format!("{deploy}?propagationPolicy=Background"),
            "",
            Value::Null,
        );
        assert_eq!(gone.body["status"], "Success");
        assert_eq!(
            go(
                430,
                "GET",
                "/api/v1/namespaces/dsdl/services/m",
                "",
                Value::Null
            )
            .code,
            404
        );
        let left = go(430, "GET", pods, "", Value::Null);
        assert_eq!(left.body["items"], json!([]));
        let by_name = go(
            430,
            "GET",
            "/api/v1/namespaces?fieldSelector=metadata.name%3Ddsdl",
            "",
            Value::Null,
        );
        assert_eq!(by_name.body["items"].as_array().unwrap().len(), 1);
        // Routes exist only on OpenShift.
        let route = "/apis/route.openshift.io/v1/namespaces/dsdl/routes";
        assert_eq!(go(440, "GET", route, "", Value::Null).code, 404);
        cluster.behaviour.openshift = true;
        let on_openshift = send(
            (&mut store, &mut cluster),
            440,
            "GET",
            route,
            "",
            Value::Null,
        );
        assert_eq!(on_openshift.code, 200);
    }

    #[test]
    fn the_template_and_replicas_decide_the_pods() {
        let mut store = Store::default();
        let mut cluster = Cluster::default();
        let ns = resources::find("", "v1", "namespaces").unwrap();
        store
            .create(ns, "", json!({"metadata": {"name": "dsdl"}}))
            .unwrap();
        let mut go = |ms: i64, method: &str, path: &str, body: Value| {
            let ct = "application/apply-patch+yaml";
            send((&mut store, &mut cluster), ms, method, path, ct, body)
        };
        let deploy = |image: &str, replicas: u32| {
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "m"},
                "spec": {"replicas": replicas, "template": {"metadata": {"labels": {"app": "m"}},
                    "spec": {"containers": [{"name": "c", "image": image}]}}}})
        };
        let path = "/apis/apps/v1/namespaces/dsdl/deployments/m?fieldManager=x";
        let names = |r: Reply| -> Vec<String> {
            r.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
                .collect()
        };
        let pods = "/api/v1/namespaces/dsdl/pods";
        assert_eq!(go(0, "PATCH", path, deploy("model:1", 2)).code, 201);
        let first = names(go(1, "GET", pods, Value::Null));
        assert_eq!(first.len(), 2);
        // Another image: every pod is replaced by one of the new template.
        assert_eq!(go(2, "PATCH", path, deploy("model:2", 2)).code, 200);
        let second = names(go(3, "GET", pods, Value::Null));
        assert_eq!(second.len(), 2);
        assert!(
            second.iter().all(|n| !first.contains(n)),
            "{first:?} {second:?}"
        );
        let hash = |n: &str| n.rsplit_once('-').unwrap().0.to_string();
        assert_ne!(hash(&first[0]), hash(&second[0]));
        assert_eq!(hash(&second[0]), hash(&second[1]));
        // Scaled to zero: no pods, and the Deployment says so.
        assert_eq!(go(4, "PATCH", path, deploy("model:2", 0)).code, 200);
        assert!(names(go(5, "GET", pods, Value::Null)).is_empty());
        let d = go(
            6,
            "GET",
            "/apis/apps/v1/namespaces/dsdl/deployments/m",
            Value::Null,
        );
        assert!(
            d.body["status"].get("replicas").is_none(),
            "{}",
            d.body["status"]
        );
        assert_eq!(d.body["status"]["conditions"][0]["status"], "True");
    }
}
