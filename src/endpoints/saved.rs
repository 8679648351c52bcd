//! What the runtime endpoints share on the store's side: the saved connection of a runtime
//! with its secrets (and the runtime it connects to), the search head's manager id, the API
//! token (created once, agreed on by concurrent requests), the record's runtime, and the
//! records kept in splunkd.

use crate::conffile::Stanza;
use crate::connection::CONF as CONNECTIONS;
use crate::connection::view::configured_name;
use crate::error::{ApiError, ErrorKind};
use crate::model::record::{self, Records};
use crate::names::ContainerType;
use crate::protocol::reply::warn;
use crate::protocol::request::{Request, Secret};
use crate::runtime::Runtime;
use crate::runtime::connect::{Connected, connect};
use crate::runtime::secrets::{Secrets, random_token};
use crate::splunkd::SplunkdClient;
use crate::toolkit;
use serde_json::Value;

/// A saved connection with its secrets.
pub struct SavedConnection {
    /// Its runtime.
    pub ty: ContainerType,
    /// The `[docker]` or `[kubernetes]` stanza.
    pub stanza: Stanza,
    /// Its secrets (realm `dsdl_<type>`).
    pub secrets: Secrets,
    /// The connection's name, recorded with each container started through it.
    pub name: String,
}

impl SavedConnection {
    /// Reads the connection of `ty` and its secrets (two calls, concurrently); 404 when none
    /// is saved.
    pub async fn load(
        store: &SplunkdClient,
        ty: ContainerType,
    ) -> Result<SavedConnection, ApiError> {
        let (stanza, secrets) = tokio::join!(
            store.get_stanza(CONNECTIONS, ty.as_str()),
            store.list_passwords(ty.realm())
        );
        let stanza = stanza?.unwrap_or_else(|| Stanza::new(ty.as_str()));
        let name = configured_name(&stanza)
            .map(str::to_string)
            .ok_or_else(|| {
                let url_key = match ty {
                    ContainerType::Docker => "docker_url",
                    ContainerType::Kubernetes => "cluster_url",
                };
                ApiError::not_found(format!(
                    "No {ty} connection is saved: save one with POST /mltk/container_connection \
                     (container_type={ty}, {url_key}=...) and test it with POST \
                     /mltk/test_container_connection.",
                    ty = ty.as_str()
                ))
            })?;
        let mut secrets = Secrets::from_listing(secrets?);
        adopt_toolkit_secrets(store, ty, &mut secrets, &TOOLKIT_SECRETS).await?;
        Ok(SavedConnection {
            ty,
            stanza,
            secrets,
            name,
        })
    }

    /// The runtime this connection reaches (nothing is sent yet).
    pub async fn connect(&self) -> Result<Connected, ApiError> {
        Ok(connect(self.ty, &self.stanza, &self.secrets).await?)
    }
}

/// The runtime's warnings (skipped TLS checks) as Splunk `messages`.
pub fn warnings<R: Runtime>(rt: &R) -> Vec<Value> {
    rt.warnings().iter().map(|w| warn(w)).collect()
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
    ty: ContainerType,
    secrets: &mut Secrets,
) -> Result<(Secret, bool), ApiError> {
    if let Some(t) = secrets.get("api_token") {
        return Ok((t.clone(), false));
    }
    let realm = ty.realm();
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

/// The toolkit's secrets a connection uses: the container token and the Jupyter password.
const TOOLKIT_SECRETS: [&str; 2] = ["jupyter_passwd", toolkit::API_TOKEN];

/// Takes over, once, the toolkit's stored secrets this connection lacks ([`toolkit::adoptable`]):
/// each is written to the connection's realm (a create, so a concurrent request's value wins) and
/// used. The toolkit's copies are left as they are. Its realm is read only while one of
/// `fields` is missing here, so once adopted (or set) a load costs no extra call.
async fn adopt_toolkit_secrets(
    store: &SplunkdClient,
    ty: ContainerType,
    secrets: &mut Secrets,
    fields: &[&str],
) -> Result<(), ApiError> {
    if store.app() != toolkit::APP || fields.iter().all(|f| secrets.get(f).is_some()) {
        return Ok(());
    }
    let theirs = store.list_passwords(toolkit::REALM).await?;
    let realm = ty.realm();
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

/// The runtime a record names in `cluster`; 400 for a record whose `cluster` is neither.
pub fn record_runtime(r: &Stanza) -> Result<ContainerType, ApiError> {
    record::cluster(r).map_err(|other| {
        ApiError::bad_request(format!(
            "The record {} names cluster {:?}, which is neither docker nor kubernetes; fix or \
             delete the record.",
            r.name,
            crate::names::excerpt(&other, 40)
        ))
    })
}

/// The records in splunkd's `dsdl_container.conf`.
impl Records for SplunkdClient {
    async fn get(&self, model: &str) -> Result<Option<Stanza>, ApiError> {
        self.get_stanza(record::CONF, model).await
    }

    async fn put(&self, model: &str, pairs: &[(String, String)]) -> Result<(), ApiError> {
        write_record(self, model, pairs).await
    }

    async fn delete(&self, model: &str) -> Result<bool, ApiError> {
        self.delete_stanza(record::CONF, model).await
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
            match store.create_stanza(record::CONF, model, pairs).await {
                // Another request created it between our update and our create (two starts
                // of one model at once): it exists now, so this update lands.
                Err(e) if e.kind == ErrorKind::Conflict => {
                    store.update_stanza(record::CONF, model, pairs).await
                }
                other => other,
            }
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
        assert_eq!(
            record_runtime(&k8s).map_err(|e| e.status()),
            Ok(ContainerType::Kubernetes)
        );
        let odd = Stanza::from_pairs("m", &[("cluster", "nomad")]);
        assert_eq!(record_runtime(&odd).unwrap_err().status(), 400);
        assert_eq!(
            record_runtime(&Stanza::from_pairs("m", &[])).map_err(|e| e.status()),
            Ok(ContainerType::Docker)
        );
    }
}
