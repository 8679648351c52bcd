//! What splunkd sends a persistent handler for one HTTP request: the init section (`command`,
//! `command_arg`), the request JSON of the protocol notes §4, and the driver process to send
//! it to (`driver`, `driver.arg.N`, `driver.env.NAME`).

use super::namespace::Namespace;
use super::pool::DriverSpec;
use super::restmap::{Handler, PayloadMode, substitute};
use crate::protocol::frame::Init;
use crate::protocol::request::Pairs;
use base64::Engine;
use serde_json::{Map, Value, json};
use std::path::Path;

/// splunkd's identity, as requests carry it in `server`.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    /// `https://127.0.0.1:<port>` (or `http://` without TLS).
    pub rest_uri: String,
    /// Host name.
    pub hostname: String,
    /// `serverName`.
    pub servername: String,
    /// Instance GUID.
    pub guid: String,
}

/// The client connection, as requests carry it in `connection`.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// Client address.
    pub src_ip: String,
    /// Whether the client used TLS.
    pub ssl: bool,
    /// The port splunkd-dev listens on.
    pub listening_port: u16,
}

/// Everything about one HTTP request the request JSON is built from. No `Debug`: it holds
/// the session and system keys and the body.
#[derive(Clone)]
pub struct CallInput<'a> {
    /// HTTP method, upper case.
    pub method: &'a str,
    /// Namespace of the URL.
    pub ns: &'a Namespace,
    /// Raw path after the namespace prefix.
    pub rest_path: &'a str,
    /// Remainder after the stanza's `match`.
    pub path_info: Option<&'a str>,
    /// URL query pairs, decoded.
    pub query: &'a Pairs,
    /// urlencoded body pairs (empty unless the body was urlencoded).
    pub form: &'a Pairs,
    /// The raw body.
    pub body: &'a [u8],
    /// Request headers in order.
    pub headers: &'a Pairs,
    /// The caller's user and session key, when authenticated.
    pub session: Option<(&'a str, &'a str)>,
    /// The system session key.
    pub system_key: &'a str,
    /// splunkd's identity.
    pub server: &'a ServerInfo,
    /// The connection.
    pub connection: &'a ConnInfo,
}

/// The output mode asked for (`output_mode` in the query, else in the form) and whether it
/// was explicit.
pub fn output_mode(query: &Pairs, form: &Pairs) -> (String, bool) {
    query
        .iter()
        .chain(form.iter())
        .find(|(k, _)| k == "output_mode")
        .map(|(_, v)| (v.to_ascii_lowercase(), true))
        .unwrap_or_else(|| ("xml".into(), false))
}

fn pairs_json(pairs: &Pairs) -> Value {
    Value::Array(pairs.iter().map(|(k, v)| json!([k, v])).collect())
}

/// Cookies of a `Cookie` header as pairs.
pub fn cookies(headers: &Pairs) -> Pairs {
    headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("cookie"))
        .flat_map(|(_, v)| v.split(';'))
        .filter_map(|c| {
            let (k, v) = c.split_once('=')?;
            let k = k.trim();
            (!k.is_empty()).then(|| (k.to_string(), v.trim().to_string()))
        })
        .collect()
}

/// The request JSON for `handler`, keys in the documented order.
pub fn request_json(handler: &Handler, input: &CallInput<'_>) -> Value {
    let (mode, explicit) = output_mode(input.query, input.form);
    let mut r = Map::new();
    r.insert("method".into(), json!(input.method));
    r.insert("rest_path".into(), json!(input.rest_path));
    if let Some(pi) = input.path_info {
        r.insert("path_info".into(), json!(pi));
    }
    r.insert("output_mode".into(), json!(mode));
    r.insert("output_mode_explicit".into(), json!(explicit));
    r.insert("query".into(), pairs_json(input.query));
    r.insert("form".into(), pairs_json(input.form));
    if !input.body.is_empty() {
        match handler.pass.payload {
            PayloadMode::No => {}
            PayloadMode::Text => {
                r.insert("payload".into(), json!(String::from_utf8_lossy(input.body)));
            }
            PayloadMode::Base64 => {
                r.insert(
                    "payload_base64".into(),
                    json!(base64::engine::general_purpose::STANDARD.encode(input.body)),
                );
            }
        }
    }
    if let Namespace::Scoped { user, app } = input.ns {
        let mut ns = Map::new();
        if let Some(a) = app {
            ns.insert("app".into(), json!(a));
        }
        if let Some(u) = user {
            ns.insert("user".into(), json!(u));
        }
        r.insert("ns".into(), Value::Object(ns));
    }
    if handler.pass.session
        && let Some((user, key)) = input.session
    {
        r.insert("session".into(), json!({"user": user, "authtoken": key}));
    }
    r.insert(
        "server".into(),
        json!({
            "rest_uri": input.server.rest_uri,
            "hostname": input.server.hostname,
            "servername": input.server.servername,
            "guid": input.server.guid,
        }),
    );
    if handler.pass.conf {
        let conf: Map<String, Value> = handler
            .conf
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        r.insert(
            "restmap".into(),
            json!({"name": format!("script:{}", handler.name), "conf": conf}),
        );
    }
    if handler.pass.system_auth {
        r.insert("system_authtoken".into(), json!(input.system_key));
    }
    r.insert(
        "connection".into(),
        json!({
            "src_ip": input.connection.src_ip,
            "ssl": input.connection.ssl,
            "listening_port": input.connection.listening_port,
        }),
    );
    if handler.pass.headers {
        r.insert("headers".into(), pairs_json(input.headers));
    }
    if handler.pass.cookies {
        r.insert("cookies".into(), pairs_json(&cookies(input.headers)));
    }
    Value::Object(r)
}

