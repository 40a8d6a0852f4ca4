//! Acting ahead: keep `HEADROOM_PODS` free pod slots on the workers, as the overprovisioning
//! pattern's placeholder pods do, so that many pods arriving at once start without waiting
//! for a worker to join. A slot is the mean request of the pods the Ready workers run (the
//! pod most likely to come next; none running: no slot, no headroom). Scale-up launches
//! what the missing slots need after the unschedulable pods are packed; scale-down keeps a
//! worker whose removal would leave fewer slots ([`down`](super::down)). The forecast
//! ([`forecast`](super::forecast)) asks for free slots the same way: what it expects beyond
//! today's demand ([`wanted`]).
use super::binpack::Estimate;
use super::{Observed, Policy, WorkerState, forecast};

/// The free pod slots to keep: `HEADROOM_PODS`, or what the forecast expects beyond today's
/// demand when that is more; and why.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Want {
    pub slots: u64,
    pub why: String,
}

/// The free slots wanted, given the demand the forecast expects (`None`: off, or no history
/// for the window yet).
pub fn wanted(policy: &Policy, o: &Observed, expected: Option<u64>) -> Want {
    let headroom = u64::from(policy.headroom_pods);
    let ahead = expected.map(|e| (e, forecast::demand(policy, o)));
    match ahead {
        Some((e, now)) if e.saturating_sub(now) > headroom => Want {
            slots: e - now,
            why: format!("forecast: {e} pod slots asked one FORECAST_PERIOD_SEC ago, {now} now"),
        },
        _ => Want {
            slots: headroom,
            why: format!("HEADROOM_PODS {headroom}"),
        },
    }
}

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

/// Workers to launch, beyond `packed`'s, for `want`'s free slots: the slots left on
/// the schedulable Ready workers and on the joining and new ones once `packed` placed the
/// unschedulable pods; and why. `None`: enough slots, or no headroom asked or sized.
pub fn need(
    policy: &Policy,
    o: &Observed,
    packed: &Estimate,
    want: &Want,
) -> Option<(u64, String)> {
    let (why, want) = (&want.why, want.slots);
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
            "{why}: {want} free slots wanted, {free} free of {}m/{} MiB: {workers} workers",
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
            let want_slots = wanted(&p, &o, None);
            assert_eq!(
                need(&p, &o, &packed, &want_slots).map(|n| n.0),
                want,
                "{name}"
            );
        }
        // Nothing running: no slot to size, so no headroom.
        let p = Policy {
            headroom_pods: 4,
            ..policy()
        };
        let empty = observed(vec![w("i-a", "z", WorkerState::Ready, 0)]);
        let four = wanted(&p, &empty, None);
        assert_eq!(need(&p, &empty, &Estimate::default(), &four), None);
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

    #[test]
    fn the_forecast_asks_for_what_it_expects_beyond_todays_demand() {
        // Two pods run (demand 2).
        let table: [(&str, u32, Option<u64>, u64); 5] = [
            ("off, no headroom", 0, None, 0),
            ("off: HEADROOM_PODS", 3, None, 3),
            ("expects 12: 10 more", 3, Some(12), 10),
            ("expects 4: HEADROOM_PODS's 3 is more", 3, Some(4), 3),
            ("expects less than today: nothing", 0, Some(1), 0),
        ];
        for (name, headroom, expected, slots) in table {
            let p = Policy {
                headroom_pods: headroom,
                ..policy()
            };
            assert_eq!(
                wanted(&p, &observed(two()), expected).slots,
                slots,
                "{name}"
            );
        }
        // Through decision: 14 expected, 2 running: 12 free slots wanted, 11 there (5 + 6
        // of 300m): one worker; 13 expected: 11 wanted, none.
        let d = crate::decide::decision(&policy(), &observed(two()), Some(14));
        assert!(matches!(d.plan, Plan::ScaleUp { count: 1, .. }), "{d:?}");
        let d = crate::decide::decision(&policy(), &observed(two()), Some(13));
        assert!(!matches!(d.plan, Plan::ScaleUp { .. }), "{d:?}");
    }
}
