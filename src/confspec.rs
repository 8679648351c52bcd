//! Reading a Splunk `.conf.spec` file: which stanzas it describes and which keys each may
//! hold. The app's `README/*.conf.spec` files are the one list of allowed keys, so tests check
//! the shipped `default/` files against them (and endpoints may validate keys with them).
//!
//! Format (Splunk's convention): `[stanza]` headers and `key = <description>` lines start at
//! column 0; description lines start with `*` (or are indented), comments with `#`. Keys
//! before the first header are global: allowed in every stanza. A header in angle brackets
//! (`[<model_name>]`) is a placeholder that describes any stanza not named by another header.

use crate::conffile::ConfFile;

/// One described key: its name, the value description right of the `=` (a type such as
/// `<string>` or `[a|b]`), and its `*` documentation lines.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SpecKey {
    /// The key name (left of the `=`).
    pub name: String,
    /// The value description (right of the `=`), trimmed.
    pub value: String,
    /// The `*` lines that follow the key, without the `*`, trimmed.
    pub doc: Vec<String>,
    /// 1-based line number, for error messages of stricter readers.
    pub line: usize,
}

/// One described stanza and its keys, in file order (a repeated key is kept twice, so
/// stricter readers can refuse it).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SpecStanza {
    /// The header text without brackets, e.g. `__dev__` or `<model_name>`.
    pub name: String,
    /// The keys, in file order.
    pub keys: Vec<SpecKey>,
}

impl SpecStanza {
    fn has(&self, key: &str) -> bool {
        self.keys.iter().any(|k| k.name == key)
    }

    /// Whether this header is a placeholder (`<...>`) standing for any stanza name.
    pub fn is_placeholder(&self) -> bool {
        self.name.starts_with('<') && self.name.ends_with('>')
    }
}

/// A parsed `.conf.spec` file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Spec {
    /// Keys described before the first header: allowed in every stanza.
    pub global: Vec<SpecKey>,
    /// The described stanzas, in file order.
    pub stanzas: Vec<SpecStanza>,
    /// Lines at column 0 that are neither a header nor `key = ...` (line number, text), for
    /// stricter readers to refuse.
    pub stray: Vec<(usize, String)>,
}

