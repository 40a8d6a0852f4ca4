//! A real Prometheus (Debian's 2.42) on a free loopback port, either backfilled from
//! OpenMetrics text (`promtool tsdb create-blocks-from openmetrics`) for deterministic queries
//! at explicit `time=` parameters, or scraping a test exporter.
//!
//! Prometheus cannot bind port 0 and report the port, so a free port is picked by binding :0
//! and releasing it, and the start is retried if another process takes it meanwhile.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::{Error, Result, Supervised, http_get, query_escape};

const START_DEADLINE: Duration = Duration::from_secs(60);
const PORT_ATTEMPTS: usize = 5;

/// A running Prometheus; stopped and its data directory removed when dropped.
pub struct Prometheus {
    // Field order: the process stops before its directory is removed.
    process: Supervised,
    url: String,
    dir: TempDir,
}

impl Prometheus {
    /// Backfills `openmetrics` (OpenMetrics text with sample timestamps in seconds; the final
    /// `# EOF` is added if missing) and serves it. Series in the past stay queryable at
    /// explicit `time=` parameters: retention is counted from the newest block, and set to
    /// 100 years anyway.
    pub fn start_backfilled(openmetrics: &str) -> Result<Prometheus> {
        let dir = TempDir::new("prometheus")?;
        let data = dir.path().join("data.om");
        let mut text = openmetrics.trim_end().to_owned();
        if !text.ends_with("# EOF") {
            text.push_str("\n# EOF");
        }
        text.push('\n');
        write(&data, &text)?;
        let tsdb = dir.path().join("tsdb");
        let out = Command::new("promtool")
            .args(["tsdb", "create-blocks-from", "openmetrics"])
            .arg(&data)
            .arg(&tsdb)
            .output()
            .map_err(|e| Error::new(format!("cannot run promtool: {e}")))?;
        if !out.status.success() {
            return Err(Error::new(format!(
                "promtool tsdb create-blocks-from openmetrics failed ({}):\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Prometheus::serve(dir, "")
    }

    /// Scrapes `target_url` (`http://host:port/path`) every second. The first sample lands
    /// about 5 s after start: Prometheus's discovery manager hands targets over every 5 s.
    pub fn start_scraping(target_url: &str) -> Result<Prometheus> {
        let rest = target_url
            .strip_prefix("http://")
            .ok_or_else(|| Error::new(format!("scrape target is not http://: {target_url}")))?;
        let (target, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/metrics"),
        };
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: test\n    metrics_path: '{path}'\n    \
             static_configs:\n      - targets: ['{target}']\n"
        );
        Prometheus::serve(TempDir::new("prometheus")?, &config)
    }

    fn serve(dir: TempDir, config: &str) -> Result<Prometheus> {
        let config_file = dir.path().join("prometheus.yml");
        write(&config_file, config)?;
        let tsdb = dir.path().join("tsdb");
        let mut last_error = None;
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port()?;
            let url = format!("http://127.0.0.1:{port}");
            let mut process = Supervised::spawn_wrapped(
                "prometheus",
                "prometheus",
                [
                    format!("--config.file={}", config_file.display()),
                    format!("--storage.tsdb.path={}", tsdb.display()),
                    "--storage.tsdb.retention.time=100y".to_owned(),
                    format!("--web.listen-address=127.0.0.1:{port}"),
                ],
            )?;
            // Ready, and ours: another test's Prometheus may have taken the port meanwhile.
            let ours = tsdb.display().to_string();
            let ready = process.wait_until(START_DEADLINE, || {
                let ready = matches!(http_get(&format!("{url}/-/ready")), Ok((200, _)));
                let flags = http_get(&format!("{url}/api/v1/status/flags")).ok()?;
                (ready && flags.1.contains(&ours)).then_some(())
            });
            match ready {
                Ok(()) => return Ok(Prometheus { process, url, dir }),
                Err(e) if e.to_string().contains("address already in use") => last_error = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last_error.expect("at least one attempt"))
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Runs an instant query at `time` (Unix seconds) and returns the response's `data`
    /// (`{"resultType": ..., "result": [...]}`); a non-success answer is an error.
    pub fn query_at(&self, promql: &str, time: f64) -> Result<serde_json::Value> {
        let url = format!(
            "{}/api/v1/query?query={}&time={time}",
            self.url,
            query_escape(promql)
        );
        let (status, body) = http_get(&url)?;
        let mut json: serde_json::Value = serde_json::from_str(&body)
            .map_err(|e| Error::new(format!("{promql}: HTTP {status}, not JSON ({e}): {body}")))?;
        if status != 200 || json["status"] != "success" {
            return Err(Error::new(format!("{promql}: HTTP {status}: {body}")));
        }
        Ok(json["data"].take())
    }

    /// The server's last lines of output (for diagnosing a failed test).
    pub fn output_tail(&self) -> String {
        self.process.output_tail()
    }

    /// Where the TSDB, the config and the OpenMetrics input live (removed on drop).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .map_err(|e| Error::new(format!("cannot bind a loopback port: {e}")))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| Error::new(format!("cannot read the bound port: {e}")))
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| Error::new(format!("write {}: {e}", path.display())))
}

/// A directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(what: &str) -> Result<TempDir> {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        if COUNTER.load(Ordering::Relaxed) == 0 {
            sweep_dead();
        }
        let path = std::env::temp_dir().join(format!(
            "testbed-{what}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        // A leftover from a killed process with a recycled pid: start clean.
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path)
            .map_err(|e| Error::new(format!("create {}: {e}", path.display())))?;
        Ok(TempDir(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

/// Removes the directories of test processes that died without dropping theirs (SIGKILL).
fn sweep_dead() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name
            .to_str()
            .and_then(|n| n.strip_prefix("testbed-prometheus-"))
        else {
            continue;
        };
        let pid = rest.split('-').next().unwrap_or("");
        if !pid.is_empty() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
