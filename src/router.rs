//! The `/mltk/` endpoint table and the match from (method, path) to a [`Route`].
//!
//! Routing uses the REST path, not the restmap stanza, so one driver process can serve every
//! stanza that shares its driver configuration.

use crate::error::ApiError;

/// A matched endpoint with its decoded path parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `GET /mltk`: the endpoint table itself.
    Index,
    /// `GET /mltk/openapi.json`: the OpenAPI document of this table.
    OpenApi,
    /// `/mltk/container_connection`: list (GET), create (POST), update (PUT).
    Connections,
    /// `/mltk/container_connection/{container_type}`: cluster defaults.
    ConnectionDefaults {
        /// `docker` or `kubernetes`.
        container_type: String,
    },
    /// `/mltk/container_connection/{container_type}/{connection_name}`.
    Connection {
        /// `docker` or `kubernetes`.
        container_type: String,
        /// The connection's name.
        name: String,
    },
    /// `/mltk/test_container_connection`.
    TestConnection,
    /// `/mltk/container_data`.
    ContainerData,
    /// `/mltk/container_logs`.
    ContainerLogs,
    /// `/mltk/start_container`.
    StartContainer,
    /// `/mltk/start_container/{model_name}`.
    StartContainerModel {
        /// The model (deployment record) name.
        model: String,
    },
    /// `/mltk/stop_container`.
    StopContainer,
    /// `/mltk/containers`: every model's live state as a Splunk collection.
    Containers,
    /// `/mltk/containers/{model_name}`: one model's live state.
    Container {
        /// The model (deployment record) name.
        model: String,
    },
}

impl Route {
    /// The [`Endpoint::pattern`] this route was matched by: the row of [`ENDPOINTS`] whose
    /// [`Endpoint::build`] makes this variant.
    pub fn pattern(&self) -> &'static str {
        self.endpoint().map_or("", |e| e.pattern)
    }

    /// The row of [`ENDPOINTS`] this route belongs to; every variant has one (a unit test
    /// checks it).
    pub fn endpoint(&self) -> Option<&'static Endpoint> {
        let want = std::mem::discriminant(self);
        ENDPOINTS
            .iter()
            .find(|e| std::mem::discriminant(&(e.build)(&mut std::iter::empty())) == want)
    }

    /// The route's path for people: `/mltk/` and its pattern, `{name}` marking a parameter.
    pub fn describe(&self) -> String {
        path_of(self.pattern())
    }
}

/// `/mltk` followed by `pattern`, if any.
pub fn path_of(pattern: &str) -> String {
    if pattern.is_empty() {
        PREFIX.to_string()
    } else {
        format!("{PREFIX}/{pattern}")
    }
}

/// Makes a [`Route`] from its decoded path parameters, in the order of the pattern.
pub type Build = fn(&mut dyn Iterator<Item = String>) -> Route;

/// The next path parameter; the pattern guarantees it is there.
fn param(params: &mut dyn Iterator<Item = String>) -> String {
    params.next().unwrap_or_default()
}

/// One row of the endpoint table.
#[derive(Debug, Clone, Copy)]
pub struct Endpoint {
    /// Path below `/mltk`, `{name}` marking a parameter.
    pub pattern: &'static str,
    /// Methods the endpoint accepts.
    pub methods: &'static [&'static str],
    /// The capability each method requires, as `default/restmap.conf`'s `capability.<method>`
    /// lines say (a unit test keeps them in agreement). splunkd checks them on the stanza it
    /// matched; the driver checks them again for mutating methods, since a path that matches
    /// a weaker stanza must not lower the bar.
    pub capabilities: &'static [(&'static str, &'static str)],
    /// One line for the index and the README.
    pub summary: &'static str,
    /// The route a path matching `pattern` is.
    pub build: Build,
}

