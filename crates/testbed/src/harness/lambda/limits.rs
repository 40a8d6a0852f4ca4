//! What Lambda enforces on a function and the emulator does not: its memory size and its
//! timeout, as `infra/template.yaml` sets them.
//!
//! - Memory: the process runs with `RLIMIT_DATA` at the memory size (`ulimit -d`), so an
//!   allocation past it fails (a Rust function aborts, as Lambda's out-of-memory kill ends
//!   it). Not `RLIMIT_AS`: Tokio's and glibc's virtual reservations count against it long
//!   before anything is resident. Not a cgroup: the memory cgroup here is v1 and belongs to
//!   the machine's own process accounting; rlimits need nothing of the host.
//! - Timeout: the function's Runtime API goes through [`Sandbox`], a small proxy in front of
//!   the emulator that sees each invocation handed out; one still unanswered at the timeout
//!   is failed as Lambda fails it ("Task timed out after N.NN seconds") and the process is
//!   killed, as Lambda discards the sandbox. A process that exits mid-invocation fails it with
//!   `Runtime.ExitError` instead of leaving the caller waiting.
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::harness::process::{is_alive, kill_group, session_leader_child};
use crate::harness::{Error, Result};

/// A function's memory size and timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub memory_mb: u64,
    pub timeout: Duration,
}

impl Limits {
    /// `function`'s limits from its crate's `[package.metadata.lambda.deploy]` (`memory`,
    /// `timeout`), which the deploy checks prove equal to the template's `MemorySize` and
    /// `Timeout`; `None` for a binary that is not one of the suite's functions.
    pub fn of_function(function: &str) -> Option<Limits> {
        Limits::from_deploy(crate::harness::cargo::deploy_metadata().get(function)?)
    }

    fn from_deploy(deploy: &serde_json::Value) -> Option<Limits> {
        Some(Limits {
            memory_mb: deploy["memory"].as_u64()?,
            timeout: Duration::from_secs(deploy["timeout"].as_u64()?),
        })
    }

    /// Runs `program` with the memory limit: `sh -c 'ulimit -d KiB; exec "$@"'` (exec, so
    /// the program keeps the pid the limit was set in).
    pub fn command_args(&self, program: &Path) -> Vec<std::ffi::OsString> {
        vec![
            "-c".into(),
            "ulimit -d \"$0\" && exec \"$@\"".into(),
            (self.memory_mb * 1024).to_string().into(),
            program.as_os_str().to_owned(),
        ]
    }
}

/// The Runtime API proxy of one function process: see the module's notes.
pub struct Sandbox {
    port: u16,
    state: Arc<State>,
}

struct State {
    /// `host:port` of the emulator and the path prefix of the function's queue.
    upstream: String,
    prefix: String,
    timeout: Option<Duration>,
    /// The invocation handed out and not yet answered, with when it was.
    current: Mutex<Option<(String, Instant)>>,
    closed: AtomicBool,
}

