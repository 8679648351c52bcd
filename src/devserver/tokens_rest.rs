//! `authorization/tokens` as splunkd serves it: `POST` makes a token (`name`, `audience`,
//! `expires_on`, `not_before`) and answers its `id` and `token` once; `GET` lists the caller's
//! tokens (everyone's with `list_tokens_all`) without the tokens themselves;
//! `POST authorization/tokens/<user>` with `id` and `status` enables or disables one;
//! `DELETE authorization/tokens/<user>?id=<id>` deletes one. Capabilities as splunkd's:
//! `edit_tokens_own`/`edit_tokens_all`, `list_tokens_own`/`list_tokens_all`.

use super::auth::Auth;
use super::tokens::{NewToken, TokenError, TokenRecord};
use super::types::{Caller, DevRequest, DevResponse};
use super::users::RESERVED_USERS;
use crate::render::{Entry, Feed};
use serde_json::{Map, json};

/// Whether decoded path segments name this endpoint.
pub fn is_tokens_path(segments: &[String]) -> bool {
    matches!(segments, [a, b, ..] if a == "authorization" && b == "tokens") && segments.len() <= 3
}

/// The capability `caller` lacks to change the tokens of `user`, if any.
pub fn missing_edit_capability(caller: &Caller, user: &str) -> Option<&'static str> {
    if caller.can("edit_tokens_all") {
        None
    } else if caller.user != user {
        Some("edit_tokens_all")
    } else if caller.can("edit_tokens_own") {
        None
    } else {
        Some("edit_tokens_own")
    }
}

/// Whose tokens `caller` may list when asking for `wanted` (`None`: everyone's): `Ok(None)`
/// for everyone's, `Ok(Some(user))` for one user's, or the capability lacking.
pub fn list_scope(caller: &Caller, wanted: Option<&str>) -> Result<Option<String>, &'static str> {
    if caller.can("list_tokens_all") {
        return Ok(wanted.map(str::to_string));
    }
    if !caller.can("list_tokens_own") {
        return Err("list_tokens_own");
    }
    match wanted {
        Some(u) if u != caller.user => Err("list_tokens_all"),
        _ => Ok(Some(caller.user.clone())),
    }
}

fn forbidden(caller: &Caller, capability: &str, json: bool) -> DevResponse {
    DevResponse::error(
        403,
        &format!(
            "You (user={}) do not have permission to perform this operation (requires capability: {capability}).",
            caller.user
        ),
        json,
    )
}

fn arg<'a>(req: &'a DevRequest, name: &str) -> Option<&'a str> {
    req.form_arg(name)
        .or_else(|| req.query_arg(name))
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

fn token_error(e: &TokenError, json: bool) -> DevResponse {
    let status = match e {
        TokenError::Invalid(_) => 400,
        TokenError::NotFound(_) => 404,
        TokenError::Io(_) => 500,
    };
    DevResponse::error(status, &e.to_string(), json)
}

/// Answers one call to `authorization/tokens[/<user>]` at time `now`.
pub fn handle(auth: &Auth, req: &DevRequest, now: i64) -> DevResponse {
    let json = req.json();
    let Some(store) = auth.tokens() else {
        return DevResponse::error(503, "Token authentication is not available", json);
    };
    let target = req.path.get(2).map(String::as_str);
    let caller = &req.caller;
    match (req.method.as_str(), target) {
        ("GET", _) => {
            let wanted = target.or_else(|| arg(req, "username"));
            let scope = match list_scope(caller, wanted) {
                Ok(s) => s,
                Err(cap) => return forbidden(caller, cap, json),
            };
            let records = store
                .list()
                .into_iter()
                .filter(|r| scope.as_deref().is_none_or(|u| r.claims.sub == u))
                .filter(|r| arg(req, "status").is_none_or(|s| s == r.status()))
                .collect::<Vec<_>>();
            reply(200, req, records.iter().map(list_entry).collect(), json)
        }
        ("POST", None) => {
            let Some(user) = arg(req, "name") else {
                return DevResponse::error(
                    400,
                    "Missing argument: name (the user the token is for)",
                    json,
                );
            };
            let Some(audience) = arg(req, "audience") else {
                return DevResponse::error(400, "Missing argument: audience", json);
            };
            if let Some(cap) = missing_edit_capability(caller, user) {
                return forbidden(caller, cap, json);
            }
            // Nobody logs in as the reserved users, so no token stands for them either.
            let known = if RESERVED_USERS.contains(&user) {
                Ok(None)
            } else {
                auth.caller(user)
            };
            match known {
                Ok(Some(_)) => {}
                Ok(None) => {
                    return DevResponse::error(400, &format!("User does not exist: {user}"), json);
                }
                Err(e) => return DevResponse::error(500, &e.to_string(), json),
            }
            let new = NewToken {
                user,
                audience,
                expires_on: arg(req, "expires_on"),
                not_before: arg(req, "not_before"),
            };
            match store.create(&new, now) {
                Ok((record, token)) => {
                    let mut content = Map::new();
                    content.insert("id".into(), json!(record.claims.jti));
                    content.insert("token".into(), json!(token));
                    let entry = Entry {
                        name: "tokens".into(),
                        author: record.claims.sub.clone(),
                        acl: None,
                        content,
                    };
                    reply(201, req, vec![entry], json)
                }
                Err(e) => token_error(&e, json),
            }
        }
        ("POST" | "DELETE", Some(user)) => {
            if let Some(cap) = missing_edit_capability(caller, user) {
                return forbidden(caller, cap, json);
            }
            let Some(id) = arg(req, "id") else {
                return DevResponse::error(400, "Missing argument: id", json);
            };
            let result = if req.method == "DELETE" {
                store.delete(user, id)
            } else {
                let enabled = match arg(req, "status") {
                    Some("enabled") => true,
                    Some("disabled") => false,
                    _ => {
                        return DevResponse::error(
                            400,
                            "Argument status must be enabled or disabled",
                            json,
                        );
                    }
                };
                store.set_enabled(user, id, enabled)
            };
            match result {
                Ok(record) => {
                    if req.method == "DELETE" || !record.enabled {
                        auth.end_token_session(id);
                    }
                    let entries = if req.method == "DELETE" {
                        Vec::new()
                    } else {
                        vec![list_entry(&record)]
                    };
                    reply(200, req, entries, json)
                }
                Err(e) => token_error(&e, json),
            }
        }
        _ => {
            let allow = if target.is_some() {
                "GET, POST, DELETE"
            } else {
                "GET, POST"
            };
            let mut r = DevResponse::error(405, &format!("Use {allow}"), json);
            r.headers.push(("Allow".into(), allow.into()));
            r
        }
    }
}

