//! Label selectors (`?labelSelector=`), parsed and matched as the API server does: equality
//! (`a=b`, `a==b`, `a!=b`), existence (`a`, `!a`) and sets (`a in (x,y)`, `a notin (x)`),
//! requirements joined by commas, all of which must hold. Pure.

use serde_json::Value;

/// One requirement of a selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// The label is set to one of the values (`=`, `==`, `in`).
    In(String, Vec<String>),
    /// The label is unset or set to none of the values (`!=`, `notin`).
    NotIn(String, Vec<String>),
    /// The label is set.
    Exists(String),
    /// The label is not set.
    NotExists(String),
}

/// A parsed selector: every requirement must hold (empty: everything matches).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector(pub Vec<Requirement>);

/// Splits at the commas outside parentheses.
fn split_top(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// Whether `key` is a label key: `[prefix/]name` of the characters labels allow.
fn valid_key(key: &str) -> bool {
    let name = key.rsplit('/').next().unwrap_or("");
    !name.is_empty()
        && key.len() <= 317
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
}

/// Whether `value` is a label value (may be empty).
fn valid_value(value: &str) -> bool {
    value.len() <= 63
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// Parses `?labelSelector=`; the error is the API server's 400 message.
pub fn parse(text: &str) -> Result<Selector, String> {
    let mut reqs = Vec::new();
    if text.trim().is_empty() {
        return Ok(Selector(reqs));
    }
    for part in split_top(text) {
        let part = part.trim();
        let bad = || format!("unable to parse requirement: {part:?}");
        let key_of = |k: &str| -> Result<String, String> {
            let k = k.trim();
            if valid_key(k) {
                Ok(k.to_string())
            } else {
                Err(bad())
            }
        };
        let value_of = |v: &str| -> Result<String, String> {
            let v = v.trim();
            if valid_value(v) {
                Ok(v.to_string())
            } else {
                Err(bad())
            }
        };
        let req = if let Some(key) = part.strip_prefix('!') {
            Requirement::NotExists(key_of(key)?)
        } else if let Some((k, v)) = part.split_once("!=") {
            Requirement::NotIn(key_of(k)?, vec![value_of(v)?])
        } else if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
            Requirement::In(key_of(k)?, vec![value_of(v)?])
        } else if let Some(open) = part.find('(') {
            let close = part.strip_suffix(')').ok_or_else(bad)?;
            let head: Vec<&str> = part[..open].split_whitespace().collect();
            let values = close[open + 1..]
                .split(',')
                .map(value_of)
                .collect::<Result<Vec<_>, _>>()?;
            match head.as_slice() {
                [k, "in"] => Requirement::In(key_of(k)?, values),
                [k, "notin"] => Requirement::NotIn(key_of(k)?, values),
                _ => return Err(bad()),
            }
        } else {
            Requirement::Exists(key_of(part)?)
        };
        reqs.push(req);
    }
    Ok(Selector(reqs))
}

impl Selector {
    /// Whether an object's `metadata.labels` satisfy every requirement.
    pub fn matches(&self, labels: &Value) -> bool {
        let get = |k: &str| labels.get(k).and_then(Value::as_str);
        self.0.iter().all(|r| match r {
            Requirement::In(k, vs) => get(k).is_some_and(|v| vs.iter().any(|x| x == v)),
            Requirement::NotIn(k, vs) => get(k).is_none_or(|v| !vs.iter().any(|x| x == v)),
            Requirement::Exists(k) => get(k).is_some(),
            Requirement::NotExists(k) => get(k).is_none(),
        })
    }
}

/// One requirement of a field selector: the field equals (or, `false`, differs from) a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRequirement {
    /// The JSON path, one key per level.
    pub field: Vec<&'static str>,
    /// `=`/`==` (true) or `!=` (false).
    pub equals: bool,
    /// The value.
    pub value: String,
}

/// The fields `?fieldSelector=` may name (every kind here takes them all).
const FIELDS: &[(&str, &[&str])] = &[
    ("metadata.name", &["metadata", "name"]),
    ("metadata.namespace", &["metadata", "namespace"]),
    ("status.phase", &["status", "phase"]),
    ("spec.nodeName", &["spec", "nodeName"]),
];

/// Parses `?fieldSelector=` (`metadata.name=x`, `status.phase!=Running`, joined by commas);
/// the error is the API server's 400 message.
pub fn parse_fields(text: &str) -> Result<Vec<FieldRequirement>, String> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value, equals) = if let Some((k, v)) = part.split_once("!=") {
            (k, v, false)
        } else if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
            (k, v, true)
        } else {
            return Err(format!(
                "invalid selector: '{text}'; can't understand '{part}'"
            ));
        };
        let Some((_, field)) = FIELDS.iter().find(|(name, _)| *name == key.trim()) else {
            return Err(format!("field label not supported: {}", key.trim()));
        };
        out.push(FieldRequirement {
            field: field.to_vec(),
            equals,
            value: value.trim().to_string(),
        });
    }
    Ok(out)
}

/// Whether `obj` satisfies every field requirement (a missing field is "").
pub fn fields_match(reqs: &[FieldRequirement], obj: &Value) -> bool {
    reqs.iter().all(|r| {
        let got = r
            .field
            .iter()
            .try_fold(obj, |at, k| at.get(*k))
            .and_then(Value::as_str)
            .unwrap_or("");
        (got == r.value) == r.equals
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_every_form() {
        let s = parse("app=a, tier==web,env!=prod,gpu,!old,zone in (x, y),k notin (z)").unwrap();
        assert_eq!(
            s.0,
            vec![
                Requirement::In("app".into(), vec!["a".into()]),
                Requirement::In("tier".into(), vec!["web".into()]),
                Requirement::NotIn("env".into(), vec!["prod".into()]),
                Requirement::Exists("gpu".into()),
                Requirement::NotExists("old".into()),
                Requirement::In("zone".into(), vec!["x".into(), "y".into()]),
                Requirement::NotIn("k".into(), vec!["z".into()]),
            ]
        );
        assert_eq!(parse("").unwrap(), Selector::default());
        for bad in ["a=b c", "=x", "a in x", "a (x)", "a=b,,", "a in (x"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn matches_labels() {
        let labels = json!({"app": "a", "dsdl.splunk.com/model": "m1"});
        let m = |s: &str| parse(s).unwrap().matches(&labels);
        assert!(m("app=a"));
        assert!(m("dsdl.splunk.com/model in (m1,m2),app"));
        assert!(!m("app=b"));
        assert!(m("env!=prod"), "an unset label is not prod");
        assert!(!m("app notin (a)"));
        assert!(m("!env"));
        assert!(!m("!app"));
        assert!(m(""));
        assert!(!parse("app").unwrap().matches(&Value::Null));
    }

    #[test]
    fn field_selectors() {
        let obj =
            json!({"metadata": {"name": "a", "namespace": "n"}, "status": {"phase": "Running"}});
        let m = |s: &str| fields_match(&parse_fields(s).unwrap(), &obj);
        assert!(m("metadata.name=a"));
        assert!(m("metadata.name==a,metadata.namespace=n"));
        assert!(!m("metadata.name=b"));
        assert!(m("status.phase!=Pending"));
        assert!(!m("spec.nodeName=x"));
        assert!(m(""));
        assert_eq!(
            parse_fields("spec.replicas=1").unwrap_err(),
            "field label not supported: spec.replicas"
        );
        assert!(parse_fields("metadata.name").is_err());
    }
}
