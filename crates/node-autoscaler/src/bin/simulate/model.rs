//! The simulated cluster: pods placed on nodes by the scheduler's default scoring, removed
//! as a ReplicaSet scales down, nodes that join, drain and get reclaimed; one autoscaler
//! (`decide` under a policy) run every `tick` seconds.
use std::collections::BTreeMap;

use jiff::Timestamp;
use node_autoscaler::decide::forecast::{self, Forecast, History};
use node_autoscaler::decide::{
    self, Metrics, NodeDetail, Observed, PendingPod, Plan, PodNeeds, Policy, Resident, Template,
    Worker, WorkerState,
};

use super::{Kind, Step};

pub const POD_CPU: u64 = 500;
pub const POD_MEMORY: u64 = 768 << 20;
pub const NODE_CPU: u64 = 2000;
pub const NODE_MEMORY: u64 = 4 << 30;
/// What the scheduler fits on a worker: CPU and memory both (4: CPU binds before memory's 5).
pub const PODS_PER_NODE: u64 = {
    let (by_cpu, by_memory) = (NODE_CPU / POD_CPU, NODE_MEMORY / POD_MEMORY);
    if by_cpu < by_memory {
        by_cpu
    } else {
        by_memory
    }
};
/// What a stuck pod requests: more than any worker has.
const STUCK_CPU: u64 = 2 * NODE_CPU;
/// A pod uses this share of its CPU request (what Prometheus's CPU reads).
const USAGE: f64 = 0.6;
/// Launch to Ready, for every policy.
pub const JOIN_DELAY: i64 = 180;
/// Spot interruption warning to reclaim.
const NOTICE: i64 = 120;
/// Drain start to instance gone: the evicted pods' graceful termination (30 s) and the
/// termination call; the node is paid for until then.
pub const DRAIN: i64 = 60;
const ZONES: [&str; 3] = ["a", "b", "c"];

#[derive(Clone, Debug)]
struct Node {
    id: String,
    zone: String,
    ready_at: i64,
    /// Reclaimed (Spot) or terminated (drain) at this time.
    gone_at: Option<i64>,
    /// Cordoned (drain, or this policy at a Spot warning): no pods land, not counted.
    leaving: bool,
    pods: u64,
}

#[derive(Default, Clone)]
pub struct Report {
    pub pending_pod_seconds: u64,
    pub node_seconds: u64,
    pub ups: u32,
    /// Workers launched (scale-ups and Spot replacements).
    pub launched: u32,
    pub downs: u32,
    pub max_nodes: usize,
    /// (minute, nodes) for the plot.
    pub series: Vec<(i64, usize)>,
}

struct Cluster {
    nodes: Vec<Node>,
    /// Arrival times of the pods without a node (oldest first).
    pending: Vec<i64>,
    next_id: u32,
}

impl Cluster {
    fn launch(&mut self, zone: String, t: i64) {
        self.nodes.push(Node {
            id: format!("n{}", self.next_id),
            zone,
            ready_at: t + JOIN_DELAY,
            gone_at: None,
            leaving: false,
            pods: 0,
        });
        self.next_id += 1;
    }

    fn usable(n: &Node, t: i64) -> bool {
        n.ready_at <= t && !n.leaving
    }

    /// The scheduler: each pending pod, oldest first, onto the usable node with the most
    /// room (kube-scheduler's default LeastAllocated score; ties: the first listed).
    fn schedule(&mut self, t: i64) {
        while !self.pending.is_empty() {
            let Some(n) = self
                .nodes
                .iter_mut()
                .filter(|n| Cluster::usable(n, t) && n.pods < PODS_PER_NODE)
                .min_by_key(|n| n.pods)
            else {
                return;
            };
            n.pods += 1;
            self.pending.remove(0);
        }
    }

    /// Evicts every pod of node `i`: their controller recreates them, pending, at `t`.
    fn evict(&mut self, i: usize, t: i64) {
        let k = std::mem::take(&mut self.nodes[i].pods);
        self.pending.extend(std::iter::repeat_n(t, k as usize));
    }

