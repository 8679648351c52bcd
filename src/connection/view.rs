//! What the connection GETs show: a stored stanza with every secret replaced by the
//! placeholder `default_token`. Only keys of the spec are shown, so a legacy stanza's stray
//! plaintext (a UI flag, a `jupyter_password` copied in clear) never reaches a reply.

use super::PLACEHOLDER;
use super::spec::{Lookup, Spec};
use super::validate::ALIASES;
use crate::conffile::Stanza;
use crate::conffile::parse_bool;
use crate::names::ContainerType;
use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// The cluster defaults of `GET /mltk/container_connection/{type}`, as strings.
pub const CLUSTER_DEFAULTS: &[&str] = &[
    "min_cpu",
    "max_cpu",
    "min_memory",
    "max_memory",
    "min_replicas",
    "max_replicas",
];

/// The `config` keys of `GET /mltk/test_container_connection`, in the AI Toolkit's order
/// (the docker keys, the common keys, the secrets and its `kubernetes_fields`), followed by the
/// docker keys this handler added.
pub const SAVED_DOCKER_LAYOUT: &[&str] = &[
    "docker_url",
    "endpoint_hostname",
    "endpoint_hostname_external",
    "docker_network",
    "docker_logging_endpoint_hostname",
    "docker_logging_splunk_token",
    "olly_otel_endpoint",
    "olly_splunk_access_token",
    "olly_otel_service_name",
    "olly_enabled",
    "endpoint_cert_filename_or_path",
    "endpoint_cert_check_hostname",
    "container_enable_https",
    "splunk_access_token",
    "splunk_access_host",
    "splunk_access_port",
    "splunk_access_enabled",
    "splunk_hec_enabled",
    "splunk_hec_token",
    "splunk_hec_url",
    "jupyter_passwd",
    "api_token",
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
    "docker_ca",
    "docker_client_cert",
    "docker_client_key",
    "tls_skip_verify",
    "allow_pull",
];

/// The secrets of `ty` that have a value: in storage/passwords (`stored`, the usernames of
/// the type's realm) or, in a legacy stanza, in clear in the conf.
pub fn present_secrets(
    spec: &Spec,
    ty: ContainerType,
    stanza: &Stanza,
    stored: &BTreeSet<String>,
) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for key in spec.secrets_for(ty) {
        let in_conf = std::iter::once(key.name.as_str())
            .chain(
                ALIASES
                    .iter()
                    .filter(|(_, k)| *k == key.name)
                    .map(|(a, _)| *a),
            )
            .any(|k| stanza.get(k).is_some_and(|v| !v.trim().is_empty()));
        if in_conf || stored.contains(&key.name) {
            out.insert(key.name.clone());
        }
    }
    out
}

/// The stanza as the API shows it: every key of the type's spec, in spec order, so a client
/// can index any of them (the AI Toolkit returned keys saved empty as `""`): a setting's
/// stored value or `""`; a secret as `default_token` when it has a value, else `""`. Keys the
/// spec does not know for this type are never shown.
pub fn masked_settings(
    spec: &Spec,
    ty: ContainerType,
    stanza: &Stanza,
    present: &BTreeSet<String>,
) -> Map<String, Value> {
    spec.keys_for(ty)
        .map(|key| {
            let value = match (key.is_secret(), present.contains(&key.name)) {
                (true, true) => PLACEHOLDER,
                (true, false) => "",
                (false, _) => stanza.get(&key.name).unwrap_or_default(),
            };
            (key.name.clone(), Value::String(value.into()))
        })
        .collect()
}

/// The `updated_config` of a passed `POST /mltk/test_container_connection`: what the UI saves
/// next. Every key of the type's spec: a setting as the request gave it (`""` when not given,
/// as the AI Toolkit did), a secret as `default_token` when the connection has it (stored or
/// just given), else `""`; `connection_name` is `""` when the request named none.
pub fn tested_settings(
    spec: &Spec,
    ty: ContainerType,
    given: &[(String, String)],
    named: bool,
    present: &BTreeSet<String>,
) -> Map<String, Value> {
    let mut stanza = Stanza::new(ty.as_str());
    for (k, v) in given {
        if named || k != "connection_name" {
            stanza.set(k, v.clone());
        }
    }
    masked_settings(spec, ty, &stanza, present)
}

