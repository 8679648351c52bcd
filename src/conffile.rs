//! Splunk `.conf` files: parsing with splunkd's rules, layering `default/` under `local/`, and
//! writing back. splunkd-dev keeps its state in these files; the packaging checks read them too.
//!
//! Rules (as splunkd and AppInspect apply them): `#` starts a comment line only at the start of
//! a line, there are no inline comments, keys are case-sensitive and end at the first `=`, a
//! trailing `\` continues a value on the next line (the newline is kept), keys outside any
//! stanza belong to `[default]`, repeated stanzas merge and the last repeated key wins.
//!
//! Writers that share a file with other processes use [`update_locked`]: an exclusive lock on a
//! sidecar `<file>.lock` spans read-modify-write, and the new text replaces the file atomically
//! (temporary file + rename), so readers never see a half-written file and concurrent writers
//! never lose each other's changes.

use configparser::ini::Ini;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// One `[stanza]` with its keys in file order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Stanza {
    /// The stanza name without brackets.
    pub name: String,
    /// `key = value` pairs; keys are unique within a stanza.
    pub entries: Vec<(String, String)>,
}

impl Stanza {
    /// A stanza with no keys.
    pub fn new(name: impl Into<String>) -> Self {
        Stanza {
            name: name.into(),
            entries: Vec::new(),
        }
    }

    /// A stanza holding `pairs` in order (later repeats of a key overwrite earlier ones).
    pub fn from_pairs(name: impl Into<String>, pairs: &[(&str, &str)]) -> Self {
        let mut stanza = Stanza::new(name);
        for (k, v) in pairs {
            stanza.set(k, *v);
        }
        stanza
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Sets `key`, keeping its position when it exists.
    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        let value = value.into();
        match self.entries.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value,
            None => self.entries.push((key.to_string(), value)),
        }
    }

    /// Removes `key`; returns whether it was there.
    pub fn remove(&mut self, key: &str) -> bool {
        let before = self.entries.len();
        self.entries.retain(|(k, _)| k != key);
        before != self.entries.len()
    }
}

/// A whole `.conf` file: stanzas in file order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfFile {
    /// The stanzas; names are unique.
    pub stanzas: Vec<Stanza>,
}

/// Stands in for an escaped newline while configparser reads line by line.
const CONTINUATION: char = '\u{1}';

impl ConfFile {
    /// Parses `.conf` text. Fails only on a stanza header without its closing bracket.
    pub fn parse(text: &str) -> Result<ConfFile, String> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        // Join `\`-continued lines first; configparser knows only indentation continuations.
        let joined = text
            .replace("\r\n", "\n")
            .replace("\\\n", &CONTINUATION.to_string());
        let mut ini = Ini::new_cs();
        ini.set_comment_symbols(&['#']);
        ini.set_inline_comment_symbols(Some(&[]));
        let mut defaults = ini.defaults();
        defaults.delimiters = vec!['='];
        defaults.enable_inline_comments = false;
        defaults.multiline = false;
        defaults.default_section = "default".into();
        ini.load_defaults(defaults);
        let map = ini.read(joined)?;
        let stanzas = map
            .into_iter()
            .map(|(name, keys)| Stanza {
                name,
                entries: keys
                    .into_iter()
                    .map(|(k, v)| {
                        let v = v.unwrap_or_default().replace(CONTINUATION, "\n");
                        (k, v)
                    })
                    .collect(),
            })
            .collect();
        Ok(ConfFile { stanzas })
    }

    /// Reads and parses a file; a missing file is an empty conf.
    pub fn load(path: &std::path::Path) -> std::io::Result<ConfFile> {
        match std::fs::read_to_string(path) {
            Ok(text) => ConfFile::parse(&text)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ConfFile::default()),
            Err(e) => Err(e),
        }
    }

    /// The stanza called `name`.
    pub fn get(&self, name: &str) -> Option<&Stanza> {
        self.stanzas.iter().find(|s| s.name == name)
    }

    /// The stanza called `name`, created empty at the end when missing.
    pub fn get_or_insert(&mut self, name: &str) -> &mut Stanza {
        let i = match self.stanzas.iter().position(|s| s.name == name) {
            Some(i) => i,
            None => {
                self.stanzas.push(Stanza::new(name));
                self.stanzas.len() - 1
            }
        };
        &mut self.stanzas[i]
    }

    /// Removes the stanza `name`; returns whether it was there.
    pub fn remove(&mut self, name: &str) -> bool {
        let before = self.stanzas.len();
        self.stanzas.retain(|s| s.name != name);
        before != self.stanzas.len()
    }

    /// `self` (default/) overlaid by `upper` (local/): stanzas are unioned, keys of `upper` win.
    pub fn layered(&self, upper: &ConfFile) -> ConfFile {
        let mut out = self.clone();
        for s in &upper.stanzas {
            let target = out.get_or_insert(&s.name);
            for (k, v) in &s.entries {
                target.set(k, v.clone());
            }
        }
        out
    }

    /// Applies splunkd's `[default]` rule: every other stanza inherits the keys of `[default]`
    /// that it does not set itself (appended after its own keys).
    pub fn with_default_inherited(&self) -> ConfFile {
        let Some(default) = self.get("default") else {
            return self.clone();
        };
        let mut out = self.clone();
        for s in out.stanzas.iter_mut().filter(|s| s.name != "default") {
            for (k, v) in &default.entries {
                if s.get(k).is_none() {
                    s.entries.push((k.clone(), v.clone()));
                }
            }
        }
        out
    }

    /// The file text: one `key = value` per line, newlines in values escaped with `\`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (i, s) in self.stanzas.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            out.push('[');
            out.push_str(&s.name);
            out.push_str("]\n");
            for (k, v) in &s.entries {
                out.push_str(k);
                out.push_str(" = ");
                out.push_str(&v.replace('\n', "\\\n"));
                out.push('\n');
            }
        }
        out
    }
}

