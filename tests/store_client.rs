//! The driver's store client against a real HTTP(S) server inside the test that serves
//! splunkd-dev's `configs/conf-*` and `storage/passwords` stores over a temporary SPLUNK_HOME:
//! round trips, splunkd's messages on 404/409, 503 for an unreachable or hung splunkd, CA
//! verification, and that no error ever carries the token or a password.

use dsdl_handler::devserver::types::{Caller, DevRequest, SplunkHome};
use dsdl_handler::devserver::{confs, passwords};
use dsdl_handler::error::{ApiError, ErrorKind};
use dsdl_handler::protocol::request::Secret;
use dsdl_handler::splunkd::{SplunkdClient, SplunkdConfig};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

const TOKEN: &str = "system-token-Zq81";
const LIMITED_TOKEN: &str = "limited-token-Xw42";
const APP: &str = "dsdl_app";
const PASSWORD: &str = "pw-Very$ecret&=:1";

static DIR_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh directory under the system temp dir.
fn temp_dir(tag: &str) -> PathBuf {
    let n = DIR_COUNTER.fetch_add(1, Ordering::Relaxed);
    let d = std::env::temp_dir().join(format!("store-client-{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A SPLUNK_HOME with the app installed and a default conf.
fn splunk_home() -> SplunkHome {
    let home = SplunkHome::new(temp_dir("home"));
    let default = home.app_dir(APP).join("default");
    std::fs::create_dir_all(&default).unwrap();
    std::fs::write(
        default.join("dsdl_container.conf"),
        "[default]\n[__dev__]\nid =\nmode = DEV\n",
    )
    .unwrap();
    home
}

/// Fails the test if an error text carries the token or a password.
fn assert_clean(e: &ApiError) {
    for secret in [TOKEN, LIMITED_TOKEN, PASSWORD] {
        assert!(
            !e.message.contains(secret) && !format!("{e:?}").contains(secret),
            "an error leaked a secret"
        );
    }
}

/// The in-test splunkd: auth by fixed tokens, splunkd-dev's stores behind it.
struct TestSplunkd {
    uri: String,
    home: SplunkHome,
    requests: Arc<AtomicU64>,
}

impl Drop for TestSplunkd {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.home.root);
    }
}

async fn start(tls: Option<Arc<rustls::ServerConfig>>) -> TestSplunkd {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let scheme = if tls.is_some() { "https" } else { "http" };
    let uri = format!("{scheme}://127.0.0.1:{port}");
    let home = splunk_home();
    let requests = Arc::new(AtomicU64::new(0));
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let (h, r, base) = (home.clone(), requests.clone(), uri.clone());
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (home, requests, base, acceptor) =
                (h.clone(), r.clone(), base.clone(), acceptor.clone());
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let (home, requests, base) = (home.clone(), requests.clone(), base.clone());
                    async move {
                        requests.fetch_add(1, Ordering::Relaxed);
                        Ok::<_, std::convert::Infallible>(serve(&home, &base, req).await)
                    }
                });
                let builder = hyper::server::conn::http1::Builder::new();
                match acceptor {
                    Some(a) => {
                        if let Ok(stream) = a.accept(tcp).await {
                            let _ = builder
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        }
                    }
                    None => {
                        let _ = builder.serve_connection(TokioIo::new(tcp), service).await;
                    }
                }
            });
        }
    });
    TestSplunkd {
        uri,
        home,
        requests,
    }
}

