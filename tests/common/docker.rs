//! The Docker engine in integration tests: test images built locally (no registry), labelled
//! test containers and their cleanup, and fronts for the engine (TLS with a test CA, plain TCP
//! with a connection budget).
//!
//! - **Engine**: `/usr/bin/docker` against `/var/run/docker.sock` (`scripts/start-docker.sh`
//!   starts it). Call [`require_docker`] first in every test: it panics with a clear message when
//!   the engine does not answer, unless `DSDL_SKIP_DOCKER_TESTS=1`, when it returns `false` and the
//!   test returns early. Tests never skip silently.
//! - **Images**: `src/bin/dsdl-test-container.rs` (the DSDL container contract on port 5000)
//!   packaged into a root filesystem tar (the binary, the shared libraries `ldd` lists, busybox)
//!   and `docker import`ed as `dsdl-test/<variant>:<content>`, where `<content>` is a hash of the
//!   test container's source, Cargo.lock, the recipe and the variant's environment: a changed
//!   test container gives new images, an unchanged one reuses them (also when the rest of the
//!   package changes). Builds are serialised by a lock file and go through a unique tag,
//!   so test binaries running at the same time never see a half-built image. In a
//!   `docker_images.conf` stanza: `repo = dsdl-test/`, `image = contract:<content>` (see
//!   [`catalog_entry`]).
//! - **Cleanup**: everything a test creates carries `dsdl-handler.test=<unique value>` (or the
//!   handler's `com.splunk.mltk/manager-id=<unique value>`); [`LabelGuard`] removes containers,
//!   volumes and networks with either label when dropped, even after a failed assertion.
//!   Nothing else is ever removed or pruned.
//! - **Fronts**: [`TlsDockerProxy`] and [`TcpDockerProxy`] forward byte for byte to the socket
//!   from a background thread with its own tokio runtime, so sync tests can use them.

use sha2::{Digest, Sha256};
use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;

/// The label every test object carries, with a value unique to the test.
pub const TEST_LABEL: &str = "dsdl-handler.test";
/// The handler's manager-id label; tests set the manager id to their unique value.
pub const MANAGER_ID_LABEL: &str = "com.splunk.mltk/manager-id";
/// The Docker client used by the helpers (the engine's own version; a newer client may not
/// talk to API 1.41).
pub const DOCKER_CLI: &str = "/usr/bin/docker";
/// The engine's socket, which the fronts forward to.
pub const DOCKER_SOCKET: &str = "/var/run/docker.sock";
/// The repository prefix of every test image (`repo` in `docker_images.conf`).
pub const IMAGE_REPO: &str = "dsdl-test/";
/// Image label holding the content id (the tag's full form).
pub const IMAGE_CONTENT_LABEL: &str = "dsdl-test.content";
/// Image label holding the variant name.
pub const IMAGE_VARIANT_LABEL: &str = "dsdl-test.variant";
/// Bump when the root filesystem or the import changes, so images are rebuilt.
const RECIPE: &str = "dsdl-test-image recipe 1";
/// busybox applets linked in the images.
const APPLETS: &[&str] = &["sh", "ls", "cat", "sleep", "echo", "env", "ps", "wget"];

// ---------------------------------------------------------------------------------------------
// The docker client
// ---------------------------------------------------------------------------------------------

/// A `/usr/bin/docker` command talking to the local engine (any DOCKER_HOST, context or TLS
/// setting of the environment is removed; pass `-H ...` yourself to reach a front).
pub fn docker_command() -> Command {
    let mut c = Command::new(DOCKER_CLI);
    for var in [
        "DOCKER_HOST",
        "DOCKER_CONTEXT",
        "DOCKER_TLS_VERIFY",
        "DOCKER_CERT_PATH",
        "DOCKER_API_VERSION",
    ] {
        c.env_remove(var);
    }
    c.stdin(Stdio::null());
    c
}

/// Runs `docker args...` and returns its output, whatever the exit status.
pub fn docker(args: &[&str]) -> Output {
    docker_command()
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {DOCKER_CLI}: {e}"))
}

