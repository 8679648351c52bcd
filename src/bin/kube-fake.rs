//! kube-fake: the tests' fake Kubernetes API server (see `dsdl_handler::kubefake`), served
//! on loopback HTTPS for trying things by hand with kubectl or curl. It makes a fresh CA and
//! an admin token on every start; `--kubeconfig PATH` writes a kubeconfig (owner-readable)
//! holding both, `--ca PATH` the CA alone. Stops on Ctrl-C.

use dsdl_handler::kubefake::authz::Rule;
use dsdl_handler::kubefake::kubeconfig::KubeUser;
use dsdl_handler::kubefake::{KubeFake, NodeSpec, Options};
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: kube-fake [--port N] [--kubeconfig PATH] [--ca PATH] \
    [--namespace NAME]... [--gpu-node NAME=COUNT]... [--openshift]

Serves a fake Kubernetes API server on https://127.0.0.1:<port> with a throwaway CA. The
user 'admin' (bearer token, written into the kubeconfig) may do everything. Namespaces
default and kube-system exist, plus each --namespace; node-1 has no GPU, each --gpu-node
advertises nvidia.com/gpu. Deployments run pods whose status moves on within a second
(images named *pull-fails*, *crash* or *progress-stalls* fail that way); --openshift serves
route.openshift.io Routes too.";

struct Args {
    options: Options,
    kubeconfig: Option<PathBuf>,
    ca: Option<PathBuf>,
}

fn parse(mut argv: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut args = Args {
        options: Options::default(),
        kubeconfig: None,
        ca: None,
    };
    while let Some(flag) = argv.next() {
        let mut value = || argv.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--port" => {
                let v = value()?;
                args.options.port = v.parse().map_err(|_| format!("--port {v}: not a port"))?;
            }
            "--kubeconfig" => args.kubeconfig = Some(value()?.into()),
            "--ca" => args.ca = Some(value()?.into()),
            "--namespace" => args.options.namespaces.push(value()?),
            "--gpu-node" => {
                let v = value()?;
                let (name, count) = v
                    .split_once('=')
                    .and_then(|(n, c)| Some((n.to_string(), c.parse().ok()?)))
                    .ok_or(format!("--gpu-node {v}: expected NAME=COUNT"))?;
                args.options.nodes.push(NodeSpec { name, gpus: count });
            }
            "--openshift" => args.options.openshift = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    let mut args = match parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("kube-fake: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let token = match dsdl_handler::runtime::secrets::random_token(32) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("kube-fake: {e}");
            return ExitCode::FAILURE;
        }
    };
    args.options.tokens.push((token.clone(), "admin".into()));
    args.options.rules.push(Rule::admin("admin"));
    let fake = match KubeFake::start(args.options) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("kube-fake: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("kube-fake listening on {}", fake.url);
    let writes = [
        (
            args.kubeconfig,
            fake.kubeconfig(&KubeUser::Token(token), "default"),
            "kubeconfig",
        ),
        (args.ca, fake.ca_pem.clone(), "CA certificate"),
    ];
    for (path, text, what) in writes {
        let Some(path) = path else { continue };
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
        let written = parent
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| dsdl_handler::conffile::write_atomic(&path, text.as_bytes(), 0o600));
        if let Err(e) = written {
            eprintln!("kube-fake: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        println!("{what} written to {}", path.display());
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("kube-fake: {e}");
            return ExitCode::FAILURE;
        }
    };
    let _ = runtime.block_on(tokio::signal::ctrl_c());
    drop(fake);
    ExitCode::SUCCESS
}
