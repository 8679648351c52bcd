//! The fake's objects: (resource type, namespace, name) → JSON object, whatever the kind.
//! The store sets what the API server sets (`uid`, `resourceVersion` from one counter,
//! `creationTimestamp`, the namespace) and answers lists with a label selector. Kind-specific
//! behaviour belongs elsewhere (defaults in the type table, workloads in their own modules).

use super::resources::ResourceType;
use super::selector::Selector;
use super::status::{self, Reply};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// (`group/plural`, namespace or "", name).
pub type Key = (String, String, String);

/// Every object, and the revision counter.
#[derive(Debug, Default)]
pub struct Store {
    objects: BTreeMap<Key, Value>,
    revision: u64,
}

/// `group/plural`, the store's name for a type.
pub fn type_key(rt: &ResourceType) -> String {
    format!("{}/{}", rt.group, rt.plural)
}

/// Whether `name` is a DNS-1123 subdomain (what most kinds require of a name).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !part.starts_with('-')
                && !part.ends_with('-')
        })
}

/// A random RFC 4122 version-4 UUID, as the API server gives `metadata.uid`.
fn new_uid() -> String {
    let mut b = [0u8; 16];
    if getrandom::fill(&mut b).is_err() {
        // Not a secret: a clock-derived fallback is enough to keep uids distinct.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        b = nanos.to_le_bytes();
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Five lower-case alphanumerics for `generateName`.
pub fn name_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut b = [0u8; 5];
    let _ = getrandom::fill(&mut b);
    b.iter()
        .map(|x| ALPHABET[*x as usize % ALPHABET.len()] as char)
        .collect()
}

impl Store {
    /// The current revision (a list's `metadata.resourceVersion`).
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Stores a new object of type `rt` in `ns` ("" for cluster-scoped types): 400 for a
    /// body that is not this type's object, 422 for a bad name, 409 when the name is taken.
    pub fn create(&mut self, rt: &ResourceType, ns: &str, mut obj: Value) -> Result<Value, Reply> {
        // A cluster-scoped object is filed under no namespace, whatever the caller passed.
        let ns = if rt.namespaced { ns } else { "" };
        if !obj.is_object() {
            return Err(status::bad_request("the body is not a JSON object"));
        }
        let api_version = rt.api_version();
        for (field, want) in [("apiVersion", api_version.as_str()), ("kind", rt.kind)] {
            match obj.get(field).and_then(Value::as_str) {
                None => obj[field] = json!(want),
                Some(got) if got == want => {}
                Some(got) => {
                    return Err(status::bad_request(&format!(
                        "the {field} of the provided object ({got}) does not match the \
                         request ({want})"
                    )));
                }
            }
        }
        if !obj["metadata"].is_object() {
            obj["metadata"] = json!({});
        }
        let meta = &mut obj["metadata"];
        let mut name = meta["name"].as_str().unwrap_or("").to_string();
        if name.is_empty()
            && let Some(prefix) = meta["generateName"].as_str()
        {
            name = format!("{prefix}{}", name_suffix());
            meta["name"] = json!(name);
        }
        if !valid_name(&name) {
            return Err(status::invalid(
                rt.group,
                rt.plural,
                &name,
                "metadata.name: Invalid value: a lowercase RFC 1123 subdomain must consist of \
                 lower case alphanumeric characters, '-' or '.'",
            ));
        }
        if rt.namespaced {
            match meta["namespace"].as_str() {
                Some(given) if !given.is_empty() && given != ns => {
                    return Err(status::bad_request(
                        "the namespace of the provided object does not match the namespace \
                         sent on the request",
                    ));
                }
                _ => meta["namespace"] = json!(ns),
            }
        } else if let Some(m) = meta.as_object_mut() {
            m.remove("namespace");
        }
        let key = (type_key(rt), ns.to_string(), name.clone());
        if self.objects.contains_key(&key) {
            return Err(status::already_exists(rt.group, rt.plural, &name));
        }
        self.revision += 1;
        meta["uid"] = json!(new_uid());
        meta["resourceVersion"] = json!(self.revision.to_string());
        meta["creationTimestamp"] = json!(
            jiff::Timestamp::now()
                .strftime("%Y-%m-%dT%H:%M:%SZ")
                .to_string()
        );
        (rt.defaults)(&mut obj);
        self.objects.insert(key, obj.clone());
        Ok(obj)
    }

    /// The object, or a 404 Status.
    pub fn get(&self, rt: &ResourceType, ns: &str, name: &str) -> Result<Value, Reply> {
        self.objects
            .get(&(type_key(rt), ns.to_string(), name.to_string()))
            .cloned()
            .ok_or_else(|| status::not_found(rt.plural, name))
    }

    /// The `<Kind>List` of the objects of `rt` in `ns` (every namespace when `None`) whose
    /// labels match `selector`, in name order.
    pub fn list(&self, rt: &ResourceType, ns: Option<&str>, selector: &Selector) -> Value {
        let kind = type_key(rt);
        let items: Vec<Value> = self
            .objects
            .iter()
            .filter(|((k, n, _), _)| *k == kind && ns.is_none_or(|ns| ns == n))
            .filter(|(_, obj)| selector.matches(&obj["metadata"]["labels"]))
            .map(|(_, obj)| obj.clone())
            .collect();
        json!({
            "kind": format!("{}List", rt.kind),
            "apiVersion": rt.api_version(),
            "metadata": {"resourceVersion": self.revision.to_string()},
            "items": items,
        })
    }

    /// Writes a new version of an existing object (a 404 Status when there is none): the
    /// server's metadata (`uid`, `creationTimestamp`, `generation`) is kept, `generation`
    /// goes up when `spec` changed, `resourceVersion` always does, and the type's defaults
    /// fill gaps again.
    pub fn replace(&mut self, rt: &ResourceType, ns: &str, mut obj: Value) -> Result<Value, Reply> {
        let name = obj["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let key = (type_key(rt), ns.to_string(), name.clone());
        let old = self
            .objects
            .get(&key)
            .ok_or_else(|| status::not_found(rt.plural, &name))?;
        obj["apiVersion"] = json!(rt.api_version());
        obj["kind"] = json!(rt.kind);
        for field in ["uid", "creationTimestamp", "generation", "namespace"] {
            if !old["metadata"][field].is_null() {
                obj["metadata"][field] = old["metadata"][field].clone();
            }
        }
        if let Some(g) = old["metadata"]["generation"].as_u64()
            && old["spec"] != obj["spec"]
        {
            obj["metadata"]["generation"] = json!(g + 1);
        }
        self.revision += 1;
        obj["metadata"]["resourceVersion"] = json!(self.revision.to_string());
        (rt.defaults)(&mut obj);
        self.objects.insert(key, obj.clone());
        Ok(obj)
    }

    /// Writes the object only when it differs from the stored one (the controller's status
    /// updates, so that reading does not move `resourceVersion` by itself).
    pub fn replace_if_changed(&mut self, rt: &ResourceType, ns: &str, obj: Value) {
        let name = obj["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let same = self
            .objects
            .get(&(type_key(rt), ns.to_string(), name))
            .is_some_and(|old| *old == obj);
        if !same {
            let _ = self.replace(rt, ns, obj);
        }
    }

    /// The objects of `rt` in `ns` (every namespace when `None`), in name order.
    pub fn objects(&self, rt: &ResourceType, ns: Option<&str>) -> Vec<Value> {
        let kind = type_key(rt);
        self.objects
            .iter()
            .filter(|((k, n, _), _)| *k == kind && ns.is_none_or(|ns| ns == n))
            .map(|(_, obj)| obj.clone())
            .collect()
    }

    /// The keys of the objects whose `ownerReferences` name `uid`.
    pub fn owned_by(&self, uid: &str) -> Vec<Key> {
        self.objects
            .iter()
            .filter(|(_, obj)| {
                obj["metadata"]["ownerReferences"]
                    .as_array()
                    .is_some_and(|refs| refs.iter().any(|r| r["uid"] == uid))
            })
            .map(|(key, _)| key.clone())
            .collect()
    }

    /// Removes the object at `key`, if there is one.
    pub fn remove(&mut self, key: &Key) -> Option<Value> {
        let removed = self.objects.remove(key)?;
        self.revision += 1;
        Some(removed)
    }

    /// Removes the object and returns it, or a 404 Status.
    pub fn delete(&mut self, rt: &ResourceType, ns: &str, name: &str) -> Result<Value, Reply> {
        let removed = self
            .objects
            .remove(&(type_key(rt), ns.to_string(), name.to_string()))
            .ok_or_else(|| status::not_found(rt.plural, name))?;
        self.revision += 1;
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::super::resources::find;
    use super::super::selector;
    use super::*;

    #[test]
    fn create_get_list_delete() {
        let cm = find("", "v1", "configmaps").unwrap();
        let mut s = Store::default();
        let a = s
            .create(
                cm,
                "ns1",
                json!({"metadata": {"name": "a", "labels": {"app": "x"}}, "data": {"k": "v"}}),
            )
            .unwrap();
        assert_eq!(a["kind"], "ConfigMap");
        assert_eq!(a["apiVersion"], "v1");
        assert_eq!(a["metadata"]["namespace"], "ns1");
        assert_eq!(a["metadata"]["resourceVersion"], "1");
        assert_eq!(a["metadata"]["uid"].as_str().unwrap().len(), 36);
        assert!(
            a["metadata"]["creationTimestamp"]
                .as_str()
                .unwrap()
                .ends_with('Z')
        );
        s.create(cm, "ns1", json!({"metadata": {"name": "b"}}))
            .unwrap();
        s.create(cm, "ns2", json!({"metadata": {"name": "a"}}))
            .unwrap();
        let dup = s
            .create(cm, "ns1", json!({"metadata": {"name": "a"}}))
            .unwrap_err();
        assert_eq!(
            (dup.code, dup.body["reason"].as_str()),
            (409, Some("AlreadyExists"))
        );
        let all = selector::Selector::default();
        assert_eq!(
            s.list(cm, Some("ns1"), &all)["items"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        assert_eq!(s.list(cm, None, &all)["items"].as_array().unwrap().len(), 3);
        let by_label = s.list(cm, None, &selector::parse("app=x").unwrap());
        assert_eq!(by_label["kind"], "ConfigMapList");
        assert_eq!(by_label["items"].as_array().unwrap().len(), 1);
        assert_eq!(by_label["metadata"]["resourceVersion"], "3");
        assert_eq!(s.get(cm, "ns1", "a").unwrap(), a);
        assert_eq!(s.get(cm, "ns3", "a").unwrap_err().code, 404);
        s.delete(cm, "ns1", "a").unwrap();
        assert_eq!(s.delete(cm, "ns1", "a").unwrap_err().code, 404);
        assert_eq!(s.revision(), 4);
    }

    #[test]
    fn checks_what_the_server_checks() {
        let cm = find("", "v1", "configmaps").unwrap();
        let ns = find("", "v1", "namespaces").unwrap();
        let mut s = Store::default();
        let code = |r: Result<Value, Reply>| r.unwrap_err().code;
        assert_eq!(
            code(s.create(cm, "n", json!({"metadata": {"name": "Bad_Name"}}))),
            422
        );
        assert_eq!(
            code(s.create(
                cm,
                "n",
                json!({"kind": "Secret", "metadata": {"name": "a"}})
            )),
            400
        );
        assert_eq!(
            code(s.create(
                cm,
                "n",
                json!({"metadata": {"name": "a", "namespace": "other"}})
            )),
            400
        );
        assert_eq!(code(s.create(cm, "n", json!([]))), 400);
        let g = s
            .create(cm, "n", json!({"metadata": {"generateName": "run-"}}))
            .unwrap();
        assert!(g["metadata"]["name"].as_str().unwrap().starts_with("run-"));
        let n = s
            .create(ns, "ignored", json!({"metadata": {"name": "dsdl"}}))
            .unwrap();
        assert_eq!(s.get(ns, "", "dsdl").unwrap(), n);
        assert_eq!(n["status"]["phase"], "Active");
        assert_eq!(
            n["metadata"]["labels"]["kubernetes.io/metadata.name"],
            "dsdl"
        );
        assert!(n["metadata"].get("namespace").is_none());
    }
}
