//! The HTTP layer under the typed store API: one REST call in, status and body out. It owns
//! the base URI, the `Authorization: Splunk <token>` header, TLS, the time bound and the
//! mapping of connection failures to 503, so the typed API above never handles the token.

use super::config::SplunkdConfig;
use super::trust;
use crate::error::ApiError;
use crate::protocol::request::Secret;
use crate::tls::{causes, find_rustls_error};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use std::error::Error as StdError;
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

/// Largest reply body accepted from splunkd.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// One REST call, relative to the transport's base URI. `Debug` leaves out the form body,
/// which may hold a password.
#[derive(Clone, PartialEq, Eq)]
pub struct RestCall {
    /// GET, POST or DELETE.
    pub method: Method,
    /// Absolute path with query, e.g. `/servicesNS/nobody/app/configs/conf-x?output_mode=json`.
    pub path_and_query: String,
    /// urlencoded form body for POST.
    pub form: Option<String>,
    /// The caller's session token, for a call made as the caller (so splunkd applies the
    /// caller's permissions); None sends the transport's own (system) token.
    pub as_caller: Option<Secret>,
}

/// splunkd's answer: any status, the caller decides what it means. `Debug` leaves out the
/// body, which may hold a clear-text password.
#[derive(Clone, PartialEq, Eq)]
pub struct RestReply {
    /// HTTP status.
    pub status: u16,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl std::fmt::Debug for RestCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestCall")
            .field("method", &self.method)
            .field("path_and_query", &self.path_and_query)
            .field("form_bytes", &self.form.as_ref().map(String::len))
            .field("as_caller", &self.as_caller.is_some())
            .finish()
    }
}

impl std::fmt::Debug for RestReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestReply")
            .field("status", &self.status)
            .field("body_bytes", &self.body.len())
            .finish()
    }
}

/// Carries REST calls to splunkd. Implementations fail only when no answer arrived
/// (`ErrorKind::Unavailable`); an HTTP error status is a successful [`RestReply`].
pub trait Transport: Send + Sync + 'static {
    /// Sends one call and reads the whole reply.
    fn send(&self, call: RestCall) -> impl Future<Output = Result<RestReply, ApiError>> + Send;
}

/// hyper-util's pooled client over hyper-rustls (http or https): its idle keep-alive
/// connections are reused by every transport built on it ([`HyperTransport::on_pool`]). It
/// holds no credentials; each call carries its own.
pub type Pool = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// How long an idle connection to splunkd is kept: below splunkd's own keep-alive timeout
/// under load (`busyKeepAliveIdleTimeout`, 12 s by default), so the driver never sends on a
/// connection splunkd is closing.
pub const POOL_IDLE: Duration = Duration::from_secs(10);

/// A connection pool for splunkd with these TLS settings; calls through it connect within
/// `connect_timeout`.
pub fn pool(tls: rustls::ClientConfig, connect_timeout: Duration) -> Pool {
    crate::tls::https_client(tls, connect_timeout, Some(POOL_IDLE))
}

/// The real transport: a [`Pool`] and the settings of one request.
#[derive(Clone)]
pub struct HyperTransport {
    client: Pool,
    base: String,
    /// The system token's header; None for a client that only calls as the caller.
    auth: Option<HeaderValue>,
    token: Option<Secret>,
    timeout: Duration,
    ca_file: Option<PathBuf>,
}

impl std::fmt::Debug for HyperTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HyperTransport")
            .field("base", &self.base)
            .field("timeout", &self.timeout)
            .field("ca_file", &self.ca_file)
            .finish_non_exhaustive()
    }
}

impl HyperTransport {
    /// Checks the URI and token and builds the TLS client. Needs a Tokio runtime to send.
    pub fn new(config: &SplunkdConfig) -> Result<HyperTransport, ApiError> {
        let tls = trust::client_config(config.ca_file.as_deref())?;
        Self::on_pool(config, pool(tls, config.timeout))
    }

