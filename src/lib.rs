//! dsdl-handler: the `/mltk/` container lifecycle API of Splunk's Data Science and Deep
//! Learning integration, served as a splunkd persistent REST handler.
//!
//! Data flow: [`driver`] reads packets ([`protocol::frame`]), [`service`] parses the request
//! ([`protocol::request`]), [`router`] picks the endpoint, [`authz`] checks the caller's
//! capability for mutating calls, [`endpoints`] do the work, and the reply
//! ([`protocol::reply`]) goes back in the same framing. `splunkd-dev` ([`devserver`]) is the
//! local stand-in for splunkd, and `kube-fake` ([`kubefake`]) the tests' stand-in for a
//! Kubernetes API server.

// Every public item says why it exists; CI's clippy run (`-D warnings`) enforces it.
#![warn(missing_docs)]

pub mod audit;
pub mod authz;
pub mod callers;
pub mod conffile;
pub mod config;
pub mod confspec;
pub mod connection;
pub mod context;
pub mod devserver;
pub mod driver;
pub mod endpoints;
pub mod error;
#[cfg(feature = "runtimes")]
pub mod kubefake;
pub mod log;
pub mod model;
pub mod names;
pub mod package;
pub mod paging;
pub mod protocol;
pub mod render;
pub mod router;
pub mod runtime;
pub mod service;
pub mod splunkd;
pub mod tls;
pub mod toolkit;
