//! The HTTP(S) front of splunkd-dev: accepts connections on 127.0.0.1, splits each URL into
//! namespace and REST path, authenticates, and hands the request to a built-in endpoint or,
//! through the app's restmap.conf, to a persistent driver; then writes the answer the way
//! splunkd would.

use super::auth::{Auth, AuthError, Authenticated};
use super::builtin::{self, Builtin};
use super::capture::{self, Capture, Secrets};
use super::confstore;
use super::namespace::{self, Namespace, PathError};
use super::persist::{self, CallInput, ConnInfo, ServerInfo};
use super::pool::Pool;
use super::properties;
use super::restmap::{Handler, RestMap};
use super::splunkd_log::SplunkdLog;
use super::translate::{self, HttpReply};
use super::types::{DevRequest, SplunkHome};
use crate::protocol::request::Pairs;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

/// Largest request body accepted (the driver's default block cap).
pub const MAX_BODY: usize = 64 * 1024 * 1024;

/// Everything a running server shares between connections.
pub struct Server {
    /// SPLUNK_HOME.
    pub home: SplunkHome,
    /// Users, roles, sessions.
    pub auth: Arc<Auth>,
    /// Routing table of every installed app.
    pub restmap: RestMap,
    /// Driver processes.
    pub pool: Arc<Pool>,
    /// Fixture capture, when `--capture` is on.
    pub capture: Option<Capture>,
    /// splunkd.log.
    pub log: Arc<SplunkdLog>,
    /// splunkd_access.log.
    pub access_log: Arc<SplunkdLog>,
    /// Identity sent in `server`.
    pub info: ServerInfo,
    /// The port actually listened on.
    pub port: u16,
    /// The certificate passed to drivers as `DSDL_SPLUNKD_CA` when TLS is on.
    pub ca_file: Option<PathBuf>,
}

/// One request's facts, gathered before routing.
struct Call {
    method: String,
    url_path: String,
    rest: namespace::RestPath,
    query: Pairs,
    form: Pairs,
    body: Bytes,
    headers: Pairs,
    authorization: Option<String>,
    json: bool,
    peer: SocketAddr,
}

