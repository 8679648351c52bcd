//! A save (POST or PUT `/mltk/container_connection`) checked against the spec before anything
//! is written: the container type, the name, every key (unknown keys and keys of the other
//! type are refused), every value's form, and what each type cannot do without. Every problem
//! is reported at once in one 400, and no message ever repeats a secret's value.

use super::PLACEHOLDER;
use super::spec::{KeySpec, Lookup, Spec, ValueType};
use crate::conffile::parse_bool;
use crate::error::ApiError;
use crate::names::{self, ContainerType};
use crate::protocol::fields::{Fields, not_a_flag};
use crate::protocol::request::Secret;
use serde_json::Value;

/// Request fields that steer the save and are never stored. `output_mode` is splunkd's reply
/// format, which Splunk's Python SDK sends in the body of every POST.
pub const REQUEST_ONLY: &[&str] = &[
    "container_type",
    "is_edit",
    "is_docker",
    "is_kubernetes",
    "output_mode",
];

/// Other names clients use for a key: (alias, key). The AI Toolkit UI sends
/// `jupyter_password` for `jupyter_passwd`.
pub const ALIASES: &[(&str, &str)] = &[("jupyter_password", "jupyter_passwd")];

/// Longest accepted setting value.
pub const MAX_VALUE: usize = 4096;

/// Longest accepted secret (room for a base64 PEM chain).
pub const MAX_SECRET: usize = 64 * 1024;

/// The key an alias stands for, or the key itself.
pub fn canonical_key(key: &str) -> &str {
    ALIASES
        .iter()
        .find(|(alias, _)| *alias == key)
        .map_or(key, |(_, k)| k)
}

/// A validated save.
#[derive(Debug, Clone, PartialEq)]
pub struct SavePlan {
    /// The stanza to write.
    pub container_type: ContainerType,
    /// The connection's name, trimmed.
    pub connection_name: String,
    /// An update (PUT, or POST with a true `is_edit`) rather than a create.
    pub update: bool,
    /// Non-secret keys given with a value, in canonical form (`connection_name` included).
    pub settings: Vec<(String, String)>,
    /// Secrets given with a new value; secrets sent empty or as `default_token` are absent.
    pub secrets: Vec<(String, Secret)>,
}

