//! The `splunkd-dev` command line: `serve` (the default) prepares a SPLUNK_HOME with this app
//! installed and serves it; `add-user` adds a user for tests. Prints exactly one line on
//! stdout when ready: `splunkd-dev ready: <scheme>://127.0.0.1:<port> SPLUNK_HOME=<dir>`.

use super::auth::Auth;
use super::capture::Capture;
use super::certs;
use super::home::{self, AdminSetup};
use super::persist::ServerInfo;
use super::pool::{Pool, PoolSettings};
use super::restmap::RestMap;
use super::roles::Roles;
use super::server::Server;
use super::splunkd_log::SplunkdLog;
use super::tokens::TokenStore;
use super::types::SplunkHome;
use super::users::{self, UserDb, split_roles, users_path};
use crate::protocol::request::Secret;
use anyhow::{Context, anyhow};
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Usage text.
pub const USAGE: &str = "\
usage: splunkd-dev [serve] [options]
       splunkd-dev add-user NAME --password P [--roles r1,r2] [--splunk-home DIR]

The local stand-in for splunkd: serves /services and /servicesNS/<user>/<app> with Basic,
Splunk and Bearer auth, routes by the installed apps' restmap.conf to persistent drivers,
and answers configs/conf-* and storage/passwords.

serve options:
  --port N              port on 127.0.0.1 (default 8089; 0 picks a free one)
  --admin-password P    admin's password (default: generated on first run, printed once)
  --splunk-home DIR     SPLUNK_HOME to use (default: var/splunkd-dev-home of the project)
  --app-dir DIR         the app to install (default: the working tree)
  --tls                 HTTPS with a generated self-signed certificate (etc/auth/)
  --pool N              most driver processes per driver configuration (default 16); one
                        more is started whenever all are busy, so a long request does not
                        hold up the others
  --idle-timeout S      retire driver processes idle this long (default 60)
  --reply-timeout S     kill a driver that takes longer to reply (default 120)
  --capture DIR         write each driver round trip as a redacted fixture into DIR

add-user options:
  --password P          the user's password (required)
  --roles r1,r2         roles (default: user)
  --splunk-home DIR     as for serve
";

/// Default `--pool`: room for several long requests (a container start can take minutes) with
/// quick ones still served; splunkd's own cap (`max_persistent_connections`) is far higher.
pub const DEFAULT_POOL: usize = 16;

/// Options of `serve`.
#[derive(Debug, Clone, PartialEq)]
pub struct ServeOptions {
    /// `--port`.
    pub port: u16,
    /// `--admin-password` (hidden from `Debug`).
    pub admin_password: Option<Secret>,
    /// `--splunk-home`.
    pub splunk_home: Option<PathBuf>,
    /// `--app-dir`.
    pub app_dir: Option<PathBuf>,
    /// `--tls`.
    pub tls: bool,
    /// `--pool`.
    pub pool: usize,
    /// `--idle-timeout`, seconds.
    pub idle_timeout: u64,
    /// `--reply-timeout`, seconds.
    pub reply_timeout: u64,
    /// `--capture`.
    pub capture: Option<PathBuf>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            port: 8089,
            admin_password: None,
            splunk_home: None,
            app_dir: None,
            tls: false,
            pool: DEFAULT_POOL,
            idle_timeout: 60,
            reply_timeout: 120,
            capture: None,
        }
    }
}

/// Options of `add-user`.
#[derive(Debug, Clone, PartialEq)]
pub struct AddUserOptions {
    /// The user name.
    pub name: String,
    /// `--password` (hidden from `Debug`).
    pub password: Secret,
    /// `--roles`.
    pub roles: Vec<String>,
    /// `--splunk-home`.
    pub splunk_home: Option<PathBuf>,
}

/// A parsed command line.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Serve.
    Serve(ServeOptions),
    /// Add or replace a user.
    AddUser(AddUserOptions),
    /// Print usage.
    Help,
    /// Print the version.
    Version,
}

/// A command-line mistake, reported with the usage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Splits `--name=value` and pulls the value of `--name value`.
struct Args {
    items: std::collections::VecDeque<String>,
}