/// Variable lookup for `$NAME` in restmap values: SPLUNK_HOME is this server's, the rest
/// come from the environment.
pub fn vars(splunk_home: &Path) -> impl Fn(&str) -> Option<String> + '_ {
    move |name| {
        if name == "SPLUNK_HOME" {
            Some(splunk_home.display().to_string())
        } else {
            std::env::var(name).ok()
        }
    }
}

/// Why a stanza cannot be run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotRunnable(pub String);

impl std::fmt::Display for NotRunnable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotRunnable {}

/// The init section: `command` = [`script` (absolute, env-substituted), `script.arg.N`...],
/// `command_arg` = `script.param`.
pub fn init_for(handler: &Handler, splunk_home: &Path) -> Result<Init, NotRunnable> {
    if handler.scripttype != "persist" {
        return Err(NotRunnable(format!(
            "[script:{}] has scripttype = {}; splunkd-dev runs only scripttype = persist handlers",
            handler.name, handler.scripttype
        )));
    }
    let vars = vars(splunk_home);
    let Some(script) = handler.get("script").filter(|s| !s.trim().is_empty()) else {
        return Err(NotRunnable(format!(
            "No 'script' given for persistent REST handler [script:{}]",
            handler.name
        )));
    };
    let mut command = vec![handler.resolve_path(script, &vars).display().to_string()];
    command.extend(
        handler
            .numbered("script.arg")
            .iter()
            .map(|a| substitute(a, &vars)),
    );
    Ok(Init {
        command,
        command_arg: handler
            .get("script.param")
            .filter(|p| !p.is_empty())
            .map(str::to_string),
    })
}

