//! Preparing a SPLUNK_HOME for splunkd-dev: the directory skeleton, this app installed from
//! the working tree (configuration plus the driver binary), the first admin user, and the
//! instance identity (`etc/instance.cfg` guid, server name) that requests carry.

use super::confstore::is_safe_name;
use super::users::{self, UserDb, UsersError, users_path};
use crate::conffile::ConfFile;
use crate::protocol::request::Secret;
use std::fmt;
use std::path::{Path, PathBuf};

/// File name of the driver binary inside the app's `bin/`.
pub const DRIVER_BINARY: &str = "dsdl-handler";

/// Why SPLUNK_HOME could not be prepared.
#[derive(Debug)]
pub enum HomeError {
    /// A file operation failed.
    Io(String, std::io::Error),
    /// The driver binary was not found.
    NoDriver(Vec<PathBuf>),
    /// The app directory is not a Splunk app.
    NotAnApp(PathBuf),
    /// The users file could not be prepared.
    Users(UsersError),
}

impl fmt::Display for HomeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HomeError::Io(what, e) => write!(f, "{what}: {e}"),
            HomeError::NoDriver(looked) => {
                let list: Vec<String> = looked.iter().map(|p| p.display().to_string()).collect();
                write!(
                    f,
                    "cannot find the {DRIVER_BINARY} driver binary (looked at {}); build it with `cargo build --bin {DRIVER_BINARY}`",
                    list.join(", ")
                )
            }
            HomeError::NotAnApp(p) => write!(
                f,
                "{} is not a Splunk app (no default/app.conf); pass the app's directory with --app-dir",
                p.display()
            ),
            HomeError::Users(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for HomeError {}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> HomeError {
    let what = what.into();
    move |e| HomeError::Io(what, e)
}

/// The project's working tree: the current directory when it holds an app
/// (`default/app.conf`), else the source tree this binary was built from.
pub fn project_dir() -> PathBuf {
    match std::env::current_dir() {
        Ok(cwd) if cwd.join("default/app.conf").is_file() => cwd,
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")),
    }
}

/// The throw-away SPLUNK_HOME used when none is given: `var/splunkd-dev-home` of the project
/// (ignored by git, reused across runs so the admin password printed once stays valid).
pub fn default_home(project: &Path) -> PathBuf {
    project.join("var").join("splunkd-dev-home")
}

/// Creates the directories splunkd-dev and the stores use.
pub fn prepare(home: &Path) -> Result<(), HomeError> {
    for dir in ["etc/apps", "etc/system/local", "etc/auth", "var/log/splunk"] {
        let p = home.join(dir);
        std::fs::create_dir_all(&p).map_err(io(format!("cannot create {}", p.display())))?;
    }
    Ok(())
}

/// An app installed into SPLUNK_HOME.
#[derive(Debug, Clone)]
pub struct InstalledApp {
    /// The app name (`[package] id` of app.conf, else the directory name).
    pub name: String,
    /// `etc/apps/<name>`.
    pub dir: PathBuf,
    /// The driver binary that was copied into `bin/` (`None` when installed in place).
    pub driver: Option<PathBuf>,
}

/// The app name of an app directory. The name becomes a directory under `etc/apps` that
/// installing replaces, so an `id` that is not a plain directory name (`..`, `a/b`) is not
/// used.
pub fn app_name(app_dir: &Path) -> String {
    let conf = ConfFile::load(&app_dir.join("default/app.conf")).unwrap_or_default();
    conf.get("package")
        .and_then(|s| s.get("id"))
        .map(str::trim)
        .filter(|id| is_safe_name(id))
        .map(str::to_string)
        .or_else(|| {
            app_dir
                .canonicalize()
                .ok()?
                .file_name()?
                .to_str()
                .filter(|n| is_safe_name(n))
                .map(str::to_string)
        })
        .unwrap_or_else(|| crate::config::DEFAULT_APP.into())
}

/// Installs the app at `app_dir` into `home/etc/apps/<name>`: `default/`, `metadata/` and
/// `README/` are replaced, `local/` is kept, and the driver binary is copied into `bin/`.
pub fn install_app(home: &Path, app_dir: &Path) -> Result<InstalledApp, HomeError> {
    if !app_dir.join("default/app.conf").is_file() {
        return Err(HomeError::NotAnApp(app_dir.to_path_buf()));
    }
    let name = app_name(app_dir);
    let dest = home.join("etc/apps").join(&name);
    let same = match (app_dir.canonicalize(), dest.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same {
        return Ok(InstalledApp {
            name,
            dir: dest,
            driver: None,
        });
    }
    std::fs::create_dir_all(dest.join("bin"))
        .map_err(io(format!("cannot create {}", dest.display())))?;
    for sub in ["default", "metadata", "README"] {
        let from = app_dir.join(sub);
        let to = dest.join(sub);
        if to.exists() {
            std::fs::remove_dir_all(&to).map_err(io(format!("cannot replace {}", to.display())))?;
        }
        if from.is_dir() {
            copy_dir(&from, &to)?;
        }
    }
    let driver = find_driver(app_dir)?;
    let target = dest.join("bin").join(DRIVER_BINARY);
    // Copy then rename: a driver still running from an earlier run keeps its old file.
    let tmp = dest
        .join("bin")
        .join(format!(".{DRIVER_BINARY}.{}.tmp", std::process::id()));
    std::fs::copy(&driver, &tmp).map_err(io(format!(
        "cannot copy {} to {}",
        driver.display(),
        tmp.display()
    )))?;
    std::fs::rename(&tmp, &target).map_err(io(format!("cannot install {}", target.display())))?;
    Ok(InstalledApp {
        name,
        dir: dest,
        driver: Some(driver),
    })
}

/// The driver binary to install: `<app>/bin/dsdl-handler`, else the one built next to this
/// executable.
fn find_driver(app_dir: &Path) -> Result<PathBuf, HomeError> {
    let mut looked = vec![app_dir.join("bin").join(DRIVER_BINARY)];
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| Some(e.parent()?.to_path_buf()))
    {
        looked.push(dir.join(DRIVER_BINARY));
    }
    looked
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or(HomeError::NoDriver(looked))
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), HomeError> {
    std::fs::create_dir_all(to).map_err(io(format!("cannot create {}", to.display())))?;
    let entries = std::fs::read_dir(from).map_err(io(format!("cannot read {}", from.display())))?;
    for entry in entries {
        let entry = entry.map_err(io(format!("cannot read {}", from.display())))?;
        let src = entry.path();
        let dst = to.join(entry.file_name());
        if src.is_dir() {
            copy_dir(&src, &dst)?;
        } else {
            std::fs::copy(&src, &dst).map_err(io(format!("cannot copy {}", src.display())))?;
        }
    }
    Ok(())
}

/// What [`ensure_admin`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminSetup {
    /// The admin user existed and was left alone.
    Existing,
    /// The admin user was created (or its password reset) with the password given by flag.
    FromFlag,
    /// The admin user was created with this generated password (to print once; hidden from
    /// `Debug`).
    Generated(Secret),
}

