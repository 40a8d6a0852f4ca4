//! The scaling policy, pure: (metrics, unschedulable pods, workers and their pods, last
//! actions, when each worker became unneeded, now) → a plan, and when each worker became
//! unneeded (for the caller to keep). The Lambda and the simulator (`src/bin/simulate.rs`)
//! both run exactly this.
//!
//! - **Bounds first**: fewer workers than `MIN_WORKERS` → launch the difference; more than
//!   `MAX_WORKERS` → remove the excess (removable workers only). Cooldowns do not apply.
//!   Workers still joining count as workers; workers being removed do not.
//! - **Up** for pods the scheduler could not place (PodScheduled False, reason
//!   Unschedulable, from the API) for at least `PENDING_UP_SEC`: as many workers as
//!   first-fit-decreasing onto the worker template says ([`binpack`], [`up`]), after the
//!   joining workers' room; a pod no worker could host (too big, selector, affinity, taint)
//!   counts for nothing. Plus the workers `HEADROOM_PODS` free slots need ([`headroom`]),
//!   or, when more, the slots the forecast expects beyond today's demand ([`forecast`]).
//!   Or cluster CPU > `CPU_UP`: enough workers to bring the utilisation back to `CPU_UP`
//!   (at least one). Not within `COOLDOWN_UP_SEC` of the last launch; at most
//!   `SCALE_UP_BATCH` per run; never above `MAX_WORKERS`.
//! - **Down by simulation** ([`down`]): the workers unneeded — utilisation by requests below
//!   `SCALE_DOWN_UTILIZATION_THRESHOLD`, every pod fits on the others, the PDBs allow it,
//!   the headroom (or the forecast's slots) stays — for `SCALE_DOWN_UNNEEDED_SEC`, from the zone with the most workers
//!   first, least utilised first. Not while an unschedulable pod a worker could host waits
//!   (or `PROM_PENDING_QUERY`, when set, counts one), nor while a worker joins, nor within
//!   `COOLDOWN_DOWN_SEC` of the last launch (CA's scale-down-delay-after-add) or
//!   the after-removal cooldown of the last removal; when the CPU guard is on (`CPU_DOWN` or
//!   `IDLE_DOWN_SEC` set, the original's meaning), only when CPU has been below `CPU_DOWN`
//!   for `IDLE_DOWN_SEC`. At most `SCALE_DOWN_BATCH` workers with pods to move per run, and
//!   none while another worker is leaving (one drain at a time, as CA), plus the empty ones
//!   up to the empty batch; never below `MIN_WORKERS`; blocked (safe-to-evict review) never.
//! - The control plane and instances without the worker tag never reach this function: they
//!   are not workers.
//!
//! What an EC2 Spot event does is [`spot_action`]'s table (`decide/spot.rs`). The
//! configuration builds these types (`config` imports `decide`, never the reverse).
use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;