    /// [`HyperTransport::new`] on a pool built earlier ([`pool`]) for `config.ca_file`: a
    /// driver keeps one per process, so after the first request its calls reuse idle
    /// connections instead of opening (and, over TLS, handshaking) new ones.
    pub fn on_pool(config: &SplunkdConfig, client: Pool) -> Result<HyperTransport, ApiError> {
        let base = base_uri(&config.rest_uri)?;
        let auth = config
            .token
            .as_ref()
            .map(|t| splunk_auth(t, "The system token from splunkd"))
            .transpose()?;
        Ok(HyperTransport {
            client,
            base,
            auth,
            token: config.token.clone(),
            timeout: config.timeout,
            ca_file: config.ca_file.clone(),
        })
    }

    async fn exchange(&self, call: &RestCall) -> Result<RestReply, ApiError> {
        let uri = format!("{}{}", self.base, call.path_and_query);
        let body = call.form.clone().unwrap_or_default();
        let auth = match (&call.as_caller, &self.auth) {
            (Some(token), _) => splunk_auth(token, "The caller's session token")?,
            (None, Some(auth)) => auth.clone(),
            (None, None) => {
                return Err(ApiError::internal(
                    "A call to splunkd needed the system token, but this client was built for \
                     the caller's calls only.",
                ));
            }
        };
        let build = || {
            let mut builder = hyper::Request::builder()
                .method(call.method.clone())
                .uri(&uri)
                .header(AUTHORIZATION, auth.clone());
            if call.form.is_some() {
                builder = builder.header(CONTENT_TYPE, "application/x-www-form-urlencoded");
            }
            builder
                .body(Full::new(Bytes::from(body.clone())))
                .map_err(|e| {
                    ApiError::internal(format!("Could not build a request to splunkd: {e}"))
                })
        };
        let response = match self.client.request(build()?).await {
            Ok(r) => r,
            // A pooled connection splunkd closed while the request was on its way: a read is
            // sent once more, on a fresh connection. hyper itself retries only requests that
            // were not written yet.
            Err(e) if call.method == Method::GET && is_closed_under_us(&e) => self
                .client
                .request(build()?)
                .await
                .map_err(|e| self.failure(&e))?,
            Err(e) => return Err(self.failure(&e)),
        };
        let status = response.status().as_u16();
        let body = Limited::new(response.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| {
                ApiError::unavailable(format!(
                    "splunkd at {} broke off its reply to {} {}: {e}",
                    self.base,
                    call.method,
                    path_only(&call.path_and_query)
                ))
            })?
            .to_bytes()
            .to_vec();
        // An error reply may quote the request; make sure no token travels further.
        let body = if status >= 400 {
            let body = match &self.token {
                Some(token) => redact(body, token.expose().as_bytes()),
                None => body,
            };
            match &call.as_caller {
                Some(token) => redact(body, token.expose().as_bytes()),
                None => body,
            }
        } else {
            body
        };
        Ok(RestReply { status, body })
    }

