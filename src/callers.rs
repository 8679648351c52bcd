//! splunkd's answers about callers (`authentication/current-context`), per session key, for
//! a short time, so that a burst of mutating calls asks splunkd once.
//!
//! Answers are kept for [`TTL`] (at most [`MAX_ENTRIES`] callers), keyed by a salted SHA-256
//! of the session key so the cache never holds a key in clear. The cache is only a saving:
//! each driver process keeps its own.

use crate::protocol::request::Secret;
use crate::splunkd::CurrentContext;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long an answer of splunkd's is reused for the same session key.
pub const TTL: Duration = Duration::from_secs(60);

/// Most callers remembered at once; the oldest answer goes first when full.
pub const MAX_ENTRIES: usize = 256;

struct Cached {
    at: Instant,
    context: Arc<CurrentContext>,
}

/// splunkd's answers about callers, per session key, for a short time.
pub struct CallerCache {
    salt: [u8; 32],
    ttl: Duration,
    max: usize,
    entries: Mutex<HashMap<[u8; 32], Cached>>,
}

impl Default for CallerCache {
    fn default() -> Self {
        Self::new(TTL, MAX_ENTRIES)
    }
}

impl CallerCache {
    /// An empty cache keeping answers for `ttl`, at most `max` of them.
    pub fn new(ttl: Duration, max: usize) -> Self {
        let mut salt = [0u8; 32];
        // Without randomness the keys are still digests, just unsalted ones.
        let _ = getrandom::fill(&mut salt);
        CallerCache {
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
        CurrentContext::of(name, caps)
    }

    #[test]
    fn answers_are_kept_per_token_for_the_ttl() {
        let cache = CallerCache::new(Duration::from_secs(60), 10);
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
        let cache = CallerCache::new(Duration::from_secs(60), 3);
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
        let cache = CallerCache::new(Duration::from_secs(60), 10);
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
