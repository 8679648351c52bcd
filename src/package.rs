//! The installable Splunk app, as `cargo run --release --bin package` builds it:
//! `dist/<app_id>-<version>.tar.gz` holding only the app under a top directory named after
//! the app id.
//!
//! What decides is pure and tested without I/O: which files of the source tree ship
//! ([`exclusion`]) and with which modes ([`mode_for`]); the checks that mirror what Splunk's
//! AppInspect fails or warns about ([`check_app`]: one version everywhere, the app id, restmap
//! `script`/`driver`, reload triggers and replication of every custom conf, metadata, web.conf);
//! what the driver binary is and needs ([`describe_elf`], written into the packaged
//! README.txt); and the check of a finished archive's listing ([`verify_listing`]).
//! [`build_package`] reads the tree, runs the checks and writes the archive.

use crate::conffile::ConfFile;
use crate::confspec::Spec;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};

/// File name of the driver inside the app's `bin/` (restmap's `script` names it).
pub const DRIVER: &str = "dsdl-handler";

/// Mode of every directory in the archive.
pub const DIR_MODE: u32 = 0o755;

/// The files and directories of the source tree that make up the app; everything else
/// (`src/`, `target/`, the top-level `restmap.conf` link, `bin/`...) is development only.
/// The driver is added from the build, never taken from the tree's `bin/`.
pub const APP_ROOTS: &[&str] = &[
    "app.manifest",
    "README.txt",
    "README.md",
    "default",
    "README",
    "metadata",
    "static",
    "appserver",
];

/// Files every package must hold (paths inside the app directory).
pub const REQUIRED: &[&str] = &[
    "app.manifest",
    "README.txt",
    "default/app.conf",
    "default/restmap.conf",
    "metadata/default.meta",
    "static/appIcon.png",
    "static/appIcon_2x.png",
    "appserver/static/openapi.json",
];

/// App icons and the size Splunk Web shows each at (pixels, square).
pub const ICONS: &[(&str, u32)] = &[
    ("static/appIcon.png", 36),
    ("static/appIcon_2x.png", 72),
    ("static/appIconAlt.png", 36),
    ("static/appIconAlt_2x.png", 72),
];

/// Confs that Splunk defines; every other `default/<name>.conf` is a custom conf, which
/// needs a spec, a reload trigger and search head cluster replication.
const SPLUNK_CONFS: &[&str] = &[
    "alert_actions",
    "app",
    "authorize",
    "collections",
    "commands",
    "distsearch",
    "eventtypes",
    "indexes",
    "inputs",
    "limits",
    "macros",
    "outputs",
    "passwords",
    "props",
    "restmap",
    "savedsearches",
    "server",
    "tags",
    "transforms",
    "ui-prefs",
    "web",
];

/// Libraries the driver must not need: Splunk puts its own OpenSSL first on
/// `LD_LIBRARY_PATH`, so a driver linked against the system's would load the wrong one.
const FORBIDDEN_LIBRARIES: &[&str] = &["libssl", "libcrypto"];

/// Why a file of the source tree does not ship, or `None` when it does. `rel` is the path
/// relative to the source tree with `/` separators; `is_symlink` whether it is a link.
pub fn exclusion(rel: &str, is_symlink: bool) -> Option<&'static str> {
    let parts: Vec<&str> = rel.split('/').collect();
    let name = parts.last().copied().unwrap_or("");
    if parts.iter().any(|p| p.starts_with('.')) {
        return Some("dot-files and dot-directories are never shipped");
    }
    if parts.contains(&"local") || name == "local.meta" {
        return Some("local/ and local.meta are a site's own settings, never shipped");
    }
    if is_symlink {
        return Some("links are not shipped (ship the file itself)");
    }
    if name.ends_with('~')
        || [".swp", ".bak", ".orig", ".rej", ".pyc", ".tmp"]
            .iter()
            .any(|s| name.ends_with(s))
    {
        return Some("editor or build leftover");
    }
    match parts.as_slice() {
        ["app.manifest" | "README.txt" | "README.md"] => None,
        ["default", "passwords.conf"] => Some("secrets are never shipped (passwords.conf)"),
        ["default", f] if f.ends_with(".conf") => None,
        ["default", ..] => Some("only .conf files ship in default/"),
        ["README", f] if f.ends_with(".conf.spec") => None,
        ["README", ..] => Some("only .conf.spec files ship in README/"),
        ["metadata", "default.meta"] => None,
        ["metadata", ..] => Some("only default.meta ships in metadata/"),
        ["static", f] if f.ends_with(".png") => None,
        ["static", ..] => Some("only .png icons ship in static/"),
        ["appserver", "static", "openapi.json"] => None,
        ["appserver", ..] => Some("only the OpenAPI document ships in appserver/static/"),
        ["bin", ..] => Some("bin/ is filled from the build: only the freshly built driver ships"),
        _ => Some("not part of the app"),
    }
}

/// Mode of a file in the archive (path inside the app directory): 755 in `bin/`, where
/// splunkd runs it, 644 everywhere else (AppInspect fails executables outside `bin/`).
pub fn mode_for(path: &str) -> u32 {
    if path.starts_with("bin/") {
        0o755
    } else {
        0o644
    }
}

/// Every directory that must exist for `files` (paths inside the app directory), parents
/// first, without the app directory itself.
pub fn directories_of<'a>(files: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut dirs = BTreeSet::new();
    for f in files {
        let mut at = 0;
        while let Some(i) = f[at..].find('/') {
            dirs.insert(f[..at + i].to_string());
            at += i + 1;
        }
    }
    dirs.into_iter().collect()
}

/// Whether `v` is a SemVer 2.0.0 version (`MAJOR.MINOR.PATCH[-pre][+build]`), as AppInspect's
/// `check_version_is_valid_semver` wants every version of the app to be.
pub fn is_semver(v: &str) -> bool {
    fn numeric(s: &str) -> bool {
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'))
    }
    fn idents(s: &str, pre: bool) -> bool {
        s.split('.').all(|id| {
            !id.is_empty()
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && (!pre || !id.bytes().all(|b| b.is_ascii_digit()) || numeric(id))
        })
    }
    let (rest, build) = match v.split_once('+') {
        Some((r, b)) => (r, Some(b)),
        None => (v, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (rest, None),
    };
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| numeric(p))
        && pre.is_none_or(|p| idents(p, true))
        && build.is_none_or(|b| idents(b, false))
}

/// Whether `id` is a valid app id (AppInspect's rule): letters, digits, `.`, `_` and `-`, not
/// starting with a digit, not ending with `.`, not a reserved Windows device name.
pub fn is_valid_app_id(id: &str) -> bool {
    const RESERVED: &[&str] = &[
        "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
        "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
    ];
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && !id.starts_with(|c: char| c.is_ascii_digit())
        && !id.ends_with('.')
        && !RESERVED.iter().any(|r| r.eq_ignore_ascii_case(id))
        && ![".tar", ".tgz", ".tar.gz", ".spl"]
            .iter()
            .any(|s| id.ends_with(s))
}

/// The `version` of the `[package]` table of a Cargo.toml (a plain line reader: the manifest
/// keeps it as `version = "x.y.z"`).
pub fn cargo_package_version(toml: &str) -> Option<String> {
    let mut in_package = false;
    for line in toml.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_package = line == "[package]";
            continue;
        }
        if !in_package {
            continue;
        }
        if let Some((k, v)) = line.split_once('=')
            && k.trim() == "version"
        {
            let v = v.trim();
            return v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .map(str::to_string);
        }
    }
    None
}

