//! Who a session key belongs to: splunkd's `GET /services/authentication/current-context`,
//! read into the caller's name, roles and capabilities, so the driver can check a capability
//! itself instead of trusting that the restmap stanza splunkd matched was the right one.

use super::envelope;
use std::collections::BTreeSet;

/// The path and query of the call, relative to splunkd's base URI.
pub const CURRENT_CONTEXT: &str = "/services/authentication/current-context?output_mode=json";

/// The caller as splunkd knows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CurrentContext {
    /// `username`.
    pub username: String,
    /// `roles`.
    pub roles: Vec<String>,
    /// `capabilities`: every capability of every role, imported ones included.
    pub capabilities: BTreeSet<String>,
}

impl CurrentContext {
    /// A caller named `name` with one role `r` and these capabilities (tests).
    #[cfg(test)]
    pub(crate) fn of(name: &str, capabilities: &[&str]) -> CurrentContext {
        CurrentContext {
            username: name.into(),
            roles: vec!["r".into()],
            capabilities: capabilities.iter().map(|c| c.to_string()).collect(),
        }
    }

    /// Whether the caller holds exactly this capability. splunkd's superuser capabilities
    /// (`admin_all_objects`) do not stand in for it: the restmap check is literal too.
    pub fn has(&self, capability: &str) -> bool {
        self.capabilities.contains(capability)
    }

    /// Reads a successful JSON reply: `entry[0].content` with `username`, `roles` and
    /// `capabilities` (lists of strings; a single string is accepted as a list of one).
    /// Anything else is an error described in the message.
    pub fn from_reply(body: &[u8]) -> Result<CurrentContext, String> {
        let entries = envelope::entries(body)?;
        let entry = entries.into_iter().next().ok_or("the reply has no entry")?;
        let list = |key: &str| -> Result<Vec<String>, String> {
            match entry.content.get(key) {
                None | Some(serde_json::Value::Null) => Ok(Vec::new()),
                Some(serde_json::Value::String(s)) => Ok(vec![s.clone()]),
                Some(serde_json::Value::Array(items)) => items
                    .iter()
                    .map(|i| {
                        i.as_str()
                            .map(str::to_string)
                            .ok_or_else(|| format!("\"{key}\" holds a value that is not a string"))
                    })
                    .collect(),
                Some(_) => Err(format!("\"{key}\" is not a list")),
            }
        };
        let capabilities = list("capabilities")?.into_iter().collect();
        Ok(CurrentContext {
            username: entry.field("username").unwrap_or_default(),
            roles: list("roles")?,
            capabilities,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_splunkds_reply() {
        // Trimmed from a Splunk 9 reply.
        let body = br#"{"links":{},"origin":"https://127.0.0.1:8089/services/authentication/current-context",
            "entry":[{"name":"context","author":"system","acl":{"app":"","owner":"system"},
            "content":{"capabilities":["list_containers","search"],"defaultApp":"launcher",
            "eai:acl":null,"email":null,"realname":"Viewer","roles":["dsdl_viewer","user"],
            "tz":null,"username":"viewer"}}],"paging":{"total":1,"perPage":30,"offset":0},"messages":[]}"#;
        let c = CurrentContext::from_reply(body).unwrap();
        assert_eq!(c.username, "viewer");
        assert_eq!(c.roles, ["dsdl_viewer", "user"]);
        assert!(c.has("list_containers") && c.has("search"));
        assert!(!c.has("control_containers"));
    }

    #[test]
    fn superuser_capabilities_do_not_stand_in() {
        let c = CurrentContext::from_reply(
            br#"{"entry":[{"name":"context","content":{"username":"a","capabilities":["admin_all_objects"],"roles":"admin"}}]}"#,
        )
        .unwrap();
        assert!(!c.has("control_containers"));
        assert_eq!(c.roles, ["admin"]);
    }

    #[test]
    fn unreadable_replies_are_errors() {
        for bad in [
            &b"<html>"[..],
            br#"{"entry":[]}"#,
            br#"{"messages":[]}"#,
            br#"{"entry":[{"content":{"capabilities":{"a":1}}}]}"#,
            br#"{"entry":[{"content":{"capabilities":[1]}}]}"#,
        ] {
            assert!(
                CurrentContext::from_reply(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let none = CurrentContext::from_reply(br#"{"entry":[{"content":{}}]}"#).unwrap();
        assert!(none.capabilities.is_empty());
    }
}
