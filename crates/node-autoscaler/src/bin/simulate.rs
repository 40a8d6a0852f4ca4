//! Replays workload traces through the same `decide` the Lambda runs, on a simulated
//! cluster, for this policy and two baselines, and reports pending-pod-seconds, node-hours
//! and scaling actions; writes one SVG per trace (nodes and demand over time per policy).
//!
//! ```sh
//! cargo run -p node-autoscaler --bin simulate -- [--out DIR] [--tuned] [--set NAME=VALUE ...] [TRACE.csv ...]
//! ```
//! Default: the five shipped traces (`crates/node-autoscaler/traces/`), SVGs beside them.
//! `--set` changes one of this policy's variables (`HEADROOM_PODS=4`,
//! `FORECAST_PERIOD_SEC=3600`: the forecast, its history kept from run to run as the
//! Lambda keeps it in DynamoDB), `--tuned` sets [`TUNED`]'s (a `--set` after it wins);
//! without them, this
//! policy is the shipped defaults (`Config::from_env` with the required variables only,
//! `MAX_WORKERS` 30). A trace line is `minute,pods,interruptions[,stuck]`: `stuck` pods
//! request more CPU than a worker has and never schedule.
//!
//! Model ([`model`]): pods request 500m CPU and 768 MiB; a worker offers 2 CPU and 4 GiB, so
//! 4 pods. The scheduler places each pending pod, oldest first, on the Ready node with the
//! most room (kube-scheduler's default LeastAllocated); fewer pods are deleted as a
//! ReplicaSet does (pending first, then from the node running the most). A launched worker
//! is Ready 3 minutes later (every policy). A removed worker is cordoned, its pods evicted
//! and recreated pending at once (placed on the others if they fit), and it is paid for 1
//! minute more (drain, termination). A Spot warning takes a worker away 2 minutes later;
//! this policy cordons, drains and replaces it at the warning, the baselines notice nothing
//! until its pods are pending. Pending pod-seconds count the pods a worker could host.
//! Baselines, as `decide` parameters:
//! - **seed**: the seed's policy — a fixed guess of 8 pods per node (the real fit is 4),
//!   whatever a pod requests (so it sizes a stuck pod as a small one and launches for it:
//!   it read Prometheus's Pending count), one cooldown (300 s) for both directions,
//!   pending 180 s; down when CPU has been under 30 % for 600 s, any worker whose pods fit
//!   on the others.
//! - **ca**: Cluster Autoscaler's defaults — `decide` every 10 s (scan-interval; the others
//!   run once a minute, the schedule's rate), unschedulable pods count at once
//!   (new-pod-scale-up-delay 0 s) and are packed by the same first-fit-decreasing estimate,
//!   no batch limit, no CPU trigger; a node is unneeded under 50 % utilisation by requests
//!   (scale-down-utilization-threshold) when its pods fit elsewhere, and goes after 10 min
//!   unneeded (scale-down-unneeded-time), not within 10 min of a scale-up
//!   (scale-down-delay-after-add), the next removal one scan later
//!   (scale-down-delay-after-delete), up to 10 empty nodes at once (max-empty-bulk-delete)
//!   and one non-empty node at a time.
use std::path::{Path, PathBuf};
use std::time::Duration;

use lambda_support::Env;
use node_autoscaler::config::{Config, PLACEHOLDERS};
use node_autoscaler::decide::Policy;
use node_autoscaler::decide::forecast::Forecast;

#[path = "simulate/model.rs"]
mod model;
#[path = "simulate/svg.rs"]
mod svg;