/// The one version of the app, or why there is none: Cargo.toml's `[package] version`,
/// app.conf's `[launcher] version` and `[id] version`, and app.manifest's `info.id.version`
/// must all be present, equal, and SemVer.
pub fn check_versions(
    cargo_toml: &str,
    app_conf: &ConfFile,
    manifest: &serde_json::Value,
) -> Result<String, String> {
    let conf = |stanza: &str, key: &str| {
        app_conf
            .get(stanza)
            .and_then(|s| s.get(key))
            .map(|v| v.trim().to_string())
    };
    let found = [
        (
            "Cargo.toml [package] version",
            cargo_package_version(cargo_toml),
        ),
        (
            "default/app.conf [launcher] version",
            conf("launcher", "version"),
        ),
        ("default/app.conf [id] version", conf("id", "version")),
        (
            "app.manifest info.id.version",
            manifest
                .pointer("/info/id/version")
                .and_then(|v| v.as_str())
                .map(str::to_string),
        ),
    ];
    let listing = found
        .iter()
        .map(|(w, v)| format!("{w} = {}", v.as_deref().unwrap_or("(missing)")))
        .collect::<Vec<_>>()
        .join(", ");
    let values: BTreeSet<&str> = found.iter().filter_map(|(_, v)| v.as_deref()).collect();
    if found.iter().any(|(_, v)| v.is_none()) || values.len() != 1 {
        return Err(format!(
            "versions disagree or are missing: {listing}. Set all four to the same version (and bump [install] build)"
        ));
    }
    let version = values.into_iter().next().unwrap_or_default().to_string();
    if !is_semver(&version) {
        return Err(format!(
            "version {version:?} is not SemVer 2.0.0 (MAJOR.MINOR.PATCH), which AppInspect requires"
        ));
    }
    Ok(version)
}