/// Makes sure the users file has an `admin` user (role admin). A given password is applied
/// even when admin exists; otherwise a missing admin gets a generated password.
pub fn ensure_admin(home: &Path, password: Option<&str>) -> Result<AdminSetup, HomeError> {
    let path = users_path(home);
    let mut db = UserDb::load(&path).map_err(HomeError::Users)?;
    let existing = db.get("admin").cloned();
    let (pw, outcome) = match (password, &existing) {
        (Some(p), Some(u)) if users::verify_password(p, &u.password_hash) => {
            return Ok(AdminSetup::Existing);
        }
        (Some(p), _) => (p.to_string(), AdminSetup::FromFlag),
        (None, Some(_)) => return Ok(AdminSetup::Existing),
        (None, None) => {
            let p = users::generate_password().map_err(HomeError::Users)?;
            (p.clone(), AdminSetup::Generated(Secret::new(p)))
        }
    };
    let roles = existing
        .map(|u| u.roles)
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| vec!["admin".into()]);
    let user = users::new_user("admin", &pw, &roles).map_err(HomeError::Users)?;
    db.upsert(user);
    db.save(&path).map_err(HomeError::Users)?;
    Ok(outcome)
}

/// The instance GUID from `etc/instance.cfg` (`[general] guid`), created on first use as
/// splunkd does.
pub fn instance_guid(home: &Path) -> Result<String, HomeError> {
    let path = home.join("etc/instance.cfg");
    let mut conf = ConfFile::load(&path).map_err(io(format!("cannot read {}", path.display())))?;
    if let Some(g) = conf.get("general").and_then(|s| s.get("guid")) {
        return Ok(g.trim().to_string());
    }
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|e| {
        HomeError::Io(
            "cannot create the instance guid".into(),
            std::io::Error::other(e.to_string()),
        )
    })?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02X}")).collect();
    let guid = format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    );
    conf.get_or_insert("general").set("guid", &guid);
    crate::conffile::write_atomic(&path, conf.render().as_bytes(), 0o644)
        .map_err(io(format!("cannot write {}", path.display())))?;
    Ok(guid)
}