/// Runs `docker args...`, panics with its stderr unless it succeeds, returns stdout trimmed.
pub fn docker_ok(args: &[&str]) -> String {
    let out = docker(args);
    assert!(
        out.status.success(),
        "docker {} failed ({}): {}{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Runs `cmd` for at most `limit`; `None` when it could not start or was killed at the limit.
fn output_within(mut cmd: Command, limit: Duration) -> Option<Output> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return child.wait_with_output().ok(),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}

/// Why the engine cannot be used, or `None` when `docker version` answers within 20 s.
fn docker_problem() -> Option<String> {
    if !Path::new(DOCKER_CLI).exists() {
        return Some(format!("{DOCKER_CLI} is not installed"));
    }
    let mut cmd = docker_command();
    cmd.args(["version", "--format", "{{.Server.Version}}"]);
    match output_within(cmd, Duration::from_secs(20)) {
        None => Some("`docker version` did not answer within 20 s".into()),
        Some(out) if out.status.success() => None,
        Some(out) => Some(format!(
            "`docker version` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
    }
}

/// Whether the engine answers at the socket (checked once per test binary).
pub fn docker_available() -> bool {
    engine_check().is_none()
}

fn engine_check() -> &'static Option<String> {
    static CHECK: OnceLock<Option<String>> = OnceLock::new();
    CHECK.get_or_init(docker_problem)
}

/// Call first in every Docker test: `if !require_docker() { return; }`. Returns `true` when the
/// engine answers. Returns `false` (the test should return) only when `DSDL_SKIP_DOCKER_TESTS=1`;
/// otherwise a missing engine is a test failure with the remedy in the message.
pub fn require_docker() -> bool {
    if std::env::var("DSDL_SKIP_DOCKER_TESTS").as_deref() == Ok("1") {
        eprintln!("DSDL_SKIP_DOCKER_TESTS=1: skipping a test that needs the Docker engine");
        return false;
    }
    if let Some(problem) = engine_check() {
        panic!(
            "the Docker engine is needed at {DOCKER_SOCKET} but {problem}. \
             start Docker: scripts/start-docker.sh (or set DSDL_SKIP_DOCKER_TESTS=1 to skip \
             the Docker tests deliberately)"
        );
    }
    true
}

// ---------------------------------------------------------------------------------------------
// Test images
// ---------------------------------------------------------------------------------------------

/// The test-container binary the images are built from.
pub fn test_container_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_dsdl-test-container"))
}

/// The normal variant: the DSDL contract on port 5000, quiet, runs until stopped.
pub fn contract_image() -> String {
    variant_image("contract", &[])
}

/// The contract, with the real image's stubbornness: PID 1 has no SIGTERM handler (as the DSDL
/// image's `bootstrap_fast.sh` shell), so only SIGKILL after the stop grace period ends it.
pub fn stubborn_image() -> String {
    variant_image("stubborn", &[("DSDL_TEST_IGNORE_SIGTERM", "1")])
}

/// The contract with its API on port 5999 instead of 5000: a start never sees it ready, so
/// it waits out its whole `wait_seconds` (PID 1 still ends on SIGTERM).
pub fn never_ready_image() -> String {
    variant_image("never-ready", &[("DSDL_TEST_PORT", "5999")])
}

/// Serves normally, then exits with code 3 after 2 seconds.
pub fn crasher_image() -> String {
    variant_image(
        "crasher",
        &[("DSDL_TEST_EXIT_AFTER", "2"), ("DSDL_TEST_EXIT_CODE", "3")],
    )
}

/// Prints 3000 numbered lines at start (odd ones on stdout, even ones on stderr, each with
/// `línea ✓ 日本`), then serves.
pub fn chatty_image() -> String {
    variant_image("chatty", &[("DSDL_TEST_LOG_LINES", "3000")])
}

/// Prints `lines` numbered lines of exactly `line_bytes` bytes each (multi-byte padding), then
/// serves; lines over 16 KiB are split by Docker's json-file driver.
pub fn long_lines_image(lines: u64, line_bytes: usize) -> String {
    variant_image(
        &format!("long-lines-{lines}x{line_bytes}"),
        &[
            ("DSDL_TEST_LOG_LINES", &lines.to_string()),
            ("DSDL_TEST_LOG_LINE_BYTES", &line_bytes.to_string()),
        ],
    )
}

/// Writes exactly `bytes` bytes of numbered lines (`bulk 0000000001 ...`, the last one
/// possibly `....` filler) to stdout as fast as it can, then the line
/// `dsdl-test-container bulk log done: ...` on stdout and stderr; serves all the while.
pub fn bulk_log_image(bytes: u64) -> String {
    variant_image(
        &format!("bulk-log-{bytes}"),
        &[("DSDL_TEST_LOG_BYTES", &bytes.to_string())],
    )
}

/// Allocates and touches memory until killed; run it with `--memory 64m --memory-swap 64m`
/// to get an OOM kill (it stops growing at 4 GiB).
pub fn mem_hog_image() -> String {
    variant_image("mem-hog", &[("DSDL_TEST_MEM_HOG", "1")])
}

/// `dsdl-test/<name>:<content>` built from the test container with `env` baked into the image
/// (`ENV` changes), built on first use and reused while the binary is unchanged. Values must
/// not contain whitespace or quotes.
pub fn variant_image(name: &str, env: &[(&str, &str)]) -> String {
    assert!(
        !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.'),
        "image variant names are lowercase alphanumerics, '-' and '.': {name:?}"
    );
    for (k, v) in env {
        assert!(
            !k.is_empty()
                && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                && !v
                    .bytes()
                    .any(|b| b.is_ascii_whitespace() || b == b'"' || b == b'\''),
            "unusable image ENV {k}={v:?}"
        );
    }
    let mut hasher = Sha256::new();
    hasher.update(RECIPE.as_bytes());
    hasher.update(source_hash().as_bytes());
    hasher.update(format!("\0{name}").as_bytes());
    for (k, v) in env {
        hasher.update(format!("\0{k}={v}").as_bytes());
    }
    let content = hex(&hasher.finalize());
    let image = format!("{IMAGE_REPO}{name}:{}", &content[..16]);

    // One build at a time in this process, and across processes through the lock file.
    static BUILT: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if built.contains(&image) {
        return image;
    }
    if image_content(&image).as_deref() != Some(content.as_str()) {
        let _lock = BuildLock::take();
        if image_content(&image).as_deref() != Some(content.as_str()) {
            import_image(&image, name, &content, env);
        }
    }
    built.push(image.clone());
    image
}

/// `(repo, image)` for a `docker_images.conf` stanza: `("dsdl-test/", "contract:<content>")`.
pub fn catalog_entry(image: &str) -> (String, String) {
    let rest = image
        .strip_prefix(IMAGE_REPO)
        .unwrap_or_else(|| panic!("{image} is not a test image"));
    (IMAGE_REPO.to_string(), rest.to_string())
}

/// Offers a test image in `docker_images.conf` of a running splunkd-dev under `key`.
pub fn offer_image(s: &super::devserver::DevServer, key: &str, image: &str) {
    let (repo, name) = catalog_entry(image);
    super::devserver::seed_stanza(
        s,
        "docker_images",
        key,
        &[
            ("title", key),
            ("image", &name),
            ("repo", &repo),
            ("runtime", "none"),
        ],
    );
}

/// The content label of a local image, `None` when the image does not exist.
fn image_content(image: &str) -> Option<String> {
    let format = format!("{{{{index .Config.Labels \"{IMAGE_CONTENT_LABEL}\"}}}}");
    let out = docker(&["image", "inspect", "--format", &format, image]);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What the images are built from: sha256 of the test container's source and of Cargo.lock
/// (read at compile time). Hashing the binary itself would rebuild every image whenever any
/// other part of the package changes, since the binary is relinked with different bytes.
fn source_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        let mut h = Sha256::new();
        h.update(include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src/bin/dsdl-test-container.rs"
        )));
        h.update(b"\0");
        h.update(include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/Cargo.lock"
        )));
        hex(&h.finalize())
    })
}

