//! Connection settings of the two container runtimes, without I/O: the spec that says which
//! keys exist and which are secrets ([`spec`]), checking a save against it ([`validate`]),
//! what a save or a delete writes ([`update`]), and what reads show ([`view`]). The endpoints
//! of `connections` add the store calls.

pub mod spec;
pub mod update;
pub mod validate;
pub mod view;

/// Shown instead of a stored secret, and accepted on save as "keep what is stored".
pub const PLACEHOLDER: &str = "default_token";

/// The conf that holds the connections.
pub const CONF: &str = "container_connections";
