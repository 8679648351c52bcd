//! Validated names: what a model, a connection or a container type may be called. Names come
//! from URL paths and bodies and end up as conf stanza names, secret realms and (sanitised)
//! runtime object names, so anything outside a small safe set is refused with a 400 that says
//! what is allowed. Also the name rule for fields that hold secrets, and short excerpts of
//! untrusted input for messages.

use crate::error::ApiError;
use std::fmt;

/// Longest accepted model name.
pub const MAX_MODEL_NAME: usize = 100;
/// Longest accepted connection name.
pub const MAX_CONNECTION_NAME: usize = 64;

/// The two runtimes a connection can point at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerType {
    /// A Docker engine.
    Docker,
    /// A Kubernetes cluster.
    Kubernetes,
}

impl ContainerType {
    /// Parses `docker` or `kubernetes` (any case); anything else is a 400.
    pub fn parse(raw: &str) -> Result<ContainerType, ApiError> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "docker" => Ok(ContainerType::Docker),
            "kubernetes" => Ok(ContainerType::Kubernetes),
            other => Err(ApiError::bad_request(format!(
                "container_type must be docker or kubernetes, not {:?}.",
                truncate(other)
            ))),
        }
    }

    /// The stanza name in container_connections.conf and the `cluster` value of records.
    pub fn as_str(self) -> &'static str {
        match self {
            ContainerType::Docker => "docker",
            ContainerType::Kubernetes => "kubernetes",
        }
    }

    /// The storage/passwords realm holding this type's secrets (one realm per type).
    pub fn realm(self) -> &'static str {
        match self {
            ContainerType::Docker => "dsdl_docker",
            ContainerType::Kubernetes => "dsdl_kubernetes",
        }
    }
}

impl fmt::Display for ContainerType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A model (deployment record) name: 1 to 100 of `A-Z a-z 0-9 _ . -`, starting with a letter,
/// digit or underscore (so `__dev__` and MLTK model names fit, `..` and hidden names do not).
pub fn model_name(raw: &str) -> Result<String, ApiError> {
    check(
        raw,
        "model name",
        MAX_MODEL_NAME,
        "letters, digits, '_', '.' and '-'",
        |c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'),
    )?;
    if !raw.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_') || raw.contains("..") {
        return Err(ApiError::bad_request(format!(
            "model name {:?} must start with a letter, digit or underscore and must not contain \"..\".",
            truncate(raw)
        )));
    }
    refuse_reserved(raw, "model name")?;
    Ok(raw.to_string())
}

/// Names Splunk gives a meaning of its own, any case: `[default]` is merged into every stanza
/// of its conf file, and the others are actions of splunkd's REST collections
/// (`configs/conf-x/_new`, `_reload`, ...), so an entity by that name cannot be addressed.
const RESERVED: &[&str] = &[
    "default", "_new", "_reload", "_acl", "_bump", "_move", "_enable", "_disable",
];

fn refuse_reserved(name: &str, what: &str) -> Result<(), ApiError> {
    match RESERVED.iter().find(|r| r.eq_ignore_ascii_case(name)) {
        Some(r) => Err(ApiError::bad_request(format!(
            "The {what} {:?} is reserved by Splunk ({r} has a meaning of its own in conf files \
             and REST paths); choose another name.",
            truncate(name)
        ))),
        None => Ok(()),
    }
}

/// A `docker_network` value: a network the containers join by name. `host`, `none` and
/// `container:<id>` (any value with a `:`) are network modes, not networks: they would put a
/// model container on the host's or another container's network stack, or cut it off.
pub fn docker_network(raw: &str) -> Result<(), String> {
    let l = raw.trim().to_ascii_lowercase();
    if l == "host" || l == "none" || l.contains(':') {
        return Err(format!(
            "docker_network {:?} is a Docker network mode, not a network: host, none and \
             container:<id> are refused because they give model containers the host's or \
             another container's network, or none. Name a user-defined network (docker network \
             create <name>), or leave docker_network empty for the default bridge.",
            truncate(raw)
        ));
    }
    Ok(())
}

