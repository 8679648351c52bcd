//! The settings spec: `README/container_connections.conf.spec`, embedded in the binary and
//! parsed once, is the one list of the keys a connection may have, the type of each value and
//! which keys are secrets. Adding a key to the spec is all it takes for saves to accept it.
//!
//! Also embedded: the shipped `default/container_connections.conf`, whose values are what a
//! key goes back to when an update leaves it out or a connection is deleted.

use crate::conffile::{ConfFile, Stanza};
use crate::error::ApiError;
use crate::names::ContainerType;
use std::sync::OnceLock;

/// The spec text as shipped in the app.
pub const SPEC_TEXT: &str = include_str!("../../README/container_connections.conf.spec");

/// The shipped defaults as in the app's `default/`.
pub const DEFAULTS_TEXT: &str = include_str!("../../default/container_connections.conf");

/// The form a value must have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueType {
    /// `<string>`: free text on one line.
    Text,
    /// `<boolean>`: written `true`/`false`.
    Boolean,
    /// `<integer>` or `<integer:MIN-MAX>`.
    Integer {
        /// Smallest accepted value.
        min: u64,
        /// Largest accepted value.
        max: u64,
    },
    /// `<url:a|b>`: a URL with one of these schemes (lower case, without `://`).
    Url {
        /// Accepted schemes.
        schemes: Vec<String>,
    },
    /// `[a|b|c]`: one of these values.
    Choice(Vec<String>),
    /// `<password>`: a secret, kept in storage/passwords only.
    Password,
}

/// Which stanzas a key belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Both (keys before the first header, or under `[default]`).
    Both,
    /// Only this container type's stanza.
    Only(ContainerType),
}

impl Scope {
    /// Whether a key of this scope belongs to `ty`'s stanza.
    pub fn covers(self, ty: ContainerType) -> bool {
        match self {
            Scope::Both => true,
            Scope::Only(t) => t == ty,
        }
    }
}

/// One key of the spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpec {
    /// The key name.
    pub name: String,
    /// Where it applies.
    pub scope: Scope,
    /// The form of its value.
    pub value: ValueType,
    /// The first line of its documentation.
    pub summary: String,
}

impl KeySpec {
    /// Whether the key is a secret.
    pub fn is_secret(&self) -> bool {
        self.value == ValueType::Password
    }
}

/// What the spec says about a key for one container type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup<'a> {
    /// A key of this type's stanza.
    Known(&'a KeySpec),
    /// A key of the other type's stanza only.
    OtherType(ContainerType),
    /// Not in the spec at all.
    Unknown,
}

/// The parsed spec: keys in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    keys: Vec<KeySpec>,
}

impl Spec {
    /// Parses spec text with the generic reader ([`crate::confspec`]) and types each key:
    /// keys before the first header (or under `[default]`) apply to both stanzas, then come
    /// `[docker]` and `[kubernetes]`. Stricter than the generic reader: unknown stanzas,
    /// stray lines, repeated keys, unknown value types and undocumented keys are errors.
    pub fn parse(text: &str) -> Result<Spec, String> {
        let generic = crate::confspec::Spec::parse(text);
        if let Some((n, line)) = generic.stray.first() {
            return Err(format!("line {n}: expected key = <type>, found {line:?}"));
        }
        let mut sections = vec![(Scope::Both, &generic.global)];
        for stanza in &generic.stanzas {
            let scope = match stanza.name.as_str() {
                "default" => Scope::Both,
                "docker" => Scope::Only(ContainerType::Docker),
                "kubernetes" => Scope::Only(ContainerType::Kubernetes),
                other => return Err(format!("unknown stanza [{other}]")),
            };
            sections.push((scope, &stanza.keys));
        }
        let mut keys: Vec<KeySpec> = Vec::new();
        for (scope, section) in sections {
            for k in section {
                let at = |what: String| format!("line {}: {what}", k.line);
                if !crate::conffile::is_valid_key(&k.name) {
                    return Err(at(format!("invalid key {:?}", k.name)));
                }
                if keys.iter().any(|seen| seen.name == k.name) {
                    return Err(at(format!("{} is specified twice", k.name)));
                }
                let summary = k
                    .doc
                    .first()
                    .cloned()
                    .ok_or_else(|| format!("{} has no `*` documentation line", k.name))?;
                keys.push(KeySpec {
                    name: k.name.clone(),
                    scope,
                    value: parse_type(&k.value).map_err(at)?,
                    summary,
                });
            }
        }
        Ok(Spec { keys })
    }