    /// Demand `want` pods: new ones arrive pending; fewer are deleted as a ReplicaSet does —
    /// pending ones first (newest first), then from the node running the most.
    fn demand(&mut self, want: u64, t: i64) {
        let have = self.nodes.iter().map(|n| n.pods).sum::<u64>() + self.pending.len() as u64;
        if want > have {
            self.pending
                .extend(std::iter::repeat_n(t, (want - have) as usize));
        }
        for _ in want..have {
            if self.pending.pop().is_some() {
                continue;
            }
            if let Some(n) = self
                .nodes
                .iter_mut()
                .filter(|n| n.pods > 0)
                .rev()
                .max_by_key(|n| n.pods)
            {
                n.pods -= 1;
            }
        }
    }

    /// The nodes as `decide` sees workers: each pod 500m / 768 MiB, moved by its controller.
    fn workers(&self, t: i64) -> Vec<Worker> {
        let pod = Resident {
            needs: needs(POD_CPU),
            moves: true,
            pdbs: Vec::new(),
        };
        self.nodes
            .iter()
            .map(|n| {
                let state = if n.leaving {
                    WorkerState::Leaving
                } else if n.ready_at > t {
                    WorkerState::Joining
                } else {
                    WorkerState::Ready
                };
                Worker {
                    instance_id: n.id.clone(),
                    zone: n.zone.clone(),
                    state,
                    requested_cpu_milli: n.pods * POD_CPU,
                    allocatable_cpu_milli: NODE_CPU,
                    pods: n.pods as u32,
                    blocked: None,
                    node: NodeDetail {
                        allocatable_memory_bytes: NODE_MEMORY,
                        requested_memory_bytes: n.pods * POD_MEMORY,
                        labels: Template::configured(NODE_CPU, NODE_MEMORY).labels,
                        pods: vec![pod.clone(); n.pods as usize],
                        ..NodeDetail::default()
                    },
                }
            })
            .collect()
    }
}

fn needs(cpu_milli: u64) -> PodNeeds {
    PodNeeds {
        cpu_milli,
        memory_bytes: POD_MEMORY,
        ..PodNeeds::default()
    }
}

fn zones() -> Vec<(String, String)> {
    ZONES
        .iter()
        .map(|z| (z.to_string(), z.to_string()))
        .collect()
}

fn ts(secs: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + secs).expect("valid")
}

/// Runs `trace` under `policy` and `ahead` (the forecast), `decide` every `tick` seconds (a
/// divisor of 60); the forecast's history kept from run to run as the Lambda keeps it.
pub fn simulate(kind: Kind, policy: &Policy, ahead: &Forecast, trace: &[Step]) -> Report {
    let tick = kind.tick();
    let mut c = Cluster {
        nodes: Vec::new(),
        pending: Vec::new(),
        next_id: 0,
    };
    for z in ZONES.iter().take(2) {
        c.launch(z.to_string(), -JOIN_DELAY);
    }
    // (time, unschedulable pods, CPU %) for the CPU guard's window.
    let mut history: Vec<(i64, usize, f64)> = Vec::new();
    let (mut last_up, mut last_down): (Option<i64>, Option<i64>) = (None, None);
    let mut unneeded: BTreeMap<String, Timestamp> = BTreeMap::new();
    let mut demand = History::new();
    let mut report = Report::default();
    for step in trace {
        for sub in (0..60).step_by(tick as usize) {
            let t = step.minute * 60 + sub;
            if sub == 0 {
                spot_warnings(kind, policy, &mut c, &mut report, step.interruptions, t);
            }
            let gone: Vec<usize> = (0..c.nodes.len())
                .filter(|&i| c.nodes[i].gone_at.is_some_and(|g| g <= t))
                .collect();
            for &i in gone.iter().rev() {
                c.evict(i, t);
                c.nodes.remove(i);
            }
            c.demand(step.pods, t);
            c.schedule(t);

            let ready: Vec<&Node> = c.nodes.iter().filter(|n| Cluster::usable(n, t)).collect();
            let running: u64 = ready.iter().map(|n| n.pods).sum();
            let cpu = if ready.is_empty() {
                100.0
            } else {
                100.0 * (running * POD_CPU) as f64 * USAGE / (ready.len() as u64 * NODE_CPU) as f64
            };
            history.push((t, c.pending.len() + step.stuck as usize, cpu));
            let from = t - policy.idle_down.as_secs() as i64;
            let covered = history.first().is_some_and(|h| h.0 <= from);
            let idle_sustained = covered
                && history
                    .iter()
                    .filter(|h| h.0 >= from)
                    .all(|h| h.1 == 0 && h.2 < policy.cpu_down);
            let workers = c.workers(t);
            let observed = Observed {
                now: ts(t),
                metrics: Metrics {
                    cpu_percent: Some(cpu),
                    pending_pods: 0,
                    idle_sustained,
                },
                template: Template::configured(NODE_CPU, NODE_MEMORY),
                unschedulable: unschedulable(kind, &c.pending, step, trace),
                workers: workers.clone(),
                last_up: last_up.map(ts),
                last_down: last_down.map(ts),
                disruptions_allowed: BTreeMap::new(),
                unneeded: std::mem::take(&mut unneeded),
            };
            let expected = forecast::expected(ahead, &demand, ts(t).as_second());
            let decision = decide::decision(policy, &observed, expected);
            let asked = forecast::demand(policy, &observed);
            demand = forecast::record(ahead, &demand, ts(t).as_second(), asked);
            unneeded = decision.unneeded;
            match decision.plan {
                Plan::ScaleUp { count, .. } => {
                    for zone in decide::spread(&zones(), &workers, count) {
                        c.launch(zone, t);
                    }
                    last_up = Some(t);
                    report.ups += 1;
                    report.launched += count;
                }
                Plan::ScaleDown { instances, .. } => {
                    for i in 0..c.nodes.len() {
                        if instances.contains(&c.nodes[i].id) {
                            c.nodes[i].leaving = true;
                            c.nodes[i].gone_at = Some(t + DRAIN);
                            c.evict(i, t);
                        }
                    }
                    c.schedule(t);
                    last_down = Some(t);
                    report.downs += 1;
                }
                Plan::Hold { .. } => {}
            }
            report.pending_pod_seconds += c.pending.len() as u64 * tick as u64;
            report.node_seconds += c.nodes.len() as u64 * tick as u64;
            report.max_nodes = report.max_nodes.max(c.nodes.len());
        }
        report.series.push((step.minute, c.nodes.len()));
    }
    report
}