/// A connection name: 1 to 64 of `A-Z a-z 0-9 _ . -` and inner spaces, trimmed.
pub fn connection_name(raw: &str) -> Result<String, ApiError> {
    let name = raw.trim();
    check(
        name,
        "connection name",
        MAX_CONNECTION_NAME,
        "letters, digits, spaces, '_', '.' and '-'",
        |c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | ' '),
    )?;
    if name.chars().all(|c| c == '.') {
        return Err(ApiError::bad_request(
            "connection name must not be only dots.",
        ));
    }
    refuse_reserved(name, "connection name")?;
    Ok(name.to_string())
}

fn check(
    raw: &str,
    what: &str,
    max: usize,
    allowed_text: &str,
    allowed: impl Fn(char) -> bool,
) -> Result<(), ApiError> {
    if raw.is_empty() {
        return Err(ApiError::bad_request(format!("The {what} is empty.")));
    }
    if raw.chars().count() > max {
        return Err(ApiError::bad_request(format!(
            "The {what} is longer than {max} characters."
        )));
    }
    if let Some(bad) = raw.chars().find(|&c| !allowed(c)) {
        return Err(ApiError::bad_request(format!(
            "The {what} {:?} contains {bad:?}; use {allowed_text}.",
            truncate(raw)
        )));
    }
    Ok(())
}

/// At most `max` characters of untrusted input for a message, with `…` when cut, so a huge
/// or hostile value never makes a huge reply.
pub fn excerpt(s: &str, max: usize) -> String {
    let mut out: String = s.chars().take(max).collect();
    if s.chars().nth(max).is_some() {
        out.push('…');
    }
    out
}

fn truncate(s: &str) -> String {
    excerpt(s, 80)
}

/// Whether a field, form or header name holds a secret: it contains password, passwd, token,
/// secret, key or cert, or has a `ca` word (`ca`, `docker_ca`, `ca_file`, `cacert`...),
/// any case. The one name rule for secrets outside the connection spec: deployment records
/// drop such keys from replies, and splunkd-dev's fixture capture redacts them.
pub fn is_secret_name(name: &str) -> bool {
    let l = name.to_ascii_lowercase();
    if ["password", "passwd", "token", "secret", "key", "cert"]
        .iter()
        .any(|w| l.contains(w))
    {
        return true;
    }
    l.split(|c: char| !c.is_ascii_alphanumeric()).any(|word| {
        word == "ca"
            || word.strip_prefix("ca").is_some_and(|rest| {
                matches!(rest, "file" | "path" | "bundle" | "crt" | "pem" | "data")
            })
    })
}

/// The runtime object name for a model: valid as a Docker container name, a DNS-1123 label
/// and a DNS-1035 label (so also a Kubernetes Service name), at most 63 characters, and
/// distinct for distinct models (a short hash of the model name is appended, so `My_Model`
/// and `my-model` never collide).
pub fn runtime_name(model: &str) -> String {
    use sha2::{Digest, Sha256};
    const PREFIX: &str = "mltk-";
    let mut base = String::new();
    for c in model.to_ascii_lowercase().chars() {
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() {
            c
        } else {
            '-'
        };
        if !(c == '-' && (base.is_empty() || base.ends_with('-'))) {
            base.push(c);
        }
    }
    let hash = hex(&Sha256::digest(model.as_bytes())[..4]);
    // 63 = prefix + base + '-' + 8 hex digits.
    base.truncate(63 - PREFIX.len() - 1 - hash.len());
    let base = base.trim_matches('-');
    if base.is_empty() {
        format!("{PREFIX}{hash}")
    } else {
        format!("{PREFIX}{base}-{hash}")
    }
}

/// Longest label value Kubernetes accepts.
pub const MAX_LABEL_VALUE: usize = 63;

