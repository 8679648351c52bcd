//! The `[script:<name>]` stanzas of every installed app's restmap.conf (`default/` under
//! `local/`), and the longest-match routing splunkd applies to them, so splunkd-dev obeys the
//! app's real configuration rather than a copy of it.

use super::apps::{self, list_apps};
use super::capexpr::{CapExpr, CapExprError};
use crate::conffile::{ConfFile, Stanza, parse_bool};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// How the request body reaches the handler (`passPayload`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadMode {
    /// Not passed (the default).
    No,
    /// As `payload`, text.
    Text,
    /// As `payload_base64`.
    Base64,
}

/// The `pass*` flags of a stanza: which request keys the handler receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PassFlags {
    /// `passSystemAuth` (default false): adds `system_authtoken`.
    pub system_auth: bool,
    /// `passPayload` (default false).
    pub payload: PayloadMode,
    /// `passSession` (default true): adds `session`.
    pub session: bool,
    /// `passConf` (default true): adds `restmap`.
    pub conf: bool,
    /// `passHttpHeaders` (default false): adds `headers`.
    pub headers: bool,
    /// `passHttpCookies` (default false): adds `cookies`.
    pub cookies: bool,
}

/// A capability requirement as written, parsed (or the reason it could not be).
pub type CapRule = Result<CapExpr, CapExprError>;

/// One `[script:<name>]` stanza of an installed app.
#[derive(Debug, Clone)]
pub struct Handler {
    /// The app the stanza belongs to.
    pub app: String,
    /// That app's directory (relative `script` and `driver` paths resolve against its `bin/`).
    pub app_dir: PathBuf,
    /// The stanza name without the `script:` prefix.
    pub name: String,
    /// Every key of the stanza in file order (sent as `restmap.conf`).
    pub conf: Vec<(String, String)>,
    /// `match`, without a trailing slash.
    pub match_path: String,
    /// `requireAuthentication` (default true).
    pub require_auth: bool,
    /// `capability`, checked for every method without its own rule.
    pub capability: Option<CapRule>,
    /// `capability.<method>`, keyed by lower-case method.
    pub method_capability: BTreeMap<String, CapRule>,
    /// The `pass*` flags.
    pub pass: PassFlags,
    /// `output_modes` (default `xml`), lower case.
    pub output_modes: Vec<String>,
    /// `scripttype` (default `python`).
    pub scripttype: String,
}

impl Handler {
    /// The capability rule for `method`: `capability.<method>` when set, else `capability`.
    pub fn capability_for(&self, method: &str) -> Option<&CapRule> {
        self.method_capability
            .get(&method.to_ascii_lowercase())
            .or(self.capability.as_ref())
    }

    /// The value of a stanza key.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.conf
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Values of `<prefix>.<N>` keys in numeric order of N (`script.arg.N`, `driver.arg.N`).
    pub fn numbered(&self, prefix: &str) -> Vec<String> {
        let mut items: Vec<(u32, String)> = self
            .conf
            .iter()
            .filter_map(|(k, v)| {
                let n = k.strip_prefix(prefix)?.strip_prefix('.')?.parse().ok()?;
                Some((n, v.clone()))
            })
            .collect();
        items.sort_by_key(|(n, _)| *n);
        items.into_iter().map(|(_, v)| v).collect()
    }

    /// `driver.env.<NAME>` entries in file order.
    pub fn driver_env(&self) -> Vec<(String, String)> {
        self.conf
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix("driver.env.")?.to_string(), v.clone())))
            .filter(|(k, _)| !k.is_empty())
            .collect()
    }

    /// Resolves a `script` or `driver` path: env-substituted, relative paths under the app's
    /// `bin/` (where splunkd looks for them).
    pub fn resolve_path(&self, raw: &str, vars: &dyn Fn(&str) -> Option<String>) -> PathBuf {
        let text = substitute(raw.trim(), vars);
        let p = Path::new(&text);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.app_dir.join("bin").join(p)
        }
    }
}

