//! splunkd's `$7$` secret format and the `splunk.secret` key file it derives from, so
//! splunkd-dev writes `passwords.conf` exactly as a real Splunk does and a real Splunk (or the
//! `splunksecrets` tool) can read it.
//!
//! Format (Splunk 7.2 and later): key = PBKDF2-HMAC-SHA256 over the contents of
//! `splunk.secret` with surrounding whitespace stripped, NUL-padded or truncated to 254 bytes,
//! salt `disk-encryption`, 1 iteration, 32 bytes. Cipher = AES-256-GCM with a 16-byte random IV
//! and a 16-byte tag. Stored text = `"$7$" + base64(iv || ciphertext || tag)`.

use aes_gcm::aead::consts::U16;
use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::aes::Aes256;
use aes_gcm::{AesGcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, general_purpose::STANDARD};
use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// AES-256-GCM with splunkd's 16-byte IV.
type Cipher = AesGcm<Aes256, U16>;

/// Prefix of splunkd's current secret format.
pub const PREFIX_V7: &str = "$7$";
/// Prefix of the legacy RC4 format, recognised but not decrypted.
pub const PREFIX_V1: &str = "$1$";

/// Length splunkd pads or truncates the secret to before deriving the key.
const SECRET_LEN: usize = 254;
const SALT: &[u8] = b"disk-encryption";
const IV_LEN: usize = 16;
const TAG_LEN: usize = 16;

/// Characters of a generated `splunk.secret`: printable and shell-safe, like Splunk's own.
const SECRET_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789./";

/// Standard base64 that also accepts text without its `=` padding, as splunkd does.
const LENIENT_B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why a stored value could not be decrypted. Never carries the value itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretError {
    /// Not a `$7$` value (a `$1$` value or something else).
    UnsupportedFormat,
    /// The base64 or the length is wrong.
    Malformed,
    /// Authentication failed: another `splunk.secret` encrypted it, or it was altered.
    WrongKey,
    /// The plaintext is not UTF-8.
    NotText,
    /// The system random generator failed.
    Random,
    /// The plaintext is beyond what AES-GCM can encrypt.
    TooLong,
}

impl fmt::Display for SecretError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SecretError::UnsupportedFormat => "the stored value is not in splunkd's $7$ format",
            SecretError::Malformed => "the stored $7$ value is malformed",
            SecretError::WrongKey => {
                "the stored value was encrypted with a different splunk.secret or was altered"
            }
            SecretError::NotText => "the decrypted value is not UTF-8 text",
            SecretError::Random => "the system random number generator failed",
            SecretError::TooLong => "the value is too long to encrypt",
        })
    }
}

impl std::error::Error for SecretError {}

/// The AES key derived from one `splunk.secret`; encrypts and decrypts `$7$` values.
#[derive(Clone)]
pub struct SplunkSecret {
    key: [u8; 32],
}

impl fmt::Debug for SplunkSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SplunkSecret(<redacted>)")
    }
}

impl SplunkSecret {
    /// Derives the key from the bytes of a `splunk.secret` file.
    pub fn from_file_contents(contents: &[u8]) -> SplunkSecret {
        let trimmed = contents.trim_ascii();
        let mut padded = [0u8; SECRET_LEN];
        let n = trimmed.len().min(SECRET_LEN);
        padded[..n].copy_from_slice(&trimmed[..n]);
        let mut key = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<sha2::Sha256>(&padded, SALT, 1, &mut key);
        SplunkSecret { key }
    }

