//! splunkd-dev: the local stand-in for splunkd (see `dsdl_handler::devserver`).
//! Run with no arguments to serve this app from the working tree; `--help` for the flags.

fn main() -> std::process::ExitCode {
    dsdl_handler::devserver::cli::main()
}
