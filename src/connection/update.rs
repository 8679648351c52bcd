//! The writes a save or a delete makes, computed from what is stored, without I/O.
//!
//! **Update semantics: replace.** A save makes the connection's non-secret settings exactly
//! what the request sent; a key left out (or sent empty) goes back to its shipped default
//! (`default/container_connections.conf`, else empty), as the AI Toolkit cleared keys absent
//! from a save and its UI leaves empty fields out. Secrets are the exception: a secret left
//! out, sent empty or sent as `default_token` keeps its stored value, because reads never
//! return it. Keys that are not settings of this type (legacy UI flags, the other type's keys)
//! are cleared, and a secret found in clear in a legacy stanza is moved into storage/passwords
//! (unless a new value replaces it) and cleared from the conf.
//!
//! **Delete semantics: reset.** The `[docker]` and `[kubernetes]` stanzas ship in `default/`,
//! so a delete puts every key of the stanza back to its shipped default (empty for
//! `connection_name`), and every secret of the type's realm is deleted.

use super::spec::{Lookup, Spec};
use super::validate::{SavePlan, canonical_key};
use crate::conffile::Stanza;
use crate::model::record;
use crate::names::ContainerType;
use crate::protocol::request::Secret;
use std::collections::BTreeSet;

/// What a save writes.
#[derive(Debug, Clone, PartialEq)]
pub struct SaveWrites {
    /// Keys to set on the stanza (one conf call); only keys whose value changes.
    pub conf: Vec<(String, String)>,
    /// Secrets to store (one call each), the request's new values and migrated legacy ones.
    pub secrets: Vec<(String, Secret)>,
    /// The type's secrets that have a value once the save is done.
    pub present_after: BTreeSet<String>,
    /// Secret keys moved from the conf into storage/passwords.
    pub migrated: Vec<String>,
}

/// Builds the writes of a save. `current` is the stored stanza as splunkd shows it (defaults
/// layered in), `defaults` the shipped stanza, `stored` the usernames of the type's realm.
pub fn build_save(
    spec: &Spec,
    plan: &SavePlan,
    current: &Stanza,
    defaults: &Stanza,
    stored: &BTreeSet<String>,
) -> SaveWrites {
    let ty = plan.container_type;
    let mut targets: Vec<(String, String)> = spec
        .keys_for(ty)
        .filter(|k| !k.is_secret())
        .map(|k| {
            let value = plan
                .setting(&k.name)
                .or_else(|| defaults.get(&k.name))
                .unwrap_or_default();
            (k.name.clone(), value.to_string())
        })
        .collect();

    let mut secrets: Vec<(String, Secret)> = plan.secrets.clone();
    let mut migrated = Vec::new();
    for (k, v) in &current.entries {
        if targets.iter().any(|(t, _)| t == k) {
            continue;
        }
        targets.push((k.clone(), String::new()));
        let canonical = canonical_key(k);
        let is_own_secret =
            matches!(spec.lookup(ty, canonical), Lookup::Known(key) if key.is_secret());
        let value = v.trim();
        if is_own_secret
            && !value.is_empty()
            && !stored.contains(canonical)
            && !secrets.iter().any(|(s, _)| s == canonical)
            && !is_password_hash(canonical, value)
        {
            secrets.push((canonical.to_string(), Secret::new(value)));
            migrated.push(canonical.to_string());
        }
    }

    let conf = changes(current, targets);
    let mut present_after: BTreeSet<String> = spec
        .secrets_for(ty)
        .filter(|k| stored.contains(&k.name))
        .map(|k| k.name.clone())
        .collect();
    present_after.extend(secrets.iter().map(|(k, _)| k.clone()));
    SaveWrites {
        conf,
        secrets,
        present_after,
        migrated,
    }
}

/// The keys a delete sets: every key of the stanza back to its shipped default, else empty.
pub fn build_reset(current: &Stanza, defaults: &Stanza) -> Vec<(String, String)> {
    let mut targets: Vec<(String, String)> = current
        .entries
        .iter()
        .map(|(k, _)| (k.clone(), defaults.get(k).unwrap_or_default().to_string()))
        .collect();
    if !targets.iter().any(|(k, _)| k == "connection_name") {
        targets.push(("connection_name".into(), String::new()));
    }
    changes(current, targets)
}

