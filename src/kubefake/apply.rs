//! Writes by patch and who owns which field: server-side apply (`application/apply-patch+yaml`,
//! read as JSON), JSON merge patches (RFC 7386), and `metadata.managedFields` kept per
//! manager. Ownership is simplified to field paths two levels deep (`.spec.replicas`,
//! `.spec.template`, `.data.key`, `.metadata.ownerReferences`), three under
//! `metadata.labels`/`annotations` (`.metadata.labels.app`): applying a different value to a path another manager owns is
//! a conflict unless forced, which takes the path over; an `Update` (create, merge patch)
//! takes its paths over silently, as on a real server. A path a manager applied before and
//! no longer applies is removed when nobody else owns it. Pure.

use super::status::{self, Reply};
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;

/// A field path, one key per level.
pub type Path = Vec<String>;

/// How a `PATCH` body is to be read (its `Content-Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    /// `application/apply-patch+yaml`: server-side apply.
    Apply,
    /// `application/merge-patch+json`, and the strategic merge patch read as one (the
    /// difference, merging lists by key, is not modelled).
    Merge,
}

/// The patch kind of `content_type`; the 415 a server gives for one it does not take.
pub fn patch_kind(content_type: &str) -> Result<PatchKind, Reply> {
    let media = content_type.split(';').next().unwrap_or("").trim();
    match media {
        "application/apply-patch+yaml" | "application/apply-patch+cbor" => Ok(PatchKind::Apply),
        "application/merge-patch+json" | "application/strategic-merge-patch+json" => {
            Ok(PatchKind::Merge)
        }
        other => Err(status::failure(
            415,
            "UnsupportedMediaType",
            &format!(
                "the body of the request was in an unknown format - accepted media types \
                 include: application/merge-patch+json, application/apply-patch+yaml \
                 (got {other:?})"
            ),
            None,
        )),
    }
}

/// Reads a patch body: JSON only (valid YAML too, and what kube and kubectl send); 415 for a
/// YAML document that is not JSON, which the fake does not parse.
pub fn read_body(body: &[u8]) -> Result<Value, Reply> {
    match serde_json::from_slice::<Value>(body) {
        Ok(v) if v.is_object() => Ok(v),
        Ok(_) => Err(status::bad_request("the patch is not a JSON object")),
        Err(_) => Err(status::failure(
            415,
            "UnsupportedMediaType",
            "the fake API server reads apply patches written as JSON only (a YAML document that \
             is not JSON is valid for a real server): send the object as JSON",
            None,
        )),
    }
}

/// RFC 7386: objects merge key by key, `null` removes, anything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Some(fields) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    if let Some(t) = target.as_object_mut() {
        for (key, value) in fields {
            if value.is_null() {
                t.remove(key);
            } else {
                merge_patch(t.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

/// The paths an object sets (see the module's note on depth). `apiVersion`, `kind`,
/// `status` and the server's metadata are nobody's.
pub fn field_paths(obj: &Value) -> BTreeSet<Path> {
    let mut out = BTreeSet::new();
    let Some(top) = obj.as_object() else {
        return out;
    };
    for (key, value) in top {
        match key.as_str() {
            "apiVersion" | "kind" | "status" => {}
            "metadata" => {
                for map in ["labels", "annotations"] {
                    for k in value[map].as_object().into_iter().flat_map(Map::keys) {
                        out.insert(vec!["metadata".into(), map.into(), k.clone()]);
                    }
                }
                for list in ["ownerReferences", "finalizers"] {
                    if !value[list].is_null() {
                        out.insert(vec!["metadata".into(), list.into()]);
                    }
                }
            }
            _ => match value.as_object() {
                Some(inner) if !inner.is_empty() => {
                    for k in inner.keys() {
                        out.insert(vec![key.clone(), k.clone()]);
                    }
                }
                _ => {
                    out.insert(vec![key.clone()]);
                }
            },
        }
    }
    out
}

/// `.spec.replicas`, as the API server prints a path.
pub fn render(path: &Path) -> String {
    path.iter().map(|k| format!(".{k}")).collect()
}

/// The value at `path`, if any.
fn value_at<'a>(obj: &'a Value, path: &Path) -> Option<&'a Value> {
    path.iter().try_fold(obj, |at, key| at.get(key))
}

/// Sets the value at `path`, making the objects on the way.
fn set_at(obj: &mut Value, path: &Path, value: Value) {
    let mut at = obj;
    for key in path {
        if !at.is_object() {
            *at = json!({});
        }
        at = &mut at[key.as_str()];
    }
    *at = value;
}

/// Removes the value at `path`.
fn remove_at(obj: &mut Value, path: &Path) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut at = obj;
    for key in parents {
        match at.get_mut(key) {
            Some(next) => at = next,
            None => return,
        }
    }
    if let Some(map) = at.as_object_mut() {
        map.remove(last);
    }
}

