//! Roles to capabilities, from authorize.conf the way splunkd layers it: a built-in system
//! layer, `etc/system/default`, every app's `default/` then `local/`, and `etc/system/local`.
//! A role holds the capabilities it sets to `enabled` plus those of its `importRoles`.

use super::apps::list_apps;
use crate::conffile::ConfFile;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Capabilities the built-in admin role always holds, besides every declared one.
pub const ADMIN_CAPABILITIES: &[&str] = &[
    "admin_all_objects",
    "list_storage_passwords",
    "edit_storage_passwords",
];

/// The built-in system layer: splunkd's standard roles, reduced to what the handler needs.
/// As in splunkd, only admin may make and list authentication tokens by default.
const SYSTEM_AUTHORIZE: &str = "\
[role_admin]\nimportRoles = power;user\nedit_tokens_own = enabled\nedit_tokens_all = enabled\n\
list_tokens_own = enabled\nlist_tokens_all = enabled\n\
[role_power]\nimportRoles = user\nschedule_search = enabled\n\
[role_user]\nsearch = enabled\nrest_properties_get = enabled\nget_metadata = enabled\nchange_own_password = enabled\n";

#[derive(Debug, Clone, Default)]
struct Role {
    enabled: BTreeSet<String>,
    imports: Vec<String>,
}

/// Every role with its own capabilities and imports.
#[derive(Debug, Clone, Default)]
pub struct Roles {
    roles: BTreeMap<String, Role>,
    declared: BTreeSet<String>,
}

impl Roles {
    /// Loads the layers of a SPLUNK_HOME; unreadable files are skipped with a warning.
    pub fn load(splunk_home: &Path) -> (Roles, Vec<String>) {
        let mut warnings = Vec::new();
        let mut paths = vec![splunk_home.join("etc/system/default/authorize.conf")];
        let apps = list_apps(&splunk_home.join("etc/apps"));
        for layer in ["default", "local"] {
            for (_, dir) in &apps {
                paths.push(dir.join(layer).join("authorize.conf"));
            }
        }
        paths.push(splunk_home.join("etc/system/local/authorize.conf"));
        let mut layers = Vec::new();
        for p in paths {
            match ConfFile::load(&p) {
                Ok(c) => layers.push(c),
                Err(e) => warnings.push(format!("ignoring {}: {e}", p.display())),
            }
        }
        (Roles::from_layers(&layers), warnings)
    }

    /// Builds the roles from authorize.conf layers, lowest precedence first, on top of the
    /// built-in system layer.
    pub fn from_layers(layers: &[ConfFile]) -> Roles {
        let mut merged = ConfFile::parse(SYSTEM_AUTHORIZE).unwrap_or_default();
        for layer in layers {
            merged = merged.layered(layer);
        }
        let mut declared: BTreeSet<String> =
            ADMIN_CAPABILITIES.iter().map(|c| c.to_string()).collect();
        let mut roles = BTreeMap::new();
        for stanza in &merged.stanzas {
            if let Some(cap) = stanza.name.strip_prefix("capability::") {
                declared.insert(cap.to_string());
                continue;
            }
            let Some(name) = stanza.name.strip_prefix("role_") else {
                continue;
            };
            let mut role = Role::default();
            for (k, v) in &stanza.entries {
                match v.trim().to_ascii_lowercase().as_str() {
                    "enabled" => {
                        declared.insert(k.clone());
                        role.enabled.insert(k.clone());
                    }
                    "disabled" => {
                        declared.insert(k.clone());
                    }
                    _ if k == "importRoles" => {
                        role.imports = v
                            .split(';')
                            .map(str::trim)
                            .filter(|r| !r.is_empty())
                            .map(str::to_string)
                            .collect();
                    }
                    _ => {}
                }
            }
            roles.insert(name.to_string(), role);
        }
        Roles { roles, declared }
    }

    /// Whether a role of this name is defined anywhere.
    pub fn exists(&self, role: &str) -> bool {
        self.roles.contains_key(role)
    }

    /// Every capability declared anywhere (what admin and the system user hold).
    pub fn all_capabilities(&self) -> BTreeSet<String> {
        self.declared.clone()
    }

    /// The capabilities of a user with `roles`: their own, imported ones, and for `admin`
    /// every declared capability.
    pub fn capabilities(&self, roles: &[String]) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut seen = BTreeSet::new();
        let mut todo: Vec<&str> = roles.iter().map(String::as_str).collect();
        while let Some(name) = todo.pop() {
            if !seen.insert(name) {
                continue;
            }
            if name == "admin" {
                out.extend(self.declared.iter().cloned());
            }
            if let Some(role) = self.roles.get(name) {
                out.extend(role.enabled.iter().cloned());
                todo.extend(role.imports.iter().map(String::as_str));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roles() -> Roles {
        let app = ConfFile::parse(
            "[capability::list_containers]\n[capability::control_containers]\n\
             [role_viewer]\nlist_containers = enabled\nimportRoles = user\nsrchIndexesAllowed = *\n\
             [role_ops]\nimportRoles = viewer;ops\ncontrol_containers = enabled\n\
             [role_cyclic]\nimportRoles = cyclic2\n[role_cyclic2]\nimportRoles = cyclic\n",
        )
        .unwrap();
        let local = ConfFile::parse("[role_viewer]\nextra_cap = enabled\n").unwrap();
        Roles::from_layers(&[app, local])
    }

    #[test]
    fn admin_holds_everything_declared() {
        let r = roles();
        let admin = r.capabilities(&["admin".into()]);
        for c in [
            "list_containers",
            "control_containers",
            "extra_cap",
            "admin_all_objects",
            "list_storage_passwords",
            "edit_storage_passwords",
            "search",
        ] {
            assert!(admin.contains(c), "{c}");
        }
        assert!(!admin.contains("srchIndexesAllowed"));
    }

    #[test]
    fn imports_are_followed_and_cycles_end() {
        let r = roles();
        let ops = r.capabilities(&["ops".into()]);
        assert!(ops.contains("control_containers") && ops.contains("list_containers"));
        assert!(ops.contains("extra_cap") && ops.contains("search"));
        let user = r.capabilities(&["user".into()]);
        assert!(!user.contains("list_containers") && user.contains("search"));
        assert!(r.capabilities(&["cyclic".into()]).is_empty());
        assert!(r.capabilities(&["nosuchrole".into()]).is_empty());
        assert!(r.exists("viewer") && !r.exists("nosuchrole"));
    }

    #[test]
    fn the_apps_authorize_conf_is_obeyed() {
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("default/authorize.conf"),
        )
        .unwrap();
        let r = Roles::from_layers(&[ConfFile::parse(&text).unwrap()]);
        let dsdl = r.capabilities(&["dsdl_admin".into()]);
        assert!(dsdl.contains("list_containers") && dsdl.contains("control_containers"));
        assert!(!r.capabilities(&["user".into()]).contains("list_containers"));
        assert!(
            r.capabilities(&["admin".into()])
                .contains("list_containers")
        );
    }
}
