//! The typed store API endpoints use: stanzas of this app's confs through
//! `configs/conf-<name>` and credentials through `storage/passwords`, always in the namespace
//! `nobody/<app>` with `output_mode=json`; and lookup table files (`data/lookup-table-files`,
//! where MLTK keeps its models) in the caller's namespace with the caller's own session, so
//! splunkd applies the caller's permissions. Each method is one REST call (two for
//! `set_password` when the credential already exists, unless the caller says so with
//! `store_password`); a counter records how many were made.

use super::config::{CallerSession, OWNER, SplunkdConfig};
use super::envelope::{self, EntryData};
use super::identity::{self, CurrentContext};
use super::names;
use super::transport::{HyperTransport, RestCall, RestReply, Transport};
use crate::conffile::Stanza;
use crate::config::DriverConfig;
use crate::error::{ApiError, ErrorKind};
use crate::protocol::request::{Request, Secret};
use crate::render::SEGMENT;
use hyper::Method;
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Shown instead of a password or token that splunkd echoed in an error.
const MASK: &str = "********";

/// Client for splunkd's conf and credential stores. Cheap to clone; clones share the
/// connection pool and the call counter.
pub struct SplunkdClient<T: Transport = HyperTransport> {
    transport: Arc<T>,
    prefix: String,
    app: String,
    calls: Arc<AtomicU64>,
}

impl<T: Transport> Clone for SplunkdClient<T> {
    fn clone(&self) -> Self {
        SplunkdClient {
            transport: self.transport.clone(),
            prefix: self.prefix.clone(),
            app: self.app.clone(),
            calls: self.calls.clone(),
        }
    }
}

impl<T: Transport> std::fmt::Debug for SplunkdClient<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SplunkdClient")
            .field("namespace", &self.prefix)
            .field("calls", &self.calls())
            .finish_non_exhaustive()
    }
}

impl SplunkdClient<HyperTransport> {
    /// The client for one request: splunkd at `server.rest_uri` with `system_authtoken`, in
    /// the namespace of the app this binary is installed in. 503 when either is missing.
    pub fn from_request(req: &Request, config: &DriverConfig) -> Result<Self, ApiError> {
        Self::new(&SplunkdConfig::from_request(req, config)?)
    }

    /// A client from explicit settings.
    pub fn new(config: &SplunkdConfig) -> Result<Self, ApiError> {
        Ok(Self::with_transport(
            HyperTransport::new(config)?,
            &config.app,
        ))
    }

    /// A client from explicit settings on a connection pool kept by the caller (see
    /// [`HyperTransport::on_pool`]).
    pub fn on_pool(config: &SplunkdConfig, pool: super::transport::Pool) -> Result<Self, ApiError> {
        Ok(Self::with_transport(
            HyperTransport::on_pool(config, pool)?,
            &config.app,
        ))
    }
}

/// A lookup table file as splunkd lists it in a namespace (`data/lookup-table-files`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupFile {
    /// The file name, e.g. `__mlspl_m.mlmodel`.
    pub name: String,
    /// `acl.app`: the app it lives in.
    pub app: Option<String>,
    /// `acl.owner`: `nobody` for an app-level file, else the user it is private to.
    pub owner: Option<String>,
    /// Whether splunkd says the caller may delete it (`acl.removable`, else
    /// `acl.can_write`); true when splunkd says neither.
    pub removable: bool,
}

/// Which kind of object a call addressed, for the meaning of a 404.
#[derive(Clone, Copy)]
enum Missing {
    /// A 404 is an error.
    Error,
    /// A 404 means "no such object" and is returned as `Ok(None)`.
    Absent,
}