/// app.conf's rules beyond the version: a valid `[package] id` equal to `[id] name`,
/// `check_for_updates = false`, a positive `[install] build`, no install checksums, no
/// restart on state change, a `[ui] label` of 5 to 80 characters, `[launcher]` author and
/// description, and valid `[triggers]` values. Returns the app id, or every problem.
pub fn check_app_conf(app_conf: &ConfFile) -> Result<String, Vec<String>> {
    let mut problems = Vec::new();
    let get = |stanza: &str, key: &str| {
        app_conf
            .get(stanza)
            .and_then(|s| s.get(key))
            .map(|v| v.trim().to_string())
    };
    let id = get("package", "id").unwrap_or_default();
    if !is_valid_app_id(&id) {
        problems.push(format!(
            "default/app.conf [package] id {id:?} is missing or invalid (letters, digits, '.', '_', '-'; not starting with a digit, not ending with '.')"
        ));
    }
    match get("id", "name") {
        Some(name) if name == id => {}
        other => problems.push(format!(
            "default/app.conf [id] name {:?} must equal [package] id {id:?}",
            other.unwrap_or_default()
        )),
    }
    if get("package", "check_for_updates").as_deref() != Some("false") {
        problems.push(
            "default/app.conf [package] check_for_updates must be false (a private app)".into(),
        );
    }
    match get("install", "build").map(|b| b.parse::<u64>()) {
        Some(Ok(n)) if n > 0 => {}
        _ => problems.push("default/app.conf [install] build must be a positive integer".into()),
    }
    for key in ["install_source_checksum", "install_source_local_checksum"] {
        if get("install", key).is_some() {
            problems.push(format!("default/app.conf [install] {key} must not be set"));
        }
    }
    if get("install", "is_configured").as_deref() == Some("true") {
        problems.push(
            "default/app.conf [install] is_configured = true says setup was done already (AppInspect fails it)"
                .into(),
        );
    }
    if get("install", "state_change_requires_restart").as_deref() == Some("true") {
        problems.push(
            "default/app.conf [install] state_change_requires_restart = true is flagged by AppInspect"
                .into(),
        );
    }
    let label = get("ui", "label").unwrap_or_default();
    if !(5..=80).contains(&label.chars().count()) || label.to_lowercase().starts_with("splunk for")
    {
        problems.push(format!(
            "default/app.conf [ui] label {label:?} must be 5 to 80 characters, not starting with \"Splunk For\""
        ));
    }
    for key in ["author", "description"] {
        if get("launcher", key).unwrap_or_default().is_empty() {
            problems.push(format!("default/app.conf [launcher] {key} is required"));
        }
    }
    if let Some(triggers) = app_conf.get("triggers") {
        for (k, v) in &triggers.entries {
            let v = v.trim();
            let ok = v == "simple"
                || v == "never"
                || ["access_endpoints ", "http_get ", "http_post "]
                    .iter()
                    .any(|p| v.starts_with(p));
            if k.starts_with("reload.") && !ok {
                problems.push(format!(
                    "default/app.conf [triggers] {k} = {v:?}: use simple, never, access_endpoints, http_get or http_post"
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(id)
    } else {
        Err(problems)
    }
}

/// app.manifest: the schema slim writes (2.0.0), `info.id.name` equal to the app id, and
/// search head clustering among the supported deployments (the app replicates its confs;
/// slim leaves it out by default).
pub fn check_manifest(manifest: &serde_json::Value, app_id: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if manifest.get("schemaVersion").and_then(|v| v.as_str()) != Some("2.0.0") {
        problems.push("app.manifest schemaVersion must be \"2.0.0\"".into());
    }
    let name = manifest.pointer("/info/id/name").and_then(|v| v.as_str());
    if name != Some(app_id) {
        problems.push(format!(
            "app.manifest info.id.name {name:?} must equal the app id {app_id:?}"
        ));
    }
    let deployments: Vec<&str> = manifest
        .get("supportedDeployments")
        .and_then(|v| v.as_array())
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    if !deployments.contains(&"_search_head_clustering") && !deployments.contains(&"*") {
        problems
            .push("app.manifest supportedDeployments must include _search_head_clustering".into());
    }
    problems
}

/// restmap.conf: no `[default]`/`[global]` stanza (AppInspect fails them in Splunk's confs);
/// every `[script:*]` stanza names in `script` a file that exists in `bin/` (AppInspect
/// resolves `script` as `bin/<script>`), and its `driver` is
/// `$SPLUNK_HOME/etc/apps/<app_id>/bin/<file in bin/>`, so the installed app runs its own
/// driver wherever SPLUNK_HOME is.
pub fn check_restmap(restmap: &ConfFile, app_id: &str, bin_files: &[&str]) -> Vec<String> {
    let mut problems = Vec::new();
    let prefix = format!("$SPLUNK_HOME/etc/apps/{app_id}/bin/");
    let mut scripts = 0;
    for stanza in &restmap.stanzas {
        let name = stanza.name.as_str();
        if matches!(name, "default" | "global") {
            if !stanza.entries.is_empty() || name == "global" {
                problems.push(format!(
                    "default/restmap.conf: [{name}] (or keys outside a stanza) is not allowed"
                ));
            }
            continue;
        }
        if !name.starts_with("script:") {
            continue;
        }
        scripts += 1;
        match stanza.get("script").map(str::trim) {
            Some(s) if bin_files.contains(&s) => {}
            Some(s) => problems.push(format!(
                "default/restmap.conf [{name}] script = {s}: bin/{s} is not in the package (AppInspect resolves script under bin/)"
            )),
            None => problems.push(format!("default/restmap.conf [{name}] has no script")),
        }
        if stanza.get("scripttype").map(str::trim) == Some("persist") {
            match stanza.get("driver").map(str::trim) {
                Some(d) if d.strip_prefix(&prefix).is_some_and(|f| bin_files.contains(&f)) => {}
                Some(d) => problems.push(format!(
                    "default/restmap.conf [{name}] driver = {d}: must be {prefix}<a file in bin/>"
                )),
                None => problems.push(format!(
                    "default/restmap.conf [{name}] is persist without a driver (splunkd would start Python)"
                )),
            }
        }
    }
    if scripts == 0 {
        problems.push("default/restmap.conf has no [script:*] stanza".into());
    }
    problems
}

/// The custom confs among `default/` file names (`name.conf` -> `name`).
pub fn custom_confs<'a>(default_files: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    default_files
        .into_iter()
        .filter_map(|f| f.strip_suffix(".conf"))
        .filter(|n| !SPLUNK_CONFS.contains(n))
        .map(str::to_string)
        .collect()
}

/// Every custom conf has `README/<conf>.conf.spec`, `[triggers] reload.<conf>` in app.conf
/// (else AppInspect fails) and `[shclustering] conf_replication_include.<conf> = true` in
/// server.conf (else it warns and a search head cluster does not replicate it); server.conf
/// holds nothing but `[shclustering]` (AppInspect fails anything else).
pub fn check_custom_confs(
    custom: &[String],
    specs: &[&str],
    app_conf: &ConfFile,
    server_conf: &ConfFile,
) -> Vec<String> {
    let mut problems = Vec::new();
    let triggers = app_conf.get("triggers");
    let shc = server_conf.get("shclustering");
    for conf in custom {
        if !specs.contains(&format!("{conf}.conf.spec").as_str()) {
            problems.push(format!(
                "default/{conf}.conf has no README/{conf}.conf.spec"
            ));
        }
        if triggers
            .and_then(|t| t.get(&format!("reload.{conf}")))
            .is_none()
        {
            problems.push(format!(
                "default/app.conf [triggers] reload.{conf} is missing (AppInspect fails it)"
            ));
        }
        let replicated = shc
            .and_then(|s| s.get(&format!("conf_replication_include.{conf}")))
            .and_then(crate::conffile::parse_bool);
        if replicated != Some(true) {
            problems.push(format!(
                "default/server.conf [shclustering] conf_replication_include.{conf} = true is missing"
            ));
        }
    }
    for stanza in &server_conf.stanzas {
        let allowed = stanza.name == "shclustering"
            || stanza.name.starts_with("diag")
            || (stanza.name == "default" && stanza.entries.is_empty());
        if !allowed {
            problems.push(format!(
                "default/server.conf may hold only [shclustering], not [{}]",
                stanza.name
            ));
        }
        if stanza.name == "shclustering" {
            for (k, _) in &stanza.entries {
                if !k.starts_with("conf_replication_include.") {
                    problems.push(format!(
                        "default/server.conf [shclustering] {k}: only conf_replication_include.* is allowed"
                    ));
                }
            }
        }
    }
    problems
}

/// metadata/default.meta: the global `[]` stanza grants `write` to named roles only
/// (`write : [ * ]` fails AppInspect), and `read` to everyone.
pub fn check_default_meta(meta: &ConfFile) -> Vec<String> {
    // configparser reads `[]` as a stanza with an empty name.
    let access = meta
        .get("")
        .or_else(|| meta.get("default"))
        .and_then(|s| s.get("access"))
        .map(str::to_string);
    let Some(access) = access else {
        return vec!["metadata/default.meta: the global [] stanza needs access = read : [ * ], write : [ admin ]".into()];
    };
    let roles = |what: &str| -> Option<Vec<String>> {
        let at = access.find(what)?;
        let rest = &access[at + what.len()..];
        let rest = rest.trim_start().strip_prefix(':')?.trim_start();
        let inner = rest.strip_prefix('[')?.split(']').next()?;
        Some(
            inner
                .split(',')
                .map(|r| r.trim().to_string())
                .filter(|r| !r.is_empty())
                .collect(),
        )
    };
    let mut problems = Vec::new();
    match roles("write") {
        Some(w) if !w.is_empty() && !w.iter().any(|r| r == "*") => {}
        _ => problems.push(format!(
            "metadata/default.meta access = {access}: write must list admin roles only, never *"
        )),
    }
    match roles("read") {
        Some(r) if r.iter().any(|r| r == "*") => {}
        _ => problems.push(format!(
            "metadata/default.meta access = {access}: read : [ * ] expected (every user reads the app's objects)"
        )),
    }
    problems
}

/// web.conf: only `[expose:*]` stanzas with `pattern` and `methods` (AppInspect fails
/// anything else; `[endpoint:*]` would need Python controllers this app does not have).
pub fn check_web_conf(web: &ConfFile) -> Vec<String> {
    let mut problems = Vec::new();
    for stanza in &web.stanzas {
        if stanza.name == "default" && stanza.entries.is_empty() {
            continue;
        }
        if !stanza.name.starts_with("expose:") {
            problems.push(format!(
                "default/web.conf [{}]: only [expose:*] stanzas are allowed",
                stanza.name
            ));
            continue;
        }
        for (k, _) in &stanza.entries {
            if k != "pattern" && k != "methods" {
                problems.push(format!(
                    "default/web.conf [{}] {k}: only pattern and methods are allowed",
                    stanza.name
                ));
            }
        }
    }
    problems
}

/// Width and height of a PNG, from its IHDR chunk.
pub fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    if bytes.len() < 24 || &bytes[..8] != b"\x89PNG\r\n\x1a\n" || &bytes[12..16] != b"IHDR" {
        return None;
    }
    let be =
        |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    Some((be(16), be(20)))
}

/// Icons: `appIcon.png` and `appIcon_2x.png` are required; every icon in [`ICONS`] that is
/// present is a PNG of its size.
pub fn check_icons(files: &BTreeMap<String, Vec<u8>>) -> Vec<String> {
    let mut problems = Vec::new();
    for (path, size) in ICONS {
        let Some(bytes) = files.get(*path) else {
            continue;
        };
        match png_size(bytes) {
            Some((w, h)) if w == *size && h == *size => {}
            Some((w, h)) => problems.push(format!("{path} is {w}x{h}, expected {size}x{size}")),
            None => problems.push(format!("{path} is not a PNG")),
        }
    }
    problems
}

/// The app's identity once every check passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppInfo {
    /// `[package] id`: the top directory of the archive.
    pub id: String,
    /// The one version of Cargo.toml, app.conf and app.manifest.
    pub version: String,
}

/// Runs every check over the files that will ship (`files`: path inside the app -> bytes,
/// `bin/` included) and the Cargo.toml text. Returns the app's id and version, or every
/// problem found (all at once, so one run shows everything to fix).
pub fn check_app(
    files: &BTreeMap<String, Vec<u8>>,
    cargo_toml: &str,
) -> Result<AppInfo, Vec<String>> {
    let mut problems = Vec::new();
    for req in REQUIRED.iter().copied().chain([&*format!("bin/{DRIVER}")]) {
        if !files.contains_key(req) {
            problems.push(format!("{req} is missing"));
        }
    }
    let text = |path: &str| {
        files
            .get(path)
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default()
    };
    let conf = |path: &str, problems: &mut Vec<String>| match ConfFile::parse(&text(path)) {
        Ok(c) => c,
        Err(e) => {
            problems.push(format!("{path}: {e}"));
            ConfFile::default()
        }
    };
    let app_conf = conf("default/app.conf", &mut problems);
    let manifest: serde_json::Value = match serde_json::from_str(&text("app.manifest")) {
        Ok(v) => v,
        Err(e) => {
            problems.push(format!("app.manifest is not JSON: {e}"));
            serde_json::Value::Null
        }
    };
    let id = check_app_conf(&app_conf).unwrap_or_else(|p| {
        problems.extend(p);
        String::new()
    });
    let version = check_versions(cargo_toml, &app_conf, &manifest).unwrap_or_else(|p| {
        problems.push(p);
        String::new()
    });
    problems.extend(check_manifest(&manifest, &id));
    let bin_files: Vec<&str> = files
        .keys()
        .filter_map(|k| k.strip_prefix("bin/"))
        .collect();
    let restmap = conf("default/restmap.conf", &mut problems);
    problems.extend(check_restmap(&restmap, &id, &bin_files));
    let default_files: Vec<&str> = files
        .keys()
        .filter_map(|k| k.strip_prefix("default/"))
        .collect();
    let specs: Vec<&str> = files
        .keys()
        .filter_map(|k| k.strip_prefix("README/"))
        .collect();
    let server = conf("default/server.conf", &mut problems);
    problems.extend(check_custom_confs(
        &custom_confs(default_files),
        &specs,
        &app_conf,
        &server,
    ));
    let meta = conf("metadata/default.meta", &mut problems);
    problems.extend(check_default_meta(&meta));
    let web = conf("default/web.conf", &mut problems);
    problems.extend(check_web_conf(&web));
    problems.extend(check_icons(files));
    // The custom confs' shipped stanzas and keys are the ones their spec describes (slim
    // validate warns otherwise).
    for spec_name in &specs {
        let Some(conf_name) = spec_name.strip_suffix(".spec") else {
            continue;
        };
        let path = format!("default/{conf_name}");
        if !files.contains_key(&path) {
            continue;
        }
        let spec = Spec::parse(&text(&format!("README/{spec_name}")));
        let shipped = conf(&path, &mut problems);
        for (stanza, key) in spec.undescribed(&shipped) {
            problems.push(format!(
                "{path} [{stanza}] {key}: not described by README/{spec_name}"
            ));
        }
    }
    if problems.is_empty() {
        Ok(AppInfo { id, version })
    } else {
        Err(problems)
    }
}

/// What the driver binary is and needs at run time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinaryInfo {
    /// CPU architecture (`x86-64`, `aarch64`, or the ELF machine number).
    pub machine: String,
    /// Position-independent (ELF type DYN), as a default Rust build is.
    pub pie: bool,
    /// The dynamic loader it names; `None` for a statically linked binary.
    pub interpreter: Option<String>,
    /// Shared libraries it needs (DT_NEEDED), in file order.
    pub needed: Vec<String>,
    /// The newest glibc symbol version it needs, when dynamically linked against glibc.
    pub glibc: Option<String>,
}

