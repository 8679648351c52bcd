//! Driver settings, read once at start-up from the environment that restmap's
//! `driver.env.<NAME>` keys set (splunkd passes `SPLUNK_HOME` itself).

use crate::protocol::frame::{DEFAULT_MAX_BLOCK, Limits};
use std::path::{Path, PathBuf};

/// Everything the driver needs to know about where it runs.
#[derive(Debug, Clone)]
pub struct DriverConfig {
    /// Caps on announced frame lengths.
    pub limits: Limits,
    /// JSON-lines log file; `None` when no location is known.
    pub log_file: Option<PathBuf>,
    /// The audit trail ([`crate::audit`]); `None` when no location is known.
    pub audit_file: Option<PathBuf>,
    /// CA bundle used to verify splunkd's certificate; without it splunkd (always local) is
    /// reached without verification.
    pub splunkd_ca: Option<PathBuf>,
    /// The app this binary is installed in: the namespace of every conf and secret it touches
    /// in standalone mode.
    pub app: String,
    /// `DSDL_TOOLKIT_MODE`: whether confs and secrets live in the AI Toolkit's namespace.
    pub toolkit: ToolkitMode,
}

/// Where the stores live ([`crate::toolkit`]): the AI Toolkit's namespace, so its search-time
/// commands find the containers started here, or this app's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolkitMode {
    /// The toolkit's namespace when `Splunk_ML_Toolkit` is installed and enabled (asked of
    /// splunkd), this app's otherwise. The default.
    Auto,
    /// Always the toolkit's namespace.
    On,
    /// Always this app's namespace (standalone), even beside the toolkit.
    Off,
}

/// App name used when it cannot be derived from the install location.
pub const DEFAULT_APP: &str = "dsdl_handler";

impl DriverConfig {
    /// Reads `DSDL_MAX_BLOCK_BYTES`, `DSDL_LOG_FILE`, `DSDL_AUDIT_FILE`, `DSDL_SPLUNKD_CA`, `DSDL_APP`,
    /// `DSDL_TOOLKIT_MODE` and `SPLUNK_HOME`; invalid values are reported and replaced by
    /// defaults.
    pub fn from_env() -> (DriverConfig, Vec<String>) {
        Self::from_lookup(|k| std::env::var(k).ok(), std::env::current_exe().ok())
    }