use model::{Report, simulate};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    This,
    Seed,
    Ca,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::This => "this policy",
            Kind::Seed => "seed",
            Kind::Ca => "ca-like",
        }
    }

    /// Seconds between two runs: the Lambda's schedule (1 min), CA's scan-interval (10 s).
    fn tick(self) -> i64 {
        match self {
            Kind::Ca => 10,
            _ => 60,
        }
    }

    /// This policy's configuration: the shipped defaults, `MAX_WORKERS` 30, `set` over them.
    fn config(set: &[(String, String)]) -> Result<Config, String> {
        let mut env: Vec<(String, String)> = PLACEHOLDERS
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        env.push(("MAX_WORKERS".into(), "30".into()));
        env.extend(set.iter().cloned());
        Config::from_env(Env::from_pairs(env)).map_err(|e| e.to_string())
    }

    /// The forecast: this policy's (`FORECAST_PERIOD_SEC` in `set`); the baselines have none.
    fn forecast(self, set: &[(String, String)]) -> Result<Forecast, String> {
        match self {
            Kind::This => Ok(Kind::config(set)?.forecast),
            _ => Ok(Forecast::default()),
        }
    }

    /// The policy; `set` overrides this policy's variables.
    fn policy(self, set: &[(String, String)]) -> Result<Policy, String> {
        let s = Duration::from_secs;
        Ok(match self {
            Kind::This => Kind::config(set)?.policy,
            Kind::Seed => Policy {
                cpu_up: 70.0,
                cpu_down: 30.0,
                pending_up: s(180),
                idle_down: s(600),
                cpu_guard: true,
                min: 1,
                max: 30,
                cooldown_up: s(300),
                cooldown_down: s(300),
                cooldown_after_down: s(300),
                batch_up: 30,
                batch_down: 1,
                batch_down_empty: 1,
                pods_per_node: None,
                utilisation_down: f64::INFINITY,
                unneeded_down: s(0),
                headroom_pods: 0,
            },
            Kind::Ca => Policy {
                cpu_up: f64::INFINITY,
                cpu_down: 0.0,
                pending_up: s(0),
                idle_down: s(0),
                cpu_guard: false,
                min: 1,
                max: 30,
                cooldown_up: s(0),
                cooldown_down: s(600),
                cooldown_after_down: s(Kind::Ca.tick() as u64),
                batch_up: 30,
                batch_down: 1,
                batch_down_empty: 10,
                pods_per_node: None,
                utilisation_down: 0.5,
                unneeded_down: s(600),
                headroom_pods: 0,
            },
        })
    }
}

/// Settings the figures favour over the shipped defaults (docs/node-autoscaler.md,
/// Simulator): no launch limit below `MAX_WORKERS`, two free pod slots, removal after 3
/// unneeded minutes under 50 % (CA's threshold), and the forecast: an hourly repeat seen in both of the last
/// two hours is met 3 minutes (a worker's join) ahead.
const TUNED: &[(&str, &str)] = &[
    ("SCALE_UP_BATCH", "30"),
    ("HEADROOM_PODS", "2"),
    ("SCALE_DOWN_UNNEEDED_SEC", "180"),
    ("SCALE_DOWN_UTILIZATION_THRESHOLD", "0.5"),
    ("FORECAST_PERIOD_SEC", "3600"),
    ("FORECAST_LOOKAHEAD_SEC", "180"),
    ("FORECAST_PERIODS", "2"),
];

#[derive(Clone, Copy, Debug)]
struct Step {
    minute: i64,
    pods: u64,
    interruptions: u32,
    /// Pods no worker could host (never scheduled).
    stuck: u64,
}

fn read_trace(path: &Path) -> Result<Vec<Step>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut steps = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split(',').collect();
        let bad = || {
            format!(
                "{}:{}: expected minute,pods,interruptions[,stuck]",
                path.display(),
                n + 1
            )
        };
        if !(3..=4).contains(&f.len()) {
            return Err(bad());
        }
        steps.push(Step {
            minute: f[0].trim().parse().map_err(|_| bad())?,
            pods: f[1].trim().parse().map_err(|_| bad())?,
            interruptions: f[2].trim().parse().map_err(|_| bad())?,
            stuck: match f.get(3) {
                Some(v) => v.trim().parse().map_err(|_| bad())?,
                None => 0,
            },
        });
    }
    Ok(steps)
}