pub mod binpack;
pub mod down;
pub mod forecast;
pub mod headroom;
mod spot;
pub mod up;
pub use binpack::{PodNeeds, Template};
pub use down::{NodeDetail, Resident, Unneeded};
pub use spot::{Ownership, RebalanceMode, SpotAction, SpotKind, may_replace, spot_action};
pub use up::PendingPod;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Policy {
    pub cpu_up: f64,
    pub cpu_down: f64,
    pub pending_up: Duration,
    pub idle_down: Duration,
    /// Scale-down also needs cluster CPU below `cpu_down` for `idle_down` (the original's
    /// rule, kept as a guard when `CPU_DOWN` or `IDLE_DOWN_SEC` is set).
    pub cpu_guard: bool,
    pub min: u32,
    pub max: u32,
    pub cooldown_up: Duration,
    /// After a launch, before any removal (CA's scale-down-delay-after-add).
    pub cooldown_down: Duration,
    /// After a removal, before the next (CA's scale-down-delay-after-delete).
    pub cooldown_after_down: Duration,
    pub batch_up: u32,
    /// Workers with pods to move, per run.
    pub batch_down: u32,
    /// Empty workers (nothing to move), per run (CA's max-empty-bulk-delete).
    pub batch_down_empty: u32,
    /// `PODS_PER_NODE`: at most this many pods on one worker; `None`: CPU and memory alone
    /// say what fits.
    pub pods_per_node: Option<u32>,
    /// A worker below this utilisation by requests may be unneeded (0..=1).
    pub utilisation_down: f64,
    /// How long a worker must stay unneeded before it goes.
    pub unneeded_down: Duration,
    /// Free pod slots kept ([`headroom`]).
    pub headroom_pods: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkerState {
    /// Launched, no Ready node yet (within the join timeout).
    Joining,
    Ready,
    /// Its node exists but is not Ready: counted, never chosen for removal.
    NotReady,
    /// Cordoned/draining by a recorded action (scale-down, Spot): not counted.
    Leaving,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Worker {
    pub instance_id: String,
    pub zone: String,
    pub state: WorkerState,
    pub requested_cpu_milli: u64,
    pub allocatable_cpu_milli: u64,
    /// Pods running on its node (what `PODS_PER_NODE` counts).
    pub pods: u32,
    /// Why it may not be removed (safe-to-evict review), if anything.
    pub blocked: Option<String>,
    /// Memory, pod slots, labels, taints and each pod: what scale-down by simulation needs.
    pub node: NodeDetail,
}

/// From Prometheus.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Metrics {
    /// Cluster CPU busy percentage; `None` when Prometheus has no data (no CPU decisions).
    pub cpu_percent: Option<f64>,
    /// Pods Pending now by `PROM_PENDING_QUERY`; 0 when it is not set. Blocks scale-down
    /// only; scale-up reads the API's unschedulable pods.
    pub pending_pods: u32,
    /// CPU below `CPU_DOWN` (and nothing Pending by `PROM_PENDING_QUERY` when it is set)
    /// for the whole `IDLE_DOWN_SEC`.
    pub idle_sustained: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Observed {
    pub now: Timestamp,
    pub metrics: Metrics,
    /// What one new worker offers.
    pub template: Template,
    /// Pods the scheduler could not place (however recent: `decide` applies the delay).
    pub unschedulable: Vec<PendingPod>,
    pub workers: Vec<Worker>,
    pub last_up: Option<Timestamp>,
    pub last_down: Option<Timestamp>,
    /// Each PodDisruptionBudget's (`namespace/name`) `status.disruptionsAllowed`; a PDB a
    /// pod names that is missing here allows nothing.
    pub disruptions_allowed: BTreeMap<String, u32>,
    /// When each worker became unneeded, as the last run's [`Decision::unneeded`] said.
    pub unneeded: BTreeMap<String, Timestamp>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    Hold {
        /// Short machine-readable cause: `steady`, `cooldown_up`, `at_max`, ...
        why: &'static str,
        reason: String,
    },
    ScaleUp {
        count: u32,
        from: u32,
        to: u32,
        reason: String,
    },
    ScaleDown {
        instances: Vec<String>,
        from: u32,
        to: u32,
        reason: String,
    },
}

/// The plan, and the state the next run needs.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    pub plan: Plan,
    /// Every worker unneeded now, with since when: the next run's `Observed::unneeded`.
    pub unneeded: BTreeMap<String, Timestamp>,
}

fn hold(why: &'static str, reason: impl Into<String>) -> Plan {
    Plan::Hold {
        why,
        reason: reason.into(),
    }
}

fn since(now: Timestamp, then: Option<Timestamp>) -> Option<Duration> {
    then.map(|t| now.duration_since(t).unsigned_abs())
}

fn cooling(now: Timestamp, last: Option<Timestamp>, cooldown: Duration) -> Option<Duration> {
    since(now, last)
        .filter(|&elapsed| elapsed < cooldown)
        .map(|elapsed| cooldown - elapsed)
}

/// The plan alone, the forecast off (see [`decision`]).
pub fn decide(policy: &Policy, o: &Observed) -> Plan {
    decision(policy, o, None).plan
}

/// `expected`: the demand the forecast expects over its lookahead ([`forecast::expected`]),
/// `None` when it is off or has no history for the window yet.
pub fn decision(policy: &Policy, o: &Observed, expected: Option<u64>) -> Decision {
    let want = headroom::wanted(policy, o, expected);
    let unneeded = down::unneeded(policy, o, &want);
    let plan = plan(policy, o, &unneeded, &want);
    Decision {
        plan,
        unneeded: unneeded.since,
    }
}

fn plan(policy: &Policy, o: &Observed, unneeded: &Unneeded, want: &headroom::Want) -> Plan {
    let count = |s: WorkerState| o.workers.iter().filter(|w| w.state == s).count() as u32;
    let current = o.workers.len() as u32 - count(WorkerState::Leaving);
    let joining = count(WorkerState::Joining);
    let ready = count(WorkerState::Ready);

    if current < policy.min {
        let n = (policy.min - current).min(policy.batch_up);
        return Plan::ScaleUp {
            count: n,
            from: current,
            to: current + n,
            reason: format!("{current} workers, below MIN_WORKERS {}", policy.min),
        };
    }
    if current > policy.max {
        let excess = (current - policy.max).min(policy.batch_down);
        let instances = victims(policy, o, excess);
        if instances.is_empty() {
            return hold(
                "above_max_blocked",
                format!(
                    "{current} workers, above MAX_WORKERS {}, but none is removable",
                    policy.max
                ),
            );
        }
        let n = instances.len() as u32;
        return Plan::ScaleDown {
            instances,
            from: current,
            to: current - n,
            reason: format!("{current} workers, above MAX_WORKERS {}", policy.max),
        };
    }

    let m = &o.metrics;
    let mut up_need = 0u64;
    let mut up_reasons = Vec::new();
    let (due, packed) = up::due(policy, o);
    if let Some((nodes, reason)) = up::need(policy, o, &due, &packed) {
        up_need = nodes;
        up_reasons.push(reason);
    }
    if let Some((nodes, reason)) = headroom::need(policy, o, &packed, want) {
        up_need += nodes;
        up_reasons.push(reason);
    }
    if let Some(cpu) = m.cpu_percent.filter(|&c| c > policy.cpu_up) {
        let base = u64::from(ready.max(1));
        let target = ((base as f64) * cpu / policy.cpu_up).ceil() as u64;
        let nodes = target.saturating_sub(base).max(1);
        up_need = up_need.max(nodes.saturating_sub(joining.into()));
        up_reasons.push(format!(
            "CPU {cpu:.1}% above CPU_UP {}%: {nodes} workers",
            policy.cpu_up
        ));
    }
    if !up_reasons.is_empty() {
        let reason = up_reasons.join("; ");
        if up_need == 0 {
            return hold(
                "joining",
                format!("{reason}; {joining} workers joining already"),
            );
        }
        if current >= policy.max {
            return hold("at_max", format!("{reason}; at MAX_WORKERS {}", policy.max));
        }
        if let Some(left) = cooling(o.now, o.last_up, policy.cooldown_up) {
            return hold(
                "cooldown_up",
                format!("{reason}; COOLDOWN_UP_SEC: {}s left", left.as_secs()),
            );
        }
        let n = (up_need.min(u64::from(policy.batch_up)) as u32).min(policy.max - current);
        return Plan::ScaleUp {
            count: n,
            from: current,
            to: current + n,
            reason,
        };
    }
    scale_down(policy, o, unneeded, current, joining)
}

fn scale_down(
    policy: &Policy,
    o: &Observed,
    unneeded: &Unneeded,
    current: u32,
    joining: u32,
) -> Plan {
    let m = &o.metrics;
    let waiting = up::hostable_waiting(policy, o);
    if waiting || m.pending_pods > 0 {
        return hold(
            "steady",
            format!(
                "unschedulable pods a worker could host: {waiting}, {} pending by PROM_PENDING_QUERY",
                m.pending_pods
            ),
        );
    }
    if policy.cpu_guard {
        let Some(cpu) = m.cpu_percent else {
            return hold("no_metrics", "no CPU data from Prometheus (CPU guard)");
        };
        if !(m.idle_sustained && cpu < policy.cpu_down) {
            return hold(
                "steady",
                format!(
                    "CPU guard: CPU {cpu:.1}%, below CPU_DOWN {}% for IDLE_DOWN_SEC: {}",
                    policy.cpu_down, m.idle_sustained
                ),
            );
        }
    }
    if current <= policy.min {
        return hold("at_min", format!("at MIN_WORKERS {}", policy.min));
    }
    if joining > 0 {
        return hold("joining", format!("{joining} workers joining"));
    }
    let first = unneeded.since.values().min().copied();
    let Some(first) = first else {
        let blocked: Vec<String> = o
            .workers
            .iter()
            .filter_map(|w| Some(format!("{}: {}", w.instance_id, w.blocked.as_ref()?)))
            .collect();
        return hold(
            "no_candidate",
            format!(
                "no worker unneeded (utilisation under {:.0}%, pods fit elsewhere, PDBs allow it; blocked: {})",
                policy.utilisation_down * 100.0,
                blocked.join(", ")
            ),
        );
    };
    if unneeded.due.is_empty() {
        let waited = since(o.now, Some(first)).unwrap_or_default().as_secs();
        return hold(
            "unneeded",
            format!(
                "{} workers unneeded, the first for {waited}s of SCALE_DOWN_UNNEEDED_SEC {}",
                unneeded.since.len(),
                policy.unneeded_down.as_secs()
            ),
        );
    }
    let reason = format!(
        "unneeded for {}s (utilisation under {:.0}%, every pod fits on the others)",
        policy.unneeded_down.as_secs(),
        policy.utilisation_down * 100.0
    );
    if let Some(left) = cooling(o.now, o.last_up, policy.cooldown_down) {
        return hold(
            "cooldown_down",
            format!("{reason}; COOLDOWN_DOWN_SEC: {}s left", left.as_secs()),
        );
    }
    if let Some(left) = cooling(o.now, o.last_down, policy.cooldown_after_down) {
        return hold(
            "cooldown_down",
            format!("{reason}; {}s left after the last removal", left.as_secs()),
        );
    }
    let leaving = o.workers.iter().any(|w| w.state == WorkerState::Leaving);
    let (mut full, mut empty) = (0, 0);
    let mut instances = Vec::new();
    for id in &unneeded.due {
        if instances.len() as u32 >= current - policy.min {
            break;
        }
        let w = o.workers.iter().find(|w| &w.instance_id == id);
        if w.is_some_and(|w| w.node.pods.iter().any(|p| p.moves)) {
            if leaving || full >= policy.batch_down {
                continue;
            }
            full += 1;
        } else {
            if empty >= policy.batch_down_empty {
                continue;
            }
            empty += 1;
        }
        instances.push(id.clone());
    }
    if instances.is_empty() {
        return hold(
            "leaving",
            format!("{reason}; one drain at a time: a worker is leaving"),
        );
    }
    let n = instances.len() as u32;
    Plan::ScaleDown {
        instances,
        from: current,
        to: current - n,
        reason,
    }
}

/// Up to `n` removable workers above `MAX_WORKERS`: most populated zone first, emptiest
/// first, while what the Ready workers request still fits the allocatable CPU of those that
/// stay, and their pods `PODS_PER_NODE` each of those that stay.
fn victims(policy: &Policy, o: &Observed, n: u32) -> Vec<String> {
    let mut zones: BTreeMap<&str, u32> = BTreeMap::new();
    for w in o.workers.iter().filter(|w| w.state != WorkerState::Leaving) {
        *zones.entry(&w.zone).or_default() += 1;
    }
    let ready = || o.workers.iter().filter(|w| w.state == WorkerState::Ready);
    let requested: u64 = ready().map(|w| w.requested_cpu_milli).sum();
    let mut allocatable: u64 = ready().map(|w| w.allocatable_cpu_milli).sum();
    let pods: u64 = ready().map(|w| u64::from(w.pods)).sum();
    let mut staying = ready().count() as u64;
    let mut chosen: Vec<String> = Vec::new();
    while (chosen.len() as u32) < n {
        let best = ready()
            .filter(|w| w.blocked.is_none() && !chosen.contains(&w.instance_id))
            .min_by_key(|w| {
                (
                    std::cmp::Reverse(zones.get(w.zone.as_str()).copied().unwrap_or(0)),
                    w.requested_cpu_milli,
                    w.instance_id.clone(),
                )
            });
        let Some(w) = best else { break };
        if requested > allocatable - w.allocatable_cpu_milli {
            break;
        }
        if let Some(per) = policy.pods_per_node
            && pods > (staying - 1) * u64::from(per)
        {
            break;
        }
        allocatable -= w.allocatable_cpu_milli;
        staying -= 1;
        *zones.entry(&w.zone).or_default() -= 1;
        chosen.push(w.instance_id.clone());
    }
    chosen
}

/// The subnets for `count` launches: the zone with the fewest workers first (ties: the
/// configured order), one launch at a time, so zones stay balanced.
pub fn spread(subnets: &[(String, String)], workers: &[Worker], count: u32) -> Vec<String> {
    let mut zones: Vec<(&str, &str, u32)> = Vec::new();
    for (subnet, zone) in subnets {
        if zones.iter().all(|(_, z, _)| z != zone) {
            let n = workers
                .iter()
                .filter(|w| w.state != WorkerState::Leaving && &w.zone == zone)
                .count() as u32;
            zones.push((subnet, zone, n));
        }
    }
    let mut out = Vec::new();
    for _ in 0..count {
        let Some(least) = zones.iter_mut().min_by_key(|(_, _, n)| *n) else {
            break;
        };
        least.2 += 1;
        out.push(least.0.to_owned());
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn policy() -> Policy {
        Policy {
            cpu_up: 70.0,
            cpu_down: 30.0,
            pending_up: Duration::from_secs(180),
            idle_down: Duration::from_secs(600),
            cpu_guard: true,
            min: 1,
            max: 5,
            cooldown_up: Duration::from_secs(180),
            cooldown_down: Duration::from_secs(600),
            cooldown_after_down: Duration::from_secs(600),
            batch_up: 3,
            batch_down: 1,
            batch_down_empty: 1,
            pods_per_node: None,
            utilisation_down: 0.5,
            unneeded_down: Duration::from_secs(600),
            headroom_pods: 0,
        }
    }

    /// A 2-CPU / 4 GiB worker running one pod of `requested` millicores (none when 0).
    pub(crate) fn w(id: &str, zone: &str, state: WorkerState, requested: u64) -> Worker {
        let mut w = Worker {
            instance_id: id.into(),
            zone: zone.into(),
            state,
            requested_cpu_milli: 0,
            allocatable_cpu_milli: 2000,
            pods: 0,
            blocked: None,
            node: NodeDetail {
                allocatable_memory_bytes: 4 << 30,
                labels: configured().labels,
                ..NodeDetail::default()
            },
        };
        if requested > 0 {
            with_pods(&mut w, 1, requested, 0);
        }
        w
    }

    /// `w` runs `n` pods (moved by their controller) requesting `cpu` and `mem` in all.
    pub(crate) fn with_pods(w: &mut Worker, n: u32, cpu: u64, mem: u64) {
        let pod = Resident {
            needs: PodNeeds {
                cpu_milli: cpu / u64::from(n),
                memory_bytes: mem / u64::from(n),
                ..PodNeeds::default()
            },
            moves: true,
            pdbs: Vec::new(),
        };
        w.node.pods = vec![pod; n as usize];
        w.pods = n;
        w.requested_cpu_milli = cpu;
        w.node.requested_memory_bytes = mem;
    }

    /// The worker the tests configure (`WORKER_NODE_CPU` 2, `WORKER_NODE_MEMORY` 4Gi).
    fn configured() -> Template {
        Template::configured(2000, 4 << 30)
    }

    const T: i64 = 1_800_000_000;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(T + s).unwrap()
    }

    pub(crate) fn observed(workers: Vec<Worker>) -> Observed {
        Observed {
            now: at(0),
            metrics: Metrics {
                cpu_percent: Some(50.0),
                pending_pods: 0,
                idle_sustained: false,
            },
            template: configured(),
            unschedulable: Vec::new(),
            workers,
            last_up: None,
            last_down: None,
            disruptions_allowed: BTreeMap::new(),
            unneeded: BTreeMap::new(),
        }
    }

    pub(crate) fn two() -> Vec<Worker> {
        vec![
            w("i-a", "us-east-1a", WorkerState::Ready, 500),
            w("i-b", "us-east-1b", WorkerState::Ready, 100),
        ]
    }

    /// `pods` unschedulable for `PENDING_UP_SEC` (180 s), requesting `cpu` millicores and
    /// `mem` bytes in all, alike.
    pub(crate) fn pending(o: &mut Observed, pods: u32, cpu: u64, mem: u64) {
        o.unschedulable = (0..pods)
            .map(|i| {
                unschedulable(
                    &format!("p{i}"),
                    -180,
                    cpu / u64::from(pods),
                    mem / u64::from(pods),
                )
            })
            .collect();
    }

    pub(crate) fn unschedulable(name: &str, since: i64, cpu: u64, mem: u64) -> PendingPod {
        PendingPod {
            namespace: "default".into(),
            name: name.into(),
            uid: format!("uid-{name}"),
            since: at(since),
            needs: PodNeeds {
                cpu_milli: cpu,
                memory_bytes: mem,
                ..PodNeeds::default()
            },
        }
    }

    /// CPU idle for the guard, and every worker unneeded since `SCALE_DOWN_UNNEEDED_SEC` ago
    /// (by the last run; this run's simulation says which still are).
    fn idle(o: &mut Observed) {
        o.metrics.cpu_percent = Some(10.0);
        o.metrics.idle_sustained = true;
        for w in &o.workers {
            o.unneeded.insert(w.instance_id.clone(), at(-600));
        }
    }

    fn up(count: u32, from: u32) -> (&'static str, u32, u32, Vec<String>) {
        ("up", count, from, vec![])
    }
    fn down(ids: &[&str], from: u32) -> (&'static str, u32, u32, Vec<String>) {
        (
            "down",
            ids.len() as u32,
            from,
            ids.iter().map(|s| s.to_string()).collect(),
        )
    }
    fn held(why: &'static str) -> (&'static str, u32, u32, Vec<String>) {
        (why, 0, 0, vec![])
    }

    fn shape(plan: &Plan) -> (&'static str, u32, u32, Vec<String>) {
        match plan {
            Plan::Hold { why, .. } => (why, 0, 0, vec![]),
            Plan::ScaleUp {
                count, from, to, ..
            } => {
                assert_eq!(from + count, *to);
                ("up", *count, *from, vec![])
            }
            Plan::ScaleDown {
                instances,
                from,
                to,
                ..
            } => {
                assert_eq!(from - instances.len() as u32, *to);
                ("down", instances.len() as u32, *from, instances.clone())
            }
        }
    }

    #[test]
    fn the_policy_table() {
        type Case = (
            &'static str,
            Box<dyn Fn(&mut Observed)>,
            (&'static str, u32, u32, Vec<String>),
        );
        let cases: Vec<Case> = vec![
            ("steady", Box::new(|_| {}), held("steady")),
            (
                "below min: launch even in cooldown",
                Box::new(|o| {
                    o.workers.clear();
                    o.last_up = Some(at(-10));
                }),
                up(1, 0),
            ),
            (
                "pending sized by CPU requests: 4.5 cores on 2-core workers → 3",
                Box::new(|o| pending(o, 9, 4500, 1 << 30)),
                up(3, 2),
            ),
            (
                "pending sized by memory: 5 × 2 GiB on 4 GiB workers → 3",
                Box::new(|o| pending(o, 5, 100, 10 << 30)),
                up(3, 2),
            ),
            (
                "pending without requests: one worker",
                Box::new(|o| pending(o, 1, 0, 0)),
                up(1, 2),
            ),
            (
                "unschedulable for 179 s of PENDING_UP_SEC's 180: hold",
                Box::new(|o| {
                    pending(o, 5, 4000, 0);
                    for p in &mut o.unschedulable {
                        p.since = at(-179);
                    }
                }),
                held("steady"),
            ),
            (
                "only the pods past the delay count: 2 of 1500m → 2",
                Box::new(|o| {
                    pending(o, 4, 6000, 0);
                    o.unschedulable[0].since = at(-10);
                    o.unschedulable[1].since = at(-10);
                }),
                up(2, 2),
            ),
            (
                "a pod no worker could host triggers nothing",
                Box::new(|o| pending(o, 1, 2500, 0)),
                held("steady"),
            ),
            (
                "beside a pod no worker could host, the others count",
                Box::new(|o| {
                    pending(o, 2, 1000, 0);
                    o.unschedulable.push(unschedulable("huge", -600, 8000, 0));
                }),
                up(1, 2),
            ),
            (
                "batch bound: 20 cores pending → 3 (SCALE_UP_BATCH)",
                Box::new(|o| pending(o, 40, 20_000, 0)),
                up(3, 2),
            ),
            (
                "max bound: 4 workers, 3 wanted → 1",
                Box::new(|o| {
                    o.workers
                        .push(w("i-c", "us-east-1a", WorkerState::Ready, 0));
                    o.workers
                        .push(w("i-d", "us-east-1b", WorkerState::Ready, 0));
                    pending(o, 9, 6000, 0);
                }),
                up(1, 4),
            ),
            (
                "at max: hold",
                Box::new(|o| {
                    for id in ["i-c", "i-d", "i-e"] {
                        o.workers.push(w(id, "us-east-1a", WorkerState::Ready, 0));
                    }
                    pending(o, 9, 6000, 0);
                }),
                held("at_max"),
            ),
            (
                "joining workers cover the demand: hold",
                Box::new(|o| {
                    o.workers
                        .push(w("i-j", "us-east-1a", WorkerState::Joining, 0));
                    o.workers
                        .push(w("i-k", "us-east-1b", WorkerState::Joining, 0));
                    pending(o, 3, 3000, 0);
                }),
                held("joining"),
            ),
            (
                "joining workers cover part: the rest",
                Box::new(|o| {
                    o.workers
                        .push(w("i-j", "us-east-1a", WorkerState::Joining, 0));
                    pending(o, 6, 5000, 0);
                }),
                up(2, 3),
            ),
            (
                "up cooldown",
                Box::new(|o| {
                    pending(o, 1, 100, 0);
                    o.last_up = Some(at(-179));
                }),
                held("cooldown_up"),
            ),
            (
                "a recent scale-down does not delay an up",
                Box::new(|o| {
                    pending(o, 1, 100, 0);
                    o.last_down = Some(at(-1));
                    o.last_up = Some(at(-180));
                }),
                up(1, 2),
            ),
            (
                "CPU 90% on 2 workers → ⌈2×90/70⌉−2 = 1",
                Box::new(|o| o.metrics.cpu_percent = Some(90.0)),
                up(1, 2),
            ),
            (
                "CPU 100% on 4 workers → 2 wanted, 1 to MAX_WORKERS",
                Box::new(|o| {
                    o.workers
                        .push(w("i-c", "us-east-1a", WorkerState::Ready, 0));
                    o.workers
                        .push(w("i-d", "us-east-1b", WorkerState::Ready, 0));
                    o.metrics.cpu_percent = Some(100.0);
                }),
                up(1, 4),
            ),
            (
                "idle: the emptiest worker goes",
                Box::new(idle),
                down(&["i-b"], 2),
            ),
            (
                "idle but something pending now: hold",
                Box::new(|o| {
                    idle(o);
                    o.metrics.pending_pods = 1;
                }),
                held("steady"),
            ),
            (
                "idle, an unschedulable pod a worker could host, however recent: hold",
                Box::new(|o| {
                    idle(o);
                    o.unschedulable.push(unschedulable("new", 0, 100, 0));
                }),
                held("steady"),
            ),
            (
                "idle, only a pod no worker could host waits: the emptiest goes",
                Box::new(|o| {
                    idle(o);
                    o.unschedulable.push(unschedulable("huge", -600, 8000, 0));
                }),
                down(&["i-b"], 2),
            ),
            (
                "idle not sustained: hold",
                Box::new(|o| {
                    idle(o);
                    o.metrics.idle_sustained = false;
                }),
                held("steady"),
            ),
            (
                "idle at min: hold",
                Box::new(|o| {
                    idle(o);
                    o.workers.truncate(1);
                }),
                held("at_min"),
            ),
            (
                "idle, down cooldown after the last up",
                Box::new(|o| {
                    idle(o);
                    o.last_up = Some(at(-599));
                }),
                held("cooldown_down"),
            ),
            (
                "idle, down cooldown after the last down",
                Box::new(|o| {
                    idle(o);
                    o.last_down = Some(at(-60));
                }),
                held("cooldown_down"),
            ),
            (
                "idle, the emptiest is blocked: the next one",
                Box::new(|o| {
                    idle(o);
                    o.workers[1].blocked = Some("pod kube-system/dns has no PDB".into());
                }),
                down(&["i-a"], 2),
            ),
            (
                "idle, every worker blocked",
                Box::new(|o| {
                    idle(o);
                    for w in &mut o.workers {
                        w.blocked = Some("restrictive PDB".into());
                    }
                }),
                held("no_candidate"),
            ),
            (
                "idle, unneeded for 599 s of 600: hold",
                Box::new(|o| {
                    idle(o);
                    o.unneeded.insert("i-b".into(), at(-599));
                }),
                held("unneeded"),
            ),
            (
                "idle, unneeded first seen now: hold",
                Box::new(|o| {
                    idle(o);
                    o.unneeded.clear();
                }),
                held("unneeded"),
            ),
            (
                "idle, a worker leaving: no second drain of a worker with pods",
                Box::new(|o| {
                    idle(o);
                    o.workers
                        .push(w("i-l", "us-east-1c", WorkerState::Leaving, 100));
                }),
                held("leaving"),
            ),
            (
                "idle, a worker leaving: an empty worker may still go",
                Box::new(|o| {
                    idle(o);
                    o.workers
                        .push(w("i-e", "us-east-1c", WorkerState::Ready, 0));
                    o.unneeded.insert("i-e".into(), at(-600));
                    o.workers
                        .push(w("i-l", "us-east-1c", WorkerState::Leaving, 100));
                }),
                down(&["i-e"], 3),
            ),
            (
                "idle, but the rest could not hold the requests",
                Box::new(|o| {
                    idle(o);
                    o.workers[0].requested_cpu_milli = 1900;
                    o.workers[1].requested_cpu_milli = 1900;
                }),
                held("no_candidate"),
            ),
            (
                "idle, zones balanced: from the zone with two workers",
                Box::new(|o| {
                    o.workers
                        .push(w("i-c", "us-east-1a", WorkerState::Ready, 300));
                    idle(o);
                }),
                down(&["i-c"], 3),
            ),
            (
                "idle, a NotReady worker is no victim, nor room for the other's pods",
                Box::new(|o| {
                    idle(o);
                    o.workers[1].state = WorkerState::NotReady;
                }),
                held("no_candidate"),
            ),
            (
                "idle while a worker joins: hold",
                Box::new(|o| {
                    idle(o);
                    o.workers
                        .push(w("i-j", "us-east-1a", WorkerState::Joining, 0));
                }),
                held("joining"),
            ),
            (
                "leaving workers do not count: 1 left at min",
                Box::new(|o| {
                    idle(o);
                    o.workers[0].state = WorkerState::Leaving;
                }),
                held("at_min"),
            ),
            (
                "above max (MAX lowered): remove one, emptiest, no cooldown",
                Box::new(|o| {
                    for id in ["i-c", "i-d", "i-e", "i-f"] {
                        o.workers.push(w(id, "us-east-1c", WorkerState::Ready, 50));
                    }
                    o.last_down = Some(at(-1));
                }),
                down(&["i-c"], 6),
            ),
            (
                "no CPU data: no CPU decision",
                Box::new(|o| o.metrics.cpu_percent = None),
                held("no_metrics"),
            ),
        ];
        for (name, setup, want) in cases {
            let mut o = observed(two());
            setup(&mut o);
            let plan = decide(&policy(), &o);
            assert_eq!(shape(&plan), want, "{name}: {plan:?}");
        }
    }

    #[test]
    fn pods_per_node_sizes_launches_and_bounds_removals() {
        type Setup = fn(&mut Observed);
        type Case = (
            &'static str,
            Option<u32>,
            Setup,
            (&'static str, u32, u32, Vec<String>),
        );
        let table: [Case; 7] = [
            (
                "25 pods without requests, 10 per worker → 3",
                Some(10),
                |o| pending(o, 25, 0, 0),
                up(3, 2),
            ),
            (
                "25 pods without requests, no PODS_PER_NODE → 1",
                None,
                |o| pending(o, 25, 0, 0),
                up(1, 2),
            ),
            (
                "12 pods of 100m, 10 per worker → 2 (pods, not CPU)",
                Some(10),
                |o| pending(o, 12, 1200, 0),
                up(2, 2),
            ),
            (
                "5 pods of 900m, 10 per worker → 3 (CPU, not pods)",
                Some(10),
                |o| pending(o, 5, 4500, 0),
                up(3, 2),
            ),
            (
                "idle, 12 pods on 2 workers, 10 per worker: none can go",
                Some(10),
                |o| {
                    for w in &mut o.workers {
                        let cpu = w.requested_cpu_milli;
                        with_pods(w, 6, cpu, 0);
                    }
                    idle(o);
                },
                held("no_candidate"),
            ),
            (
                "idle, 12 pods on 2 workers, 20 per worker: the emptiest goes",
                Some(20),
                |o| {
                    for w in &mut o.workers {
                        let cpu = w.requested_cpu_milli;
                        with_pods(w, 6, cpu, 0);
                    }
                    idle(o);
                },
                down(&["i-b"], 2),
            ),
            (
                "idle, 12 pods, no PODS_PER_NODE: CPU and memory alone decide",
                None,
                |o| {
                    for w in &mut o.workers {
                        let cpu = w.requested_cpu_milli;
                        with_pods(w, 6, cpu, 0);
                    }
                    idle(o);
                },
                down(&["i-b"], 2),
            ),
        ];
        for (name, per, setup, want) in table {
            let p = Policy {
                pods_per_node: per,
                ..policy()
            };
            let mut o = observed(two());
            setup(&mut o);
            assert_eq!(shape(&decide(&p, &o)), want, "{name}");
        }
    }

    #[test]
    fn bounds_hold_for_every_input() {
        let p = policy();
        for n in 0..8u32 {
            for cpu in [0.0, 20.0, 50.0, 80.0, 100.0] {
                for pend in [0u32, 1, 50] {
                    for idle_s in [false, true] {
                        let workers = (0..n)
                            .map(|i| w(&format!("i-{i}"), "z", WorkerState::Ready, 10))
                            .collect();
                        let mut o = observed(workers);
                        o.metrics = Metrics {
                            cpu_percent: Some(cpu),
                            pending_pods: 0,
                            idle_sustained: idle_s,
                        };
                        if pend > 0 {
                            pending(&mut o, pend, u64::from(pend) * 500, 0);
                        }
                        let to = match decide(&p, &o) {
                            Plan::ScaleUp { to, from, .. } => {
                                assert!(to > from);
                                to
                            }
                            Plan::ScaleDown { to, from, .. } => {
                                assert!(to < from);
                                to
                            }
                            Plan::Hold { .. } => continue,
                        };
                        // Moves go towards [min, max] and never leave it once inside.
                        if (p.min..=p.max).contains(&n) {
                            assert!((p.min..=p.max).contains(&to), "{n} → {to}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn launches_spread_over_the_least_populated_zones() {
        let subnets: Vec<(String, String)> = [
            ("subnet-a", "us-east-1a"),
            ("subnet-a2", "us-east-1a"),
            ("subnet-b", "us-east-1b"),
            ("subnet-c", "us-east-1c"),
        ]
        .map(|(s, z)| (s.to_owned(), z.to_owned()))
        .into();
        let workers = vec![
            w("i-1", "us-east-1a", WorkerState::Ready, 0),
            w("i-2", "us-east-1a", WorkerState::Ready, 0),
            w("i-3", "us-east-1b", WorkerState::Joining, 0),
            w("i-4", "us-east-1c", WorkerState::Leaving, 0),
        ];
        assert_eq!(
            spread(&subnets, &workers, 4),
            ["subnet-c", "subnet-b", "subnet-c", "subnet-a"]
        );
        assert!(spread(&[], &workers, 2).is_empty());
    }

    #[test]
    fn a_new_worker_is_the_largest_ready_node_or_the_configured_one() {
        let node = |cpu_milli: u64, gib: u64, pool: &str| Template {
            cpu_milli,
            memory_bytes: gib << 30,
            pods: 20,
            labels: [("pool".to_owned(), pool.to_owned())].into(),
            taints: vec![],
        };
        let table = [
            (
                "no Ready worker yet: the configured one",
                vec![],
                configured(),
            ),
            ("one node", vec![node(4000, 8, "a")], node(4000, 8, "a")),
            (
                "most CPU wins, with its own memory and labels",
                vec![node(2000, 16, "a"), node(4000, 8, "b")],
                node(4000, 8, "b"),
            ),
            (
                "equal CPU: most memory",
                vec![node(4000, 8, "a"), node(4000, 16, "b")],
                node(4000, 16, "b"),
            ),
        ];
        for (name, nodes, want) in table {
            assert_eq!(Template::learnt(nodes, configured()), want, "{name}");
        }
        let c = configured();
        assert_eq!(
            (c.pods, c.labels["kubernetes.io/os"].as_str()),
            (110, "linux")
        );
        assert!(c.taints.is_empty());
    }

    #[test]
    fn pending_pods_are_sized_on_the_learned_worker() {
        let sized = |cpu_milli: u64, gib: u64| Template {
            cpu_milli,
            memory_bytes: gib << 30,
            ..configured()
        };
        let table = [
            (
                "3 × 1.5 cores on the configured 2-core size",
                3,
                4500,
                1,
                configured(),
                3,
            ),
            (
                "3 × 1.5 cores on 4-core nodes",
                3,
                4500,
                1,
                sized(4000, 8),
                2,
            ),
            (
                "5 × 2 GiB on the configured 4 GiB",
                5,
                100,
                10,
                configured(),
                3,
            ),
            ("5 × 2 GiB on 16 GiB nodes", 5, 100, 10, sized(4000, 16), 1),
        ];
        for (name, pods, cpu, gib, template, want) in table {
            let mut o = observed(two());
            o.template = template;
            pending(&mut o, pods, cpu, gib << 30);
            assert_eq!(shape(&decide(&policy(), &o)), up(want, 2), "{name}");
        }
    }
}