/// The `fieldsV1` of a path set: `{"f:spec": {"f:replicas": {}}}`.
pub fn fields_v1(paths: &BTreeSet<Path>) -> Value {
    let mut out = json!({});
    for path in paths {
        let keys: Path = path.iter().map(|k| format!("f:{k}")).collect();
        let mut at = &mut out;
        for key in &keys {
            at = &mut at[key.as_str()];
            if at.is_null() {
                *at = json!({});
            }
        }
    }
    out
}

/// The paths of a `fieldsV1` (its leaves).
pub fn paths_of(fields: &Value) -> BTreeSet<Path> {
    fn walk(at: &Value, prefix: &mut Path, out: &mut BTreeSet<Path>) {
        let children: Vec<(&String, &Value)> = at
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| k.starts_with("f:"))
            .collect();
        if children.is_empty() {
            if !prefix.is_empty() {
                out.insert(prefix.clone());
            }
            return;
        }
        for (key, value) in children {
            prefix.push(key[2..].to_string());
            walk(value, prefix, out);
            prefix.pop();
        }
    }
    let mut out = BTreeSet::new();
    walk(fields, &mut Vec::new(), &mut out);
    out
}

/// One `managedFields` entry, read.
#[derive(Debug, Clone, PartialEq)]
pub struct Owner {
    /// `fieldManager`.
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: String,
    /// The API version it wrote with.
    pub api_version: String,
    /// What it owns.
    pub paths: BTreeSet<Path>,
    /// When it last wrote.
    pub time: String,
}

/// The owners an object records.
pub fn owners(obj: &Value) -> Vec<Owner> {
    obj["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| Owner {
            manager: e["manager"].as_str().unwrap_or_default().to_string(),
            operation: e["operation"].as_str().unwrap_or("Update").to_string(),
            api_version: e["apiVersion"].as_str().unwrap_or_default().to_string(),
            paths: paths_of(&e["fieldsV1"]),
            time: e["time"].as_str().unwrap_or_default().to_string(),
        })
        .collect()
}

/// Writes `owners` back as `metadata.managedFields` (none: the field goes).
fn set_owners(obj: &mut Value, owners: &[Owner]) {
    let entries: Vec<Value> = owners
        .iter()
        .filter(|o| !o.paths.is_empty())
        .map(|o| {
            json!({
                "manager": o.manager,
                "operation": o.operation,
                "apiVersion": o.api_version,
                "time": o.time,
                "fieldsType": "FieldsV1",
                "fieldsV1": fields_v1(&o.paths),
            })
        })
        .collect();
    if entries.is_empty() {
        if let Some(meta) = obj["metadata"].as_object_mut() {
            meta.remove("managedFields");
        }
    } else {
        obj["metadata"]["managedFields"] = Value::Array(entries);
    }
}

