//! Acting ahead: keep `HEADROOM_PODS` free pod slots on the workers, as the overprovisioning
//! pattern's placeholder pods do, so that many pods arriving at once start without waiting
//! for a worker to join. A slot is the mean request of the pods the Ready workers run (the
//! pod most likely to come next; none running: no slot, no headroom). Scale-up launches
//! what the missing slots need after the unschedulable pods are packed; scale-down keeps a
//! worker whose removal would leave fewer slots ([`down`](super::down)).
use super::binpack::Estimate;
use super::{Observed, Policy, WorkerState};

/// One pod's room.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Slot {
    pub cpu_milli: u64,
    pub memory_bytes: u64,
}

impl Slot {
    /// How many of it fit in this much free CPU, memory and pod count.
    pub fn within(self, cpu_milli: u64, memory_bytes: u64, pods: u32) -> u64 {
        let by = |free: u64, need: u64| free.checked_div(need).unwrap_or(u64::MAX);
        by(cpu_milli, self.cpu_milli)
            .min(by(memory_bytes, self.memory_bytes))
            .min(u64::from(pods))
    }
}

/// The mean request of the pods that move with their controller on the Ready workers.
pub fn slot(o: &Observed) -> Option<Slot> {
    let (n, cpu, mem) = o
        .workers
        .iter()
        .filter(|w| w.state == WorkerState::Ready)
        .flat_map(|w| w.node.pods.iter().filter(|p| p.moves))
        .fold((0u64, 0u64, 0u64), |(n, c, m), p| {
            (n + 1, c + p.needs.cpu_milli, m + p.needs.memory_bytes)
        });
    (n > 0).then(|| Slot {
        cpu_milli: cpu.div_ceil(n),
        memory_bytes: mem.div_ceil(n),
    })
}

/// Workers to launch, beyond `packed`'s, for `HEADROOM_PODS` free slots: the slots left on
/// the schedulable Ready workers and on the joining and new ones once `packed` placed the
/// unschedulable pods; and why. `None`: enough slots, or no headroom asked or sized.
pub fn need(policy: &Policy, o: &Observed, packed: &Estimate) -> Option<(u64, String)> {
    let want = u64::from(policy.headroom_pods);
    let slot = slot(o).filter(|_| want > 0)?;
    let t = &o.template;
    let per_node = policy.pods_per_node.unwrap_or(t.pods);
    let ready: u64 = o
        .workers
        .iter()
        .filter(|w| w.state == WorkerState::Ready && !w.node.unschedulable)
        .map(|w| {
            slot.within(
                w.allocatable_cpu_milli
                    .saturating_sub(w.requested_cpu_milli),
                w.node
                    .allocatable_memory_bytes
                    .saturating_sub(w.node.requested_memory_bytes),
                super::down::per_node(policy, o, w).saturating_sub(w.pods),
            )
        })
        .sum();
    let new: u64 = packed
        .used
        .iter()
        .map(|&(c, m, p)| {
            slot.within(
                t.cpu_milli.saturating_sub(c),
                t.memory_bytes.saturating_sub(m),
                per_node.saturating_sub(p),
            )
        })
        .sum();
    let free = ready + new;
    let per_worker = slot.within(t.cpu_milli, t.memory_bytes, per_node);
    if free >= want || per_worker == 0 {
        return None;
    }
    let workers = (want - free).div_ceil(per_worker);
    Some((
        workers,
        format!(
            "HEADROOM_PODS {want}: {free} free slots of {}m/{} MiB: {workers} workers",
            slot.cpu_milli,
            slot.memory_bytes >> 20
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::tests::{observed, pending, policy, two, w};
    use crate::decide::{Plan, decide};

    #[test]
    fn missing_slots_launch_workers_and_pending_pods_count_first() {
        // i-a runs 500m, i-b 100m: a slot is 300m; they keep 5 + 6 free.
        let table: [(&str, u32, bool, Option<u64>); 5] = [
            ("no headroom asked", 0, false, None),
            ("11 slots free, 11 asked", 11, false, None),
            ("12 asked: one worker (6 slots each)", 12, false, Some(1)),
            ("18 asked: 7 missing, two workers", 18, false, Some(2)),
            (
                "12 asked, 3 × 1500m pending: their 3 new workers' leftover counts (11 + 3)",
                12,
                true,
                None,
            ),
        ];
        for (name, headroom, busy, want) in table {
            let p = Policy {
                headroom_pods: headroom,
                ..policy()
            };
            let mut o = observed(two());
            if busy {
                pending(&mut o, 3, 4500, 0);
            }
            let (_, packed) = crate::decide::up::due(&p, &o);
            assert_eq!(need(&p, &o, &packed).map(|n| n.0), want, "{name}");
        }
        // Nothing running: no slot to size, so no headroom.
        let p = Policy {
            headroom_pods: 4,
            ..policy()
        };
        let empty = observed(vec![w("i-a", "z", WorkerState::Ready, 0)]);
        assert_eq!(need(&p, &empty, &Estimate::default()), None);
        // Through decide: the headroom's worker is a scale-up of its own.
        let p = Policy {
            headroom_pods: 12,
            ..policy()
        };
        assert!(matches!(
            decide(&p, &observed(two())),
            Plan::ScaleUp { count: 1, .. }
        ));
    }
}