fn json_reply(status: u16, body: Vec<u8>) -> hyper::Response<Full<Bytes>> {
    hyper::Response::builder()
        .status(status)
        .header("Content-Type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

/// What splunkd's front does for the built-in stores: auth, namespace, decoding, dispatch.
async fn serve(
    home: &SplunkHome,
    base: &str,
    req: hyper::Request<Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let auth = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let capabilities = match auth.strip_prefix("Splunk ") {
        Some(TOKEN) => vec![
            "admin_all_objects",
            "list_storage_passwords",
            "edit_storage_passwords",
        ],
        Some(LIMITED_TOKEN) => vec![],
        _ => {
            return json_reply(
                401,
                br#"{"messages":[{"type":"WARN","text":"call not properly authenticated"}]}"#
                    .to_vec(),
            );
        }
    };
    let method = req.method().as_str().to_string();
    let uri = req.uri().clone();
    let segments: Vec<String> = uri
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let wild = |s: &String| (s != "-").then(|| s.clone());
    let (ns_user, ns_app, path) = match segments.first().map(String::as_str) {
        Some("servicesNS") if segments.len() >= 3 => (
            wild(&segments[1]),
            wild(&segments[2]),
            segments[3..].to_vec(),
        ),
        Some("services") => (None, None, segments[1..].to_vec()),
        _ => {
            return json_reply(
                404,
                br#"{"messages":[{"type":"ERROR","text":"Not Found"}]}"#.to_vec(),
            );
        }
    };
    let query = form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let form = form_urlencoded::parse(&body).into_owned().collect();
    let dev = DevRequest {
        method,
        ns_user,
        ns_app,
        path,
        query,
        form,
        base_url: base.to_string(),
        caller: Caller {
            user: "splunk-system-user".into(),
            roles: vec![],
            capabilities: capabilities.into_iter().map(str::to_string).collect(),
        },
    };
    let home = home.clone();
    let resp = tokio::task::spawn_blocking(move || match dev.path.first().map(String::as_str) {
        Some("configs") => confs::handle(&home, &dev),
        Some("storage") => passwords::handle(&home, &dev),
        _ => dsdl_handler::devserver::types::DevResponse::error(404, "Not Found", true),
    })
    .await
    .unwrap();
    let mut builder = hyper::Response::builder().status(resp.status);
    for (k, v) in &resp.headers {
        builder = builder.header(k, v);
    }
    builder.body(Full::new(Bytes::from(resp.body))).unwrap()
}

fn config(uri: &str, token: &str) -> SplunkdConfig {
    SplunkdConfig {
        rest_uri: uri.to_string(),
        token: Some(Secret::new(token)),
        app: APP.into(),
        ca_file: None,
        timeout: Duration::from_secs(5),
    }
}

fn client(uri: &str) -> SplunkdClient {
    SplunkdClient::new(&config(uri, TOKEN)).unwrap()
}

#[tokio::test]
async fn conf_round_trip_and_one_call_per_list() {
    let s = start(None).await;
    let c = client(&s.uri);

    let before = c.list_stanzas("dsdl_container").await.unwrap();
    let names: Vec<&str> = before.iter().map(|st| st.name.as_str()).collect();
    assert_eq!(names, ["__dev__", "default"]);
    let dev = &before[0];
    assert_eq!(dev.get("mode"), Some("DEV"));
    assert!(
        dev.entries
            .iter()
            .all(|(k, _)| !k.starts_with("eai:") && k != "disabled"),
        "metadata keys must be stripped: {:?}",
        dev.entries
    );

    c.create_stanza(
        "dsdl_container",
        "model/one:ü",
        &[("image", "golden-cpu:5.2.1"), ("status", "")],
    )
    .await
    .unwrap();
    let one = c
        .get_stanza("dsdl_container", "model/one:ü")
        .await
        .unwrap()
        .expect("created stanza is readable");
    assert_eq!(one.get("image"), Some("golden-cpu:5.2.1"));
    assert_eq!(one.get("status"), Some(""));

    c.update_stanza("dsdl_container", "model/one:ü", &[("status", "Active")])
        .await
        .unwrap();
    let one = c
        .get_stanza("dsdl_container", "model/one:ü")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(one.get("status"), Some("Active"));
    assert_eq!(one.get("image"), Some("golden-cpu:5.2.1"));

    // The write went to the app's local/ file.
    let local = std::fs::read_to_string(
        s.home
            .app_dir(APP)
            .join("local")
            .join("dsdl_container.conf"),
    )
    .unwrap();
    assert!(local.contains("[model/one:ü]\nimage = golden-cpu:5.2.1\nstatus = Active\n"));

    // Many stanzas, still one REST call per conf read.
    for i in 0..60 {
        c.create_stanza("dsdl_container", &format!("m{i:02}"), &[("id", "x")])
            .await
            .unwrap();
    }
    let (calls, served) = (c.calls(), s.requests.load(Ordering::Relaxed));
    let all = c.list_stanzas("dsdl_container").await.unwrap();
    assert_eq!(all.len(), 63);
    assert_eq!(c.calls() - calls, 1);
    assert_eq!(s.requests.load(Ordering::Relaxed) - served, 1);

    assert!(
        c.delete_stanza("dsdl_container", "model/one:ü")
            .await
            .unwrap()
    );
    assert!(
        !c.delete_stanza("dsdl_container", "model/one:ü")
            .await
            .unwrap()
    );
    assert_eq!(
        c.get_stanza("dsdl_container", "model/one:ü").await.unwrap(),
        None
    );
}

#[tokio::test]
async fn splunkd_messages_on_conflict_not_found_and_bad_input() {
    let s = start(None).await;
    let c = client(&s.uri);
    c.create_stanza("dsdl_container", "m", &[("k", "v")])
        .await
        .unwrap();
    let e = c
        .create_stanza("dsdl_container", "m", &[("k", "v")])
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Conflict);
    assert_eq!(e.message, "An object with name=m already exists");
    assert_clean(&e);

    let e = c
        .update_stanza("dsdl_container", "nope", &[("k", "v")])
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound);
    assert_eq!(e.message, "Could not find object id=nope");
    assert_clean(&e);

    let e = c
        .create_stanza("dsdl_container", "x", &[("bad key", "v")])
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::BadRequest);
    assert!(e.message.contains("Invalid key"), "{}", e.message);
    assert_clean(&e);
}