/// Whether two paths overlap (one is the other or lies under it).
fn overlaps(a: &Path, b: &Path) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// One field another manager owns with a different value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The other manager.
    pub manager: String,
    /// Its operation (`Update` conflicts name the API version, as the server's do).
    pub using: Option<String>,
    /// The field.
    pub path: Path,
}

/// The conflicts of `manager` applying `applied` to `live`.
pub fn conflicts(live: &Value, applied: &Value, manager: &str) -> Vec<Conflict> {
    let mine = field_paths(applied);
    let mut out = Vec::new();
    for owner in owners(live).iter().filter(|o| o.manager != manager) {
        for path in &owner.paths {
            let clash = mine
                .iter()
                .any(|p| overlaps(p, path) && value_at(applied, p) != value_at(live, p));
            if clash {
                out.push(Conflict {
                    manager: owner.manager.clone(),
                    using: (owner.operation == "Update").then(|| owner.api_version.clone()),
                    path: path.clone(),
                });
            }
        }
    }
    out
}

/// The 409 the API server answers for `conflicts`.
pub fn conflict_reply(conflicts: &[Conflict]) -> Reply {
    let describe = |c: &Conflict| match &c.using {
        Some(v) => format!(
            "conflict with \"{}\" using {v}: {}",
            c.manager,
            render(&c.path)
        ),
        None => format!("conflict with \"{}\": {}", c.manager, render(&c.path)),
    };
    let n = conflicts.len();
    let message = if n == 1 {
        format!("Apply failed with 1 conflict: {}", describe(&conflicts[0]))
    } else {
        let lines: Vec<String> = conflicts.iter().map(describe).collect();
        format!("Apply failed with {n} conflicts: {}", lines.join("\n"))
    };
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|c| {
            json!({"reason": "FieldManagerConflict", "message": format!("conflict with \"{}\"", c.manager), "field": render(&c.path)})
        })
        .collect();
    let mut reply = status::conflict(&message);
    reply.body["details"] = json!({"causes": causes});
    reply
}

/// What one write changes hands: `manager` now owns `paths` through `operation`; with
/// `take`, nobody else keeps them.
fn own(
    owners: &mut Vec<Owner>,
    manager: &str,
    operation: &str,
    api_version: &str,
    paths: BTreeSet<Path>,
    take: bool,
    now: &str,
) {
    if take {
        for o in owners.iter_mut() {
            if o.manager != manager || o.operation != operation {
                o.paths.retain(|p| !paths.iter().any(|q| overlaps(p, q)));
            }
        }
    }
    match owners
        .iter_mut()
        .find(|o| o.manager == manager && o.operation == operation)
    {
        Some(o) if operation == "Apply" => {
            o.paths = paths;
            o.time = now.to_string();
            o.api_version = api_version.to_string();
        }
        Some(o) => {
            o.paths.extend(paths);
            o.time = now.to_string();
        }
        None => owners.push(Owner {
            manager: manager.to_string(),
            operation: operation.to_string(),
            api_version: api_version.to_string(),
            paths,
            time: now.to_string(),
        }),
    }
    owners.retain(|o| !o.paths.is_empty());
}

