//! What the Docker endpoints share: the saved connection with its secrets, the search head's
//! manager id, the API token (created once, agreed on by concurrent requests), the probe
//! settings, and the notes every reply carries when TLS checks were skipped.

use super::warn;
use crate::conffile::Stanza;
use crate::connection::CONF as CONNECTIONS;
use crate::connection::view::configured_name;
use crate::error::{ApiError, ErrorKind};
use crate::model::record;
use crate::names::ContainerType;
use crate::protocol::request::{Request, Secret};
use crate::runtime::docker::settings::DockerSettings;
use crate::runtime::docker::{CALL_TIMEOUT, Engine};
use crate::runtime::probe::{ProbeTls, Prober};
use crate::runtime::secrets::{Secrets, random_token};
use crate::splunkd::SplunkdClient;
use crate::toolkit;
use serde_json::Value;
use std::time::Duration;

/// The saved Docker connection with its secrets.
pub struct DockerConnection {
    /// The `[docker]` stanza.
    pub stanza: Stanza,
    /// Its secrets (realm `dsdl_docker`).
    pub secrets: Secrets,
    /// The connection's name, recorded with each container started through it.
    pub name: String,
}

impl DockerConnection {
    /// Reads the connection and its secrets (two calls, concurrently); 404 when no Docker
    /// connection is saved.
    pub async fn load(store: &SplunkdClient) -> Result<DockerConnection, ApiError> {
        let ty = ContainerType::Docker;
        let (stanza, secrets) = tokio::join!(
            store.get_stanza(CONNECTIONS, ty.as_str()),
            store.list_passwords(ty.realm())
        );
        let stanza = stanza?.unwrap_or_else(|| Stanza::new(ty.as_str()));
        let name = configured_name(&stanza)
            .map(str::to_string)
            .ok_or_else(|| {
                ApiError::not_found(
                    "No docker connection is saved: save one with POST /mltk/container_connection \
                 (container_type=docker, docker_url=...) and test it with POST \
                 /mltk/test_container_connection.",
                )
            })?;
        let mut secrets = Secrets::from_listing(secrets?);
        adopt_toolkit_secrets(store, &mut secrets, &DOCKER_TOOLKIT_SECRETS).await?;
        Ok(DockerConnection {
            stanza,
            secrets,
            name,
        })
    }

    /// The settings and an engine client (every call bounded by [`CALL_TIMEOUT`]).
    pub fn engine(&self) -> Result<(DockerSettings, Engine), ApiError> {
        let settings = DockerSettings::from_stanza(&self.stanza, &self.secrets)?;
        let engine = Engine::connect(&settings, CALL_TIMEOUT)?;
        Ok((settings, engine))
    }
}

/// The search head's manager id: splunkd's server guid, so that two search heads sharing an
/// engine never touch each other's containers.
pub fn manager_id(req: &Request) -> String {
    req.server
        .as_ref()
        .and_then(|s| s.guid.clone().or_else(|| s.servername.clone()))
        .filter(|g| !g.trim().is_empty())
        .unwrap_or_else(|| "dsdl-handler".to_string())
}

/// The manager a record names, when it is another search head: its container is checked
/// and changed only there.
pub fn other_manager<'a>(r: &'a Stanza, manager: &str) -> Option<&'a str> {
    r.get(record::key::MANAGER_ID)
        .map(str::trim)
        .filter(|m| !m.is_empty() && *m != manager)
}

/// The stored `api_token`, or a new one stored now. When two requests generate one at once
/// the first stored wins and both use it (a create that finds one reads it back).
pub async fn ensure_api_token(
    store: &SplunkdClient,
    secrets: &mut Secrets,
) -> Result<(Secret, bool), ApiError> {
    if let Some(t) = secrets.get("api_token") {
        return Ok((t.clone(), false));
    }
    let realm = ContainerType::Docker.realm();
    let fresh = Secret::new(random_token(64).map_err(ApiError::internal)?);
    let (token, created) = if store
        .create_password(realm, "api_token", fresh.expose())
        .await?
    {
        (fresh, true)
    } else {
        let stored = store.get_password(realm, "api_token").await?;
        let stored = stored.ok_or_else(|| {
            ApiError::conflict("The api_token changed during this request; try again.")
        })?;
        (stored, false)
    };
    secrets.set("api_token", token.clone());
    Ok((token, created))
}

/// The toolkit's secrets a Docker connection uses: the container token and the Jupyter
/// password.
const DOCKER_TOOLKIT_SECRETS: [&str; 2] = ["jupyter_passwd", toolkit::API_TOKEN];