impl Args {
    fn next(&mut self) -> Option<String> {
        let a = self.items.pop_front()?;
        if a.starts_with("--")
            && let Some((k, v)) = a.split_once('=')
        {
            self.items.push_front(v.to_string());
            return Some(k.to_string());
        }
        Some(a)
    }

    fn value(&mut self, flag: &str) -> Result<String, UsageError> {
        self.items
            .pop_front()
            .ok_or_else(|| UsageError(format!("{flag} needs a value")))
    }

    fn number<T: std::str::FromStr>(&mut self, flag: &str) -> Result<T, UsageError> {
        let v = self.value(flag)?;
        v.parse()
            .map_err(|_| UsageError(format!("{flag} needs a number, not {v:?}")))
    }
}

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Command, UsageError> {
    let mut a = Args {
        items: args.iter().cloned().collect(),
    };
    let first = args.first().map(String::as_str);
    match first {
        Some("--help" | "-h" | "help") => return Ok(Command::Help),
        Some("--version" | "-V") => return Ok(Command::Version),
        Some("add-user") => {
            a.items.pop_front();
            return parse_add_user(a).map(Command::AddUser);
        }
        Some("serve") => {
            a.items.pop_front();
        }
        _ => {}
    }
    let mut o = ServeOptions::default();
    while let Some(flag) = a.next() {
        match flag.as_str() {
            "--port" => o.port = a.number("--port")?,
            "--admin-password" => {
                o.admin_password = Some(Secret::new(a.value("--admin-password")?))
            }
            "--splunk-home" => o.splunk_home = Some(a.value("--splunk-home")?.into()),
            "--app-dir" => o.app_dir = Some(a.value("--app-dir")?.into()),
            "--tls" => o.tls = true,
            "--pool" => o.pool = a.number("--pool")?,
            "--idle-timeout" => o.idle_timeout = a.number("--idle-timeout")?,
            "--reply-timeout" => o.reply_timeout = a.number("--reply-timeout")?,
            "--capture" => o.capture = Some(a.value("--capture")?.into()),
            "--help" | "-h" => return Ok(Command::Help),
            other => return Err(UsageError(format!("unknown argument {other:?}"))),
        }
    }
    if o.pool == 0 {
        return Err(UsageError("--pool must be at least 1".into()));
    }
    if o.reply_timeout == 0 || o.idle_timeout == 0 {
        return Err(UsageError(
            "--idle-timeout and --reply-timeout must be at least 1 second".into(),
        ));
    }
    if o.admin_password.as_ref().is_some_and(Secret::is_empty) {
        return Err(UsageError("--admin-password must not be empty".into()));
    }
    Ok(Command::Serve(o))
}

fn parse_add_user(mut a: Args) -> Result<AddUserOptions, UsageError> {
    let mut name = None;
    let mut password = None;
    let mut roles = vec!["user".to_string()];
    let mut splunk_home = None;
    while let Some(item) = a.next() {
        match item.as_str() {
            "--password" => password = Some(Secret::new(a.value("--password")?)),
            "--roles" => roles = split_roles(&a.value("--roles")?),
            "--splunk-home" => splunk_home = Some(a.value("--splunk-home")?.into()),
            other if other.starts_with("--") => {
                return Err(UsageError(format!("unknown argument {other:?}")));
            }
            other => {
                if name.replace(other.to_string()).is_some() {
                    return Err(UsageError("add-user takes one user name".into()));
                }
            }
        }
    }
    Ok(AddUserOptions {
        name: name.ok_or_else(|| UsageError("add-user needs a user name".into()))?,
        password: password.ok_or_else(|| UsageError("add-user needs --password".into()))?,
        roles,
        splunk_home,
    })
}

