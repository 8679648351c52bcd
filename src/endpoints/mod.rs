//! The `/mltk/` endpoints: one module per resource, dispatched from a [`Route`].
//!
//! | module | endpoints |
//! | --- | --- |
//! | [`index`] | `GET /mltk` |
//! | [`openapi`] | `GET /mltk/openapi.json` |
//! | [`connections`] | `/mltk/container_connection[/{type}[/{name}]]`, `GET /mltk/test_container_connection` |
//! | [`records`] | `GET container_data`, `GET container_logs`, `GET start_container`, `GET stop_container` |
//! | [`delete_model`] | `DELETE start_container/{model}` (the MLTK model, then its record) |
//! | [`start`] | `POST start_container` |
//! | [`stop`] | `POST stop_container` |
//! | [`logs`] | `POST container_logs`, `GET container_logs?model=` |
//! | [`containers`] | `GET containers[/{model}]`: live state as a Splunk collection |
//! | [`live`] | the live state joined into `GET container_data` and `GET containers` |
//! | [`test_connection`] | `POST test_container_connection` |
//!
//! [`saved`] holds what the runtime endpoints share (the saved connection and the runtime it
//! reaches, the manager id, the API token, the records in splunkd). The runtime endpoints are
//! written once against [`crate::runtime::Runtime`]; which runtimes a build has is decided
//! inside [`crate::runtime`].
//!
//! Shared pieces: [`body`] (the keys each endpoint understands; the fields themselves are
//! [`crate::protocol::fields`]) and the store client
//! ([`crate::splunkd`]) from [`Context::store`].

pub mod body;
pub mod connections;
pub mod containers;
pub mod delete_model;
mod index;
pub mod live;
pub mod logs;
pub mod openapi;
pub mod records;
pub mod saved;
pub mod start;
pub mod stop;
pub mod test_connection;

use crate::context::Context;
use crate::error::{ApiError, ErrorKind};
use crate::protocol::reply::Outcome;
use crate::protocol::request::Request;
use crate::router::Route;

/// Runs the endpoint a route names.
pub async fn handle(ctx: &Context, req: &Request, route: Route) -> Result<Outcome, ApiError> {
    let method = req.method.as_str();
    match (method, route) {
        ("GET", Route::Index) => Ok(index::list(ctx, req)),
        ("GET", Route::OpenApi) => openapi::document(),
        ("GET" | "POST" | "PUT", Route::Connections) => connections::collection(ctx, req).await,
        ("GET", Route::ConnectionDefaults { container_type }) => {
            connections::defaults(ctx, req, &container_type).await
        }
        (
            "GET" | "DELETE",
            Route::Connection {
                container_type,
                name,
            },
        ) => connections::one(ctx, req, &container_type, &name).await,
        ("GET", Route::TestConnection) => connections::saved_docker(ctx, req).await,
        ("GET", Route::ContainerData) => records::container_data(ctx, req).await,
        ("GET", Route::ContainerLogs) if req.query_arg("model").is_some() => {
            logs::container_logs(ctx, req).await
        }
        ("GET", Route::ContainerLogs) => records::dev_prod_groups(ctx, req).await,
        ("POST", Route::ContainerLogs) => logs::container_logs(ctx, req).await,
        ("POST", Route::TestConnection) => test_connection::test(ctx, req).await,
        ("POST", Route::StartContainer) => start::start(ctx, req).await,
        ("POST", Route::StopContainer) => stop::stop(ctx, req).await,
        ("GET", Route::StartContainer) => records::counts(ctx, req).await,
        ("GET", Route::StopContainer) => records::image_catalog(ctx, req).await,
        ("GET", Route::Containers) => containers::list(ctx, req).await,
        ("GET", Route::Container { model }) => containers::one(ctx, req, &model).await,
        ("DELETE", Route::StartContainerModel { model }) => {
            delete_model::delete_model(ctx, req, &model).await
        }
        (_, other) => Err(not_implemented(method, &other)),
    }
}

/// 501 for endpoints whose runtime side has not landed yet.
fn not_implemented(method: &str, route: &Route) -> ApiError {
    ApiError::new(
        ErrorKind::NotImplemented,
        format!(
            "{method} {} is not implemented yet in this version of dsdl-handler.",
            route.describe()
        ),
    )
}
