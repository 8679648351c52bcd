//! The driver's client for splunkd's stores: this app's settings and records
//! (`configs/conf-<name>`) and secrets (`storage/passwords`), reached at `server.rest_uri` with
//! the request's `system_authtoken`, as DESIGN.md ("Where state lives") requires; and MLTK's
//! model files (`data/lookup-table-files`) and who the caller is
//! (`authentication/current-context`), asked with the caller's own session ([`CallerSession`],
//! carried by each such call) so the caller's permissions apply.
//!
//! Layers, as in kube-rs: [`config`] (where and as whom, from the request) → [`transport`]
//! (HTTP over hyper and rustls, trusting what [`trust`] says; time-bounded; failures are 503) → [`client`]
//! (the typed API, reading replies with [`envelope`]). [`names`] holds the naming rules the
//! client and splunkd-dev share; [`identity`] reads who a session key belongs to.
//!
//! Errors are [`crate::error::ApiError`]: splunkd unreachable or too slow → 503 naming the
//! URI; a splunkd error reply → its own message with 400, 404 or 409 (a refused system token,
//! 401/403, is 502; a 403 to a call made with the caller's session is the caller's 403),
//! anything else 502. No error, log line or `Debug` output carries a token or a password.

pub mod client;
pub mod config;
pub mod envelope;
pub mod identity;
pub mod names;
pub mod transport;
pub mod trust;

pub use client::{LookupFile, SplunkdClient};
pub use config::{CallerSession, SplunkdConfig};
pub use identity::CurrentContext;
pub use transport::{HyperTransport, Pool, RestCall, RestReply, Transport, pool};