impl SavePlan {
    /// The canonical value given for a non-secret key.
    pub fn setting(&self, key: &str) -> Option<&str> {
        self.settings
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Checks a save request. `put` is true for PUT, which is always an update.
pub fn plan_save(spec: &Spec, fields: &Fields, put: bool) -> Result<SavePlan, ApiError> {
    let ty = match fields.text("container_type") {
        Some(t) if !t.trim().is_empty() => ContainerType::parse(&t)?,
        _ => {
            return Err(ApiError::bad_request(
                "container_type is required: docker or kubernetes.",
            ));
        }
    };
    let mut problems: Vec<String> = Vec::new();
    let update = put
        || match fields.flag("is_edit") {
            Ok(flag) => flag.unwrap_or(false),
            Err(e) => {
                problems.push(e.message);
                false
            }
        };

    let mut unknown: Vec<String> = Vec::new();
    let mut settings: Vec<(String, String)> = Vec::new();
    let mut secrets: Vec<(String, Secret)> = Vec::new();
    // Keys sent with a value, valid or not: a missing-key message would only repeat the
    // problem already reported for an invalid one.
    let mut sent: Vec<String> = Vec::new();
    for (given, value) in &fields.0 {
        if REQUEST_ONLY.contains(&given.as_str()) {
            continue;
        }
        let key_name = canonical_key(given);
        let key = match spec.lookup(ty, key_name) {
            Lookup::Known(k) => k,
            Lookup::OtherType(other) => {
                problems.push(format!(
                    "{} is a {other} setting; a {ty} connection does not take it.",
                    short(given)
                ));
                continue;
            }
            Lookup::Unknown => {
                unknown.push(short(given));
                continue;
            }
        };
        if key.is_secret() {
            match secret_input(key, given, value) {
                Ok(None) => {}
                Ok(Some(s)) => match secrets.iter().find(|(k, _)| k == &key.name) {
                    Some((_, prev)) if prev != &s => problems.push(format!(
                        "{} was given twice with different values (also as an alias); send it once.",
                        key.name
                    )),
                    Some(_) => {}
                    None => secrets.push((key.name.clone(), s)),
                },
                Err(p) => problems.push(p),
            }
            continue;
        }
        let text = match setting_text(key, value) {
            Ok(t) => t,
            Err(p) => {
                problems.push(p);
                continue;
            }
        };
        if text.is_empty() {
            continue;
        }
        sent.push(key.name.clone());
        match check_value(key, &text) {
            Ok(v) => settings.push((key.name.clone(), v)),
            Err(p) => problems.push(p),
        }
    }
    if !unknown.is_empty() {
        problems.insert(
            0,
            format!(
                "Unknown setting{} {}: a {ty} connection takes only the keys of README/container_connections.conf.spec.",
                if unknown.len() == 1 { "" } else { "s" },
                unknown.join(", ")
            ),
        );
    }

    let connection_name = match settings.iter_mut().find(|(k, _)| k == "connection_name") {
        Some((_, v)) => match names::connection_name(v) {
            Ok(name) => {
                *v = name.clone();
                name
            }
            Err(e) => {
                problems.push(e.message);
                String::new()
            }
        },
        None => {
            if !fields.has("connection_name") || field_is_blank(fields, "connection_name") {
                problems.push("connection_name is required: name the connection.".into());
            }
            String::new()
        }
    };
    let plan = SavePlan {
        container_type: ty,
        connection_name,
        update,
        settings,
        secrets,
    };
    problems.extend(requirements(&plan, &sent));
    match problems.len() {
        0 => Ok(plan),
        1 => Err(ApiError::bad_request(problems.remove(0))),
        n => Err(ApiError::bad_request(format!(
            "{n} problems: {}",
            problems.join(" ")
        ))),
    }
}

fn field_is_blank(fields: &Fields, key: &str) -> bool {
    match fields.0.get(key) {
        Some(Value::String(s)) => s.trim().is_empty(),
        Some(Value::Null) | None => true,
        _ => false,
    }
}

/// What a connection of each type cannot do without, and settings that must agree.
fn requirements(plan: &SavePlan, sent: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let has = |k: &str| plan.setting(k).is_some() || sent.iter().any(|s| s == k);
    match plan.container_type {
        ContainerType::Docker => {
            if !has("docker_url") {
                out.push(
                    "docker_url is required for a docker connection, e.g. unix:///var/run/docker.sock or tcp://docker-host:2376.".into(),
                );
            }
        }
        ContainerType::Kubernetes => match plan.setting("auth_mode") {
            None if has("auth_mode") => {}
            None => out.push(
                "auth_mode is required for a kubernetes connection: cert-key, user-token, user-login, aws-iam or service-account.".into(),
            ),
            Some(mode @ ("cert-key" | "user-token" | "user-login")) if !has("cluster_url") => {
                out.push(format!(
                    "cluster_url is required with auth_mode {mode}, e.g. https://api.k8s.example.com:6443."
                ));
            }
            Some("aws-iam") => {
                for k in ["aws_cluster_name", "aws_region_name"] {
                    if !has(k) {
                        out.push(format!("{k} is required with auth_mode aws-iam."));
                    }
                }
            }
            Some(_) => {}
        },
    }
    let replicas = |k: &str| plan.setting(k).and_then(|v| v.parse::<u64>().ok());
    if let (Some(min), Some(max)) = (replicas("min_replicas"), replicas("max_replicas"))
        && min > max
    {
        out.push(format!(
            "min_replicas ({min}) must not be more than max_replicas ({max})."
        ));
    }
    out
}

/// A secret field: `None` keeps what is stored (empty, null or `default_token`).
fn secret_input(key: &KeySpec, given: &str, value: &Value) -> Result<Option<Secret>, String> {
    let text = match value {
        Value::Null => return Ok(None),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(_) | Value::Array(_) | Value::Object(_) => {
            return Err(format!(
                "{} must be text (the secret itself, or default_token to keep the stored one).",
                short(given)
            ));
        }
    };
    let trimmed = text.trim();
    if trimmed.is_empty() || trimmed == PLACEHOLDER {
        return Ok(None);
    }
    if text.len() > MAX_SECRET {
        return Err(format!("{} is longer than {MAX_SECRET} bytes.", key.name));
    }
    if text.contains('\0') {
        return Err(format!("{} contains a NUL character.", key.name));
    }
    Ok(Some(Secret::new(text)))
}

/// A setting's value as text: strings trimmed, numbers and booleans as their JSON text, null
/// as empty; a list or object only for free-text keys (stored as its JSON text).
fn setting_text(key: &KeySpec, value: &Value) -> Result<String, String> {
    Ok(match value {
        Value::Null => String::new(),
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Array(_) | Value::Object(_) if key.value == ValueType::Text => value.to_string(),
        Value::Array(_) | Value::Object(_) => {
            return Err(format!(
                "{} must be a single value, not a list or an object.",
                key.name
            ));
        }
    })
}

/// Checks a non-empty, trimmed value against its key's type and returns the form to store:
/// booleans as `true`/`false`, choices in their listed spelling, integers without padding.
pub fn check_value(key: &KeySpec, raw: &str) -> Result<String, String> {
    let name = &key.name;
    if raw.chars().count() > MAX_VALUE {
        return Err(format!("{name} is longer than {MAX_VALUE} characters."));
    }
    if raw.chars().any(char::is_control) || raw.ends_with('\\') {
        return Err(format!(
            "{name} must be one line without control characters and must not end with a backslash."
        ));
    }
    match &key.value {
        ValueType::Text | ValueType::Password => Ok(raw.to_string()),
        ValueType::Boolean => match parse_bool(raw) {
            Some(b) => Ok(b.to_string()),
            None => Err(not_a_flag(name, raw).message),
        },
        ValueType::Integer { min, max } => match raw.parse::<u64>() {
            Ok(n) if (*min..=*max).contains(&n) => Ok(n.to_string()),
            _ if *max == u64::MAX => Err(format!(
                "{name} must be a whole number (0 or more), not {:?}.",
                short(raw)
            )),
            _ => Err(format!(
                "{name} must be a whole number from {min} to {max}, not {:?}.",
                short(raw)
            )),
        },
        ValueType::Choice(choices) => choices
            .iter()
            .find(|c| c.eq_ignore_ascii_case(raw))
            .cloned()
            .ok_or_else(|| {
                format!(
                    "{name} must be one of {}, not {:?}.",
                    choices.join(", "),
                    short(raw)
                )
            }),
        ValueType::Url { schemes } => check_url(name, raw, schemes),
    }
    .and_then(|v| match name.as_str() {
        "docker_network" => crate::names::docker_network(&v).map(|()| v),
        _ => Ok(v),
    })
}

/// A URL with one of `schemes`. `unix` needs a socket path; the others a host with an
/// optional port, and no user name or password (they would be stored in clear).
fn check_url(name: &str, raw: &str, schemes: &[String]) -> Result<String, String> {
    let wanted = schemes
        .iter()
        .map(|s| format!("{s}://"))
        .collect::<Vec<_>>()
        .join(" or ");
    let example = match schemes.first().map(String::as_str) {
        Some("unix") => " (e.g. unix:///var/run/docker.sock or tcp://docker-host:2376)",
        Some("https") => " (e.g. https://api.k8s.example.com:6443)",
        _ => "",
    };
    let Some((scheme, rest)) = raw.split_once("://") else {
        return Err(format!("{name} must start with {wanted}{example}."));
    };
    let scheme = scheme.to_ascii_lowercase();
    if !schemes.contains(&scheme) {
        return Err(format!(
            "{name} must start with {wanted}{example}, not {}://.",
            short(&scheme)
        ));
    }
    if raw.chars().any(char::is_whitespace) {
        return Err(format!("{name} must not contain spaces."));
    }
    if scheme == "unix" {
        if rest.trim_start_matches('/').is_empty() {
            return Err(format!(
                "{name} needs the socket path after unix://, e.g. unix:///var/run/docker.sock."
            ));
        }
        return Ok(format!("unix://{rest}"));
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    if authority.contains('@') {
        return Err(format!(
            "{name} must not hold a user name or password; use the connection's secret fields."
        ));
    }
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((h, after)) => (h, after.strip_prefix(':')),
            None => ("", None),
        },
        None => match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        },
    };
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'));
    if !host_ok {
        return Err(format!(
            "{name} needs a host name after {scheme}://{example}."
        ));
    }
    if let Some(p) = port
        && !p.parse::<u16>().is_ok_and(|n| n > 0)
    {
        return Err(format!(
            "{name} has an invalid port {:?}; use 1 to 65535.",
            short(p)
        ));
    }
    let path = &rest[end..];
    if scheme == "tcp" {
        if !path.trim_end_matches('/').is_empty() {
            return Err(format!("{name} must be tcp://host:port without a path."));
        }
        return Ok(format!("tcp://{authority}"));
    }
    Ok(format!("{scheme}://{rest}"))
}

