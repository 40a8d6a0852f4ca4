//! Supervised child processes that die with the test process.
//!
//! Each child gets a piped stdin that is never written. The write end lives only in this
//! process (std opens pipes close-on-exec), so when the test process exits, however it exits
//! (SIGKILL included), the child sees EOF on stdin. Programs that watch their stdin (our moto
//! gateway) exit on it; programs that do not (prometheus) run under [`Supervised::spawn_wrapped`],
//! a small `sh` wrapper that turns that EOF into a SIGTERM.
//!
//! stdout and stderr are drained by background threads for the child's whole life (a full pipe
//! would block the child). Their last lines are kept for error messages, and the whole output
//! for searching ([`Supervised::output`]; [`outputs`]: every process this test process
//! started, those already stopped included, e.g. to prove no secret reached any of them).

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::{Error, Result};

const TAIL_LINES: usize = 40;

/// How long a stopped child's output may take to be read to its end.
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// A child's whole output (stdout and stderr interleaved as read), and how many of its two
/// streams are still being read.
#[derive(Default)]
struct Output {
    text: String,
    open: usize,
}

/// The output of every child this process started, with its name.
static OUTPUTS: Mutex<Vec<(String, Arc<Mutex<Output>>)>> = Mutex::new(Vec::new());

/// (name, whole output) of every child this test process started, in start order, running
/// or stopped. A stopped child's output is complete (read to its end, or for
/// [`DRAIN_GRACE`] after it stopped).
pub fn outputs() -> Vec<(String, String)> {
    let all = OUTPUTS.lock().unwrap_or_else(|e| e.into_inner());
    all.iter()
        .map(|(name, o)| (name.clone(), lock(o).text.clone()))
        .collect()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// How long [`Drop`] waits for a child to leave after closing its stdin, before SIGKILL.
const EXIT_GRACE: Duration = Duration::from_secs(5);

/// Runs `"$@"` in the background, in its own process group when `setsid` is there, and waits
/// for it; a second background job holds the original stdin (through fd 3: asynchronous lists
/// get /dev/null as stdin otherwise) and at EOF sends SIGTERM to the program's whole group
/// (so that its own children, e.g. cargo's, go too). The wrapper exits with the program, so an
/// early exit (port already taken, bad flag) is seen as such. Written for dash: `kill -s SIG
/// -- -PGID` is the form it accepts.
const WRAPPER: &str = r#"exec 3<&0
if command -v setsid >/dev/null; then setsid "$@" 3<&- </dev/null &
else "$@" 3<&- </dev/null &
fi
pid=$!
{ cat >/dev/null; kill -s TERM -- "-$pid" 2>/dev/null || kill -s TERM "$pid"; } <&3 3<&- >/dev/null 2>&1 &
exec 3<&-
wait "$pid""#;

/// A child process killed when dropped, and when the test process dies.
pub struct Supervised {
    name: String,
    child: Child,
    stdout: Receiver<String>,
    tail: Arc<Mutex<VecDeque<String>>>,
    output: Arc<Mutex<Output>>,
}

impl Supervised {
    /// Spawns `command` (its stdio is taken over). Use for programs that exit at stdin EOF.
    pub fn spawn(name: &str, mut command: Command) -> Result<Supervised> {
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .map_err(|e| Error::new(format!("cannot start {name} ({command:?}): {e}")))?;
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let output = Arc::new(Mutex::new(Output {
            text: String::new(),
            open: 2,
        }));
        lock(&OUTPUTS).push((name.to_owned(), output.clone()));
        let (lines, stdout) = mpsc::channel();
        let out = child.stdout.take().expect("stdout is piped");
        let err = child.stderr.take().expect("stderr is piped");
        drain(out, (tail.clone(), output.clone()), Some(lines));
        drain(err, (tail.clone(), output.clone()), None);
        Ok(Supervised {
            name: name.to_owned(),
            child,
            stdout,
            tail,
            output,
        })
    }

    /// Spawns `program args...` under the stdin-watching `sh` wrapper, for programs that do not
    /// watch their stdin themselves.
    pub fn spawn_wrapped<I, S>(
        name: &str,
        program: impl AsRef<std::ffi::OsStr>,
        args: I,
    ) -> Result<Supervised>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut command = Supervised::wrapped_command(program);
        command.args(args);
        Supervised::spawn(name, command)
    }

    /// A `Command` that runs `program` under the stdin-watching `sh` wrapper: add arguments,
    /// environment and working directory to it (they pass through `sh`), then
    /// [`Supervised::spawn`] it.
    pub fn wrapped_command(program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new("sh");
        command.arg("-c").arg(WRAPPER).arg("sh").arg(program);
        command
    }

    /// The name it was started with.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The OS process id of the direct child (the `sh` wrapper for wrapped programs).
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Waits for a stdout line for which `ready` returns `Some`, and returns that value.
    /// Fails, with the child's output tail, if the child exits or `deadline` passes first.
    /// The first stdout line that is a JSON log record `matches` accepts (the functions log
    /// JSON lines), within `deadline`.
    pub fn wait_for_json(
        &mut self,
        deadline: Duration,
        mut matches: impl FnMut(&serde_json::Value) -> bool,
    ) -> Result<serde_json::Value> {
        self.wait_for_line(deadline, |line| {
            let v: serde_json::Value = serde_json::from_str(line).ok()?;
            matches(&v).then_some(v)
        })
    }

    pub fn wait_for_line<T>(
        &mut self,
        deadline: Duration,
        mut ready: impl FnMut(&str) -> Option<T>,
    ) -> Result<T> {
        let until = Instant::now() + deadline;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.stdout.recv_timeout(left) {
                Ok(line) => {
                    if let Some(value) = ready(&line) {
                        return Ok(value);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    return Err(self.failure(&format!("not ready within {deadline:?}")));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    // stdout closed: the child is exiting; give it a moment to be reaped.
                    let status = self.exit_within(Duration::from_secs(2));
                    return Err(self.failure(&exited(status)));
                }
            }
        }
    }

    /// Polls `ready` every 25 ms until it returns `Some`, failing if the child exits or
    /// `deadline` passes first.
    pub fn wait_until<T>(
        &mut self,
        deadline: Duration,
        mut ready: impl FnMut() -> Option<T>,
    ) -> Result<T> {
        let until = Instant::now() + deadline;
        loop {
            if let Some(value) = ready() {
                return Ok(value);
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(self.failure(&exited(Some(status))));
            }
            if Instant::now() >= until {
                return Err(self.failure(&format!("not ready within {deadline:?}")));
            }
            thread::sleep(Duration::from_millis(25));
        }
    }

    /// SIGKILLs the program now, its whole process group for a wrapped one, and returns once
    /// it is gone: nothing it held (a Runtime API poll that would take the next invocation)
    /// outlives this call. Then reaps the direct child.
    pub fn kill(&mut self) {
        if let Some(group) = session_leader_child(self.child.id()) {
            kill_group(group);
            let until = Instant::now() + Duration::from_secs(10);
            while is_alive(group) && Instant::now() < until {
                thread::sleep(Duration::from_millis(2));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Whether the child has exited (and with what status).
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The last lines the child wrote to stdout and stderr, interleaved as read.
    pub fn output_tail(&self) -> String {
        let tail = lock(&self.tail);
        tail.iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Everything the child wrote to stdout and stderr so far, interleaved as read.
    pub fn output(&self) -> String {
        lock(&self.output).text.clone()
    }

    /// Waits (for [`DRAIN_GRACE`] at most) until both streams of a stopped child are read
    /// to their end.
    fn drained(&self) {
        let until = Instant::now() + DRAIN_GRACE;
        while lock(&self.output).open > 0 && Instant::now() < until {
            thread::sleep(Duration::from_millis(10));
        }
    }

    fn exit_within(&mut self, grace: Duration) -> Option<ExitStatus> {
        let until = Instant::now() + grace;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if Instant::now() < until => thread::sleep(Duration::from_millis(10)),
                _ => return None,
            }
        }
    }

    /// EOF first, so that a wrapped program is stopped by its wrapper (a SIGKILL of the
    /// wrapper alone would orphan it); SIGKILL only if that does not work in time.
    fn stop(&mut self) {
        drop(self.child.stdin.take());
        if self.exit_within(EXIT_GRACE).is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        self.drained();
    }

    fn failure(&mut self, what: &str) -> Error {
        // Stop it now so that the tail is complete and nothing lingers.
        self.stop();
        Error::new(format!(
            "{} {what}; its last output:\n{}",
            self.name,
            self.output_tail()
        ))
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        self.stop();
    }
}

fn exited(status: Option<ExitStatus>) -> String {
    match status {
        Some(status) => format!("exited early ({status})"),
        None => "closed its stdout".to_owned(),
    }
}

fn drain(
    stream: impl Read + Send + 'static,
    (tail, output): (Arc<Mutex<VecDeque<String>>>, Arc<Mutex<Output>>),
    lines: Option<mpsc::Sender<String>>,
) {
    thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            {
                let mut tail = lock(&tail);
                if tail.len() == TAIL_LINES {
                    tail.pop_front();
                }
                tail.push_back(line.clone());
            }
            {
                let mut output = lock(&output);
                output.text.push_str(&line);
                output.text.push('\n');
            }
            if let Some(lines) = &lines {
                // The receiver is gone once the owner is dropped; keep draining regardless.
                let _ = lines.send(line);
            }
        }
        lock(&output).open -= 1;
    });
}

