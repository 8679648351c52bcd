//! Deletion with the garbage collector's cascade: deleting an object deletes, at once, every
//! object whose `ownerReferences` name its uid, and theirs in turn (`Background` and
//! `Foreground` alike, since nothing here takes time); `Orphan` leaves them, without the
//! reference. The policy comes from the query or the `DeleteOptions` body.

use super::cluster::Cluster;
use super::resources::{self, ResourceType};
use super::status::Reply;
use super::store::{Store, type_key};
use serde_json::Value;

/// `propagationPolicy`, from the query or else the body.
pub fn propagation(query: &[(String, String)], body: &[u8]) -> Option<String> {
    query
        .iter()
        .find(|(k, _)| k == "propagationPolicy")
        .map(|(_, v)| v.clone())
        .or_else(|| {
            serde_json::from_slice::<Value>(body)
                .ok()?
                .get("propagationPolicy")?
                .as_str()
                .map(str::to_string)
        })
}

/// The type stored under `key` (`group/plural`).
fn type_of(key: &str) -> Option<&'static ResourceType> {
    resources::TYPES.iter().find(|t| type_key(t) == key)
}

/// Deletes the object and (unless `Orphan`) everything it owns; returns the object.
pub fn delete(
    store: &mut Store,
    cluster: &mut Cluster,
    rt: &ResourceType,
    ns: &str,
    name: &str,
    policy: Option<&str>,
) -> Result<Value, Reply> {
    let removed = store.delete(rt, ns, name)?;
    cluster.forget(&(type_key(rt), ns.to_string(), name.to_string()));
    let mut owners = vec![
        removed["metadata"]["uid"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    ];
    while let Some(uid) = owners.pop() {
        if uid.is_empty() {
            continue;
        }
        for key in store.owned_by(&uid) {
            if policy == Some("Orphan") {
                if let Some(t) = type_of(&key.0)
                    && let Ok(mut obj) = store.get(t, &key.1, &key.2)
                {
                    if let Some(refs) = obj["metadata"]["ownerReferences"].as_array_mut() {
                        refs.retain(|r| r["uid"] != uid.as_str());
                    }
                    let _ = store.replace(t, &key.1, obj);
                }
                continue;
            }
            if let Some(dependent) = store.remove(&key) {
                cluster.forget(&key);
                if let Some(u) = dependent["metadata"]["uid"].as_str() {
                    owners.push(u.to_string());
                }
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn owned_objects_go_with_their_owner() {
        let find = |g, p| resources::find(g, "v1", p).unwrap();
        let (deploy, svc, pod, cm) = (
            find("apps", "deployments"),
            find("", "services"),
            find("", "pods"),
            find("", "configmaps"),
        );
        let mut s = Store::default();
        let mut c = Cluster::default();
        let d = s
            .create(deploy, "n", json!({"metadata": {"name": "m"}}))
            .unwrap();
        let owner = json!([{"apiVersion": "apps/v1", "kind": "Deployment", "name": "m", "uid": d["metadata"]["uid"]}]);
        let sv = s
            .create(
                svc,
                "n",
                json!({"metadata": {"name": "m", "ownerReferences": owner}}),
            )
            .unwrap();
        let p = s
            .create(
                pod,
                "n",
                json!({"metadata": {"name": "m-1", "ownerReferences": owner}}),
            )
            .unwrap();
        // Owned by the service in turn: goes too.
        let by_svc = json!([{"apiVersion": "v1", "kind": "Service", "name": "m", "uid": sv["metadata"]["uid"]}]);
        s.create(
            cm,
            "n",
            json!({"metadata": {"name": "deep", "ownerReferences": by_svc}}),
        )
        .unwrap();
        s.create(cm, "n", json!({"metadata": {"name": "free"}}))
            .unwrap();
        delete(&mut s, &mut c, deploy, "n", "m", Some("Background")).unwrap();
        assert_eq!(s.get(svc, "n", "m").unwrap_err().code, 404);
        assert_eq!(s.get(pod, "n", "m-1").unwrap_err().code, 404);
        assert_eq!(s.get(cm, "n", "deep").unwrap_err().code, 404);
        assert!(s.get(cm, "n", "free").is_ok());
        // Orphan: the dependent stays, without the reference.
        let d = s
            .create(deploy, "n", json!({"metadata": {"name": "o"}}))
            .unwrap();
        let owner = json!([{"apiVersion": "apps/v1", "kind": "Deployment", "name": "o", "uid": d["metadata"]["uid"]}]);
        s.create(
            pod,
            "n",
            json!({"metadata": {"name": "o-1", "ownerReferences": owner}}),
        )
        .unwrap();
        delete(&mut s, &mut c, deploy, "n", "o", Some("Orphan")).unwrap();
        assert_eq!(
            s.get(pod, "n", "o-1").unwrap()["metadata"]["ownerReferences"],
            json!([])
        );
        assert_eq!(p["metadata"]["name"], "m-1");
        assert_eq!(
            propagation(&[], br#"{"propagationPolicy": "Orphan"}"#).as_deref(),
            Some("Orphan")
        );
        assert_eq!(
            propagation(&[("propagationPolicy".into(), "Foreground".into())], b"").as_deref(),
            Some("Foreground")
        );
    }
}
