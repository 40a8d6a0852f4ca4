//! Replays workload traces through the same `decide` the Lambda runs, on a simulated
//! cluster, for this policy and two baselines, and reports pending-pod-seconds, node-hours
//! and scaling actions; writes one SVG per trace (nodes and demand over time per policy).
//!
//! ```sh
//! cargo run -p node-autoscaler --bin simulate -- [--out DIR] [TRACE.csv ...]
//! ```
//! Default: the five shipped traces (`crates/node-autoscaler/traces/`), SVGs beside them.
//! A trace line is `minute,pods,interruptions[,stuck]`: `stuck` pods request more CPU than a
//! worker has and never schedule.
//!
//! Model (one step per minute, the schedule's rate): pods request 500m CPU and 768 MiB; a
//! worker offers 2 CPU and 4 GiB, so 4 pods (CPU binds before memory's 5); a pod uses 60 %
//! of its CPU request. A launched worker is Ready 3 minutes later. Pods beyond the Ready
//! workers' room are unschedulable (as the scheduler marks them), from the minute they
//! arrive. A drained worker goes at once.
//! A Spot interruption warning takes a worker away 2 minutes later; this policy cordons it
//! and launches a replacement at the warning, the baselines notice nothing until the pods
//! are Pending. Baselines, as `decide` parameters:
//! - **seed**: the seed's policy — a fixed guess of 8 pods per node (the real fit is 4),
//!   whatever a pod requests (so it sizes a stuck pod as a small one and launches for it:
//!   it read Prometheus's Pending count), one cooldown (300 s) for both directions,
//!   pending 180 s, idle 600 s below 30 % CPU.
//! - **ca**: Cluster-Autoscaler-like defaults — scale up as soon as pods are unschedulable,
//!   by the same first-fit-decreasing estimate, no batch limit and no CPU trigger; scale down a node when utilisation has
//!   been under 50 % for 10 minutes (scale-down-unneeded-time), 10 minutes after any
//!   scale-up (scale-down-delay-after-add), one at a time.
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::Timestamp;
use node_autoscaler::decide::{
    self, Metrics, Observed, PendingPod, Plan, PodNeeds, Policy, Template, Worker, WorkerState,
};

const POD_CPU: u64 = 500;
const POD_MEMORY: u64 = 768 << 20;
const NODE_CPU: u64 = 2000;
const NODE_MEMORY: u64 = 4 << 30;
/// What the scheduler fits on a worker: CPU and memory both.
const PODS_PER_NODE: u64 = {
    let (by_cpu, by_memory) = (NODE_CPU / POD_CPU, NODE_MEMORY / POD_MEMORY);
    if by_cpu < by_memory {
        by_cpu
    } else {
        by_memory
    }
};
/// What a stuck pod requests: more than any worker has.
const STUCK_CPU: u64 = 2 * NODE_CPU;
const USAGE: f64 = 0.6;
const JOIN_DELAY: i64 = 180;
const NOTICE: i64 = 120;
const ZONES: [&str; 3] = ["a", "b", "c"];

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

    fn policy(self) -> Policy {
        let s = Duration::from_secs;
        match self {
            Kind::This => Policy {
                cpu_up: 70.0,
                cpu_down: 30.0,
                pending_up: s(180),
                idle_down: s(600),
                min: 1,
                max: 30,
                cooldown_up: s(180),
                cooldown_down: s(600),
                batch_up: 10,
                batch_down: 1,
                pods_per_node: None,
            },
            Kind::Seed => Policy {
                cpu_up: 70.0,
                cpu_down: 30.0,
                pending_up: s(180),
                idle_down: s(600),
                min: 1,
                max: 30,
                cooldown_up: s(300),
                cooldown_down: s(300),
                batch_up: 30,
                batch_down: 1,
                pods_per_node: None,
            },
            Kind::Ca => Policy {
                cpu_up: f64::INFINITY,
                cpu_down: 50.0,
                pending_up: s(0),
                idle_down: s(600),
                min: 1,
                max: 30,
                cooldown_up: s(0),
                cooldown_down: s(600),
                batch_up: 30,
                batch_down: 1,
                pods_per_node: None,
            },
        }
    }
}

#[derive(Clone, Debug)]
struct Node {
    id: String,
    zone: String,
    ready_at: i64,
    /// Interruption warning received: leaves at this time.
    gone_at: Option<i64>,
    /// Cordoned by this policy at the warning (not counted, no pods).
    leaving: bool,
}