/// This machine's host name.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// `serverName` from `etc/system/local/server.conf`, else the host name.
pub fn server_name(home: &Path) -> String {
    ConfFile::load(&home.join("etc/system/local/server.conf"))
        .ok()
        .and_then(|c| c.get("general")?.get("serverName").map(str::to_string))
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(hostname)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("splunkd-dev-home-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn install_copies_config_keeps_local_and_needs_a_driver() {
        let home = tmp("install");
        let app = home.join("src-app");
        std::fs::create_dir_all(app.join("default")).unwrap();
        std::fs::create_dir_all(app.join("bin")).unwrap();
        std::fs::write(app.join("default/app.conf"), "[package]\nid = my_app\n").unwrap();
        std::fs::write(app.join("default/restmap.conf"), "[script:x]\nmatch = /x\n").unwrap();
        prepare(&home).unwrap();
        assert!(matches!(
            install_app(&home, &home.join("nope")),
            Err(HomeError::NotAnApp(_))
        ));
        std::fs::write(app.join("bin").join(DRIVER_BINARY), "#!/bin/sh\n").unwrap();
        let inst = install_app(&home, &app).unwrap();
        assert_eq!(inst.name, "my_app");
        assert!(inst.dir.join("default/restmap.conf").is_file());
        assert!(inst.dir.join("bin").join(DRIVER_BINARY).is_file());
        std::fs::create_dir_all(inst.dir.join("local")).unwrap();
        std::fs::write(inst.dir.join("local/x.conf"), "[a]\n").unwrap();
        std::fs::write(inst.dir.join("default/stale.conf"), "[a]\n").unwrap();
        install_app(&home, &app).unwrap();
        assert!(inst.dir.join("local/x.conf").is_file(), "local/ kept");
        assert!(
            !inst.dir.join("default/stale.conf").exists(),
            "default/ replaced"
        );
        let _ = std::fs::remove_dir_all(&home);
    }

    #[test]
    fn app_ids_that_are_not_plain_names_are_not_used() {
        let home = tmp("app-id");
        let app = home.join("my_app");
        std::fs::create_dir_all(app.join("default")).unwrap();
        for bad in ["../../outside", "a/b", ".hidden", ""] {
            std::fs::write(
                app.join("default/app.conf"),
                format!("[package]\nid = {bad}\n"),
            )
            .unwrap();
            assert_eq!(app_name(&app), "my_app", "{bad:?}");
        }
        let _ = std::fs::remove_dir_all(&home);
    }

    #[test]
    fn admin_and_identity() {
        let home = tmp("admin");
        prepare(&home).unwrap();
        let AdminSetup::Generated(pw) = ensure_admin(&home, None).unwrap() else {
            panic!("expected a generated password");
        };
        assert_eq!(ensure_admin(&home, None).unwrap(), AdminSetup::Existing);
        assert_eq!(
            ensure_admin(&home, Some(pw.expose())).unwrap(),
            AdminSetup::Existing
        );
        assert_eq!(
            ensure_admin(&home, Some("other")).unwrap(),
            AdminSetup::FromFlag
        );
        let text = std::fs::read_to_string(users_path(&home)).unwrap();
        assert!(!text.contains(pw.expose()) && !text.contains("other"));
        let g = instance_guid(&home).unwrap();
        assert_eq!(g.len(), 36);
        assert_eq!(instance_guid(&home).unwrap(), g, "stable");
        assert!(!server_name(&home).is_empty());
        let _ = std::fs::remove_dir_all(&home);
    }
}