/// Every endpoint of the API, each pattern spelled only here. The index, the router, the
/// capability checks and the 405 `Allow` header all read this.
pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        pattern: "",
        methods: &["GET"],
        capabilities: &[],
        summary: "This table of endpoints.",
        build: |_| Route::Index,
    },
    Endpoint {
        pattern: "openapi.json",
        methods: &["GET"],
        capabilities: &[],
        summary: "The OpenAPI 3.1 document of this API.",
        build: |_| Route::OpenApi,
    },
    Endpoint {
        pattern: "container_connection",
        methods: &["GET", "POST", "PUT"],
        capabilities: &[
            ("GET", "list_container_connections"),
            ("POST", "setup_container_configuration"),
            ("PUT", "setup_container_configuration"),
        ],
        summary: "List connections (GET), save a new one (POST) or update one (PUT).",
        build: |_| Route::Connections,
    },
    Endpoint {
        pattern: "container_connection/{container_type}",
        methods: &["GET"],
        capabilities: &[("GET", "list_container_connections")],
        summary: "Cluster defaults and settings of the docker or kubernetes connection, secrets masked.",
        build: |p| Route::ConnectionDefaults {
            container_type: param(p),
        },
    },
    Endpoint {
        pattern: "container_connection/{container_type}/{connection_name}",
        methods: &["GET", "DELETE"],
        capabilities: &[
            ("GET", "list_container_connections"),
            ("DELETE", "setup_container_configuration"),
        ],
        summary: "Read one connection for editing (secrets masked) or delete it with its secrets.",
        build: |p| Route::Connection {
            container_type: param(p),
            name: param(p),
        },
    },
    Endpoint {
        pattern: "test_container_connection",
        methods: &["GET", "POST"],
        capabilities: &[
            ("GET", "list_container_connections"),
            ("POST", "setup_container_configuration"),
        ],
        summary: "Show the saved docker connection masked (GET) or test a connection and store its secrets (POST).",
        build: |_| Route::TestConnection,
    },
    Endpoint {
        pattern: "container_data",
        methods: &["GET"],
        capabilities: &[("GET", "list_containers")],
        summary: "Deployment records joined with the runtime's live state.",
        build: |_| Route::ContainerData,
    },
    Endpoint {
        pattern: "container_logs",
        methods: &["GET", "POST"],
        capabilities: &[("GET", "list_containers"), ("POST", "list_containers")],
        summary: "DEV/PROD grouping of records (GET) or the logs of one model's container (POST).",
        build: |_| Route::ContainerLogs,
    },
    Endpoint {
        pattern: "start_container",
        methods: &["GET", "POST"],
        capabilities: &[("GET", "list_containers"), ("POST", "control_containers")],
        summary: "Counts of active and inactive containers (GET) or start a container (POST).",
        build: |_| Route::StartContainer,
    },
    Endpoint {
        pattern: "start_container/{model_name}",
        methods: &["DELETE"],
        capabilities: &[("DELETE", "control_containers")],
        summary: "Delete the MLTK model (with the caller's permissions), then its deployment record.",
        build: |p| Route::StartContainerModel { model: param(p) },
    },
    Endpoint {
        pattern: "stop_container",
        methods: &["GET", "POST"],
        capabilities: &[("GET", "list_containers"), ("POST", "control_containers")],
        summary: "The image catalog (GET) or stop a model's container (POST).",
        build: |_| Route::StopContainer,
    },
    Endpoint {
        pattern: "containers",
        methods: &["GET"],
        capabilities: &[("GET", "list_containers")],
        summary: "Every model's live state, phase, reason and URLs as a Splunk collection (Atom for `| rest`, or JSON), with count, offset and search.",
        build: |_| Route::Containers,
    },
    Endpoint {
        pattern: "containers/{model_name}",
        methods: &["GET"],
        capabilities: &[("GET", "list_containers")],
        summary: "One model's live state, phase, reason and URLs as a Splunk entry.",
        build: |p| Route::Container { model: param(p) },
    },
];

/// The prefix every route lives under.
pub const PREFIX: &str = "/mltk";

/// Methods that change something: the driver checks their capability itself.
pub fn is_mutating(method: &str) -> bool {
    matches!(method, "POST" | "PUT" | "DELETE")
}

/// The capability `method` on `route` requires, from [`ENDPOINTS`]; `None` when it needs none.
pub fn required_capability(method: &str, route: &Route) -> Option<&'static str> {
    route
        .endpoint()?
        .capabilities
        .iter()
        .find(|(m, _)| *m == method)
        .map(|(_, c)| *c)
}

