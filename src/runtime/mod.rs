//! The container runtimes: what a start, a stop, a state check and a log read mean, built as
//! pure plans ([`plan`], [`state`], [`logs`]) and carried out against an engine at the edge
//! ([`docker`]). The health probe of a container's API ([`probe`]) is shared.
//!
//! Kubernetes joins here later with the same plan; until then the endpoints answer 501 for it.

pub mod docker;
pub mod logs;
pub mod plan;
pub mod probe;
pub mod secrets;
pub mod state;
