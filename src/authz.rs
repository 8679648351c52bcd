//! The driver's own capability check for mutating calls. splunkd checks restmap's
//! `capability.<method>` on the stanza it matched, and picks that stanza by prefix on the raw
//! path; the driver therefore asks splunkd who the caller is
//! (`authentication/current-context`, with the caller's session key) and checks the
//! capability the endpoint table ([`crate::router::ENDPOINTS`]) requires, whatever stanza
//! the request came through.
//!
//! Answers are cached per session key for [`TTL`] (at most [`MAX_ENTRIES`] callers), keyed by
//! a salted SHA-256 of the key so the cache never holds a key in clear. The cache is only a
//! saving: each driver process keeps its own, and a capability taken away takes effect here
//! within [`TTL`] (splunkd's own restmap check applies at once).

use crate::error::{ApiError, ErrorKind};
use crate::protocol::request::{Request, Secret};
use crate::router::{self, Route};
use crate::service::Context;
use crate::splunkd::CurrentContext;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long an answer of splunkd's is reused for the same session key.
pub const TTL: Duration = Duration::from_secs(60);

/// Most callers remembered at once; the oldest answer goes first when full.
pub const MAX_ENTRIES: usize = 256;

/// Checks that the caller holds the capability a mutating `method` on `route` requires.
/// Reads pass: splunkd's restmap check stands for them, and [`router::check_path`] keeps
/// every request on the stanza that belongs to it.
pub async fn authorize(ctx: &Context, req: &Request, route: &Route) -> Result<(), ApiError> {
    if !router::is_mutating(&req.method) {
        return Ok(());
    }
    let Some(capability) = router::required_capability(&req.method, route) else {
        return Ok(());
    };
    let result = match ctx.caller(req).await {
        Ok(caller) => decide(&caller, &req.method, &req.mltk_path(), capability),
        Err(e) => Err(e),
    };
    // The AI Toolkit's UI and scripts read `message` and `status` beside `messages`.
    result.map_err(|e| {
        let text = e.message.clone();
        e.with_legacy("message", text).with_legacy("status", "fail")
    })
}

/// The 403 for a caller without `capability`, naming it; `Ok` when the caller holds it.
pub fn decide(
    caller: &CurrentContext,
    method: &str,
    path: &str,
    capability: &str,
) -> Result<(), ApiError> {
    if caller.has(capability) {
        return Ok(());
    }
    Err(ApiError::new(
        ErrorKind::Forbidden,
        format!(
            "You (user={}) do not have permission to perform this operation: {method} {} \
             requires the capability {capability}.",
            caller.username,
            crate::names::excerpt(path, 200)
        ),
    ))
}

struct Cached {
    at: Instant,
    context: Arc<CurrentContext>,
}

/// splunkd's answers about callers, per session key, for a short time.
pub struct ContextCache {
    salt: [u8; 32],
    ttl: Duration,
    max: usize,
    entries: Mutex<HashMap<[u8; 32], Cached>>,
}

impl Default for ContextCache {
    fn default() -> Self {
        Self::new(TTL, MAX_ENTRIES)
    }
}