impl<T: Transport> SplunkdClient<T> {
    /// A client over any transport (tests use fakes), in the namespace `nobody/<app>`.
    pub fn with_transport(transport: T, app: &str) -> Self {
        let prefix = format!("/servicesNS/{}/{}", segment(OWNER), segment(app));
        SplunkdClient {
            transport: Arc::new(transport),
            prefix,
            app: app.to_string(),
            calls: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The app namespace every call uses.
    pub fn app(&self) -> &str {
        &self.app
    }

    /// How many REST calls this client (and its clones) made, for benchmarks and tests.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Every stanza of `conf` visible to the app, in one call (`count=0`), without splunkd's
    /// metadata keys (`eai:*`, `disabled`). Includes `[default]` when splunkd lists it.
    pub async fn list_stanzas(&self, conf: &str) -> Result<Vec<Stanza>, ApiError> {
        let path = format!("{}?output_mode=json&count=0", self.conf_path(conf)?);
        let reply = self.call(Method::GET, path, None, &[]).await?;
        let entries = self.parse(
            &reply,
            Missing::Error,
            "GET",
            &format!("configs/conf-{conf}"),
        )?;
        Ok(entries
            .unwrap_or_default()
            .into_iter()
            .map(EntryData::into_stanza)
            .collect())
    }

    /// One stanza of `conf`, or None when splunkd does not know it.
    pub async fn get_stanza(&self, conf: &str, name: &str) -> Result<Option<Stanza>, ApiError> {
        let path = self.stanza_path(conf, name)?;
        let reply = self.call(Method::GET, path, None, &[]).await?;
        let entries = self.parse(
            &reply,
            Missing::Absent,
            "GET",
            &format!("configs/conf-{conf}"),
        )?;
        // splunkd answers with the one stanza asked for; prefer an exact name match anyway.
        Ok(entries.and_then(|mut e| {
            let i = e.iter().position(|e| e.name == name).unwrap_or(0);
            (i < e.len()).then(|| e.swap_remove(i).into_stanza())
        }))
    }

    /// Creates stanza `name` with `keys`; splunkd's 409 (it exists) becomes a Conflict.
    /// Keys starting with `eai:` are splunkd metadata and are not sent.
    pub async fn create_stanza<K, V>(
        &self,
        conf: &str,
        name: &str,
        keys: &[(K, V)],
    ) -> Result<(), ApiError>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let path = format!("{}?output_mode=json", self.conf_path(conf)?);
        self.post_keys(path, conf, Some(name), keys).await
    }

    /// Sets `keys` on the existing stanza `name` (an empty value clears a key); splunkd's 404
    /// becomes NotFound. Keys starting with `eai:` are not sent.
    pub async fn update_stanza<K, V>(
        &self,
        conf: &str,
        name: &str,
        keys: &[(K, V)],
    ) -> Result<(), ApiError>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let path = self.stanza_path(conf, name)?;
        self.post_keys(path, conf, None, keys).await
    }