#[tokio::test]
async fn passwords_round_trip() {
    let s = start(None).await;
    let c = client(&s.uri);
    assert!(
        c.get_password("dsdl_docker", "api_token")
            .await
            .unwrap()
            .is_none()
    );

    c.set_password("dsdl_docker", "api_token", PASSWORD)
        .await
        .unwrap();
    assert_eq!(c.calls(), 2, "a new credential takes one call");
    let got = c
        .get_password("dsdl_docker", "api_token")
        .await
        .unwrap()
        .unwrap();
    assert!(got.expose() == PASSWORD, "read back a different password");

    // Replacing: create answers 409, then the update.
    let calls = c.calls();
    c.set_password("dsdl_docker", "api_token", "second-value")
        .await
        .unwrap();
    assert_eq!(c.calls() - calls, 2);
    let got = c
        .get_password("dsdl_docker", "api_token")
        .await
        .unwrap()
        .unwrap();
    assert!(got.expose() == "second-value");

    c.set_password("dsdl_docker", "user:with:colons", "v2")
        .await
        .unwrap();
    c.set_password("dsdl_kubernetes", "user_token", "v3")
        .await
        .unwrap();
    let calls = c.calls();
    let mut docker = c.list_passwords("dsdl_docker").await.unwrap();
    assert_eq!(c.calls() - calls, 1);
    docker.sort_by(|a, b| a.0.cmp(&b.0));
    let names: Vec<&str> = docker.iter().map(|(u, _)| u.as_str()).collect();
    assert_eq!(names, ["api_token", "user:with:colons"]);
    assert!(docker[1].1.expose() == "v2");

    // Stored as splunkd does: encrypted, never in clear.
    let conf = std::fs::read_to_string(s.home.app_dir(APP).join("local/passwords.conf")).unwrap();
    assert!(conf.contains("[credential:dsdl_docker:api_token:]\npassword = $7$"));
    assert!(conf.contains("[credential:dsdl_docker:user\\:with\\:colons:]"));
    assert!(!conf.contains("second-value") && !conf.contains(PASSWORD));

    assert!(c.delete_password("dsdl_docker", "api_token").await.unwrap());
    assert!(!c.delete_password("dsdl_docker", "api_token").await.unwrap());
    assert!(
        c.get_password("dsdl_docker", "api_token")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn refused_tokens_are_bad_gateway_with_splunkds_text() {
    let s = start(None).await;
    let limited = SplunkdClient::new(&config(&s.uri, LIMITED_TOKEN)).unwrap();
    let e = limited
        .create_stanza("dsdl_container", "x", &[("k", "v")])
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::BadGateway);
    assert!(e.message.contains("admin_all_objects"), "{}", e.message);
    assert_clean(&e);
    let e = limited.set_password("r", "u", PASSWORD).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::BadGateway);
    assert_clean(&e);
    let e = limited.get_password("r", "u").await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::BadGateway);
    assert_clean(&e);

    let wrong = SplunkdClient::new(&config(&s.uri, "not-the-token")).unwrap();
    let e = wrong.list_stanzas("dsdl_container").await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::BadGateway);
    assert!(e.message.contains("call not properly authenticated"));
    assert!(!e.message.contains("not-the-token"));
}

#[tokio::test]
async fn unreachable_splunkd_is_503_quickly() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let uri = format!("http://127.0.0.1:{port}");
    let c = client(&uri);
    let started = Instant::now();
    let e = c.list_stanzas("dsdl_container").await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(e.kind, ErrorKind::Unavailable);
    assert_eq!(e.status(), 503);
    assert!(e.message.contains(&uri), "{}", e.message);
    assert_clean(&e);
    let e = c.set_password("r", "u", PASSWORD).await.unwrap_err();
    assert_eq!(e.status(), 503);
    assert_clean(&e);
}

