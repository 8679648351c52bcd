//! splunkd's authentication tokens: HS512 JWTs shaped like splunkd's (header
//! `{"kid":"splunk.secret","alg":"HS512","ver":"v2","ttyp":"static"}`, claims `iss`, `sub`,
//! `aud`, `idp`, `jti`, `iat`, `exp`, `nbr`), signed with a key derived from SPLUNK_HOME's
//! `etc/auth/splunk.secret` as splunkd signs with its secret, and one record per token in
//! `etc/auth/splunkd-dev-tokens.conf` (owner-only). The record holds the claims, the status,
//! the last use and a SHA-256 digest of the token: never the token itself, which is shown once,
//! when it is made.
//!
//! The parsing and checking parts ([`parse_time`], [`build_claims`], [`check_record`]) are pure
//! functions; [`TokenStore`] does the file I/O and signing.

use crate::conffile::{ConfFile, Stanza};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha512};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// File name of the token records inside `etc/auth`.
pub const TOKENS_FILE: &str = "splunkd-dev-tokens.conf";

/// splunkd's JWT header, in its key order.
pub const HEADER_JSON: &str = r#"{"kid":"splunk.secret","alg":"HS512","ver":"v2","ttyp":"static"}"#;

/// The identity provider splunkd names in its own tokens.
pub const IDP: &str = "Splunk";

/// A record's last use is written to disk at most this often (seconds) unless the address
/// changes, so a polling pipeline does not rewrite the file on every call; the in-memory value
/// is always current.
const LAST_USE_WRITE_INTERVAL: i64 = 60;

/// The claims of a splunkd token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// `<user> from <server name>`.
    pub iss: String,
    /// The user the token authenticates as.
    pub sub: String,
    /// What the token is for (free text).
    pub aud: String,
    /// Always `Splunk`.
    pub idp: String,
    /// The token id.
    pub jti: String,
    /// Issued at (epoch seconds).
    pub iat: i64,
    /// Expires at (epoch seconds); 0 means never, as splunkd shows a token without `expires_on`.
    pub exp: i64,
    /// Not valid before (epoch seconds).
    pub nbr: i64,
}

/// The claims of a new token for `user`.
pub fn build_claims(
    user: &str,
    audience: &str,
    server_name: &str,
    jti: &str,
    now: i64,
    exp: i64,
    nbr: i64,
) -> Claims {
    Claims {
        iss: format!("{user} from {server_name}"),
        sub: user.to_string(),
        aud: audience.to_string(),
        idp: IDP.to_string(),
        jti: jti.to_string(),
        iat: now,
        exp,
        nbr,
    }
}

/// What splunkd-dev keeps of one token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// The signed claims.
    pub claims: Claims,
    /// `enabled` or not.
    pub enabled: bool,
    /// Hex SHA-256 of the whole token, so a record verifies exactly the token it was made for.
    pub digest: String,
    /// Epoch seconds of the last authenticated call, 0 if never used.
    pub last_used: i64,
    /// Address of that call.
    pub last_used_ip: String,
}

impl TokenRecord {
    /// `enabled` or `disabled`, as splunkd shows a token's `status`.
    pub fn status(&self) -> &'static str {
        if self.enabled { "enabled" } else { "disabled" }
    }

    fn to_stanza(&self) -> Stanza {
        let c = &self.claims;
        let mut s = Stanza::new(&c.jti);
        s.set("user", &c.sub);
        s.set("audience", &c.aud);
        s.set("iss", &c.iss);
        s.set("iat", c.iat.to_string());
        s.set("exp", c.exp.to_string());
        s.set("nbr", c.nbr.to_string());
        s.set("status", self.status());
        s.set("digest", &self.digest);
        s.set("lastUsed", self.last_used.to_string());
        s.set("lastUsedIp", &self.last_used_ip);
        s
    }

    fn from_stanza(s: &Stanza) -> Option<TokenRecord> {
        let num = |k: &str| s.get(k).and_then(|v| v.trim().parse::<i64>().ok());
        Some(TokenRecord {
            claims: Claims {
                iss: s.get("iss")?.to_string(),
                sub: s.get("user")?.to_string(),
                aud: s.get("audience").unwrap_or("").to_string(),
                idp: IDP.to_string(),
                jti: s.name.clone(),
                iat: num("iat")?,
                exp: num("exp")?,
                nbr: num("nbr")?,
            },
            enabled: s.get("status") != Some("disabled"),
            digest: s.get("digest")?.to_string(),
            last_used: num("lastUsed").unwrap_or(0),
            last_used_ip: s.get("lastUsedIp").unwrap_or("").to_string(),
        })
    }
}