    /// POSTs `keys` (and `name=` when creating) as a form to a conf path.
    async fn post_keys<K, V>(
        &self,
        path: String,
        conf: &str,
        name: Option<&str>,
        keys: &[(K, V)],
    ) -> Result<(), ApiError>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut form = form_urlencoded::Serializer::new(String::new());
        if let Some(name) = name {
            form.append_pair("name", name);
        }
        append_keys(&mut form, keys);
        let reply = self
            .call(Method::POST, path, Some(form.finish()), &[])
            .await?;
        self.check(&reply, "POST", &format!("configs/conf-{conf}"))
    }

    /// Deletes stanza `name`; false when it did not exist.
    pub async fn delete_stanza(&self, conf: &str, name: &str) -> Result<bool, ApiError> {
        let path = self.stanza_path(conf, name)?;
        let reply = self.call(Method::DELETE, path, None, &[]).await?;
        if reply.status == 404 {
            return Ok(false);
        }
        self.check(&reply, "DELETE", &format!("configs/conf-{conf}"))
            .map(|()| true)
    }

    /// Whether app `name` is installed and enabled on this splunkd (`apps/local/<name>`).
    pub async fn app_enabled(&self, name: &str) -> Result<bool, ApiError> {
        let path = format!("/services/apps/local/{}?output_mode=json", segment(name));
        let reply = self.call(Method::GET, path, None, &[]).await?;
        let Some(entries) = self.parse(&reply, Missing::Absent, "GET", "apps/local")? else {
            return Ok(false);
        };
        Ok(entries
            .iter()
            .any(|e| e.name == name && !e.content.get("disabled").is_some_and(is_true)))
    }

    /// The clear text of credential `<realm>:<user>:`, or None when it is not stored.
    pub async fn get_password(&self, realm: &str, user: &str) -> Result<Option<Secret>, ApiError> {
        let path = self.credential_path(realm, user);
        let reply = self.call(Method::GET, path, None, &[]).await?;
        let Some(entries) = self.parse(&reply, Missing::Absent, "GET", "storage/passwords")? else {
            return Ok(None);
        };
        match entries.into_iter().next() {
            Some(e) => clear_password(&e).map(Some),
            None => Ok(None),
        }
    }

    /// Every credential of `realm` stored for this app, as (username, clear text), in one
    /// call. Credentials other apps share globally are left out.
    pub async fn list_passwords(&self, realm: &str) -> Result<Vec<(String, Secret)>, ApiError> {
        Ok(self
            .credentials(Some(realm))
            .await?
            .into_iter()
            .map(|(_, user, secret)| (user, secret))
            .collect())
    }

    /// Every credential stored for this app, as (realm, username, clear text), in one call,
    /// for requests that need several realms. Credentials other apps share globally are left
    /// out.
    pub async fn list_credentials(&self) -> Result<Vec<(String, String, Secret)>, ApiError> {
        self.credentials(None).await
    }

    async fn credentials(
        &self,
        realm: Option<&str>,
    ) -> Result<Vec<(String, String, Secret)>, ApiError> {
        let path = format!("{}?output_mode=json&count=0", self.passwords_path());
        let reply = self.call(Method::GET, path, None, &[]).await?;
        let entries = self
            .parse(&reply, Missing::Error, "GET", "storage/passwords")?
            .unwrap_or_default();
        let mut out = Vec::new();
        for e in entries {
            let entry_realm = e.field("realm").unwrap_or_default();
            if realm.is_some_and(|r| r != entry_realm)
                || e.app.as_deref().is_some_and(|a| a != self.app)
            {
                continue;
            }
            let username = e.field("username").unwrap_or_default();
            out.push((entry_realm, username, clear_password(&e)?));
        }
        Ok(out)
    }

    /// Stores `value` as credential `<realm>:<user>:`, creating or replacing it: a create,
    /// then an update when splunkd says it exists (two calls for an existing credential).
    pub async fn set_password(&self, realm: &str, user: &str, value: &str) -> Result<(), ApiError> {
        self.store_password(realm, user, value, false).await
    }

    /// [`SplunkdClient::set_password`] for a caller that already knows (from a listing made
    /// in the same request) whether the credential exists: an existing one is updated in one
    /// call. A wrong guess costs the second call but still stores the value.
    pub async fn store_password(
        &self,
        realm: &str,
        user: &str,
        value: &str,
        exists: bool,
    ) -> Result<(), ApiError> {
        if exists {
            match self.update_password(realm, user, value).await {
                Err(e) if e.kind == ErrorKind::NotFound => {}
                other => return other,
            }
        }
        if !self.create_password(realm, user, value).await? {
            // It existed after all: replace it.
            return self.update_password(realm, user, value).await;
        }
        Ok(())
    }

    /// Creates credential `<realm>:<user>:` only if it does not exist yet; `false` when it
    /// already existed (the stored value is kept). Two processes generating the same secret
    /// at once thus agree on one value: the loser reads the winner's.
    pub async fn create_password(
        &self,
        realm: &str,
        user: &str,
        value: &str,
    ) -> Result<bool, ApiError> {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("name", user)
            .append_pair("realm", realm)
            .append_pair("password", value);
        let path = format!("{}?output_mode=json", self.passwords_path());
        let reply = self
            .call(Method::POST, path, Some(form.finish()), &[value])
            .await?;
        if reply.status == 409 {
            return Ok(false);
        }
        self.check(&reply, "POST", "storage/passwords")
            .map(|()| true)
    }

    /// Replaces the value of the existing credential `<realm>:<user>:`; NotFound when absent.
    async fn update_password(&self, realm: &str, user: &str, value: &str) -> Result<(), ApiError> {
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("password", value)
            .finish();
        let path = self.credential_path(realm, user);
        let reply = self.call(Method::POST, path, Some(form), &[value]).await?;
        self.check(&reply, "POST", "storage/passwords")
    }

    /// Deletes credential `<realm>:<user>:`; false when it did not exist.
    pub async fn delete_password(&self, realm: &str, user: &str) -> Result<bool, ApiError> {
        let path = self.credential_path(realm, user);
        let reply = self.call(Method::DELETE, path, None, &[]).await?;
        if reply.status == 404 {
            return Ok(false);
        }
        self.check(&reply, "DELETE", "storage/passwords")
            .map(|()| true)
    }

    /// Who the caller is (`authentication/current-context`), asked with their session key.
    /// splunkd refusing the key (401/403) is a 403: nothing can be shown to be allowed.
    pub async fn current_context(
        &self,
        caller: &CallerSession,
    ) -> Result<CurrentContext, ApiError> {
        const WHAT: &str = "authentication/current-context";
        let path = identity::CURRENT_CONTEXT.to_string();
        let reply = self
            .call_as(Method::GET, path, None, &[], Some(&caller.token))
            .await?;
        if matches!(reply.status, 401 | 403) {
            return Err(ApiError::new(
                ErrorKind::Forbidden,
                format!(
                    "splunkd did not accept the caller's session key for {WHAT} (HTTP {}), so \
                     the caller's capabilities cannot be checked; sign in again.",
                    reply.status
                ),
            ));
        }
        self.check_as(&reply, "GET", WHAT, true)?;
        CurrentContext::from_reply(&reply.body).map_err(|why| {
            ApiError::new(
                ErrorKind::BadGateway,
                format!("splunkd's reply to GET {WHAT} cannot be read: {why}."),
            )
        })
    }

    /// Lookup table file `name` as the caller sees it in their namespace, with their session;
    /// None when splunkd knows no such file there. A refusal (403) is the caller's Forbidden.
    pub async fn lookup_file(
        &self,
        caller: &CallerSession,
        name: &str,
    ) -> Result<Option<LookupFile>, ApiError> {
        let path = lookup_path(caller, name);
        let reply = self
            .call_as(Method::GET, path, None, &[], Some(&caller.token))
            .await?;
        if reply.status == 404 {
            return Ok(None);
        }
        self.check_as(&reply, "GET", LOOKUPS, true)?;
        let entries = envelope::entries(&reply.body).map_err(|why| {
            ApiError::new(
                ErrorKind::BadGateway,
                format!("splunkd's reply to GET {LOOKUPS} cannot be read: {why}."),
            )
        })?;
        // splunkd answers with the one file asked for; prefer an exact name match anyway.
        let i = entries.iter().position(|e| e.name == name).unwrap_or(0);
        Ok(entries.into_iter().nth(i).map(|e| LookupFile {
            removable: acl_flag(&e, "removable")
                .or_else(|| acl_flag(&e, "can_write"))
                .unwrap_or(true),
            owner: e
                .acl
                .get("owner")
                .and_then(|v| v.as_str())
                .map(str::to_string),
            app: e.app,
            name: e.name,
        }))
    }

    /// Deletes lookup table file `name` in the caller's namespace with the caller's session;
    /// false when splunkd knows no such file there. A refusal (403) is the caller's Forbidden.
    pub async fn delete_lookup_file(
        &self,
        caller: &CallerSession,
        name: &str,
    ) -> Result<bool, ApiError> {
        let path = lookup_path(caller, name);
        let reply = self
            .call_as(Method::DELETE, path, None, &[], Some(&caller.token))
            .await?;
        if reply.status == 404 {
            return Ok(false);
        }
        self.check_as(&reply, "DELETE", LOOKUPS, true)
            .map(|()| true)
    }

    fn conf_path(&self, conf: &str) -> Result<String, ApiError> {
        if !names::is_conf_name(conf) {
            return Err(ApiError::bad_request(format!(
                "Invalid conf name {conf:?}: use letters, digits, '_', '.' and '-'."
            )));
        }
        Ok(format!("{}/configs/conf-{conf}", self.prefix))
    }

    /// `configs/conf-<conf>/<name>` with `output_mode=json`, the name percent-encoded.
    fn stanza_path(&self, conf: &str, name: &str) -> Result<String, ApiError> {
        Ok(format!(
            "{}/{}?output_mode=json",
            self.conf_path(conf)?,
            segment(name)
        ))
    }

    fn passwords_path(&self) -> String {
        format!("{}/storage/passwords", self.prefix)
    }

    /// `storage/passwords/<realm>:<user>:` with `output_mode=json`, the entity escaped and
    /// percent-encoded.
    fn credential_path(&self, realm: &str, user: &str) -> String {
        format!(
            "{}/{}?output_mode=json",
            self.passwords_path(),
            segment(&names::credential_entity(realm, user))
        )
    }

    /// Sends one call with the system token, counting it; an error reply's body has `secrets`
    /// masked.
    async fn call(
        &self,
        method: Method,
        path_and_query: String,
        form: Option<String>,
        secrets: &[&str],
    ) -> Result<RestReply, ApiError> {
        self.call_as(method, path_and_query, form, secrets, None)
            .await
    }

    /// [`Self::call`] as the caller when `as_caller` holds their session token.
    async fn call_as(
        &self,
        method: Method,
        path_and_query: String,
        form: Option<String>,
        secrets: &[&str],
        as_caller: Option<&Secret>,
    ) -> Result<RestReply, ApiError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let mut reply = self
            .transport
            .send(RestCall {
                method,
                path_and_query,
                form,
                as_caller: as_caller.cloned(),
            })
            .await?;
        if reply.status >= 400 {
            let mut text = String::from_utf8_lossy(&reply.body).into_owned();
            for s in secrets.iter().filter(|s| !s.is_empty()) {
                text = text.replace(s, MASK);
            }
            reply.body = text.into_bytes();
        }
        Ok(reply)
    }

    /// Success or splunkd's error, for a call made with the system token.
    fn check(&self, reply: &RestReply, method: &str, what: &str) -> Result<(), ApiError> {
        self.check_as(reply, method, what, false)
    }

    /// Success or splunkd's error; `as_caller` says the call carried the caller's session.
    fn check_as(
        &self,
        reply: &RestReply,
        method: &str,
        what: &str,
        as_caller: bool,
    ) -> Result<(), ApiError> {
        if (200..300).contains(&reply.status) {
            Ok(())
        } else {
            Err(reply_error(reply, method, what, as_caller))
        }
    }

    /// The entries of a successful reply; with [`Missing::Absent`], None for a 404.
    fn parse(
        &self,
        reply: &RestReply,
        missing: Missing,
        method: &str,
        what: &str,
    ) -> Result<Option<Vec<EntryData>>, ApiError> {
        if reply.status == 404 && matches!(missing, Missing::Absent) {
            return Ok(None);
        }
        self.check(reply, method, what)?;
        envelope::entries(&reply.body).map(Some).map_err(|why| {
            ApiError::new(
                ErrorKind::BadGateway,
                format!("splunkd's reply to {method} {what} cannot be read: {why}."),
            )
        })
    }
}

