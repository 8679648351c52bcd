//! The persistent REST driver splunkd starts (`restmap.conf` `driver = ...`).
//! Run with no arguments or `serve`: it speaks the packet protocol on stdin/stdout.

use dsdl_handler::config::DriverConfig;
use dsdl_handler::driver;
use dsdl_handler::log::{Logger, fault};
use dsdl_handler::service::Service;
use std::fs::File;
use std::io::BufReader;
use std::os::fd::AsFd;
use std::process::ExitCode;

const USAGE: &str = "usage: dsdl-handler [serve]\n\
Speaks splunkd's persistent REST protocol on stdin/stdout; splunkd starts it from restmap.conf.\n\
Environment: SPLUNK_HOME, DSDL_LOG_FILE, DSDL_MAX_BLOCK_BYTES, DSDL_SPLUNKD_CA, DSDL_APP.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] | ["serve"] => serve(),
        ["--version"] | ["-V"] => {
            println!("dsdl-handler {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        ["--help"] | ["-h"] => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// Points fd 1 at stderr once the frame writer holds its own copy of stdout, so a stray print
/// from any library lands in splunkd.log instead of corrupting the reply framing.
fn guard_stdout() {
    // SAFETY: dup2 on two open descriptors of this process; no Rust object owns fd 1 itself
    // (std's Stdout only writes through it), and the frame writer uses a duplicate.
    let rc = unsafe { libc::dup2(libc::STDERR_FILENO, libc::STDOUT_FILENO) };
    if rc < 0 {
        fault("could not redirect stray stdout output to stderr");
    }
}

fn serve() -> ExitCode {
    let (config, warnings) = DriverConfig::from_env();
    for w in &warnings {
        fault(w);
    }
    // Owned handles on fds 0 and 1: one read buffer, and one write per packet with no line
    // buffering in between.
    let (input, output) = match (
        std::io::stdin().as_fd().try_clone_to_owned(),
        std::io::stdout().as_fd().try_clone_to_owned(),
    ) {
        (Ok(i), Ok(o)) => (File::from(i), File::from(o)),
        (Err(e), _) | (_, Err(e)) => {
            fault(&format!("cannot use stdin/stdout: {e}"));
            return ExitCode::FAILURE;
        }
    };
    guard_stdout();
    let limits = config.limits;
    let log = Logger::open(config.log_file.as_deref());
    let mut service = match Service::new(config, log) {
        Ok(s) => s,
        Err(e) => {
            fault(&format!("cannot start the async runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    match driver::serve(
        BufReader::with_capacity(64 * 1024, input),
        output,
        &mut service,
        limits,
    ) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            fault(&e.to_string());
            ExitCode::FAILURE
        }
    }
}