/// Decoded `k=v&...` pairs of a query string or an urlencoded body.
fn pairs(bytes: &[u8]) -> Pairs {
    form_urlencoded::parse(bytes)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Whether a body with this Content-Type is read as form fields: urlencoded ones, and, as
/// splunkd does, bodies with no Content-Type at all (splunklib sends its keyword arguments,
/// login included, that way).
fn is_form_body(content_type: Option<&str>) -> bool {
    match content_type {
        None => true,
        Some(ct) => ct
            .trim()
            .to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded"),
    }
}

impl Server {
    /// Serves connections from `listener` until the task is dropped.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(x) => x,
                Err(e) => {
                    self.log.line(
                        "WARN",
                        "HttpListener",
                        "HttpDedicatedIoThread-0",
                        &format!("accept failed: {e}"),
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            // Lets tests and benchmarks count the connections clients open.
            self.log.line(
                "DEBUG",
                "HttpListener",
                "HttpDedicatedIoThread-0",
                &format!("accepted connection from {peer}"),
            );
            let server = self.clone();
            let acceptor = tls.clone();
            tokio::spawn(async move {
                let ssl = acceptor.is_some();
                let svc_server = server.clone();
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let s = svc_server.clone();
                    async move { Ok::<_, Infallible>(s.handle(req, peer, ssl).await) }
                });
                let http = hyper::server::conn::http1::Builder::new();
                let result = match acceptor {
                    Some(a) => {
                        match tokio::time::timeout(Duration::from_secs(10), a.accept(stream)).await
                        {
                            Ok(Ok(tls_stream)) => {
                                http.serve_connection(TokioIo::new(tls_stream), svc).await
                            }
                            _ => return,
                        }
                    }
                    None => http.serve_connection(TokioIo::new(stream), svc).await,
                };
                if let Err(e) = result
                    && !e.is_incomplete_message()
                {
                    server.log.line(
                        "DEBUG",
                        "HttpListener",
                        "HttpDedicatedIoThread-0",
                        &format!("connection from {peer} ended: {e}"),
                    );
                }
            });
        }
    }

    /// Answers one HTTP request.
    pub async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
        peer: SocketAddr,
        ssl: bool,
    ) -> Response<Full<Bytes>> {
        let started = Instant::now();
        let method = req.method().as_str().to_ascii_uppercase();
        let url_path = req.uri().path().to_string();
        let version = format!("{:?}", req.version());
        let (reply, user) = self.dispatch(req, peer, ssl).await;
        self.access_log.raw(&format!(
            "{} - {} [{}] \"{method} {url_path} {version}\" {} {} - - - {}ms",
            peer.ip(),
            user.as_deref().unwrap_or("-"),
            jiff::Timestamp::now().strftime("%d/%b/%Y:%H:%M:%S%.3f +0000"),
            reply.status,
            reply.body.len(),
            started.elapsed().as_millis()
        ));
        to_response(reply)
    }

    async fn dispatch(
        self: &Arc<Self>,
        req: Request<Incoming>,
        peer: SocketAddr,
        ssl: bool,
    ) -> (HttpReply, Option<String>) {
        let (parts, body) = req.into_parts();
        let query = pairs(parts.uri.query().unwrap_or("").as_bytes());
        let mut json = persist::output_mode(&query, &Vec::new()).0 == "json";
        let url_path = parts.uri.path().to_string();
        let rest = match namespace::parse(&url_path) {
            Ok(r) => r,
            Err(e @ (PathError::BadEncoding(_) | PathError::DotSegment(_))) => {
                return (HttpReply::error(400, &e.to_string(), json), None);
            }
            Err(_) => return (HttpReply::error(404, "Not Found", json), None),
        };
        let headers: Pairs = parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = match Limited::new(body, MAX_BODY).collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                let too_big = e
                    .downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some();
                return if too_big {
                    (
                        HttpReply::error(
                            413,
                            &format!("Request body is over the limit of {MAX_BODY} bytes"),
                            json,
                        ),
                        None,
                    )
                } else {
                    (
                        HttpReply::error(400, "Reading the request body failed", json),
                        None,
                    )
                };
            }
        };
        let content_type = parts
            .headers
            .get(hyper::header::CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let form = if is_form_body(content_type.as_deref()) {
            pairs(&body)
        } else {
            Vec::new()
        };
        json = persist::output_mode(&query, &form).0 == "json";
        let authorization = parts
            .headers
            .get(hyper::header::AUTHORIZATION)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let call = Call {
            method: parts.method.as_str().to_ascii_uppercase(),
            url_path,
            rest,
            query,
            form,
            body,
            headers,
            authorization,
            json,
            peer,
        };
        self.route(call, ssl).await
    }

    async fn authenticate(
        &self,
        header: Option<String>,
        ip: String,
    ) -> Result<Authenticated, AuthError> {
        let auth = self.auth.clone();
        tokio::task::spawn_blocking(move || auth.authenticate_from(header.as_deref(), Some(&ip)))
            .await
            .unwrap_or_else(|_| Err(AuthError::Random("authentication task failed".into())))
    }

    /// Checks `/servicesNS/<user>/<app>`: both must exist (a 404 otherwise, as splunkd).
    fn check_namespace(&self, ns: &Namespace, json: bool) -> Result<(), HttpReply> {
        if let Some(user) = ns.user() {
            match self.auth.user_exists(user) {
                Ok(true) => {}
                Ok(false) => {
                    return Err(HttpReply::error(
                        404,
                        &format!("User does not exist: {user}"),
                        json,
                    ));
                }
                Err(e) => return Err(HttpReply::error(500, &e.to_string(), json)),
            }
        }
        if let Some(app) = ns.app() {
            // The same rule the stores apply: a plain directory name of an installed app.
            let known = app == confstore::SYSTEM_APP
                || (confstore::is_safe_name(app) && confstore::app_exists(&self.home, app));
            if !known {
                return Err(HttpReply::error(
                    404,
                    &format!("Application does not exist: {app}"),
                    json,
                ));
            }
        }
        Ok(())
    }

    async fn route(self: &Arc<Self>, call: Call, ssl: bool) -> (HttpReply, Option<String>) {
        let json = call.json;
        let builtin = builtin::builtin_for(&call.rest.segments);
        if builtin == Some(Builtin::Login) {
            let r = builtin::login(self.auth.clone(), &call.method, &call.query, &call.form).await;
            return (r, None);
        }
        let own_properties = builtin.is_none() && properties::handles(&call.rest.segments);
        let matched = if builtin.is_none() && !own_properties {
            self.restmap.find(&call.rest.rest_path)
        } else {
            None
        };
        let open = matched.is_some_and(|m| !m.handler.require_auth);
        let auth = match self
            .authenticate(call.authorization.clone(), call.peer.ip().to_string())
            .await
        {
            Ok(a) => Some(a),
            Err(_) if open => None,
            Err(e) if e.is_unauthorized() => return (builtin::unauthorized(&e, json), None),
            Err(e) => return (HttpReply::error(500, &e.to_string(), json), None),
        };
        let user = auth.as_ref().map(|a| a.caller.user.clone());
        if let Err(r) = self.check_namespace(&call.rest.ns, json) {
            return (r, user);
        }
        let reply = match (builtin, matched, &auth) {
            (Some(Builtin::ServerInfo), _, _) => builtin::server_info(
                &self.info,
                &call.method,
                &format!("{}{}", self.info.rest_uri, call.url_path),
                json,
            ),
            (Some(Builtin::Tokens), _, Some(a)) => {
                builtin::tokens(self.auth.clone(), self.dev_request(&call, a)).await
            }
            (Some(which), _, Some(a)) => {
                builtin::store(which, self.home.clone(), self.dev_request(&call, a)).await
            }
            (None, None, Some(a)) if own_properties => {
                properties::handle_blocking(self.home.clone(), self.dev_request(&call, a)).await
            }
            (None, Some(m), _) => {
                self.call_driver(&call, m.handler, m.path_info, auth.as_ref(), ssl)
                    .await
            }
            _ => HttpReply::error(404, "Not Found", json),
        };
        (reply, user)
    }

    /// The request as the built-in stores see it.
    fn dev_request(&self, call: &Call, auth: &Authenticated) -> DevRequest {
        DevRequest {
            method: call.method.clone(),
            ns_user: call.rest.ns.user().map(str::to_string),
            ns_app: call.rest.ns.app().map(str::to_string),
            path: call.rest.segments.clone(),
            query: call.query.clone(),
            form: call.form.clone(),
            base_url: self.info.rest_uri.clone(),
            caller: auth.caller.clone(),
        }
    }

    async fn call_driver(
        &self,
        call: &Call,
        handler: &Handler,
        path_info: Option<&str>,
        auth: Option<&Authenticated>,
        ssl: bool,
    ) -> HttpReply {
        let json = call.json;
        if let Some(a) = auth
            && let Some(rule) = handler.capability_for(&call.method)
        {
            match rule {
                Ok(expr) => {
                    if !expr.allows(&|c: &str| a.caller.can(c)) {
                        return HttpReply::error(
                            403,
                            &format!(
                                "You (user={}) do not have permission to perform this operation (requires capability: {expr}).",
                                a.caller.user
                            ),
                            json,
                        );
                    }
                }
                Err(e) => {
                    return HttpReply::error(
                        500,
                        &format!(
                            "restmap.conf [script:{}] of app {}: {e}",
                            handler.name, handler.app
                        ),
                        json,
                    );
                }
            }
        }
        let (mode, explicit) = persist::output_mode(&call.query, &call.form);
        if explicit && !handler.output_modes.contains(&mode) {
            return HttpReply::error(
                400,
                &format!(
                    "output_mode={mode} is not supported by this endpoint (output_modes = {})",
                    handler.output_modes.join(",")
                ),
                json,
            );
        }
        let home = self.home.root.as_path();
        let (init, spec) = match (
            persist::init_for(handler, home),
            persist::driver_spec(handler, home, self.ca_file.as_deref()),
        ) {
            (Ok(i), Ok(s)) => (i, s),
            (Err(e), _) | (_, Err(e)) => return HttpReply::error(500, &e.0, json),
        };
        let conn = ConnInfo {
            src_ip: call.peer.ip().to_string(),
            ssl,
            listening_port: self.port,
        };
        let input = CallInput {
            method: &call.method,
            ns: &call.rest.ns,
            rest_path: &call.rest.rest_path,
            path_info,
            query: &call.query,
            form: &call.form,
            body: &call.body,
            headers: &call.headers,
            session: auth.map(|a| (a.caller.user.as_str(), a.session_key.expose())),
            system_key: self.auth.system_key(),
            server: &self.info,
            connection: &conn,
        };
        let request = persist::request_json(handler, &input);
        let bytes = match serde_json::to_vec(&request) {
            Ok(b) => b,
            Err(e) => {
                return HttpReply::error(500, &format!("cannot encode the request: {e}"), json);
            }
        };
        let reply = match self.pool.call(&spec, &init, &bytes).await {
            Ok(r) => r,
            Err(e) => {
                self.log.line(
                    "ERROR",
                    "PersistentScript",
                    "TcpChannelThread",
                    &format!(
                        "{} {} via [script:{}]: {e}",
                        call.method, call.url_path, handler.name
                    ),
                );
                return HttpReply::error(e.status(), &e.to_string(), json);
            }
        };
        if let Some(capture) = &self.capture {
            self.record(capture, call, auth, &init, &request, &reply);
        }
        translate::translate(&reply, ssl)
    }

    fn record(
        &self,
        capture: &Capture,
        call: &Call,
        auth: Option<&Authenticated>,
        init: &crate::protocol::frame::Init,
        request: &serde_json::Value,
        reply: &[u8],
    ) {
        let secrets = Secrets {
            session_key: auth.map(|a| a.session_key.expose().to_string()),
            system_key: self.auth.system_key().to_string(),
            rest_uri: self.info.rest_uri.clone(),
            splunk_home: self.home.root.display().to_string(),
        };
        let description = format!(
            "{} {} as {}",
            call.method,
            call.url_path,
            auth.map(|a| a.caller.user.as_str()).unwrap_or("anonymous")
        );
        let fixture = capture::fixture(&description, init, request, reply, &secrets);
        match capture.write(&call.method, &call.rest.rest_path, &fixture) {
            Ok(_) => {}
            Err(e) => self.log.line(
                "WARN",
                "Capture",
                "TcpChannelThread",
                &format!("cannot write a fixture to {}: {e}", capture.dir().display()),
            ),
        }
    }
}

