//! Request bodies in Kubernetes' protobuf encoding, which kubectl and client-go send for
//! built-in types (`Content-Type: application/vnd.kubernetes.protobuf`; they accept JSON
//! back). The envelope is `k8s\0` + a `runtime.Unknown` message (type meta, raw object);
//! the fake decodes the objects it has a schema for into the JSON the routes read, and
//! answers 415 for the rest. Today: `SelfSubjectAccessReview` (what `kubectl auth can-i`
//! sends), `SelfSubjectReview` (`kubectl auth whoami`), `ConfigMap` and `Namespace`
//! (`kubectl create configmap|namespace`). A kind that
//! clients create through protobuf needs its message layout added here. Pure.

use serde_json::{Map, Value, json};

/// The media type.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// The envelope's magic prefix.
const MAGIC: &[u8] = b"k8s\0";

/// A decoded field's value.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

fn varint(buf: &[u8]) -> Option<(u64, &[u8])> {
    let mut value = 0u64;
    for (i, b) in buf.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, &buf[i + 1..]));
        }
    }
    None
}

/// The (field number, value) pairs of a message, in order.
fn fields(mut buf: &[u8]) -> Result<Vec<(u64, Field<'_>)>, String> {
    let bad = || "the protobuf body is malformed".to_string();
    let mut out = Vec::new();
    while !buf.is_empty() {
        let (key, rest) = varint(buf).ok_or_else(bad)?;
        let (number, wire) = (key >> 3, key & 7);
        let (value, rest) = match wire {
            0 => {
                let (v, rest) = varint(rest).ok_or_else(bad)?;
                (Field::Varint(v), rest)
            }
            1 | 5 => {
                let n = if wire == 1 { 8 } else { 4 };
                (Field::Fixed, rest.get(n..).ok_or_else(bad)?)
            }
            2 => {
                let (len, rest) = varint(rest).ok_or_else(bad)?;
                let len = usize::try_from(len).map_err(|_| bad())?;
                if rest.len() < len {
                    return Err(bad());
                }
                (Field::Bytes(&rest[..len]), &rest[len..])
            }
            _ => return Err(bad()),
        };
        out.push((number, value));
        buf = rest;
    }
    Ok(out)
}

/// A message whose fields are all strings (or bools), by field number → JSON name.
fn strings(buf: &[u8], names: &[(u64, &str)]) -> Result<Value, String> {
    let mut obj = Map::new();
    for (number, value) in fields(buf)? {
        let Some((_, name)) = names.iter().find(|(n, _)| *n == number) else {
            continue;
        };
        match value {
            Field::Bytes(b) => {
                obj.insert(name.to_string(), json!(String::from_utf8_lossy(b)));
            }
            Field::Varint(v) => {
                obj.insert(name.to_string(), json!(v != 0));
            }
            Field::Fixed => {}
        }
    }
    Ok(Value::Object(obj))
}

/// The first length-delimited field `number` of a message.
fn sub(buf: &[u8], number: u64) -> Result<Option<&[u8]>, String> {
    Ok(fields(buf)?.into_iter().find_map(|(n, v)| match v {
        Field::Bytes(b) if n == number => Some(b),
        _ => None,
    }))
}

/// A `map<string, string>` field (`number`) of a message: repeated entries (key 1, value 2).
fn string_map(buf: &[u8], number: u64) -> Result<Option<Value>, String> {
    let mut map = Map::new();
    for (n, v) in fields(buf)? {
        let Field::Bytes(entry) = v else { continue };
        if n != number {
            continue;
        }
        let kv = strings(entry, &[(1, "k"), (2, "v")])?;
        let key = kv["k"].as_str().unwrap_or("").to_string();
        map.insert(key, json!(kv["v"].as_str().unwrap_or("")));
    }
    Ok((!map.is_empty()).then_some(Value::Object(map)))
}

/// `ObjectMeta` (k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto): what a client sets on
/// create (names, labels, annotations).
fn object_meta(buf: &[u8]) -> Result<Value, String> {
    let mut meta = strings(buf, &[(1, "name"), (2, "generateName"), (3, "namespace")])?;
    for (number, name) in [(11, "labels"), (12, "annotations")] {
        if let Some(map) = string_map(buf, number)? {
            meta[name] = map;
        }
    }
    Ok(meta)
}

/// `ConfigMap` (k8s.io/api/core/v1/generated.proto), its string data (what `kubectl create
/// configmap` sends).
fn config_map(raw: &[u8]) -> Result<Value, String> {
    let mut cm = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": object_meta(sub(raw, 1)?.unwrap_or(&[]))?,
    });
    if let Some(data) = string_map(raw, 2)? {
        cm["data"] = data;
    }
    Ok(cm)
}

