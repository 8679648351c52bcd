//! Who is calling: `Authorization: Basic`, `Splunk <session key>` and `Bearer <session key>`
//! checked against the users file, session keys issued by `/services/auth/login`, the
//! system session key (`splunk-system-user`, every capability) handed to drivers as
//! `system_authtoken`, and authentication tokens (JWTs, see [`super::tokens`]) sent as
//! `Bearer <token>` or `Splunk <token>`.

use super::roles::Roles;
use super::tokens::{Rejection, TokenStore};
use super::types::Caller;
use super::users::{RESERVED_USERS, UserDb, UsersError, verify_password};
use crate::protocol::request::Secret;
use base64::Engine;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

/// The user behind the system session key.
pub const SYSTEM_USER: &str = "splunk-system-user";

/// Idle time after which a session key stops working (splunkd's default `sessionTimeout`).
pub const SESSION_IDLE: Duration = Duration::from_secs(3600);

/// An authenticated call: the caller and the session key that stands for it.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// The caller with its capabilities.
    pub caller: Caller,
    /// A live session key of the caller (passed to drivers as `session.authtoken`); never
    /// shown by `Debug`.
    pub session_key: Secret,
}

/// Why a call is not authenticated (all are 401 except `Internal`).
#[derive(Debug)]
pub enum AuthError {
    /// No usable `Authorization` header.
    Missing,
    /// Unknown user or wrong password.
    BadCredentials,
    /// Unknown or expired session key.
    BadSessionKey,
    /// An `Authorization` scheme splunkd-dev does not know.
    UnknownScheme,
    /// The users file could not be read.
    Users(UsersError),
    /// No randomness for a session key.
    Random(String),
    /// An authentication token that does not authenticate.
    BadToken(Rejection),
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::Missing => f.write_str("call not properly authenticated"),
            AuthError::BadCredentials => f.write_str("Login failed"),
            AuthError::BadSessionKey => {
                f.write_str("call not properly authenticated: the session key is unknown or expired")
            }
            AuthError::UnknownScheme => f.write_str(
                "call not properly authenticated: use Authorization: Basic, Splunk <key> or Bearer <key>",
            ),
            AuthError::BadToken(r) => write!(f, "call not properly authenticated: {r}"),
            AuthError::Users(e) => write!(f, "cannot read the users: {e}"),
            AuthError::Random(e) => write!(f, "cannot create a session key: {e}"),
        }
    }
}

impl std::error::Error for AuthError {}

impl AuthError {
    /// Whether this is the caller's fault (401) rather than the server's (500).
    pub fn is_unauthorized(&self) -> bool {
        !matches!(self, AuthError::Users(_) | AuthError::Random(_))
    }
}

struct Session {
    user: String,
    last_used: Instant,
}

struct UsersCache {
    db: UserDb,
    stamp: Option<(SystemTime, u64)>,
}

/// Users, roles and sessions of one server run.
pub struct Auth {
    users_path: PathBuf,
    users: Mutex<UsersCache>,
    roles: Roles,
    sessions: Mutex<HashMap<String, Session>>,
    basic_sessions: Mutex<HashMap<String, String>>,
    /// The session each authentication token's calls share (by token id), for drivers.
    token_sessions: Mutex<HashMap<String, String>>,
    tokens: Option<TokenStore>,
    verified: Mutex<HashSet<[u8; 32]>>,
    cache_key: [u8; 32],
    system_key: String,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// A new random session key.
pub fn new_key() -> Result<String, AuthError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| AuthError::Random(e.to_string()))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

impl Auth {
    /// Reads the users file at `users_path` and keeps `roles` for capability lookups.
    pub fn new(users_path: PathBuf, roles: Roles) -> Result<Auth, AuthError> {
        let db = UserDb::load(&users_path).map_err(AuthError::Users)?;
        let mut cache_key = [0u8; 32];
        getrandom::fill(&mut cache_key).map_err(|e| AuthError::Random(e.to_string()))?;
        Ok(Auth {
            users: Mutex::new(UsersCache {
                db,
                stamp: stamp(&users_path),
            }),
            users_path,
            roles,
            sessions: Mutex::new(HashMap::new()),
            basic_sessions: Mutex::new(HashMap::new()),
            token_sessions: Mutex::new(HashMap::new()),
            tokens: None,
            verified: Mutex::new(HashSet::new()),
            cache_key,
            system_key: new_key()?,
        })
    }

