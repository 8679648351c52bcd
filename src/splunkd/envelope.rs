//! Reading splunkd's replies: the JSON envelope of `output_mode=json` (entries with `name`,
//! `content` and `acl`) and the text of an error reply (`messages[0].text`, or the `<msg>` of
//! an XML body), so the typed API deals in stanzas and messages, never raw JSON.

use crate::conffile::Stanza;
use serde_json::{Map, Value};

/// One entry of a collection reply. `Debug` shows the content's keys, not its values, which
/// may include a clear-text password.
#[derive(Clone, Default, PartialEq)]
pub struct EntryData {
    /// `entry[].name`: the stanza or entity name.
    pub name: String,
    /// `entry[].content`.
    pub content: Map<String, Value>,
    /// `entry[].acl.app`, when present.
    pub app: Option<String>,
    /// `entry[].acl`: owner, sharing and what the caller may do (`can_write`, `removable`).
    pub acl: Map<String, Value>,
}

impl std::fmt::Debug for EntryData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntryData")
            .field("name", &self.name)
            .field("keys", &self.content.keys().collect::<Vec<_>>())
            .field("app", &self.app)
            .field("acl", &self.acl.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl EntryData {
    /// A content field as text (strings as is, numbers and booleans written out).
    pub fn field(&self, key: &str) -> Option<String> {
        self.content.get(key).map(value_text)
    }

    /// The entry as a stanza: every content key except splunkd's metadata (`eai:*` and
    /// `disabled`, which splunkd adds to every conf entry), values as text.
    pub fn into_stanza(self) -> Stanza {
        let entries = self
            .content
            .iter()
            .filter(|(k, _)| !k.starts_with("eai:") && k.as_str() != "disabled")
            .map(|(k, v)| (k.clone(), value_text(v)))
            .collect();
        Stanza {
            name: self.name,
            entries,
        }
    }
}

/// Text of a content value: strings unchanged, `null` empty, booleans `true`/`false`,
/// numbers in JSON form, lists and objects as JSON text.
fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The entries of a JSON envelope; a body without `entry` has none. Not JSON, or an
/// `entry` that is not a list, is an error described in the message.
pub fn entries(body: &[u8]) -> Result<Vec<EntryData>, String> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| format!("the reply is not JSON ({e})"))?;
    let list = match v.get("entry") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(_) => return Err("the reply's \"entry\" is not a list".into()),
    };
    Ok(list
        .iter()
        .map(|e| EntryData {
            name: e
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            content: e
                .get("content")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
            app: e
                .get("acl")
                .and_then(|a| a.get("app"))
                .and_then(Value::as_str)
                .map(str::to_string),
            acl: e
                .get("acl")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
        })
        .collect())
}

/// splunkd's own error text: the first message of a JSON body, or of an XML body.
pub fn error_text(body: &[u8]) -> Option<String> {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        return v
            .get("messages")?
            .as_array()?
            .iter()
            .find_map(|m| m.get("text").and_then(Value::as_str))
            .map(str::to_string)
            .filter(|t| !t.trim().is_empty());
    }
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find("<msg")?;
    let open_end = start + text[start..].find('>')? + 1;
    let close = open_end + text[open_end..].find("</msg>")?;
    let msg = unescape_xml(text[open_end..close].trim());
    (!msg.is_empty()).then_some(msg)
}

fn unescape_xml(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_become_stanzas_without_metadata() {
        let body = br#"{"entry":[{"name":"docker","acl":{"app":"a"},"content":{
            "connection_name":"c","eai:acl":{"x":1},"eai:appName":"a","disabled":false,
            "n":3,"flag":true,"none":null}}],"paging":{"total":1}}"#;
        let e = entries(body).unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].app.as_deref(), Some("a"));
        assert_eq!(e[0].acl.get("app"), Some(&Value::String("a".into())));
        let s = e[0].clone().into_stanza();
        assert_eq!(s.name, "docker");
        assert_eq!(
            s.entries,
            vec![
                ("connection_name".to_string(), "c".to_string()),
                ("n".to_string(), "3".to_string()),
                ("flag".to_string(), "true".to_string()),
                ("none".to_string(), String::new()),
            ]
        );
    }

    #[test]
    fn debug_shows_keys_not_values() {
        let e = entries(br#"{"entry":[{"name":"r:u:","content":{"clear_password":"hunter2"}}]}"#)
            .unwrap();
        let text = format!("{e:?}");
        assert!(text.contains("clear_password") && !text.contains("hunter2"));
    }

    #[test]
    fn missing_entry_is_empty_and_garbage_is_an_error() {
        assert!(entries(br#"{"messages":[]}"#).unwrap().is_empty());
        assert!(entries(b"<html>").is_err());
        assert!(entries(br#"{"entry":{}}"#).is_err());
    }

    #[test]
    fn error_texts_from_json_and_xml() {
        assert_eq!(
            error_text(br#"{"messages":[{"type":"ERROR","text":"Could not find object id=x"}]}"#)
                .as_deref(),
            Some("Could not find object id=x")
        );
        assert_eq!(
            error_text(b"<?xml version=\"1.0\"?>\n<response>\n <messages>\n  <msg type=\"ERROR\">a &lt;b&gt; &amp; c</msg>\n </messages>\n</response>").as_deref(),
            Some("a <b> & c")
        );
        assert_eq!(error_text(br#"{"messages":[]}"#), None);
        assert_eq!(error_text(b"plain"), None);
    }
}