/// The child of `wrapper` that leads a session of its own (the program [`WRAPPER`] starts
/// with `setsid`), if it is there.
pub(crate) fn session_leader_child(wrapper: u32) -> Option<u32> {
    std::fs::read_to_string(format!("/proc/{wrapper}/task/{wrapper}/children"))
        .ok()?
        .split_whitespace()
        .filter_map(|p| p.parse::<u32>().ok())
        .find(|p| session_of(*p) == Some(*p))
}

/// The session id of process `pid` (field 6 of `/proc/<pid>/stat`).
fn session_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; the fields after it do not.
    let after = &stat[stat.rfind(')')? + 2..];
    after.split(' ').nth(3)?.parse().ok()
}

/// Whether `pid` runs (a zombie has finished).
pub(crate) fn is_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let after = s.get(s.rfind(')')? + 2..)?.to_owned();
            after.split(' ').next().map(|state| state != "Z")
        })
        .unwrap_or(false)
}

/// SIGKILLs the process group `pid` leads (the program and whatever it started).
pub(crate) fn kill_group(pid: u32) {
    signal("KILL", &format!("-{pid}"));
}

/// Sends `signal` (`KILL`, `STOP`, …) to `target`, a pid or `-<group>`; one already gone is
/// no error.
pub(crate) fn signal(signal: &str, target: &str) {
    let _ = std::process::Command::new("kill")
        .args(["-s", signal, "--", target])
        .stderr(Stdio::null())
        .status();
}

/// What `command` wrote and how it exited, as [`Command::output`] gives them, or an error
/// naming it when it runs past `deadline` (then it and whatever it started are killed): a
/// helper that hangs fails its test with a message, not at the test runner's timeout.
pub fn output_within(mut command: Command, deadline: Duration) -> Result<std::process::Output> {
    use std::os::unix::process::CommandExt;
    let what = format!("{command:?}");
    let mut child = command
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::new(format!("cannot run {what}: {e}")))?;
    fn read_all(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<Vec<u8>> {
        thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    }
    let stdout = read_all(child.stdout.take().expect("piped stdout"));
    let stderr = read_all(child.stderr.take().expect("piped stderr"));
    let until = Instant::now() + deadline;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < until => thread::sleep(Duration::from_millis(5)),
            waited => {
                kill_group(child.id());
                let _ = child.wait();
                return Err(Error::new(match waited {
                    Err(e) => format!("{what}: {e}"),
                    _ => format!("{what} still running after {deadline:?}: killed"),
                }));
            }
        }
    };
    Ok(std::process::Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}