/// A token as `GET` shows it: claims, headers, status and last use, never the token.
fn list_entry(r: &TokenRecord) -> Entry {
    let c = &r.claims;
    let mut content = Map::new();
    content.insert(
        "claims".into(),
        json!({"aud": c.aud, "exp": c.exp, "iat": c.iat, "idp": c.idp, "iss": c.iss,
               "nbr": c.nbr, "sub": c.sub}),
    );
    content.insert(
        "headers".into(),
        json!({"alg": "HS512", "kid": "splunk.secret", "ttyp": "static", "ver": "v2"}),
    );
    content.insert("lastUsed".into(), json!(r.last_used));
    content.insert("lastUsedIp".into(), json!(r.last_used_ip));
    content.insert("status".into(), json!(r.status()));
    Entry {
        name: c.jti.clone(),
        author: c.sub.clone(),
        acl: None,
        content,
    }
}

fn reply(status: u16, req: &DevRequest, entries: Vec<Entry>, json: bool) -> DevResponse {
    let origin = format!(
        "{}/services/authorization/tokens",
        req.base_url.trim_end_matches('/')
    );
    let feed = Feed::new("tokens", origin, entries);
    if json {
        DevResponse::json(status, &feed.to_json())
    } else {
        DevResponse::xml(status, feed.to_atom())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(user: &str, caps: &[&str]) -> Caller {
        Caller {
            user: user.into(),
            roles: Vec::new(),
            capabilities: caps.iter().map(|c| c.to_string()).collect(),
        }
    }

    #[test]
    fn edit_needs_own_or_all() {
        let own = caller("bob", &["edit_tokens_own"]);
        assert_eq!(missing_edit_capability(&own, "bob"), None);
        assert_eq!(
            missing_edit_capability(&own, "alice"),
            Some("edit_tokens_all")
        );
        let none = caller("bob", &[]);
        assert_eq!(
            missing_edit_capability(&none, "bob"),
            Some("edit_tokens_own")
        );
        let all = caller("admin", &["edit_tokens_all"]);
        assert_eq!(missing_edit_capability(&all, "bob"), None);
    }

    #[test]
    fn listing_is_scoped() {
        let own = caller("bob", &["list_tokens_own"]);
        assert_eq!(list_scope(&own, None), Ok(Some("bob".into())));
        assert_eq!(list_scope(&own, Some("bob")), Ok(Some("bob".into())));
        assert_eq!(list_scope(&own, Some("alice")), Err("list_tokens_all"));
        assert_eq!(
            list_scope(&caller("bob", &[]), None),
            Err("list_tokens_own")
        );
        let all = caller("admin", &["list_tokens_all"]);
        assert_eq!(list_scope(&all, None), Ok(None));
        assert_eq!(list_scope(&all, Some("bob")), Ok(Some("bob".into())));
    }

    #[test]
    fn paths() {
        let segs = |p: &str| p.split('/').map(String::from).collect::<Vec<_>>();
        assert!(is_tokens_path(&segs("authorization/tokens")));
        assert!(is_tokens_path(&segs("authorization/tokens/bob")));
        assert!(!is_tokens_path(&segs("authorization/tokens/bob/x")));
        assert!(!is_tokens_path(&segs("authorization/roles")));
    }

    #[test]
    fn list_entries_never_hold_the_token() {
        let claims = super::super::tokens::build_claims("bob", "ci", "sh1", "ab", 1, 2, 1);
        let e = list_entry(&TokenRecord {
            claims,
            enabled: false,
            digest: "d".into(),
            last_used: 0,
            last_used_ip: String::new(),
        });
        assert_eq!(e.name, "ab");
        assert_eq!(e.content["status"], "disabled");
        assert_eq!(e.content["claims"]["iss"], "bob from sh1");
        assert!(e.content.get("token").is_none() && e.content.get("digest").is_none());
    }
}