/// Takes over, once, the toolkit's stored secrets this connection lacks ([`toolkit::adoptable`]):
/// each is written to the Docker realm (a create, so a concurrent request's value wins) and
/// used. The toolkit's copies are left as they are. Its realm is read only while one of
/// `fields` is missing here, so once adopted (or set) a load costs no extra call.
async fn adopt_toolkit_secrets(
    store: &SplunkdClient,
    secrets: &mut Secrets,
    fields: &[&str],
) -> Result<(), ApiError> {
    if store.app() != toolkit::APP || fields.iter().all(|f| secrets.get(f).is_some()) {
        return Ok(());
    }
    let theirs = store.list_passwords(toolkit::REALM).await?;
    let realm = ContainerType::Docker.realm();
    for (field, value) in toolkit::adoptable(&theirs, |f| secrets.get(f).is_some(), fields) {
        let value = if store.create_password(realm, &field, value.expose()).await? {
            value
        } else {
            match store.get_password(realm, &field).await? {
                Some(v) => v,
                None => continue,
            }
        };
        secrets.set(&field, value);
    }
    Ok(())
}

/// Keeps the toolkit's copy of the API token (realm `dltk_kubernetes`, user `api_token`)
/// equal to `token`, where its search-time commands read it; only when the stores live in
/// its namespace. One read, and a write only when it differs.
pub async fn mirror_api_token(store: &SplunkdClient, token: &Secret) -> Result<(), ApiError> {
    if store.app() != toolkit::APP || token.is_empty() {
        return Ok(());
    }
    let current = store
        .get_password(toolkit::REALM, toolkit::API_TOKEN)
        .await?;
    if current.as_ref().map(Secret::expose) == Some(token.expose()) {
        return Ok(());
    }
    store
        .store_password(
            toolkit::REALM,
            toolkit::API_TOKEN,
            token.expose(),
            current.is_some(),
        )
        .await
}

/// A prober for the connection's containers, each probe bounded by `timeout`.
pub fn prober(settings: &DockerSettings, timeout: Duration) -> Result<Prober, ApiError> {
    let tls = ProbeTls::from_settings(
        settings.container_ca_path.as_deref(),
        settings.container_check_hostname,
        settings.skip_verify,
    );
    Prober::new(tls, timeout).map_err(ApiError::internal)
}

/// The note every reply carries when `tls_skip_verify` was in effect.
pub const SKIP_VERIFY_NOTE: &str = "tls_skip_verify is set on the docker connection: TLS \
    certificates were NOT verified for this request.";

/// [`SKIP_VERIFY_NOTE`] as a message, when the settings skip verification.
pub fn skip_verify_note(settings: &DockerSettings) -> Option<Value> {
    settings.skip_verify.then(|| warn(SKIP_VERIFY_NOTE))
}

/// 501 for a Kubernetes record or request: that runtime is not in this version.
pub fn kubernetes_not_yet() -> ApiError {
    ApiError::new(
        ErrorKind::NotImplemented,
        "Kubernetes containers are not supported by this version of dsdl-handler yet; use \
         cluster=docker.",
    )
}

/// 501 for a Kubernetes record, 400 for a record whose `cluster` is neither runtime.
pub fn require_docker_record(r: &Stanza) -> Result<(), ApiError> {
    match record::cluster(r) {
        Ok(ContainerType::Docker) => Ok(()),
        Ok(ContainerType::Kubernetes) => Err(kubernetes_not_yet()),
        Err(other) => Err(ApiError::bad_request(format!(
            "The record {} names cluster {:?}, which is neither docker nor kubernetes; fix or \
             delete the record.",
            r.name,
            crate::names::excerpt(&other, 40)
        ))),
    }
}

/// Writes the model's record, creating the stanza when it does not exist.
pub async fn write_record(
    store: &SplunkdClient,
    model: &str,
    pairs: &[(String, String)],
) -> Result<(), ApiError> {
    match store.update_stanza(record::CONF, model, pairs).await {
        Err(e) if e.kind == ErrorKind::NotFound => {
            store.create_stanza(record::CONF, model, pairs).await
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manager_is_the_server_guid() {
        let req = |server: &str| {
            Request::parse(
                format!(r#"{{"method":"GET","rest_path":"/mltk","server":{server}}}"#).as_bytes(),
            )
            .unwrap()
        };
        assert_eq!(
            manager_id(&req(r#"{"guid":"G-1","servername":"sh1"}"#)),
            "G-1"
        );
        assert_eq!(manager_id(&req(r#"{"servername":"sh1"}"#)), "sh1");
        assert_eq!(manager_id(&req(r#"{"guid":" "}"#)), "dsdl-handler");
        let r = Stanza::from_pairs("m", &[("manager_id", "G-2")]);
        assert_eq!(other_manager(&r, "G-1"), Some("G-2"));
        assert_eq!(other_manager(&r, "G-2"), None);
        assert_eq!(other_manager(&Stanza::from_pairs("m", &[]), "G-1"), None);
    }

    #[test]
    fn records_of_other_runtimes_are_refused_clearly() {
        let k8s = Stanza::from_pairs("m", &[("cluster", "kubernetes")]);
        assert_eq!(require_docker_record(&k8s).unwrap_err().status(), 501);
        let odd = Stanza::from_pairs("m", &[("cluster", "nomad")]);
        assert_eq!(require_docker_record(&odd).unwrap_err().status(), 400);
        assert!(require_docker_record(&Stanza::from_pairs("m", &[])).is_ok());
    }
}