impl BinaryInfo {
    /// One line for README.txt and the package command's output.
    pub fn summary(&self) -> String {
        let kind = if self.pie {
            "position-independent executable"
        } else {
            "executable"
        };
        match &self.interpreter {
            None => format!(
                "ELF {} {kind}, statically linked: needs no shared library (any {} Linux kernel 3.2 or later)",
                self.machine, self.machine
            ),
            Some(interp) => format!(
                "ELF {} {kind}, dynamically linked ({interp}); needs {}{}",
                self.machine,
                self.needed.join(", "),
                self.glibc
                    .as_deref()
                    .map(|g| format!("; glibc {g} or later"))
                    .unwrap_or_default()
            ),
        }
    }

    /// Problems that stop the binary from running under splunkd: a system OpenSSL (Splunk's
    /// own comes first on LD_LIBRARY_PATH).
    pub fn problems(&self) -> Vec<String> {
        self.needed
            .iter()
            .filter(|lib| FORBIDDEN_LIBRARIES.iter().any(|f| lib.starts_with(f)))
            .map(|lib| {
                format!(
                    "the driver needs {lib}: splunkd puts its own OpenSSL first on LD_LIBRARY_PATH; build with rustls only"
                )
            })
            .collect()
    }
}

/// Reads an ELF64 little-endian executable's header, program headers and dynamic section:
/// architecture, PIE, interpreter, needed libraries and the newest `GLIBC_x.y` version it
/// refers to.
pub fn describe_elf(bytes: &[u8]) -> Result<BinaryInfo, String> {
    let u16_at = |at: usize| -> Result<u64, String> {
        bytes
            .get(at..at + 2)
            .map(|b| u64::from(u16::from_le_bytes([b[0], b[1]])))
            .ok_or_else(|| "truncated ELF file".to_string())
    };
    let u32_at = |at: usize| -> Result<u64, String> {
        bytes
            .get(at..at + 4)
            .map(|b| u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])))
            .ok_or_else(|| "truncated ELF file".to_string())
    };
    let u64_at = |at: usize| -> Result<u64, String> {
        bytes
            .get(at..at + 8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
            .ok_or_else(|| "truncated ELF file".to_string())
    };
    let cstr_at = |at: u64| -> Option<String> {
        let at = usize::try_from(at).ok()?;
        let tail = bytes.get(at..)?;
        let end = tail.iter().position(|&b| b == 0)?;
        Some(String::from_utf8_lossy(&tail[..end]).into_owned())
    };
    if bytes.get(..4) != Some(b"\x7fELF") {
        return Err("not an ELF executable".into());
    }
    if bytes.get(4) != Some(&2) || bytes.get(5) != Some(&1) {
        return Err("not a 64-bit little-endian ELF file".into());
    }
    let e_type = u16_at(0x10)?;
    let machine = match u16_at(0x12)? {
        62 => "x86-64".to_string(),
        183 => "aarch64".to_string(),
        n => format!("machine {n}"),
    };
    let (phoff, phentsize, phnum) = (u64_at(0x20)?, u16_at(0x36)?, u16_at(0x38)?);
    let mut interpreter = None;
    let mut loads = Vec::new(); // (vaddr, offset, filesz)
    let mut dynamic = None; // (offset, size)
    for i in 0..phnum {
        let at = usize::try_from(phoff + i * phentsize).map_err(|e| e.to_string())?;
        let p_type = u32_at(at)?;
        let (offset, vaddr, filesz) = (u64_at(at + 8)?, u64_at(at + 16)?, u64_at(at + 32)?);
        match p_type {
            1 => loads.push((vaddr, offset, filesz)),
            2 => dynamic = Some((offset, filesz)),
            3 => interpreter = cstr_at(offset),
            _ => {}
        }
    }
    let mut needed = Vec::new();
    let mut glibc = None;
    if let (Some((off, size)), Some(_)) = (dynamic, &interpreter) {
        let mut needed_offsets = Vec::new();
        let mut strtab = None;
        let mut strsz = 0;
        let mut at = off;
        while at + 16 <= off + size {
            let (tag, val) = (
                u64_at(usize::try_from(at).map_err(|e| e.to_string())?)?,
                u64_at(usize::try_from(at + 8).map_err(|e| e.to_string())?)?,
            );
            match tag {
                0 => break,
                1 => needed_offsets.push(val),
                5 => strtab = Some(val),
                10 => strsz = val,
                _ => {}
            }
            at += 16;
        }
        // DT_STRTAB is an address; map it to a file offset through the loaded segments.
        let strtab_off = strtab.and_then(|addr| {
            loads
                .iter()
                .find(|(v, _, sz)| addr >= *v && addr < v + sz)
                .map(|(v, o, _)| addr - v + o)
        });
        if let Some(base) = strtab_off {
            needed = needed_offsets
                .into_iter()
                .filter_map(|o| cstr_at(base + o))
                .collect();
            // The version needs (GLIBC_2.34...) are names in the same string table.
            let table = usize::try_from(base)
                .ok()
                .zip(usize::try_from(base + strsz).ok())
                .and_then(|(a, b)| bytes.get(a..b));
            glibc = table.and_then(newest_glibc);
        }
    }
    Ok(BinaryInfo {
        machine,
        pie: e_type == 3,
        interpreter,
        needed,
        glibc,
    })
}

/// The newest `GLIBC_<x.y[.z]>` version named in `bytes` (a dynamic string table, which
/// holds the version needs of a dynamically linked binary).
fn newest_glibc(bytes: &[u8]) -> Option<String> {
    let needle = b"GLIBC_";
    let mut best: Option<Vec<u32>> = None;
    let mut i = 0;
    while i + needle.len() < bytes.len() {
        if &bytes[i..i + needle.len()] != needle {
            i += 1;
            continue;
        }
        let start = i + needle.len();
        let end = bytes[start..]
            .iter()
            .position(|b| !(b.is_ascii_digit() || *b == b'.'))
            .map_or(bytes.len(), |p| start + p);
        let text = std::str::from_utf8(&bytes[start..end]).unwrap_or("");
        let parts: Option<Vec<u32>> = text.split('.').map(|p| p.parse().ok()).collect();
        // Only NUL-terminated names (version strings), not text that mentions one.
        if let Some(parts) = parts.filter(|p| p.len() >= 2 && bytes.get(end) == Some(&0))
            && best.as_ref().is_none_or(|b| parts > *b)
        {
            best = Some(parts);
        }
        i = end.max(i + 1);
    }
    best.map(|p| p.iter().map(u32::to_string).collect::<Vec<_>>().join("."))
}

