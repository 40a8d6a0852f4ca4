//! Scale-down by simulation, as Cluster Autoscaler's: a Ready worker is *unneeded* when its
//! utilisation by requests (the larger of CPU and memory requested over allocatable) is below
//! `SCALE_DOWN_UTILIZATION_THRESHOLD`, every pod that has to move (not a DaemonSet or mirror
//! pod) fits on the workers that stay by the scale-up's fit ([`binpack`](super::binpack):
//! CPU, memory, pod count, selector, affinity, taints), the PodDisruptionBudgets allow each
//! eviction, and what stays still keeps `HEADROOM_PODS` free slots (or the forecast's:
//! [`headroom::wanted`]). Workers are tried in the
//! order a removal would take them (most populated zone first, then least utilised), and each
//! one found unneeded is taken as gone for the next — its pods placed, the budgets spent — so
//! the whole unneeded set could go together, and so could any part of it.
//!
//! Stateless: when each worker became unneeded comes in (`Observed::unneeded`) and goes out
//! ([`Unneeded::since`]) for the caller to keep; one that is needed again drops out. Only
//! those unneeded for `SCALE_DOWN_UNNEEDED_SEC` are due.
use std::collections::BTreeMap;

use jiff::Timestamp;

use super::binpack::{self, PodNeeds, Template};
use super::headroom::{self, Slot, Want};
use super::{Observed, Policy, Worker, WorkerState};

/// A pod on a worker, as scale-down sees it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Resident {
    pub needs: PodNeeds,
    /// Recreated elsewhere when its node goes (a controller's pod). `false`: it goes with the
    /// node (DaemonSet, mirror pod) and needs no room elsewhere.
    pub moves: bool,
    /// The PodDisruptionBudgets (`namespace/name`) that select it: each eviction spends one
    /// of `Observed::disruptions_allowed`.
    pub pdbs: Vec<String>,
}

/// What scale-down by simulation knows of a worker's node beyond its CPU. Default: nothing
/// (a joining worker): no memory, no pods, no labels.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeDetail {
    pub allocatable_memory_bytes: u64,
    /// `0`: not said (the template's, or `PODS_PER_NODE`).
    pub allocatable_pods: u32,
    pub requested_memory_bytes: u64,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<binpack::Taint>,
    /// Cordoned (`spec.unschedulable`): no pod moves there.
    pub unschedulable: bool,
    pub pods: Vec<Resident>,
}

/// The simulation's answer.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Unneeded {
    /// Every worker unneeded now, with when it became so (the input's time, else now).
    pub since: BTreeMap<String, Timestamp>,
    /// Those unneeded for `SCALE_DOWN_UNNEEDED_SEC`, in removal order.
    pub due: Vec<String>,
}

/// A worker as a place pods can go: its room left, its labels and taints.
struct Room<'a> {
    id: &'a str,
    shape: Template,
    used: (u64, u64, u32),
}

impl Room<'_> {
    fn fits(&self, pod: &PodNeeds, per_node: u32) -> bool {
        self.used.0 + pod.cpu_milli <= self.shape.cpu_milli
            && self.used.1 + pod.memory_bytes <= self.shape.memory_bytes
            && self.used.2 < per_node
            && binpack::never_fits(&self.shape, pod, per_node).is_none()
    }

    fn slots(&self, slot: Slot, per_node: u32) -> u64 {
        slot.within(
            self.shape.cpu_milli.saturating_sub(self.used.0),
            self.shape.memory_bytes.saturating_sub(self.used.1),
            per_node.saturating_sub(self.used.2),
        )
    }
}

/// The pod slots a worker offers: `PODS_PER_NODE`, else its own allocatable, else the
/// template's.
pub(super) fn per_node(policy: &Policy, o: &Observed, w: &Worker) -> u32 {
    policy
        .pods_per_node
        .unwrap_or(match w.node.allocatable_pods {
            0 => o.template.pods,
            n => n,
        })
}