/// `clear_password` of a credential entry; its absence means the token may not read it.
fn clear_password(e: &EntryData) -> Result<Secret, ApiError> {
    e.field("clear_password").map(Secret::new).ok_or_else(|| {
        ApiError::new(
            ErrorKind::BadGateway,
            format!(
                "splunkd did not return the clear text of credential {}; the system token needs the list_storage_passwords capability.",
                e.name
            ),
        )
    })
}

/// The error for a splunkd error reply: splunkd's own message, with a status by kind.
/// For the system token 401 and 403 become BadGateway: splunkd already let the caller in, so a
/// refused system token is a fault of the server's setup (502), not something the caller lacks
/// (403). For a call made with the caller's session (`as_caller`), a 403 is exactly that: the
/// caller may not do this, passed on as 403.
fn reply_error(reply: &RestReply, method: &str, what: &str, as_caller: bool) -> ApiError {
    let kind = match reply.status {
        400 => ErrorKind::BadRequest,
        403 if as_caller => ErrorKind::Forbidden,
        401 | 403 => ErrorKind::BadGateway,
        404 => ErrorKind::NotFound,
        409 => ErrorKind::Conflict,
        _ => ErrorKind::BadGateway,
    };
    let text = envelope::error_text(&reply.body)
        .unwrap_or_else(|| format!("splunkd answered HTTP {} to {method} {what}.", reply.status));
    let text = match kind {
        ErrorKind::Forbidden => format!("splunkd refused {method} {what} to the caller: {text}"),
        _ if matches!(reply.status, 401 | 403) => {
            let whose = if as_caller {
                "the caller's session"
            } else {
                "the system token"
            };
            format!("splunkd refused {whose} for {method} {what}: {text}")
        }
        ErrorKind::BadGateway if !text.starts_with("splunkd") => {
            format!(
                "splunkd failed {method} {what} (HTTP {}): {text}",
                reply.status
            )
        }
        _ => text,
    };
    ApiError::new(kind, text)
}

