//! `cargo run --release --bin package`: builds the release driver and writes the installable
//! Splunk app, `dist/<app_id>-<version>.tar.gz`. The rules and checks are in
//! `dsdl_handler::package`; this is the command line around them.

use dsdl_handler::package::{self, Options};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

const USAGE: &str = "\
usage: package [--driver PATH | --static] [--out-dir DIR] [--source DIR]
       package --config-tables

Builds the release driver (cargo build --release --bin dsdl-handler), checks the app
(one version in Cargo.toml, app.conf and app.manifest; restmap script/driver; reload
triggers and replication of every custom conf; metadata; icons) and writes
<out-dir>/<app_id>-<version>.tar.gz holding only the app under <app_id>/.

  --driver PATH     ship this driver binary instead of building one
  --static          build the driver statically linked (glibc static-pie, for
                    --target <host>): it then runs on any x86-64 Linux, whatever its glibc
  --out-dir DIR     where the archive goes (default: dist/ of the source tree)
  --source DIR      the source tree (default: this crate's directory)
  --compression N   gzip level 0-9 (default 9; 0 stores only, for quick test packages)
  --config-tables   print the Markdown tables of every key of README/*.conf.spec
                    (README.md's Configuration section) and exit
";

struct Args {
    driver: Option<PathBuf>,
    static_link: bool,
    out_dir: Option<PathBuf>,
    source: PathBuf,
    config_tables: bool,
    compression: u32,
}

fn parse(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut a = Args {
        driver: None,
        static_link: false,
        out_dir: None,
        source: PathBuf::from(env!("CARGO_MANIFEST_DIR")),
        config_tables: false,
        compression: 9,
    };
    while let Some(flag) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match flag.as_str() {
            "--driver" => a.driver = Some(value("--driver")?.into()),
            "--static" => a.static_link = true,
            "--out-dir" => a.out_dir = Some(value("--out-dir")?.into()),
            "--source" => a.source = value("--source")?.into(),
            "--config-tables" => a.config_tables = true,
            "--compression" => {
                a.compression = value("--compression")?
                    .parse()
                    .ok()
                    .filter(|n| *n <= 9)
                    .ok_or("--compression needs a level from 0 to 9")?
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if a.static_link && a.driver.is_some() {
        return Err("--static builds the driver; it cannot be used with --driver".into());
    }
    Ok(a)
}

/// The host's target triple, from `rustc -vV`.
fn host_triple() -> Result<String, String> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(&rustc)
        .arg("-vV")
        .output()
        .map_err(|e| format!("cannot run {rustc} -vV: {e}"))?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .ok_or_else(|| format!("{rustc} -vV printed no host line"))
}

/// Runs `cargo build --release --bin dsdl-handler` (statically linked with `static_link`) in
/// `source` and returns the executable cargo reports.
fn build_driver(source: &Path, static_link: bool) -> Result<PathBuf, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(&cargo);
    // `cargo run` sets the package's CARGO_PKG_*, CARGO_MANIFEST_DIR... for this process;
    // build scripts that watch those (ring does) would rebuild for this build and again for
    // the next one from a shell. Build with the caller's environment instead.
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        if key.starts_with("CARGO_PKG_")
            || key.starts_with("CARGO_MANIFEST_")
            || matches!(
                key,
                "CARGO_CRATE_NAME"
                    | "CARGO_BIN_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
                    | "CARGO_RUSTC_CURRENT_DIR"
                    | "OUT_DIR"
            )
        {
            cmd.env_remove(key);
        }
    }
    cmd.current_dir(source).args([
        "build",
        "--release",
        "--bin",
        package::DRIVER,
        "--message-format=json-render-diagnostics",
    ]);
    if static_link {
        // With an explicit --target, RUSTFLAGS reach only the target's crates (not build
        // scripts), and the artifacts go to target/<triple>/, beside the usual build.
        let host = host_triple()?;
        let mut flags = std::env::var("RUSTFLAGS").unwrap_or_default();
        flags.push_str(" -C target-feature=+crt-static");
        cmd.args(["--target", &host]).env("RUSTFLAGS", flags.trim());
    }
    eprintln!(
        "package: building the driver: cargo build --release --bin {}{}",
        package::DRIVER,
        if static_link {
            " (statically linked)"
        } else {
            ""
        }
    );
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot run {cargo}: {e}"))?;
    let mut exe = None;
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let Ok(msg) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if msg["reason"] == "compiler-artifact"
                && msg["target"]["name"] == package::DRIVER
                && let Some(path) = msg["executable"].as_str()
            {
                exe = Some(PathBuf::from(path));
            }
        }
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!("cargo build of the driver failed ({status})"));
    }
    exe.ok_or_else(|| "cargo reported no dsdl-handler executable".to_string())
}

fn git(source: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(source)
        .args(args)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The source revision: the git commit, marked when the app or the code differs from it.
fn revision(source: &Path) -> Option<String> {
    let commit = git(source, &["rev-parse", "--short=12", "HEAD"])?;
    let mut paths = vec![
        "status",
        "--porcelain",
        "--",
        "src",
        "Cargo.toml",
        "Cargo.lock",
    ];
    paths.extend(package::APP_ROOTS);
    let dirty = git(source, &paths).is_some_and(|s| !s.is_empty());
    Some(if dirty {
        format!("git {commit} with local changes")
    } else {
        format!("git {commit}")
    })
}

/// Member modification time: SOURCE_DATE_EPOCH, else the commit's time, else now.
fn mtime(source: &Path) -> u64 {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .or_else(|| git(source, &["log", "-1", "--format=%ct"])?.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        })
}

fn run(a: Args) -> Result<(), Vec<String>> {
    if a.config_tables {
        print!("{}", package::config_tables(package::SPECS));
        return Ok(());
    }
    let driver = match a.driver {
        Some(d) => d,
        None => build_driver(&a.source, a.static_link).map_err(|e| vec![e])?,
    };
    let opts = Options {
        out_dir: a.out_dir.unwrap_or_else(|| a.source.join("dist")),
        revision: revision(&a.source),
        mtime: mtime(&a.source),
        compression: a.compression,
        source: a.source,
        driver,
    };
    let built = package::build_package(&opts)?;
    for (path, why) in &built.excluded {
        eprintln!("package: left out {path}: {why}");
    }
    eprintln!(
        "package: {} {}, driver {}",
        built.app.id,
        built.app.version,
        opts.driver.display()
    );
    eprintln!(
        "package: bin/{}: {}",
        package::DRIVER,
        built.binary.summary()
    );
    let files = built.members.iter().filter(|m| !m.dir).count();
    println!(
        "package: wrote {} ({} bytes, {files} files)",
        built.path.display(),
        built.bytes
    );
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) if e.is_empty() => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("package: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(problems) => {
            eprintln!("package: the app cannot be packaged:");
            for p in problems {
                eprintln!("  - {p}");
            }
            ExitCode::FAILURE
        }
    }
}