/// A worker's node as a template (what it offers) and what its pods use.
fn room<'a>(o: &Observed, w: &'a Worker) -> Room<'a> {
    let shape = if w.state == WorkerState::Joining {
        o.template.clone()
    } else {
        Template {
            cpu_milli: w.allocatable_cpu_milli,
            memory_bytes: w.node.allocatable_memory_bytes,
            pods: w.node.allocatable_pods,
            labels: w.node.labels.clone(),
            taints: w.node.taints.clone(),
        }
    };
    Room {
        id: &w.instance_id,
        shape,
        used: (w.requested_cpu_milli, w.node.requested_memory_bytes, w.pods),
    }
}

/// Requests over allocatable, the larger of CPU and memory (CA's utilisation); a resource
/// the node does not report does not count.
pub fn utilisation(w: &Worker) -> f64 {
    let part = |used: u64, has: u64| {
        if has == 0 {
            0.0
        } else {
            used as f64 / has as f64
        }
    };
    part(w.requested_cpu_milli, w.allocatable_cpu_milli).max(part(
        w.node.requested_memory_bytes,
        w.node.allocatable_memory_bytes,
    ))
}

/// Which workers could go, and since when (see the module documentation).
/// `want`: the free slots what stays must keep ([`headroom::wanted`]).
pub fn unneeded(policy: &Policy, o: &Observed, want: &Want) -> Unneeded {
    let mut zones: BTreeMap<&str, u32> = BTreeMap::new();
    for w in o.workers.iter().filter(|w| w.state != WorkerState::Leaving) {
        *zones.entry(&w.zone).or_default() += 1;
    }
    // Where pods can go: Ready workers not cordoned by us or anyone, and joining ones (empty
    // templates; a pod may land there when it joins).
    let mut rooms: Vec<(Room, u32)> = o
        .workers
        .iter()
        .filter(|w| matches!(w.state, WorkerState::Ready | WorkerState::Joining))
        .filter(|w| !w.node.unschedulable)
        .map(|w| (room(o, w), per_node(policy, o, w)))
        .collect();
    let slot = headroom::slot(o);
    let mut budgets = o.disruptions_allowed.clone();
    let mut order: Vec<&Worker> = o
        .workers
        .iter()
        .filter(|w| w.state == WorkerState::Ready && w.blocked.is_none())
        .filter(|w| utilisation(w) < policy.utilisation_down)
        .collect();
    order.sort_by(|a, b| {
        let pop = |w: &Worker| std::cmp::Reverse(zones.get(w.zone.as_str()).copied());
        (pop(a), utilisation(a), &a.instance_id)
            .partial_cmp(&(pop(b), utilisation(b), &b.instance_id))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let mut out = Unneeded::default();
    let due_after = policy.unneeded_down.as_secs() as i64;
    for w in order {
        let Some(next) = without(&rooms, &mut budgets, w, slot, want.slots) else {
            continue;
        };
        rooms = next;
        let since = o.unneeded.get(&w.instance_id).copied().unwrap_or(o.now);
        if o.now.as_second() - since.as_second() >= due_after {
            out.due.push(w.instance_id.clone());
        }
        out.since.insert(w.instance_id.clone(), since);
    }
    out
}

/// The rooms once `w` is gone and its moving pods placed first-fit (largest first) on the
/// others, its budgets spent; `None` when a pod finds no room, a budget is spent, or fewer
/// than `want` free slots would be left.
fn without<'a>(
    rooms: &[(Room<'a>, u32)],
    budgets: &mut BTreeMap<String, u32>,
    w: &Worker,
    slot: Option<Slot>,
    want: u64,
) -> Option<Vec<(Room<'a>, u32)>> {
    let mut next: Vec<(Room<'a>, u32)> = rooms
        .iter()
        .filter(|(r, _)| r.id != w.instance_id)
        .map(|(r, n)| {
            let shape = r.shape.clone();
            (Room { shape, ..*r }, *n)
        })
        .collect();
    let mut moving: Vec<&super::Resident> = w.node.pods.iter().filter(|p| p.moves).collect();
    moving.sort_by_key(|p| std::cmp::Reverse((p.needs.cpu_milli, p.needs.memory_bytes)));
    let mut spent = budgets.clone();
    for pod in moving {
        for pdb in &pod.pdbs {
            let left = spent.get_mut(pdb).filter(|n| **n > 0)?;
            *left -= 1;
        }
        let (dest, _) = next.iter_mut().find(|(r, n)| r.fits(&pod.needs, *n))?;
        dest.used.0 += pod.needs.cpu_milli;
        dest.used.1 += pod.needs.memory_bytes;
        dest.used.2 += 1;
    }
    if let Some(slot) = slot {
        let free: u64 = next.iter().map(|(r, n)| r.slots(slot, *n)).sum();
        if free < want {
            return None;
        }
    }
    *budgets = spent;
    Some(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::binpack::{Taint, Toleration};
    use crate::decide::tests::{observed, policy, w, with_pods};

    const GIB: u64 = 1 << 30;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    /// i-a (zone a) runs 1.2 CPU / 1 GiB in 2 pods; i-b (zone b) runs `b_cpu` / `b_mem` in
    /// 2 pods: the candidate when it is the less utilised.
    fn pair(b_cpu: u64, b_mem: u64) -> Observed {
        let mut a = w("i-a", "a", WorkerState::Ready, 0);
        with_pods(&mut a, 2, 1200, GIB);
        let mut b = w("i-b", "b", WorkerState::Ready, 0);
        with_pods(&mut b, 2, b_cpu, b_mem);
        observed(vec![a, b])
    }

    /// Unneeded with `HEADROOM_PODS` alone wanted (the forecast off).
    fn unneeded(p: &Policy, o: &Observed) -> Unneeded {
        super::unneeded(p, o, &headroom::wanted(p, o, None))
    }

    fn ids(u: &Unneeded) -> Vec<&str> {
        u.since.keys().map(String::as_str).collect()
    }

    #[test]
    fn a_worker_is_unneeded_only_when_its_pods_fit_elsewhere_by_every_rule() {
        type Setup = fn(&mut Observed, &mut Policy);
        let table: Vec<(&str, Setup, Vec<&str>)> = vec![
            ("low and fits: unneeded", |_, _| {}, vec!["i-b"]),
            (
                "CPU 40 % but memory 60 %: the larger counts",
                |o, _| {
                    o.workers[1].node.requested_memory_bytes = 2 * GIB + GIB / 2;
                },
                vec![],
            ),
            (
                "threshold 0.75: both low enough; i-a (60 %) goes first, then i-b has nowhere",
                |o, p| {
                    o.workers[1].node.requested_memory_bytes = 2 * GIB + GIB / 2;
                    p.utilisation_down = 0.75;
                },
                vec!["i-a"],
            ),
            (
                "its pods' memory does not fit on i-a",
                |o, _| with_pods(&mut o.workers[1], 2, 400, 3 * GIB + GIB / 2),
                vec![],
            ),
            (
                "i-a's pod count is full (PODS_PER_NODE 3)",
                |_, p| p.pods_per_node = Some(3),
                vec![],
            ),
            (
                "a pod selects a label only i-b has: it stays",
                |o, _| {
                    o.workers[1].node.labels.insert("disk".into(), "ssd".into());
                    o.workers[1].node.pods[0]
                        .needs
                        .node_selector
                        .insert("disk".into(), "ssd".into());
                },
                vec![],
            ),
            (
                "i-a is tainted and the pods do not tolerate it",
                |o, _| {
                    o.workers[0].node.taints.push(Taint {
                        key: "dedicated".into(),
                        value: "db".into(),
                        effect: "NoSchedule".into(),
                    })
                },
                vec![],
            ),
            (
                "… unless they tolerate it",
                |o, _| {
                    o.workers[0].node.taints.push(Taint {
                        key: "dedicated".into(),
                        value: "db".into(),
                        effect: "NoSchedule".into(),
                    });
                    for p in &mut o.workers[1].node.pods {
                        p.needs.tolerations.push(Toleration {
                            key: Some("dedicated".into()),
                            exists: true,
                            value: String::new(),
                            effect: None,
                        });
                    }
                },
                vec!["i-b"],
            ),
            (
                "i-a is cordoned: no room there",
                |o, _| o.workers[0].node.unschedulable = true,
                vec![],
            ),
            (
                "a joining worker is room",
                |o, _| {
                    o.workers[0].node.unschedulable = true;
                    o.workers.push(w("i-j", "c", WorkerState::Joining, 0));
                },
                vec!["i-b"],
            ),
            (
                "DaemonSet pods need no room: too big to move, but they do not move",
                |o, _| {
                    with_pods(&mut o.workers[1], 2, 800, 3 * GIB + GIB / 2);
                    o.workers[1].node.requested_memory_bytes = GIB;
                    for p in &mut o.workers[1].node.pods {
                        p.moves = false;
                    }
                },
                vec!["i-b"],
            ),
            (
                "its PDB allows no disruption",
                |o, _| {
                    o.workers[1].node.pods[0].pdbs = vec!["default/web".into()];
                    o.disruptions_allowed.insert("default/web".into(), 0);
                },
                vec![],
            ),
            (
                "a PDB missing from the budgets allows nothing",
                |o, _| o.workers[1].node.pods[0].pdbs = vec!["default/gone".into()],
                vec![],
            ),
            (
                "its PDB allows one",
                |o, _| {
                    o.workers[1].node.pods[0].pdbs = vec!["default/web".into()];
                    o.disruptions_allowed.insert("default/web".into(), 1);
                },
                vec!["i-b"],
            ),
            (
                "blocked by the safe-to-evict review",
                |o, _| o.workers[1].blocked = Some("no controller".into()),
                vec![],
            ),
            (
                "HEADROOM_PODS 1: i-a, full, would keep no slot of 500m (the mean pod)",
                |_, p| p.headroom_pods = 1,
                vec![],
            ),
            (
                "HEADROOM_PODS 4: a joining worker keeps 4",
                |o, p| {
                    p.headroom_pods = 4;
                    o.workers.push(w("i-j", "c", WorkerState::Joining, 0));
                },
                vec!["i-b"],
            ),
        ];
        for (name, setup, want) in table {
            let mut o = pair(800, GIB);
            let mut p = policy();
            setup(&mut o, &mut p);
            assert_eq!(ids(&unneeded(&p, &o)), want, "{name}");
        }
    }

    #[test]
    fn the_unneeded_set_can_go_together_budgets_and_room_spent_in_order() {
        // Three workers of 300m each: the first two found unneeded move onto the others;
        // the last has nowhere left once they are gone.
        let three: Vec<Worker> = ["i-1", "i-2", "i-3"]
            .iter()
            .map(|id| w(id, "a", WorkerState::Ready, 300))
            .collect();
        let mut o = observed(three);
        assert_eq!(ids(&unneeded(&policy(), &o)), ["i-1", "i-2"]);
        // One disruption allowed across both: only the first.
        for w in &mut o.workers {
            w.node.pods[0].pdbs = vec!["default/web".into()];
        }
        o.disruptions_allowed.insert("default/web".into(), 1);
        assert_eq!(ids(&unneeded(&policy(), &o)), ["i-1"]);
    }

    #[test]
    fn since_is_kept_from_the_last_run_and_due_after_the_unneeded_time() {
        let mut o = pair(800, GIB);
        let p = policy();
        let first = unneeded(&p, &o);
        assert_eq!(first.since["i-b"], o.now, "first seen: now");
        assert!(first.due.is_empty());
        o.unneeded = [("i-b".to_owned(), at(-600)), ("i-a".to_owned(), at(-900))].into();
        let later = unneeded(&p, &o);
        assert_eq!(later.since["i-b"], at(-600), "kept");
        assert_eq!(later.due, ["i-b"]);
        assert!(
            !later.since.contains_key("i-a"),
            "needed again: dropped, so its time restarts when it is unneeded next"
        );
        o.unneeded.insert("i-b".into(), at(-599));
        assert!(unneeded(&p, &o).due.is_empty(), "599 s of 600");
    }
}
