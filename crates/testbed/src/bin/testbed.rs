//! `testbed serve`: the local Kubernetes API server, standalone (for `make demo`).
//!
//! ```text
//! testbed serve [--addr 127.0.0.1:0] [--cluster-name testbed] [--region us-east-1]
//!               [--sts-endpoint http://127.0.0.1:PORT] [--manifests PATH...]
//!               [--kubeconfig OUT] [--admin-token TOKEN] [--node NAME[=INSTANCE_ID]]...
//!               [--exec-command eks-token]
//! ```
//!
//! Prints exactly one line on stdout, `ready <url>`, once it serves; logs go to stderr. The
//! kubeconfig has context `eks` (current; exec plugin `eks-token --cluster-name NAME
//! --region R`) and context `admin` (static admin token). Exits 0 on SIGTERM or SIGINT, and
//! when its stdin is a pipe or socket that reaches EOF (its parent went away); a terminal or
//! /dev/null on stdin does not stop it.
use std::io::{BufRead, Write};
use std::os::unix::fs::FileTypeExt;
use std::path::PathBuf;
use std::process::ExitCode;

use testbed::apiserver::{NodeSpec, Testbed, TestbedConfig};

const USAGE: &str = "usage: testbed serve [--addr ADDR] [--cluster-name NAME] [--region R] \
[--sts-endpoint URL] [--manifests PATH...] [--kubeconfig OUT] [--admin-token TOKEN] \
[--node NAME[=INSTANCE_ID]]... [--exec-command CMD]";

struct Args {
    cfg: TestbedConfig,
    kubeconfig: Option<PathBuf>,
    exec_command: String,
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    match args.next().as_deref() {
        Some("serve") => {}
        Some("-h" | "--help") | None => return Err(USAGE.into()),
        Some(other) => return Err(format!("unknown command {other:?}\n{USAGE}")),
    }
    let mut a = Args {
        cfg: TestbedConfig::default(),
        kubeconfig: None,
        exec_command: "eks-token".into(),
    };
    let mut args = args.peekable();
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--addr" => a.cfg.addr = value()?.parse().map_err(|e| format!("--addr: {e}"))?,
            "--cluster-name" => a.cfg.cluster_name = value()?,
            "--region" => a.cfg.region = value()?,
            "--sts-endpoint" => a.cfg.sts_endpoint = Some(value()?),
            "--kubeconfig" => a.kubeconfig = Some(PathBuf::from(value()?)),
            "--admin-token" => a.cfg.admin_token = Some(value()?),
            "--exec-command" => a.exec_command = value()?,
            "--node" => {
                let v = value()?;
                let (name, id) = v.split_once('=').unwrap_or((&v, ""));
                let mut spec = NodeSpec::new(name);
                if !id.is_empty() {
                    spec = spec.instance(id);
                }
                a.cfg.nodes.push(spec);
            }
            "--manifests" => {
                let before = a.cfg.manifests.len();
                while let Some(p) = args.next_if(|p| !p.starts_with("--")) {
                    a.cfg.manifests.push(PathBuf::from(p));
                }
                if a.cfg.manifests.len() == before {
                    return Err("--manifests needs at least one path".into());
                }
            }
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown flag {other:?}\n{USAGE}")),
        }
    }
    Ok(a)
}

/// Stdin EOF means "parent gone" only when stdin is a pipe or socket.
fn stdin_is_pipe() -> bool {
    std::fs::metadata("/proc/self/fd/0")
        .map(|m| m.file_type().is_fifo() || m.file_type().is_socket())
        .unwrap_or(false)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let tb = match Testbed::start(args.cfg).await {
        Ok(tb) => tb,
        Err(e) => {
            eprintln!("testbed: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(path) = &args.kubeconfig
        && let Err(e) = std::fs::write(path, tb.kubeconfig_yaml(&args.exec_command))
    {
        eprintln!("testbed: writing {}: {e}", path.display());
        return ExitCode::FAILURE;
    }
    eprintln!(
        "testbed: serving {} for cluster {} (contexts: eks, admin)",
        tb.url(),
        tb.cluster_name()
    );
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "ready {}", tb.url());
        let _ = out.flush();
    }

    let (eof_tx, mut eof_rx) = tokio::sync::mpsc::channel::<()>(1);
    if stdin_is_pipe() {
        std::thread::spawn(move || {
            let mut sink = String::new();
            let mut stdin = std::io::stdin().lock();
            while stdin.read_line(&mut sink).map(|n| n > 0).unwrap_or(false) {
                sink.clear();
            }
            let _ = eof_tx.blocking_send(());
        });
    }
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("testbed: {e}");
            return ExitCode::FAILURE;
        }
    };
    let why = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = tokio::signal::ctrl_c() => "SIGINT",
        Some(()) = eof_rx.recv() => "stdin closed",
    };
    eprintln!("testbed: {why}, stopping");
    drop(tb);
    ExitCode::SUCCESS
}
