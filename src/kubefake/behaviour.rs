//! What a pod's container does, read from its environment as the project's test container
//! reads it ([`crate::runtime::fake::Behaviour::from_env`], so kube-fake's pods and the
//! in-memory runtime cannot drift apart): the env list is resolved the way the kubelet does
//! (literal `value`s, `valueFrom.secretKeyRef` from the Secret's base64 `data`), then handed
//! over unchanged. Pure but for [`of_pod`], which looks the Secrets up in the store.

use super::resources;
use super::store::Store;
use crate::runtime::fake::Behaviour;
use crate::runtime::plan::Env;
use base64::Engine;
use serde_json::Value;

/// The value of key `key` in a Secret object (`data`, base64; else `stringData`).
fn secret_value(secret: &Value, key: &str) -> Option<String> {
    if let Some(b64) = secret["data"][key].as_str() {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .ok()?;
        return String::from_utf8(bytes).ok();
    }
    secret["stringData"][key].as_str().map(str::to_string)
}

/// A container's environment, `secret(name)` giving the Secret called `name` in the pod's
/// namespace. A reference the kubelet could not resolve leaves the variable out (the real
/// kubelet would not start the container; here it just runs without it).
pub fn resolve_env(container: &Value, secret: impl Fn(&str) -> Option<Value>) -> Env {
    let mut env = Env::default();
    for var in container["env"].as_array().into_iter().flatten() {
        let Some(name) = var["name"].as_str() else {
            continue;
        };
        if let Some(v) = var["value"].as_str() {
            env.set(name, v);
            continue;
        }
        let reference = &var["valueFrom"]["secretKeyRef"];
        let (Some(s), Some(k)) = (reference["name"].as_str(), reference["key"].as_str()) else {
            continue;
        };
        if let Some(v) = secret(s).and_then(|obj| secret_value(&obj, k)) {
            env.set(name, v);
        }
    }
    env
}

/// The environment of `container` in namespace `ns`, with the Secrets from `store`.
pub fn env_of(store: &Store, ns: &str, container: &Value) -> Env {
    let secrets = resources::find("", "v1", "secrets");
    resolve_env(container, |name| {
        secrets.and_then(|rt| store.get(rt, ns, name).ok())
    })
}

/// How each of a pod's containers behaves, in order.
pub fn of_pod(store: &Store, pod: &Value) -> Vec<Behaviour> {
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or_default();
    pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| Behaviour::from_env(&env_of(store, ns, c)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    fn secrets(name: &str) -> Option<Value> {
        // "tok-1" and "7", base64.
        (name == "m-env").then(|| json!({"data": {"api_token": "dG9rLTE=", "EXIT": "Nw=="}}))
    }

    #[test]
    fn literals_and_secret_references_resolve() {
        let c = json!({"env": [
            {"name": "DSDL_TEST_EXIT_AFTER", "value": "1"},
            {"name": "DSDL_TEST_EXIT_CODE", "valueFrom": {"secretKeyRef": {"name": "m-env", "key": "EXIT"}}},
            {"name": "api_token", "valueFrom": {"secretKeyRef": {"name": "m-env", "key": "api_token"}}},
            {"name": "gone", "valueFrom": {"secretKeyRef": {"name": "other", "key": "x"}}},
            {"name": "nokey", "valueFrom": {"secretKeyRef": {"name": "m-env", "key": "x"}}},
        ]});
        let env = resolve_env(&c, secrets);
        assert_eq!(env.get("api_token"), Some("tok-1"));
        assert_eq!(env.get("gone"), None);
        assert_eq!(env.get("nokey"), None);
        let b = Behaviour::from_env(&env);
        assert_eq!(b.exits, Some((Duration::from_secs(1), 7)));
        assert_eq!(b.ready_after, Some(0));
    }

    #[test]
    fn string_data_and_bad_base64() {
        let s = json!({"data": {"a": "%%%"}, "stringData": {"b": "plain"}});
        assert_eq!(secret_value(&s, "a"), None);
        assert_eq!(secret_value(&s, "b").as_deref(), Some("plain"));
        let c = json!({"env": [{"name": "DSDL_TEST_PORT", "value": "5001"}, {"value": "x"}]});
        let b = Behaviour::from_env(&resolve_env(&c, |_| None));
        assert_eq!(b.ready_after, None, "not on 5000: never answers");
    }
}
