//! splunkd-dev's users file: `etc/auth/splunkd-dev-users.conf` under SPLUNK_HOME, one stanza per
//! user with its roles and a salted PBKDF2-SHA256 password hash, so no password is ever stored
//! in clear. Created on first run with an `admin` user; `splunkd-dev add-user` adds more.
//!
//! ```text
//! [admin]
//! roles = admin
//! password = $pbkdf2-sha256$<rounds>$<salt, base64>$<hash, base64>
//! ```

use crate::conffile::{ConfFile, Stanza, is_valid_stanza_name};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use std::fmt;
use std::path::{Path, PathBuf};

/// File name of the users file inside `etc/auth`.
pub const USERS_FILE: &str = "splunkd-dev-users.conf";

/// PBKDF2 rounds for new hashes. Verified logins are cached in memory (see `auth`), so the
/// cost is paid once per credential and server run.
pub const ROUNDS: u32 = 100_000;

const SCHEME: &str = "pbkdf2-sha256";
const SALT_LEN: usize = 16;
const HASH_LEN: usize = 32;

/// User names splunkd reserves: namespaces accept them, nobody logs in as them.
pub const RESERVED_USERS: &[&str] = &["nobody", "splunk-system-user", "-"];

/// One user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Login name.
    pub name: String,
    /// Role names.
    pub roles: Vec<String>,
    /// `$pbkdf2-sha256$...` hash of the password.
    pub password_hash: String,
}

/// Why the users file could not be read, written or changed.
#[derive(Debug)]
pub enum UsersError {
    /// Reading or writing the file failed.
    Io(PathBuf, std::io::Error),
    /// No randomness for a salt.
    Random(String),
    /// A name, role or password that cannot be stored.
    Invalid(String),
}

impl fmt::Display for UsersError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsersError::Io(p, e) => write!(f, "users file {}: {e}", p.display()),
            UsersError::Random(e) => write!(f, "no random bytes for a password salt: {e}"),
            UsersError::Invalid(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for UsersError {}

/// The users file's contents.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserDb {
    /// Users in file order.
    pub users: Vec<User>,
}

/// `etc/auth/splunkd-dev-users.conf` of a SPLUNK_HOME.
pub fn users_path(splunk_home: &Path) -> PathBuf {
    splunk_home.join("etc/auth").join(USERS_FILE)
}

impl UserDb {
    /// Reads the users file; a missing file is an empty database.
    pub fn load(path: &Path) -> Result<UserDb, UsersError> {
        let conf = ConfFile::load(path).map_err(|e| UsersError::Io(path.to_path_buf(), e))?;
        let users = conf
            .stanzas
            .iter()
            .filter(|s| s.name != "default")
            .filter_map(|s| {
                Some(User {
                    name: s.name.clone(),
                    roles: split_roles(s.get("roles").unwrap_or("")),
                    password_hash: s.get("password")?.to_string(),
                })
            })
            .collect();
        Ok(UserDb { users })
    }

    /// Writes the file atomically (temporary file, then rename), readable by the owner only.
    pub fn save(&self, path: &Path) -> Result<(), UsersError> {
        let io = |e| UsersError::Io(path.to_path_buf(), e);
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(io)?;
        let mut conf = ConfFile::default();
        for u in &self.users {
            let mut s = Stanza::new(&u.name);
            s.set("roles", u.roles.join(";"));
            s.set("password", &u.password_hash);
            conf.stanzas.push(s);
        }
        let text = format!(
            "# splunkd-dev users. Passwords are salted PBKDF2-SHA256 hashes\n\
             # ($pbkdf2-sha256$<rounds>$<salt>$<hash>). Add users with `splunkd-dev add-user`.\n\n{}",
            conf.render()
        );
        crate::conffile::write_atomic(path, text.as_bytes(), 0o600).map_err(io)
    }

    /// The user called `name`.
    pub fn get(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|u| u.name == name)
    }

    /// Adds `user`, or replaces the user with the same name.
    pub fn upsert(&mut self, user: User) {
        match self.users.iter_mut().find(|u| u.name == user.name) {
            Some(u) => *u = user,
            None => self.users.push(user),
        }
    }
}

/// Splits `a;b` or `a,b` into role names.
pub fn split_roles(text: &str) -> Vec<String> {
    text.split([';', ','])
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_string)
        .collect()
}

