//! The `.conf` files of a SPLUNK_HOME as splunkd sees them: which files make up a namespace's
//! view of one conf, in what precedence, where each stanza comes from, and locked atomic
//! writes to an app's `local/` file. Shared by `configs/conf-*` and `storage/passwords`, so
//! both stores layer and write the same way.
//!
//! Precedence, lowest first (Splunk's "configuration file precedence"):
//! - app namespace `<app>`: `etc/system/default`, `etc/system/local`, `etc/apps/<app>/default`,
//!   `etc/apps/<app>/local`. Other apps' exported stanzas are not merged in.
//! - no app (`/services` or a `-` wildcard): `etc/system/default`, every app's `default/` (the
//!   lexically first app wins), every app's `local/` (likewise), `etc/system/local`.

use super::apps::list_apps;
use super::types::SplunkHome;
use crate::conffile::{self, ConfFile, Stanza};
use std::collections::HashMap;
use std::io;
use std::path::PathBuf;

/// The app name reported for stanzas of `etc/system`.
pub const SYSTEM_APP: &str = "system";

/// Whether `name` is safe as a conf or app name on disk: `[A-Za-z0-9_.-]+`, not starting
/// with `.` (which also rules out `.` and `..`).
pub fn is_safe_name(name: &str) -> bool {
    crate::splunkd::names::is_conf_name(name)
}

/// One file of a view.
#[derive(Debug, Clone)]
struct Layer {
    /// App the file belongs to, or [`SYSTEM_APP`].
    app: String,
    /// The `.conf` file.
    path: PathBuf,
    /// Whether this is the namespace app's `local/` file, the one writes go to.
    writable: bool,
}

/// A stanza as a namespace sees it.
#[derive(Debug, Clone)]
pub struct Visible {
    /// Keys merged over all layers.
    pub stanza: Stanza,
    /// The app of the highest-precedence file that defines it.
    pub app: String,
    /// Whether the namespace app's `local/` file defines it (so it can be deleted there).
    pub in_local: bool,
    /// Whether any other file of the view defines it (so deleting it from `local/` would not
    /// remove it).
    pub elsewhere: bool,
}

/// All stanzas of one conf visible in a namespace, in file order of first appearance.
#[derive(Debug, Clone, Default)]
pub struct ConfView {
    /// The stanzas.
    pub stanzas: Vec<Visible>,
}

impl ConfView {
    /// The stanza called `name`.
    pub fn get(&self, name: &str) -> Option<&Visible> {
        self.stanzas.iter().find(|v| v.stanza.name == name)
    }
}

/// Reads `conf` as the namespace `app` (None = no app) sees it. With `inherit_default`, every
/// stanza also gets the keys of `[default]` it does not set itself, as splunkd reports them.
/// Callers validate `conf` and `app` with [`is_safe_name`] first.
pub fn view(
    home: &SplunkHome,
    conf: &str,
    app: Option<&str>,
    inherit_default: bool,
) -> io::Result<ConfView> {
    let mut merged = ConfFile::default();
    let mut origin: HashMap<String, (String, bool, bool)> = HashMap::new();
    for layer in layers(home, conf, app) {
        let file = ConfFile::load(&layer.path).map_err(|e| with_path(e, &layer.path))?;
        for s in &file.stanzas {
            let entry = origin
                .entry(s.name.clone())
                .or_insert_with(|| (String::new(), false, false));
            entry.0 = layer.app.clone();
            if layer.writable {
                entry.1 = true;
            } else {
                entry.2 = true;
            }
        }
        merged = merged.layered(&file);
    }
    if inherit_default {
        merged = merged.with_default_inherited();
    }
    let stanzas = merged
        .stanzas
        .into_iter()
        .map(|stanza| {
            let (app, in_local, elsewhere) = origin.remove(&stanza.name).unwrap_or_default();
            Visible {
                stanza,
                app,
                in_local,
                elsewhere,
            }
        })
        .collect();
    Ok(ConfView { stanzas })
}

/// `etc/apps/<app>/local/<conf>.conf`, the file writes in the namespace `app` go to.
pub fn local_path(home: &SplunkHome, app: &str, conf: &str) -> PathBuf {
    home.app_dir(app).join("local").join(format!("{conf}.conf"))
}

/// Read-modify-write of `etc/apps/<app>/local/<conf>.conf` under its lock, replaced
/// atomically with `mode` permissions (see [`conffile::update_locked`]).
pub fn update_local<T, E>(
    home: &SplunkHome,
    app: &str,
    conf: &str,
    mode: u32,
    change: impl FnOnce(&mut ConfFile) -> Result<T, E>,
) -> io::Result<Result<T, E>> {
    let path = local_path(home, app, conf);
    conffile::update_locked(&path, mode, change).map_err(|e| with_path(e, &path))
}

/// Whether an app directory exists.
pub fn app_exists(home: &SplunkHome, app: &str) -> bool {
    home.app_dir(app).is_dir()
}