impl ContextCache {
    /// An empty cache keeping answers for `ttl`, at most `max` of them.
    pub fn new(ttl: Duration, max: usize) -> Self {
        let mut salt = [0u8; 32];
        // Without randomness the keys are still digests, just unsalted ones.
        let _ = getrandom::fill(&mut salt);
        ContextCache {
            salt,
            ttl,
            max: max.max(1),
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn key(&self, token: &Secret) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.salt);
        h.update(token.expose().as_bytes());
        h.finalize().into()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Cached>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The answer for `token` if one younger than the TTL is held at `now`.
    pub fn get(&self, token: &Secret, now: Instant) -> Option<Arc<CurrentContext>> {
        let key = self.key(token);
        let mut entries = self.lock();
        match entries.get(&key) {
            Some(c) if now.saturating_duration_since(c.at) < self.ttl => Some(c.context.clone()),
            Some(_) => {
                entries.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Keeps `context` as the answer for `token` from `now`; when full, expired answers go,
    /// then the oldest.
    pub fn insert(
        &self,
        token: &Secret,
        context: CurrentContext,
        now: Instant,
    ) -> Arc<CurrentContext> {
        let key = self.key(token);
        let context = Arc::new(context);
        let mut entries = self.lock();
        if !entries.contains_key(&key) && entries.len() >= self.max {
            let ttl = self.ttl;
            entries.retain(|_, c| now.saturating_duration_since(c.at) < ttl);
            while entries.len() >= self.max {
                let Some(oldest) = entries.iter().min_by_key(|(_, c)| c.at).map(|(k, _)| *k) else {
                    break;
                };
                entries.remove(&oldest);
            }
        }
        entries.insert(
            key,
            Cached {
                at: now,
                context: context.clone(),
            },
        );
        context
    }

    /// How many answers are held.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no answer is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(name: &str, caps: &[&str]) -> CurrentContext {
        CurrentContext {
            username: name.into(),
            roles: vec!["r".into()],
            capabilities: caps.iter().map(|c| c.to_string()).collect(),
        }
    }

    #[test]
    fn decide_names_the_missing_capability() {
        let viewer = caller("viewer", &["list_containers", "admin_all_objects"]);
        assert!(decide(&viewer, "POST", "/mltk/container_logs", "list_containers").is_ok());
        let e = decide(
            &viewer,
            "POST",
            "/mltk/start_container",
            "control_containers",
        )
        .unwrap_err();
        assert_eq!(e.status(), 403);
        assert!(
            e.message
                .contains("requires the capability control_containers")
                && e.message.contains("user=viewer")
                && e.message.contains("POST /mltk/start_container"),
            "{}",
            e.message
        );
    }

    #[test]
    fn answers_are_kept_per_token_for_the_ttl() {
        let cache = ContextCache::new(Duration::from_secs(60), 10);
        let t0 = Instant::now();
        let (a, b) = (Secret::new("token-a"), Secret::new("token-b"));
        assert!(cache.get(&a, t0).is_none());
        cache.insert(&a, caller("a", &["x"]), t0);
        assert_eq!(
            cache
                .get(&a, t0 + Duration::from_secs(59))
                .unwrap()
                .username,
            "a"
        );
        assert!(
            cache.get(&b, t0).is_none(),
            "another token is another caller"
        );
        assert!(
            cache.get(&a, t0 + Duration::from_secs(60)).is_none(),
            "expired"
        );
        assert!(cache.is_empty(), "an expired answer is dropped when found");
    }

    #[test]
    fn a_full_cache_drops_expired_then_oldest_answers() {
        let cache = ContextCache::new(Duration::from_secs(60), 3);
        let t0 = Instant::now();
        let tokens: Vec<Secret> = (0..5).map(|i| Secret::new(format!("t{i}"))).collect();
        cache.insert(&tokens[0], caller("0", &[]), t0);
        cache.insert(&tokens[1], caller("1", &[]), t0 + Duration::from_secs(10));
        cache.insert(&tokens[2], caller("2", &[]), t0 + Duration::from_secs(20));
        // Full: the oldest (0) goes.
        let t = t0 + Duration::from_secs(30);
        cache.insert(&tokens[3], caller("3", &[]), t);
        assert_eq!(cache.len(), 3);
        assert!(cache.get(&tokens[0], t).is_none());
        assert!(cache.get(&tokens[1], t).is_some());
        // Later, 1 and 2 have expired: both go, 3 stays.
        let t = t0 + Duration::from_secs(85);
        cache.insert(&tokens[4], caller("4", &[]), t);
        assert_eq!(cache.len(), 2);
        assert!(cache.get(&tokens[3], t).is_some() && cache.get(&tokens[4], t).is_some());
        // Replacing an answer does not evict another.
        cache.insert(&tokens[4], caller("4b", &[]), t);
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get(&tokens[4], t).unwrap().username, "4b");
    }

    #[test]
    fn the_cache_never_holds_a_token_in_clear() {
        let cache = ContextCache::new(Duration::from_secs(60), 10);
        let token = Secret::new("S3CRET-session-key");
        cache.insert(&token, caller("a", &[]), Instant::now());
        let keys: Vec<[u8; 32]> = cache.lock().keys().copied().collect();
        assert_eq!(keys.len(), 1);
        assert!(!keys[0].windows(6).any(|w| w == b"S3CRET"));
        let mut plain = Sha256::new();
        plain.update(token.expose().as_bytes());
        let plain: [u8; 32] = plain.finalize().into();
        assert_ne!(keys[0], plain, "the digest is salted");
    }
}
