//! The HTTPS front: accepts TLS connections on loopback, checks the client certificate when
//! one was presented, and answers each request in order: an injected failure, else
//! authentication (401), else the route (which authorises and serves). Every request is
//! recorded (method, path, user or why it was refused, status) for the tests to inspect;
//! no credential is ever recorded.

use super::auth::{self, Credentials};
use super::authz::Rule;
use super::cluster::Cluster;
use super::faults::FaultKind;
use super::faults::Faults;
use super::pki::Pki;
use super::protobuf;
use super::routes::{self, Context};
use super::status::{self, Reply};
use super::store::Store;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::net::TcpListener;

/// The largest request body read (the real server's limit is 3 MiB for most objects).
pub const MAX_BODY: usize = 3 * 1024 * 1024;

/// One request as the fake saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// The HTTP method.
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The authenticated user, if any.
    pub user: Option<String>,
    /// Why authentication failed, if it did (never a credential).
    pub refused: Option<String>,
    /// The status answered; 0 for a request left hanging.
    pub code: u16,
}

/// What every connection shares.
#[derive(Debug)]
pub struct State {
    /// The objects.
    pub store: Mutex<Store>,
    /// The simulated parts (locked after the store).
    pub cluster: Mutex<Cluster>,
    /// The permissions.
    pub rules: Mutex<Vec<Rule>>,
    /// The accepted credentials.
    pub credentials: Mutex<Credentials>,
    /// Armed failures.
    pub faults: Faults,
    /// The `/version` document.
    pub version: Value,
    /// `host:port` as clients reach the server.
    pub address: String,
    /// Every request so far.
    pub seen: Mutex<Vec<Seen>>,
    /// How far the server's clock runs ahead of the host's, in seconds (to age EKS tokens).
    pub clock_ahead: std::sync::atomic::AtomicU64,
}

impl State {
    fn record(&self, seen: Seen) {
        if let Ok(mut log) = self.seen.lock() {
            log.push(seen);
        }
    }
}

/// Serves `listener` until the task is dropped.
pub async fn serve(
    state: Arc<State>,
    pki: Arc<Pki>,
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
) {
    loop {
        let Ok((tcp, _peer)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let state = state.clone();
        let acceptor = acceptor.clone();
        let pki = pki.clone();
        tokio::spawn(async move {
            let Ok(Ok(tls)) =
                tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
            else {
                return;
            };
            let cert = tls
                .get_ref()
                .1
                .peer_certificates()
                .map(|chain| pki.verify_client(chain));
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let state = state.clone();
                let cert = cert.clone();
                async move { Ok::<_, Infallible>(answer(&state, req, cert.as_ref()).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
}

/// Answers one request (or never does, when a hang is injected).
async fn answer(
    state: &State,
    req: Request<Incoming>,
    cert: Option<&Result<String, String>>,
) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let method = parts.method.as_str().to_string();
    let path = parts.uri.path().to_string();
    let mut seen = Seen {
        method: method.clone(),
        path: path.clone(),
        user: None,
        refused: None,
        code: 0,
    };
    match state.faults.take(&method, &path) {
        None => {}
        Some(FaultKind::Delay(late)) => tokio::time::sleep(late).await,
        Some(fault) => {
            let Some(reply) = fault.reply() else {
                state.record(seen);
                return std::future::pending().await;
            };
            seen.code = reply.code;
            state.record(seen);
            return response(reply);
        }
    }
    let authorization = parts
        .headers
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let user = match state.credentials.lock() {
        Ok(creds) => {
            let ahead = state.clock_ahead.load(std::sync::atomic::Ordering::Relaxed);
            let now = SystemTime::now() + Duration::from_secs(ahead);
            auth::authenticate(&creds, authorization, cert, now)
        }
        Err(_) => Err("the credential table is unusable".to_string()),
    };
    let reply = match user {
        Err(why) => {
            seen.refused = Some(why);
            status::unauthorized()
        }
        Ok(user) => {
            seen.user = Some(user.clone());
            match Limited::new(body, MAX_BODY).collect().await {
                Err(_) => status::failure(
                    413,
                    "RequestEntityTooLarge",
                    "the request is too large",
                    None,
                ),
                Ok(bytes) => {
                    let bytes = bytes.to_bytes();
                    let body = match readable_body(&parts.headers, &bytes) {
                        Ok(b) => b,
                        Err(reply) => {
                            seen.code = reply.code;
                            state.record(seen);
                            return response(reply);
                        }
                    };
                    let query: Vec<(String, String)> =
                        form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
                            .into_owned()
                            .collect();
                    let header = |name| {
                        parts
                            .headers
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                    };
                    let request = Call {
                        user: &user,
                        method: &method,
                        path: &path,
                        query: &query,
                        body: &body,
                        content_type: header(hyper::header::CONTENT_TYPE),
                        user_agent: header(hyper::header::USER_AGENT),
                    };
                    route(state, &request)
                }
            }
        }
    };
    seen.code = reply.code;
    state.record(seen);
    response(reply)
}

/// The body as JSON bytes: as sent, or decoded from Kubernetes protobuf; 415 for a protobuf
/// object the fake has no schema for.
fn readable_body(headers: &hyper::HeaderMap, body: &Bytes) -> Result<Bytes, Reply> {
    let protobuf = headers
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.trim().starts_with(protobuf::MEDIA_TYPE));
    if !protobuf {
        return Ok(body.clone());
    }
    protobuf::to_json(body)
        .map(|json| Bytes::from(json.to_string()))
        .map_err(|e| status::failure(415, "UnsupportedMediaType", &e, None))
}

/// What [`route`] needs of a request.
struct Call<'a> {
    user: &'a str,
    method: &'a str,
    path: &'a str,
    query: &'a [(String, String)],
    body: &'a [u8],
    content_type: &'a str,
    user_agent: &'a str,
}

/// Runs the route with the store, the cluster and the rules locked.
fn route(state: &State, r: &Call<'_>) -> Reply {
    let (Ok(mut store), Ok(mut cluster), Ok(rules)) =
        (state.store.lock(), state.cluster.lock(), state.rules.lock())
    else {
        return status::internal("the fake's state is unusable");
    };
    let ctx = Context {
        store: &mut store,
        rules: &rules,
        user: r.user,
        server_address: &state.address,
        version: &state.version,
        cluster: &mut cluster,
        now: jiff::Timestamp::now(),
        content_type: r.content_type,
        user_agent: r.user_agent,
    };
    routes::handle(ctx, r.method, &routes::parse(r.path), r.query, r.body)
}

/// The HTTP response of `reply`.
fn response(reply: Reply) -> Response<Full<Bytes>> {
    let (body, content_type) = match reply.as_text() {
        Some(text) => (text.as_bytes().to_vec(), None),
        None => (
            serde_json::to_vec(&reply.body).unwrap_or_default(),
            Some("application/json"),
        ),
    };
    let mut builder = Response::builder().status(reply.code);
    if let Some(json) = content_type {
        builder = builder.header("Content-Type", json);
    }
    builder = builder.header("Cache-Control", "no-cache, private");
    for (name, value) in &reply.headers {
        builder = builder.header(*name, value);
    }
    builder
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}