/// The routing table built from every installed app.
#[derive(Debug, Clone, Default)]
pub struct RestMap {
    /// Handlers; the first of two with the same `match` wins.
    pub handlers: Vec<Handler>,
}

/// A handler chosen for a path, with the remainder of the path after `match`.
#[derive(Debug, Clone, Copy)]
pub struct Matched<'a> {
    /// The stanza.
    pub handler: &'a Handler,
    /// The path after `match`, without its leading slash; `None` when nothing follows.
    pub path_info: Option<&'a str>,
}

impl RestMap {
    /// Reads `default/` and `local/` restmap.conf of every enabled app under `apps_dir`, in
    /// the order of their names: for two stanzas with the same `match`, the app whose name
    /// sorts first (ASCII: upper case before lower) wins, as splunkd's app precedence. Problems
    /// (unreadable files, bad expressions) are returned as warnings to print at start-up.
    pub fn load(apps_dir: &Path) -> (RestMap, Vec<String>) {
        let mut warnings = Vec::new();
        let mut apps: Vec<(String, PathBuf, ConfFile)> = Vec::new();
        for (app, dir) in list_apps(apps_dir) {
            if apps::is_disabled(&dir) {
                continue;
            }
            let mut layered = ConfFile::default();
            for layer in ["default", "local"] {
                let path = dir.join(layer).join("restmap.conf");
                match ConfFile::load(&path) {
                    Ok(c) => layered = layered.layered(&c),
                    Err(e) => warnings.push(format!("ignoring {}: {e}", path.display())),
                }
            }
            apps.push((app, dir, layered));
        }
        let map = RestMap::from_confs(&apps, &mut warnings);
        (map, warnings)
    }

    /// Builds the table from already-layered restmap.conf files, one per app.
    pub fn from_confs(apps: &[(String, PathBuf, ConfFile)], warnings: &mut Vec<String>) -> Self {
        let mut handlers: Vec<Handler> = Vec::new();
        for (app, dir, conf) in apps {
            for stanza in &conf.stanzas {
                let Some(name) = stanza.name.strip_prefix("script:") else {
                    continue;
                };
                if stanza
                    .get("disabled")
                    .is_some_and(|v| parse_bool(v) == Some(true))
                {
                    continue;
                }
                match handler_of(app, dir, name, stanza, warnings) {
                    Some(h) => {
                        if let Some(other) = handlers.iter().find(|o| o.match_path == h.match_path)
                        {
                            warnings.push(format!(
                                "[script:{}] of app {} has the same match {} as [script:{}] of app {}; the latter wins",
                                h.name, h.app, h.match_path, other.name, other.app
                            ));
                        } else {
                            handlers.push(h);
                        }
                    }
                    None => continue,
                }
            }
        }
        RestMap { handlers }
    }

    /// The handler whose `match` is the longest prefix of `rest_path` on a path-segment
    /// boundary (`/mltk` matches `/mltk` and `/mltk/x`, never `/mltkx`).
    pub fn find<'a>(&'a self, rest_path: &'a str) -> Option<Matched<'a>> {
        self.handlers
            .iter()
            .filter_map(|h| {
                let rest = rest_path.strip_prefix(h.match_path.as_str())?;
                if !(rest.is_empty() || rest.starts_with('/') || h.match_path.ends_with('/')) {
                    return None;
                }
                let info = rest.trim_start_matches('/');
                Some(Matched {
                    handler: h,
                    path_info: (!info.is_empty()).then_some(info),
                })
            })
            .max_by_key(|m| m.handler.match_path.len())
    }
}