    /// Accepts the authentication tokens of `store` (without one, every token is refused).
    pub fn with_tokens(mut self, store: TokenStore) -> Auth {
        self.tokens = Some(store);
        self
    }

    /// The authentication tokens, when this server has them.
    pub fn tokens(&self) -> Option<&TokenStore> {
        self.tokens.as_ref()
    }

    /// Ends the session the calls of token `id` shared, once the token is disabled or deleted,
    /// so nothing keeps working in its name.
    pub fn end_token_session(&self, id: &str) {
        if let Some(key) = lock(&self.token_sessions).remove(id) {
            lock(&self.sessions).remove(&key);
        }
    }

    /// The system session key (`system_authtoken`).
    pub fn system_key(&self) -> &str {
        &self.system_key
    }

    /// The roles in force.
    pub fn roles(&self) -> &Roles {
        &self.roles
    }

    /// The users file, re-read when it changed on disk (so `add-user` works on a running
    /// server).
    fn users(&self) -> Result<MutexGuard<'_, UsersCache>, AuthError> {
        let mut cache = lock(&self.users);
        let now = stamp(&self.users_path);
        if now != cache.stamp {
            cache.db = UserDb::load(&self.users_path).map_err(AuthError::Users)?;
            cache.stamp = now;
        }
        Ok(cache)
    }

    /// Whether `/servicesNS/<user>/...` names a known user (reserved names included).
    pub fn user_exists(&self, name: &str) -> Result<bool, AuthError> {
        Ok(RESERVED_USERS.contains(&name) || self.users()?.db.get(name).is_some())
    }

    /// The caller `user` with its current roles and capabilities.
    pub fn caller(&self, user: &str) -> Result<Option<Caller>, AuthError> {
        if user == SYSTEM_USER {
            return Ok(Some(Caller {
                user: SYSTEM_USER.into(),
                roles: vec!["splunk-system-role".into()],
                capabilities: self.roles.all_capabilities(),
            }));
        }
        let users = self.users()?;
        Ok(users.db.get(user).map(|u| Caller {
            user: u.name.clone(),
            roles: u.roles.clone(),
            capabilities: self.roles.capabilities(&u.roles),
        }))
    }

    /// Checks a user name and password. PBKDF2 is slow on purpose, so a verified pair is
    /// remembered (as a keyed digest, never the password) for the rest of the run.
    pub fn check_password(&self, user: &str, password: &str) -> Result<Caller, AuthError> {
        let stored = match self.users()?.db.get(user) {
            Some(u) => u.password_hash.clone(),
            None => return Err(AuthError::BadCredentials),
        };
        let mut h = Sha256::new();
        h.update(self.cache_key);
        for part in [user, password, &stored] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
        let digest: [u8; 32] = h.finalize().into();
        let known = lock(&self.verified).contains(&digest);
        if !known {
            if !verify_password(password, &stored) {
                return Err(AuthError::BadCredentials);
            }
            lock(&self.verified).insert(digest);
        }
        self.caller(user)?.ok_or(AuthError::BadCredentials)
    }

    /// `/services/auth/login`: a new session key for a valid user name and password.
    pub fn login(&self, user: &str, password: &str) -> Result<String, AuthError> {
        let caller = self.check_password(user, password)?;
        self.new_session(&caller.user)
    }

    fn new_session(&self, user: &str) -> Result<String, AuthError> {
        let key = new_key()?;
        let mut sessions = lock(&self.sessions);
        sessions.retain(|_, s| s.last_used.elapsed() < SESSION_IDLE);
        sessions.insert(
            key.clone(),
            Session {
                user: user.to_string(),
                last_used: Instant::now(),
            },
        );
        Ok(key)
    }

    /// The user of a live session key, refreshing its idle timer.
    fn session_user(&self, key: &str) -> Option<String> {
        if key == self.system_key {
            return Some(SYSTEM_USER.into());
        }
        let mut sessions = lock(&self.sessions);
        let s = sessions.get_mut(key)?;
        if s.last_used.elapsed() >= SESSION_IDLE {
            sessions.remove(key);
            return None;
        }
        s.last_used = Instant::now();
        Some(s.user.clone())
    }

    /// Authenticates a request from its `Authorization` header.
    pub fn authenticate(&self, header: Option<&str>) -> Result<Authenticated, AuthError> {
        self.authenticate_from(header, None)
    }

    /// Authenticates a request from its `Authorization` header, coming from address `ip`
    /// (noted as an authentication token's last use).
    pub fn authenticate_from(
        &self,
        header: Option<&str>,
        ip: Option<&str>,
    ) -> Result<Authenticated, AuthError> {
        let header = header.map(str::trim).filter(|h| !h.is_empty());
        let Some(header) = header else {
            return Err(AuthError::Missing);
        };
        let (scheme, value) = header.split_once(' ').unwrap_or((header, ""));
        let value = value.trim();
        match scheme.to_ascii_lowercase().as_str() {
            "basic" => {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(value)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or(AuthError::BadCredentials)?;
                let (user, password) = decoded.split_once(':').ok_or(AuthError::BadCredentials)?;
                let caller = self.check_password(user, password)?;
                let session_key = self.basic_session(user)?;
                Ok(Authenticated {
                    caller,
                    session_key: Secret::new(session_key),
                })
            }
            "splunk" | "bearer" if looks_like_jwt(value) => self.token_caller(value, ip),
            "splunk" | "bearer" => {
                let user = self.session_user(value).ok_or(AuthError::BadSessionKey)?;
                let caller = self.caller(&user)?.ok_or(AuthError::BadSessionKey)?;
                Ok(Authenticated {
                    caller,
                    session_key: Secret::new(value),
                })
            }
            _ => Err(AuthError::UnknownScheme),
        }
    }

    /// The caller of an authentication token, with the session its calls share.
    fn token_caller(&self, token: &str, ip: Option<&str>) -> Result<Authenticated, AuthError> {
        let store = self
            .tokens
            .as_ref()
            .ok_or(AuthError::BadToken(Rejection::Unknown))?;
        let claims = store
            .verify(token, ip, unix_now())
            .map_err(AuthError::BadToken)?;
        if RESERVED_USERS.contains(&claims.sub.as_str()) {
            return Err(AuthError::BadToken(Rejection::Unknown));
        }
        let caller = self
            .caller(&claims.sub)?
            .ok_or(AuthError::BadToken(Rejection::Unknown))?;
        let session_key = self.shared_session(&self.token_sessions, &claims.jti, &caller.user)?;
        Ok(Authenticated {
            caller,
            session_key: Secret::new(session_key),
        })
    }

    /// The session a Basic-authenticated user's requests share (splunkd makes one per call;
    /// one per user keeps the session table small).
    fn basic_session(&self, user: &str) -> Result<String, AuthError> {
        self.shared_session(&self.basic_sessions, user, user)
    }

    /// The live session of `user` kept in `table` under `slot`, made anew when it lapsed.
    fn shared_session(
        &self,
        table: &Mutex<HashMap<String, String>>,
        slot: &str,
        user: &str,
    ) -> Result<String, AuthError> {
        let existing = lock(table).get(slot).cloned();
        if let Some(key) = existing
            && self.session_user(&key).as_deref() == Some(user)
        {
            return Ok(key);
        }
        let key = self.new_session(user)?;
        lock(table).insert(slot.to_string(), key.clone());
        Ok(key)
    }
}