/// The block appended to README.txt in the package: version, source revision, what the
/// binary is and needs, and its SHA-256.
pub fn build_notes(
    info: &AppInfo,
    revision: Option<&str>,
    bin: &BinaryInfo,
    sha256: &str,
) -> String {
    let mut s = String::new();
    let _ = writeln!(s);
    let _ = writeln!(s, "Build");
    let _ = writeln!(s, "-----");
    let _ = writeln!(s, "App:      {} {}", info.id, info.version);
    let _ = writeln!(
        s,
        "Source:   the dsdl-handler Rust crate, version {}, revision {}",
        info.version,
        revision.unwrap_or("unknown")
    );
    let _ = writeln!(s, "Binary:   bin/{DRIVER}");
    let _ = writeln!(s, "          {}", bin.summary());
    let _ = writeln!(s, "SHA-256:  {sha256}");
    s
}

/// One archive member as listed back from a package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Path in the archive (`<app_id>/...`; directories end in `/`).
    pub path: String,
    /// Permission bits.
    pub mode: u32,
    /// Whether it is a directory.
    pub dir: bool,
}

/// Problems in a package's listing: every member under `<app_id>/` (no `./`, no absolute
/// path), no dot-files, no `local/` or `local.meta`, directories 755, files in `bin/` 755 and
/// every other file 644, only regular files and directories, and the required files present.
pub fn verify_listing(app_id: &str, members: &[Member]) -> Vec<String> {
    let mut problems = Vec::new();
    let top = format!("{app_id}/");
    let mut files = BTreeSet::new();
    for m in members {
        let Some(inner) = m
            .path
            .strip_prefix(&top)
            .or_else(|| (m.dir && m.path.trim_end_matches('/') == app_id).then_some(""))
        else {
            problems.push(format!("{}: outside the top directory {top}", m.path));
            continue;
        };
        let inner = inner.trim_end_matches('/');
        if inner.split('/').any(|p| p.starts_with('.')) {
            problems.push(format!("{}: dot-files are not allowed", m.path));
        }
        if inner.split('/').any(|p| p == "local") || inner.ends_with("local.meta") {
            problems.push(format!("{}: local/ and local.meta are not allowed", m.path));
        }
        let want = if m.dir { DIR_MODE } else { mode_for(inner) };
        if m.mode & 0o7777 != want {
            problems.push(format!(
                "{}: mode {:o}, expected {want:o}",
                m.path,
                m.mode & 0o7777
            ));
        }
        if !m.dir {
            files.insert(inner.to_string());
        }
    }
    for req in REQUIRED.iter().copied().chain([&*format!("bin/{DRIVER}")]) {
        if !files.contains(req) {
            problems.push(format!("{top}{req} is missing"));
        }
    }
    problems
}

/// Markdown tables of every key of the given specs (`(conf name, spec text)`), one table per
/// stanza, for README.md's configuration section (`package --config-tables` prints them).
pub fn config_tables(specs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    let cell = |s: &str| s.replace('|', "\\|");
    for (conf, text) in specs {
        let spec = Spec::parse(text);
        let mut groups: Vec<(String, &Vec<crate::confspec::SpecKey>)> = Vec::new();
        if !spec.global.is_empty() {
            groups.push(("every stanza".into(), &spec.global));
        }
        for st in &spec.stanzas {
            if !st.keys.is_empty() {
                groups.push((format!("[{}]", st.name), &st.keys));
            }
        }
        for (label, keys) in groups {
            let _ = writeln!(out, "`{conf}.conf`, {label}:\n");
            let _ = writeln!(out, "| key | value | meaning |");
            let _ = writeln!(out, "| --- | --- | --- |");
            for k in keys {
                let _ = writeln!(
                    out,
                    "| `{}` | `{}` | {} |",
                    k.name,
                    cell(&k.value),
                    cell(&k.doc.join(" "))
                );
            }
            let _ = writeln!(out);
        }
    }
    out
}

/// Where and how to build a package.
#[derive(Debug, Clone)]
pub struct Options {
    /// The source tree (the app's files: `default/`, `README/`, ...; and Cargo.toml).
    pub source: PathBuf,
    /// The driver binary to ship as `bin/dsdl-handler`.
    pub driver: PathBuf,
    /// Directory the archive is written to.
    pub out_dir: PathBuf,
    /// Source revision recorded in README.txt (e.g. a git commit).
    pub revision: Option<String>,
    /// Modification time of every member (seconds since the epoch).
    pub mtime: u64,
    /// gzip level, 0 (store only: fast, for tests with a debug driver) to 9 (the default).
    pub compression: u32,
}