/// The collection of lookup table files, as messages name it.
const LOOKUPS: &str = "data/lookup-table-files";

/// `data/lookup-table-files/<name>` in the caller's namespace (`/servicesNS/<user>/<app>`, or
/// `/services` without an app, which splunkd resolves in the caller's default app), with
/// `output_mode=json`.
fn lookup_path(caller: &CallerSession, name: &str) -> String {
    let prefix = match &caller.app {
        Some(app) => format!("/servicesNS/{}/{}", segment(&caller.user), segment(app)),
        None => "/services".to_string(),
    };
    format!("{prefix}/{LOOKUPS}/{}?output_mode=json", segment(name))
}

/// A boolean of an entry's `acl` (splunkd writes them as booleans, `"1"` or `"true"`).
fn acl_flag(e: &EntryData, key: &str) -> Option<bool> {
    match e.acl.get(key)? {
        serde_json::Value::Bool(b) => Some(*b),
        serde_json::Value::String(s) => crate::conffile::parse_bool(s),
        serde_json::Value::Number(n) => n.as_i64().map(|n| n != 0),
        _ => None,
    }
}

fn segment(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, SEGMENT).to_string()
}

fn append_keys<K: AsRef<str>, V: AsRef<str>>(
    form: &mut form_urlencoded::Serializer<'_, String>,
    keys: &[(K, V)],
) {
    for (k, v) in keys {
        if !k.as_ref().starts_with("eai:") {
            form.append_pair(k.as_ref(), v.as_ref());
        }
    }
}

