//! Measurements for `make bench`: figures printed, never asserted.
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub mod cold;
pub mod link_order;

/// One cold start of a function binary.
#[derive(Clone, Copy, Debug)]
pub struct Startup {
    /// Process spawn → its first request to the Runtime API (`GET …/invocation/next`).
    pub to_first_poll: Duration,
    /// Peak resident set (VmHWM) at that moment, in KiB: what init cost.
    pub peak_rss_kib: u64,
}

/// The six function binaries and the settings each needs beyond [`startup_env`] to reach its
/// first Runtime API poll (what `make bench` and `make link-order` start them with).
pub const FUNCTIONS: [(&str, &[(&str, &str)]); 6] = [
    ("alarm-scaler", &[]),
    (
        "alarm-sync",
        &[("SNS_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:bench")],
    ),
    ("iam-sync", &[]),
    (
        "node-autoscaler",
        &[
            ("MASTER_TAG_KEY", "k3s-role"),
            ("MASTER_TAG_VALUE", "master"),
            ("WORKER_TAG_KEY", "k3s-role"),
            ("WORKER_TAG_VALUE", "worker"),
            ("WORKER_SUBNET_IDS", "subnet-1,subnet-2"),
            ("WORKER_SG_ID", "sg-1"),
            ("WORKER_AMI_ID", "ami-1"),
            ("K3S_CLUSTER_TOKEN_PARAM", "/k3s/cluster-token"),
            ("K8S_API_TOKEN_PARAM", "/k3s/api-token"),
            ("STATE_TABLE", "bench-state"),
            ("LOGS_TABLE", "bench-logs"),
        ],
    ),
    ("concurrency-scaler", &[]),
    ("queue-scaler", &[]),
];

/// The settings every function needs to start (a cluster that is never called: init makes no
/// remote call), `extra` appended.
pub fn startup_env(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    use base64::Engine;
    let ca =
        base64::engine::general_purpose::STANDARD.encode(crate::harness::cluster::other_ca_pem());
    [
        ("CLUSTER_NAME", "bench".to_string()),
        ("API_SERVER", "https://127.0.0.1:6443".to_string()),
        ("CERT_AUTHORITY", ca),
        ("AWS_REGION", "us-east-1".to_string()),
        ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "bench".to_string()),
        ("AWS_SESSION_TOKEN", "bench".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .chain(extra.iter().map(|&(k, v)| (k.to_string(), v.to_string())))
    .collect()
}

/// Starts `binary` with the Lambda environment pointing at a listener of ours, times it to its
/// first poll, reads its peak RSS, and kills it.
pub fn startup(binary: &Path, env: &[(&str, &str)]) -> std::io::Result<Startup> {
    let (to_first_poll, peak_rss_kib) =
        at_first_poll(binary, env, |pid| peak_rss_kib(pid).unwrap_or(0))?;
    Ok(Startup {
        to_first_poll,
        peak_rss_kib,
    })
}

/// Starts `binary` as [`until_first_poll`] does, reads `at_poll(pid)` while it is in its first
/// poll, and kills it; with the time from spawn to that poll.
fn at_first_poll<T>(
    binary: &Path,
    env: &[(&str, &str)],
    at_poll: impl FnOnce(u32) -> T,
) -> std::io::Result<(Duration, T)> {
    let began = Instant::now();
    let mut polling = until_first_poll(Command::new(binary), env, Duration::from_secs(10))?;
    let to_first_poll = began.elapsed();
    let read = at_poll(polling.child.id());
    let _ = polling.child.kill();
    let _ = polling.child.wait();
    Ok((to_first_poll, read))
}

/// `env` (as [`startup_env`] gives it) as the pairs [`startup`] and [`until_first_poll`] take.
pub fn env_pairs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// A process started by [`until_first_poll`], blocked in its first Runtime API poll.
pub struct Polling {
    pub child: Child,
    /// The poll's connection, held open so the process stays in it.
    pub poll: TcpStream,
}

/// Spawns `command` (a function binary, or a tool wrapping one) with the Lambda environment
/// pointing at a Runtime API listener of ours, `env` added, and returns once its first poll's
/// request has arrived, or with an error when it exits first or does not poll within `wait`.
pub fn until_first_poll(
    mut command: Command,
    env: &[(&str, &str)],
    wait: Duration,
) -> std::io::Result<Polling> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let program = command.get_program().to_string_lossy().into_owned();
    let mut child = command
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"))
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    // A function whose init fails exits instead of polling: report that, do not hang.
    listener.set_nonblocking(true)?;
    let deadline = Instant::now() + wait;
    let mut stream = loop {
        match listener.accept() {
            Ok((stream, _)) => break stream,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if let Some(status) = child.try_wait()? {
                    return Err(std::io::Error::other(format!(
                        "{program} exited before its first poll: {status}"
                    )));
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(std::io::Error::other(format!(
                        "{program} did not poll within {wait:?}"
                    )));
                }
                std::thread::sleep(Duration::from_micros(50));
            }
            Err(e) => return Err(e),
        }
    };
    stream.set_nonblocking(false)?;
    // The poll is complete once its request line has arrived.
    let mut buf = [0u8; 64];
    stream.set_read_timeout(Some(wait))?;
    let _ = stream.read(&mut buf)?;
    Ok(Polling {
        child,
        poll: stream,
    })
}