/// Whether `v` is a valid Kubernetes label value: empty, or at most 63 of `A-Z a-z 0-9 - _ .`
/// beginning and ending with a letter or digit. Docker takes any string, so a value valid here
/// is valid on both runtimes and may be selected on.
pub fn is_label_value(v: &str) -> bool {
    let alnum = |c: char| c.is_ascii_alphanumeric();
    v.len() <= MAX_LABEL_VALUE
        && v.chars().all(|c| alnum(c) || matches!(c, '-' | '_' | '.'))
        && (v.is_empty() || (v.starts_with(alnum) && v.ends_with(alnum)))
}

/// A selector label value for `raw` (a model name), valid on both runtimes
/// ([`is_label_value`]): its characters allowed in label values (others become `-`), cut and
/// trimmed to letters or digits at both ends, then `-` and 16 hex digits of its SHA-256. The
/// same name always gives the same value, and the hash keeps names that sanitise alike
/// (`__dev__` and `dev`, two long names with a common start) apart, as [`runtime_name`] does.
pub fn label_value(raw: &str) -> String {
    use sha2::{Digest, Sha256};
    const HASH_HEX: usize = 16;
    let hash = hex(&Sha256::digest(raw.as_bytes())[..HASH_HEX / 2]);
    let mut base: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    // ASCII only by now, so cutting by bytes cuts between characters.
    base.truncate(MAX_LABEL_VALUE - 1 - HASH_HEX);
    let base = base.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    if base.is_empty() {
        hash
    } else {
        format!("{base}-{hash}")
    }
}