/// Builds a user from a clear password, checking the name and roles can be stored.
pub fn new_user(name: &str, password: &str, roles: &[String]) -> Result<User, UsersError> {
    if !is_valid_stanza_name(name)
        || name.contains(['/', ':', ' ', '\t'])
        || RESERVED_USERS.contains(&name)
    {
        return Err(UsersError::Invalid(format!(
            "{name:?} cannot be a user name: use letters, digits, '.', '_', '-' or '@' (and not nobody, splunk-system-user or -)"
        )));
    }
    if password.is_empty() {
        return Err(UsersError::Invalid("the password must not be empty".into()));
    }
    if let Some(bad) = roles
        .iter()
        .find(|r| r.is_empty() || r.contains([';', ',', ' ', '\n']))
    {
        return Err(UsersError::Invalid(format!(
            "{bad:?} cannot be a role name"
        )));
    }
    Ok(User {
        name: name.to_string(),
        roles: roles.to_vec(),
        password_hash: hash_password(password)?,
    })
}

/// A fresh salted hash of `password`.
pub fn hash_password(password: &str) -> Result<String, UsersError> {
    let mut salt = [0u8; SALT_LEN];
    getrandom::fill(&mut salt).map_err(|e| UsersError::Random(e.to_string()))?;
    Ok(hash_with(password, &salt, ROUNDS))
}

fn hash_with(password: &str, salt: &[u8], rounds: u32) -> String {
    let hash =
        pbkdf2::pbkdf2_hmac_array::<sha2::Sha256, HASH_LEN>(password.as_bytes(), salt, rounds);
    format!(
        "${SCHEME}${rounds}${}${}",
        B64.encode(salt),
        B64.encode(hash)
    )
}

/// Whether `password` matches `stored`; a malformed hash never matches.
pub fn verify_password(password: &str, stored: &str) -> bool {
    let parts: Vec<&str> = stored.split('$').collect();
    let [_, scheme, rounds, salt, hash] = parts.as_slice() else {
        return false;
    };
    let (Ok(rounds), Ok(salt), Ok(want)) = (
        rounds.parse::<u32>(),
        B64.decode(salt.as_bytes()),
        B64.decode(hash.as_bytes()),
    ) else {
        return false;
    };
    if *scheme != SCHEME || rounds == 0 || want.len() != HASH_LEN {
        return false;
    }
    let got =
        pbkdf2::pbkdf2_hmac_array::<sha2::Sha256, HASH_LEN>(password.as_bytes(), &salt, rounds);
    constant_time_eq(&got, &want)
}

/// Compares without an early exit, so timing says nothing about where two hashes differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A random password for the first admin: 18 random bytes, URL-safe base64.
pub fn generate_password() -> Result<String, UsersError> {
    let mut bytes = [0u8; 18];
    getrandom::fill(&mut bytes).map_err(|e| UsersError::Random(e.to_string()))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_never_hold_the_password() {
        let h = hash_with("s3cret pw", b"0123456789abcdef", 1000);
        assert!(h.starts_with("$pbkdf2-sha256$1000$"), "{h}");
        assert!(!h.contains("s3cret"));
        assert!(verify_password("s3cret pw", &h));
        assert!(!verify_password("s3cret pX", &h));
        for bad in [
            "",
            "plain",
            "$pbkdf2-sha256$0$AAAA$AAAA",
            "$md5$1$a$b",
            "$pbkdf2-sha256$x$a$b",
        ] {
            assert!(!verify_password("", bad), "{bad}");
        }
        let fresh = hash_password("pw").unwrap();
        assert_ne!(fresh, hash_password("pw").unwrap(), "salted");
    }

    #[test]
    fn file_round_trip_and_upsert() {
        let dir = std::env::temp_dir().join(format!("splunkd-dev-users-{}", std::process::id()));
        let path = dir.join(USERS_FILE);
        let mut db = UserDb::default();
        db.upsert(User {
            name: "admin".into(),
            roles: vec!["admin".into()],
            password_hash: hash_with("a", b"salt", 10),
        });
        db.upsert(User {
            name: "bob".into(),
            roles: vec!["user".into(), "power".into()],
            password_hash: hash_with("b", b"salt", 10),
        });
        db.save(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("roles = user;power"), "{text}");
        let back = UserDb::load(&path).unwrap();
        assert_eq!(back, db);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "owner only");
        }
        let _ = std::fs::remove_dir_all(&dir);
        assert!(UserDb::load(&dir.join("missing")).unwrap().users.is_empty());
    }

    #[test]
    fn names_are_checked() {
        assert!(new_user("nobody", "x", &[]).is_err());
        assert!(new_user("a b", "x", &[]).is_err());
        assert!(new_user("bob", "", &[]).is_err());
        assert!(new_user("bob", "x", &["a;b".into()]).is_err());
        assert_eq!(split_roles("a; b,c;;"), ["a", "b", "c"]);
        assert_eq!(generate_password().unwrap().len(), 24);
    }
}