/// Peak RSS (KiB) at `binary`'s first poll, and the KiB resident then in each of its mappings,
/// largest first ([`resident_by_mapping`]): where a peak RSS of [`startup`] comes from. With
/// `cached`, the binary is read whole first, as `make bench`'s zip step reads it: a page fault
/// maps the neighbouring pages the page cache holds (fault-around), so what is resident depends
/// on the cache's state as well as on the code run.
pub fn resident_at_first_poll(
    binary: &Path,
    env: &[(&str, &str)],
    cached: bool,
) -> std::io::Result<(u64, Vec<(String, u64)>)> {
    if cached {
        std::fs::read(binary)?;
    }
    let (_, (peak, smaps)) = at_first_poll(binary, env, |pid| {
        let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps"));
        (peak_rss_kib(pid).unwrap_or(0), smaps)
    })?;
    Ok((peak, resident_by_mapping(&smaps?, binary)))
}

/// `/proc/<pid>/smaps` summed by mapping, `<file name> <permissions>` (`binary` for `binary`
/// itself, `[anon]` for an anonymous one), largest first.
pub fn resident_by_mapping(smaps: &str, binary: &Path) -> Vec<(String, u64)> {
    let mut resident = std::collections::BTreeMap::<String, u64>::new();
    let mut mapping = None;
    for line in smaps.lines() {
        match line.split_whitespace().collect::<Vec<_>>()[..] {
            ["Rss:", kib, ..] => {
                if let (Some(m), Ok(kib)) = (&mapping, kib.parse::<u64>()) {
                    *resident.entry(String::clone(m)).or_default() += kib;
                }
            }
            [range, perms, _, _, _, ref path @ ..] if range.contains('-') => {
                let file = match path.first() {
                    None => "[anon]",
                    Some(p) if Path::new(p) == binary => "binary",
                    Some(p) => p.rsplit('/').next().unwrap_or(p),
                };
                mapping = Some(format!("{file} {perms}"));
            }
            _ => {}
        }
    }
    let mut resident: Vec<(String, u64)> = resident.into_iter().collect();
    resident.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    resident
}

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// One cold start, whole: spawn → the first invocation's response; then the same work warm.
#[derive(Clone, Debug)]
pub struct ColdStart {
    /// Process spawn → its response to the first invocation (`POST …/response` received).
    pub to_response: Duration,
    /// The same work invoked again on the same process, warm: event handed out → its
    /// response, the median of the warm invocations asked for (one warm invocation's time
    /// varies by more than being cold costs some functions: node-autoscaler's warm work,
    /// ~50 ms of calls, ran 30–80 ms, where its cold extra is ~10 ms). `to_response − warm`
    /// is what being cold cost ([`ColdStart::cold_extra`]).
    pub warm: Duration,
    /// Peak resident set (VmHWM) once it has answered the first invocation, in KiB.
    pub peak_rss_kib: u64,
    /// The first response: what the invocation did.
    pub response: String,
}