/// Spot warnings for the oldest Ready nodes not yet warned: reclaimed `NOTICE` later. This
/// policy cordons and drains at once, launches a replacement (within `MAX_WORKERS`) and
/// terminates the drained worker; the baselines notice nothing until the pods come back
/// pending.
fn spot_warnings(kind: Kind, policy: &Policy, c: &mut Cluster, r: &mut Report, n: u32, t: i64) {
    for _ in 0..n {
        let Some(i) = (0..c.nodes.len())
            .filter(|&i| c.nodes[i].ready_at <= t && c.nodes[i].gone_at.is_none())
            .min_by_key(|&i| (c.nodes[i].ready_at, c.nodes[i].id.clone()))
        else {
            return;
        };
        c.nodes[i].gone_at = Some(t + NOTICE);
        if kind != Kind::This {
            continue;
        }
        let workers = c.workers(t);
        let id = c.nodes[i].id.clone();
        // Drained at once, then terminated (as `apply::interruption` does): paid until the
        // drain ends, if that comes before the reclaim.
        c.nodes[i].gone_at = Some(t + DRAIN.min(NOTICE));
        c.nodes[i].leaving = true;
        c.evict(i, t);
        if decide::may_replace(policy, &workers, &id) {
            let zone = decide::spread(&zones(), &workers, 1)
                .pop()
                .unwrap_or_else(|| "a".into());
            c.launch(zone, t);
            r.ups += 1;
            r.launched += 1;
        }
        c.schedule(t);
    }
}

/// The pods the scheduler could not place, since their arrival, and the trace's stuck ones.
/// The seed sizes every pod as a fixed 1/8 of a node, whatever it requests (its guess).
fn unschedulable(kind: Kind, pending: &[i64], step: &Step, trace: &[Step]) -> Vec<PendingPod> {
    let sized = |cpu: u64| match kind {
        Kind::Seed => PodNeeds {
            cpu_milli: NODE_CPU / 8,
            ..PodNeeds::default()
        },
        _ => needs(cpu),
    };
    let pod = |name: String, since: i64, needs: PodNeeds| PendingPod {
        namespace: "default".into(),
        uid: name.clone(),
        name,
        since: ts(since),
        needs,
    };
    let mut out: Vec<PendingPod> = pending
        .iter()
        .enumerate()
        .map(|(k, &since)| pod(format!("p{k}"), since, sized(POD_CPU)))
        .collect();
    out.extend((1..=step.stuck).map(|k| {
        let since = stuck_since(trace, step.minute, k) * 60;
        pod(format!("stuck{k}"), since, sized(STUCK_CPU))
    }));
    out
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