/// The object after `manager` applies `applied` to `live` (`None`: it does not exist yet),
/// or the 409 of its conflicts when not `force`d. `now` is the entries' `time`.
pub fn apply(
    live: Option<&Value>,
    mut applied: Value,
    manager: &str,
    force: bool,
    now: &str,
) -> Result<Value, Reply> {
    if let Some(meta) = applied["metadata"].as_object_mut() {
        meta.remove("managedFields");
    }
    let api_version = applied["apiVersion"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mine = field_paths(&applied);
    let Some(live) = live else {
        let mut obj = applied;
        set_owners(
            &mut obj,
            &[Owner {
                manager: manager.to_string(),
                operation: "Apply".into(),
                api_version,
                paths: mine,
                time: now.to_string(),
            }],
        );
        return Ok(obj);
    };
    let found = conflicts(live, &applied, manager);
    if !found.is_empty() && !force {
        return Err(conflict_reply(&found));
    }
    let mut obj = live.clone();
    let mut owners = owners(live);
    // What this manager applied before and lets go of now goes, unless someone else owns it.
    let before: BTreeSet<Path> = owners
        .iter()
        .filter(|o| o.manager == manager && o.operation == "Apply")
        .flat_map(|o| o.paths.iter().cloned())
        .collect();
    for dropped in before.difference(&mine) {
        let shared = owners.iter().any(|o| {
            !(o.manager == manager && o.operation == "Apply") && o.paths.contains(dropped)
        });
        if !shared {
            remove_at(&mut obj, dropped);
        }
    }
    for path in &mine {
        if let Some(v) = value_at(&applied, path) {
            set_at(&mut obj, path, v.clone());
        }
    }
    for key in ["apiVersion", "kind"] {
        if let Some(v) = applied.get(key) {
            obj[key] = v.clone();
        }
    }
    // A forced apply takes the contested fields; equal values are shared.
    let taken: BTreeSet<Path> = found.iter().map(|c| c.path.clone()).collect();
    for o in owners.iter_mut().filter(|o| o.manager != manager) {
        o.paths.retain(|p| !taken.contains(p));
    }
    own(
        &mut owners,
        manager,
        "Apply",
        &api_version,
        mine,
        false,
        now,
    );
    set_owners(&mut obj, &owners);
    Ok(obj)
}

/// Records an `Update` by `manager` (a create, a merge patch) that set `paths` of `obj`:
/// the paths are its now, whoever had them.
pub fn record_update(
    obj: &mut Value,
    manager: &str,
    api_version: &str,
    paths: BTreeSet<Path>,
    now: &str,
) {
    let mut list = owners(obj);
    own(&mut list, manager, "Update", api_version, paths, true, now);
    set_owners(obj, &list);
}

/// The manager of a write without `fieldManager`: the user agent up to its first `/`, as
/// the API server derives it.
pub fn default_manager(user_agent: &str) -> String {
    let name = user_agent.split('/').next().unwrap_or("").trim();
    if name.is_empty() {
        "unknown".into()
    } else {
        name.chars().take(128).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deploy(replicas: u64, image: &str) -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "m", "labels": {"app": "m"}},
            "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"name": "c", "image": image}]}}},
        })
    }

    fn path(p: &str) -> Path {
        p.split('.').skip(1).map(str::to_string).collect()
    }

    #[test]
    fn paths_and_fields_v1_round_trip() {
        let paths = field_paths(&deploy(1, "i"));
        let want: BTreeSet<Path> = [
            path(".metadata.labels.app"),
            path(".spec.replicas"),
            path(".spec.template"),
        ]
        .into();
        assert_eq!(paths, want);
        let v1 = fields_v1(&paths);
        assert_eq!(v1["f:spec"]["f:replicas"], json!({}));
        assert_eq!(paths_of(&v1), paths);
        assert_eq!(render(&path(".spec.replicas")), ".spec.replicas");
    }

    #[test]
    fn another_managers_field_conflicts_unless_forced() {
        let live = apply(None, deploy(1, "i"), "dsdl-handler", false, "t0").unwrap();
        assert_eq!(live["metadata"]["managedFields"][0]["operation"], "Apply");
        assert_eq!(
            live["metadata"]["managedFields"][0]["manager"],
            "dsdl-handler"
        );
        // The same values: no conflict, the fields are shared.
        let shared = apply(Some(&live), deploy(1, "i"), "other", false, "t1").unwrap();
        assert_eq!(owners(&shared).len(), 2);
        // A different replica count from another manager.
        let err = apply(Some(&live), deploy(3, "i"), "other", false, "t1").unwrap_err();
        assert_eq!(err.code, 409);
        assert_eq!(err.body["reason"], "Conflict");
        assert_eq!(
            err.body["message"],
            "Apply failed with 1 conflict: conflict with \"dsdl-handler\": .spec.replicas"
        );
        assert_eq!(err.body["details"]["causes"][0]["field"], ".spec.replicas");
        // Forced: it takes the field over.
        let forced = apply(Some(&live), deploy(3, "i"), "other", true, "t2").unwrap();
        assert_eq!(forced["spec"]["replicas"], 3);
        let os = owners(&forced);
        let first = os.iter().find(|o| o.manager == "dsdl-handler").unwrap();
        assert!(!first.paths.contains(&path(".spec.replicas")));
        assert!(first.paths.contains(&path(".spec.template")));
        // The first manager now conflicts in turn; its own fields never do.
        let back = apply(Some(&forced), deploy(1, "i"), "dsdl-handler", false, "t3");
        assert_eq!(back.unwrap_err().code, 409);
        let mine = apply(Some(&live), deploy(2, "j"), "dsdl-handler", false, "t3").unwrap();
        assert_eq!(mine["spec"]["replicas"], 2);
    }

    #[test]
    fn update_managers_conflict_naming_their_version() {
        let mut live = deploy(1, "i");
        let paths = field_paths(&live);
        record_update(&mut live, "kubectl-edit", "apps/v1", paths, "t0");
        let err = apply(Some(&live), deploy(2, "i"), "dsdl-handler", false, "t1").unwrap_err();
        assert_eq!(
            err.body["message"],
            "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using apps/v1: \
             .spec.replicas"
        );
    }

    #[test]
    fn owner_references_are_applied_too() {
        let live = apply(None, deploy(1, "i"), "m", false, "t0").unwrap();
        let mut owned = deploy(1, "i");
        owned["metadata"]["ownerReferences"] = json!([{"uid": "u"}]);
        let next = apply(Some(&live), owned, "m", false, "t1").unwrap();
        assert_eq!(next["metadata"]["ownerReferences"], json!([{"uid": "u"}]));
        let again = apply(Some(&next), deploy(1, "i"), "m", false, "t2").unwrap();
        assert!(again["metadata"].get("ownerReferences").is_none());
    }

    #[test]
    fn fields_a_manager_stops_applying_go() {
        let mut first = deploy(1, "i");
        first["metadata"]["labels"]["old"] = json!("x");
        let live = apply(None, first, "m", false, "t0").unwrap();
        let next = apply(Some(&live), deploy(1, "i"), "m", false, "t1").unwrap();
        assert_eq!(next["metadata"]["labels"], json!({"app": "m"}));
    }

    #[test]
    fn merge_patch_follows_rfc_7386() {
        let mut t = json!({"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]});
        merge_patch(
            &mut t,
            &json!({"a": "z", "c": {"f": null}, "l": [3], "n": {"x": 1}}),
        );
        assert_eq!(
            t,
            json!({"a": "z", "c": {"d": "e"}, "l": [3], "n": {"x": 1}})
        );
    }

    #[test]
    fn bodies_and_media_types() {
        assert_eq!(
            patch_kind("application/apply-patch+yaml; charset=utf-8").unwrap(),
            PatchKind::Apply
        );
        assert_eq!(
            patch_kind("application/merge-patch+json").unwrap(),
            PatchKind::Merge
        );
        assert_eq!(
            patch_kind("application/json-patch+json").unwrap_err().code,
            415
        );
        assert!(read_body(br#"{"a": 1}"#).is_ok());
        let yaml = read_body(b"apiVersion: v1\nkind: Secret\n").unwrap_err();
        assert_eq!(yaml.code, 415);
        assert!(yaml.body["message"].as_str().unwrap().contains("JSON"));
        assert_eq!(default_manager("kubectl/v1.33.0 (linux/amd64)"), "kubectl");
        assert_eq!(default_manager(""), "unknown");
    }
}
