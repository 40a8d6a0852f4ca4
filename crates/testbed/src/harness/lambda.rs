//! The Lambda Runtime API emulator: `cargo lambda watch --only-lambda-apis`, with the real
//! function binaries polling it and `cargo lambda invoke` sending events, as in production
//! minus the sandbox.
//!
//! One emulator serves several functions: each function process polls its own queue at
//! `http://127.0.0.1:PORT/.rt/<name>`, and `cargo lambda invoke <name>` feeds that queue. The
//! emulator only accepts names of binaries in this workspace (it reads `cargo metadata`), so a
//! function's name is its binary's name.
//!
//! Each function process runs with its memory size and timeout from the template, enforced
//! as Lambda enforces them ([`limits`]).
pub mod limits;

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::{Error, Result, Supervised};
pub use limits::Limits;

const START_DEADLINE: Duration = Duration::from_secs(30);
const INVOKE_DEADLINE: Duration = Duration::from_secs(60);

/// A running emulator on a free loopback port; stopped when dropped.
pub struct LambdaEmulator {
    /// Held so the emulator stops when this is dropped.
    _process: Supervised,
    port: u16,
}

impl LambdaEmulator {
    pub fn start() -> Result<LambdaEmulator> {
        // cargo-lambda takes a port, not :0, so pick a free one; a lost race shows as an
        // early exit and is retried.
        let mut last = None;
        for _ in 0..3 {
            let port = free_port()?;
            let mut command = Supervised::wrapped_command("cargo");
            command
                .current_dir(super::repo("")) // where `cargo metadata` finds the functions
                .args([
                    "lambda",
                    "watch",
                    "--only-lambda-apis",
                    "-A",
                    "127.0.0.1",
                    "-P",
                ])
                .arg(port.to_string())
                .env("NO_COLOR", "1");
            let mut process = Supervised::spawn("cargo lambda watch", command)?;
            match process.wait_until(START_DEADLINE, || {
                TcpStream::connect(("127.0.0.1", port)).ok()
            }) {
                Ok(_) => {
                    return Ok(LambdaEmulator {
                        _process: process,
                        port,
                    });
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("three attempts"))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `AWS_LAMBDA_RUNTIME_API` for the function `name`.
    pub fn runtime_api(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}/.rt/{name}", self.port)
    }

    /// Starts the function binary `binary` as `name`, with the environment Lambda gives every
    /// function (JSON logs, its memory size) plus `env` (its configuration and credentials),
    /// limited as the template says for a function of the suite ([`Limits::of_function`]).
    pub fn spawn_function<K: AsRef<str>, V: AsRef<str>>(
        &self,
        name: &str,
        binary: &Path,
        env: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Supervised> {
        self.spawn_limited(name, binary, env, Limits::of_function(name))
    }

    /// [`LambdaEmulator::spawn_function`] with `limits` given (`None`: unlimited).
    pub fn spawn_limited<K: AsRef<str>, V: AsRef<str>>(
        &self,
        name: &str,
        binary: &Path,
        env: impl IntoIterator<Item = (K, V)>,
        limits: Option<Limits>,
    ) -> Result<Supervised> {
        // Another architecture's binary runs under its user-mode emulator, which
        // `SUITE_FUNCTION_RUNNER` names (`qemu-aarch64` for the arm64 build; its
        // `QEMU_LD_PREFIX`, the target's libraries, is passed through). The memory limit is
        // not applied there: it would bound the emulator's own mappings, not the function's.
        let runner = std::env::var_os("SUITE_FUNCTION_RUNNER").filter(|r| !r.is_empty());
        let mut command = match (&runner, limits) {
            (Some(runner), _) => {
                let mut c = Supervised::wrapped_command(runner);
                c.arg(binary);
                c
            }
            (None, Some(limits)) => {
                let mut c = Supervised::wrapped_command("sh");
                c.args(limits.command_args(binary));
                c
            }
            (None, None) => Supervised::wrapped_command(binary),
        };
        command.env_clear();
        if let Some(prefix) = std::env::var_os("QEMU_LD_PREFIX").filter(|_| runner.is_some()) {
            command.env("QEMU_LD_PREFIX", prefix);
        }
        let sandbox = limits::Sandbox::start(&self.runtime_api(name), limits.map(|l| l.timeout))?;
        let memory = limits.map_or(128, |l| l.memory_mb);
        command
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", sandbox.runtime_api())
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory.to_string())
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            // Never fall back to a developer's ~/.aws or to instance metadata.
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_EC2_METADATA_DISABLED", "true");
        for (k, v) in env {
            command.env(k.as_ref(), v.as_ref());
        }
        let process = Supervised::spawn(name, command)?;
        sandbox.watch(process.id());
        Ok(process)
    }

    /// Sends `event` to `name` with `cargo lambda invoke` and waits for the answer: the
    /// function's response, or `Err` with the function's error (or the emulator's).
    pub fn invoke(&self, name: &str, event: &serde_json::Value) -> Result<serde_json::Value> {
        invoke_on(
            self.port,
            name,
            &["--data-ascii"],
            event.to_string().as_ref(),
        )
    }
}

/// `cargo lambda invoke <name>` on the emulator at `port`, the payload given as `flag`s then
/// `data` (`--data-ascii <json>`, `--data-file <path>`): the function's response, or `Err`
/// with its error (or the emulator's, or [`INVOKE_DEADLINE`] passed).
pub(crate) fn invoke_on(
    port: u16,
    name: &str,
    flag: &[&str],
    data: &std::ffi::OsStr,
) -> Result<serde_json::Value> {
    let mut invoke = Command::new("cargo");
    invoke
        .current_dir(super::repo("")) // where `cargo metadata` finds the functions
        .args(["lambda", "invoke", "-A", "127.0.0.1", "-P"])
        .arg(port.to_string())
        .args(["--output-format", "json"])
        .args(flag)
        .arg(data)
        .arg(name)
        .env("NO_COLOR", "1");
    let out = super::process::output_within(invoke, INVOKE_DEADLINE)
        .map_err(|e| Error::new(format!("invoke {name}: {e}")))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(Error::new(format!(
            "invoke {name} failed: {}{}",
            String::from_utf8_lossy(&out.stderr).trim(),
            stdout.trim()
        )));
    }
    serde_json::from_str(stdout.trim()).map_err(|e| {
        Error::new(format!(
            "invoke {name}: response is not JSON ({e}): {stdout}"
        ))
    })
}

impl LambdaEmulator {
    /// Sends `event` to `name` through the emulator's Invoke API
    /// (`POST /2015-03-31/functions/<name>/invocations`) without spawning `cargo lambda
    /// invoke`: for the many invocations of the reliability tests. The function's response,
    /// or `Err` with its error.
    pub async fn invoke_http(
        &self,
        name: &str,
        event: &serde_json::Value,
    ) -> Result<serde_json::Value> {
        use http_body_util::{BodyExt, Full};
        let fail = |what: &str, e: &dyn std::fmt::Display| {
            Error::new(format!("invoke {name}: {what}: {e}"))
        };
        let stream = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .map_err(|e| fail("connect", &e))?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(|e| fail("handshake", &e))?;
        tokio::spawn(connection);
        let request = http::Request::post(format!("/2015-03-31/functions/{name}/invocations"))
            .header("host", format!("127.0.0.1:{}", self.port))
            .header("content-type", "application/json")
            .body(Full::new(bytes::Bytes::from(event.to_string())))
            .map_err(|e| fail("request", &e))?;
        let response = tokio::time::timeout(INVOKE_DEADLINE, sender.send_request(request))
            .await
            .map_err(|e| fail("deadline", &e))?
            .map_err(|e| fail("send", &e))?;
        let failed = !response.status().is_success()
            || response.headers().contains_key("x-amz-function-error");
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| fail("body", &e))?
            .to_bytes();
        let text = String::from_utf8_lossy(&body);
        if failed {
            return Err(Error::new(format!("invoke {name} failed: {text}")));
        }
        serde_json::from_str(&text).map_err(|e| fail("response is not JSON", &e))
    }
}

fn free_port() -> Result<u16> {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| Error::new(format!("no free loopback port: {e}")))
}