    /// What the spec says about `key` for a connection of type `ty`.
    pub fn lookup(&self, ty: ContainerType, key: &str) -> Lookup<'_> {
        match self.keys.iter().find(|k| k.name == key) {
            Some(k) if k.scope.covers(ty) => Lookup::Known(k),
            Some(KeySpec {
                scope: Scope::Only(other),
                ..
            }) => Lookup::OtherType(*other),
            _ => Lookup::Unknown,
        }
    }

    /// The key `key` whatever its scope.
    pub fn get(&self, key: &str) -> Option<&KeySpec> {
        self.keys.iter().find(|k| k.name == key)
    }

    /// Every key of `ty`'s stanza, in spec order.
    pub fn keys_for(&self, ty: ContainerType) -> impl Iterator<Item = &KeySpec> {
        self.keys.iter().filter(move |k| k.scope.covers(ty))
    }

    /// The secret keys of `ty`'s stanza, in spec order.
    pub fn secrets_for(&self, ty: ContainerType) -> impl Iterator<Item = &KeySpec> {
        self.keys_for(ty).filter(|k| k.is_secret())
    }

    /// Every key, in spec order.
    pub fn keys(&self) -> &[KeySpec] {
        &self.keys
    }
}

/// Parses a value type: `<string>`, `<boolean>`, `<integer[:MIN-MAX]>`, `<url:a|b>`,
/// `<password>` or `[a|b|c]`.
fn parse_type(t: &str) -> Result<ValueType, String> {
    if let Some(list) = t.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
        let choices: Vec<String> = list.split('|').map(|c| c.trim().to_string()).collect();
        if choices.iter().any(String::is_empty) {
            return Err(format!("empty choice in {t}"));
        }
        return Ok(ValueType::Choice(choices));
    }
    let inner = t
        .strip_prefix('<')
        .and_then(|l| l.strip_suffix('>'))
        .ok_or_else(|| format!("unknown value type {t:?}"))?;
    let (name, arg) = match inner.split_once(':') {
        Some((n, a)) => (n, Some(a)),
        None => (inner, None),
    };
    match (name, arg) {
        ("string", None) => Ok(ValueType::Text),
        ("boolean", None) => Ok(ValueType::Boolean),
        ("password", None) => Ok(ValueType::Password),
        ("integer", None) => Ok(ValueType::Integer {
            min: 0,
            max: u64::MAX,
        }),
        ("integer", Some(range)) => {
            let bounds = range
                .split_once('-')
                .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)))
                .filter(|(a, b)| a <= b)
                .ok_or_else(|| format!("bad integer range {range:?}"))?;
            Ok(ValueType::Integer {
                min: bounds.0,
                max: bounds.1,
            })
        }
        ("url", Some(schemes)) => {
            let schemes: Vec<String> = schemes
                .split('|')
                .map(|s| s.trim().to_ascii_lowercase())
                .collect();
            if schemes.iter().any(String::is_empty) {
                return Err(format!("empty scheme in {t}"));
            }
            Ok(ValueType::Url { schemes })
        }
        _ => Err(format!("unknown value type {t:?}")),
    }
}

/// The spec of this build, parsed on first use. A spec that does not parse is a bug (a unit
/// test parses it), reported as a 500 rather than a panic.
pub fn spec() -> Result<&'static Spec, ApiError> {
    static SPEC: OnceLock<Result<Spec, String>> = OnceLock::new();
    SPEC.get_or_init(|| Spec::parse(SPEC_TEXT))
        .as_ref()
        .map_err(|e| {
            ApiError::internal(format!(
                "The embedded container_connections.conf.spec is invalid: {e}."
            ))
        })
}

/// The shipped defaults of this build, parsed on first use.
pub fn shipped_defaults() -> Result<&'static ConfFile, ApiError> {
    static DEFAULTS: OnceLock<Result<ConfFile, String>> = OnceLock::new();
    DEFAULTS
        .get_or_init(|| ConfFile::parse(DEFAULTS_TEXT))
        .as_ref()
        .map_err(|e| {
            ApiError::internal(format!(
                "The embedded default container_connections.conf is invalid: {e}."
            ))
        })
}