/// Where the image build keeps its work files.
fn work_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dsdl-test-images");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    dir
}

/// An exclusive lock on `dsdl-test-images/build.lock`, released when dropped.
struct BuildLock(File);

impl BuildLock {
    fn take() -> BuildLock {
        let path = work_dir().join("build.lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        file.lock()
            .unwrap_or_else(|e| panic!("lock {}: {e}", path.display()));
        BuildLock(file)
    }
}

impl Drop for BuildLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

/// A number unique within this process, for scratch names.
fn next_id() -> u64 {
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// `docker import`s the root filesystem as `image` under a unique tag, then tags it.
/// Called with the build lock held.
fn import_image(image: &str, variant: &str, content: &str, env: &[(&str, &str)]) {
    let tar = rootfs_tar();
    let started = Instant::now();
    let (repo, _) = image.rsplit_once(':').expect("image has a tag");
    let scratch = format!("{repo}:build-{}-{}", std::process::id(), next_id());
    let mut changes = vec![
        r#"CMD ["/dsdl-test-container"]"#.to_string(),
        "EXPOSE 5000 8888".to_string(),
        "ENV MODE_DEV_PROD=PROD".to_string(),
        format!("LABEL {IMAGE_CONTENT_LABEL}={content}"),
        format!("LABEL {IMAGE_VARIANT_LABEL}={variant}"),
    ];
    changes.extend(env.iter().map(|(k, v)| format!("ENV {k}={v}")));
    let mut args: Vec<&str> = vec!["import"];
    for c in &changes {
        args.push("--change");
        args.push(c);
    }
    let tar_arg = tar.to_string_lossy().to_string();
    args.push(&tar_arg);
    args.push(&scratch);
    docker_ok(&args);
    docker_ok(&["tag", &scratch, image]);
    // Removes the scratch tag only; the image keeps its final tag.
    docker_ok(&["rmi", &scratch]);
    eprintln!(
        "built test image {image} in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// The root filesystem tar for the current binary, built once per binary (kept in the target
/// directory, older ones deleted). Called with the build lock held.
fn rootfs_tar() -> PathBuf {
    let dir = work_dir();
    let short = &source_hash()[..16];
    let tar = dir.join(format!("rootfs-{short}.tar"));
    if tar.is_file() {
        return tar;
    }
    let started = Instant::now();
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for e in entries.flatten() {
            let n = e.file_name().to_string_lossy().to_string();
            if n.starts_with("rootfs-") {
                let _ = std::fs::remove_dir_all(e.path());
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    let root = dir.join(format!("rootfs-{short}-{}.d", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let mkdir = |p: &Path| {
        std::fs::create_dir_all(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    };
    for d in ["bin", "etc", "tmp", "srv", "proc", "sys", "dev"] {
        mkdir(&root.join(d));
    }
    set_mode(&root.join("tmp"), 0o1777);

    // The binary, stripped of debug information (the debug build is large).
    let bin = test_container_binary();
    let target = root.join("dsdl-test-container");
    copy(&bin, &target);
    let _ = Command::new("strip").arg(&target).status();
    set_mode(&target, 0o755);

    // The shared libraries and the dynamic loader, at the paths ldd gives.
    let out = Command::new("ldd")
        .arg(&bin)
        .output()
        .unwrap_or_else(|e| panic!("cannot run ldd: {e}"));
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "ldd {} failed: {listing}",
        bin.display()
    );
    for lib in ldd_paths(&listing) {
        let dest = root.join(lib.trim_start_matches('/'));
        mkdir(dest.parent().expect("library has a directory"));
        copy(Path::new(&lib), &dest);
    }

    // busybox for debugging inside the container (docker exec ... sh).
    copy(Path::new("/bin/busybox"), &root.join("bin/busybox"));
    set_mode(&root.join("bin/busybox"), 0o755);
    for applet in APPLETS {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet))
            .unwrap_or_else(|e| panic!("symlink {applet}: {e}"));
    }
    write(&root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
    write(&root.join("etc/group"), "root:x:0:\n");

    let partial = dir.join(format!("rootfs-{short}-{}.partial", std::process::id()));
    let status = Command::new("tar")
        .args(["--numeric-owner", "--owner=0", "--group=0", "-cf"])
        .arg(&partial)
        .arg("-C")
        .arg(&root)
        .arg(".")
        .status()
        .unwrap_or_else(|e| panic!("cannot run tar: {e}"));
    assert!(status.success(), "tar of {} failed", root.display());
    std::fs::rename(&partial, &tar).unwrap_or_else(|e| panic!("{}: {e}", tar.display()));
    let _ = std::fs::remove_dir_all(&root);
    eprintln!(
        "built the test root filesystem {} in {:.1} s",
        tar.display(),
        started.elapsed().as_secs_f64()
    );
    tar
}

/// The absolute library paths in `ldd` output (the vdso has none; a missing library fails).
fn ldd_paths(listing: &str) -> Vec<String> {
    let mut paths = Vec::new();
    for line in listing.lines().map(str::trim) {
        assert!(!line.contains("not found"), "missing library: {line}");
        let path = match line.split_once("=>") {
            Some((_, rest)) => rest.trim().split(' ').next().unwrap_or(""),
            None => line.split(' ').next().unwrap_or(""),
        };
        if path.starts_with('/') {
            paths.push(path.to_string());
        }
    }
    paths
}

fn copy(from: &Path, to: &Path) {
    std::fs::copy(from, to)
        .unwrap_or_else(|e| panic!("copy {} to {}: {e}", from.display(), to.display()));
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

// ---------------------------------------------------------------------------------------------
// Containers
// ---------------------------------------------------------------------------------------------

/// A label value unique to this test run: `<tag>-<pid>-<n>-<time>`.
pub fn unique_value(tag: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{tag}-{}-{}-{nanos:x}", std::process::id(), next_id())
}

/// Owns a unique label value; removes every container, volume and network labelled
/// `dsdl-handler.test=<value>` or `com.splunk.mltk/manager-id=<value>` when dropped (also
/// during a panic).
pub struct LabelGuard {
    /// The unique value (use it as the test label value or as the handler's manager id).
    pub value: String,
}

impl LabelGuard {
    /// A guard with a fresh value derived from `tag` (the test's name, for readable labels).
    pub fn new(tag: &str) -> LabelGuard {
        LabelGuard {
            value: unique_value(tag),
        }
    }

    /// `dsdl-handler.test=<value>`, for `docker run --label`.
    pub fn label(&self) -> String {
        format!("{TEST_LABEL}={}", self.value)
    }

    /// `docker run -d --label dsdl-handler.test=<value> <args...>`; returns the container id.
    pub fn run(&self, args: &[&str]) -> String {
        let label = self.label();
        let mut all = vec!["run", "-d", "--label", &label];
        all.extend_from_slice(args);
        docker_ok(&all)
    }

    /// The ids of the containers (running or not) carrying this guard's test or manager label.
    pub fn containers(&self) -> Vec<String> {
        let mut ids = containers_with_label(TEST_LABEL, &self.value);
        for id in containers_with_label(MANAGER_ID_LABEL, &self.value) {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        ids
    }
}

impl Drop for LabelGuard {
    fn drop(&mut self) {
        remove_labelled(&self.value);
    }
}

/// Removes (forcibly) the containers, then the volumes and networks, labelled
/// `dsdl-handler.test=<value>` or `com.splunk.mltk/manager-id=<value>`. Nothing else.
pub fn remove_labelled(value: &str) {
    if value.is_empty() {
        return;
    }
    for key in [TEST_LABEL, MANAGER_ID_LABEL] {
        let ids = containers_with_label(key, value);
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f", "-v"];
            args.extend(ids.iter().map(String::as_str));
            let _ = docker(&args);
        }
    }
    // Then what the containers may have used.
    for key in [TEST_LABEL, MANAGER_ID_LABEL] {
        let filter = format!("label={key}={value}");
        for kind in ["volume", "network"] {
            let out = docker(&[kind, "ls", "-q", "--filter", &filter]);
            let listing = String::from_utf8_lossy(&out.stdout).to_string();
            let names: Vec<&str> = listing.split_whitespace().collect();
            if !names.is_empty() {
                let mut args = vec![kind, "rm"];
                if kind == "volume" {
                    args.push("-f");
                }
                args.extend(names);
                let _ = docker(&args);
            }
        }
    }
}

/// Full ids of all containers (running or not) labelled `key=value`; an empty `value` matches
/// any container that has the key.
pub fn containers_with_label(key: &str, value: &str) -> Vec<String> {
    let filter = if value.is_empty() {
        format!("label={key}")
    } else {
        format!("label={key}={value}")
    };
    let out = docker(&["ps", "-a", "-q", "--no-trunc", "--filter", &filter]);
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// A container's `State` as the engine reports it.
#[derive(Debug, Clone)]
pub struct ContainerState {
    /// `created`, `running`, `exited`, `dead`, ...
    pub status: String,
    pub running: bool,
    pub exit_code: i64,
    pub oom_killed: bool,
    /// The engine's error text, if any.
    pub error: String,
    /// The whole `State` object.
    pub raw: serde_json::Value,
}

/// The state of container `id`, `None` when it does not exist.
pub fn inspect_state(id: &str) -> Option<ContainerState> {
    let out = docker(&[
        "inspect",
        "--type",
        "container",
        "--format",
        "{{json .State}}",
        id,
    ]);
    if !out.status.success() {
        return None;
    }
    let raw: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    Some(ContainerState {
        status: raw["Status"].as_str().unwrap_or("").to_string(),
        running: raw["Running"].as_bool().unwrap_or(false),
        exit_code: raw["ExitCode"].as_i64().unwrap_or(-1),
        oom_killed: raw["OOMKilled"].as_bool().unwrap_or(false),
        error: raw["Error"].as_str().unwrap_or("").to_string(),
        raw,
    })
}

/// Polls until container `id` is no longer running (or is gone); its last state, `None` when
/// it was removed. Panics after `limit`.
pub fn wait_stopped(id: &str, limit: Duration) -> Option<ContainerState> {
    let deadline = Instant::now() + limit;
    loop {
        match inspect_state(id) {
            Some(s) if s.running || s.status == "created" || s.status == "restarting" => {}
            other => return other,
        }
        assert!(
            Instant::now() < deadline,
            "container {id} still running after {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The host port Docker published for `container_port/tcp` of container `id`.
pub fn host_port(id: &str, container_port: u16) -> Option<u16> {
    let spec = format!("{container_port}/tcp");
    let out = docker(&["port", id, &spec]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.trim().rsplit(':').next()?.parse().ok())
}

/// The container's logs so far: (stdout, stderr), lossily decoded.
pub fn container_logs(id: &str) -> (String, String) {
    let out = docker(&["logs", id]);
    (
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// Polls the logs (both streams) until `needle` appears; panics with the logs after `limit`.
/// Reads the whole log each time: for big logs use [`wait_for_log_tail`].
pub fn wait_for_log(id: &str, needle: &str, limit: Duration) {
    wait_for_log_in(id, needle, None, limit)
}

/// Like [`wait_for_log`], looking only at the last `lines` entries (`docker logs --tail`).
pub fn wait_for_log_tail(id: &str, needle: &str, lines: usize, limit: Duration) {
    wait_for_log_in(id, needle, Some(lines), limit)
}

/// Waits for a [`bulk_log_image`] container to finish writing (its last stdout line), reading
/// only the end of the log; 1 GB takes about a minute here (the engine's json-file logging writes
/// about 15 MB/s).
pub fn wait_bulk_log_done(id: &str, limit: Duration) {
    wait_for_log_tail(id, "dsdl-test-container bulk log done", 20, limit)
}

fn wait_for_log_in(id: &str, needle: &str, tail_lines: Option<usize>, limit: Duration) {
    let deadline = Instant::now() + limit;
    let tail_arg = tail_lines.map(|n| n.to_string());
    loop {
        let out = match &tail_arg {
            Some(n) => docker(&["logs", "--tail", n, id]),
            None => docker(&["logs", id]),
        };
        let (out, err) = (
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        );
        if out.contains(needle) || err.contains(needle) {
            return;
        }
        if Instant::now() >= deadline {
            panic!(
                "{needle:?} not in the logs of {id} after {limit:?}; state {:?}\nstdout:\n{}\nstderr:\n{}",
                inspect_state(id).map(|s| s.raw),
                tail(&out, 2000),
                tail(&err, 2000)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn tail(s: &str, n: usize) -> &str {
    let mut start = s.len().saturating_sub(n);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

/// Starts `image` labelled by `guard` with the API port published on 127.0.0.1 (random port)
/// and `extra` arguments before the image (e.g. `["-e", "api_token=abc"]`); waits for the
/// listening line. Returns (container id, `127.0.0.1:<host port>`).
pub fn run_contract(guard: &LabelGuard, image: &str, extra: &[&str]) -> (String, String) {
    let mut args = vec!["-p", "127.0.0.1::5000"];
    args.extend_from_slice(extra);
    args.push(image);
    let id = guard.run(&args);
    wait_for_log(
        &id,
        "dsdl-test-container listening on",
        Duration::from_secs(30),
    );
    let port = host_port(&id, 5000).unwrap_or_else(|| panic!("no host port for 5000 of {id}"));
    (id, format!("127.0.0.1:{port}"))
}

// ---------------------------------------------------------------------------------------------
// Fronts for the engine
// ---------------------------------------------------------------------------------------------

/// What a front shares with its background thread.
struct Control {
    /// Requests the front still forwards; `None` = no limit. Once spent, the connection that
    /// carries the next request is closed before it reaches the engine, and new connections
    /// are closed at once: the engine went away, whether the client pools connections or not.
    budget: Mutex<Option<u64>>,
    /// Connections forwarded so far.
    accepted: AtomicU64,
    /// Connections closed at once because the budget was spent.
    refused: AtomicU64,
    /// Bumped to cut every open forwarded connection.
    cut: watch::Sender<u64>,
    /// Set to stop the front (listener closed, connections cut).
    stop: watch::Sender<bool>,
}

impl Control {
    fn new() -> Arc<Control> {
        Arc::new(Control {
            budget: Mutex::new(None),
            accepted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            cut: watch::channel(0).0,
            stop: watch::channel(false).0,
        })
    }

    /// Whether a new connection may be forwarded (budget left).
    fn admit(&self) -> bool {
        *self.budget.lock().unwrap_or_else(|e| e.into_inner()) != Some(0)
    }

    /// Whether one more request may be forwarded (spends budget).
    fn spend(&self) -> bool {
        let mut budget = self.budget.lock().unwrap_or_else(|e| e.into_inner());
        match budget.as_mut() {
            None => true,
            Some(0) => false,
            Some(n) => {
                *n -= 1;
                true
            }
        }
    }
}

/// A front's listener and background thread.
struct Front {
    addr: SocketAddr,
    control: Arc<Control>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// A connection from a client after the front's handshake (if any).
type Accepted = std::pin::Pin<Box<dyn ClientIo>>;
trait ClientIo: AsyncRead + AsyncWrite + Send {}
impl<T: AsyncRead + AsyncWrite + Send> ClientIo for T {}

impl Front {
    /// Listens on 127.0.0.1:<random>; each admitted connection goes through `tls` (if any) and
    /// is then forwarded to the engine's socket.
    fn start(tls: Option<tokio_rustls::TlsAcceptor>) -> Front {
        let std_listener =
            std::net::TcpListener::bind("127.0.0.1:0").expect("bind a front on 127.0.0.1");
        std_listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let addr = std_listener.local_addr().expect("front address");
        let control = Control::new();
        let ctl = control.clone();
        let thread = std::thread::Builder::new()
            .name(format!("docker-front-{}", addr.port()))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("front runtime");
                rt.block_on(accept_loop(std_listener, tls, ctl));
                // Dropping the runtime cancels every forwarding task (connections close).
            })
            .expect("front thread");
        Front {
            addr,
            control,
            thread: Some(thread),
        }
    }

    fn shutdown(&mut self) {
        self.control.stop.send_replace(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        self.shutdown();
    }
}

async fn accept_loop(
    std_listener: std::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    control: Arc<Control>,
) {
    let listener = tokio::net::TcpListener::from_std(std_listener).expect("tokio listener");
    let mut stop = control.stop.subscribe();
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = stop.changed() => return,
        };
        let Ok((tcp, _peer)) = accepted else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        if !control.admit() {
            control.refused.fetch_add(1, Ordering::Relaxed);
            drop(tcp);
            continue;
        }
        control.accepted.fetch_add(1, Ordering::Relaxed);
        let cut = control.cut.subscribe();
        let tls = tls.clone();
        let control = control.clone();
        tokio::spawn(async move {
            let _ = tcp.set_nodelay(true);
            let client: Accepted = match tls {
                Some(acceptor) => {
                    match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
                    {
                        Ok(Ok(s)) => Box::pin(s),
                        _ => return,
                    }
                }
                None => Box::pin(tcp),
            };
            forward(client, cut, control).await;
        });
    }
}

/// Copies bytes both ways between the client and a new connection to the engine's socket
/// until either side closes, the front cuts its connections, or a request finds the budget
/// spent (requests are counted by their request lines, which is enough for Docker's API:
/// bodies are JSON).
async fn forward(client: Accepted, mut cut: watch::Receiver<u64>, control: Arc<Control>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(engine) = tokio::net::UnixStream::connect(DOCKER_SOCKET).await else {
        return;
    };
    let (mut client_in, mut client_out) = tokio::io::split(client);
    let (mut engine_in, mut engine_out) = engine.into_split();
    let requests = async {
        const MARK: &[u8] = b" HTTP/1.1\r\n";
        let mut buf = vec![0u8; 64 * 1024];
        let mut carry: Vec<u8> = Vec::new();
        loop {
            let n = match client_in.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            carry.extend_from_slice(&buf[..n]);
            let marks = carry.windows(MARK.len()).filter(|w| *w == MARK).count();
            for _ in 0..marks {
                if !control.spend() {
                    return;
                }
            }
            let keep = carry.len().min(MARK.len() - 1);
            carry.drain(..carry.len() - keep);
            if engine_out.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    };
    let replies = tokio::io::copy(&mut engine_in, &mut client_out);
    tokio::select! {
        _ = requests => {}
        _ = replies => {}
        _ = cut.changed() => {}
    }
}

/// Options of [`TlsDockerProxy::start`].
#[derive(Debug, Clone)]
pub struct TlsProxyOptions {
    /// Require a client certificate signed by the test CA (Docker's `--tlsverify` daemon mode).
    pub require_client_cert: bool,
    /// The server certificate's subject alternative names (IP addresses or DNS names); the
    /// default `127.0.0.1` and `localhost` match the proxy's URL. Give other names to provoke a
    /// hostname mismatch.
    pub server_names: Vec<String>,
}

impl Default for TlsProxyOptions {
    fn default() -> Self {
        TlsProxyOptions {
            require_client_cert: false,
            server_names: vec!["127.0.0.1".into(), "localhost".into()],
        }
    }
}

/// Paths of PEM files written by [`TlsDockerProxy::write_pem_files`] (Docker's
/// `DOCKER_CERT_PATH` layout).
#[derive(Debug, Clone)]
pub struct PemFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub wrong_ca: PathBuf,
}

/// A TLS front for the engine on `127.0.0.1:<random port>`: server certificate signed by a
/// fresh test CA, optionally requiring a client certificate signed by the same CA; stopped
/// when dropped.
pub struct TlsDockerProxy {
    front: Front,
    ca_pem: String,
    client_cert_pem: String,
    client_key_pem: String,
    wrong_ca_pem: String,
}

/// A self-signed CA named `name`.
fn test_ca(name: &str) -> rcgen::CertifiedIssuer<'static, rcgen::KeyPair> {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let key = rcgen::KeyPair::generate().expect("CA key");
    rcgen::CertifiedIssuer::self_signed(params, key).expect("self-signed CA")
}

/// A leaf certificate for `names` with `usage`, signed by `ca`: (certificate, key pair).
fn leaf(
    ca: &rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
    cn: &str,
    names: Vec<String>,
    usage: rcgen::ExtendedKeyUsagePurpose,
) -> (rcgen::Certificate, rcgen::KeyPair) {
    let mut params = rcgen::CertificateParams::new(names).expect("leaf params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    params.extended_key_usages = vec![usage];
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::DigitalSignature,
        rcgen::KeyUsagePurpose::KeyEncipherment,
    ];
    let key = rcgen::KeyPair::generate().expect("leaf key");
    let cert = params.signed_by(&key, ca).expect("sign leaf");
    (cert, key)
}

impl TlsDockerProxy {
    /// Generates the test PKI and starts listening; the proxy answers at once.
    pub fn start(opts: TlsProxyOptions) -> TlsDockerProxy {
        let ca = test_ca("dsdl-handler test CA");
        let wrong_ca = test_ca("dsdl-handler unrelated CA");
        let (server_cert, server_key) = leaf(
            &ca,
            "dsdl-handler test docker engine",
            opts.server_names.clone(),
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        );
        let (client_cert, client_key) = leaf(
            &ca,
            "dsdl-handler test client",
            Vec::new(),
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        );
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("TLS versions");
        let builder = if opts.require_client_cert {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(ca.der().clone()).expect("CA into the root store");
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .expect("client verifier");
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let config = builder
            .with_single_cert(
                vec![server_cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(server_key.serialize_der().into()),
            )
            .expect("server certificate");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        TlsDockerProxy {
            front: Front::start(Some(acceptor)),
            ca_pem: ca.pem(),
            client_cert_pem: client_cert.pem(),
            client_key_pem: client_key.serialize_pem(),
            wrong_ca_pem: wrong_ca.pem(),
        }
    }

    /// `tcp://127.0.0.1:<port>` (a `docker_url` value).
    pub fn url(&self) -> String {
        format!("tcp://{}", self.front.addr)
    }

    /// `https://127.0.0.1:<port>` (for curl).
    pub fn https_url(&self) -> String {
        format!("https://{}", self.front.addr)
    }

    /// The listening port.
    pub fn port(&self) -> u16 {
        self.front.addr.port()
    }

    /// The test CA that signed the server and client certificates.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// A client certificate (extendedKeyUsage clientAuth) signed by the test CA.
    pub fn client_cert_pem(&self) -> &str {
        &self.client_cert_pem
    }

    /// The client certificate's key (PKCS#8 PEM, unencrypted).
    pub fn client_key_pem(&self) -> &str {
        &self.client_key_pem
    }

    /// A CA unrelated to the proxy's certificates (verification with it must fail).
    pub fn wrong_ca_pem(&self) -> &str {
        &self.wrong_ca_pem
    }

    /// Writes `ca.pem`, `cert.pem`, `key.pem` (0600) and `wrong-ca.pem` into `dir` (created).
    pub fn write_pem_files(&self, dir: &Path) -> PemFiles {
        std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let files = PemFiles {
            ca: dir.join("ca.pem"),
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
            wrong_ca: dir.join("wrong-ca.pem"),
        };
        write(&files.ca, &self.ca_pem);
        write(&files.cert, &self.client_cert_pem);
        write(&files.key, &self.client_key_pem);
        set_mode(&files.key, 0o600);
        write(&files.wrong_ca, &self.wrong_ca_pem);
        files
    }

    /// Connections accepted so far (including ones whose TLS handshake then failed).
    pub fn accepted(&self) -> u64 {
        self.front.control.accepted.load(Ordering::Relaxed)
    }

    /// Stops listening and cuts every connection (also done on drop).
    pub fn shutdown(&mut self) {
        self.front.shutdown();
    }
}

/// A plain TCP front for the engine on `127.0.0.1:<random port>` with a connection budget, to
/// simulate the engine going away: [`allow`](Self::allow) lets n more connections through and
/// then closes every new one at once; [`cut_connections`](Self::cut_connections) drops the
/// open ones (clients reusing a keep-alive connection see it die);
/// [`shutdown`](Self::shutdown) closes the port (connection refused). No limit at start.
pub struct TcpDockerProxy {
    front: Front,
}

impl TcpDockerProxy {
    /// Starts listening; the proxy answers at once.
    pub fn start() -> TcpDockerProxy {
        TcpDockerProxy {
            front: Front::start(None),
        }
    }

    /// `tcp://127.0.0.1:<port>` (a `docker_url` value).
    pub fn url(&self) -> String {
        format!("tcp://{}", self.front.addr)
    }

    /// `http://127.0.0.1:<port>` (for curl).
    pub fn http_url(&self) -> String {
        format!("http://{}", self.front.addr)
    }

    /// The listening port.
    pub fn port(&self) -> u16 {
        self.front.addr.port()
    }

    /// Forwards `n` more requests, then closes the connection of the next one before it
    /// reaches the engine and every new connection at once.
    pub fn allow(&self, n: u64) {
        *self
            .front
            .control
            .budget
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(n);
    }

    /// Removes the limit.
    pub fn unlimited(&self) {
        *self
            .front
            .control
            .budget
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Closes every connection being forwarded now (new ones follow the budget).
    pub fn cut_connections(&self) {
        self.front.control.cut.send_modify(|g| *g += 1);
    }

    /// Connections forwarded so far.
    pub fn accepted(&self) -> u64 {
        self.front.control.accepted.load(Ordering::Relaxed)
    }

    /// Connections closed at once because the budget was spent.
    pub fn refused(&self) -> u64 {
        self.front.control.refused.load(Ordering::Relaxed)
    }

    /// Stops listening and cuts every connection (also done on drop).
    pub fn shutdown(&mut self) {
        self.front.shutdown();
    }
}