/// The model names of deployment records that run on `ty`: records (stanzas of
/// dsdl_container.conf other than `[default]`) whose `cluster` is the type and that name a
/// container ([`record::running_id`]).
pub fn running_records(ty: ContainerType, records: &[Stanza]) -> Vec<String> {
    records
        .iter()
        .filter(|r| r.name != record::DEFAULT_STANZA)
        .filter(|r| {
            r.get(record::key::CLUSTER)
                .is_some_and(|c| c.trim().eq_ignore_ascii_case(ty.as_str()))
                && record::running_id(r).is_some()
        })
        .map(|r| r.name.clone())
        .collect()
}

/// The targets whose value differs from `current` (a missing key counts as empty).
fn changes(current: &Stanza, targets: Vec<(String, String)>) -> Vec<(String, String)> {
    targets
        .into_iter()
        .filter(|(k, v)| current.get(k).unwrap_or_default() != v)
        .collect()
}

/// The AI Toolkit stored a Jupyter *hash* (`sha512:salt:hex`) in the conf, not the password;
/// moving it into storage/passwords would make the hash the password.
fn is_password_hash(key: &str, value: &str) -> bool {
    key == "jupyter_passwd"
        && ["sha512:", "sha256:", "sha1:", "argon2:"]
            .iter()
            .any(|p| value.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::spec::{shipped_defaults, shipped_stanza, spec};
    use crate::connection::validate::plan_save;
    use crate::protocol::fields::Fields;
    use serde_json::{Value, json};

    fn stanza(name: &str, pairs: &[(&str, &str)]) -> Stanza {
        Stanza::from_pairs(name, pairs)
    }

    fn plan(v: Value) -> SavePlan {
        let Value::Object(m) = v else { unreachable!() };
        plan_save(spec().unwrap(), &Fields(m), false).unwrap()
    }

    fn set(keys: &[&str]) -> BTreeSet<String> {
        keys.iter().map(|k| k.to_string()).collect()
    }

    fn get<'a>(pairs: &'a [(String, String)], k: &str) -> Option<&'a str> {
        pairs.iter().find(|(x, _)| x == k).map(|(_, v)| v.as_str())
    }

    fn defaults(ty: ContainerType) -> Stanza {
        shipped_stanza(shipped_defaults().unwrap(), ty)
    }

    #[test]
    fn a_first_save_writes_settings_and_secrets_but_no_secret_in_the_conf() {
        let ty = ContainerType::Docker;
        let p = plan(json!({"container_type": "docker", "connection_name": "d",
            "docker_url": "unix:///var/run/docker.sock", "api_token": "T-1",
            "docker_client_key": "default_token", "allow_pull": "no"}));
        let w = build_save(
            spec().unwrap(),
            &p,
            &defaults(ty),
            &defaults(ty),
            &BTreeSet::new(),
        );
        assert_eq!(get(&w.conf, "connection_name"), Some("d"));
        assert_eq!(
            get(&w.conf, "docker_url"),
            Some("unix:///var/run/docker.sock")
        );
        assert_eq!(get(&w.conf, "allow_pull"), Some("false"));
        assert_eq!(
            get(&w.conf, "tls_skip_verify"),
            None,
            "unchanged default not rewritten"
        );
        assert!(
            w.conf
                .iter()
                .all(|(k, _)| !spec().unwrap().get(k).is_some_and(|s| s.is_secret()))
        );
        assert!(w.conf.iter().all(|(_, v)| v != "T-1"));
        assert_eq!(w.secrets.len(), 1);
        assert_eq!(w.secrets[0].0, "api_token");
        assert_eq!(w.present_after, set(&["api_token"]));
        assert!(w.migrated.is_empty());
    }

    #[test]
    fn an_update_replaces_settings_and_keeps_secrets() {
        let ty = ContainerType::Kubernetes;
        let current = stanza(
            "kubernetes",
            &[
                ("connection_name", "k"),
                ("auth_mode", "user-token"),
                ("cluster_url", "https://old:6443"),
                ("namespace", "dsdl"),
                ("hpa_enabled", "true"),
                ("allow_pull", "false"),
                ("is_kubernetes", "True"),
                ("docker_url", "unix://stray"),
            ],
        );
        let p = plan(
            json!({"container_type": "kubernetes", "connection_name": "k",
            "auth_mode": "user-token", "cluster_url": "https://new:6443",
            "user_token": "default_token", "description": ""}),
        );
        let w = build_save(
            spec().unwrap(),
            &p,
            &current,
            &defaults(ty),
            &set(&["user_token", "api_token"]),
        );
        assert_eq!(get(&w.conf, "cluster_url"), Some("https://new:6443"));
        assert_eq!(get(&w.conf, "namespace"), Some(""), "absent key cleared");
        assert_eq!(
            get(&w.conf, "hpa_enabled"),
            Some("false"),
            "absent key back to its shipped default"
        );
        assert_eq!(get(&w.conf, "allow_pull"), Some("true"));
        assert_eq!(
            get(&w.conf, "is_kubernetes"),
            Some(""),
            "legacy UI flag cleared"
        );
        assert_eq!(
            get(&w.conf, "docker_url"),
            Some(""),
            "other type's key cleared"
        );
        assert_eq!(get(&w.conf, "auth_mode"), None, "unchanged");
        assert_eq!(
            get(&w.conf, "description"),
            None,
            "absent and empty: nothing to write"
        );
        assert!(w.secrets.is_empty(), "default_token keeps the stored value");
        assert_eq!(w.present_after, set(&["api_token", "user_token"]));
    }

    #[test]
    fn legacy_plaintext_secrets_move_into_storage() {
        let ty = ContainerType::Kubernetes;
        let current = stanza(
            "kubernetes",
            &[
                ("connection_name", "k"),
                ("auth_mode", "service-account"),
                ("service_account_token", "legacy-sa"),
                ("aws_access_key_id", "legacy-akia"),
                ("splunk_hec_token", "legacy-hec"),
                ("jupyter_passwd", "sha512:abc:def"),
                ("jupyter_password", "legacy-jp"),
            ],
        );
        let p = plan(
            json!({"container_type": "kubernetes", "connection_name": "k",
            "auth_mode": "service-account", "splunk_hec_token": "new-hec"}),
        );
        let w = build_save(
            spec().unwrap(),
            &p,
            &current,
            &defaults(ty),
            &set(&["aws_access_key_id"]),
        );
        for k in [
            "service_account_token",
            "aws_access_key_id",
            "splunk_hec_token",
            "jupyter_passwd",
            "jupyter_password",
        ] {
            assert_eq!(get(&w.conf, k), Some(""), "{k} cleared from the conf");
        }
        let secrets: Vec<(&str, &str)> = w
            .secrets
            .iter()
            .map(|(k, v)| (k.as_str(), v.expose()))
            .collect();
        assert_eq!(
            secrets,
            [
                ("splunk_hec_token", "new-hec"),
                ("service_account_token", "legacy-sa"),
                ("jupyter_passwd", "legacy-jp")
            ],
            "the request's value wins, a stored one is kept, a hash is not a password"
        );
        assert_eq!(w.migrated, ["service_account_token", "jupyter_passwd"]);
        assert!(w.present_after.contains("aws_access_key_id"));
    }

    #[test]
    fn a_reset_returns_every_key_to_its_shipped_default() {
        let current = stanza(
            "kubernetes",
            &[
                ("connection_name", "k"),
                ("hpa_enabled", "true"),
                ("allow_pull", "true"),
                ("namespace", "dsdl"),
                ("is_kubernetes", "True"),
                ("min_cpu", ""),
            ],
        );
        let r = build_reset(&current, &defaults(ContainerType::Kubernetes));
        assert_eq!(
            r,
            [
                ("connection_name".to_string(), String::new()),
                ("hpa_enabled".to_string(), "false".to_string()),
                ("namespace".to_string(), String::new()),
                ("is_kubernetes".to_string(), String::new()),
            ]
        );
        assert!(
            build_reset(
                &stanza("docker", &[("connection_name", "")]),
                &defaults(ContainerType::Docker)
            )
            .is_empty()
        );
    }

    #[test]
    fn running_records_are_those_of_the_type_with_an_id() {
        let records = [
            stanza("m1", &[("cluster", "docker"), ("id", "abc")]),
            stanza("m2", &[("cluster", "docker"), ("id", " ")]),
            stanza("m3", &[("cluster", "kubernetes"), ("id", "m3")]),
            stanza("m4", &[("cluster", "Docker "), ("id", "def")]),
            stanza("m5", &[("id", "x")]),
            stanza("default", &[("cluster", "docker"), ("id", "x")]),
        ];
        assert_eq!(
            running_records(ContainerType::Docker, &records),
            ["m1", "m4"]
        );
        assert_eq!(running_records(ContainerType::Kubernetes, &records), ["m3"]);
        assert!(running_records(ContainerType::Docker, &[]).is_empty());
    }
}