/// Why a token does not authenticate. Never carries the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// Not a JWT, a bad signature, or another header.
    Invalid,
    /// No record: never made here, or deleted.
    Unknown,
    /// The record is disabled.
    Disabled,
    /// `exp` has passed.
    Expired,
    /// `nbr` is still ahead.
    NotYetValid,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Rejection::Invalid => "the token is not valid",
            Rejection::Unknown => "the token does not exist or was deleted",
            Rejection::Disabled => "the token is disabled",
            Rejection::Expired => "the token has expired",
            Rejection::NotYetValid => "the token is not valid yet",
        })
    }
}

/// Checks verified `claims` against their record at time `now`: the record must exist, be
/// for this very token (`digest`) and these claims, be enabled, and the time within
/// `[nbr, exp)` (`exp` 0: no expiry).
pub fn check_record(
    claims: &Claims,
    record: Option<&TokenRecord>,
    digest: &str,
    now: i64,
) -> Result<(), Rejection> {
    let record = record.ok_or(Rejection::Unknown)?;
    if record.digest != digest || record.claims != *claims {
        return Err(Rejection::Unknown);
    }
    if !record.enabled {
        return Err(Rejection::Disabled);
    }
    if claims.exp != 0 && now >= claims.exp {
        return Err(Rejection::Expired);
    }
    if now < claims.nbr {
        return Err(Rejection::NotYetValid);
    }
    Ok(())
}

/// Parses a time as splunkd's `expires_on` and `not_before` take it: relative to `now`
/// (`+30d`, `+1h`, `+10s`, `-5m`, `+2w`, `+1mon`, `+1y`; the number defaults to 1), epoch
/// seconds, or an absolute time (`2027-01-31T12:00:00Z`, or without an offset as UTC).
pub fn parse_time(text: &str, now: i64) -> Result<i64, String> {
    let t = text.trim();
    // An unencoded `+` in a form body arrives as a space: say so rather than only "bad time".
    let lost_plus = t.starts_with(|c: char| c.is_ascii_digit())
        && t.ends_with(|c: char| c.is_ascii_alphabetic())
        && !t.contains(['-', ':']);
    let bad = || {
        let hint = if lost_plus {
            " (a '+' in a form body must be sent as %2B, e.g. curl --data-urlencode expires_on=+30d)"
        } else {
            ""
        };
        format!(
            "cannot read the time {t:?}: use a relative time such as +30d, +1h or +10s, epoch seconds, or YYYY-MM-DDTHH:MM:SS{hint}"
        )
    };
    if t.is_empty() {
        return Err(bad());
    }
    if let Some(rest) = t.strip_prefix('+').or_else(|| t.strip_prefix('-')) {
        let sign: i64 = if t.starts_with('-') { -1 } else { 1 };
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let (number, unit) = rest.split_at(digits);
        let n: i64 = if number.is_empty() {
            1
        } else {
            number.parse().map_err(|_| bad())?
        };
        let n = n.checked_mul(sign).ok_or_else(bad)?;
        return shift(now, n, &unit.to_ascii_lowercase()).ok_or_else(bad);
    }
    if t.bytes().all(|b| b.is_ascii_digit()) {
        return t.parse().map_err(|_| bad());
    }
    if let Ok(ts) = t.parse::<jiff::Timestamp>() {
        return Ok(ts.as_second());
    }
    let civil = t
        .parse::<jiff::civil::DateTime>()
        .or_else(|_| {
            t.parse::<jiff::civil::Date>()
                .map(|d| d.to_datetime(jiff::civil::Time::midnight()))
        })
        .map_err(|_| bad())?;
    civil
        .to_zoned(jiff::tz::TimeZone::UTC)
        .map(|z| z.timestamp().as_second())
        .map_err(|_| bad())
}