    /// Reads `path`, creating it first (mode 0600, random content) when it does not exist.
    /// Creation is race-free: the file appears complete or not at all, and when two processes
    /// create it at once both end up using the same one.
    pub fn load_or_create(path: &Path) -> io::Result<SplunkSecret> {
        match fs::read(path) {
            Ok(bytes) => return Ok(Self::from_file_contents(&bytes)),
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            Err(_) => {}
        }
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let text = generate_secret_text().map_err(io::Error::other)?;
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = path.with_file_name(format!(".splunk.secret.{}.{n}.tmp", std::process::id()));
        let written = write_private(&tmp, text.as_bytes());
        // A hard link fails if the target exists, so only one creator wins.
        let linked = written.and_then(|()| fs::hard_link(&tmp, path));
        let _ = fs::remove_file(&tmp);
        match linked {
            Ok(()) => Ok(Self::from_file_contents(text.as_bytes())),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                Ok(Self::from_file_contents(&fs::read(path)?))
            }
            Err(e) => Err(e),
        }
    }

    /// Encrypts `plaintext` into a `$7$` value with a fresh random IV.
    pub fn encrypt(&self, plaintext: &str) -> Result<String, SecretError> {
        let mut iv = [0u8; IV_LEN];
        getrandom::fill(&mut iv).map_err(|_| SecretError::Random)?;
        self.encrypt_with_iv(plaintext, &iv)
    }

    fn encrypt_with_iv(&self, plaintext: &str, iv: &[u8; IV_LEN]) -> Result<String, SecretError> {
        let cipher = Cipher::new(&self.key.into());
        let sealed = cipher
            .encrypt(Nonce::<U16>::from_slice(iv), plaintext.as_bytes())
            .map_err(|_| SecretError::TooLong)?;
        let mut raw = Vec::with_capacity(IV_LEN + sealed.len());
        raw.extend_from_slice(iv);
        raw.extend_from_slice(&sealed);
        Ok(format!("{PREFIX_V7}{}", STANDARD.encode(raw)))
    }

    /// Decrypts a `$7$` value (base64 padding optional, surrounding whitespace ignored).
    pub fn decrypt(&self, stored: &str) -> Result<String, SecretError> {
        let body = stored
            .trim()
            .strip_prefix(PREFIX_V7)
            .ok_or(SecretError::UnsupportedFormat)?;
        let raw = LENIENT_B64
            .decode(body)
            .map_err(|_| SecretError::Malformed)?;
        if raw.len() < IV_LEN + TAG_LEN {
            return Err(SecretError::Malformed);
        }
        let (iv, sealed) = raw.split_at(IV_LEN);
        let cipher = Cipher::new(&self.key.into());
        let plain = cipher
            .decrypt(Nonce::<U16>::from_slice(iv), sealed)
            .map_err(|_| SecretError::WrongKey)?;
        String::from_utf8(plain).map_err(|_| SecretError::NotText)
    }
}

/// Distinguishes temporary files of concurrent creators in one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes a new file readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Whether a stored `password` value is already encrypted (`$7$` or the legacy `$1$`);
/// splunkd treats anything else in passwords.conf as clear text to encrypt.
pub fn is_encrypted(stored: &str) -> bool {
    let s = stored.trim_start();
    s.starts_with(PREFIX_V7) || s.starts_with(PREFIX_V1)
}