/// Splunk's boolean spellings in confs and request arguments (`true/false`, `1/0`, `yes/no`,
/// `t/f`, `y/n`, `on/off`), any case, surrounding whitespace ignored; anything else is `None`.
pub fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" | "t" | "y" => Some(true),
        "0" | "false" | "no" | "off" | "f" | "n" => Some(false),
        _ => None,
    }
}

/// Whether `key` can be written to a `.conf` file and read back unchanged: not empty, no `=`,
/// no whitespace or control characters (splunkd's rule), not starting like a comment or header.
pub fn is_valid_key(key: &str) -> bool {
    !key.is_empty()
        && !key.starts_with(['#', '['])
        && !key.contains('=')
        && !key.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Whether `name` can be a stanza name: not empty, no `]`, no control characters, no
/// surrounding whitespace (the parser would trim it).
pub fn is_valid_stanza_name(name: &str) -> bool {
    !name.is_empty()
        && !name.contains(']')
        && !name.chars().any(char::is_control)
        && name.trim() == name
}

/// Whether `value` survives [`ConfFile::render`] and [`ConfFile::parse`] once trimmed (see
/// [`normalize_value`]): newlines and tabs are fine, other control characters are not, and a
/// trailing `\` would join the next line.
pub fn is_valid_value(value: &str) -> bool {
    !value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
        && !value.trim().ends_with('\\')
}

/// The value as it reads back from a file: the parser trims surrounding whitespace, so a
/// writer stores the trimmed form and what it reports equals what a reader later sees.
pub fn normalize_value(value: &str) -> &str {
    value.trim()
}

/// Distinguishes temporary files written by this process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// `<file><suffix>` next to `path`.
fn sidecar(path: &Path, prefix: &str, suffix: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!("{prefix}{name}{suffix}"))
}