/// `now` moved by `n` units; months and years on the UTC calendar.
fn shift(now: i64, n: i64, unit: &str) -> Option<i64> {
    let seconds = match unit {
        "s" | "sec" | "secs" | "second" | "seconds" => 1,
        "m" | "min" | "mins" | "minute" | "minutes" => 60,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3600,
        "d" | "day" | "days" => 86_400,
        "w" | "week" | "weeks" => 604_800,
        "mon" | "month" | "months" | "y" | "yr" | "yrs" | "year" | "years" => {
            let span = if unit.starts_with("mon") {
                jiff::Span::new().try_months(n).ok()?
            } else {
                jiff::Span::new().try_years(n).ok()?
            };
            let start = jiff::Timestamp::from_second(now)
                .ok()?
                .to_zoned(jiff::tz::TimeZone::UTC);
            return Some(start.checked_add(span).ok()?.timestamp().as_second());
        }
        _ => return None,
    };
    now.checked_add(n.checked_mul(seconds)?)
}

/// Hex SHA-256 of a token (what a record keeps instead of it).
pub fn digest(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The HMAC key of splunkd-dev's tokens, from the bytes of `splunk.secret` (surrounding
/// whitespace ignored, as for `$7$`), domain-separated from the `$7$` key.
pub fn signing_key(secret_file: &[u8]) -> [u8; 64] {
    let mut h = Sha512::new();
    h.update(b"splunkd-dev authentication tokens\0");
    h.update(secret_file.trim_ascii());
    h.finalize().into()
}

/// Why a token could not be made or a record changed.
#[derive(Debug)]
pub enum TokenError {
    /// A bad argument (400).
    Invalid(String),
    /// No such token for that user (404).
    NotFound(String),
    /// Reading or writing SPLUNK_HOME failed (500).
    Io(String),
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenError::Invalid(m) | TokenError::NotFound(m) | TokenError::Io(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for TokenError {}

/// A new token's arguments, as `POST authorization/tokens` takes them.
#[derive(Debug, Clone, Default)]
pub struct NewToken<'a> {
    /// The user the token is for.
    pub user: &'a str,
    /// `audience`.
    pub audience: &'a str,
    /// `expires_on`, if given.
    pub expires_on: Option<&'a str>,
    /// `not_before`, if given.
    pub not_before: Option<&'a str>,
}

struct Records {
    by_id: BTreeMap<String, TokenRecord>,
    /// Last use as written to disk, per id.
    saved_use: HashMap<String, (i64, String)>,
}

/// The tokens of one SPLUNK_HOME: the signing key and the records.
pub struct TokenStore {
    path: PathBuf,
    server_name: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    records: Mutex<Records>,
}

impl fmt::Debug for TokenStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl TokenStore {
    /// Opens the tokens of `auth_dir` (`etc/auth`): its `splunk.secret` (created if missing)
    /// gives the key, [`TOKENS_FILE`] the records. `server_name` goes into `iss`.
    pub fn open(auth_dir: &Path, server_name: &str) -> Result<TokenStore, TokenError> {
        let io = |e: std::io::Error| TokenError::Io(format!("{}: {e}", auth_dir.display()));
        let secret_path = auth_dir.join("splunk.secret");
        super::secret::SplunkSecret::load_or_create(&secret_path).map_err(io)?;
        let key = signing_key(&std::fs::read(&secret_path).map_err(io)?);
        let path = auth_dir.join(TOKENS_FILE);
        let conf = ConfFile::load(&path).map_err(io)?;
        let by_id: BTreeMap<String, TokenRecord> = conf
            .stanzas
            .iter()
            .filter_map(TokenRecord::from_stanza)
            .map(|r| (r.claims.jti.clone(), r))
            .collect();
        let saved_use = by_id
            .values()
            .map(|r| (r.claims.jti.clone(), (r.last_used, r.last_used_ip.clone())))
            .collect();
        Ok(TokenStore {
            path,
            server_name: server_name.to_string(),
            encoding: EncodingKey::from_secret(&key),
            decoding: DecodingKey::from_secret(&key),
            records: Mutex::new(Records { by_id, saved_use }),
        })
    }

    fn save(&self, records: &mut Records) -> Result<(), TokenError> {
        let conf = ConfFile {
            stanzas: records.by_id.values().map(TokenRecord::to_stanza).collect(),
        };
        let text = format!(
            "# splunkd-dev authentication tokens: claims, status and last use of each token,\n\
             # and a SHA-256 digest of it. The tokens themselves are not kept.\n\n{}",
            conf.render()
        );
        crate::conffile::write_atomic(&self.path, text.as_bytes(), 0o600)
            .map_err(|e| TokenError::Io(format!("{}: {e}", self.path.display())))?;
        records.saved_use = records
            .by_id
            .values()
            .map(|r| (r.claims.jti.clone(), (r.last_used, r.last_used_ip.clone())))
            .collect();
        Ok(())
    }

    /// Signs `claims` into a JWT with splunkd's header.
    fn sign(&self, claims: &Claims) -> Result<String, TokenError> {
        let body = serde_json::to_vec(claims).map_err(|e| TokenError::Io(e.to_string()))?;
        let message = format!("{}.{}", B64URL.encode(HEADER_JSON), B64URL.encode(body));
        let signature =
            jsonwebtoken::crypto::sign(message.as_bytes(), &self.encoding, Algorithm::HS512)
                .map_err(|e| TokenError::Io(format!("cannot sign a token: {e}")))?;
        Ok(format!("{message}.{signature}"))
    }

    /// Makes a token at time `now`: returns its record and the token, which is not kept.
    pub fn create(&self, new: &NewToken, now: i64) -> Result<(TokenRecord, String), TokenError> {
        let exp = match new.expires_on.map(str::trim).filter(|t| !t.is_empty()) {
            Some(t) => {
                parse_time(t, now).map_err(|e| TokenError::Invalid(format!("expires_on: {e}")))?
            }
            None => 0,
        };
        let nbr = match new.not_before.map(str::trim).filter(|t| !t.is_empty()) {
            Some(t) => {
                parse_time(t, now).map_err(|e| TokenError::Invalid(format!("not_before: {e}")))?
            }
            None => now,
        };
        if exp != 0 && exp <= now {
            return Err(TokenError::Invalid(
                "expires_on must be in the future".into(),
            ));
        }
        if exp != 0 && nbr >= exp {
            return Err(TokenError::Invalid(
                "not_before must be earlier than expires_on".into(),
            ));
        }
        let mut id = [0u8; 32];
        getrandom::fill(&mut id).map_err(|e| TokenError::Io(format!("no random bytes: {e}")))?;
        let jti: String = id.iter().map(|b| format!("{b:02x}")).collect();
        let claims = build_claims(
            new.user,
            new.audience,
            &self.server_name,
            &jti,
            now,
            exp,
            nbr,
        );
        let token = self.sign(&claims)?;
        let record = TokenRecord {
            claims,
            enabled: true,
            digest: digest(&token),
            last_used: 0,
            last_used_ip: String::new(),
        };
        let mut records = lock(&self.records);
        records.by_id.insert(jti, record.clone());
        if let Err(e) = self.save(&mut records) {
            records.by_id.remove(&record.claims.jti);
            return Err(e);
        }
        Ok((record, token))
    }

    /// Verifies `token` at time `now` (signature, header, record, times) and notes its use
    /// from `ip`. Returns the token's claims.
    pub fn verify(&self, token: &str, ip: Option<&str>, now: i64) -> Result<Claims, Rejection> {
        let header = token.split('.').next().unwrap_or("");
        let header_ok = B64URL
            .decode(header)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .is_some_and(|h| h["kid"] == "splunk.secret" && h["alg"] == "HS512");
        if !header_ok {
            return Err(Rejection::Invalid);
        }
        let mut validation = Validation::new(Algorithm::HS512);
        // Times are checked against the record below (splunkd's claim is `nbr`, not `nbf`).
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map_err(|_| Rejection::Invalid)?
            .claims;
        let mut records = lock(&self.records);
        check_record(&claims, records.by_id.get(&claims.jti), &digest(token), now)?;
        let ip = ip.unwrap_or("").to_string();
        let stale = match records.saved_use.get(&claims.jti) {
            Some((at, saved_ip)) => now - at >= LAST_USE_WRITE_INTERVAL || *saved_ip != ip,
            None => true,
        };
        if let Some(r) = records.by_id.get_mut(&claims.jti) {
            r.last_used = now;
            r.last_used_ip = ip;
        }
        if stale {
            // The use is still noted in memory when the write fails; the call goes on.
            let _ = self.save(&mut records);
        }
        Ok(claims)
    }

    /// Every record, by id.
    pub fn list(&self) -> Vec<TokenRecord> {
        lock(&self.records).by_id.values().cloned().collect()
    }

    /// Enables or disables token `id` of `user`.
    pub fn set_enabled(
        &self,
        user: &str,
        id: &str,
        enabled: bool,
    ) -> Result<TokenRecord, TokenError> {
        let mut records = lock(&self.records);
        let r = records
            .by_id
            .get_mut(id)
            .filter(|r| r.claims.sub == user)
            .ok_or_else(|| not_found(user, id))?;
        let before = r.enabled;
        r.enabled = enabled;
        let out = r.clone();
        if let Err(e) = self.save(&mut records) {
            if let Some(r) = records.by_id.get_mut(id) {
                r.enabled = before;
            }
            return Err(e);
        }
        Ok(out)
    }

    /// Deletes token `id` of `user`.
    pub fn delete(&self, user: &str, id: &str) -> Result<TokenRecord, TokenError> {
        let mut records = lock(&self.records);
        if records.by_id.get(id).is_none_or(|r| r.claims.sub != user) {
            return Err(not_found(user, id));
        }
        let removed = records
            .by_id
            .remove(id)
            .ok_or_else(|| not_found(user, id))?;
        if let Err(e) = self.save(&mut records) {
            records.by_id.insert(id.to_string(), removed);
            return Err(e);
        }
        Ok(removed)
    }
}

fn not_found(user: &str, id: &str) -> TokenError {
    TokenError::NotFound(format!("User {user} has no token with id {id}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn relative_epoch_and_absolute_times() {
        assert_eq!(parse_time("+30d", NOW), Ok(NOW + 30 * 86_400));
        assert_eq!(parse_time("+1h", NOW), Ok(NOW + 3600));
        assert_eq!(parse_time("+10s", NOW), Ok(NOW + 10));
        assert_eq!(parse_time(" +15m ", NOW), Ok(NOW + 900));
        assert_eq!(parse_time("-5min", NOW), Ok(NOW - 300));
        assert_eq!(parse_time("+2w", NOW), Ok(NOW + 2 * 604_800));
        assert_eq!(parse_time("+d", NOW), Ok(NOW + 86_400));
        // 2027-01-15T00:00:00Z plus one calendar month is 31 days later.
        let jan = 1_800_000_000 - (1_800_000_000 % 86_400);
        assert_eq!(parse_time("+1mon", jan), Ok(jan + 31 * 86_400));
        assert_eq!(parse_time("+1y", jan), Ok(jan + 365 * 86_400));
        assert_eq!(parse_time("1900000000", NOW), Ok(1_900_000_000));
        assert_eq!(parse_time("2027-01-31T12:00:00Z", NOW), Ok(1_801_396_800));
        assert_eq!(parse_time("2027-01-31T12:00:00", NOW), Ok(1_801_396_800));
        assert_eq!(parse_time("2027-01-31", NOW), Ok(1_801_353_600));
        assert!(parse_time(" 30d", NOW).unwrap_err().contains("%2B"));
        assert!(!parse_time("soon", NOW).unwrap_err().contains("%2B"));
        for bad in [
            "",
            "+",
            "+3x",
            "soon",
            "+1.5h",
            "2027-13-01",
            "+99999999999999999999d",
        ] {
            assert!(parse_time(bad, NOW).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn claims_are_shaped_like_splunkds() {
        let c = build_claims("alice", "ci", "sh1", "ab12", NOW, NOW + 60, NOW);
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"iss": "alice from sh1", "sub": "alice", "aud": "ci",
                "idp": "Splunk", "jti": "ab12", "iat": NOW, "exp": NOW + 60, "nbr": NOW})
        );
    }

    fn record(c: &Claims, enabled: bool) -> TokenRecord {
        TokenRecord {
            claims: c.clone(),
            enabled,
            digest: "d1".into(),
            last_used: 0,
            last_used_ip: String::new(),
        }
    }

    #[test]
    fn records_decide() {
        let c = build_claims("alice", "ci", "sh1", "ab12", NOW, NOW + 60, NOW + 10);
        let ok = record(&c, true);
        assert_eq!(check_record(&c, Some(&ok), "d1", NOW + 10), Ok(()));
        assert_eq!(check_record(&c, Some(&ok), "d1", NOW + 59), Ok(()));
        assert_eq!(
            check_record(&c, Some(&ok), "d1", NOW + 60),
            Err(Rejection::Expired)
        );
        assert_eq!(
            check_record(&c, Some(&ok), "d1", NOW + 9),
            Err(Rejection::NotYetValid)
        );
        assert_eq!(
            check_record(&c, None, "d1", NOW + 10),
            Err(Rejection::Unknown)
        );
        assert_eq!(
            check_record(&c, Some(&ok), "d2", NOW + 10),
            Err(Rejection::Unknown)
        );
        assert_eq!(
            check_record(&c, Some(&record(&c, false)), "d1", NOW + 10),
            Err(Rejection::Disabled)
        );
        let mut other = c.clone();
        other.sub = "mallory".into();
        assert_eq!(
            check_record(&other, Some(&ok), "d1", NOW + 10),
            Err(Rejection::Unknown)
        );
        let forever = build_claims("alice", "ci", "sh1", "ab12", NOW, 0, NOW);
        assert_eq!(
            check_record(&forever, Some(&record(&forever, true)), "d1", i64::MAX),
            Ok(())
        );
    }

    fn store(tag: &str) -> (TokenStore, PathBuf) {
        let dir =
            std::env::temp_dir().join(format!("splunkd-dev-tokens-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        (TokenStore::open(&dir, "sh1").unwrap(), dir)
    }

    #[test]
    fn tokens_verify_persist_and_never_land_on_disk() {
        let (s, dir) = store("persist");
        let new = NewToken {
            user: "alice",
            audience: "ci",
            expires_on: Some("+1h"),
            not_before: None,
        };
        let (rec, token) = s.create(&new, NOW).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(B64URL.decode(parts[0]).unwrap(), HEADER_JSON.as_bytes());
        let claims = s.verify(&token, Some("127.0.0.1"), NOW + 1).unwrap();
        assert_eq!(claims, rec.claims);
        assert_eq!(claims.exp, NOW + 3600);

        // One changed byte of the signature, or of the claims, is refused.
        let mut sig = parts[2].as_bytes().to_vec();
        sig[3] = if sig[3] == b'A' { b'B' } else { b'A' };
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            parts[1],
            String::from_utf8(sig).unwrap()
        );
        assert_eq!(s.verify(&forged, None, NOW + 1), Err(Rejection::Invalid));
        assert_eq!(s.verify("a.b.c", None, NOW), Err(Rejection::Invalid));

        let text = std::fs::read_to_string(dir.join(TOKENS_FILE)).unwrap();
        assert!(!text.contains(&token) && !text.contains(parts[2]), "{text}");
        assert!(text.contains("lastUsedIp = 127.0.0.1"), "{text}");

        // Another store on the same SPLUNK_HOME (a restart) verifies it and keeps the status.
        s.set_enabled("alice", &rec.claims.jti, false).unwrap();
        let again = TokenStore::open(&dir, "sh1").unwrap();
        assert_eq!(
            again.verify(&token, None, NOW + 2),
            Err(Rejection::Disabled)
        );
        again.set_enabled("alice", &rec.claims.jti, true).unwrap();
        assert!(again.verify(&token, None, NOW + 2).is_ok());
        assert!(matches!(
            again.set_enabled("bob", &rec.claims.jti, true),
            Err(TokenError::NotFound(_))
        ));
        assert_eq!(
            again.verify(&token, None, NOW + 3600),
            Err(Rejection::Expired)
        );
        again.delete("alice", &rec.claims.jti).unwrap();
        assert_eq!(again.verify(&token, None, NOW + 2), Err(Rejection::Unknown));
        assert!(again.list().is_empty());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn bad_times_are_refused() {
        let (s, dir) = store("times");
        let mut new = NewToken {
            user: "alice",
            audience: "ci",
            expires_on: Some("-1h"),
            not_before: None,
        };
        assert!(matches!(s.create(&new, NOW), Err(TokenError::Invalid(_))));
        new.expires_on = Some("+1h");
        new.not_before = Some("+2h");
        assert!(matches!(s.create(&new, NOW), Err(TokenError::Invalid(_))));
        new.not_before = Some("later");
        assert!(matches!(s.create(&new, NOW), Err(TokenError::Invalid(_))));
        new.expires_on = None;
        new.not_before = Some("+1h");
        let (rec, _) = s.create(&new, NOW).unwrap();
        assert_eq!((rec.claims.exp, rec.claims.nbr), (0, NOW + 3600));
        let _ = std::fs::remove_dir_all(dir);
    }
}