impl Node {
    /// A node launched at `t` in `zone`, Ready after JOIN_DELAY; takes the next id.
    fn launched(next_id: &mut u32, zone: String, t: i64) -> Node {
        let id = format!("n{next_id}");
        *next_id += 1;
        Node {
            id,
            zone,
            ready_at: t + JOIN_DELAY,
            gone_at: None,
            leaving: false,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Step {
    minute: i64,
    pods: u64,
    interruptions: u32,
    /// Pods no worker could host (never scheduled).
    stuck: u64,
}

#[derive(Default, Clone)]
struct Report {
    pending_pod_seconds: u64,
    node_seconds: u64,
    ups: u32,
    /// Workers launched (scale-ups and Spot replacements).
    launched: u32,
    downs: u32,
    max_nodes: usize,
    /// (minute, nodes) for the plot.
    series: Vec<(i64, usize)>,
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

fn simulate(kind: Kind, trace: &[Step]) -> Report {
    let policy = kind.policy();
    let mut nodes: Vec<Node> = (0..2)
        .map(|i| Node {
            id: format!("n{i}"),
            zone: ZONES[i % 3].into(),
            ready_at: 0,
            gone_at: None,
            leaving: false,
        })
        .collect();
    let mut next_id = 2;
    let mut history: Vec<(i64, u64, f64)> = Vec::new();
    let (mut last_up, mut last_down): (Option<i64>, Option<i64>) = (None, None);
    let mut report = Report::default();
    let base = Timestamp::from_second(1_800_000_000).expect("valid");
    for step in trace {
        let t = step.minute * 60;
        // Spot warnings: the oldest Ready workers not yet warned.
        for _ in 0..step.interruptions {
            if let Some(n) = nodes
                .iter_mut()
                .filter(|n| n.ready_at <= t && n.gone_at.is_none())
                .min_by_key(|n| (n.ready_at, n.id.clone()))
            {
                n.gone_at = Some(t + NOTICE);
                if kind == Kind::This {
                    n.leaving = true;
                }
            }
        }
        if kind == Kind::This {
            // Replacements for this minute's warnings, if MAX_WORKERS allows.
            let warned: Vec<String> = nodes
                .iter()
                .filter(|n| n.gone_at == Some(t + NOTICE))
                .map(|n| n.id.clone())
                .collect();
            for id in warned {
                let workers = workers_of(&nodes, t, 0);
                if decide::may_replace(&policy, &workers, &id) {
                    let zone = decide::spread(&zones(), &workers, 1)
                        .pop()
                        .unwrap_or_else(|| "a".into());
                    nodes.push(Node::launched(&mut next_id, zone, t));
                    report.ups += 1;
                    report.launched += 1;
                }
            }
        }
        nodes.retain(|n| n.gone_at.is_none_or(|g| g > t));

        let ready = nodes
            .iter()
            .filter(|n| n.ready_at <= t && !n.leaving)
            .count() as u64;
        let scheduled = step.pods.min(ready * PODS_PER_NODE);
        let pending = step.pods - scheduled;
        let cpu = if ready > 0 {
            100.0 * (scheduled * POD_CPU) as f64 * USAGE / (ready * NODE_CPU) as f64
        } else {
            100.0
        };
        history.push((t, pending, cpu));
        let window = |secs: u64| {
            let from = t - secs as i64;
            let covered = history.first().is_some_and(|h| h.0 <= from);
            (covered, history.iter().filter(move |h| h.0 >= from))
        };
        let (covered, mut w) = window(policy.idle_down.as_secs());
        let idle_sustained = covered && w.all(|h| h.1 == 0 && h.2 < policy.cpu_down);

        let workers = workers_of(&nodes, t, scheduled);
        let needs = |cpu_milli: u64, memory_bytes: u64| match kind {
            // The seed's guess: 8 pods fill a node, whatever they request.
            Kind::Seed => PodNeeds {
                cpu_milli: NODE_CPU / 8,
                ..PodNeeds::default()
            },
            _ => PodNeeds {
                cpu_milli,
                memory_bytes,
                ..PodNeeds::default()
            },
        };
        let pod = |name: String, since: i64, needs: PodNeeds| PendingPod {
            namespace: "default".into(),
            uid: name.clone(),
            name,
            since: ts(base, since),
            needs,
        };
        let mut unschedulable: Vec<PendingPod> = (1..=pending)
            .map(|k| {
                let since = pending_since(&history, k);
                pod(format!("p{k}"), since, needs(POD_CPU, POD_MEMORY))
            })
            .collect();
        unschedulable.extend((1..=step.stuck).map(|k| {
            let since = stuck_since(trace, step.minute, k) * 60;
            pod(format!("stuck{k}"), since, needs(STUCK_CPU, POD_MEMORY))
        }));
        let observed = Observed {
            now: ts(base, t),
            metrics: Metrics {
                cpu_percent: Some(cpu),
                pending_pods: 0,
                idle_sustained,
            },
            template: Template::configured(NODE_CPU, NODE_MEMORY),
            unschedulable,
            workers: workers.clone(),
            last_up: last_up.map(|s| ts(base, s)),
            last_down: last_down.map(|s| ts(base, s)),
        };
        match decide::decide(&policy, &observed) {
            Plan::ScaleUp { count, .. } => {
                for zone in decide::spread(&zones(), &workers, count) {
                    nodes.push(Node::launched(&mut next_id, zone, t));
                }
                last_up = Some(t);
                report.ups += 1;
                report.launched += count;
            }
            Plan::ScaleDown { instances, .. } => {
                nodes.retain(|n| !instances.contains(&n.id));
                last_down = Some(t);
                report.downs += 1;
            }
            Plan::Hold { .. } => {}
        }
        report.pending_pod_seconds += pending * 60;
        report.node_seconds += nodes.len() as u64 * 60;
        report.max_nodes = report.max_nodes.max(nodes.len());
        report.series.push((step.minute, nodes.len()));
    }
    report
}

/// The minute the `k`-th stuck pod of the step at `minute` arrived: the start of the latest
/// run of steps with at least `k` stuck.
fn stuck_since(trace: &[Step], minute: i64, k: u64) -> i64 {
    let mut since = minute;
    for s in trace.iter().rev().filter(|s| s.minute <= minute) {
        if s.stuck < k {
            break;
        }
        since = s.minute;
    }
    since
}

/// When the `k`-th pending pod became pending: the start of the latest run of steps with at
/// least `k` pending.
fn pending_since(history: &[(i64, u64, f64)], k: u64) -> i64 {
    let mut since = history.last().map_or(0, |h| h.0);
    for h in history.iter().rev() {
        if h.1 < k {
            break;
        }
        since = h.0;
    }
    since
}

fn ts(base: Timestamp, secs: i64) -> Timestamp {
    Timestamp::from_second(base.as_second() + secs).expect("valid")
}

fn zones() -> Vec<(String, String)> {
    ZONES
        .iter()
        .map(|z| (z.to_string(), z.to_string()))
        .collect()
}

/// Workers as `decide` sees them, pods filled into the Ready ones in order.
fn workers_of(nodes: &[Node], t: i64, mut pods: u64) -> Vec<Worker> {
    nodes
        .iter()
        .map(|n| {
            let state = if n.leaving {
                WorkerState::Leaving
            } else if n.ready_at > t {
                WorkerState::Joining
            } else {
                WorkerState::Ready
            };
            let here = if state == WorkerState::Ready {
                let k = pods.min(PODS_PER_NODE);
                pods -= k;
                k
            } else {
                0
            };
            Worker {
                instance_id: n.id.clone(),
                zone: n.zone.clone(),
                state,
                requested_cpu_milli: here * POD_CPU,
                allocatable_cpu_milli: NODE_CPU,
                pods: here as u32,
                blocked: None,
            }
        })
        .collect()
}

fn svg(title: &str, trace: &[Step], runs: &[(Kind, Report)]) -> String {
    let (w, h, left, top, bottom) = (900.0, 360.0, 50.0, 30.0, 40.0);
    let minutes = trace.last().map_or(1, |s| s.minute.max(1)) as f64;
    let needed: Vec<(i64, f64)> = trace
        .iter()
        .map(|s| (s.minute, s.pods.div_ceil(PODS_PER_NODE) as f64))
        .collect();
    let ymax = runs
        .iter()
        .flat_map(|(_, r)| r.series.iter().map(|p| p.1 as f64))
        .chain(needed.iter().map(|p| p.1))
        .fold(1.0, f64::max)
        .ceil();
    let x = |m: f64| left + (w - left - 20.0) * m / minutes;
    let y = |v: f64| top + (h - top - bottom) * (1.0 - v / ymax);
    let path = |pts: &mut dyn Iterator<Item = (f64, f64)>| {
        let mut d = String::new();
        for (i, (m, v)) in pts.enumerate() {
            let _ = write!(
                d,
                "{}{:.1},{:.1} ",
                if i == 0 { "M" } else { "L" },
                x(m),
                y(v)
            );
        }
        d
    };
    let mut out = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{left}" y="18" font-size="14">{title}: nodes over time (demand = nodes the pods need)</text>
<line x1="{left}" y1="{}" x2="{}" y2="{}" stroke="black"/>
<line x1="{left}" y1="{top}" x2="{left}" y2="{}" stroke="black"/>
"#,
        h - bottom,
        w - 20.0,
        h - bottom,
        h - bottom
    );
    for i in 0..=4 {
        let v = ymax * i as f64 / 4.0;
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{:.1}" text-anchor="end">{v:.0}</text>"#,
            left - 5.0,
            y(v) + 4.0
        );
        let m = minutes * i as f64 / 4.0;
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{:.1} h</text>"#,
            x(m),
            h - bottom + 16.0,
            m / 60.0
        );
    }
    let d = path(&mut needed.iter().map(|&(m, v)| (m as f64, v)));
    let _ = writeln!(
        out,
        r#"<path d="{d}" fill="none" stroke="black" stroke-dasharray="4 3"/>"#
    );
    let colours = ["#1f77b4", "#ff7f0e", "#2ca02c"];
    let mut legend = vec![("demand".to_owned(), "black")];
    for ((kind, r), colour) in runs.iter().zip(colours) {
        let d = path(&mut r.series.iter().map(|&(m, v)| (m as f64, v as f64)));
        let _ = writeln!(
            out,
            r#"<path d="{d}" fill="none" stroke="{colour}" stroke-width="1.5"/>"#
        );
        legend.push((kind.name().to_owned(), colour));
    }
    for (i, (name, colour)) in legend.iter().enumerate() {
        let lx = left + 10.0 + 140.0 * i as f64;
        let _ = writeln!(
            out,
            r#"<rect x="{lx}" y="{}" width="12" height="3" fill="{colour}"/><text x="{}" y="{}">{name}</text>"#,
            top + 2.0,
            lx + 16.0,
            top + 7.0
        );
    }
    out.push_str("</svg>\n");
    out
}

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let mut out_dir: Option<PathBuf> = None;
    let mut traces: Vec<PathBuf> = Vec::new();
    while let Some(a) = args.next() {
        if a == "--out" {
            out_dir = Some(args.next().ok_or("--out needs a directory")?.into());
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
        let runs: Vec<(Kind, Report)> = [Kind::This, Kind::Seed, Kind::Ca]
            .into_iter()
            .map(|k| (k, simulate(k, &trace)))
            .collect();
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
        std::fs::write(&file, svg(&name, &trace, &runs))
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

    #[test]
    fn every_policy_stays_within_bounds_and_sizing_by_requests_beats_the_guess_on_a_spike() {
        let trace = shipped("spike");
        let runs: Vec<(Kind, Report)> = [Kind::This, Kind::Seed, Kind::Ca]
            .into_iter()
            .map(|k| (k, simulate(k, &trace)))
            .collect();
        for (kind, r) in &runs {
            let max = kind.policy().max as usize;
            assert!(
                r.series.iter().all(|&(_, n)| (1..=max).contains(&n)),
                "{kind:?}"
            );
            assert_eq!(r.series.len(), trace.len());
        }
        assert!(runs[0].1.pending_pod_seconds < runs[1].1.pending_pod_seconds);
        let svg = svg("spike", &trace, &runs);
        assert!(
            svg.starts_with("<svg") && svg.contains("this policy") && svg.ends_with("</svg>\n")
        );
    }

    #[test]
    fn a_pod_no_worker_can_host_costs_this_policy_and_ca_no_launch() {
        let trace = shipped("stuck");
        assert!(trace.iter().any(|s| s.stuck > 0));
        let without: Vec<Step> = trace.iter().map(|s| Step { stuck: 0, ..*s }).collect();
        for kind in [Kind::This, Kind::Ca] {
            let (with, alone) = (simulate(kind, &trace), simulate(kind, &without));
            assert_eq!(
                (with.launched, with.node_seconds),
                (alone.launched, alone.node_seconds),
                "{kind:?}: the stuck pod changes nothing"
            );
        }
        // The seed read Prometheus's Pending count: the stuck pod launches workers.
        let seed = simulate(Kind::Seed, &trace);
        assert!(seed.launched > simulate(Kind::Seed, &without).launched);
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
