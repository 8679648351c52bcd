//! Clients kept across requests, per thread: the driver answers every request on one thread
//! with one runtime for its life, so a client built for a connection's settings (and its
//! pooled keep-alive connections) serves the next request too. Keyed by a hash of everything
//! the client was built from (the key material is not kept twice in memory); changed settings
//! give a new client at once, and the oldest of a few is dropped.

use sha2::{Digest, Sha256};
use std::cell::RefCell;

/// Most clients kept per kind and thread.
const MAX_CLIENTS: usize = 4;

/// A few clients of one kind, newest last.
pub struct Clients<T>(RefCell<Vec<([u8; 32], T)>>);

impl<T: Clone> Default for Clients<T> {
    fn default() -> Clients<T> {
        Clients::new()
    }
}

impl<T: Clone> Clients<T> {
    /// None yet.
    pub const fn new() -> Clients<T> {
        Clients(RefCell::new(Vec::new()))
    }

    /// The client kept for `key`.
    pub fn get(&self, key: [u8; 32]) -> Option<T> {
        self.0
            .borrow()
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, c)| c.clone())
    }

    /// Keeps `client` for `key`, dropping the oldest when full.
    pub fn put(&self, key: [u8; 32], client: T) {
        let mut kept = self.0.borrow_mut();
        kept.retain(|(k, _)| *k != key);
        if kept.len() >= MAX_CLIENTS {
            kept.remove(0);
        }
        kept.push((key, client));
    }

    /// The client kept for `key`, or a new one from `build`, kept for next time.
    pub fn get_or_build<E>(
        &self,
        key: [u8; 32],
        build: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, E> {
        if let Some(client) = self.get(key) {
            return Ok(client);
        }
        let client = build()?;
        self.put(key, client.clone());
        Ok(client)
    }
}

/// The key of settings given as `parts` (each length-prefixed, so parts never run together).
pub fn key(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in parts {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_is_built_once_per_key_and_the_oldest_goes() {
        let clients: Clients<u32> = Clients::new();
        let mut builds = 0;
        let mut get = |k: &[u8], v: u32| {
            clients
                .get_or_build(key(&[k]), || {
                    builds += 1;
                    Ok::<_, ()>(v)
                })
                .unwrap()
        };
        assert_eq!(get(b"a", 1), 1);
        assert_eq!(get(b"a", 2), 1, "kept");
        for (i, k) in [b"b", b"c", b"d", b"e"].iter().enumerate() {
            get(*k, i as u32 + 10);
        }
        assert_eq!(get(b"a", 3), 3, "the oldest went");
        assert_eq!(builds, 6);
        assert_ne!(key(&[b"ab", b"c"]), key(&[b"a", b"bc"]));
    }
}