impl Sandbox {
    /// A proxy for the Runtime API at `runtime_api` (`http://host:port/prefix`), failing each
    /// invocation unanswered after `timeout`.
    pub fn start(runtime_api: &str, timeout: Option<Duration>) -> Result<Sandbox> {
        let rest = runtime_api.trim_start_matches("http://");
        let (upstream, prefix) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let listener = TcpListener::bind("127.0.0.1:0")
            .map_err(|e| Error::new(format!("sandbox proxy: {e}")))?;
        let port = listener.local_addr().map_or(0, |a| a.port());
        let state = Arc::new(State {
            upstream: upstream.to_owned(),
            prefix: prefix.to_owned(),
            timeout,
            current: Mutex::new(None),
            closed: AtomicBool::new(false),
        });
        let accepting = state.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                if accepting.closed.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let state = accepting.clone();
                thread::spawn(move || {
                    let _ = forward(&state, stream);
                });
            }
        });
        Ok(Sandbox { port, state })
    }

    /// `AWS_LAMBDA_RUNTIME_API` for the function process.
    pub fn runtime_api(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Watches the process `wrapper` (the `sh` wrapper the function runs under, whose child
    /// in a session of its own is the function) until it is gone: fails the current
    /// invocation at the timeout and kills the function, fails it when the function exits
    /// mid-invocation, and kills the function when the wrapper was killed alone.
    pub fn watch(self, wrapper: u32) {
        thread::spawn(move || {
            let function = wait_for_function(wrapper);
            loop {
                let alive = function.is_some_and(is_alive) && is_alive(wrapper);
                let current = self.state.current.lock().expect("current").clone();
                match current {
                    Some((id, _)) if !alive => {
                        self.fail(
                            &id,
                            "Runtime.ExitError",
                            "Runtime exited without providing a reason",
                        );
                    }
                    Some((id, began)) => {
                        if let Some(timeout) = self.state.timeout.filter(|t| began.elapsed() > *t) {
                            let message = format!(
                                "{} {id} Task timed out after {:.2} seconds",
                                jiff::Timestamp::now(),
                                timeout.as_secs_f64()
                            );
                            self.fail(&id, "Sandbox.Timedout", &message);
                            if let Some(pid) = function {
                                kill_group(pid);
                            }
                        }
                    }
                    None => {}
                }
                if !alive {
                    if let Some(pid) = function.filter(|p| is_alive(*p)) {
                        kill_group(pid);
                    }
                    self.close();
                    return;
                }
                thread::sleep(Duration::from_millis(20));
            }
        });
    }

    /// Fails invocation `id` at the emulator with `kind` and `message`, as Lambda reports it.
    fn fail(&self, id: &str, kind: &str, message: &str) {
        let body = serde_json::json!({ "errorType": kind, "errorMessage": message }).to_string();
        let head = format!(
            "POST {}/2018-06-01/runtime/invocation/{id}/error HTTP/1.1\r\nhost: {}\r\n\
             content-type: application/json\r\nlambda-runtime-function-error-type: {kind}\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n",
            self.state.prefix,
            self.state.upstream,
            body.len()
        );
        if let Ok(mut s) = TcpStream::connect(&self.state.upstream) {
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(body.as_bytes());
            let _ = s.read_to_end(&mut Vec::new());
        }
        *self.state.current.lock().expect("current") = None;
    }

    fn close(&self) {
        self.state.closed.store(true, Ordering::SeqCst);
        // Wakes the accepting thread so that it sees `closed`.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// One client connection: each request forwarded on a connection of its own to the emulator,
/// its answer returned re-framed with a Content-Length (keep-alive towards the function).
fn forward(state: &State, client: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut client = client;
    // Each answer is two writes (head, body) on a kept-alive connection: without this the
    // body (the event) may wait for the function's delayed ACK.
    client.set_nodelay(true)?;
    while let Some((head, body)) = read_message(&mut reader)? {
        let mut lines = head.lines();
        let request_line = lines.next().unwrap_or_default().to_owned();
        let mut parts = request_line.split(' ');
        let (method, path) = (parts.next().unwrap_or("GET"), parts.next().unwrap_or("/"));
        let mut upstream = TcpStream::connect(&state.upstream)?;
        upstream.set_nodelay(true)?; // head and body are two writes here too
        let mut out = format!("{method} {}{path} HTTP/1.1\r\n", state.prefix);
        for line in lines.filter(|l| !is_framing(l)) {
            out.push_str(line);
            out.push_str("\r\n");
        }
        out.push_str(&format!(
            "content-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        ));
        upstream.write_all(out.as_bytes())?;
        upstream.write_all(&body)?;
        // The function gone while it waits (killed, crashed): its request is withdrawn at
        // once, as its own connection's close would have withdrawn it, so that the emulator
        // does not hand the next invocation to nobody (it drops a poll whose connection
        // closes and keeps the invocation queued for the function's next process). This is
        // the one mechanism: `Supervised::kill` kills the whole group before it returns, so
        // the client's connection is closed by then.
        let answered = Arc::new(AtomicBool::new(false));
        {
            let (client, upstream, answered) =
                (client.try_clone()?, upstream.try_clone()?, answered.clone());
            thread::spawn(move || {
                let gone = matches!(client.peek(&mut [0u8; 1]), Ok(0) | Err(_));
                if gone && !answered.load(Ordering::SeqCst) {
                    let _ = upstream.shutdown(Shutdown::Both);
                }
            });
        }
        let answer = read_message(&mut BufReader::new(&mut upstream));
        answered.store(true, Ordering::SeqCst);
        let (answer_head, answer) =
            answer?.ok_or_else(|| std::io::Error::other("the emulator closed"))?;
        if path.ends_with("/invocation/next") {
            let id = header(&answer_head, "lambda-runtime-aws-request-id");
            *state.current.lock().expect("current") = id.map(|id| (id, Instant::now()));
        } else if path.ends_with("/response") || path.ends_with("/error") {
            *state.current.lock().expect("current") = None;
        }
        let mut back = String::new();
        for line in answer_head.lines().filter(|l| !is_framing(l)) {
            back.push_str(line);
            back.push_str("\r\n");
        }
        back.push_str(&format!("content-length: {}\r\n\r\n", answer.len()));
        client.write_all(back.as_bytes())?;
        client.write_all(&answer)?;
    }
    let _ = client.shutdown(Shutdown::Both);
    Ok(())
}

fn is_framing(line: &str) -> bool {
    let name = line
        .split(':')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    ["content-length", "transfer-encoding", "connection"].contains(&name.as_str())
}

pub(crate) fn header(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_owned())
    })
}

/// One HTTP/1.1 message: its head (start line and headers) and its body (Content-Length,
/// chunked, or to EOF for a response that has neither); `None` at EOF before a message.
pub(crate) fn read_message(
    reader: &mut impl BufRead,
) -> std::io::Result<Option<(String, Vec<u8>)>> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        if line.trim().is_empty() {
            if head.is_empty() {
                continue;
            }
            break;
        }
        head.push_str(line.trim_end());
        head.push('\n');
    }
    let mut body = Vec::new();
    if let Some(n) = header(&head, "content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.resize(n, 0);
        reader.read_exact(&mut body)?;
    } else if header(&head, "transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                .map_err(std::io::Error::other)?;
            let mut chunk = vec![0; n + 2]; // with its CRLF
            reader.read_exact(&mut chunk)?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else if head.starts_with("HTTP/") {
        reader.read_to_end(&mut body)?;
    }
    Ok(Some((head, body)))
}

/// The function: the wrapper's child that leads a session of its own (`setsid`), once it
/// is there; `None` if the wrapper ends first.
fn wait_for_function(wrapper: u32) -> Option<u32> {
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until && is_alive(wrapper) {
        if let Some(leader) = session_leader_child(wrapper) {
            return Some(leader);
        }
        thread::sleep(Duration::from_millis(5));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_memory_and_timeout_from_the_deploy_metadata() {
        let deploy = serde_json::json!({"memory": 256, "timeout": 60, "tracing": "active"});
        assert_eq!(
            Limits::from_deploy(&deploy),
            Some(Limits {
                memory_mb: 256,
                timeout: Duration::from_secs(60)
            })
        );
        assert_eq!(
            Limits::from_deploy(&serde_json::json!({"memory": 256})),
            None
        );
        assert_eq!(
            Limits::of_function("queue-scaler").map(|l| l.memory_mb),
            crate::harness::cargo::deploy_metadata()["queue-scaler"]["memory"].as_u64(),
            "a function of the suite has its limits"
        );
        assert_eq!(Limits::of_function("lambda-probe"), None);
    }
}