/// Replaces `path` with `bytes` atomically: a temporary file in the same directory is written,
/// flushed to disk and renamed over `path`. `mode` (Unix permission bits) applies to the new
/// file, so a secret file is never readable by others, not even for a moment.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = sidecar(path, ".", &format!(".{}.{n}.tmp", std::process::id()));
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let result = (|| {
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
        return result;
    }
    // Make the rename itself durable; failing to sync a directory is not worth an error.
    if let Some(dir) = path.parent()
        && let Ok(d) = File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Read-modify-write of one `.conf` file under an exclusive lock on `<file>.lock`.
///
/// The directory is created when missing. `change` sees the current contents (empty when the
/// file does not exist); when it returns `Ok` and changed something, the file is replaced
/// atomically with `mode` permissions. When it returns `Err`, nothing is written. The outer
/// error is for I/O (including an unparsable file); the inner result is `change`'s own.
pub fn update_locked<T, E>(
    path: &Path,
    mode: u32,
    change: impl FnOnce(&mut ConfFile) -> Result<T, E>,
) -> std::io::Result<Result<T, E>> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(sidecar(path, "", ".lock"))?;
    // Released when `lock` is dropped, on every return path.
    lock.lock()?;
    let mut conf = ConfFile::load(path)?;
    let before = conf.clone();
    let out = match change(&mut conf) {
        Ok(out) => out,
        Err(e) => return Ok(Err(e)),
    };
    if conf != before {
        write_atomic(path, conf.render().as_bytes(), mode)?;
    }
    Ok(Ok(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "# comment\nglobal_key = g\n[script:mltk]\nmatch = /mltk\nscript = dsdl-handler\ndocker_url = unix:///var/run/docker.sock ; not a comment\nCaseKey = A\ncasekey = b\nmulti = one\\\ntwo\n\n[docker]\nx = 1\n[script:mltk]\nmatch = /mltk2\n";

    #[test]
    fn parses_splunk_rules() {
        let c = ConfFile::parse(SAMPLE).unwrap();
        assert_eq!(c.get("default").unwrap().get("global_key"), Some("g"));
        let s = c.get("script:mltk").unwrap();
        assert_eq!(
            s.get("match"),
            Some("/mltk2"),
            "repeated stanza merges, last wins"
        );
        assert_eq!(
            s.get("docker_url"),
            Some("unix:///var/run/docker.sock ; not a comment")
        );
        assert_eq!(s.get("CaseKey"), Some("A"));
        assert_eq!(s.get("casekey"), Some("b"));
        assert_eq!(s.get("multi"), Some("one\ntwo"));
        assert_eq!(c.get("docker").unwrap().get("x"), Some("1"));
    }

    #[test]
    fn render_round_trips() {
        let c = ConfFile::parse(SAMPLE).unwrap();
        let again = ConfFile::parse(&c.render()).unwrap();
        assert_eq!(c, again);
    }

    #[test]
    fn layering_overrides_keys_and_unions_stanzas() {
        let d = ConfFile::parse("[a]\nx = 1\ny = 2\n[b]\nz = 3\n").unwrap();
        let l = ConfFile::parse("[a]\ny = 20\n[c]\nw = 4\n").unwrap();
        let m = d.layered(&l);
        assert_eq!(m.get("a").unwrap().get("x"), Some("1"));
        assert_eq!(m.get("a").unwrap().get("y"), Some("20"));
        assert!(m.get("b").is_some() && m.get("c").is_some());
    }

    #[test]
    fn names_and_keys_are_checked() {
        assert!(is_valid_key("capability.post"));
        assert!(!is_valid_key("a=b") && !is_valid_key(" a") && !is_valid_key(""));
        assert!(!is_valid_key("a b") && !is_valid_key("a\u{1}") && !is_valid_key("#a"));
        assert!(is_valid_stanza_name("credential:dsdl_docker:api_token:"));
        assert!(is_valid_stanza_name("credential::user\\:name:"));
        assert!(!is_valid_stanza_name("a]b") && !is_valid_stanza_name(""));
        assert!(!is_valid_stanza_name("a\nb") && !is_valid_stanza_name(" a"));
    }

    #[test]
    fn values_that_survive_a_round_trip() {
        for v in [
            "plain",
            "",
            "a = b",
            "x # not a comment",
            "one\ntwo",
            "tab\there",
            "[not a header",
            "one\n[two]\n#three",
            "back\\slash inside",
            "line ends\\\nwith backslash",
        ] {
            assert!(is_valid_value(v), "{v:?} should be valid");
            let mut c = ConfFile::default();
            c.get_or_insert("s").set("k", normalize_value(v));
            let back = ConfFile::parse(&c.render()).unwrap();
            assert_eq!(
                back.get("s").unwrap().get("k"),
                Some(v),
                "round trip of {v:?}"
            );
        }
        for v in ["ends with\\", "cr\r", "nul\0", "ctl\u{1}"] {
            assert!(!is_valid_value(v), "{v:?} should be invalid");
        }
        assert_eq!(normalize_value("  padded \n"), "padded");
    }

    #[test]
    fn empty_stanzas_and_default_inheritance() {
        let mut c = ConfFile::default();
        c.get_or_insert("empty");
        let back = ConfFile::parse(&c.render()).unwrap();
        assert!(back.get("empty").unwrap().entries.is_empty());

        let c = ConfFile::parse("[default]\na = 1\nb = 2\n[s]\nb = 3\n").unwrap();
        let i = c.with_default_inherited();
        let s = i.get("s").unwrap();
        assert_eq!((s.get("a"), s.get("b")), (Some("1"), Some("3")));
        assert_eq!(i.get("default").unwrap().entries.len(), 2);
    }

    fn temp_dir(tag: &str) -> PathBuf {
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let d = std::env::temp_dir().join(format!("conffile-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn locked_update_writes_only_on_success() {
        let dir = temp_dir("update");
        let path = dir.join("local/x.conf");
        let r: Result<(), &str> = update_locked(&path, 0o600, |c| {
            c.get_or_insert("a").set("k", "v");
            Err("no")
        })
        .unwrap();
        assert!(r.is_err());
        assert!(!path.exists(), "a failed change writes nothing");
        update_locked(&path, 0o600, |c| {
            c.get_or_insert("a").set("k", "v");
            Ok::<_, ()>(())
        })
        .unwrap()
        .unwrap();
        assert_eq!(
            ConfFile::load(&path).unwrap().get("a").unwrap().get("k"),
            Some("v")
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let leftovers: Vec<_> = fs::read_dir(dir.join("local"))
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn concurrent_locked_updates_lose_nothing() {
        let dir = temp_dir("race");
        let path = dir.join("local/race.conf");
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let path = path.clone();
                std::thread::spawn(move || {
                    for i in 0..25 {
                        update_locked(&path, 0o644, |c| {
                            c.get_or_insert(&format!("t{t}_{i}"))
                                .set("n", i.to_string());
                            Ok::<_, ()>(())
                        })
                        .unwrap()
                        .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let c = ConfFile::load(&path).unwrap();
        assert_eq!(c.stanzas.len(), 8 * 25);
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn splunk_booleans() {
        for t in ["true", "TRUE", "1", "yes", "on", " t "] {
            assert_eq!(parse_bool(t), Some(true), "{t}");
        }
        for f in ["false", "0", "No", "off"] {
            assert_eq!(parse_bool(f), Some(false), "{f}");
        }
        assert_eq!(parse_bool("maybe"), None);
    }
}