    /// A 503 for a call that got no answer, with the cause (never the token).
    fn failure(&self, e: &(dyn StdError + 'static)) -> ApiError {
        let chain = causes(e);
        if let Some(tls) = find_rustls_error(e) {
            let against = match &self.ca_file {
                Some(ca) => format!(" against the CA bundle {}", ca.display()),
                None => String::new(),
            };
            return ApiError::unavailable(format!(
                "TLS with splunkd at {} failed{against}: {tls}. Check DSDL_SPLUNKD_CA and that splunkd's certificate names the host in server.rest_uri.",
                self.base
            ));
        }
        ApiError::unavailable(format!(
            "splunkd at {} cannot be reached: {chain}",
            self.base
        ))
    }
}

impl Transport for HyperTransport {
    async fn send(&self, call: RestCall) -> Result<RestReply, ApiError> {
        match tokio::time::timeout(self.timeout, self.exchange(&call)).await {
            Ok(result) => result,
            Err(_) => Err(ApiError::unavailable(format!(
                "splunkd at {} did not answer {} {} within {} s.",
                self.base,
                call.method,
                path_only(&call.path_and_query),
                self.timeout.as_secs_f64()
            ))),
        }
    }
}

/// `Authorization: Splunk <token>`, marked sensitive; 503 naming `what` (never the token) when
/// the token cannot be sent in a header.
fn splunk_auth(token: &Secret, what: &str) -> Result<HeaderValue, ApiError> {
    let mut auth = HeaderValue::from_str(&format!("Splunk {}", token.expose())).map_err(|_| {
        ApiError::unavailable(format!(
            "{what} contains characters that cannot be sent in a header."
        ))
    })?;
    auth.set_sensitive(true);
    Ok(auth)
}

/// `scheme://authority` of a usable splunkd URI (http or https, no path beyond `/`).
fn base_uri(rest_uri: &str) -> Result<String, ApiError> {
    let bad = |why: &str| {
        ApiError::unavailable(format!(
            "splunkd's REST URI {rest_uri:?} (server.rest_uri) is not usable: {why}."
        ))
    };
    let uri: Uri = rest_uri
        .trim()
        .parse()
        .map_err(|_| bad("it is not a URL"))?;
    let scheme = uri.scheme_str().ok_or_else(|| bad("it has no scheme"))?;
    if scheme != "http" && scheme != "https" {
        return Err(bad("the scheme must be http or https"));
    }
    let authority = uri.authority().ok_or_else(|| bad("it has no host"))?;
    if authority.as_str().contains('@') {
        return Err(bad("it must not carry credentials"));
    }
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return Err(bad("it must not have a path or query"));
    }
    Ok(format!("{scheme}://{authority}"))
}

/// `body` with every occurrence of `secret` replaced by `********`.
fn redact(body: Vec<u8>, secret: &[u8]) -> Vec<u8> {
    if secret.is_empty() || !body.windows(secret.len()).any(|w| w == secret) {
        return body;
    }
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        if body[i..].starts_with(secret) {
            out.extend_from_slice(b"********");
            i += secret.len();
        } else {
            out.push(body[i]);
            i += 1;
        }
    }
    out
}

/// The path of a call without its query, for messages.
fn path_only(path_and_query: &str) -> &str {
    path_and_query.split('?').next().unwrap_or(path_and_query)
}