fn handler_of(
    app: &str,
    dir: &Path,
    name: &str,
    stanza: &Stanza,
    warnings: &mut Vec<String>,
) -> Option<Handler> {
    let Some(raw_match) = stanza.get("match") else {
        warnings.push(format!(
            "[script:{name}] of app {app} has no match; ignored"
        ));
        return None;
    };
    let trimmed = raw_match.trim().trim_end_matches('/');
    let match_path = if trimmed.starts_with('/') {
        trimmed.to_string()
    } else {
        format!("/{trimmed}")
    };
    if match_path == "/" {
        warnings.push(format!(
            "[script:{name}] of app {app} matches everything; ignored"
        ));
        return None;
    }
    let mut bad_flags = Vec::new();
    let mut flag = |key: &'static str, default: bool| -> bool {
        match stanza.get(key) {
            None => default,
            Some(v) => parse_bool(v).unwrap_or_else(|| {
                bad_flags.push(key);
                default
            }),
        }
    };
    let payload = match stanza
        .get("passPayload")
        .map(|v| v.trim().to_ascii_lowercase())
    {
        Some(v) if v == "base64" => PayloadMode::Base64,
        Some(v) if parse_bool(&v) == Some(true) => PayloadMode::Text,
        _ => PayloadMode::No,
    };
    let pass = PassFlags {
        system_auth: flag("passSystemAuth", false),
        payload,
        session: flag("passSession", true),
        conf: flag("passConf", true),
        headers: flag("passHttpHeaders", false),
        cookies: flag("passHttpCookies", false),
    };
    let require_auth = flag("requireAuthentication", true);
    for key in bad_flags {
        warnings.push(format!(
            "[script:{name}] of app {app}: {key} is not a boolean; using its default"
        ));
    }
    let mut check = |v: &str| {
        let rule = CapExpr::parse(v);
        if let Err(e) = &rule {
            warnings.push(format!(
                "[script:{name}] of app {app}: {e}; requests to it are refused"
            ));
        }
        rule
    };
    let capability = stanza.get("capability").map(&mut check);
    let mut method_capability = BTreeMap::new();
    for (k, v) in &stanza.entries {
        if let Some(method) = k.strip_prefix("capability.") {
            method_capability.insert(method.to_ascii_lowercase(), check(v));
        }
    }
    let output_modes = stanza
        .get("output_modes")
        .unwrap_or("xml")
        .split(',')
        .map(|m| m.trim().to_ascii_lowercase())
        .filter(|m| !m.is_empty())
        .collect();
    Some(Handler {
        app: app.to_string(),
        app_dir: dir.to_path_buf(),
        name: name.to_string(),
        conf: stanza.entries.clone(),
        match_path,
        require_auth,
        capability,
        method_capability,
        pass,
        output_modes,
        scripttype: stanza
            .get("scripttype")
            .unwrap_or("python")
            .trim()
            .to_ascii_lowercase(),
    })
}