impl ColdStart {
    /// What being cold added to the first invocation: the whole cold start less the same
    /// work done warm (start-up, credentials, clients, first connections and handshakes).
    /// This compares like with like across programs whose invocations do different work.
    pub fn cold_extra(&self) -> Duration {
        self.to_response.saturating_sub(self.warm)
    }
}

/// One answer of a function to [`first_invocation`]'s Runtime API: when its invocation was
/// handed out, when the answer arrived, and the answer (a response, or an error's text).
struct Answer {
    handed_out: Instant,
    received: Instant,
    result: Result<String, String>,
}

/// Starts `command` (a function: its program and arguments, its own environment added) with
/// a Runtime API of ours that hands it `event` as its first invocation and then each of
/// `warm_events` (the same work), each [`SCHEDULE_GAP`] after the answer before it; times the
/// first to its response from spawn and each warm one from its hand-out, reads its peak RSS
/// after the first, and kills it. An error answer or an early exit is an error.
pub fn first_invocation(
    mut command: Command,
    event: &serde_json::Value,
    warm_events: &[serde_json::Value],
) -> std::io::Result<ColdStart> {
    use std::sync::{Arc, mpsc};
    if warm_events.is_empty() {
        return Err(std::io::Error::other("no warm invocation asked for"));
    }
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let (answers, answered) = mpsc::channel::<Answer>();
    let events: Arc<Vec<String>> = Arc::new(
        std::iter::once(event)
            .chain(warm_events)
            .map(|e| e.to_string())
            .collect(),
    );
    let handed_out = Arc::new(HandedOut::default());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let (answers, events, handed_out) =
                (answers.clone(), events.clone(), handed_out.clone());
            std::thread::spawn(move || serve_runtime_api(stream, &events, &handed_out, &answers));
        }
    });
    let log = function_log(&mut command);
    NEW_TOKEN_SECOND.wait();
    let began = Instant::now();
    let mut child = command
        .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"))
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(Stdio::null())
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let next_answer = |child: &mut std::process::Child| loop {
        match answered.recv_timeout(Duration::from_millis(1)) {
            Ok(Answer {
                handed_out,
                received,
                result,
            }) => return result.map(|response| (handed_out, received, response)),
            Err(_) if Instant::now() > deadline => return Err("no answer within 30 s".into()),
            Err(_) => match child.try_wait() {
                Ok(Some(status)) => return Err(format!("exited before answering: {status}")),
                Ok(None) => {}
                Err(e) => return Err(e.to_string()),
            },
        }
    };
    let first = next_answer(&mut child);
    NEW_TOKEN_SECOND.signed_by_now();
    let peak_rss_kib = peak_rss_kib(child.id()).unwrap_or(0);
    let warm: Result<Vec<Duration>, String> = first.as_ref().map_err(Clone::clone).and_then(|_| {
        (0..warm_events.len())
            .map(|_| next_answer(&mut child).map(|(out, back, _)| back.duration_since(out)))
            .collect()
    });
    let _ = child.kill();
    let _ = child.wait();
    // The program only: the environment holds the credentials.
    let program = command.get_program().to_string_lossy().into_owned();
    let failed = |e: String| std::io::Error::other(format!("{program}: {e}"));
    let (_, first, response) = first.map_err(failed)?;
    let mut warm = warm.map_err(|e| failed(format!("a warm invocation: {e}")))?;
    warm.sort();
    let (warm, _, _) = median_iqr(&warm);
    Ok(ColdStart {
        to_response: first.duration_since(began),
        warm,
        peak_rss_kib,
        response,
    })
}