/// Headers splunkd adds to every reply unless the handler set them.
const STANDARD_HEADERS: &[(&str, &str)] = &[
    ("Server", "Splunkd"),
    (
        "Cache-Control",
        "no-store, no-cache, must-revalidate, max-age=0",
    ),
    ("Expires", "Thu, 26 Oct 1978 00:00:00 GMT"),
    ("X-Frame-Options", "SAMEORIGIN"),
    ("Vary", "Cookie, Authorization"),
];

/// Builds the hyper response; headers hyper would reject are dropped.
pub fn to_response(reply: HttpReply) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(reply.body)));
    *resp.status_mut() =
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Some(reason) = reply.reason
        && let Ok(r) = hyper::ext::ReasonPhrase::try_from(reason.into_bytes())
    {
        resp.extensions_mut().insert(r);
    }
    let h = resp.headers_mut();
    for (k, v) in &reply.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            h.append(name, value);
        }
    }
    for (k, v) in STANDARD_HEADERS {
        if !h.contains_key(*k)
            && let Ok(name) = HeaderName::from_bytes(k.as_bytes())
        {
            h.insert(name, HeaderValue::from_static(v));
        }
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_without_a_content_type_are_form_fields() {
        assert!(is_form_body(None));
        assert!(is_form_body(Some("application/x-www-form-urlencoded")));
        assert!(is_form_body(Some(
            " Application/X-WWW-Form-Urlencoded; charset=utf-8"
        )));
        assert!(!is_form_body(Some("application/json")));
        assert!(!is_form_body(Some("text/plain")));
        assert!(!is_form_body(Some("")));
    }
}