/// Whether a call failed because the connection it was sent on was closed by the peer before
/// an answer came (a reused idle connection), not because splunkd could not be reached.
fn is_closed_under_us(e: &hyper_util::client::legacy::Error) -> bool {
    if e.is_connect() {
        return false;
    }
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        if let Some(h) = cause.downcast_ref::<hyper::Error>() {
            return h.is_incomplete_message() || h.is_canceled();
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::UnexpectedEof
            );
        }
        source = cause.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_uris() {
        assert_eq!(
            base_uri("https://127.0.0.1:8089").unwrap(),
            "https://127.0.0.1:8089"
        );
        assert_eq!(
            base_uri("http://localhost:8089/").unwrap(),
            "http://localhost:8089"
        );
        for bad in [
            "",
            "127.0.0.1:8089",
            "ftp://h:21",
            "https://h:8089/services",
            "https://u:p@h:8089",
            "https://h:8089?x=1",
        ] {
            let e = base_uri(bad).unwrap_err();
            assert_eq!(e.status(), 503, "{bad}");
            assert!(e.message.contains("server.rest_uri"));
        }
    }

    #[test]
    fn debug_output_leaves_bodies_out() {
        let call = RestCall {
            method: Method::POST,
            path_and_query: "/p".into(),
            form: Some("password=hunter2".into()),
            as_caller: Some(Secret::new("caller-tok")),
        };
        let reply = RestReply {
            status: 200,
            body: br#"{"clear_password":"hunter2"}"#.to_vec(),
        };
        let text = format!("{call:?}{reply:?}");
        assert!(
            !text.contains("hunter2") && !text.contains("caller-tok"),
            "{text}"
        );
    }

    #[test]
    fn redaction_replaces_every_occurrence() {
        assert_eq!(
            redact(b"a tok b tok".to_vec(), b"tok"),
            b"a ******** b ********"
        );
        assert_eq!(redact(b"nothing".to_vec(), b"tok"), b"nothing");
        assert_eq!(redact(b"x".to_vec(), b""), b"x");
    }

    #[test]
    fn cause_chains_are_joined_once() {
        let inner = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let outer = std::io::Error::other(inner);
        assert_eq!(causes(&outer), "refused");
        let tls = std::io::Error::other(rustls::Error::General("bad".into()));
        assert!(find_rustls_error(&tls).is_some());
        let twice = std::io::Error::other(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::General("bad".into()),
        ));
        assert!(find_rustls_error(&twice).is_some());
        assert!(find_rustls_error(&outer).is_none());
    }

    #[test]
    fn token_stays_out_of_debug_and_bad_tokens_are_503() {
        let config = SplunkdConfig {
            rest_uri: "http://127.0.0.1:1".into(),
            token: Some(crate::protocol::request::Secret::new("tok-visible?")),
            app: "a".into(),
            ca_file: None,
            timeout: Duration::from_secs(1),
        };
        let t = HyperTransport::new(&config).unwrap();
        assert!(!format!("{t:?}").contains("tok-visible"));
        let bad = SplunkdConfig {
            token: Some(crate::protocol::request::Secret::new("line\nbreak")),
            ..config
        };
        let e = HyperTransport::new(&bad).unwrap_err();
        assert_eq!(e.status(), 503);
        assert!(!e.message.contains("break"));
    }

    #[test]
    fn a_client_without_the_system_token_sends_only_the_callers_calls() {
        let config = SplunkdConfig {
            rest_uri: "http://127.0.0.1:1".into(),
            token: None,
            app: "a".into(),
            ca_file: None,
            timeout: Duration::from_secs(1),
        };
        let t = HyperTransport::new(&config).unwrap();
        let call = |as_caller: Option<Secret>| RestCall {
            method: Method::GET,
            path_and_query: "/services/authentication/current-context".into(),
            form: None,
            as_caller,
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let e = rt.block_on(t.send(call(None))).unwrap_err();
        assert_eq!(e.status(), 500, "{}", e.message);
        // With the caller's session it goes out (to a port where nobody listens).
        let e = rt
            .block_on(t.send(call(Some(Secret::new("k")))))
            .unwrap_err();
        assert!(e.message.contains("cannot be reached"), "{}", e.message);
    }

    /// A server that answers the first request of its first connection with keep-alive,
    /// then closes that connection when the next request arrives on it (as a peer closing an
    /// idle connection at that moment does); later connections are answered normally.
    fn closing_server() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = connections.clone();
        std::thread::spawn(move || {
            for (n, conn) in listener.incoming().enumerate() {
                let Ok(mut conn) = conn else { return };
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(conn.try_clone().unwrap());
                    let mut answered = 0;
                    loop {
                        // Read one request head (GETs have no body).
                        let mut line = String::new();
                        loop {
                            line.clear();
                            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                                return;
                            }
                            if line == "\r\n" {
                                break;
                            }
                        }
                        if n == 0 && answered == 1 {
                            return; // closes without an answer
                        }
                        let body = "{}";
                        let _ = write!(
                            conn,
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        answered += 1;
                    }
                });
            }
        });
        (url, connections)
    }

    #[test]
    fn a_read_on_a_connection_closed_under_it_is_sent_again() {
        let (url, connections) = closing_server();
        let config = SplunkdConfig {
            rest_uri: url,
            token: Some(Secret::new("tok")),
            app: "a".into(),
            ca_file: None,
            timeout: Duration::from_secs(2),
        };
        let tls = trust::client_config(None).unwrap();
        let pool = pool(tls, config.timeout);
        let get = || RestCall {
            method: Method::GET,
            path_and_query: "/services/server/info".into(),
            form: None,
            as_caller: None,
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let t = HyperTransport::on_pool(&config, pool.clone()).unwrap();
            assert_eq!(t.send(get()).await.unwrap().status, 200);
            // The next request of another transport goes out on the pooled connection, which
            // the server closes: it is sent again on a new one.
            let t = HyperTransport::on_pool(&config, pool).unwrap();
            assert_eq!(t.send(get()).await.unwrap().status, 200);
        });
        assert_eq!(connections.load(std::sync::atomic::Ordering::SeqCst), 2);
    }
}
