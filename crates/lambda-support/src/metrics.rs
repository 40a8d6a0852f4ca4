//! Metrics without API calls: each invocation ends with CloudWatch Embedded Metric Format
//! records on stdout (one JSON object per line; CloudWatch Logs turns them into metrics of
//! the [`NAMESPACE`]). The function's shell adds its values while it works ([`put`],
//! [`put_resource`]); the AWS HTTP client and the Kubernetes client count their requests
//! ([`api_call`]); [`serve`](crate::serve) adds `Runs`, `Failures` and `Duration` and writes
//! the records when the invocation ends. A Lambda sandbox runs one invocation at a time,
//! so one record per process at a time is the invocation's.
//!
//! A small module rather than a crate: the crates that write EMF (`metrics-cloudwatch-
//! embedded` and the like) bring the `metrics` facade and a recorder installed at init, for
//! what is here a map and a line of JSON.
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

pub mod api;
pub mod catalogue;
pub mod emf;

pub use catalogue::{Metric, NAMESPACE, Per, Unit};

/// Resources with a record of their own per invocation, the first by namespace and name:
/// bounds the custom metrics (and their cost) a scaler with many resources creates. The
/// invocation's totals count them all.
pub const MAX_RESOURCES: usize = 20;

/// Values of one metric in one record (the specification's limit); the rest are dropped.
pub const MAX_VALUES: usize = 100;

/// What one invocation recorded so far.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Invocation {
    /// The invocation's own metrics, each value in the order put.
    pub values: BTreeMap<&'static str, Vec<f64>>,
    /// Per resource, by (namespace, name): the last value of each metric.
    pub resources: BTreeMap<(String, String), BTreeMap<&'static str, f64>>,
    /// Per service: its requests.
    pub calls: BTreeMap<String, Calls>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Calls {
    pub calls: u64,
    pub errors: u64,
}

static CURRENT: Mutex<Invocation> = Mutex::new(Invocation {
    values: BTreeMap::new(),
    resources: BTreeMap::new(),
    calls: BTreeMap::new(),
});

fn current() -> std::sync::MutexGuard<'static, Invocation> {
    CURRENT.lock().unwrap_or_else(|e| e.into_inner())
}

/// Adds a value of the invocation's metric `name` (a name of the function's
/// [`catalogue`]; several values of one name are all kept).
pub fn put(name: &'static str, value: f64) {
    current().values.entry(name).or_default().push(value);
}

/// [`put`] of a count.
pub fn count(name: &'static str, n: usize) {
    put(name, n as f64);
}

/// Sets resource `namespace/name`'s metric `metric` for this invocation.
pub fn put_resource(namespace: &str, name: &str, metric: &'static str, value: f64) {
    let key = (namespace.to_owned(), name.to_owned());
    current()
        .resources
        .entry(key)
        .or_default()
        .insert(metric, value);
}

/// Counts one request to `service` (`sqs`, `kubernetes`…), and whether it failed.
pub fn api_call(service: &str, failed: bool) {
    let mut inv = current();
    let calls = match inv.calls.get_mut(service) {
        Some(c) => c,
        None => inv.calls.entry(service.to_owned()).or_default(),
    };
    calls.calls += 1;
    calls.errors += u64::from(failed);
}

/// Takes what was recorded so far (the next invocation starts empty).
pub fn take() -> Invocation {
    std::mem::take(&mut *current())
}

/// Writes each invocation's records: built once at init from the environment.
#[derive(Clone, Debug)]
pub struct Emitter {
    source: emf::Source,
}

impl Emitter {
    /// `function` is the crate's name (its catalogue). The `Function` dimension is the
    /// Lambda function's name (`AWS_LAMBDA_FUNCTION_NAME`, with the stack's prefix; the
    /// crate's name outside Lambda), `Cluster` is `CLUSTER_NAME` when set.
    pub fn from_env(function: &'static str) -> Emitter {
        let var = |name| {
            std::env::var(name)
                .ok()
                .filter(|v: &String| !v.trim().is_empty())
        };
        Emitter {
            source: emf::Source {
                function: var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|| function.into()),
                catalogue: function,
                cluster: var("CLUSTER_NAME"),
            },
        }
    }

    /// Ends the invocation: its outcome and duration, then every record, one line each,
    /// in one write (no log line lands inside one).
    pub fn finish(&self, ok: bool, elapsed: Duration) {
        put("Runs", f64::from(u8::from(ok)));
        put("Failures", f64::from(u8::from(!ok)));
        put("Duration", elapsed.as_secs_f64() * 1000.0);
        let now = jiff::Timestamp::now().as_millisecond();
        let mut text = String::new();
        for record in emf::records(&self.source, &take(), now) {
            text.push_str(&record.to_string());
            text.push('\n');
        }
        // Metrics are best effort: a closed stdout must not fail the invocation.
        let _ = std::io::stdout().lock().write_all(text.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The only test of the process-wide record: the others test `emf` on values they build.
    #[test]
    fn an_invocation_collects_values_resources_and_calls_then_starts_empty() {
        take();
        put("Step", 1.0);
        count("Step", 2);
        put_resource("apps", "worker", "QueueDepth", 7.0);
        put_resource("apps", "worker", "QueueDepth", 9.0);
        api_call("sqs", false);
        api_call("sqs", true);
        api_call("kubernetes", false);
        let inv = take();
        assert_eq!(inv.values["Step"], [1.0, 2.0]);
        let key = ("apps".to_owned(), "worker".to_owned());
        assert_eq!(
            inv.resources[&key]["QueueDepth"], 9.0,
            "the last value holds"
        );
        assert_eq!(
            inv.calls["sqs"],
            Calls {
                calls: 2,
                errors: 1
            }
        );
        assert_eq!(
            inv.calls["kubernetes"],
            Calls {
                calls: 1,
                errors: 0
            }
        );
        assert_eq!(take(), Invocation::default());
    }
}
