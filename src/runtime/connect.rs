//! From a saved connection to a runtime: [`Connected`] joins the runtimes this build has in
//! one enum that implements [`Runtime`] by delegation, so the endpoints stay generic and
//! never name one. A runtime left out of the build (or not written yet) answers
//! [`Failure::Unsupported`] here, the one place that knows which exist.

// A build without runtimes delegates to none, so the arguments go unused there.
#![cfg_attr(not(feature = "runtimes"), allow(unused_variables))]

use super::error::{Failure, RuntimeError};
use super::logs::Tail;
use super::plan::{Port, Urls};
use super::probe::Probe;
use super::secrets::Secrets;
use super::state::Observed;
use super::{Found, Runtime, Workload};
use crate::conffile::Stanza;
use crate::names::ContainerType;
use crate::protocol::request::Secret;
use std::time::{Duration, Instant};

/// A runtime reached through a saved connection.
#[derive(Debug)]
pub enum Connected {
    /// A Docker engine.
    #[cfg(feature = "runtimes")]
    Docker(Box<super::docker::Engine>),
    /// A Kubernetes cluster.
    #[cfg(feature = "runtimes")]
    Kubernetes(Box<super::kubernetes::cluster::Cluster>),
    /// Keeps the enum well-formed in a build without runtimes; never made.
    #[doc(hidden)]
    None(std::convert::Infallible),
}

/// Connects to the runtime of `ty` with its saved settings and secrets; bad settings are
/// [`Failure::BadSettings`], a runtime this build cannot drive [`Failure::Unsupported`].
pub async fn connect(
    ty: ContainerType,
    stanza: &Stanza,
    secrets: &Secrets,
) -> Result<Connected, RuntimeError> {
    match ty {
        #[cfg(feature = "runtimes")]
        ContainerType::Docker => {
            let settings = super::docker::settings::DockerSettings::from_stanza(stanza, secrets)
                .map_err(|e| RuntimeError::new(Failure::BadSettings, e.message))?;
            let engine = super::docker::Engine::shared(&settings, super::docker::CALL_TIMEOUT)?;
            Ok(Connected::Docker(Box::new(engine)))
        }
        #[cfg(feature = "runtimes")]
        ContainerType::Kubernetes => {
            let cluster = super::kubernetes::cluster::Cluster::connect(stanza, secrets).await?;
            Ok(Connected::Kubernetes(Box::new(cluster)))
        }
        #[cfg(not(feature = "runtimes"))]
        other => {
            let _ = (stanza, secrets);
            Err(unsupported(other))
        }
    }
}

/// The staged test of the connection of `ty` in `stanza` with `secrets`, within `limit`;
/// `wants_gpu` when the catalog offers GPU images.
pub async fn diagnose(
    ty: ContainerType,
    stanza: &Stanza,
    secrets: &Secrets,
    wants_gpu: bool,
    limit: Duration,
) -> Result<super::diagnosis::Diagnosis, RuntimeError> {
    match ty {
        #[cfg(feature = "runtimes")]
        ContainerType::Docker => {
            Ok(super::docker::diagnose::diagnose(stanza, secrets, wants_gpu, limit).await)
        }
        #[cfg(feature = "runtimes")]
        ContainerType::Kubernetes => {
            Ok(super::kubernetes::diagnose::diagnose(stanza, secrets, wants_gpu, limit).await)
        }
        #[cfg(not(feature = "runtimes"))]
        other => {
            let _ = (stanza, secrets, wants_gpu, limit);
            Err(unsupported(other))
        }
    }
}

/// Whether this build drives `ty`: checked before anything is read, so a request for a
/// runtime that is not here answers 501 at once.
pub fn ensure_supported(ty: ContainerType) -> Result<(), RuntimeError> {
    match ty {
        #[cfg(feature = "runtimes")]
        ContainerType::Docker | ContainerType::Kubernetes => Ok(()),
        #[cfg(not(feature = "runtimes"))]
        other => Err(unsupported(other)),
    }
}

/// The error for a runtime this build cannot drive.
pub fn unsupported(ty: ContainerType) -> RuntimeError {
    let hint = match ty {
        ContainerType::Kubernetes => "use cluster=docker",
        ContainerType::Docker => "this build was made without the container runtimes",
    };
    RuntimeError::new(
        Failure::Unsupported,
        format!(
            "{} containers are not supported by this version of dsdl-handler yet; {hint}.",
            match ty {
                ContainerType::Docker => "Docker",
                ContainerType::Kubernetes => "Kubernetes",
            }
        ),
    )
}

/// Calls the same method on whichever runtime `self` holds.
macro_rules! delegate {
    ($self:ident, $rt:ident => $call:expr) => {
        match $self {
            #[cfg(feature = "runtimes")]
            Connected::Docker($rt) => $call,
            #[cfg(feature = "runtimes")]
            Connected::Kubernetes($rt) => $call,
            Connected::None(never) => match *never {},
        }
    };
}

impl Runtime for Connected {
    fn kind(&self) -> ContainerType {
        delegate!(self, rt => rt.kind())
    }

    fn warnings(&self) -> Vec<String> {
        delegate!(self, rt => rt.warnings())
    }

    async fn preflight(&self, w: &Workload, until: Instant) -> Result<Vec<String>, RuntimeError> {
        delegate!(self, rt => rt.preflight(w, until).await)
    }

    async fn find(&self, name_or_id: &str) -> Result<Option<Found>, RuntimeError> {
        delegate!(self, rt => rt.find(name_or_id).await)
    }

    async fn list(&self, key: &str, value: &str) -> Result<Vec<Observed>, RuntimeError> {
        delegate!(self, rt => rt.list(key, value).await)
    }

    async fn create(&self, w: &Workload) -> Result<String, RuntimeError> {
        delegate!(self, rt => rt.create(w).await)
    }

    async fn start(&self, id: &str) -> Result<(), RuntimeError> {
        delegate!(self, rt => rt.start(id).await)
    }

    async fn stop_and_remove(&self, id: &str, grace: Duration) -> Result<bool, RuntimeError> {
        delegate!(self, rt => rt.stop_and_remove(id, grace).await)
    }

    async fn remove(&self, id: &str) -> Result<bool, RuntimeError> {
        delegate!(self, rt => rt.remove(id).await)
    }

    async fn logs(
        &self,
        id: &str,
        tail: u32,
        since: Option<i64>,
        previous: bool,
    ) -> Result<Tail, RuntimeError> {
        delegate!(self, rt => rt.logs(id, tail, since, previous).await)
    }

    fn urls(&self, found: &Found, ports: &[Port]) -> Result<Urls, String> {
        delegate!(self, rt => rt.urls(found, ports))
    }

    async fn probe(&self, urls: &[&str], token: &Secret, timeout: Duration) -> Vec<Probe> {
        delegate!(self, rt => rt.probe(urls, token, timeout).await)
    }
}