/// The wall-clock second by which the last measured process had signed its first token.
/// An EKS token is a presigned URL whose `X-Amz-Date` has whole seconds, so two processes
/// with the same credentials signing in the same second present the same token, and
/// kube-apiserver caches a token it has verified for 10 s whatever the webhook's cache TTL
/// (`TokenSuccessCacheTTL`, no flag; k8s.io/kubernetes `pkg/kubeapiserver/options`). Run
/// back to back, about half the cold starts presented the token the process before them had
/// had verified: their first request took ~2 ms where a new token's took ~10–22 ms, and the
/// cold extras were two-humped. A new sandbox signs a token never presented before, so each
/// process starts in a later second than the one before it signed in.
static NEW_TOKEN_SECOND: NewTokenSecond = NewTokenSecond(std::sync::Mutex::new(0));

/// Unix seconds, on the clock that dates tokens (the wall clock).
struct NewTokenSecond(std::sync::Mutex<i64>);

impl NewTokenSecond {
    /// Blocks until the wall clock is past the second the last process signed by.
    fn wait(&self) {
        let last = *self.0.lock().unwrap_or_else(|e| e.into_inner());
        // Milliseconds are floored, so this never wakes before the next second.
        let left = (last + 1) * 1000 - jiff::Timestamp::now().as_millisecond();
        if let Ok(left @ 1..) = u64::try_from(left) {
            std::thread::sleep(Duration::from_millis(left));
        }
    }

    /// The process has answered, so whatever it signed for its first invocation was signed by
    /// now.
    fn signed_by_now(&self) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = jiff::Timestamp::now().as_second();
    }
}

/// How long the warm invocation waits after the cold one's answer before it is handed out
/// (its time is counted from the hand-out). A consistent LIST (kube-apiserver ≥ 1.31,
/// `ConsistentListFromCache`) of a resource whose watch cache has not yet seen etcd's latest
/// revision waits for a watch progress notification, which the apiserver requests at most
/// once per 100 ms (`progressRequestPeriod`, k8s.io/apiserver `cacher/progress`). Handed out
/// back to back, queue-scaler's warm HPA list waited ~70 ms for it in every run (a debug
/// trace of its calls: 66–79 ms, against 2–4 ms cold), more than being cold cost; 300 ms
/// apart it did not. A scheduled function is invoked a minute apart, never back to back.
const SCHEDULE_GAP: Duration = Duration::from_millis(300);

/// Where a measured function's log goes: nowhere, or with `SUITE_BENCH_FUNCTION_LOG=<level>`
/// (`debug`: every HTTP connection and SDK phase) to suite-bench's stderr at that level, so
/// that where a cold start's time goes can be read off a timestamped copy
/// (`2>&1 >/dev/null | ts -s %.s`, moreutils); the figures of such a run are not quiet ones.
fn function_log(command: &mut Command) -> Stdio {
    let Ok(level) = std::env::var("SUITE_BENCH_FUNCTION_LOG") else {
        return Stdio::null();
    };
    command.env("RUST_LOG", level);
    std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .map_or_else(|_| Stdio::null(), Stdio::from)
}

/// The invocations [`first_invocation`]'s Runtime API has handed out, across connections (a
/// function may poll on one and answer on another): how many, and when the last one went.
#[derive(Default)]
struct HandedOut(std::sync::Mutex<(usize, Option<Instant>)>);