/// The shipped stanza of `ty` (empty when the defaults do not have it).
pub fn shipped_stanza(defaults: &ConfFile, ty: ContainerType) -> Stanza {
    defaults
        .get(ty.as_str())
        .cloned()
        .unwrap_or_else(|| Stanza::new(ty.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCKER: ContainerType = ContainerType::Docker;
    const K8S: ContainerType = ContainerType::Kubernetes;

    /// The secret set the design names: every token-like field.
    const SECRETS: &[&str] = &[
        "api_token",
        "jupyter_passwd",
        "client_key",
        "client_cert",
        "cluster_ca",
        "user_token",
        "user_password",
        "aws_access_key_id",
        "aws_secret_access_key",
        "service_account_token",
        "docker_logging_splunk_token",
        "splunk_hec_token",
        "splunk_access_token",
        "olly_splunk_access_token",
        "docker_ca",
        "docker_client_cert",
        "docker_client_key",
    ];

    #[test]
    fn the_shipped_spec_parses_and_marks_every_token_like_field_secret() {
        let spec = spec().unwrap();
        let secrets: Vec<&str> = spec
            .keys()
            .iter()
            .filter(|k| k.is_secret())
            .map(|k| k.name.as_str())
            .collect();
        let mut want = SECRETS.to_vec();
        want.sort();
        let mut got = secrets.clone();
        got.sort();
        assert_eq!(got, want);
        // Anything that looks like a secret by name is one.
        for k in spec.keys() {
            let words: Vec<&str> = k.name.split('_').collect();
            let looks = words.iter().any(|w| {
                matches!(
                    *w,
                    "token" | "key" | "passwd" | "password" | "secret" | "ca"
                )
            }) || words.last() == Some(&"cert");
            assert_eq!(looks, k.is_secret(), "{}", k.name);
        }
    }

    #[test]
    fn fixture_capture_redacts_every_secret_of_the_spec() {
        // splunkd-dev's --capture redacts by field name; a secret it did not recognise would
        // end up in a committed fixture.
        for k in spec().unwrap().keys().iter().filter(|k| k.is_secret()) {
            assert!(crate::names::is_secret_name(&k.name), "{}", k.name);
        }
        assert!(crate::names::is_secret_name("jupyter_password"));
    }

    #[test]
    fn the_spec_names_every_key_of_the_reference() {
        let spec = spec().unwrap();
        let reference_both = [
            "connection_name",
            "description",
            "ssl_passthrough",
            "container_enable_https",
            "endpoint_cert_check_hostname",
            "endpoint_cert_filename_or_path",
            "jupyter_passwd",
            "api_token",
            "olly_enabled",
            "olly_otel_endpoint",
            "olly_otel_service_name",
            "olly_splunk_access_token",
            "splunk_access_enabled",
            "splunk_access_host",
            "splunk_access_port",
            "splunk_access_token",
            "splunk_hec_enabled",
            "splunk_hec_url",
            "splunk_hec_token",
            "allow_pull",
            "tls_skip_verify",
        ];
        let docker = [
            "docker_url",
            "endpoint_hostname",
            "endpoint_hostname_external",
            "docker_network",
            "docker_logging_endpoint_hostname",
            "docker_logging_splunk_token",
            "docker_ca",
            "docker_client_cert",
            "docker_client_key",
        ];
        // kubernetes_fields of the reference (§6.1) plus the §4.1 table.
        let kubernetes = [
            "auth_mode",
            "cluster_url",
            "cluster_ca",
            "client_cert",
            "user_token",
            "user_name",
            "aws_cluster_name",
            "aws_access_key_id",
            "aws_region_name",
            "storage_class",
            "namespace",
            "service_type",
            "ingress_host_pattern",
            "ingress_annotations",
            "node_port_hostname_internal",
            "node_port_hostname_external",
            "client_key",
            "user_password",
            "aws_secret_access_key",
            "image_pull_secrets",
            "in_cluster_mode",
            "aws_certificate_arn",
            "service_account_token",
            "min_cpu",
            "max_cpu",
            "min_memory",
            "max_memory",
            "hpa_enabled",
            "min_replicas",
            "max_replicas",
            "cpu_threshold_percent",
        ];
        for k in reference_both {
            assert!(matches!(spec.lookup(DOCKER, k), Lookup::Known(_)), "{k}");
            assert!(matches!(spec.lookup(K8S, k), Lookup::Known(_)), "{k}");
        }
        for k in docker {
            assert!(matches!(spec.lookup(DOCKER, k), Lookup::Known(_)), "{k}");
            assert_eq!(spec.lookup(K8S, k), Lookup::OtherType(DOCKER), "{k}");
        }
        for k in kubernetes {
            assert!(matches!(spec.lookup(K8S, k), Lookup::Known(_)), "{k}");
            assert_eq!(spec.lookup(DOCKER, k), Lookup::OtherType(K8S), "{k}");
        }
        assert_eq!(
            spec.keys().len(),
            reference_both.len() + docker.len() + kubernetes.len()
        );
        assert_eq!(spec.lookup(DOCKER, "is_docker"), Lookup::Unknown);
    }

    #[test]
    fn value_types_come_from_the_spec() {
        let spec = spec().unwrap();
        assert_eq!(
            spec.get("auth_mode").unwrap().value,
            ValueType::Choice(
                [
                    "cert-key",
                    "user-token",
                    "user-login",
                    "aws-iam",
                    "service-account"
                ]
                .map(String::from)
                .to_vec()
            )
        );
        assert_eq!(
            spec.get("service_type").unwrap().value,
            ValueType::Choice(
                ["load_balancer", "node_port", "route", "ingress"]
                    .map(String::from)
                    .to_vec()
            )
        );
        assert_eq!(
            spec.get("docker_url").unwrap().value,
            ValueType::Url {
                schemes: vec!["unix".into(), "tcp".into()]
            }
        );
        assert_eq!(
            spec.get("cluster_url").unwrap().value,
            ValueType::Url {
                schemes: vec!["https".into()]
            }
        );
        assert_eq!(spec.get("hpa_enabled").unwrap().value, ValueType::Boolean);
        assert_eq!(
            spec.get("splunk_access_port").unwrap().value,
            ValueType::Integer { min: 1, max: 65535 }
        );
        assert_eq!(spec.get("min_cpu").unwrap().value, ValueType::Text);
    }

    #[test]
    fn the_generic_spec_reader_agrees() {
        // crate::confspec reads every README/*.conf.spec for its key lists; both readers must
        // see the same keys in the same stanzas.
        let generic = crate::confspec::Spec::parse(SPEC_TEXT);
        let spec = spec().unwrap();
        for ty in [DOCKER, K8S] {
            for k in spec.keys_for(ty) {
                assert!(generic.allows(ty.as_str(), &k.name), "[{ty}] {}", k.name);
            }
        }
        assert!(generic.undescribed(shipped_defaults().unwrap()).is_empty());
        assert!(!generic.allows("docker", "cluster_url"));
    }

    #[test]
    fn malformed_specs_are_refused() {
        for (bad, why) in [
            ("[docker]\na = <strin>\n* x\n", "unknown value type"),
            ("[docker]\na = <integer:5-1>\n* x\n", "bad integer range"),
            ("[docker]\na = [x||y]\n* x\n", "empty choice"),
            ("[docker]\na = <url:>\n* x\n", "empty scheme"),
            (
                "[docker]\na = <string>\n* x\n[default]\na = <string>\n* y\n",
                "twice",
            ),
            ("[docker]\na = <string>\n", "no `*` documentation"),
            ("[podman]\n", "unknown stanza"),
            ("[docker]\njust words\n", "expected key"),
        ] {
            let e = Spec::parse(bad).unwrap_err();
            assert!(e.contains(why), "{bad:?}: {e}");
        }
        let ok = Spec::parse(
            "# c\na = <integer>\n* first\n* second\n[docker]\n[default]\nb = <string>\n* b\n",
        )
        .unwrap();
        assert_eq!(ok.keys()[0].summary, "first");
        assert_eq!(ok.keys()[0].scope, Scope::Both);
        assert_eq!(ok.keys()[1].scope, Scope::Both);
        assert_eq!(
            ok.keys()[0].value,
            ValueType::Integer {
                min: 0,
                max: u64::MAX
            }
        );
    }
}