/// Names of the confs with a file in the view of namespace `app` (None = no app), sorted.
pub fn conf_names(home: &SplunkHome, app: Option<&str>) -> Vec<String> {
    let mut names: Vec<String> = layers(home, "any", app)
        .iter()
        .filter_map(|l| l.path.parent())
        .flat_map(|dir| std::fs::read_dir(dir).into_iter().flatten().flatten())
        .filter_map(|e| {
            let name = e.file_name().to_str()?.strip_suffix(".conf")?.to_string();
            (is_safe_name(&name) && e.path().is_file()).then_some(name)
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Whether any file of the view of namespace `app` defines `conf`.
pub fn conf_exists(home: &SplunkHome, conf: &str, app: Option<&str>) -> bool {
    layers(home, conf, app).iter().any(|l| l.path.is_file())
}

/// The files of a view, lowest precedence first.
fn layers(home: &SplunkHome, conf: &str, app: Option<&str>) -> Vec<Layer> {
    let file = format!("{conf}.conf");
    let system = |level: &str| Layer {
        app: SYSTEM_APP.into(),
        path: home.system_dir().join(level).join(&file),
        writable: false,
    };
    let of_app = |app: &str, level: &str, writable: bool| Layer {
        app: app.into(),
        path: home.app_dir(app).join(level).join(&file),
        writable,
    };
    match app {
        Some(app) => vec![
            system("default"),
            system("local"),
            of_app(app, "default", false),
            of_app(app, "local", true),
        ],
        None => {
            let mut apps = installed_apps(home);
            // Lowest precedence first: the lexically last app, so the first one wins.
            apps.sort();
            apps.reverse();
            let mut out = vec![system("default")];
            out.extend(apps.iter().map(|a| of_app(a, "default", false)));
            out.extend(apps.iter().map(|a| of_app(a, "local", false)));
            out.push(system("local"));
            out
        }
    }
}

/// Names of the installed apps (see [`list_apps`]) that are safe app names.
fn installed_apps(home: &SplunkHome) -> Vec<String> {
    list_apps(&home.apps_dir())
        .into_iter()
        .map(|(name, _)| name)
        .filter(|n| is_safe_name(n))
        .collect()
}

fn with_path(e: io::Error, path: &std::path::Path) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::fs;

    /// A SPLUNK_HOME in the temp directory, removed again when the test drops it.
    pub(crate) struct TempHome(SplunkHome);

    impl std::ops::Deref for TempHome {
        type Target = SplunkHome;
        fn deref(&self) -> &SplunkHome {
            &self.0
        }
    }

    impl Drop for TempHome {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0.root);
        }
    }

    pub(crate) fn temp_home(tag: &str) -> TempHome {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let root = std::env::temp_dir().join(format!("confstore-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).unwrap();
        TempHome(SplunkHome::new(root))
    }

    fn put(home: &SplunkHome, rel: &str, text: &str) {
        let p = home.root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }

    #[test]
    fn safe_names() {
        for ok in ["container_connections", "a.b-c", "X1"] {
            assert!(is_safe_name(ok), "{ok}");
        }
        for bad in ["", ".", "..", ".hidden", "a/b", "a b", "a\\b", "é"] {
            assert!(!is_safe_name(bad), "{bad}");
        }
    }

    #[test]
    fn app_view_layers_system_app_default_and_local() {
        let home = temp_home("app");
        put(
            &home,
            "etc/system/default/c.conf",
            "[s]\nk = sys\nsysonly = 1\n",
        );
        put(
            &home,
            "etc/apps/a/default/c.conf",
            "[s]\nk = def\n[d]\nx = 1\n",
        );
        put(
            &home,
            "etc/apps/a/local/c.conf",
            "[s]\nk = loc\n[l]\ny = 2\n",
        );
        put(&home, "etc/apps/b/local/c.conf", "[other]\nz = 3\n");
        let v = view(&home, "c", Some("a"), false).unwrap();
        let s = v.get("s").unwrap();
        assert_eq!(s.stanza.get("k"), Some("loc"));
        assert_eq!(s.stanza.get("sysonly"), Some("1"));
        assert_eq!((s.app.as_str(), s.in_local, s.elsewhere), ("a", true, true));
        let d = v.get("d").unwrap();
        assert_eq!((d.in_local, d.elsewhere), (false, true));
        let l = v.get("l").unwrap();
        assert_eq!((l.in_local, l.elsewhere), (true, false));
        assert!(v.get("other").is_none(), "another app's stanzas stay out");
        let _ = fs::remove_dir_all(&home.root);
    }

    #[test]
    fn global_view_follows_splunk_precedence() {
        let home = temp_home("global");
        put(&home, "etc/system/default/c.conf", "[s]\nk = sysdef\n");
        put(&home, "etc/apps/b/local/c.conf", "[s]\nk = b_local\n");
        put(&home, "etc/apps/a/default/c.conf", "[s]\nk = a_default\n");
        put(&home, "etc/apps/c/local/c.conf", "[s]\nk = c_local\n");
        let v = view(&home, "c", None, false).unwrap();
        let s = v.get("s").unwrap();
        assert_eq!(
            s.stanza.get("k"),
            Some("b_local"),
            "local beats default, b beats c"
        );
        assert_eq!(s.app, "b");
        put(&home, "etc/system/local/c.conf", "[s]\nk = syslocal\n");
        let v = view(&home, "c", None, false).unwrap();
        assert_eq!(v.get("s").unwrap().stanza.get("k"), Some("syslocal"));
        let _ = fs::remove_dir_all(&home.root);
    }

    #[test]
    fn default_inheritance_is_optional() {
        let home = temp_home("inherit");
        put(
            &home,
            "etc/apps/a/default/c.conf",
            "[default]\nd = 1\n[s]\nk = v\n",
        );
        let plain = view(&home, "c", Some("a"), false).unwrap();
        assert_eq!(plain.get("s").unwrap().stanza.get("d"), None);
        let inherited = view(&home, "c", Some("a"), true).unwrap();
        assert_eq!(inherited.get("s").unwrap().stanza.get("d"), Some("1"));
        let _ = fs::remove_dir_all(&home.root);
    }

    #[test]
    fn broken_file_is_an_error_naming_it() {
        let home = temp_home("broken");
        put(&home, "etc/apps/a/local/c.conf", "[unclosed\nk = v\n");
        let e = view(&home, "c", Some("a"), false).unwrap_err();
        assert!(e.to_string().contains("c.conf"), "{e}");
        let _ = fs::remove_dir_all(&home.root);
    }
}
