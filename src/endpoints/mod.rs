//! The `/mltk/` endpoints: one module per resource, dispatched from a [`Route`].

pub mod body;
mod index;

use crate::error::{ApiError, ErrorKind};
use crate::protocol::reply::Outcome;
use crate::protocol::request::Request;
use crate::router::Route;
use crate::service::Context;

/// Runs the endpoint a route names.
pub async fn handle(ctx: &Context, req: &Request, route: Route) -> Result<Outcome, ApiError> {
    match route {
        Route::Index => Ok(index::list(ctx, req)),
        other => Err(ApiError::new(
            ErrorKind::NotImplemented,
            format!(
                "{} {} is not implemented yet in this version of dsdl-handler.",
                req.method,
                describe(&other)
            ),
        )),
    }
}

fn describe(route: &Route) -> &'static str {
    match route {
        Route::Index => "/mltk",
        Route::Connections => "/mltk/container_connection",
        Route::ConnectionDefaults { .. } => "/mltk/container_connection/{container_type}",
        Route::Connection { .. } => "/mltk/container_connection/{container_type}/{connection_name}",
        Route::TestConnection => "/mltk/test_container_connection",
        Route::ContainerData => "/mltk/container_data",
        Route::ContainerLogs => "/mltk/container_logs",
        Route::StartContainer => "/mltk/start_container",
        Route::StartContainerModel { .. } => "/mltk/start_container/{model_name}",
        Route::StopContainer => "/mltk/stop_container",
    }
}
