//! Splunk `.conf` files: parsing with splunkd's rules, layering `default/` under `local/`, and
//! writing back. splunkd-dev keeps its state in these files; the packaging checks read them too.
//!
//! Rules (as splunkd and AppInspect apply them): `#` starts a comment line only at the start of
//! a line, there are no inline comments, keys are case-sensitive and end at the first `=`, a
//! trailing `\` continues a value on the next line (the newline is kept), keys outside any
//! stanza belong to `[default]`, repeated stanzas merge and the last repeated key wins.

use configparser::ini::Ini;

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

/// Whether `key` can be written to a `.conf` file and read back unchanged.
pub fn is_valid_key(key: &str) -> bool {
    !key.is_empty()
        && !key.starts_with(['#', '['])
        && !key.contains(['=', '\n', '\r'])
        && key.trim() == key
}

/// Whether `name` can be a stanza name.
pub fn is_valid_stanza_name(name: &str) -> bool {
    !name.is_empty() && !name.contains([']', '\n', '\r']) && name.trim() == name
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
        assert!(is_valid_stanza_name("credential:dsdl_docker:api_token:"));
        assert!(!is_valid_stanza_name("a]b") && !is_valid_stanza_name(""));
    }
}