/// The `config` of `GET /mltk/container_connection/{type}`: the cluster defaults as strings,
/// `hpa_enabled` as a boolean, and the masked stanza as `_stanza`.
pub fn cluster_defaults(
    spec: &Spec,
    ty: ContainerType,
    stanza: &Stanza,
    present: &BTreeSet<String>,
) -> Map<String, Value> {
    let mut out = Map::new();
    for k in CLUSTER_DEFAULTS {
        out.insert(
            (*k).into(),
            Value::String(stanza.get(k).unwrap_or_default().to_string()),
        );
    }
    let hpa = stanza
        .get("hpa_enabled")
        .and_then(parse_bool)
        .unwrap_or(false);
    out.insert("hpa_enabled".into(), Value::Bool(hpa));
    out.insert(
        "_stanza".into(),
        Value::Object(masked_settings(spec, ty, stanza, present)),
    );
    out
}

/// The `config` of `GET /mltk/test_container_connection`: every key of
/// [`SAVED_DOCKER_LAYOUT`] from the docker stanza, `""` when unset; a secret (of either type)
/// is `default_token` when the docker connection has it and `""` otherwise, never its value.
pub fn saved_docker_config(
    spec: &Spec,
    stanza: &Stanza,
    present: &BTreeSet<String>,
) -> Map<String, Value> {
    let mut out = Map::new();
    for k in SAVED_DOCKER_LAYOUT {
        let secret = spec.get(k).is_none_or(|key| key.is_secret());
        let value = if secret {
            if present.contains(*k) {
                PLACEHOLDER
            } else {
                ""
            }
        } else {
            match spec.lookup(ContainerType::Docker, k) {
                Lookup::Known(_) => stanza.get(k).unwrap_or_default(),
                _ => "",
            }
        };
        out.insert((*k).into(), Value::String(value.into()));
    }
    out.insert(
        "connection_name".into(),
        Value::String(configured_name(stanza).unwrap_or_default().into()),
    );
    out
}

