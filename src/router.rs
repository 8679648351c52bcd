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
}

/// One row of the endpoint table.
#[derive(Debug, Clone, Copy)]
pub struct Endpoint {
    /// Path below `/mltk`, `{name}` marking a parameter.
    pub pattern: &'static str,
    /// Methods the endpoint accepts.
    pub methods: &'static [&'static str],
    /// One line for the index and the README.
    pub summary: &'static str,
}

/// Every endpoint of the API. The index, the router and the 405 `Allow` header all read this.
pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        pattern: "",
        methods: &["GET"],
        summary: "This table of endpoints.",
    },
    Endpoint {
        pattern: "container_connection",
        methods: &["GET", "POST", "PUT"],
        summary: "List connections (GET), save a new one (POST) or update one (PUT).",
    },
    Endpoint {
        pattern: "container_connection/{container_type}",
        methods: &["GET"],
        summary: "Cluster defaults and settings of the docker or kubernetes connection, secrets masked.",
    },
    Endpoint {
        pattern: "container_connection/{container_type}/{connection_name}",
        methods: &["GET", "DELETE"],
        summary: "Read one connection for editing (secrets masked) or delete it with its secrets.",
    },
    Endpoint {
        pattern: "test_container_connection",
        methods: &["GET", "POST"],
        summary: "Show the saved docker connection masked (GET) or test a connection and store its secrets (POST).",
    },
    Endpoint {
        pattern: "container_data",
        methods: &["GET"],
        summary: "Deployment records joined with the runtime's live state.",
    },
    Endpoint {
        pattern: "container_logs",
        methods: &["GET", "POST"],
        summary: "DEV/PROD grouping of records (GET) or the logs of one model's container (POST).",
    },
    Endpoint {
        pattern: "start_container",
        methods: &["GET", "POST"],
        summary: "Counts of active and inactive containers (GET) or start a container (POST).",
    },
    Endpoint {
        pattern: "start_container/{model_name}",
        methods: &["DELETE"],
        summary: "Delete the MLTK model (with the caller's permissions), then its deployment record.",
    },
    Endpoint {
        pattern: "stop_container",
        methods: &["GET", "POST"],
        summary: "The image catalog (GET) or stop a model's container (POST).",
    },
];

/// The prefix every route lives under.
pub const PREFIX: &str = "/mltk";

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
    let mut params = params
        .into_iter()
        .map(decode_segment)
        .collect::<Result<Vec<_>, _>>()?
        .into_iter();
    let mut next = || params.next().unwrap_or_default();
    Ok(match endpoint.pattern {
        "" => Route::Index,
        "container_connection" => Route::Connections,
        "container_connection/{container_type}" => Route::ConnectionDefaults {
            container_type: next(),
        },
        "container_connection/{container_type}/{connection_name}" => Route::Connection {
            container_type: next(),
            name: next(),
        },
        "test_container_connection" => Route::TestConnection,
        "container_data" => Route::ContainerData,
        "container_logs" => Route::ContainerLogs,
        "start_container" => Route::StartContainer,
        "start_container/{model_name}" => Route::StartContainerModel { model: next() },
        "stop_container" => Route::StopContainer,
        other => return Err(ApiError::internal(format!("unrouted pattern {other}"))),
    })
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
    fn every_pattern_is_routable() {
        for e in ENDPOINTS {
            let path = format!("{PREFIX}/{}", e.pattern.replace('{', "x").replace('}', ""));
            for m in e.methods {
                assert!(route(m, &path).is_ok(), "{m} {path}");
            }
        }
    }
}