/// New `splunk.secret` content: 254 random characters from a printable alphabet, no newline.
pub fn generate_secret_text() -> Result<String, SecretError> {
    let mut bytes = [0u8; SECRET_LEN];
    getrandom::fill(&mut bytes).map_err(|_| SecretError::Random)?;
    // 64 symbols: taking 6 bits per byte keeps the choice uniform.
    Ok(bytes
        .iter()
        .map(|b| SECRET_ALPHABET[usize::from(b & 63)] as char)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"Ab3.xYz/0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

    #[test]
    fn round_trip_and_random_iv() {
        let s = SplunkSecret::from_file_contents(SECRET);
        let a = s.encrypt("hunter2 ✓").unwrap();
        let b = s.encrypt("hunter2 ✓").unwrap();
        assert!(a.starts_with("$7$"));
        assert_ne!(a, b, "each encryption uses a fresh IV");
        assert_eq!(s.decrypt(&a).unwrap(), "hunter2 ✓");
        assert_eq!(s.decrypt(&b).unwrap(), "hunter2 ✓");
        assert_eq!(s.decrypt(&s.encrypt("").unwrap()).unwrap(), "");
    }

    #[test]
    fn known_vector_from_splunksecrets() {
        // splunksecrets 1.1.0: encrypt_new(SECRET, "changeme", iv=bytes(range(16))).
        let s = SplunkSecret::from_file_contents(SECRET);
        let iv: [u8; 16] = std::array::from_fn(|i| i as u8);
        assert_eq!(
            s.encrypt_with_iv("changeme", &iv).unwrap(),
            "$7$AAECAwQFBgcICQoLDA0OD6g34HG+jgtqXNa0yJLerwHQP/X1KSunyQ=="
        );
    }

    #[test]
    fn whitespace_around_the_secret_is_ignored_and_long_secrets_truncate() {
        let a = SplunkSecret::from_file_contents(SECRET);
        let mut padded = b"  \n".to_vec();
        padded.extend_from_slice(SECRET);
        padded.extend_from_slice(b"\n");
        let b = SplunkSecret::from_file_contents(&padded);
        assert_eq!(b.decrypt(&a.encrypt("x").unwrap()).unwrap(), "x");

        let long: Vec<u8> = (0..300).map(|i| b'a' + (i % 26) as u8).collect();
        let mut longer = long.clone();
        longer[280] = b'!';
        let l1 = SplunkSecret::from_file_contents(&long);
        let l2 = SplunkSecret::from_file_contents(&longer);
        assert_eq!(l2.decrypt(&l1.encrypt("y").unwrap()).unwrap(), "y");
        let mut changed = long.clone();
        changed[100] = b'!';
        let l3 = SplunkSecret::from_file_contents(&changed);
        assert_eq!(
            l3.decrypt(&l1.encrypt("y").unwrap()),
            Err(SecretError::WrongKey)
        );
    }

    #[test]
    fn decoder_accepts_missing_padding_and_rejects_garbage() {
        let s = SplunkSecret::from_file_contents(SECRET);
        let mut v = s.encrypt("pad me").unwrap();
        while v.ends_with('=') {
            v.pop();
        }
        assert_eq!(s.decrypt(&v).unwrap(), "pad me");
        assert_eq!(s.decrypt("$1$abcd"), Err(SecretError::UnsupportedFormat));
        assert_eq!(s.decrypt("plain"), Err(SecretError::UnsupportedFormat));
        assert_eq!(s.decrypt("$7$!!!"), Err(SecretError::Malformed));
        assert_eq!(s.decrypt("$7$AAAA"), Err(SecretError::Malformed));
        let mut tampered = s.encrypt("t").unwrap().into_bytes();
        let i = tampered.len() - 6;
        tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert_eq!(s.decrypt(&tampered), Err(SecretError::WrongKey));
    }

    #[test]
    fn generated_secret_is_printable_and_random() {
        let a = generate_secret_text().unwrap();
        let b = generate_secret_text().unwrap();
        assert_eq!(a.len(), 254);
        assert!(a.bytes().all(|c| SECRET_ALPHABET.contains(&c)));
        assert_ne!(a, b);
    }

    #[test]
    fn load_or_create_makes_one_private_file() {
        let dir = std::env::temp_dir().join(format!("secret-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let path = dir.join("etc/auth/splunk.secret");
        let first = SplunkSecret::load_or_create(&path).unwrap();
        let again = SplunkSecret::load_or_create(&path).unwrap();
        assert_eq!(again.decrypt(&first.encrypt("z").unwrap()).unwrap(), "z");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let names: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names.len(), 1, "no temporary files left: {names:?}");
        assert!(!format!("{first:?}").contains(&format!("{:?}", first.key)));
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn concurrent_creators_agree_on_one_secret() {
        let dir = std::env::temp_dir().join(format!("secret-race-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let path = dir.join("splunk.secret");
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let path = path.clone();
                std::thread::spawn(move || SplunkSecret::load_or_create(&path).unwrap())
            })
            .collect();
        let secrets: Vec<SplunkSecret> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let on_disk = SplunkSecret::load_or_create(&path).unwrap();
        for s in &secrets {
            assert_eq!(s.key, on_disk.key, "every creator uses the file that won");
        }
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn encrypted_values_are_recognised() {
        assert!(is_encrypted("$7$abc") && is_encrypted("$1$abc"));
        assert!(!is_encrypted("$ecret") && !is_encrypted("clear"));
    }
}