/// Entry point of the `splunkd-dev` binary.
pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match parse(&args) {
        Ok(Command::Help) => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        Ok(Command::Version) => {
            println!("splunkd-dev {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Ok(Command::AddUser(o)) => report(add_user(&o)),
        Ok(Command::Serve(o)) => report(serve(o)),
        Err(e) => {
            eprintln!("splunkd-dev: {e}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// Prints a start-up error with its causes (`cannot create ...: Permission denied`).
fn report(r: anyhow::Result<()>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("splunkd-dev: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Creates (if needed) and makes absolute the SPLUNK_HOME to use.
fn resolve_home(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    let home = match given {
        Some(h) => h.to_path_buf(),
        None => home::default_home(&home::project_dir()),
    };
    std::fs::create_dir_all(&home)
        .with_context(|| format!("cannot create SPLUNK_HOME {}", home.display()))?;
    home.canonicalize()
        .with_context(|| format!("cannot use SPLUNK_HOME {}", home.display()))
}

/// `splunkd-dev add-user`.
pub fn add_user(o: &AddUserOptions) -> anyhow::Result<()> {
    let home = resolve_home(o.splunk_home.as_deref())?;
    home::prepare(&home)?;
    let path = users_path(&home);
    let mut db = UserDb::load(&path)?;
    let user = users::new_user(&o.name, o.password.expose(), &o.roles)?;
    db.upsert(user);
    db.save(&path)?;
    let (roles, _) = Roles::load(&home);
    for r in o.roles.iter().filter(|r| !roles.exists(r)) {
        eprintln!(
            "splunkd-dev: warning: role {r} is not defined in any authorize.conf; it grants nothing"
        );
    }
    eprintln!(
        "splunkd-dev: user {} saved with roles {} in {}",
        o.name,
        o.roles.join(","),
        path.display()
    );
    Ok(())
}

/// `splunkd-dev serve`: prepares SPLUNK_HOME and serves until interrupted.
pub fn serve(o: ServeOptions) -> anyhow::Result<()> {
    // Bind first: a busy port must not leave a half-prepared SPLUNK_HOME behind.
    let std_listener = std::net::TcpListener::bind(("127.0.0.1", o.port)).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            anyhow!(
                "port {} on 127.0.0.1 is already in use (another splunkd or splunkd-dev?); choose another with --port N, or --port 0 for any free port",
                o.port
            )
        } else {
            anyhow::Error::new(e).context(format!("cannot listen on 127.0.0.1:{}", o.port))
        }
    })?;
    std_listener
        .set_nonblocking(true)
        .context("cannot use the listening socket")?;
    let home = resolve_home(o.splunk_home.as_deref())?;
    let project = home::project_dir();
    let app_dir = o.app_dir.clone().unwrap_or(project);
    home::prepare(&home)?;
    let app = home::install_app(&home, &app_dir)?;
    eprintln!(
        "splunkd-dev: app {} installed from {}",
        app.name,
        app_dir.display()
    );
    if let Some(driver) = &app.driver {
        eprintln!("splunkd-dev: driver binary {}", driver.display());
    }
    match home::ensure_admin(&home, o.admin_password.as_ref().map(Secret::expose))? {
        AdminSetup::Generated(pw) => {
            eprintln!(
                "splunkd-dev: created user admin with password: {}",
                pw.expose()
            );
            eprintln!(
                "splunkd-dev: (shown only this once; stored hashed in {}; set another with --admin-password)",
                users_path(&home).display()
            );
        }
        AdminSetup::FromFlag => eprintln!("splunkd-dev: admin password set from --admin-password"),
        AdminSetup::Existing => {}
    }
    let guid = home::instance_guid(&home)?;
    let log = Arc::new(SplunkdLog::open(&home.join("var/log/splunk/splunkd.log")));
    let access_log = Arc::new(SplunkdLog::open(
        &home.join("var/log/splunk/splunkd_access.log"),
    ));
    let (restmap, mut warnings) = RestMap::load(&home.join("etc/apps"));
    let (roles, role_warnings) = Roles::load(&home);
    warnings.extend(role_warnings);
    for w in &warnings {
        eprintln!("splunkd-dev: warning: {w}");
        log.line("WARN", "ConfigLoader", "Main", w);
    }
    let tokens = TokenStore::open(&home.join("etc/auth"), &home::server_name(&home))?;
    let auth = Arc::new(Auth::new(users_path(&home), roles)?.with_tokens(tokens));
    let tls_files = if o.tls {
        Some(certs::ensure_cert(&home)?)
    } else {
        None
    };
    let tls_config = match &tls_files {
        Some(f) => Some(certs::server_config(f)?),
        None => None,
    };
    let capture = match &o.capture {
        Some(dir) => Some(
            Capture::new(dir)
                .with_context(|| format!("cannot use the capture directory {}", dir.display()))?,
        ),
        None => None,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(std_listener)
            .context("cannot use the listening socket")?;
        let port = listener
            .local_addr()
            .context("cannot read the listening address")?
            .port();
        let scheme = if o.tls { "https" } else { "http" };
        let rest_uri = format!("{scheme}://127.0.0.1:{port}");
        let pool = Pool::new(
            PoolSettings {
                max_per_driver: o.pool,
                idle_timeout: Duration::from_secs(o.idle_timeout),
                reply_timeout: Duration::from_secs(o.reply_timeout),
            },
            log.clone(),
        );
        pool.start_reaper();
        let server = Arc::new(Server {
            home: SplunkHome::new(&home),
            auth,
            restmap,
            pool: pool.clone(),
            capture,
            log: log.clone(),
            access_log,
            info: ServerInfo {
                rest_uri: rest_uri.clone(),
                hostname: home::hostname(),
                servername: home::server_name(&home),
                guid,
            },
            port,
            ca_file: tls_files.as_ref().map(|f| f.cert.clone()),
        });
        eprintln!("splunkd-dev: logs in {}", log.path().display());
        if let Some(f) = &tls_files {
            eprintln!(
                "splunkd-dev: TLS certificate {} (curl --cacert {} ...)",
                f.cert.display(),
                f.cert.display()
            );
        }
        if let Some(dir) = &o.capture {
            eprintln!("splunkd-dev: capturing fixtures into {}", dir.display());
        }
        log.line(
            "INFO",
            "loader",
            "Main",
            &format!("splunkd-dev listening on {rest_uri}"),
        );
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "splunkd-dev ready: {rest_uri} SPLUNK_HOME={}",
            home.display()
        );
        let _ = out.flush();
        drop(out);
        let acceptor = tls_config.map(tokio_rustls::TlsAcceptor::from);
        tokio::select! {
            _ = server.serve(listener, acceptor) => {}
            _ = shutdown_signal() => {}
        }
        log.line("INFO", "loader", "Main", "shutting down");
        pool.shutdown(Duration::from_secs(2)).await;
        Ok(())
    })
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn serve_flags() {
        assert_eq!(parse(&[]).unwrap(), Command::Serve(ServeOptions::default()));
        let Command::Serve(o) = parse(&args(
            "serve --port 0 --admin-password pw --splunk-home /h --app-dir /a --tls --pool 2 --idle-timeout=5 --reply-timeout 9 --capture /c",
        ))
        .unwrap() else {
            panic!("serve expected");
        };
        assert_eq!(o.port, 0);
        assert_eq!(o.admin_password.as_ref().map(Secret::expose), Some("pw"));
        assert_eq!(o.splunk_home, Some(PathBuf::from("/h")));
        assert_eq!(o.app_dir, Some(PathBuf::from("/a")));
        assert!(o.tls);
        assert_eq!((o.pool, o.idle_timeout, o.reply_timeout), (2, 5, 9));
        assert_eq!(o.capture, Some(PathBuf::from("/c")));
    }

    #[test]
    fn add_user_and_mistakes() {
        assert_eq!(
            parse(&args(
                "add-user bob --password p --roles a,b --splunk-home /h"
            ))
            .unwrap(),
            Command::AddUser(AddUserOptions {
                name: "bob".into(),
                password: Secret::new("p"),
                roles: vec!["a".into(), "b".into()],
                splunk_home: Some("/h".into()),
            })
        );
        let Command::AddUser(o) = parse(&args("add-user bob --password=p")).unwrap() else {
            panic!();
        };
        assert_eq!(o.roles, ["user"]);
        for bad in [
            "--port",
            "--port x",
            "--pool 0",
            "--bogus",
            "add-user",
            "add-user bob",
            "add-user a b --password p",
        ] {
            assert!(parse(&args(bad)).is_err(), "{bad}");
        }
        assert_eq!(parse(&args("--help")).unwrap(), Command::Help);
        assert_eq!(parse(&args("-V")).unwrap(), Command::Version);
    }
}
