//! Connection settings: `/mltk/container_connection[/{type}[/{name}]]` and
//! `GET /mltk/test_container_connection`. (Being written.)

use super::not_implemented;
use crate::error::ApiError;
use crate::protocol::reply::Outcome;
use crate::protocol::request::Request;
use crate::router::Route;
use crate::service::Context;

/// `GET` (list), `POST` (create) and `PUT` (update) on `/mltk/container_connection`.
pub async fn collection(_ctx: &Context, req: &Request) -> Result<Outcome, ApiError> {
    Err(not_implemented(&req.method, &Route::Connections))
}

/// `GET /mltk/container_connection/{type}`: cluster defaults and the masked stanza.
pub async fn defaults(
    _ctx: &Context,
    req: &Request,
    _container_type: &str,
) -> Result<Outcome, ApiError> {
    Err(not_implemented(
        &req.method,
        &Route::ConnectionDefaults {
            container_type: String::new(),
        },
    ))
}

/// `GET` (read for editing) and `DELETE` on `/mltk/container_connection/{type}/{name}`.
pub async fn one(
    _ctx: &Context,
    req: &Request,
    _container_type: &str,
    _name: &str,
) -> Result<Outcome, ApiError> {
    Err(not_implemented(
        &req.method,
        &Route::Connection {
            container_type: String::new(),
            name: String::new(),
        },
    ))
}

/// `GET /mltk/test_container_connection`: the saved docker connection, secrets masked.
pub async fn saved_docker(_ctx: &Context, req: &Request) -> Result<Outcome, ApiError> {
    Err(not_implemented(&req.method, &Route::TestConnection))
}