/// At most 40 characters of user input, for a message.
fn short(s: &str) -> String {
    names::excerpt(s, 40)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::spec::{shipped_defaults, spec};
    use crate::names::ContainerType;
    use serde_json::json;

    fn fields(v: Value) -> Fields {
        match v {
            Value::Object(m) => Fields(m),
            _ => unreachable!(),
        }
    }

    fn plan(v: Value) -> Result<SavePlan, ApiError> {
        plan_save(spec().unwrap(), &fields(v), false)
    }

    fn err(v: Value) -> ApiError {
        plan(v).expect_err("should be refused")
    }

    fn docker(extra: Value) -> Value {
        let mut base = json!({"container_type": "docker", "connection_name": "d1",
                              "docker_url": "unix:///var/run/docker.sock"});
        for (k, v) in extra.as_object().unwrap() {
            base[k] = v.clone();
        }
        base
    }

    fn k8s(extra: Value) -> Value {
        let mut base = json!({"container_type": "kubernetes", "connection_name": "k1",
                              "auth_mode": "user-token", "cluster_url": "https://k:6443"});
        for (k, v) in extra.as_object().unwrap() {
            base[k] = v.clone();
        }
        base
    }

    #[test]
    fn a_good_docker_save_is_split_into_settings_and_secrets() {
        let p = plan(docker(json!({
            "description": "local",
            "is_docker": "True", "is_edit": "0",
            "api_token": "tok-123", "jupyter_password": "jp",
            "splunk_hec_token": "default_token", "docker_ca": "",
            "container_enable_https": "Yes", "allow_pull": false,
            "splunk_access_port": 8089,
            "connection_name": "  my docker  ",
            "output_mode": "json"
        })))
        .unwrap();
        assert_eq!(p.container_type, ContainerType::Docker);
        assert!(!p.update);
        assert_eq!(p.connection_name, "my docker");
        assert_eq!(p.setting("connection_name"), Some("my docker"));
        assert_eq!(p.setting("container_enable_https"), Some("true"));
        assert_eq!(p.setting("allow_pull"), Some("false"));
        assert_eq!(p.setting("splunk_access_port"), Some("8089"));
        for flag in REQUEST_ONLY {
            assert_eq!(p.setting(flag), None, "{flag} is not stored");
        }
        let secrets: Vec<(&str, &str)> = p
            .secrets
            .iter()
            .map(|(k, v)| (k.as_str(), v.expose()))
            .collect();
        assert_eq!(
            secrets,
            [("api_token", "tok-123"), ("jupyter_passwd", "jp")]
        );
        assert!(
            p.settings
                .iter()
                .all(|(k, _)| !spec().unwrap().get(k).unwrap().is_secret()),
            "no secret among the settings"
        );
    }

    #[test]
    fn put_and_is_edit_make_an_update() {
        assert!(
            plan_save(spec().unwrap(), &fields(docker(json!({}))), true)
                .unwrap()
                .update
        );
        assert!(plan(docker(json!({"is_edit": true}))).unwrap().update);
        assert!(plan(docker(json!({"is_edit": "yes"}))).unwrap().update);
        assert!(!plan(docker(json!({"is_edit": ""}))).unwrap().update);
        assert_eq!(err(docker(json!({"is_edit": "perhaps"}))).status(), 400);
    }

    #[test]
    fn container_type_is_required_and_checked() {
        let e = err(json!({"connection_name": "x"}));
        assert_eq!(e.status(), 400);
        assert!(
            e.message.contains("container_type is required"),
            "{}",
            e.message
        );
        let e = err(json!({"container_type": "podman", "connection_name": "x"}));
        assert_eq!(e.status(), 400);
        assert!(e.message.contains("docker or kubernetes"), "{}", e.message);
    }

    #[test]
    fn names_are_required_and_validated() {
        let mut v = docker(json!({}));
        v.as_object_mut().unwrap().remove("connection_name");
        assert!(err(v).message.contains("connection_name is required"));
        assert!(
            err(docker(json!({"connection_name": "  "})))
                .message
                .contains("connection_name is required")
        );
        for bad in ["a/b", "..", "x\ny", &"n".repeat(65)] {
            let e = err(docker(json!({"connection_name": bad})));
            assert_eq!(e.status(), 400, "{bad:?}");
            assert!(e.message.contains("connection"), "{}", e.message);
        }
    }

    #[test]
    fn unknown_keys_and_keys_of_the_other_type_are_named() {
        let e = err(docker(
            json!({"colour": "blue", "hec_token": "s3cret-value"}),
        ));
        assert_eq!(e.status(), 400);
        assert!(
            e.message.contains("Unknown settings colour, hec_token"),
            "{}",
            e.message
        );
        assert!(!e.message.contains("s3cret-value"));
        let e = err(docker(json!({"cluster_url": "https://k"})));
        assert!(
            e.message.contains(
                "cluster_url is a kubernetes setting; a docker connection does not take it"
            ),
            "{}",
            e.message
        );
        let e = err(k8s(json!({"docker_ca": "pem"})));
        assert!(
            e.message.contains("docker_ca is a docker setting"),
            "{}",
            e.message
        );
    }

    #[test]
    fn enums_are_checked_and_canonical() {
        let e = err(k8s(json!({"auth_mode": "password"})));
        assert_eq!(e.status(), 400);
        assert!(
            e.message.contains("auth_mode must be one of cert-key, user-token, user-login, aws-iam, service-account"),
            "{}",
            e.message
        );
        let e = err(k8s(json!({"service_type": "cluster_ip"})));
        assert!(
            e.message
                .contains("service_type must be one of load_balancer, node_port, route, ingress"),
            "{}",
            e.message
        );
        let p = plan(k8s(
            json!({"auth_mode": "User-Token", "service_type": "NODE_PORT"}),
        ))
        .unwrap();
        assert_eq!(p.setting("auth_mode"), Some("user-token"));
        assert_eq!(p.setting("service_type"), Some("node_port"));
    }

    #[test]
    fn booleans_are_written_one_way() {
        for (given, want) in [
            (json!(true), "true"),
            (json!("True"), "true"),
            (json!("1"), "true"),
            (json!("on"), "true"),
            (json!(0), "false"),
            (json!("No"), "false"),
            (json!("F"), "false"),
        ] {
            let p = plan(k8s(json!({"hpa_enabled": given.clone()}))).unwrap();
            assert_eq!(p.setting("hpa_enabled"), Some(want), "{given}");
        }
        let e = err(k8s(json!({"hpa_enabled": "sometimes"})));
        assert!(
            e.message.contains("hpa_enabled must be true or false"),
            "{}",
            e.message
        );
    }

    #[test]
    fn urls_are_checked() {
        for ok in [
            "unix:///var/run/docker.sock",
            "unix://var/run/docker.sock",
            "tcp://10.0.0.5:2375",
            "TCP://docker-host:2376/",
            "tcp://[::1]:2376",
        ] {
            let p = plan(docker(json!({"docker_url": ok}))).unwrap();
            assert!(
                p.setting("docker_url")
                    .unwrap()
                    .starts_with(&ok[..3].to_ascii_lowercase()),
                "{ok}"
            );
        }
        assert_eq!(
            plan(docker(json!({"docker_url": "tcp://h:2376/"})))
                .unwrap()
                .setting("docker_url"),
            Some("tcp://h:2376")
        );
        for (bad, why) in [
            ("http://h:2375", "must start with unix:// or tcp://"),
            ("/var/run/docker.sock", "must start with unix:// or tcp://"),
            ("unix://", "socket path"),
            ("tcp://", "host name"),
            ("tcp://h:99999", "invalid port"),
            ("tcp://h:2375/v1.43", "without a path"),
            ("tcp://user:pw@h:2375", "user name or password"),
            ("tcp://h 1:2375", "spaces"),
        ] {
            let e = err(docker(json!({"docker_url": bad})));
            assert_eq!(e.status(), 400, "{bad}");
            assert!(e.message.contains(why), "{bad}: {}", e.message);
        }
        let e = err(k8s(json!({"cluster_url": "http://k:6443"})));
        assert!(
            e.message.contains("cluster_url must start with https://"),
            "{}",
            e.message
        );
        assert!(
            plan(k8s(
                json!({"cluster_url": "https://api.k8s.example.com:6443/base"})
            ))
            .is_ok()
        );
        let e = err(docker(json!({"splunk_hec_url": "ftp://x"})));
        assert!(e.message.contains("http:// or https://"), "{}", e.message);
    }

    #[test]
    fn integers_are_bounded() {
        assert_eq!(
            plan(k8s(json!({"min_replicas": "02", "max_replicas": 3})))
                .unwrap()
                .setting("min_replicas"),
            Some("2")
        );
        for (k, v) in [
            ("cpu_threshold_percent", "0"),
            ("cpu_threshold_percent", "101"),
            ("min_replicas", "-1"),
            ("splunk_access_port", "http"),
        ] {
            let e = err(k8s(json!({k: v})));
            assert!(
                e.message.contains(&format!("{k} must be a whole number")),
                "{}",
                e.message
            );
        }
        let e = err(k8s(json!({"min_replicas": "5", "max_replicas": "2"})));
        assert!(
            e.message
                .contains("min_replicas (5) must not be more than max_replicas (2)"),
            "{}",
            e.message
        );
    }

    #[test]
    fn each_type_has_required_settings() {
        let mut v = docker(json!({}));
        v.as_object_mut().unwrap().remove("docker_url");
        assert!(err(v).message.contains("docker_url is required"));
        let e = err(json!({"container_type": "kubernetes", "connection_name": "k"}));
        assert!(e.message.contains("auth_mode is required"), "{}", e.message);
        let e = err(
            json!({"container_type": "kubernetes", "connection_name": "k", "auth_mode": "cert-key"}),
        );
        assert!(
            e.message
                .contains("cluster_url is required with auth_mode cert-key"),
            "{}",
            e.message
        );
        let e = err(
            json!({"container_type": "kubernetes", "connection_name": "k", "auth_mode": "aws-iam", "aws_cluster_name": "c"}),
        );
        assert!(
            e.message.contains("aws_region_name is required"),
            "{}",
            e.message
        );
        assert!(plan(json!({"container_type": "kubernetes", "connection_name": "k", "auth_mode": "service-account"})).is_ok());
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let e = err(k8s(
            json!({"nope": 1, "auth_mode": "x", "hpa_enabled": "maybe", "docker_url": "tcp://h"}),
        ));
        assert_eq!(e.status(), 400);
        for part in [
            "problems",
            "Unknown setting nope",
            "auth_mode must be",
            "hpa_enabled must be",
            "docker_url is a docker setting",
        ] {
            assert!(e.message.contains(part), "{part}: {}", e.message);
        }
    }

    #[test]
    fn secrets_keep_or_replace_and_never_appear_in_messages() {
        let p = plan(k8s(
            json!({"user_token": "default_token", "client_key": "", "cluster_ca": null}),
        ))
        .unwrap();
        assert!(p.secrets.is_empty());
        let e = err(k8s(json!({"user_token": {"x": "leak-me"}})));
        assert!(
            e.message.contains("user_token must be text"),
            "{}",
            e.message
        );
        assert!(!e.message.contains("leak-me"));
        let e = err(docker(
            json!({"jupyter_passwd": "one-LEAK", "jupyter_password": "two-LEAK"}),
        ));
        assert!(e.message.contains("given twice"), "{}", e.message);
        assert!(!e.message.contains("LEAK"), "{}", e.message);
        let same = plan(docker(
            json!({"jupyter_passwd": "same", "jupyter_password": "same"}),
        ))
        .unwrap();
        assert_eq!(same.secrets.len(), 1);
        let e = err(docker(json!({"api_token": "x".repeat(MAX_SECRET + 1)})));
        assert!(
            e.message.contains("api_token is longer than"),
            "{}",
            e.message
        );
    }

    #[test]
    fn values_must_fit_a_conf_line() {
        for bad in ["two\nlines", "ends with \\", "tab\there"] {
            let e = err(docker(json!({"description": bad})));
            assert!(
                e.message.contains("description must be one line"),
                "{bad:?}: {}",
                e.message
            );
        }
        let e = err(docker(json!({"description": "x".repeat(MAX_VALUE + 1)})));
        assert!(e.message.contains("longer than"), "{}", e.message);
        let p = plan(k8s(json!({"ingress_annotations": {"a": "b"}}))).unwrap();
        assert_eq!(p.setting("ingress_annotations"), Some(r#"{"a":"b"}"#));
        let e = err(k8s(json!({"hpa_enabled": [true]})));
        assert!(e.message.contains("single value"), "{}", e.message);
    }

    #[test]
    fn aliases() {
        assert_eq!(canonical_key("jupyter_password"), "jupyter_passwd");
        assert_eq!(canonical_key("api_token"), "api_token");
    }

    #[test]
    fn every_shipped_default_is_in_the_spec_valid_and_not_secret() {
        let spec = spec().unwrap();
        let defaults = shipped_defaults().unwrap();
        let names: Vec<&str> = defaults.stanzas.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["docker", "kubernetes"]);
        for s in &defaults.stanzas {
            let ty = ContainerType::parse(&s.name).unwrap();
            for (k, v) in &s.entries {
                let Lookup::Known(key) = spec.lookup(ty, k) else {
                    panic!("[{}] {k} is not in the spec for {ty}", s.name);
                };
                assert!(!key.is_secret(), "[{}] {k} is a secret", s.name);
                if !v.is_empty() {
                    assert_eq!(check_value(key, v).as_deref(), Ok(v.as_str()), "{k}");
                }
            }
        }
    }
}