/// Replaces `$NAME` and `${NAME}` with `vars(NAME)`; unknown variables are left as written.
pub fn substitute(text: &str, vars: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let (name, consumed) = if let Some(braced) = after.strip_prefix('{') {
            match braced.find('}') {
                Some(end) => (&braced[..end], end + 2),
                None => ("", 0),
            }
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        match (!name.is_empty()).then(|| vars(name)).flatten() {
            Some(value) => {
                out.push_str(&value);
                rest = &after[consumed..];
            }
            None => {
                out.push('$');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONF: &str = "[script:mltk]\nmatch = /mltk\nscripttype = persist\nscript = dsdl-handler\n\
        driver = $SPLUNK_HOME/etc/apps/a/bin/dsdl-handler\npassPayload = true\npassSystemAuth = true\n\
        output_modes = xml, JSON\n\
        [script:data]\nmatch = /mltk/container_data/\nscripttype = persist\ncapability.get = list_containers\n\
        capability = admin_all_objects\npassPayload = base64\npassSession = false\nrequireAuthentication = 0\n\
        script.arg.10 = ten\nscript.arg.2 = two\nscript.arg.x = bad\ndriver.env.A = 1\ndriver.env.B = $X\n\
        [script:broken]\nmatch = /broken\ncapability.post = a and (b\n\
        [script:nomatch]\nscript = x\n\
        [admin:other]\nmatch = /other\n";

    fn map() -> (RestMap, Vec<String>) {
        let conf = ConfFile::parse(CONF).unwrap();
        let mut w = Vec::new();
        let m = RestMap::from_confs(&[("a".into(), PathBuf::from("/apps/a"), conf)], &mut w);
        (m, w)
    }

    #[test]
    fn longest_match_on_segment_boundary() {
        let (m, _) = map();
        let f = |p: &str| {
            m.find(p)
                .map(|x| (x.handler.name.clone(), x.path_info.map(str::to_string)))
        };
        assert_eq!(f("/mltk"), Some(("mltk".into(), None)));
        assert_eq!(f("/mltk/"), Some(("mltk".into(), None)));
        assert_eq!(
            f("/mltk/nope/x"),
            Some(("mltk".into(), Some("nope/x".into())))
        );
        assert_eq!(f("/mltk/container_data"), Some(("data".into(), None)));
        assert_eq!(
            f("/mltk/container_data/x%20y"),
            Some(("data".into(), Some("x%20y".into())))
        );
        assert_eq!(
            f("/mltk/container_datax"),
            Some(("mltk".into(), Some("container_datax".into())))
        );
        assert_eq!(f("/mltkx"), None);
        assert_eq!(f("/other"), None, "only script: stanzas route");
        assert_eq!(f(""), None);
    }

    #[test]
    fn keys_and_defaults() {
        let (m, w) = map();
        let top = &m.handlers[0];
        assert_eq!(top.pass.payload, PayloadMode::Text);
        assert!(top.pass.system_auth && top.pass.session && top.pass.conf);
        assert!(!top.pass.headers && !top.pass.cookies);
        assert!(top.require_auth);
        assert_eq!(top.output_modes, ["xml", "json"]);
        assert!(top.capability_for("GET").is_none());

        let data = m.handlers.iter().find(|h| h.name == "data").unwrap();
        assert_eq!(data.match_path, "/mltk/container_data");
        assert_eq!(data.pass.payload, PayloadMode::Base64);
        assert!(!data.pass.session && !data.require_auth);
        assert_eq!(data.output_modes, ["xml"]);
        let get = data.capability_for("GET").unwrap().as_ref().unwrap();
        assert_eq!(get.to_string(), "list_containers");
        let post = data.capability_for("post").unwrap().as_ref().unwrap();
        assert_eq!(post.to_string(), "admin_all_objects");
        assert_eq!(data.numbered("script.arg"), ["two", "ten"]);
        assert_eq!(
            data.driver_env(),
            [("A".into(), "1".into()), ("B".into(), "$X".into())]
        );

        let broken = m.handlers.iter().find(|h| h.name == "broken").unwrap();
        assert!(broken.capability_for("POST").unwrap().is_err());
        assert!(w.iter().any(|w| w.contains("script:broken")), "{w:?}");
        assert!(w.iter().any(|w| w.contains("script:nomatch")), "{w:?}");
    }

    #[test]
    fn env_substitution_and_paths() {
        let vars = |k: &str| match k {
            "SPLUNK_HOME" => Some("/sh".to_string()),
            "X" => Some("x".to_string()),
            _ => None,
        };
        assert_eq!(
            substitute("$SPLUNK_HOME/bin/${X}y $NOPE $ end$", &vars),
            "/sh/bin/xy $NOPE $ end$"
        );
        assert_eq!(substitute("${X", &vars), "${X");
        let (m, _) = map();
        let h = &m.handlers[0];
        assert_eq!(
            h.resolve_path("dsdl-handler", &vars),
            Path::new("/apps/a/bin/dsdl-handler")
        );
        assert_eq!(
            h.resolve_path("$SPLUNK_HOME/etc/x", &vars),
            Path::new("/sh/etc/x")
        );
    }
}
