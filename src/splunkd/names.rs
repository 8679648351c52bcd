//! splunkd's naming conventions that both sides of the REST API must agree on: the entity
//! name of a `storage/passwords` credential and the conf names `configs/conf-<name>` accepts.
//! The driver's client builds names with these; splunkd-dev parses them the same way.

/// `<realm>:<username>:` with `:` inside either part escaped as `\:`, as splunkd names
/// credentials (and as their passwords.conf stanzas `[credential:<entity>]` read).
pub fn credential_entity(realm: &str, username: &str) -> String {
    format!("{}:{}:", escape(realm), escape(username))
}

/// Splits `<realm>:<username>:` into its unescaped parts. The realm ends at the first
/// unescaped `:`; the username is the rest without one trailing `:` (which may be missing),
/// so an unescaped `:` inside a username is tolerated. None when the username is empty or
/// there is no `:` at all.
pub fn parse_credential_entity(name: &str) -> Option<(String, String)> {
    let mut realm = String::new();
    let mut chars = name.chars().peekable();
    let mut found = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&':') => {
                chars.next();
                realm.push(':');
            }
            ':' => {
                found = true;
                break;
            }
            c => realm.push(c),
        }
    }
    if !found {
        return None;
    }
    let rest: String = chars.collect();
    // The trailing separator, unless that `:` is escaped.
    let rest = match rest.strip_suffix(':') {
        Some(r) if !r.ends_with('\\') => r.to_string(),
        _ => rest,
    };
    let username = rest.replace("\\:", ":");
    (!username.is_empty()).then_some((realm, username))
}

fn escape(part: &str) -> String {
    part.replace(':', "\\:")
}

/// Whether `name` is a conf name splunkd-dev and this client accept: `[A-Za-z0-9_.-]+`, not
/// starting with `.`, so it is always a plain file name and a plain path segment.
pub fn is_conf_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_entities_escape_and_parse() {
        assert_eq!(
            credential_entity("dsdl_docker", "api_token"),
            "dsdl_docker:api_token:"
        );
        assert_eq!(credential_entity("r:1", "u:x"), "r\\:1:u\\:x:");
        for (realm, user) in [
            ("dsdl_docker", "api_token"),
            ("", "u"),
            ("r:1", "u:x"),
            ("a\\b", "c\\:d"),
            ("sp ace", "ü"),
        ] {
            let name = credential_entity(realm, user);
            assert_eq!(
                parse_credential_entity(&name),
                Some((realm.to_string(), user.to_string())),
                "{name}"
            );
        }
        // splunklib percent-encodes ':' in a username, which then arrives decoded, unescaped.
        assert_eq!(
            parse_credential_entity("r:a:b:"),
            Some(("r".to_string(), "a:b".to_string()))
        );
        assert_eq!(
            parse_credential_entity("r:u"),
            Some(("r".to_string(), "u".to_string()))
        );
        assert_eq!(parse_credential_entity("nocolon"), None);
        assert_eq!(parse_credential_entity("r::"), None);
    }

    #[test]
    fn conf_names() {
        for ok in ["container_connections", "a.b-c", "X1"] {
            assert!(is_conf_name(ok), "{ok}");
        }
        for bad in ["", ".", "..", ".hidden", "a/b", "a b", "a\\b", "é", "a%2Fb"] {
            assert!(!is_conf_name(bad), "{bad}");
        }
    }
}