/// Refuses a `rest_path` or `path_info` with an empty segment (`//`) or a dot segment (`.`,
/// `..`, percent-encoded or not); one trailing slash is allowed. splunkd picks the restmap
/// stanza, and with it the capability it checks, by prefix on the raw path, so
/// `/mltk//start_container` matches the unprotected `/mltk` stanza while the segments below
/// still name `start_container`: such a path is refused before routing.
pub fn check_path(rest_path: Option<&str>, path_info: Option<&str>) -> Result<(), ApiError> {
    let checks = [
        (
            "rest_path",
            rest_path.map(|p| p.strip_prefix('/').unwrap_or(p)),
        ),
        ("path_info", path_info),
    ];
    for (what, path) in checks {
        let Some(path) = path else { continue };
        let body = path.strip_suffix('/').unwrap_or(path);
        if body.is_empty() {
            continue;
        }
        let fault = body.split('/').find_map(|seg| {
            if seg.is_empty() {
                return Some("an empty segment (a doubled slash)");
            }
            let decoded = percent_encoding::percent_decode_str(seg).decode_utf8_lossy();
            matches!(decoded.as_ref(), "." | "..").then_some("a dot segment (. or ..)")
        });
        if let Some(fault) = fault {
            let shown = crate::names::excerpt(rest_path.or(path_info).unwrap_or_default(), 200);
            return Err(ApiError::bad_request(format!(
                "The request path {shown} has {fault} in its {what}; send the path with every \
                 segment spelled out once, e.g. {PREFIX}/start_container."
            )));
        }
    }
    Ok(())
}

/// Matches a REST path (`/mltk/...`) and method against [`ENDPOINTS`].
/// Unknown paths are 404; a known path with another method is 405 with `Allow`.
pub fn route(method: &str, rest_path: &str) -> Result<Route, ApiError> {
    let not_found = || {
        ApiError::not_found(format!(
            "No endpoint at {rest_path}; GET {PREFIX} lists the endpoints."
        ))
    };
    let below = rest_path
        .strip_prefix(PREFIX)
        .filter(|rest| rest.is_empty() || rest.starts_with('/'))
        .ok_or_else(not_found)?;
    let segments: Vec<&str> = below.split('/').filter(|s| !s.is_empty()).collect();

    let (endpoint, params) = ENDPOINTS
        .iter()
        .find_map(|e| match_pattern(e.pattern, &segments).map(|p| (e, p)))
        .ok_or_else(not_found)?;
    if !endpoint.methods.contains(&method) {
        return Err(ApiError::method_not_allowed(
            method,
            rest_path,
            endpoint.methods,
        ));
    }
    let params = params
        .into_iter()
        .map(decode_segment)
        .collect::<Result<Vec<_>, _>>()?;
    Ok((endpoint.build)(&mut params.into_iter()))
}

/// Returns the raw parameter segments when `segments` fit `pattern`.
fn match_pattern<'a>(pattern: &str, segments: &[&'a str]) -> Option<Vec<&'a str>> {
    let parts: Vec<&str> = pattern.split('/').filter(|s| !s.is_empty()).collect();
    if parts.len() != segments.len() {
        return None;
    }
    let mut params = Vec::new();
    for (part, seg) in parts.iter().zip(segments) {
        if part.starts_with('{') {
            params.push(*seg);
        } else if part != seg {
            return None;
        }
    }
    Some(params)
}