fn run(trace: &[Step], set: &[(String, String)]) -> Result<Vec<(Kind, Report)>, String> {
    [Kind::This, Kind::Seed, Kind::Ca]
        .into_iter()
        .map(|k| Ok((k, simulate(k, &k.policy(set)?, &k.forecast(set)?, trace))))
        .collect()
}

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let mut out_dir: Option<PathBuf> = None;
    let mut set: Vec<(String, String)> = Vec::new();
    let mut traces: Vec<PathBuf> = Vec::new();
    while let Some(a) = args.next() {
        if a == "--out" {
            out_dir = Some(args.next().ok_or("--out needs a directory")?.into());
        } else if a == "--tuned" {
            set.extend(TUNED.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        } else if a == "--set" {
            let kv = args.next().ok_or("--set needs NAME=VALUE")?;
            let (k, v) = kv.split_once('=').ok_or("--set needs NAME=VALUE")?;
            set.push((k.to_owned(), v.to_owned()));
        } else {
            traces.push(a.into());
        }
    }
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("traces");
    if traces.is_empty() {
        traces = ["diurnal", "spike", "spot-storm", "batch", "stuck"]
            .iter()
            .map(|t| shipped.join(format!("{t}.csv")))
            .collect();
    }
    println!(
        "| trace | policy | pending-pod-seconds | node-hours | scale-ups | launched | scale-downs | max nodes |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for path in traces {
        let trace = read_trace(&path)?;
        let name = path
            .file_stem()
            .map_or("trace".into(), |s| s.to_string_lossy().into_owned());
        let runs = run(&trace, &set)?;
        for (kind, r) in &runs {
            println!(
                "| {name} | {} | {} | {:.1} | {} | {} | {} | {} |",
                kind.name(),
                r.pending_pod_seconds,
                r.node_seconds as f64 / 3600.0,
                r.ups,
                r.launched,
                r.downs,
                r.max_nodes
            );
        }
        let dir = out_dir
            .clone()
            .unwrap_or_else(|| path.parent().map_or(".".into(), Path::to_path_buf));
        let file = dir.join(format!("{name}.svg"));
        std::fs::write(&file, svg::svg(&name, &trace, &runs))
            .map_err(|e| format!("{}: {e}", file.display()))?;
        eprintln!("wrote {}", file.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped(name: &str) -> Vec<Step> {
        read_trace(&Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("traces/{name}.csv")))
            .unwrap()
    }

    fn off() -> Forecast {
        Forecast::default()
    }

    /// This policy under `TUNED`, its forecast included.
    fn tuned(trace: &[Step]) -> Report {
        let tuned = set(TUNED);
        let (p, f) = (Kind::This.policy(&tuned), Kind::This.forecast(&tuned));
        simulate(Kind::This, &p.unwrap(), &f.unwrap(), trace)
    }

    /// This policy under `TUNED` with `pairs` over it.
    fn tuned_with(pairs: &[(&str, &str)], trace: &[Step]) -> Report {
        let mut s = set(TUNED);
        s.extend(set(pairs));
        let (p, f) = (Kind::This.policy(&s), Kind::This.forecast(&s));
        simulate(Kind::This, &p.unwrap(), &f.unwrap(), trace)
    }

    fn ca(trace: &[Step]) -> Report {
        simulate(Kind::Ca, &Kind::Ca.policy(&[]).unwrap(), &off(), trace)
    }

    fn set(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn every_policy_stays_within_bounds_and_sizing_by_requests_beats_the_guess_on_a_spike() {
        let trace = shipped("spike");
        let runs = run(&trace, &[]).unwrap();
        for (kind, r) in &runs {
            let max = kind.policy(&[]).unwrap().max as usize;
            assert!(
                r.series.iter().all(|&(_, n)| (1..=max).contains(&n)),
                "{kind:?}"
            );
            assert_eq!(r.series.len(), trace.len());
        }
        assert!(runs[0].1.pending_pod_seconds < runs[1].1.pending_pod_seconds);
        let svg = svg::svg("spike", &trace, &runs);
        assert!(
            svg.starts_with("<svg") && svg.contains("this policy") && svg.ends_with("</svg>\n")
        );
    }

    #[test]
    fn the_ca_like_run_keeps_unneeded_nodes_ten_minutes_then_removes_them() {
        // The spike's 80 pods leave at minute 150: 20 nodes, 10 pods left.
        let trace = shipped("spike");
        let ca = simulate(Kind::Ca, &Kind::Ca.policy(&[]).unwrap(), &off(), &trace);
        let nodes = |m: i64| ca.series.iter().find(|s| s.0 == m).unwrap().1;
        assert_eq!(nodes(149), 20);
        for m in 150..159 {
            assert_eq!(nodes(m), 20, "minute {m}: unneeded for less than 10 min");
        }
        assert!(nodes(165) < 10, "then they go: {}", nodes(165));
    }

    #[test]
    fn headroom_buys_pending_seconds_for_node_hours() {
        let trace = shipped("diurnal");
        let policy = |s: &[(&str, &str)]| Kind::This.policy(&set(s)).unwrap();
        let none = simulate(
            Kind::This,
            &policy(&[("HEADROOM_PODS", "0")]),
            &off(),
            &trace,
        );
        let two = simulate(
            Kind::This,
            &policy(&[("HEADROOM_PODS", "2")]),
            &off(),
            &trace,
        );
        assert!(two.pending_pod_seconds < none.pending_pod_seconds / 2);
        assert!(two.node_seconds > none.node_seconds);
    }

    #[test]
    fn tuned_settings_beat_the_ca_like_run_on_both_counts_on_the_diurnal_trace() {
        let trace = shipped("diurnal");
        let this = tuned(&trace);
        let ca = simulate(Kind::Ca, &Kind::Ca.policy(&[]).unwrap(), &off(), &trace);
        assert!(this.pending_pod_seconds < ca.pending_pod_seconds);
        assert!(this.node_seconds <= ca.node_seconds);
    }

    #[test]
    fn the_forecast_meets_the_hourly_batch_before_it_arrives() {
        // 60 pods for 20 min every hour: from the third hour (seen twice) workers are Ready
        // when the batch comes, and go 3 min after it.
        let trace = shipped("batch");
        let this = tuned(&trace);
        let ca = simulate(Kind::Ca, &Kind::Ca.policy(&[]).unwrap(), &off(), &trace);
        assert!(this.pending_pod_seconds < ca.pending_pod_seconds / 2);
        assert!(this.node_seconds <= ca.node_seconds);
        // Without it, the same settings wait for each batch as CA does.
        let mut without = set(TUNED);
        without.push(("FORECAST_PERIOD_SEC".into(), "0".into()));
        let p = Kind::This.policy(&without).unwrap();
        let blind = simulate(Kind::This, &p, &off(), &trace);
        assert!(this.pending_pod_seconds < blind.pending_pod_seconds / 2);
        // One spike is no repeat: seen once, it launches nothing an hour later.
        let spike = shipped("spike");
        let once = |periods: &str| {
            let mut s = set(TUNED);
            s.push(("FORECAST_PERIODS".into(), periods.into()));
            let (p, f) = (Kind::This.policy(&s), Kind::This.forecast(&s));
            simulate(Kind::This, &p.unwrap(), &f.unwrap(), &spike)
        };
        assert!(once("2").launched < once("1").launched);
        assert!(
            once("2").node_seconds
                <= simulate(Kind::Ca, &Kind::Ca.policy(&[]).unwrap(), &off(), &spike).node_seconds
        );
    }

    #[test]
    fn a_pod_no_worker_can_host_costs_this_policy_and_ca_no_launch() {
        let trace = shipped("stuck");
        assert!(trace.iter().any(|s| s.stuck > 0));
        let without: Vec<Step> = trace.iter().map(|s| Step { stuck: 0, ..*s }).collect();
        for kind in [Kind::This, Kind::Ca] {
            let p = kind.policy(&[]).unwrap();
            let (with, alone) = (
                simulate(kind, &p, &off(), &trace),
                simulate(kind, &p, &off(), &without),
            );
            assert_eq!(
                (with.launched, with.node_seconds),
                (alone.launched, alone.node_seconds),
                "{kind:?}: the stuck pod changes nothing"
            );
        }
        // The seed read Prometheus's Pending count: the stuck pod launches workers.
        let p = Kind::Seed.policy(&[]).unwrap();
        let seed = simulate(Kind::Seed, &p, &off(), &trace);
        assert!(seed.launched > simulate(Kind::Seed, &p, &off(), &without).launched);
    }

    #[test]
    fn on_the_spot_storm_fewer_pending_seconds_than_ca_cost_node_hours_under_every_setting() {
        // 40 pods fill 10 workers; a reclaimed worker's pods can only run again on a worker
        // Ready before CA's (launched at the reclaim), which overlaps the doomed one: no
        // setting has both counts (docs/node-autoscaler.md, Simulator).
        let trace = shipped("spot-storm");
        let ca = ca(&trace);
        for headroom in ["0", "1", "2", "3", "4"] {
            let shipped = Kind::This.policy(&set(&[("HEADROOM_PODS", headroom)]));
            let runs = [
                simulate(Kind::This, &shipped.unwrap(), &off(), &trace),
                tuned_with(&[("HEADROOM_PODS", headroom)], &trace),
            ];
            for r in runs {
                assert!(
                    r.pending_pod_seconds >= ca.pending_pod_seconds
                        || r.node_seconds > ca.node_seconds,
                    "headroom {headroom}"
                );
            }
        }
        // Without headroom: the same wait as CA's (the join exceeds the notice), and each
        // replacement overlaps its drained worker for the drain.
        let none = tuned_with(&[("HEADROOM_PODS", "0")], &trace);
        assert_eq!(none.pending_pod_seconds, ca.pending_pod_seconds);
        let warnings: u64 = trace.iter().map(|s| u64::from(s.interruptions)).sum();
        assert_eq!(
            none.node_seconds - ca.node_seconds,
            warnings * model::DRAIN as u64
        );
    }

    #[test]
    fn the_tuned_set_ties_ca_on_the_spike_at_fewer_node_hours() {
        // Both start each step with the same free slots; a third before the first step
        // would be a fourth worker on the flat 10 pods of `stuck` too.
        let trace = shipped("spike");
        let (this, ca_spike) = (tuned(&trace), ca(&trace));
        assert_eq!(this.pending_pod_seconds, ca_spike.pending_pod_seconds);
        assert!(this.node_seconds < ca_spike.node_seconds);
        let stuck = shipped("stuck");
        let (this, ca_stuck) = (tuned(&stuck), ca(&stuck));
        assert_eq!(
            (this.pending_pod_seconds, this.node_seconds),
            (ca_stuck.pending_pod_seconds, ca_stuck.node_seconds)
        );
        let three = tuned_with(&[("HEADROOM_PODS", "3")], &stuck);
        assert!(three.node_seconds > ca_stuck.node_seconds);
    }

    #[test]
    fn a_bad_trace_line_is_named() {
        let dir = std::env::temp_dir().join(format!("sim-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("bad.csv");
        std::fs::write(&f, "# minute,pods,interruptions\n0,10,0\n1,ten,0\n").unwrap();
        let err = read_trace(&f).err().unwrap();
        assert!(
            err.ends_with("bad.csv:3: expected minute,pods,interruptions[,stuck]"),
            "{err}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