/// The driver process for `handler`. `ca_file` is this server's TLS certificate, passed as
/// `DSDL_SPLUNKD_CA` unless the stanza sets it.
pub fn driver_spec(
    handler: &Handler,
    splunk_home: &Path,
    ca_file: Option<&Path>,
) -> Result<DriverSpec, NotRunnable> {
    let vars = vars(splunk_home);
    let Some(driver) = handler.get("driver").filter(|d| !d.trim().is_empty()) else {
        return Err(NotRunnable(format!(
            "[script:{}] has no driver; splunkd-dev cannot run splunkd's Python appserver, set driver = <program>",
            handler.name
        )));
    };
    let program = handler.resolve_path(driver, &vars);
    let args = handler
        .numbered("driver.arg")
        .iter()
        .map(|a| substitute(a, &vars))
        .collect();
    let mut env: Vec<(String, String)> =
        vec![("SPLUNK_HOME".to_string(), splunk_home.display().to_string())];
    for (k, v) in handler.driver_env() {
        env.retain(|(e, _)| *e != k);
        env.push((k, substitute(&v, &vars)));
    }
    if let Some(ca) = ca_file
        && !env.iter().any(|(k, _)| k == "DSDL_SPLUNKD_CA")
    {
        env.push(("DSDL_SPLUNKD_CA".into(), ca.display().to_string()));
    }
    env.sort();
    Ok(DriverSpec {
        program,
        args,
        env,
        cwd: splunk_home.to_path_buf(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conffile::ConfFile;
    use crate::devserver::restmap::RestMap;
    use std::path::PathBuf;

    fn handler(extra: &str) -> Handler {
        let conf = ConfFile::parse(&format!(
            "[script:mltk]\nmatch = /mltk\nscripttype = persist\nscript = dsdl-handler\n\
             driver = $SPLUNK_HOME/etc/apps/a/bin/dsdl-handler\npassSystemAuth = true\n{extra}"
        ))
        .unwrap();
        let mut w = Vec::new();
        RestMap::from_confs(
            &[("a".into(), PathBuf::from("/sh/etc/apps/a"), conf)],
            &mut w,
        )
        .handlers
        .remove(0)
    }

    fn server() -> ServerInfo {
        ServerInfo {
            rest_uri: "https://127.0.0.1:8089".into(),
            hostname: "h".into(),
            servername: "s".into(),
            guid: "G".into(),
        }
    }

    fn conn() -> ConnInfo {
        ConnInfo {
            src_ip: "127.0.0.1".into(),
            ssl: true,
            listening_port: 8089,
        }
    }

    #[test]
    fn request_json_follows_the_protocol_notes() {
        let h = handler("passPayload = true\npassHttpHeaders = 1\npassHttpCookies = true\n");
        let ns = Namespace::Scoped {
            user: None,
            app: Some("a".into()),
        };
        let query = vec![("x".into(), "1".into()), ("x".into(), "2".into())];
        let form = vec![("k".into(), "v".into())];
        let headers = vec![
            ("authorization".into(), "Splunk K".into()),
            ("cookie".into(), "a=1; b = 2".into()),
        ];
        let (server, conn) = (server(), conn());
        let input = CallInput {
            method: "POST",
            ns: &ns,
            rest_path: "/mltk/x",
            path_info: Some("x"),
            query: &query,
            form: &form,
            body: b"k=v",
            headers: &headers,
            session: Some(("admin", "K")),
            system_key: "SYS",
            server: &server,
            connection: &conn,
        };
        let r = request_json(&h, &input);
        let keys: Vec<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "method",
                "rest_path",
                "path_info",
                "output_mode",
                "output_mode_explicit",
                "query",
                "form",
                "payload",
                "ns",
                "session",
                "server",
                "restmap",
                "system_authtoken",
                "connection",
                "headers",
                "cookies"
            ]
        );
        assert_eq!(r["output_mode"], "xml");
        assert_eq!(r["output_mode_explicit"], false);
        assert_eq!(r["query"], json!([["x", "1"], ["x", "2"]]));
        assert_eq!(r["ns"], json!({"app": "a"}));
        assert_eq!(r["session"], json!({"user": "admin", "authtoken": "K"}));
        assert_eq!(r["restmap"]["name"], "script:mltk");
        assert_eq!(r["restmap"]["conf"]["passSystemAuth"], "true");
        assert_eq!(r["cookies"], json!([["a", "1"], ["b", "2"]]));
        assert_eq!(r["connection"]["listening_port"], 8089);
        // The request parser of the driver accepts it.
        let parsed =
            crate::protocol::request::Request::parse(&serde_json::to_vec(&r).unwrap()).unwrap();
        assert_eq!(parsed.path_info.as_deref(), Some("x"));
    }

    #[test]
    fn flags_turn_keys_off_and_payload_base64() {
        let h = handler("passPayload = base64\npassSession = false\npassConf = false\n");
        let (server, conn) = (server(), conn());
        let query = vec![("output_mode".into(), "JSON".into())];
        let input = CallInput {
            method: "GET",
            ns: &Namespace::Global,
            rest_path: "/mltk",
            path_info: None,
            query: &query,
            form: &vec![],
            body: b"\xff\x00",
            headers: &vec![],
            session: Some(("admin", "K")),
            system_key: "SYS",
            server: &server,
            connection: &conn,
        };
        let r = request_json(&h, &input);
        assert_eq!(r["payload_base64"], "/wA=");
        assert_eq!(r["output_mode"], "json");
        assert_eq!(r["output_mode_explicit"], true);
        for absent in [
            "path_info",
            "ns",
            "session",
            "restmap",
            "headers",
            "cookies",
            "payload",
        ] {
            assert!(r.get(absent).is_none(), "{absent}");
        }
    }

    #[test]
    fn init_and_driver() {
        let h = handler(
            "script.arg.2 = b\nscript.arg.1 = $SPLUNK_HOME/a\nscript.param = p\ndriver.arg.1 = serve\n\
             driver.env.RUST_LOG = info\n",
        );
        let home = Path::new("/sh");
        let init = init_for(&h, home).unwrap();
        assert_eq!(
            init.command,
            ["/sh/etc/apps/a/bin/dsdl-handler", "/sh/a", "b"]
        );
        assert_eq!(init.command_arg.as_deref(), Some("p"));
        let spec = driver_spec(&h, home, Some(Path::new("/sh/etc/auth/c.pem"))).unwrap();
        assert_eq!(spec.program, Path::new("/sh/etc/apps/a/bin/dsdl-handler"));
        assert_eq!(spec.args, ["serve"]);
        assert_eq!(
            spec.env,
            [
                (
                    "DSDL_SPLUNKD_CA".to_string(),
                    "/sh/etc/auth/c.pem".to_string()
                ),
                ("RUST_LOG".into(), "info".into()),
                ("SPLUNK_HOME".into(), "/sh".into()),
            ]
        );
        let own = handler("driver.env.DSDL_SPLUNKD_CA = /mine.pem\n");
        let spec = driver_spec(&own, home, Some(Path::new("/x.pem"))).unwrap();
        assert!(
            spec.env
                .contains(&("DSDL_SPLUNKD_CA".into(), "/mine.pem".into()))
        );
        assert!(
            spec.env
                .iter()
                .filter(|(k, _)| k == "DSDL_SPLUNKD_CA")
                .count()
                == 1
        );

        let mut py = h.clone();
        py.scripttype = "python".into();
        assert!(init_for(&py, home).is_err());
    }
}
