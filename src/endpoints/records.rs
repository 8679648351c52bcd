//! Deployment records and the image catalog: `GET container_data`, `GET container_logs`,
//! `GET start_container`, `GET stop_container`, `DELETE start_container/{model}`.
//! (Being written.)

use super::not_implemented;
use crate::error::ApiError;
use crate::protocol::reply::Outcome;
use crate::protocol::request::Request;
use crate::router::Route;
use crate::service::Context;

/// `GET /mltk/container_data`: every record (runtime state joins in with the runtimes).
pub async fn container_data(_ctx: &Context, req: &Request) -> Result<Outcome, ApiError> {
    Err(not_implemented(&req.method, &Route::ContainerData))
}

/// `GET /mltk/container_logs`: records grouped into DEV/PROD/ACTIVE/INACTIVE.
pub async fn dev_prod_groups(_ctx: &Context, req: &Request) -> Result<Outcome, ApiError> {
    Err(not_implemented(&req.method, &Route::ContainerLogs))
}

/// `GET /mltk/start_container`: counts of active/inactive and DEV/PROD records.
pub async fn counts(_ctx: &Context, req: &Request) -> Result<Outcome, ApiError> {
    Err(not_implemented(&req.method, &Route::StartContainer))
}

/// `GET /mltk/stop_container`: the image catalog.
pub async fn image_catalog(_ctx: &Context, req: &Request) -> Result<Outcome, ApiError> {
    Err(not_implemented(&req.method, &Route::StopContainer))
}

/// `DELETE /mltk/start_container/{model}`: removes a deployment record.
pub async fn delete_record(
    _ctx: &Context,
    req: &Request,
    _model: &str,
) -> Result<Outcome, ApiError> {
    Err(not_implemented(
        &req.method,
        &Route::StartContainerModel {
            model: String::new(),
        },
    ))
}