#[tokio::test]
async fn hung_splunkd_times_out_as_503() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let uri = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    // Accept and hold connections without ever answering.
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((tcp, _)) = listener.accept().await {
            held.push(tcp);
        }
    });
    let mut cfg = config(&uri, TOKEN);
    cfg.timeout = Duration::from_millis(300);
    let c = SplunkdClient::new(&cfg).unwrap();
    let started = Instant::now();
    let e = c.get_stanza("dsdl_container", "x").await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(e.kind, ErrorKind::Unavailable);
    assert!(e.message.contains("did not answer"), "{}", e.message);
    assert!(e.message.contains(&uri));
    assert_clean(&e);
}

/// A CA and a server certificate for `names` signed by it: (CA PEM, server config).
fn pki(ca_name: &str, names: &[&str]) -> (String, Arc<rustls::ServerConfig>) {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, ca_name);
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf_params =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &ca).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into());
    let server = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![leaf.der().clone(), ca.der().clone()], key)
    .unwrap();
    (ca.pem(), Arc::new(server))
}

fn write_ca(dir: &Path, name: &str, pem: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, pem).unwrap();
    p
}

#[tokio::test]
async fn https_verifies_chain_and_host_with_the_ca() {
    let dir = temp_dir("pki");
    let (ca_pem, server) = pki("test CA one", &["127.0.0.1", "localhost"]);
    let (other_ca_pem, _) = pki("test CA two", &["127.0.0.1"]);
    let s = start(Some(server)).await;
    assert!(s.uri.starts_with("https://"));

    let mut cfg = config(&s.uri, TOKEN);
    cfg.ca_file = Some(write_ca(&dir, "ca.pem", &ca_pem));
    let verified = SplunkdClient::new(&cfg).unwrap();
    verified
        .create_stanza("dsdl_container", "tls", &[("k", "v")])
        .await
        .unwrap();
    assert!(
        verified
            .get_stanza("dsdl_container", "tls")
            .await
            .unwrap()
            .is_some()
    );

    // Without a CA, splunkd's certificate is accepted unverified.
    let unverified = client(&s.uri);
    assert!(
        unverified
            .get_stanza("dsdl_container", "tls")
            .await
            .unwrap()
            .is_some()
    );

    // A CA that did not sign the certificate.
    let wrong_ca = write_ca(&dir, "other-ca.pem", &other_ca_pem);
    cfg.ca_file = Some(wrong_ca.clone());
    let e = SplunkdClient::new(&cfg)
        .unwrap()
        .list_stanzas("dsdl_container")
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unavailable);
    assert!(e.message.contains("TLS"), "{}", e.message);
    assert!(e.message.contains("UnknownIssuer"), "{}", e.message);
    assert!(
        e.message.contains(&wrong_ca.display().to_string()),
        "{}",
        e.message
    );
    assert_clean(&e);
    drop(s);

    // The right CA but a certificate for another host.
    let (ca_pem, server) = pki("test CA three", &["splunkd.example"]);
    let s = start(Some(server)).await;
    cfg.rest_uri = s.uri.clone();
    cfg.ca_file = Some(write_ca(&dir, "ca2.pem", &ca_pem));
    let e = SplunkdClient::new(&cfg)
        .unwrap()
        .list_stanzas("dsdl_container")
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unavailable);
    assert!(e.message.contains("not valid for name"), "{}", e.message);
    assert_clean(&e);

    // Plain http against the TLS port fails cleanly too.
    let http = client(&s.uri.replace("https://", "http://"));
    let e = http.list_stanzas("dsdl_container").await.unwrap_err();
    assert!(
        matches!(e.kind, ErrorKind::Unavailable | ErrorKind::BadGateway),
        "{e}"
    );
    assert_clean(&e);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn client_from_a_request() {
    let s = start(None).await;
    let req = dsdl_handler::protocol::request::Request::parse(
        format!(
            r#"{{"method":"GET","server":{{"rest_uri":"{}"}},"system_authtoken":"{TOKEN}"}}"#,
            s.uri
        )
        .as_bytes(),
    )
    .unwrap();
    let (mut driver, _) = dsdl_handler::config::DriverConfig::from_lookup(|_| None, None);
    driver.app = APP.into();
    let c = SplunkdClient::from_request(&req, &driver).unwrap();
    assert_eq!(c.app(), APP);
    assert!(!format!("{c:?}").contains(TOKEN));
    let stanzas = c.list_stanzas("dsdl_container").await.unwrap();
    assert!(stanzas.iter().any(|st| st.name == "__dev__"));
}