/// Lowercase hex of bytes (hashes in labels, names and salts).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `text` with every occurrence of each non-empty value in `secrets` replaced by `********`,
/// for quoting output that may echo a secret (a container's last log lines).
pub fn mask(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| s.len() >= 4) {
        out = out.replace(s, "********");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_names() {
        for ok in ["__dev__", "m1", "My_Model.v2", "a-b", "9lives"] {
            assert_eq!(model_name(ok).unwrap(), ok);
        }
        for bad in [
            "",
            "../etc",
            "a/b",
            "a..b",
            ".hidden",
            "-x",
            "a b",
            "a\u{0}b",
            "mod\u{e8}le",
            &"x".repeat(101),
            "default",
            "DEFAULT",
            "Default",
            "_new",
            "_Reload",
            "_acl",
        ] {
            assert_eq!(model_name(bad).unwrap_err().status(), 400, "{bad:?}");
        }
        assert!(model_name("default2").is_ok() && model_name("my_default").is_ok());
        assert!(
            model_name("Default")
                .unwrap_err()
                .message
                .contains("reserved")
        );
    }

    #[test]
    fn network_modes_are_not_networks() {
        for bad in [
            "host",
            "HOST",
            " none ",
            "container:abc",
            "container:",
            "ns:x",
        ] {
            assert!(docker_network(bad).is_err(), "{bad:?}");
        }
        for ok in ["bridge", "dsdl-net", "my_net.1", "hostnet"] {
            assert!(docker_network(ok).is_ok(), "{ok:?}");
        }
    }

    #[test]
    fn connection_names() {
        assert_eq!(connection_name("  my docker ").unwrap(), "my docker");
        for bad in [
            "",
            "   ",
            "..",
            "a/b",
            "a\nb",
            "a]b",
            &"c".repeat(65),
            "default",
            " Default ",
        ] {
            assert_eq!(connection_name(bad).unwrap_err().status(), 400, "{bad:?}");
        }
    }

    #[test]
    fn container_types() {
        assert_eq!(
            ContainerType::parse("Docker").unwrap(),
            ContainerType::Docker
        );
        assert_eq!(
            ContainerType::parse("kubernetes").unwrap().realm(),
            "dsdl_kubernetes"
        );
        assert_eq!(ContainerType::parse("podman").unwrap_err().status(), 400);
    }

    #[test]
    fn secret_names() {
        for yes in [
            "password",
            "jupyter_passwd",
            "api_token",
            "HEC_TOKEN",
            "client_secret",
            "aws_access_key_id",
            "tls_cert",
            "ca",
            "docker_ca",
            "ca_file",
            "cacert",
            "CA-bundle",
            "authtoken",
        ] {
            assert!(is_secret_name(yes), "{yes}");
        }
        for no in [
            "name",
            "location",
            "capability",
            "scale",
            "cluster",
            "image",
            "cache",
        ] {
            assert!(!is_secret_name(no), "{no}");
        }
    }

    #[test]
    fn runtime_names_are_valid_everywhere_and_distinct() {
        let dns1035 = |n: &str| {
            n.len() <= 63
                && n.starts_with(|c: char| c.is_ascii_lowercase())
                && n.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                && n.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        };
        let long = "A".repeat(100);
        for m in [
            "__dev__",
            "My_Model",
            "my-model",
            "9lives",
            "x",
            long.as_str(),
            "a.b.c",
        ] {
            let n = runtime_name(m);
            assert!(dns1035(&n), "{m} -> {n}");
            assert_eq!(n, runtime_name(m));
        }
        assert_ne!(runtime_name("My_Model"), runtime_name("my-model"));
        assert!(runtime_name("__dev__").starts_with("mltk-dev-"));
        assert_eq!(runtime_name(&long).len(), 63);
    }

    #[test]
    fn label_values_are_checked_as_kubernetes_does() {
        let max = "a".repeat(63);
        for ok in [
            "",
            "a",
            "9",
            "My.Model_1",
            "a-b_c.d",
            "dsdl-handler",
            max.as_str(),
        ] {
            assert!(is_label_value(ok), "{ok:?}");
        }
        let long = "a".repeat(64);
        for bad in [
            "__dev__",
            "_a",
            "a_",
            "-a",
            "a.",
            "a b",
            "a/b",
            "mod\u{e8}le",
            long.as_str(),
        ] {
            assert!(!is_label_value(bad), "{bad:?}");
        }
    }

    #[test]
    fn label_values_keep_the_name_readable_and_distinct() {
        let dev = label_value("__dev__");
        assert!(dev.starts_with("dev-") && dev.len() == 4 + 16, "{dev}");
        assert!(label_value("My.Model_1").starts_with("My.Model_1-"));
        assert_ne!(label_value("__dev__"), label_value("dev"));
        assert_ne!(label_value("My_Model"), label_value("my_model"));
        let (a, b) = ("x".repeat(99) + "a", "x".repeat(99) + "b");
        assert_ne!(label_value(&a), label_value(&b));
        assert_eq!(label_value(&a).len(), 63);
        assert_eq!(label_value("___").len(), 16);
    }

    proptest::proptest! {
        /// Any string (model names are a subset) gives a valid value, always the same one.
        #[test]
        fn any_name_gives_a_valid_label_value(raw in "\\PC{0,120}") {
            let v = label_value(&raw);
            proptest::prop_assert!(is_label_value(&v), "{:?} -> {:?}", raw, v);
            proptest::prop_assert_eq!(&v, &label_value(&raw));
        }

        /// Two different model names never share a value.
        #[test]
        fn different_names_give_different_label_values(
            a in "[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}",
            b in "[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}",
        ) {
            proptest::prop_assume!(a != b);
            proptest::prop_assert_ne!(label_value(&a), label_value(&b));
        }

        /// Nor do names that sanitise and cut alike (underscores, dots, long common starts).
        #[test]
        fn names_that_sanitise_alike_get_different_label_values(
            a in "[_a.-]{1,100}",
            b in "[_a.-]{1,100}",
        ) {
            proptest::prop_assume!(a != b);
            proptest::prop_assert_ne!(label_value(&a), label_value(&b));
        }
    }

    #[test]
    fn secrets_are_masked_in_quoted_output() {
        let out = mask(
            "token=abcd1234 and abcd1234 again; x",
            &["abcd1234", "", "x"],
        );
        assert_eq!(out, "token=******** and ******** again; x");
        assert_eq!(hex(&[0, 171, 255]), "00abff");
    }
}