/// Percent-decodes a path parameter once; invalid UTF-8 is a 400.
fn decode_segment(raw: &str) -> Result<String, ApiError> {
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| {
            ApiError::bad_request(format!(
                "Path segment {raw:?} is not valid UTF-8 once percent-decoded."
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_endpoint_and_method_routes() {
        let cases = [
            ("GET", "/mltk", Route::Index),
            ("GET", "/mltk/", Route::Index),
            ("GET", "/mltk/openapi.json", Route::OpenApi),
            ("POST", "/mltk/container_connection", Route::Connections),
            ("PUT", "/mltk/container_connection/", Route::Connections),
            (
                "GET",
                "/mltk/container_connection/docker",
                Route::ConnectionDefaults {
                    container_type: "docker".into(),
                },
            ),
            (
                "DELETE",
                "/mltk/container_connection/kubernetes/my%20conn",
                Route::Connection {
                    container_type: "kubernetes".into(),
                    name: "my conn".into(),
                },
            ),
            (
                "POST",
                "/mltk/test_container_connection",
                Route::TestConnection,
            ),
            ("GET", "/mltk/container_data", Route::ContainerData),
            ("POST", "/mltk/container_logs", Route::ContainerLogs),
            ("GET", "/mltk/start_container", Route::StartContainer),
            (
                "DELETE",
                "/mltk/start_container/__dev__",
                Route::StartContainerModel {
                    model: "__dev__".into(),
                },
            ),
            ("GET", "/mltk/stop_container", Route::StopContainer),
        ];
        for (method, path, want) in cases {
            assert_eq!(route(method, path).unwrap(), want, "{method} {path}");
        }
    }

    #[test]
    fn unknown_paths_are_404() {
        for path in [
            "/mltk/nope",
            "/mltkx",
            "/other",
            "",
            "/mltk/container_data/extra",
            "/mltk/container_connection/a/b/c",
        ] {
            assert_eq!(route("GET", path).unwrap_err().status(), 404, "{path}");
        }
    }

    #[test]
    fn wrong_methods_are_405_with_allow() {
        let e = route("DELETE", "/mltk/container_data").unwrap_err();
        assert_eq!(e.status(), 405);
        assert_eq!(e.headers[0], ("Allow".into(), "GET".into()));
        let e = route("GET", "/mltk/start_container/m").unwrap_err();
        assert_eq!(e.headers[0].1, "DELETE");
    }

    #[test]
    fn bad_percent_encoding_is_400() {
        assert_eq!(
            route("DELETE", "/mltk/start_container/%ff")
                .unwrap_err()
                .status(),
            400
        );
    }

    #[test]
    fn empty_and_dot_segments_are_refused() {
        for (rest_path, path_info) in [
            (Some("/mltk//start_container"), None),
            (Some("/mltk///start_container"), Some("start_container")),
            (Some("//mltk/start_container"), None),
            (Some("/mltk/start_container//"), None),
            (Some("/mltk/container_connection//docker/x"), None),
            (Some("/mltk/./start_container"), None),
            (Some("/mltk/x/../start_container"), None),
            (Some("/mltk/%2e%2E/start_container"), None),
            (Some("/mltk/start_container/%2e"), None),
            (Some("/mltk/start_container/.."), None),
            (None, Some("/start_container")),
            (None, Some("docker//x")),
            (None, Some("../x")),
            (Some("/mltk/start_container"), Some("./start_container")),
        ] {
            let e = check_path(rest_path, path_info).unwrap_err();
            assert_eq!(e.status(), 400, "{rest_path:?} {path_info:?}");
            assert!(
                e.message.contains("empty segment") || e.message.contains("dot segment"),
                "{}",
                e.message
            );
        }
        let e = check_path(Some("/mltk//start_container"), None).unwrap_err();
        assert!(
            e.message.contains("/mltk//start_container"),
            "{}",
            e.message
        );
    }

    #[test]
    fn ordinary_paths_pass_the_segment_check() {
        for (rest_path, path_info) in [
            (Some("/mltk"), None),
            (Some("/mltk/"), Some("")),
            (Some("/mltk/start_container/"), None),
            (
                Some("/mltk/container_connection/docker/my%20conn"),
                Some("docker/my%20conn"),
            ),
            (
                Some("/mltk/start_container/..%2F..%2Fetc"),
                Some("..%2F..%2Fetc"),
            ),
            (Some("/mltk/start_container/a.b"), Some("a.b")),
            (Some("/mltk/start_container/..."), None),
            (Some(""), None),
            (Some("/"), None),
            (None, None),
        ] {
            assert!(
                check_path(rest_path, path_info).is_ok(),
                "{rest_path:?} {path_info:?}"
            );
        }
    }

    #[test]
    fn every_method_has_its_capability_and_only_its_methods_have_one() {
        for e in ENDPOINTS {
            for (m, c) in e.capabilities {
                assert!(e.methods.contains(m), "{} {m}", e.pattern);
                assert!(!c.is_empty());
            }
            for m in e.methods {
                let path = format!("{PREFIX}/{}", e.pattern.replace('{', "x").replace('}', ""));
                let route = route(m, &path).unwrap();
                assert_eq!(route.pattern(), e.pattern);
                let want = e
                    .capabilities
                    .iter()
                    .find(|(cm, _)| cm == m)
                    .map(|(_, c)| *c);
                assert_eq!(required_capability(m, &route), want, "{m} {path}");
                // Only the index and the API's document are open to every authenticated user.
                let open = matches!(e.pattern, "" | "openapi.json");
                assert_eq!(want.is_none(), open, "{m} {path}");
            }
        }
        assert_eq!(
            required_capability("POST", &Route::StartContainer),
            Some("control_containers")
        );
        assert!(is_mutating("DELETE") && !is_mutating("GET") && !is_mutating("post"));
    }

    /// The stanza of `restmap` that splunkd would pick for `path`: the longest `match` that is
    /// a prefix of it on a segment boundary.
    fn stanza_for<'a>(
        restmap: &'a crate::conffile::ConfFile,
        path: &str,
    ) -> &'a crate::conffile::Stanza {
        restmap
            .stanzas
            .iter()
            .filter(|s| {
                s.get("match").is_some_and(|m| {
                    path.strip_prefix(m)
                        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
                })
            })
            .max_by_key(|s| s.get("match").map_or(0, str::len))
            .unwrap_or_else(|| panic!("no restmap stanza matches {path}"))
    }

    #[test]
    fn restmap_capabilities_agree_with_the_table() {
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("default/restmap.conf"),
        )
        .unwrap();
        let restmap = crate::conffile::ConfFile::parse(&text).unwrap();
        // Every (endpoint, method): the stanza splunkd picks demands the table's capability.
        let mut used = Vec::new();
        for e in ENDPOINTS {
            let path = if e.pattern.is_empty() {
                PREFIX.to_string()
            } else {
                format!("{PREFIX}/{}", e.pattern)
            };
            let stanza = stanza_for(&restmap, &path);
            for m in e.methods {
                let key = format!("capability.{}", m.to_ascii_lowercase());
                let want = e
                    .capabilities
                    .iter()
                    .find(|(cm, _)| cm == m)
                    .map(|(_, c)| *c);
                assert_eq!(
                    stanza.get(&key),
                    want,
                    "[{}] {key} for {m} {path}",
                    stanza.name
                );
                used.push((stanza.name.clone(), key));
            }
        }
        // Every capability line of restmap.conf guards some endpoint of the table.
        for stanza in &restmap.stanzas {
            for (k, _) in stanza
                .entries
                .iter()
                .filter(|(k, _)| k.starts_with("capability."))
            {
                assert!(
                    used.contains(&(stanza.name.clone(), k.clone())),
                    "[{}] {k} guards no endpoint method of the table",
                    stanza.name
                );
            }
        }
    }

    #[test]
    fn each_row_builds_its_own_variant_from_its_own_parameters() {
        for (i, e) in ENDPOINTS.iter().enumerate() {
            let names: Vec<&str> = e
                .pattern
                .split('/')
                .filter(|p| p.starts_with('{'))
                .collect();
            let mut params = names.iter().map(|n| n.to_string());
            let route = (e.build)(&mut params);
            assert!(params.next().is_none(), "{} leaves parameters", e.pattern);
            assert_eq!(
                route.endpoint().map(|row| row.pattern),
                Some(e.pattern),
                "{} builds another row's route",
                e.pattern
            );
            assert!(
                ENDPOINTS[..i].iter().all(|o| o.pattern != e.pattern),
                "{} twice",
                e.pattern
            );
            assert_eq!(route.describe(), path_of(e.pattern));
            let shown = format!("{route:?}");
            for n in &names {
                assert!(shown.contains(n), "{} drops {n}: {shown}", e.pattern);
            }
        }
        assert_eq!(Route::Index.describe(), "/mltk");
        assert_eq!(
            Route::StartContainerModel { model: "m".into() }.describe(),
            "/mltk/start_container/{model_name}"
        );
    }

    #[test]
    fn every_pattern_is_routable() {
        for e in ENDPOINTS {
            let path = format!("{PREFIX}/{}", e.pattern.replace('{', "x").replace('}', ""));
            for m in e.methods {
                assert!(route(m, &path).is_ok(), "{m} {path}");
            }
        }
    }
}