/// The connection name a stanza holds, trimmed; `None` when no connection is configured.
pub fn configured_name(stanza: &Stanza) -> Option<&str> {
    stanza
        .get("connection_name")
        .map(str::trim)
        .filter(|n| !n.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::spec::spec;

    fn stanza(name: &str, pairs: &[(&str, &str)]) -> Stanza {
        Stanza::from_pairs(name, pairs)
    }

    fn set(keys: &[&str]) -> BTreeSet<String> {
        keys.iter().map(|k| k.to_string()).collect()
    }

    #[test]
    fn secrets_are_masked_whether_stored_or_legacy_plaintext() {
        let spec = spec().unwrap();
        let s = stanza(
            "kubernetes",
            &[
                ("connection_name", "k"),
                ("auth_mode", "user-token"),
                ("splunk_hec_token", "PLAINTEXT-legacy"),
                ("jupyter_password", "PLAINTEXT-ui"),
                ("is_kubernetes", "True"),
                ("docker_url", "unix://x"),
                ("mystery", "PLAINTEXT-unknown"),
                ("client_key", ""),
            ],
        );
        let present = present_secrets(spec, ContainerType::Kubernetes, &s, &set(&["user_token"]));
        assert_eq!(
            present,
            set(&["jupyter_passwd", "splunk_hec_token", "user_token"])
        );
        let m = masked_settings(spec, ContainerType::Kubernetes, &s, &present);
        let text = serde_json::to_string(&m).unwrap();
        assert!(!text.contains("PLAINTEXT"), "{text}");
        assert_eq!(m["connection_name"], "k");
        assert_eq!(m["auth_mode"], "user-token");
        assert_eq!(m["user_token"], PLACEHOLDER);
        assert_eq!(m["splunk_hec_token"], PLACEHOLDER);
        assert_eq!(m["jupyter_passwd"], PLACEHOLDER);
        for absent in ["is_kubernetes", "docker_url", "mystery", "jupyter_password"] {
            assert!(!m.contains_key(absent), "{absent}");
        }
        // Every key of the type is there, `""` when it has no value.
        for key in spec.keys_for(ContainerType::Kubernetes) {
            assert!(m[&key.name].is_string(), "{}", key.name);
        }
        assert_eq!(m["client_key"], "", "a secret without a value");
        assert_eq!(m["api_token"], "");
        assert_eq!(m["namespace"], "", "a setting never saved");
        assert_eq!(m["description"], "");
    }

    #[test]
    fn defaults_have_strings_and_a_real_boolean() {
        let spec = spec().unwrap();
        for (raw, want) in [
            ("True", true),
            ("1", true),
            ("false", false),
            ("", false),
            ("junk", false),
        ] {
            let s = stanza(
                "kubernetes",
                &[
                    ("hpa_enabled", raw),
                    ("min_cpu", "250m"),
                    ("cpu_threshold_percent", "70"),
                ],
            );
            let d = cluster_defaults(spec, ContainerType::Kubernetes, &s, &BTreeSet::new());
            assert_eq!(d["hpa_enabled"], Value::Bool(want), "{raw}");
            assert_eq!(d["min_cpu"], "250m");
            assert_eq!(d["max_replicas"], "");
            assert_eq!(d["_stanza"]["cpu_threshold_percent"], "70");
            assert_eq!(
                d["_stanza"]["storage_class"], "",
                "unsaved keys read as empty"
            );
        }
    }

    #[test]
    fn the_saved_docker_config_has_every_layout_key_and_no_secret() {
        let spec = spec().unwrap();
        let s = stanza(
            "docker",
            &[
                ("connection_name", " d "),
                ("docker_url", "unix:///var/run/docker.sock"),
                ("docker_logging_splunk_token", "PLAINTEXT-1"),
                ("client_key", "PLAINTEXT-2"),
                ("auth_mode", "cert-key"),
            ],
        );
        let present = present_secrets(
            spec,
            ContainerType::Docker,
            &s,
            &set(&["api_token", "client_cert"]),
        );
        let c = saved_docker_config(spec, &s, &present);
        let text = serde_json::to_string(&c).unwrap();
        assert!(!text.contains("PLAINTEXT"), "{text}");
        for k in SAVED_DOCKER_LAYOUT {
            assert!(c.contains_key(*k), "{k}");
        }
        assert_eq!(c["docker_url"], "unix:///var/run/docker.sock");
        assert_eq!(c["api_token"], PLACEHOLDER);
        assert_eq!(c["docker_logging_splunk_token"], PLACEHOLDER);
        assert_eq!(c["jupyter_passwd"], "");
        assert_eq!(
            c["client_key"], "",
            "a kubernetes secret is never shown for docker"
        );
        assert_eq!(c["client_cert"], "");
        assert_eq!(c["auth_mode"], "", "kubernetes keys are empty for docker");
        assert_eq!(c["connection_name"], "d");
    }

    #[test]
    fn a_tested_connection_lists_every_key_and_no_secret() {
        let spec = spec().unwrap();
        let given = vec![
            ("connection_name".to_string(), "test".to_string()),
            (
                "docker_url".to_string(),
                "unix:///var/run/docker.sock".to_string(),
            ),
        ];
        let c = tested_settings(
            spec,
            ContainerType::Docker,
            &given,
            false,
            &set(&["api_token"]),
        );
        for key in spec.keys_for(ContainerType::Docker) {
            assert!(c[&key.name].is_string(), "{}", key.name);
        }
        assert_eq!(c["docker_url"], "unix:///var/run/docker.sock");
        assert_eq!(c["docker_network"], "");
        assert_eq!(c["connection_name"], "", "the stand-in name is not shown");
        assert_eq!(c["api_token"], PLACEHOLDER);
        assert_eq!(c["jupyter_passwd"], "");
        assert!(!c.contains_key("auth_mode"));
        let c = tested_settings(spec, ContainerType::Docker, &given, true, &set(&[]));
        assert_eq!(c["connection_name"], "test");
    }

    #[test]
    fn configured_names() {
        assert_eq!(
            configured_name(&stanza("docker", &[("connection_name", "  ")])),
            None
        );
        assert_eq!(configured_name(&stanza("docker", &[])), None);
        assert_eq!(
            configured_name(&stanza("docker", &[("connection_name", " a ")])),
            Some("a")
        );
    }
}