/// `SelfSubjectAccessReview` (k8s.io/api/authorization/v1/generated.proto) as JSON.
fn self_subject_access_review(raw: &[u8]) -> Result<Value, String> {
    let mut review = json!({
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "metadata": {},
        "spec": {},
    });
    if let Some(spec) = sub(raw, 2)? {
        if let Some(ra) = sub(spec, 1)? {
            review["spec"]["resourceAttributes"] = strings(
                ra,
                &[
                    (1, "namespace"),
                    (2, "verb"),
                    (3, "group"),
                    (4, "version"),
                    (5, "resource"),
                    (6, "subresource"),
                    (7, "name"),
                ],
            )?;
        }
        if let Some(nra) = sub(spec, 2)? {
            review["spec"]["nonResourceAttributes"] = strings(nra, &[(1, "path"), (2, "verb")])?;
        }
    }
    Ok(review)
}

/// The JSON of a protobuf body, or why it cannot be read (a 415 for unknown kinds).
pub fn to_json(body: &[u8]) -> Result<Value, String> {
    let envelope = body
        .strip_prefix(MAGIC)
        .ok_or("the protobuf body lacks the k8s envelope")?;
    let type_meta = strings(
        sub(envelope, 1)?.unwrap_or(&[]),
        &[(1, "apiVersion"), (2, "kind")],
    )?;
    let raw = sub(envelope, 2)?.unwrap_or(&[]);
    match (type_meta["apiVersion"].as_str(), type_meta["kind"].as_str()) {
        (Some("authorization.k8s.io/v1"), Some("SelfSubjectAccessReview")) => {
            self_subject_access_review(raw)
        }
        (Some("v1"), Some("ConfigMap")) => config_map(raw),
        (Some("v1"), Some("Namespace")) => Ok(json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": object_meta(sub(raw, 1)?.unwrap_or(&[]))?,
        })),
        // A question with no fields: only its metadata is read.
        (Some("authentication.k8s.io/v1"), Some("SelfSubjectReview")) => Ok(json!({
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "SelfSubjectReview",
            "metadata": object_meta(sub(raw, 1)?.unwrap_or(&[]))?,
        })),
        (v, k) => Err(format!(
            "the fake API server reads {} {} only as JSON",
            v.unwrap_or("?"),
            k.unwrap_or("?")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(number: u64, bytes: &[u8]) -> Vec<u8> {
        assert!(bytes.len() < 128);
        let mut out = vec![(number << 3 | 2) as u8, bytes.len() as u8];
        out.extend_from_slice(bytes);
        out
    }

    /// What client-go sends for `kubectl auth can-i list configmaps -n dsdl`.
    fn can_i() -> Vec<u8> {
        let type_meta = [
            field(1, b"authorization.k8s.io/v1"),
            field(2, b"SelfSubjectAccessReview"),
        ]
        .concat();
        let ra = [
            field(1, b"dsdl"),
            field(2, b"list"),
            field(5, b"configmaps"),
        ]
        .concat();
        let spec = field(1, &ra);
        let raw = [field(1, &[]), field(2, &spec), field(3, &[])].concat();
        let mut body = b"k8s\0".to_vec();
        body.extend(
            [
                field(1, &type_meta),
                field(2, &raw),
                field(3, b""),
                field(4, b""),
            ]
            .concat(),
        );
        body
    }

    #[test]
    fn decodes_a_review() {
        let v = to_json(&can_i()).unwrap();
        assert_eq!(v["kind"], "SelfSubjectAccessReview");
        assert_eq!(
            v["spec"]["resourceAttributes"],
            json!({"namespace": "dsdl", "verb": "list", "resource": "configmaps"})
        );
    }

    #[test]
    fn decodes_a_config_map() {
        let label = [field(1, b"app"), field(2, b"x")].concat();
        let meta = [field(1, b"c1"), field(3, b"dsdl"), field(11, &label)].concat();
        let entry = [field(1, b"a"), field(2, b"b")].concat();
        let raw = [field(1, &meta), field(2, &entry)].concat();
        let tm = [field(1, b"v1"), field(2, b"ConfigMap")].concat();
        let mut body = b"k8s\0".to_vec();
        body.extend([field(1, &tm), field(2, &raw)].concat());
        assert_eq!(
            to_json(&body).unwrap(),
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "c1", "namespace": "dsdl", "labels": {"app": "x"}},
                   "data": {"a": "b"}})
        );
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        assert!(to_json(b"{}").unwrap_err().contains("envelope"));
        let mut truncated = can_i();
        truncated.truncate(30);
        assert!(to_json(&truncated).is_err());
        let tm = [field(1, b"v1"), field(2, b"Secret")].concat();
        let mut other = b"k8s\0".to_vec();
        other.extend(field(1, &tm));
        assert!(to_json(&other).unwrap_err().contains("v1 Secret"));
    }
}