    /// The same as [`DriverConfig::from_env`] over any variable source, for tests.
    pub fn from_lookup(
        var: impl Fn(&str) -> Option<String>,
        exe: Option<PathBuf>,
    ) -> (DriverConfig, Vec<String>) {
        let mut warnings = Vec::new();
        let mut limits = Limits::default();
        if let Some(v) = var("DSDL_MAX_BLOCK_BYTES") {
            match v.trim().parse::<usize>() {
                Ok(n) if n > 0 => limits.max_block = n,
                _ => warnings.push(format!(
                    "DSDL_MAX_BLOCK_BYTES={v:?} is not a positive number; using {DEFAULT_MAX_BLOCK}"
                )),
            }
        }
        // The variable's path, else the file beside splunkd's logs.
        let log_path = |name: &str, file: &str| {
            var(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .or_else(|| {
                    var("SPLUNK_HOME")
                        .filter(|v| !v.is_empty())
                        .map(|h| Path::new(&h).join("var/log/splunk").join(file))
                })
        };
        let log_file = log_path("DSDL_LOG_FILE", "dsdl_handler.log");
        let audit_file = log_path("DSDL_AUDIT_FILE", crate::audit::FILE_NAME);
        let splunkd_ca = var("DSDL_SPLUNKD_CA")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        let app = var("DSDL_APP")
            .filter(|v| !v.is_empty())
            .or_else(|| exe.as_deref().and_then(app_of_install_path))
            .unwrap_or_else(|| DEFAULT_APP.to_string());
        let toolkit = match var("DSDL_TOOLKIT_MODE")
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
            .as_str()
        {
            "" | "auto" => ToolkitMode::Auto,
            "on" | "true" | "1" | "yes" => ToolkitMode::On,
            "off" | "false" | "0" | "no" => ToolkitMode::Off,
            other => {
                warnings.push(format!(
                    "DSDL_TOOLKIT_MODE={other:?} is not auto, on or off; using auto"
                ));
                ToolkitMode::Auto
            }
        };
        (
            DriverConfig {
                limits,
                log_file,
                audit_file,
                splunkd_ca,
                app,
                toolkit,
            },
            warnings,
        )
    }
}

/// `<...>/etc/apps/<app>/bin/<exe>` gives `<app>`.
pub fn app_of_install_path(exe: &Path) -> Option<String> {
    let bin = exe.parent()?;
    let app = bin.parent()?;
    let apps = app.parent()?;
    (bin.file_name()? == "bin" && apps.file_name()? == "apps")
        .then(|| app.file_name()?.to_str().map(str::to_string))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(vars: &[(&str, &str)], exe: Option<&str>) -> (DriverConfig, Vec<String>) {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        DriverConfig::from_lookup(|k| vars.get(k).cloned(), exe.map(PathBuf::from))
    }

    #[test]
    fn toolkit_mode_is_auto_unless_set() {
        assert_eq!(cfg(&[], None).0.toolkit, ToolkitMode::Auto);
        assert_eq!(
            cfg(&[("DSDL_TOOLKIT_MODE", "Off")], None).0.toolkit,
            ToolkitMode::Off
        );
        assert_eq!(
            cfg(&[("DSDL_TOOLKIT_MODE", "on")], None).0.toolkit,
            ToolkitMode::On
        );
        let (c, w) = cfg(&[("DSDL_TOOLKIT_MODE", "sometimes")], None);
        assert_eq!((c.toolkit, w.len()), (ToolkitMode::Auto, 1));
    }

    #[test]
    fn defaults_and_overrides() {
        let (c, w) = cfg(&[("SPLUNK_HOME", "/opt/splunk")], None);
        assert!(w.is_empty());
        assert_eq!(c.limits.max_block, DEFAULT_MAX_BLOCK);
        assert_eq!(
            c.log_file.unwrap(),
            Path::new("/opt/splunk/var/log/splunk/dsdl_handler.log")
        );
        assert_eq!(
            c.audit_file.unwrap(),
            Path::new("/opt/splunk/var/log/splunk/dsdl_handler_audit.log")
        );
        assert_eq!(c.app, DEFAULT_APP);

        let (c, w) = cfg(
            &[
                ("DSDL_MAX_BLOCK_BYTES", "1024"),
                ("DSDL_LOG_FILE", "/tmp/x.log"),
                ("DSDL_AUDIT_FILE", "/tmp/a.log"),
            ],
            Some("/opt/splunk/etc/apps/my_app/bin/dsdl-handler"),
        );
        assert!(w.is_empty());
        assert_eq!(c.limits.max_block, 1024);
        assert_eq!(c.log_file.unwrap(), Path::new("/tmp/x.log"));
        assert_eq!(c.audit_file.unwrap(), Path::new("/tmp/a.log"));
        assert_eq!(c.app, "my_app");
    }

    #[test]
    fn bad_values_warn() {
        let (c, w) = cfg(&[("DSDL_MAX_BLOCK_BYTES", "lots")], None);
        assert_eq!(w.len(), 1);
        assert_eq!(c.limits.max_block, DEFAULT_MAX_BLOCK);
        assert!(c.log_file.is_none());
    }

    #[test]
    fn install_path_parsing() {
        assert_eq!(
            app_of_install_path(Path::new("/x/etc/apps/a/bin/h")).as_deref(),
            Some("a")
        );
        assert_eq!(app_of_install_path(Path::new("/x/target/debug/h")), None);
    }
}