impl Spec {
    /// Parses spec text. Never fails: lines that are neither headers nor `key =` lines are
    /// description or comment.
    pub fn parse(text: &str) -> Spec {
        let mut spec = Spec::default();
        let mut current: Option<usize> = None;
        // Whether the last non-comment line was a key (or its documentation).
        let mut documenting = false;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim_end();
            if let Some(doc) = line.trim_start().strip_prefix('*') {
                if documenting {
                    let keys = match current {
                        Some(i) => &mut spec.stanzas[i].keys,
                        None => &mut spec.global,
                    };
                    if let Some(last) = keys.last_mut() {
                        last.doc.push(doc.trim().to_string());
                    }
                }
                continue;
            }
            if line.is_empty() || line.starts_with(['#', ' ', '\t']) {
                continue;
            }
            documenting = false;
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                spec.stanzas.push(SpecStanza {
                    name: name.trim().to_string(),
                    keys: Vec::new(),
                });
                current = Some(spec.stanzas.len() - 1);
                continue;
            }
            let Some((key, value)) = line.split_once('=').filter(|(k, _)| !k.trim().is_empty())
            else {
                spec.stray.push((n + 1, line.to_string()));
                continue;
            };
            let keys = match current {
                Some(i) => &mut spec.stanzas[i].keys,
                None => &mut spec.global,
            };
            keys.push(SpecKey {
                name: key.trim().to_string(),
                value: value.trim().to_string(),
                doc: Vec::new(),
                line: n + 1,
            });
            documenting = true;
        }
        spec
    }

    /// The spec stanza describing stanza `name`: the header of that exact name, else the
    /// first placeholder header.
    pub fn stanza_for(&self, name: &str) -> Option<&SpecStanza> {
        self.stanzas
            .iter()
            .find(|s| s.name == name)
            .or_else(|| self.stanzas.iter().find(|s| s.is_placeholder()))
    }

    /// Whether `key` may appear in stanza `name`. A named stanza that describes no keys of
    /// its own takes the keys of the placeholder stanza (as `[__dev__]` "takes the same keys
    /// as [<model_name>]").
    pub fn allows(&self, name: &str, key: &str) -> bool {
        if self.global.iter().any(|k| k.name == key) {
            return true;
        }
        let own = self.stanzas.iter().find(|s| s.name == name);
        let placeholder = self.stanzas.iter().find(|s| s.is_placeholder());
        match own {
            Some(s) if !s.keys.is_empty() => s.has(key),
            _ => placeholder.is_some_and(|p| p.has(key)),
        }
    }

    /// Every `(stanza, key)` of `conf` that this spec does not allow, and every stanza it does
    /// not describe (reported with an empty key), so a test can print them all at once.
    pub fn undescribed(&self, conf: &ConfFile) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for stanza in &conf.stanzas {
            if self.stanza_for(&stanza.name).is_none() && stanza.name != "default" {
                out.push((stanza.name.clone(), String::new()));
                continue;
            }
            for (key, _) in &stanza.entries {
                if !self.allows(&stanza.name, key) {
                    out.push((stanza.name.clone(), key.clone()));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = "\
# comment = not a key
global_key = <string>
* description = not a key

[__dev__]
* Takes the same keys as [<model_name>].

[<model_name>]
id = <string>
* The id.
  indented = not a key
mode = DEV|PROD

[fixed]
only = <bool>
";

    #[test]
    fn headers_keys_and_descriptions() {
        let s = Spec::parse(SPEC);
        assert_eq!(s.global.len(), 1);
        assert_eq!(s.global[0].name, "global_key");
        assert_eq!(s.global[0].value, "<string>");
        assert_eq!(s.global[0].doc, ["description = not a key"]);
        let names: Vec<&str> = s.stanzas.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["__dev__", "<model_name>", "fixed"]);
        let keys: Vec<&str> = s.stanzas[1].keys.iter().map(|k| k.name.as_str()).collect();
        assert_eq!(keys, ["id", "mode"]);
        assert_eq!(s.stanzas[1].keys[0].doc, ["The id."]);
        assert_eq!(s.stanzas[1].keys[1].value, "DEV|PROD");
        assert!(s.stray.is_empty());
        assert_eq!(Spec::parse("oops\n").stray, vec![(1, "oops".to_string())]);
        assert!(s.stanzas[1].is_placeholder() && !s.stanzas[2].is_placeholder());
    }

    #[test]
    fn placeholders_and_inherited_keys() {
        let s = Spec::parse(SPEC);
        assert!(
            s.allows("__dev__", "id"),
            "an empty named stanza takes the placeholder's keys"
        );
        assert!(s.allows("any_model", "mode"));
        assert!(s.allows("fixed", "only") && s.allows("fixed", "global_key"));
        assert!(
            !s.allows("fixed", "id"),
            "a named stanza with keys has only its own"
        );
        assert!(!s.allows("any_model", "indented"));
        assert!(!s.allows("any_model", "description"));
    }

    #[test]
    fn undescribed_lists_every_stray_key() {
        let s = Spec::parse(SPEC);
        let conf = ConfFile::parse("[m1]\nid = 1\nstray = x\n[fixed]\nonly = 1\nid = 2\n")
            .expect("conf parses");
        assert_eq!(
            s.undescribed(&conf),
            vec![
                ("m1".to_string(), "stray".to_string()),
                ("fixed".to_string(), "id".to_string())
            ]
        );
        let no_placeholder = Spec::parse("[a]\nk = v\n");
        let conf = ConfFile::parse("[b]\nk = 1\n").expect("conf parses");
        assert_eq!(
            no_placeholder.undescribed(&conf),
            vec![("b".to_string(), String::new())]
        );
    }
}