/// splunkd's boolean content values: `true`, `1` or `"1"`/`"true"`.
fn is_true(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_i64() == Some(1),
        Value::String(s) => crate::conffile::parse_bool(s) == Some(true),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Records calls and answers from a script.
    struct Fake {
        seen: Mutex<Vec<RestCall>>,
        replies: Mutex<Vec<RestReply>>,
    }

    impl Fake {
        fn new(replies: Vec<(u16, &str)>) -> Fake {
            Fake {
                seen: Mutex::new(Vec::new()),
                replies: Mutex::new(
                    replies
                        .into_iter()
                        .rev()
                        .map(|(status, body)| RestReply {
                            status,
                            body: body.as_bytes().to_vec(),
                        })
                        .collect(),
                ),
            }
        }
    }

    impl Transport for Fake {
        async fn send(&self, call: RestCall) -> Result<RestReply, ApiError> {
            self.seen.lock().unwrap().push(call);
            self.replies
                .lock()
                .unwrap()
                .pop()
                .ok_or_else(|| ApiError::unavailable("no scripted reply"))
        }
    }

    fn client(replies: Vec<(u16, &str)>) -> SplunkdClient<Fake> {
        SplunkdClient::with_transport(Fake::new(replies), "my app")
    }

    fn seen(c: &SplunkdClient<Fake>) -> Vec<RestCall> {
        c.transport.seen.lock().unwrap().clone()
    }

    fn run<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    const ERR_404: &str = r#"{"messages":[{"type":"ERROR","text":"Could not find object id=x"}]}"#;

    #[test]
    fn paths_queries_and_forms() {
        let c = client(vec![(200, r#"{"entry":[]}"#), (201, "{}"), (200, "{}")]);
        run(async {
            c.list_stanzas("dsdl_container").await.unwrap();
            c.create_stanza(
                "dsdl_container",
                "model a/b",
                &[("k", "v w"), ("eai:acl", "x")],
            )
            .await
            .unwrap();
            c.update_stanza("dsdl_container", "m", &[("k".to_string(), String::new())])
                .await
                .unwrap();
        });
        let s = seen(&c);
        assert_eq!(s[0].method, Method::GET);
        assert_eq!(
            s[0].path_and_query,
            "/servicesNS/nobody/my%20app/configs/conf-dsdl_container?output_mode=json&count=0"
        );
        assert_eq!(
            s[1].path_and_query,
            "/servicesNS/nobody/my%20app/configs/conf-dsdl_container?output_mode=json"
        );
        assert_eq!(s[1].form.as_deref(), Some("name=model+a%2Fb&k=v+w"));
        assert_eq!(
            s[2].path_and_query,
            "/servicesNS/nobody/my%20app/configs/conf-dsdl_container/m?output_mode=json"
        );
        assert_eq!(s[2].form.as_deref(), Some("k="));
        assert_eq!(c.calls(), 3);
    }

    #[test]
    fn statuses_map_to_kinds_with_splunkds_text() {
        for (status, kind) in [
            (400, ErrorKind::BadRequest),
            (401, ErrorKind::BadGateway),
            (403, ErrorKind::BadGateway),
            (404, ErrorKind::NotFound),
            (409, ErrorKind::Conflict),
            (500, ErrorKind::BadGateway),
        ] {
            let c = client(vec![(status, ERR_404)]);
            let e = run(c.update_stanza("c", "x", &[("a", "b")])).unwrap_err();
            assert_eq!(e.kind, kind, "{status}");
            assert!(
                e.message.contains("Could not find object id=x"),
                "{}",
                e.message
            );
        }
        let c = client(vec![(502, "<html>bad gateway</html>")]);
        let e = run(c.list_stanzas("c")).unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadGateway);
        assert!(e.message.contains("HTTP 502"), "{}", e.message);
        let c = client(vec![(200, "not json")]);
        let e = run(c.list_stanzas("c")).unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadGateway);
    }

    #[test]
    fn absent_objects() {
        let c = client(vec![
            (404, ERR_404),
            (404, ERR_404),
            (404, ERR_404),
            (404, ERR_404),
        ]);
        run(async {
            assert_eq!(c.get_stanza("c", "x").await.unwrap(), None);
            assert!(!c.delete_stanza("c", "x").await.unwrap());
            assert!(c.get_password("r", "u").await.unwrap().is_none());
            assert!(!c.delete_password("r", "u").await.unwrap());
        });
        let c = client(vec![(404, ERR_404)]);
        assert_eq!(
            run(c.list_stanzas("c")).unwrap_err().kind,
            ErrorKind::NotFound
        );
    }

    #[test]
    fn bad_conf_names_never_reach_splunkd() {
        let c = client(vec![]);
        let e = run(c.list_stanzas("../x")).unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadRequest);
        assert_eq!(c.calls(), 0);
    }

    #[test]
    fn passwords_entities_filters_and_masking() {
        let list = r#"{"entry":[
            {"name":"r:a:","acl":{"app":"my app"},"content":{"realm":"r","username":"a","clear_password":"pa"}},
            {"name":"other:b:","acl":{"app":"my app"},"content":{"realm":"other","username":"b","clear_password":"pb"}},
            {"name":"r:c:","acl":{"app":"elsewhere"},"content":{"realm":"r","username":"c","clear_password":"pc"}}]}"#;
        let c = client(vec![
            (200, list),
            (
                409,
                r#"{"messages":[{"text":"An object with name=r\\:x:y: already exists"}]}"#,
            ),
            (400, r#"{"messages":[{"text":"bad value hunter2"}]}"#),
        ]);
        run(async {
            let got = c.list_passwords("r").await.unwrap();
            assert_eq!(got.len(), 1);
            assert_eq!(got[0].0, "a");
            assert_eq!(got[0].1.expose(), "pa");
            let e = c.set_password("r:x", "y", "hunter2").await.unwrap_err();
            assert_eq!(e.kind, ErrorKind::BadRequest);
            assert!(!e.message.contains("hunter2"), "{}", e.message);
            assert!(e.message.contains("********"));
        });
        let s = seen(&c);
        assert_eq!(
            s[0].path_and_query,
            "/servicesNS/nobody/my%20app/storage/passwords?output_mode=json&count=0"
        );
        assert_eq!(
            s[1].form.as_deref(),
            Some("name=y&realm=r%3Ax&password=hunter2")
        );
        assert_eq!(
            s[2].path_and_query,
            "/servicesNS/nobody/my%20app/storage/passwords/r%5C%3Ax%3Ay%3A?output_mode=json"
        );
        assert_eq!(s[2].form.as_deref(), Some("password=hunter2"));
    }

    #[test]
    fn a_credential_known_to_exist_is_updated_in_one_call() {
        let c = client(vec![(200, "{}"), (404, ERR_404), (201, "{}")]);
        run(async {
            c.store_password("r", "u", "v1", true).await.unwrap();
            // Deleted meanwhile: the update's 404 falls back to a create.
            c.store_password("r", "gone", "v2", true).await.unwrap();
        });
        let s = seen(&c);
        assert_eq!(s.len(), 3);
        assert_eq!(
            s[0].path_and_query,
            "/servicesNS/nobody/my%20app/storage/passwords/r%3Au%3A?output_mode=json"
        );
        assert_eq!(s[0].form.as_deref(), Some("password=v1"));
        assert_eq!(
            s[2].path_and_query,
            "/servicesNS/nobody/my%20app/storage/passwords?output_mode=json"
        );
        assert_eq!(s[2].form.as_deref(), Some("name=gone&realm=r&password=v2"));
    }

    #[test]
    fn all_realms_in_one_call() {
        let list = r#"{"entry":[
            {"name":"r:a:","acl":{"app":"my app"},"content":{"realm":"r","username":"a","clear_password":"pa"}},
            {"name":"q:b:","acl":{"app":"my app"},"content":{"realm":"q","username":"b","clear_password":"pb"}},
            {"name":"r:c:","acl":{"app":"elsewhere"},"content":{"realm":"r","username":"c","clear_password":"pc"}}]}"#;
        let c = client(vec![(200, list)]);
        let got = run(c.list_credentials()).unwrap();
        let names: Vec<(&str, &str)> = got
            .iter()
            .map(|(r, u, _)| (r.as_str(), u.as_str()))
            .collect();
        assert_eq!(names, [("r", "a"), ("q", "b")]);
        assert_eq!(c.calls(), 1);
    }

    #[test]
    fn current_context_is_one_call_with_the_callers_session_outside_the_app_namespace() {
        let c = client(vec![
            (
                200,
                r#"{"entry":[{"name":"context","content":{"username":"u","roles":["r"],"capabilities":["list_containers"]}}]}"#,
            ),
            (
                401,
                r#"{"messages":[{"type":"WARN","text":"call not properly authenticated"}]}"#,
            ),
            (200, "<html>"),
        ]);
        run(async {
            let ctx = c.current_context(&caller(None)).await.unwrap();
            assert_eq!(ctx.username, "u");
            assert!(ctx.has("list_containers"));
            let e = c.current_context(&caller(None)).await.unwrap_err();
            assert_eq!(e.kind, ErrorKind::Forbidden);
            assert!(e.message.contains("session key"), "{}", e.message);
            let e = c.current_context(&caller(None)).await.unwrap_err();
            assert_eq!(e.kind, ErrorKind::BadGateway);
        });
        let s = seen(&c);
        assert_eq!(s[0].method, Method::GET);
        assert_eq!(
            s[0].path_and_query,
            "/services/authentication/current-context?output_mode=json"
        );
        assert!(
            s.iter()
                .all(|call| call.as_caller.as_ref().map(Secret::expose) == Some("sess-bob")),
            "never the system token"
        );
        assert_eq!(c.calls(), 3);
    }

    #[test]
    fn credentials_without_clear_text_are_forbidden() {
        let c = client(vec![(
            200,
            r#"{"entry":[{"name":"r:u:","content":{"realm":"r","username":"u","password":"********"}}]}"#,
        )]);
        let e = run(c.get_password("r", "u")).unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadGateway);
        assert!(e.message.contains("list_storage_passwords"));
    }

    fn caller(app: Option<&str>) -> CallerSession {
        CallerSession {
            user: "bob smith".into(),
            app: app.map(str::to_string),
            token: Secret::new("sess-bob"),
        }
    }

    #[test]
    fn lookup_files_go_with_the_callers_session_and_namespace() {
        let one = r#"{"entry":[{"name":"__mlspl_m.mlmodel","acl":{"app":"search","owner":"bob smith","removable":false,"can_write":true},"content":{"eai:data":"/x"}}]}"#;
        let c = client(vec![
            (200, one),
            (200, "{}"),
            (404, ERR_404),
            (404, ERR_404),
        ]);
        run(async {
            let f = c
                .lookup_file(&caller(Some("search")), "__mlspl_m.mlmodel")
                .await
                .unwrap()
                .expect("found");
            assert_eq!(f.app.as_deref(), Some("search"));
            assert_eq!(f.owner.as_deref(), Some("bob smith"));
            assert!(!f.removable, "acl.removable wins over can_write");
            assert!(
                c.delete_lookup_file(&caller(None), "__mlspl_m.mlmodel")
                    .await
                    .unwrap()
            );
            assert_eq!(
                c.lookup_file(&caller(Some("search")), "x").await.unwrap(),
                None
            );
            assert!(!c.delete_lookup_file(&caller(None), "x").await.unwrap());
        });
        let s = seen(&c);
        assert_eq!(s[0].method, Method::GET);
        assert_eq!(
            s[0].path_and_query,
            "/servicesNS/bob%20smith/search/data/lookup-table-files/__mlspl_m.mlmodel?output_mode=json"
        );
        assert_eq!(s[1].method, Method::DELETE);
        assert_eq!(
            s[1].path_and_query,
            "/services/data/lookup-table-files/__mlspl_m.mlmodel?output_mode=json"
        );
        for call in &s {
            assert_eq!(
                call.as_caller.as_ref().map(Secret::expose),
                Some("sess-bob"),
                "never the system token"
            );
        }
        // The conf calls keep the system token.
        let c = client(vec![(404, ERR_404)]);
        run(c.get_stanza("c", "x")).unwrap();
        assert!(seen(&c)[0].as_caller.is_none());
    }

    #[test]
    fn a_refusal_of_the_callers_session_is_the_callers_403() {
        let denied =
            r#"{"messages":[{"type":"ERROR","text":"You (user=bob) do not have permission"}]}"#;
        let c = client(vec![(403, denied), (403, denied), (401, denied)]);
        run(async {
            let e = c
                .delete_lookup_file(&caller(Some("a")), "f")
                .await
                .unwrap_err();
            assert_eq!(e.kind, ErrorKind::Forbidden);
            assert!(
                e.message.contains("do not have permission"),
                "{}",
                e.message
            );
            let e = c.lookup_file(&caller(Some("a")), "f").await.unwrap_err();
            assert_eq!(e.kind, ErrorKind::Forbidden);
            let e = c
                .delete_lookup_file(&caller(Some("a")), "f")
                .await
                .unwrap_err();
            assert_eq!(
                e.kind,
                ErrorKind::BadGateway,
                "401: the session was not accepted"
            );
        });
        // With the system token a 403 stays a fault of the setup.
        let c = client(vec![(403, denied)]);
        assert_eq!(
            run(c.delete_stanza("c", "x")).unwrap_err().kind,
            ErrorKind::BadGateway
        );
    }
}