/// Whether an `Authorization` value is a JWT (three base64url parts) rather than a session
/// key (one base64url word).
pub fn looks_like_jwt(value: &str) -> bool {
    value.split('.').count() == 3 && value.starts_with("eyJ")
}

/// Seconds since the epoch.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conffile::ConfFile;
    use crate::devserver::users::{User, hash_password};

    fn auth(tag: &str) -> (Auth, PathBuf) {
        let dir =
            std::env::temp_dir().join(format!("splunkd-dev-auth-{tag}-{}", std::process::id()));
        let path = dir.join("users.conf");
        let mut db = UserDb::default();
        db.upsert(User {
            name: "admin".into(),
            roles: vec!["admin".into()],
            password_hash: hash_password("pw").unwrap(),
        });
        db.save(&path).unwrap();
        let roles =
            Roles::from_layers(&[ConfFile::parse("[capability::list_containers]\n").unwrap()]);
        (Auth::new(path, roles).unwrap(), dir)
    }

    fn basic(user: &str, pw: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"))
        )
    }

    #[test]
    fn basic_splunk_and_bearer() {
        let (a, dir) = auth("schemes");
        let ok = a.authenticate(Some(&basic("admin", "pw"))).unwrap();
        assert_eq!(ok.caller.user, "admin");
        assert!(ok.caller.can("list_containers"));
        let again = a.authenticate(Some(&basic("admin", "pw"))).unwrap();
        assert_eq!(
            ok.session_key, again.session_key,
            "one basic session per user"
        );
        assert!(matches!(
            a.authenticate(Some(&basic("admin", "nope"))),
            Err(AuthError::BadCredentials)
        ));
        assert!(matches!(
            a.authenticate(Some(&basic("ghost", "pw"))),
            Err(AuthError::BadCredentials)
        ));
        assert!(matches!(a.authenticate(None), Err(AuthError::Missing)));
        assert!(matches!(
            a.authenticate(Some("Digest x")),
            Err(AuthError::UnknownScheme)
        ));
        assert!(matches!(
            a.authenticate(Some("Basic !!!")),
            Err(AuthError::BadCredentials)
        ));

        let key = a.login("admin", "pw").unwrap();
        for scheme in ["Splunk", "Bearer", "splunk"] {
            let r = a.authenticate(Some(&format!("{scheme} {key}"))).unwrap();
            assert_eq!(r.caller.user, "admin");
            assert_eq!(r.session_key.expose(), key);
        }
        assert!(matches!(
            a.authenticate(Some("Splunk not-a-key")),
            Err(AuthError::BadSessionKey)
        ));
        let sys = a
            .authenticate(Some(&format!("Splunk {}", a.system_key())))
            .unwrap();
        assert_eq!(sys.caller.user, SYSTEM_USER);
        assert!(sys.caller.can("admin_all_objects"));
        assert!(a.user_exists("nobody").unwrap() && a.user_exists("admin").unwrap());
        assert!(!a.user_exists("ghost").unwrap());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn tokens_authenticate_with_a_session_for_drivers() {
        let (a, dir) = auth("tokens");
        let store = TokenStore::open(&dir, "sh1").unwrap();
        let a = a.with_tokens(store);
        let new = crate::devserver::tokens::NewToken {
            user: "admin",
            audience: "ci",
            expires_on: Some("+1h"),
            not_before: None,
        };
        let (rec, token) = a.tokens().unwrap().create(&new, unix_now()).unwrap();
        for scheme in ["Bearer", "Splunk"] {
            let r = a
                .authenticate_from(Some(&format!("{scheme} {token}")), Some("10.0.0.1"))
                .unwrap();
            assert_eq!(r.caller.user, "admin");
            assert!(r.caller.can("list_containers"));
            // Drivers get a session key of the token's user, not the token.
            assert!(!looks_like_jwt(r.session_key.expose()));
            let back = a
                .authenticate(Some(&format!("Splunk {}", r.session_key.expose())))
                .unwrap();
            assert_eq!(back.caller.user, "admin");
        }
        let session = a
            .authenticate(Some(&format!("Bearer {token}")))
            .unwrap()
            .session_key;
        a.tokens()
            .unwrap()
            .set_enabled("admin", &rec.claims.jti, false)
            .unwrap();
        a.end_token_session(&rec.claims.jti);
        assert!(matches!(
            a.authenticate(Some(&format!("Bearer {token}"))),
            Err(AuthError::BadToken(Rejection::Disabled))
        ));
        assert!(matches!(
            a.authenticate(Some(&format!("Splunk {}", session.expose()))),
            Err(AuthError::BadSessionKey)
        ));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn users_added_later_are_seen() {
        let (a, dir) = auth("reload");
        assert!(!a.user_exists("bob").unwrap());
        let path = dir.join("users.conf");
        let mut db = UserDb::load(&path).unwrap();
        db.upsert(User {
            name: "bob".into(),
            roles: vec!["user".into()],
            password_hash: hash_password("bobpw").unwrap(),
        });
        // A different size guarantees a new stamp even on coarse-mtime file systems.
        db.save(&path).unwrap();
        let bob = a.authenticate(Some(&basic("bob", "bobpw"))).unwrap();
        assert!(!bob.caller.can("list_containers"));
        assert!(bob.caller.can("search"));
        let _ = std::fs::remove_dir_all(dir);
    }
}
