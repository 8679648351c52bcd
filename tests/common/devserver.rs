//! A real `splunkd-dev` process for integration tests: started on port 0 with its own
//! SPLUNK_HOME under the target directory, stopped when dropped; and curl as the client.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const ADMIN_PASSWORD: &str = "e2e-admin-Pw1";

/// A running splunkd-dev; stopped (and its SPLUNK_HOME removed on success) when dropped.
pub struct DevServer {
    pub child: Child,
    pub url: String,
    pub home: PathBuf,
    pub stderr: Arc<Mutex<String>>,
    /// Leave SPLUNK_HOME in place when stopped (for a restart on it).
    keep_home: bool,
}

pub fn scratch_dir(tag: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "splunkd-dev-e2e-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a scratch directory");
    dir
}

impl DevServer {
    pub fn start(tag: &str, extra: &[&str]) -> DevServer {
        Self::start_at(scratch_dir(tag), extra)
    }

    /// A splunkd-dev on an existing SPLUNK_HOME (prepared by the test, or kept by
    /// [`DevServer::restart`]).
    pub fn start_at(home: PathBuf, extra: &[&str]) -> DevServer {
        let mut child = Command::new(env!("CARGO_BIN_EXE_splunkd-dev"))
            .args(["--splunk-home"])
            .arg(&home)
            .args(["--port", "0", "--admin-password", ADMIN_PASSWORD])
            .args(extra)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start splunkd-dev");
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err_pipe = child.stderr.take().expect("stderr pipe");
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err_pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let out = child.stdout.take().expect("stdout pipe");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let mut server = DevServer {
            child,
            url: String::new(),
            home,
            stderr,
            keep_home: false,
        };
        let line = rx
            .recv_timeout(Duration::from_secs(120))
            .unwrap_or_else(|_| {
                panic!(
                    "splunkd-dev printed no ready line; stderr:\n{}",
                    server.stderr()
                )
            });
        let rest = line
            .strip_prefix("splunkd-dev ready: ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        let (url, home_part) = rest.split_once(' ').expect("url and SPLUNK_HOME");
        assert!(home_part.starts_with("SPLUNK_HOME="), "{line}");
        assert!(!url.ends_with(":0"), "the real port is shown: {line}");
        server.url = url.to_string();
        server
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The instance guid (`etc/instance.cfg`): the manager id on every container the
    /// handler starts for this splunkd-dev.
    pub fn guid(&self) -> String {
        let cfg =
            std::fs::read_to_string(self.home.join("etc/instance.cfg")).expect("instance.cfg");
        cfg.lines()
            .find_map(|l| {
                l.trim()
                    .strip_prefix("guid")
                    .map(|v| v.trim_start_matches([' ', '=']).trim().to_string())
            })
            .expect("guid in instance.cfg")
    }

    /// Stops this splunkd-dev and starts a new one on the same SPLUNK_HOME, as a restart of
    /// splunkd re-reads the apps and their restmap.conf.
    pub fn restart(mut self, extra: &[&str]) -> DevServer {
        self.keep_home = true;
        let home = self.home.clone();
        drop(self);
        Self::start_at(home, extra)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn add_user(&self, name: &str, password: &str, roles: &str) {
        let out = Command::new(env!("CARGO_BIN_EXE_splunkd-dev"))
            .args(["add-user", "--splunk-home"])
            .arg(&self.home)
            .args([name, "--password", password, "--roles", roles])
            .output()
            .expect("run splunkd-dev add-user");
        assert!(
            out.status.success(),
            "add-user failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn basic(&self) -> String {
        format!("admin:{ADMIN_PASSWORD}")
    }

    /// Session key from `/services/auth/login`.
    pub fn login(&self, extra: &[&str]) -> String {
        let r = curl(
            &[
                "-d",
                "username=admin",
                "-d",
                &format!("password={ADMIN_PASSWORD}"),
                &format!("{}/services/auth/login?output_mode=json", self.url),
            ],
            extra,
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let v: serde_json::Value = serde_json::from_str(&r.body).expect("login JSON");
        v["sessionKey"].as_str().expect("sessionKey").to_string()
    }

    /// Pids of the driver processes (children of the server).
    pub fn drivers(&self) -> Vec<u32> {
        children_of(self.pid())
    }
}

impl Drop for DevServer {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "splunkd-dev stderr:\n{}\nSPLUNK_HOME kept at {}",
                self.stderr(),
                self.home.display()
            );
        } else if !self.keep_home {
            let _ = std::fs::remove_dir_all(&self.home);
        }
    }
}

/// Child process ids of `parent`, from /proc.
pub fn children_of(parent: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": comm may hold spaces, so read after the last ')'.
        let Some(after) = stat.rsplit_once(')').map(|(_, a)| a) else {
            continue;
        };
        let fields: Vec<&str> = after.split_whitespace().collect();
        if fields.get(1).and_then(|p| p.parse::<u32>().ok()) == Some(parent)
            && fields.first() != Some(&"Z")
        {
            out.push(pid);
        }
    }
    out.sort();
    out
}

pub struct Resp {
    pub status: u16,
    pub headers: String,
    pub body: String,
    pub curl_exit: i32,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }
}

