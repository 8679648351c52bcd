//! The node ports on the host: for each one a Service holds (see [`endpoints::wanted`]),
//! kube-fake listens on `127.0.0.1:<nodePort>` while the Service is there and unchanged, and
//! hands each connection on as kube-proxy would: to a ready pod the Service selects
//! ([`endpoints::endpoints`], in turn), whose model API answers it ([`model_api`]) when the
//! container's API listens on that port (5000, unless its environment moved it). With no
//! such pod the connection is reset at once, as kube-proxy's REJECT rule does. The set of
//! listeners follows the store every [`EVERY`]; dropping the fake's runtime closes them all.

use super::behaviour;
use super::controller;
use super::endpoints::{self, Target};
use super::model_api;
use super::resources;
use super::server::State;
use super::services;
use crate::runtime::fake::Behaviour as TestBehaviour;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, SERVER};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// How often the listeners are brought in line with the Services.
pub const EVERY: Duration = Duration::from_millis(20);

/// The port the image's API listens on.
const API_PORT: u64 = 5000;

/// The node ports the stored Services want.
fn wanted(state: &State) -> BTreeMap<u16, Target> {
    let Some(rt) = resources::find("", "v1", "services") else {
        return BTreeMap::new();
    };
    match state.store.lock() {
        Ok(store) => endpoints::wanted(&store.objects(rt, None)),
        Err(_) => BTreeMap::new(),
    }
}

/// Keeps one listener per wanted node port, for as long as the task runs.
pub async fn run(state: Arc<State>) {
    let mut open: BTreeMap<u16, (Target, JoinHandle<()>)> = BTreeMap::new();
    loop {
        let wanted = wanted(&state);
        open.retain(|port, (target, task)| {
            let keep = wanted.get(port) == Some(target);
            if !keep {
                task.abort();
            }
            keep
        });
        for (port, target) in wanted {
            if open.contains_key(&port) {
                continue;
            }
            // A port the host holds is tried again next round.
            if let Ok(listener) = TcpListener::bind(("127.0.0.1", port)).await {
                let task = tokio::spawn(accept(listener, target.clone(), state.clone()));
                open.insert(port, (target, task));
            }
        }
        tokio::time::sleep(EVERY).await;
    }
}

/// Accepts connections to one node port.
async fn accept(listener: TcpListener, target: Target, state: Arc<State>) {
    let mut turn = 0usize;
    loop {
        let Ok((tcp, _peer)) = listener.accept().await else {
            tokio::time::sleep(EVERY).await;
            continue;
        };
        turn = turn.wrapping_add(1);
        match api_token(&state, &target, turn) {
            Some(token) => {
                tokio::spawn(serve(tcp, token));
            }
            None => {
                let _ = tcp.set_zero_linger();
                drop(tcp);
            }
        }
    }
}

/// The `api_token` of the pod connection `turn` goes to, when one is ready and its API
/// listens on the port the Service leads to; the cluster is moved on to now first.
fn api_token(state: &State, target: &Target, turn: usize) -> Option<String> {
    let pods_rt = resources::find("", "v1", "pods")?;
    let mut store = state.store.lock().ok()?;
    let mut cluster = state.cluster.lock().ok()?;
    let now = jiff::Timestamp::now();
    controller::reconcile(&mut store, &mut cluster, now);
    services::reconcile(&mut store, &mut cluster, now);
    drop(cluster);
    let pods = store.objects(pods_rt, Some(&target.ns));
    let ready = endpoints::endpoints(target, &pods);
    let backend = ready.get(turn.checked_rem(ready.len())?)?;
    let pod = pods
        .iter()
        .find(|p| p["metadata"]["name"] == backend.pod.as_str())?;
    let container = &pod["spec"]["containers"][backend.container];
    let env = behaviour::env_of(&store, &target.ns, container);
    let answers = TestBehaviour::from_env(&env).ready_after.is_some();
    (answers && backend.port == API_PORT).then(|| env.get("api_token").unwrap_or_default().into())
}

/// Answers one request on `tcp` as the pod's API, then closes.
async fn serve(tcp: TcpStream, token: String) {
    let _ = tcp.set_nodelay(true);
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let auth = req.headers().get(AUTHORIZATION).map(|h| h.as_bytes());
        let (code, body) = model_api::answer(req.method().as_str(), req.uri().path(), auth, &token);
        let mut resp = Response::new(Full::new(Bytes::from(body)));
        *resp.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::NOT_FOUND);
        resp.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        resp.headers_mut()
            .insert(SERVER, HeaderValue::from_static("uvicorn"));
        async move { Ok::<_, Infallible>(resp) }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .keep_alive(false)
        .serve_connection(TokioIo::new(tcp), service);
    let _ = tokio::time::timeout(Duration::from_secs(30), connection).await;
}