/// A written package.
#[derive(Debug, Clone)]
pub struct Built {
    /// The archive.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// The app id and version.
    pub app: AppInfo,
    /// The members, as listed back from the archive.
    pub members: Vec<Member>,
    /// What the shipped driver is.
    pub binary: BinaryInfo,
    /// Files of the app roots left out, with the reason.
    pub excluded: Vec<(String, &'static str)>,
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// Files under the app roots of `source` (path relative to `source` -> whether a link).
fn walk(source: &Path) -> Result<Vec<(String, bool)>, String> {
    fn visit(root: &Path, rel: &str, out: &mut Vec<(String, bool)>) -> Result<(), String> {
        let path = root.join(rel);
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        if meta.is_dir() {
            let mut names: Vec<String> = std::fs::read_dir(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect();
            names.sort();
            for n in names {
                visit(root, &format!("{rel}/{n}"), out)?;
            }
        } else {
            out.push((rel.to_string(), meta.file_type().is_symlink()));
        }
        Ok(())
    }
    let mut out = Vec::new();
    for r in APP_ROOTS {
        visit(source, r, &mut out)?;
    }
    Ok(out)
}

/// Lists an archive's members (path, mode, directory or not).
pub fn list_tar_gz(path: &Path) -> Result<Vec<Member>, String> {
    let file =
        std::fs::File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut members = Vec::new();
    for entry in archive
        .entries()
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
    {
        let mut entry = entry.map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let header = entry.header();
        let kind = header.entry_type();
        if !(kind.is_file() || kind.is_dir()) {
            return Err(format!(
                "{}: member {:?} is neither a file nor a directory",
                path.display(),
                String::from_utf8_lossy(&entry.path_bytes())
            ));
        }
        members.push(Member {
            path: String::from_utf8_lossy(&entry.path_bytes()).into_owned(),
            mode: header.mode().map_err(|e| e.to_string())?,
            dir: kind.is_dir(),
        });
        // Drain the data so the next header is read from the right place.
        std::io::copy(&mut entry, &mut std::io::sink()).map_err(|e| e.to_string())?;
    }
    Ok(members)
}

/// Writes `files` (path inside the app -> bytes) as `<app_id>/...` with their directories
/// into a gzip'd ustar archive at `out` (through a temporary file, renamed when complete).
pub fn write_tar_gz(
    out: &Path,
    app_id: &str,
    files: &BTreeMap<String, Vec<u8>>,
    mtime: u64,
    compression: u32,
) -> Result<(), String> {
    let tmp = out.with_extension(format!("tmp{}", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let file = std::fs::File::create(&tmp)?;
        let gz = flate2::write::GzEncoder::new(file, flate2::Compression::new(compression.min(9)));
        let mut tar = tar::Builder::new(gz);
        let header = |kind: tar::EntryType, mode: u32, size: u64| {
            let mut h = tar::Header::new_ustar();
            h.set_entry_type(kind);
            h.set_mode(mode);
            h.set_size(size);
            h.set_mtime(mtime);
            h.set_uid(0);
            h.set_gid(0);
            h
        };
        let mut dirs = vec![String::new()];
        dirs.extend(directories_of(files.keys().map(String::as_str)));
        for d in dirs {
            let path = if d.is_empty() {
                format!("{app_id}/")
            } else {
                format!("{app_id}/{d}/")
            };
            let mut h = header(tar::EntryType::Directory, DIR_MODE, 0);
            tar.append_data(&mut h, path, std::io::empty())?;
        }
        for (path, data) in files {
            let mut h = header(tar::EntryType::Regular, mode_for(path), data.len() as u64);
            tar.append_data(&mut h, format!("{app_id}/{path}"), data.as_slice())?;
        }
        let mut gz = tar.into_inner()?;
        gz.flush()?;
        gz.finish()?.sync_all()
    })();
    match result {
        Ok(()) => {
            std::fs::rename(&tmp, out).map_err(|e| format!("cannot write {}: {e}", out.display()))
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(format!("cannot write {}: {e}", out.display()))
        }
    }
}

/// Builds the package: reads the app's files from `o.source` (leaving out what
/// [`exclusion`] names), adds the driver as `bin/dsdl-handler` and build notes to README.txt,
/// runs [`check_app`] and the driver's checks, writes `<out_dir>/<app_id>-<version>.tar.gz`
/// and verifies the listing read back from it.
pub fn build_package(o: &Options) -> Result<Built, Vec<String>> {
    let one = |e: String| vec![e];
    let mut files = BTreeMap::new();
    let mut excluded = Vec::new();
    for (rel, link) in walk(&o.source).map_err(one)? {
        match exclusion(&rel, link) {
            Some(why) => excluded.push((rel, why)),
            None => {
                let bytes = read(&o.source.join(&rel)).map_err(one)?;
                files.insert(rel, bytes);
            }
        }
    }
    let driver = read(&o.driver).map_err(one)?;
    let binary =
        describe_elf(&driver).map_err(|e| vec![format!("driver {}: {e}", o.driver.display())])?;
    files.insert(format!("bin/{DRIVER}"), driver.clone());
    let cargo_toml =
        String::from_utf8_lossy(&read(&o.source.join("Cargo.toml")).map_err(one)?).into_owned();
    let app = check_app(&files, &cargo_toml)?;
    let problems = binary.problems();
    if !problems.is_empty() {
        return Err(problems);
    }
    use sha2::Digest;
    let sha = sha2::Sha256::digest(&driver)
        .iter()
        .fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        });
    if let Some(readme) = files.get_mut("README.txt") {
        readme
            .extend_from_slice(build_notes(&app, o.revision.as_deref(), &binary, &sha).as_bytes());
    }
    std::fs::create_dir_all(&o.out_dir)
        .map_err(|e| vec![format!("cannot create {}: {e}", o.out_dir.display())])?;
    let path = o.out_dir.join(format!("{}-{}.tar.gz", app.id, app.version));
    write_tar_gz(&path, &app.id, &files, o.mtime, o.compression).map_err(one)?;
    let members = list_tar_gz(&path).map_err(one)?;
    let problems = verify_listing(&app.id, &members);
    if !problems.is_empty() {
        return Err(problems);
    }
    let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    Ok(Built {
        path,
        bytes,
        app,
        members,
        binary,
        excluded,
    })
}

/// The specs the app ships, embedded for `package --config-tables` and README checks.
pub const SPECS: &[(&str, &str)] = &[
    (
        "container_connections",
        include_str!("../README/container_connections.conf.spec"),
    ),
    (
        "docker_images",
        include_str!("../README/docker_images.conf.spec"),
    ),
    (
        "dsdl_container",
        include_str!("../README/dsdl_container.conf.spec"),
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(text: &str) -> ConfFile {
        ConfFile::parse(text).unwrap()
    }

    const APP_CONF: &str = "[package]\nid = my_app\ncheck_for_updates = false\n[id]\nname = my_app\nversion = 1.2.3\n\
        [install]\nbuild = 3\n[launcher]\nversion = 1.2.3\nauthor = a\ndescription = d\n[ui]\nlabel = My App Label\n\
        [triggers]\nreload.things = simple\n";
    const CARGO: &str =
        "[package]\nname = \"x\"\nversion = \"1.2.3\"\n\n[dependencies]\nversion = \"9\"\n";

    fn manifest(version: &str) -> serde_json::Value {
        serde_json::json!({"schemaVersion": "2.0.0", "info": {"id": {"name": "my_app", "version": version}},
            "supportedDeployments": ["_standalone", "_distributed", "_search_head_clustering"]})
    }

    #[test]
    fn versions_must_agree_everywhere() {
        assert_eq!(
            check_versions(CARGO, &conf(APP_CONF), &manifest("1.2.3")),
            Ok("1.2.3".to_string())
        );
        let err = check_versions(CARGO, &conf(APP_CONF), &manifest("1.2.4")).unwrap_err();
        assert!(
            err.contains("app.manifest info.id.version = 1.2.4"),
            "{err}"
        );
        assert!(
            err.contains("Cargo.toml [package] version = 1.2.3"),
            "{err}"
        );
        let launcher =
            APP_CONF.replace("[launcher]\nversion = 1.2.3", "[launcher]\nversion = 2.0.0");
        let err = check_versions(CARGO, &conf(&launcher), &manifest("1.2.3")).unwrap_err();
        assert!(err.contains("[launcher] version = 2.0.0"), "{err}");
        let cargo = CARGO.replace("\"1.2.3\"", "\"1.3.0\"");
        let err = check_versions(&cargo, &conf(APP_CONF), &manifest("1.2.3")).unwrap_err();
        assert!(
            err.contains("Cargo.toml [package] version = 1.3.0"),
            "{err}"
        );
        let no_id = APP_CONF.replace("version = 1.2.3\n\n[install]", "\n[install]");
        let no_id = no_id.replace(
            "[id]\nname = my_app\nversion = 1.2.3\n",
            "[id]\nname = my_app\n",
        );
        let err = check_versions(CARGO, &conf(&no_id), &manifest("1.2.3")).unwrap_err();
        assert!(err.contains("[id] version = (missing)"), "{err}");
        let v = |s: &str| {
            let c = CARGO.replace("1.2.3", s);
            let a = APP_CONF.replace("1.2.3", s);
            check_versions(&c, &conf(&a), &manifest(s))
        };
        assert!(v("1.2").unwrap_err().contains("SemVer"));
        assert_eq!(v("1.0.0-rc.1+b7"), Ok("1.0.0-rc.1+b7".into()));
    }

    #[test]
    fn the_real_versions_agree() {
        let app_conf = conf(include_str!("../default/app.conf"));
        let manifest: serde_json::Value =
            serde_json::from_str(include_str!("../app.manifest")).unwrap();
        assert_eq!(
            check_versions(include_str!("../Cargo.toml"), &app_conf, &manifest),
            Ok(env!("CARGO_PKG_VERSION").to_string())
        );
    }

    #[test]
    fn cargo_version_is_the_package_tables() {
        assert_eq!(cargo_package_version(CARGO).as_deref(), Some("1.2.3"));
        assert_eq!(
            cargo_package_version("[dependencies]\nversion = \"1\"\n"),
            None
        );
    }

    #[test]
    fn semver() {
        for ok in [
            "0.1.0",
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0+20130313144700",
            "10.20.30",
        ] {
            assert!(is_semver(ok), "{ok}");
        }
        for bad in [
            "1", "1.0", "01.0.0", "1.0.0-", "1.0.0-01", "1.0.0+", "v1.0.0", "1.0.0.0", "1.0.x",
        ] {
            assert!(!is_semver(bad), "{bad}");
        }
    }

    #[test]
    fn app_ids() {
        for ok in ["dsdl_handler", "my-app", "A.b_c"] {
            assert!(is_valid_app_id(ok), "{ok}");
        }
        for bad in ["", "1app", "app.", "a b", "a/b", "CON", "lpt1", "app.tgz"] {
            assert!(!is_valid_app_id(bad), "{bad}");
        }
    }

    #[test]
    fn app_conf_rules() {
        assert_eq!(check_app_conf(&conf(APP_CONF)), Ok("my_app".into()));
        let bad = "[package]\nid = 1x\ncheck_for_updates = true\n[id]\nname = other\n[install]\nbuild = 0\n\
            install_source_checksum = abc\nis_configured = true\n[ui]\nlabel = Splunk For X\n[triggers]\nreload.a = sometimes\n";
        let p = check_app_conf(&conf(bad)).unwrap_err();
        let all = p.join("\n");
        for want in [
            "[package] id \"1x\"",
            "[id] name \"other\"",
            "check_for_updates",
            "[install] build",
            "install_source_checksum",
            "is_configured",
            "[ui] label",
            "[launcher] author",
            "reload.a",
        ] {
            assert!(all.contains(want), "{want} in\n{all}");
        }
    }

    #[test]
    fn restmap_script_and_driver() {
        let good = conf(
            "[script:a]\nmatch = /a\nscripttype = persist\nscript = dsdl-handler\n\
             driver = $SPLUNK_HOME/etc/apps/my_app/bin/dsdl-handler\n",
        );
        assert!(check_restmap(&good, "my_app", &["dsdl-handler"]).is_empty());
        let p = check_restmap(&good, "my_app", &[]);
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(
            p[0].contains("bin/dsdl-handler is not in the package"),
            "{p:?}"
        );
        let p = check_restmap(&good, "other_app", &["dsdl-handler"]);
        assert!(
            p[0].contains("$SPLUNK_HOME/etc/apps/other_app/bin/"),
            "{p:?}"
        );
        let bad = conf(
            "[global]\nx = 1\n[script:b]\nscripttype = persist\nscript = linux_x86_64/bin/x\n\
             driver = /opt/splunk/etc/apps/my_app/bin/x\n[script:c]\nscripttype = persist\nscript = x\n",
        );
        let p = check_restmap(&bad, "my_app", &["x"]).join("\n");
        for want in [
            "[global]",
            "script = linux_x86_64/bin/x",
            "driver = /opt/splunk",
            "[script:c] is persist without a driver",
        ] {
            assert!(p.contains(want), "{want} in\n{p}");
        }
        assert!(!check_restmap(&conf("[x]\n"), "a", &[]).is_empty());
    }

    #[test]
    fn custom_confs_need_spec_trigger_and_replication() {
        let custom = custom_confs([
            "app.conf",
            "restmap.conf",
            "things.conf",
            "web.conf",
            "other.conf",
        ]);
        assert_eq!(custom, ["things", "other"]);
        let server = conf("[shclustering]\nconf_replication_include.things = true\n");
        let p = check_custom_confs(&custom, &["things.conf.spec"], &conf(APP_CONF), &server);
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(p.iter().all(|l| l.contains("other")), "{p:?}");
        let server = conf(
            "[general]\nserverName = x\n[shclustering]\nconf_replication_include.things = true\nfoo = 1\n",
        );
        let p = check_custom_confs(
            &custom[..1],
            &["things.conf.spec"],
            &conf(APP_CONF),
            &server,
        )
        .join("\n");
        assert!(p.contains("[general]") && p.contains("foo"), "{p}");
    }

    #[test]
    fn metadata_and_web_conf() {
        let ok = conf("[]\naccess = read : [ * ], write : [ admin, sc_admin ]\nexport = none\n");
        assert!(
            check_default_meta(&ok).is_empty(),
            "{:?}",
            check_default_meta(&ok)
        );
        let star = conf("[]\naccess = read : [ * ], write : [ * ]\n");
        assert_eq!(check_default_meta(&star).len(), 1);
        let no_read = conf("[]\naccess = read : [ admin ], write : [ admin ]\n");
        assert_eq!(check_default_meta(&no_read).len(), 1);
        assert_eq!(
            check_default_meta(&conf("[views]\nexport = system\n")).len(),
            1
        );
        assert!(check_web_conf(&conf("[expose:a]\npattern = a/**\nmethods = GET\n")).is_empty());
        let bad = check_web_conf(&conf(
            "[settings]\nx = 1\n[expose:a]\npattern = a\nfoo = b\n",
        ));
        assert_eq!(bad.len(), 2, "{bad:?}");
    }

    #[test]
    fn the_real_app_files_pass_every_check() {
        // The same checks the package command runs, over the working tree's files.
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = BTreeMap::new();
        for (rel, link) in walk(root).unwrap() {
            if exclusion(&rel, link).is_none() {
                files.insert(rel.clone(), std::fs::read(root.join(&rel)).unwrap());
            }
        }
        files.insert(format!("bin/{DRIVER}"), b"\x7fELF".to_vec());
        let cargo = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
        let info = check_app(&files, &cargo).unwrap_or_else(|p| panic!("{}", p.join("\n")));
        assert_eq!(info.id, "dsdl_handler");
        assert!(
            !files.contains_key("restmap.conf"),
            "only default/restmap.conf ships"
        );
    }

    #[test]
    fn which_files_ship() {
        for ok in [
            "app.manifest",
            "README.txt",
            "README.md",
            "default/app.conf",
            "README/x.conf.spec",
            "metadata/default.meta",
            "static/appIcon.png",
        ] {
            assert_eq!(exclusion(ok, false), None, "{ok}");
        }
        for (bad, why) in [
            ("default/.app.conf.swp", "dot-files"),
            (".git/config", "dot-files"),
            ("default/.hidden/app.conf", "dot-files"),
            ("local/app.conf", "local/"),
            ("default/local/app.conf", "local/"),
            ("metadata/local.meta", "local/"),
            ("default/app.conf~", "leftover"),
            ("default/app.conf.orig", "leftover"),
            ("default/passwords.conf", "secrets"),
            ("default/notes.txt", "only .conf"),
            ("default/data/ui/views/x.xml", "only .conf"),
            ("README/notes.md", "only .conf.spec"),
            ("metadata/other.meta", "only default.meta"),
            ("static/logo.svg", "only .png"),
            ("bin/dsdl-handler", "bin/ is filled from the build"),
            ("restmap.conf", "not part of the app"),
            ("Cargo.toml", "not part of the app"),
        ] {
            let got = exclusion(bad, false).unwrap_or_else(|| panic!("{bad} must not ship"));
            assert!(got.contains(why), "{bad}: {got}");
        }
        assert!(
            exclusion("default/restmap.conf", true)
                .unwrap()
                .contains("links")
        );
    }

    #[test]
    fn modes_and_directories() {
        assert_eq!(mode_for("bin/dsdl-handler"), 0o755);
        assert_eq!(mode_for("default/app.conf"), 0o644);
        assert_eq!(mode_for("binary.txt"), 0o644);
        assert_eq!(
            directories_of(["a/b/c.txt", "a/d.txt", "e.txt", "f/g"]),
            ["a", "a/b", "f"]
        );
    }

    fn member(path: &str, mode: u32, dir: bool) -> Member {
        Member {
            path: path.into(),
            mode,
            dir,
        }
    }

    #[test]
    fn listing_rules() {
        let mut good = vec![member("my_app/", 0o755, true)];
        for f in REQUIRED.iter().copied().chain(["bin/dsdl-handler"]) {
            let mode = mode_for(f);
            good.push(member(&format!("my_app/{f}"), mode, false));
        }
        assert!(
            verify_listing("my_app", &good).is_empty(),
            "{:?}",
            verify_listing("my_app", &good)
        );
        let mut bad = good.clone();
        bad.push(member("./my_app/x", 0o644, false));
        bad.push(member("my_app/.DS_Store", 0o644, false));
        bad.push(member("my_app/local/app.conf", 0o644, false));
        bad.push(member("my_app/default/x.conf", 0o755, false));
        bad.push(member("my_app/default/", 0o700, true));
        bad.retain(|m| m.path != "my_app/bin/dsdl-handler");
        let p = verify_listing("my_app", &bad).join("\n");
        for want in [
            "./my_app/x: outside",
            ".DS_Store: dot-files",
            "local/app.conf: local/",
            "x.conf: mode 755",
            "default/: mode 700",
            "bin/dsdl-handler is missing",
        ] {
            assert!(p.contains(want), "{want} in\n{p}");
        }
    }

    #[test]
    fn png_sizes() {
        let icon = include_bytes!("../static/appIcon.png");
        assert_eq!(png_size(icon), Some((36, 36)));
        assert_eq!(
            png_size(include_bytes!("../static/appIcon_2x.png")),
            Some((72, 72))
        );
        assert_eq!(png_size(b"GIF89a"), None);
        let mut files = BTreeMap::new();
        files.insert(
            "static/appIcon.png".to_string(),
            include_bytes!("../static/appIcon_2x.png").to_vec(),
        );
        files.insert("static/appIconAlt.png".to_string(), b"nope".to_vec());
        let p = check_icons(&files);
        assert_eq!(p.len(), 2, "{p:?}");
    }

    /// A minimal ELF64 with an interpreter, a load segment and a dynamic section needing two
    /// libraries.
    fn tiny_elf(interp: bool, libs: &[&str], e_type: u16) -> Vec<u8> {
        let mut strtab = vec![0u8];
        let mut offsets = Vec::new();
        for l in libs {
            offsets.push(strtab.len() as u64);
            strtab.extend_from_slice(l.as_bytes());
            strtab.push(0);
        }
        strtab.extend_from_slice(b"GLIBC_2.2.5\0GLIBC_2.34\0GLIBC_2.17\0");
        let interp_s = b"/lib64/ld-linux-x86-64.so.2\0";
        let phoff = 64u64;
        let nph = 3u64;
        let interp_off = phoff + nph * 56;
        let str_off = interp_off + interp_s.len() as u64;
        let dyn_off = str_off + strtab.len() as u64;
        let mut dynamic = Vec::new();
        for o in &offsets {
            dynamic.extend_from_slice(&1u64.to_le_bytes());
            dynamic.extend_from_slice(&o.to_le_bytes());
        }
        // DT_STRTAB as an address: the load segment maps file offset 0 at 0x400000.
        dynamic.extend_from_slice(&5u64.to_le_bytes());
        dynamic.extend_from_slice(&(0x400000 + str_off).to_le_bytes());
        dynamic.extend_from_slice(&10u64.to_le_bytes());
        dynamic.extend_from_slice(&(strtab.len() as u64).to_le_bytes());
        dynamic.extend_from_slice(&[0u8; 16]);
        let total = dyn_off + dynamic.len() as u64;
        let mut b = vec![0u8; 64];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = 2;
        b[5] = 1;
        b[0x10..0x12].copy_from_slice(&e_type.to_le_bytes());
        b[0x12..0x14].copy_from_slice(&62u16.to_le_bytes());
        b[0x20..0x28].copy_from_slice(&phoff.to_le_bytes());
        b[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        b[0x38..0x3a].copy_from_slice(&(nph as u16).to_le_bytes());
        let ph = |t: u32, off: u64, vaddr: u64, size: u64| {
            let mut p = vec![0u8; 56];
            p[..4].copy_from_slice(&t.to_le_bytes());
            p[8..16].copy_from_slice(&off.to_le_bytes());
            p[16..24].copy_from_slice(&vaddr.to_le_bytes());
            p[32..40].copy_from_slice(&size.to_le_bytes());
            p
        };
        b.extend(ph(1, 0, 0x400000, total));
        b.extend(if interp {
            ph(3, interp_off, 0, interp_s.len() as u64)
        } else {
            ph(0, 0, 0, 0)
        });
        b.extend(if interp {
            ph(2, dyn_off, 0, dynamic.len() as u64)
        } else {
            ph(0, 0, 0, 0)
        });
        b.extend_from_slice(interp_s);
        b.extend_from_slice(&strtab);
        b.extend_from_slice(&dynamic);
        b
    }

    #[test]
    fn elf_descriptions() {
        let d = describe_elf(&tiny_elf(true, &["libgcc_s.so.1", "libc.so.6"], 3)).unwrap();
        assert_eq!(d.machine, "x86-64");
        assert!(d.pie);
        assert_eq!(
            d.interpreter.as_deref(),
            Some("/lib64/ld-linux-x86-64.so.2")
        );
        assert_eq!(d.needed, ["libgcc_s.so.1", "libc.so.6"]);
        assert_eq!(d.glibc.as_deref(), Some("2.34"));
        assert!(d.problems().is_empty());
        assert!(
            d.summary().contains("glibc 2.34 or later"),
            "{}",
            d.summary()
        );
        let s = describe_elf(&tiny_elf(false, &[], 3)).unwrap();
        assert_eq!((s.interpreter.clone(), s.glibc.clone()), (None, None));
        assert!(s.summary().contains("statically linked"), "{}", s.summary());
        let ssl = describe_elf(&tiny_elf(true, &["libssl.so.3", "libc.so.6"], 2)).unwrap();
        assert!(!ssl.pie);
        assert_eq!(ssl.problems().len(), 1);
        assert!(describe_elf(b"#!/bin/sh\n").is_err());
        assert!(describe_elf(b"\x7fELF\x02\x01").is_err());
    }

    #[test]
    fn the_running_test_binary_is_described() {
        // This test binary is built like the driver: the description must not fail on it.
        let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let d = describe_elf(&exe).unwrap();
        assert!(d.problems().is_empty(), "{:?}", d.needed);
        if d.interpreter.is_some() {
            assert!(
                d.needed.iter().any(|l| l.starts_with("libc.so")),
                "{:?}",
                d.needed
            );
        }
    }

    #[test]
    fn archive_round_trip() {
        let dir = std::env::temp_dir().join(format!("dsdl-package-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut files = BTreeMap::new();
        files.insert("bin/dsdl-handler".to_string(), b"\x7fELF".to_vec());
        files.insert("default/app.conf".to_string(), b"[package]\n".to_vec());
        let out = dir.join("a.tar.gz");
        write_tar_gz(&out, "my_app", &files, 1_700_000_000, 9).unwrap();
        let m = list_tar_gz(&out).unwrap();
        let got: Vec<(&str, u32, bool)> =
            m.iter().map(|m| (m.path.as_str(), m.mode, m.dir)).collect();
        assert_eq!(
            got,
            [
                ("my_app/", 0o755, true),
                ("my_app/bin/", 0o755, true),
                ("my_app/default/", 0o755, true),
                ("my_app/bin/dsdl-handler", 0o755, false),
                ("my_app/default/app.conf", 0o644, false),
            ]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn config_tables_list_every_key() {
        let t = config_tables(&[(
            "x",
            "g = <string>\n* Global.\n[a]\nk = [p|q]\n* One\n* two.\n",
        )]);
        assert!(t.contains("`x.conf`, every stanza:"), "{t}");
        assert!(t.contains("| `g` | `<string>` | Global. |"), "{t}");
        assert!(t.contains("`x.conf`, [a]:"), "{t}");
        assert!(t.contains("| `k` | `[p\\|q]` | One two. |"), "{t}");
    }

    /// README.md's configuration section names every key of the shipped specs; regenerate
    /// the tables with `cargo run --bin package -- --config-tables`.
    #[test]
    fn readme_documents_every_spec_key() {
        let readme = include_str!("../README.md");
        let start = readme
            .find("\n## Configuration")
            .expect("README.md has a \"## Configuration\" section");
        let rest = &readme[start + 1..];
        let section = &rest[..rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3)];
        let mut missing = Vec::new();
        for (conf, text) in SPECS {
            let spec = Spec::parse(text);
            let keys = spec
                .global
                .iter()
                .chain(spec.stanzas.iter().flat_map(|s| &s.keys));
            for k in keys {
                if !section.contains(&format!("| `{}` |", k.name)) {
                    missing.push(format!("{conf}.conf {}", k.name));
                }
            }
        }
        assert!(
            missing.is_empty(),
            "README.md's Configuration section misses these keys of README/*.conf.spec (regenerate with `cargo run --bin package -- --config-tables`): {missing:?}"
        );
    }
}