/// Runs curl with `args` (plus `extra`, e.g. TLS options) and returns status, headers, body.
pub fn curl(args: &[&str], extra: &[&str]) -> Resp {
    let dir = scratch_dir("curl");
    let (hfile, bfile) = (dir.join("h"), dir.join("b"));
    let out = Command::new("curl")
        .args(["-s", "-S", "--max-time", "60", "-D"])
        .arg(&hfile)
        .arg("-o")
        .arg(&bfile)
        .args(["-w", "%{http_code}"])
        .args(extra)
        .args(args)
        .output()
        .expect("curl must be installed");
    let resp = Resp {
        status: String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(0),
        headers: std::fs::read_to_string(&hfile).unwrap_or_default(),
        body: std::fs::read_to_string(&bfile).unwrap_or_default(),
        curl_exit: out.status.code().unwrap_or(-1),
    };
    let _ = std::fs::remove_dir_all(&dir);
    // Every /mltk reply must keep the published contract.
    let line: Vec<&str> = args.iter().chain(extra).copied().collect();
    if let (0, Some((method, url))) = (resp.curl_exit, super::contract::method_and_url(&line)) {
        let content_type = resp.header("Content-Type");
        super::contract::assert_conforms(
            &method,
            &url,
            resp.status,
            content_type.as_deref(),
            &resp.body,
        );
    }
    resp
}

pub fn get_as(s: &DevServer, auth: &[&str], path: &str) -> Resp {
    let url = format!("{}{path}", s.url);
    let mut args: Vec<&str> = auth.to_vec();
    args.push(&url);
    curl(&args, &[])
}

/// `method` on `path` as admin (Basic) with curl `data` arguments (e.g. `["-d", "k=v"]`).
pub fn admin_request(s: &DevServer, method: &str, path: &str, data: &[&str]) -> Resp {
    let url = format!("{}{path}", s.url);
    let basic = s.basic();
    let mut args: Vec<&str> = vec!["-u", &basic, "-X", method];
    args.extend_from_slice(data);
    args.push(&url);
    curl(&args, &[])
}

/// `method` on `path` as admin with form pairs (each `--data-urlencode`d).
pub fn admin_form(s: &DevServer, method: &str, path: &str, pairs: &[(&str, &str)]) -> Resp {
    let mut data = Vec::new();
    for (k, v) in pairs {
        data.push("--data-urlencode".to_string());
        data.push(format!("{k}={v}"));
    }
    let data: Vec<&str> = data.iter().map(String::as_str).collect();
    admin_request(s, method, path, &data)
}

/// `method` on `path` as admin with a JSON body.
pub fn admin_json(s: &DevServer, method: &str, path: &str, v: &serde_json::Value) -> Resp {
    let text = v.to_string();
    let data = [
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        &text,
    ];
    admin_request(s, method, path, &data)
}

/// Creates stanza `name` of `<conf>.conf` in this app's namespace as admin, through splunkd's
/// `configs/conf-<conf>` (201 expected); `keys` become form fields.
pub fn seed_stanza(s: &DevServer, conf: &str, name: &str, keys: &[(&str, &str)]) {
    let path = format!("/servicesNS/nobody/dsdl_handler/configs/conf-{conf}?output_mode=json");
    let mut pairs = vec![("name", name)];
    pairs.extend_from_slice(keys);
    let r = admin_form(s, "POST", &path, &pairs);
    assert_eq!(r.status, 201, "seeding [{name}] of {conf}.conf: {}", r.body);
}

/// Sets `keys` on the existing stanza `name` of `<conf>.conf` as admin (200 expected).
pub fn update_stanza(s: &DevServer, conf: &str, name: &str, keys: &[(&str, &str)]) {
    let path =
        format!("/servicesNS/nobody/dsdl_handler/configs/conf-{conf}/{name}?output_mode=json");
    let r = admin_form(s, "POST", &path, keys);
    assert_eq!(
        r.status, 200,
        "updating [{name}] of {conf}.conf: {}",
        r.body
    );
}

/// A copy of the app (default/, metadata/, README/) in a scratch directory, changed by `edit`
/// before use, for `DevServer::start(tag, &["--app-dir", dir])`.
pub fn app_copy(tag: &str, edit: impl FnOnce(&Path)) -> PathBuf {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).expect("create app copy directory");
        for entry in std::fs::read_dir(from)
            .expect("read app directory")
            .flatten()
        {
            let (src, dst) = (entry.path(), to.join(entry.file_name()));
            if src.is_dir() {
                copy(&src, &dst);
            } else {
                std::fs::copy(&src, &dst).expect("copy app file");
            }
        }
    }
    let dir = scratch_dir(tag);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for sub in ["default", "metadata", "README"] {
        if root.join(sub).is_dir() {
            copy(&root.join(sub), &dir.join(sub));
        }
    }
    edit(&dir);
    dir
}

/// Lines of splunkd_access.log that are conf calls the drivers made (as splunk-system-user).
pub fn driver_conf_calls(s: &DevServer) -> usize {
    std::fs::read_to_string(s.home.join("var/log/splunk/splunkd_access.log"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(" splunk-system-user ") && l.contains("/configs/conf-"))
        .count()
}

/// Writes MLTK's model file `__mlspl_<model>.mlmodel` the way `| fit ... into <model>` leaves
/// it: shared in `app` (`owner` None) or private to `owner`, under the server's SPLUNK_HOME.
/// Returns its path.
pub fn seed_model(s: &DevServer, owner: Option<&str>, app: &str, model: &str) -> PathBuf {
    let dir = match owner {
        Some(user) => s
            .home
            .join("etc/users")
            .join(user)
            .join(app)
            .join("lookups"),
        None => s.home.join("etc/apps").join(app).join("lookups"),
    };
    std::fs::create_dir_all(&dir).expect("create a lookups directory");
    let path = dir.join(format!("__mlspl_{model}.mlmodel"));
    std::fs::write(&path, b"{\"algo\":\"LinearRegression\"}\n").expect("write a model file");
    path
}