/// One connection of a function to [`first_invocation`]'s Runtime API: the polls (on any
/// connection) get `events` in turn, later ones are held (the process is killed first); each
/// response or error answer is reported with its invocation's hand-out time.
fn serve_runtime_api(
    stream: std::net::TcpStream,
    events: &[String],
    handed_out: &HandedOut,
    answers: &std::sync::mpsc::Sender<Answer>,
) {
    use std::io::{BufReader, Write};
    let Ok(reader) = stream.try_clone() else {
        return;
    };
    let _ = stream.set_nodelay(true);
    let (mut reader, mut writer) = (BufReader::new(reader), stream);
    while let Ok(Some((head, body))) = crate::harness::lambda::limits::read_message(&mut reader) {
        let path = head.split(' ').nth(1).unwrap_or_default().to_owned();
        let result = if path.ends_with("/invocation/next") {
            let mut out = handed_out.0.lock().unwrap_or_else(|e| e.into_inner());
            let n = out.0;
            let Some(event) = events.get(n) else {
                return; // held: the process is killed after its last answer
            };
            if n >= 1 {
                std::thread::sleep(SCHEDULE_GAP);
            }
            *out = (n + 1, Some(Instant::now()));
            drop(out);
            let deadline = jiff::Timestamp::now().as_millisecond() + 60_000;
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                 lambda-runtime-aws-request-id: bench-{n}\r\nlambda-runtime-deadline-ms: {deadline}\r\n\
                 lambda-runtime-invoked-function-arn: arn:aws:lambda:us-east-1:123456789012:function:bench\r\n\
                 lambda-runtime-trace-id: Root=1-00000000-000000000000000000000000\r\n\
                 content-length: {}\r\n\r\n",
                event.len()
            );
            // One write: the event in a second segment would wait for the client's delayed
            // ACK (Nagle), ~40 ms on a kept-alive connection, which would count as the
            // function's time.
            let _ = writer.write_all(format!("{head}{event}").as_bytes());
            continue;
        } else if path.ends_with("/response") {
            Ok(String::from_utf8_lossy(&body).into_owned())
        } else {
            let text = String::from_utf8_lossy(&body);
            Err(format!("{path}: {text}"))
        };
        let received = Instant::now();
        let _ = writer.write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 2\r\n\r\n{}");
        let _ = answers.send(Answer {
            handed_out: handed_out
                .0
                .lock()
                .map_or(received, |o| o.1.unwrap_or(received)),
            received,
            result,
        });
    }
}

/// Runs `sample` `runs` times and returns the samples sorted (median at `len / 2`).
pub fn sorted<T: Ord>(runs: usize, mut sample: impl FnMut() -> T) -> Vec<T> {
    let mut all: Vec<T> = (0..runs).map(|_| sample()).collect();
    all.sort();
    all
}

/// Median and interquartile spread of sorted samples.
pub fn median_iqr<T: Copy>(sorted: &[T]) -> (T, T, T) {
    let n = sorted.len();
    (sorted[n / 2], sorted[n / 4], sorted[(3 * n) / 4])
}

/// Wall time of one whole process run (spawn to exit), failing if it fails.
pub fn process_time(command: &mut Command) -> std::io::Result<Duration> {
    let began = Instant::now();
    let status = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    let elapsed = began.elapsed();
    if !status.success() {
        return Err(std::io::Error::other(format!(
            "{command:?} failed: {status}"
        )));
    }
    Ok(elapsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resident_pages_are_summed_by_file_and_permissions() {
        let smaps = "\
5600-5700 r--p 00000000 08:01 42   /opt/fn/bootstrap
Rss:                 100 kB
VmFlags: rd mr mw me
5700-5900 r-xp 00100000 08:01 42   /opt/fn/bootstrap
Rss:                 468 kB
7f00-7f10 r-xp 00000000 08:01 7    /usr/lib/x86_64-linux-gnu/libc.so.6
Rss:                 984 kB
7f20-7f30 rw-p 00000000 00:00 0
Rss:                   8 kB
7f30-7f40 r--p 00200000 08:01 42   /opt/fn/bootstrap
Rss:                  24 kB
";
        let by = resident_by_mapping(smaps, Path::new("/opt/fn/bootstrap"));
        let by: Vec<(&str, u64)> = by.iter().map(|(m, k)| (m.as_str(), *k)).collect();
        assert_eq!(
            by,
            [
                ("libc.so.6 r-xp", 984),
                ("binary r-xp", 468),
                ("binary r--p", 124),
                ("[anon] rw-p", 8),
            ]
        );
    }
}
