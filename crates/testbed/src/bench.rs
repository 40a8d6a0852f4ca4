//! Measurements for `make bench`: figures printed, never asserted.
use std::io::Read;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One cold start of a function binary.
#[derive(Clone, Copy, Debug)]
pub struct Startup {
    /// Process spawn → its first request to the Runtime API (`GET …/invocation/next`).
    pub to_first_poll: Duration,
    /// Peak resident set (VmHWM) at that moment, in KiB: what init cost.
    pub peak_rss_kib: u64,
}

/// Starts `binary` with the Lambda environment pointing at a listener of ours, times it to its
/// first poll, reads its peak RSS, and kills it.
pub fn startup(binary: &Path, env: &[(&str, &str)]) -> std::io::Result<Startup> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let began = Instant::now();
    let mut child = Command::new(binary)
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
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut stream = loop {
        match listener.accept() {
            Ok((stream, _)) => break stream,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if let Some(status) = child.try_wait()? {
                    return Err(std::io::Error::other(format!(
                        "{} exited before its first poll: {status}",
                        binary.display()
                    )));
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(std::io::Error::other(format!(
                        "{} did not poll within 10 s",
                        binary.display()
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
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let _ = stream.read(&mut buf)?;
    let to_first_poll = began.elapsed();
    let peak_rss_kib = peak_rss_kib(child.id()).unwrap_or(0);
    let _ = child.kill();
    let _ = child.wait();
    Ok(Startup {
        to_first_poll,
        peak_rss_kib,
    })
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
