//! Acting before demand arrives, from what it did one period ago: a seasonal-naive forecast.
//! Each run records the pod slots the cluster's pods ask for ([`demand`]); with
//! `FORECAST_PERIOD_SEC` = P > 0 the demand expected over the next `FORECAST_LOOKAHEAD_SEC`
//! = L is the largest sample in [now − P, now − P + L] ([`expected`]): a workload that
//! repeats (a batch every hour, a day's curve) is met by workers launched L ahead of it.
//! With `FORECAST_PERIODS` = K > 1 it is the smallest of that over the last K periods: only
//! demand seen K times in a row is expected again, so a one-off spike does not come back
//! as workers launched for nothing one period later (measured, not assumed).
//! What is missing beyond today's demand becomes free slots wanted, as `HEADROOM_PODS` are
//! ([`headroom::wanted`](super::headroom::wanted)): scale-up launches for them and scale-down
//! keeps them. The same window serves both, so scale-down never removes a worker scale-up
//! would launch again at once; one idle for longer goes and comes back in time.
//!
//! Stateless: the history comes in and the next one goes out ([`record`]) for the caller to
//! keep (the Lambda in DynamoDB, the simulator in memory).
use std::collections::BTreeMap;
use std::time::Duration;

use super::binpack;
use super::{Observed, Policy, WorkerState};

/// `FORECAST_PERIOD_SEC`, `FORECAST_LOOKAHEAD_SEC`, `FORECAST_PERIODS`. Default: off
/// (period 0).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Forecast {
    pub period: Duration,
    pub lookahead: Duration,
    /// Periods the demand must have come back in (at least 1).
    pub periods: u32,
}

impl Forecast {
    pub fn on(&self) -> bool {
        !self.period.is_zero()
    }

    /// How far back the history reaches: the periods compared.
    pub fn kept(&self) -> i64 {
        self.period.as_secs() as i64 * i64::from(self.periods.max(1))
    }
}

/// The longest history (period × periods): it is one DynamoDB item, at most 400 KB; a day of
/// one sample a minute is 1,441 samples of ~20 bytes (~30 KB), well within it.
pub const MAX_HISTORY_SEC: u64 = 86_400;

/// Pod slots asked, by the minute (Unix seconds of the minute's start): one sample a minute,
/// the largest when several runs share one, so the size is bounded by the period whatever
/// the schedule.
pub type History = BTreeMap<i64, u64>;

/// The pod slots the cluster's pods ask for now: those running on workers that move with
/// their controller (not DaemonSet or mirror pods, not on a worker leaving: they come back
/// as unschedulable or elsewhere) and the unschedulable ones a worker could host. A pod is
/// one slot, as [`headroom::slot`](super::headroom::slot) sizes a slot by the mean pod.
pub fn demand(policy: &Policy, o: &Observed) -> u64 {
    let running = o
        .workers
        .iter()
        .filter(|w| w.state != WorkerState::Leaving)
        .flat_map(|w| w.node.pods.iter().filter(|p| p.moves))
        .count();
    let per_node = policy.pods_per_node.unwrap_or(o.template.pods);
    let waiting = o
        .unschedulable
        .iter()
        .filter(|p| binpack::never_fits(&o.template, &p.needs, per_node).is_none())
        .count();
    (running + waiting) as u64
}

fn minute(t: i64) -> i64 {
    t - t.rem_euclid(60)
}

/// The demand expected over the next lookahead: the largest sample in [now − kP, now − kP + L],
/// the smallest of that for k in 1..=K; `None` when the forecast is off or a window has no
/// sample (the first K periods).
pub fn expected(f: &Forecast, history: &History, now: i64) -> Option<u64> {
    if !f.on() {
        return None;
    }
    let period = f.period.as_secs() as i64;
    (1..=i64::from(f.periods.max(1)))
        .map(|k| {
            let from = now - k * period;
            let to = from + f.lookahead.as_secs() as i64;
            history.range(minute(from)..=to).map(|(_, &n)| n).max()
        })
        .try_fold(u64::MAX, |least, peak| Some(least.min(peak?)))
}

/// `history` with this run's `demand` recorded at `now`, less what no later run will read
/// (samples before the minute of now − KP). Empty when the forecast is off.
pub fn record(f: &Forecast, history: &History, now: i64, demand: u64) -> History {
    if !f.on() {
        return History::new();
    }
    let keep = minute(now - f.kept());
    let mut next: History = history.range(keep..).map(|(&t, &n)| (t, n)).collect();
    let slot = next.entry(minute(now)).or_default();
    *slot = (*slot).max(demand);
    next
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::tests::{observed, pending, policy, two, unschedulable, w};

    /// A minute's start (1_800_000_000 is a multiple of 60).
    const T: i64 = 1_800_000_000;

    fn hourly(lookahead: u64) -> Forecast {
        Forecast {
            period: Duration::from_secs(3600),
            lookahead: Duration::from_secs(lookahead),
            periods: 1,
        }
    }

    #[test]
    fn expected_is_the_largest_sample_one_period_ago_just_ahead() {
        // An hour ago: 4 slots, 60 from 5 min later for 20 min, 4 again.
        let history: History = (0..=60)
            .map(|m| (T - 3600 + m * 60, if (5..25).contains(&m) { 60 } else { 4 }))
            .collect();
        let table: [(&str, Forecast, i64, Option<u64>); 7] = [
            ("off", Forecast::default(), T, None),
            (
                "batch 5 min ahead, 3 min looked at",
                hourly(180),
                T,
                Some(4),
            ),
            (
                "batch 5 min ahead, 5 min looked at",
                hourly(300),
                T,
                Some(60),
            ),
            ("within the batch", hourly(0), T + 600, Some(60)),
            ("after the batch", hourly(180), T + 1500, Some(4)),
            (
                "mid-minute: the minute's sample counts",
                hourly(0),
                T + 330,
                Some(60),
            ),
            ("no sample that far back", hourly(300), T - 400, None),
        ];
        for (name, f, now, want) in table {
            assert_eq!(expected(&f, &history, now), want, "{name}");
        }
        // Two periods: the batch an hour ago, 30 slots two hours ago, nothing three ago.
        let mut two = history.clone();
        two.extend(
            (0..=60).map(|m| (T - 7200 + m * 60, if (5..25).contains(&m) { 30 } else { 4 })),
        );
        let twice = |lookahead| Forecast {
            periods: 2,
            ..hourly(lookahead)
        };
        let table: [(&str, Forecast, i64, Option<u64>); 4] = [
            ("seen twice: the smaller", twice(300), T, Some(30)),
            ("after it, both small", twice(180), T + 1500, Some(4)),
            (
                "three periods: the third has no sample",
                Forecast {
                    periods: 3,
                    ..hourly(300)
                },
                T,
                None,
            ),
            ("one period: the last alone", hourly(300), T, Some(60)),
        ];
        for (name, f, now, want) in table {
            assert_eq!(expected(&f, &two, now), want, "{name}");
        }
    }

    #[test]
    fn the_history_keeps_one_sample_a_minute_for_one_period() {
        let f = hourly(300);
        let mut h = History::new();
        for (t, d) in [(T, 3), (T + 20, 7), (T + 40, 5), (T + 60, 2)] {
            h = record(&f, &h, t, d);
        }
        assert_eq!(
            h,
            History::from([(T, 7), (T + 60, 2)]),
            "largest per minute"
        );
        let later = record(&f, &h, T + 3660, 9);
        assert_eq!(
            later,
            History::from([(T + 60, 2), (T + 3660, 9)]),
            "older than one period: dropped"
        );
        // A day of runs every 10 s stays one sample a minute.
        let day = Forecast {
            period: Duration::from_secs(MAX_HISTORY_SEC / 2),
            periods: 2,
            ..f
        };
        let mut h = History::new();
        for k in 0..(2 * 8640) {
            h = record(&day, &h, T + k * 10, 1);
        }
        assert_eq!(h.len(), 1441);
        assert!(record(&Forecast::default(), &h, T, 1).is_empty(), "off");
    }

    #[test]
    fn demand_counts_the_pods_that_need_a_slot() {
        // i-a and i-b run one pod each.
        type Setup = fn(&mut Observed);
        let table: [(&str, Setup, u64); 5] = [
            ("two running", |_| {}, 2),
            ("and three unschedulable", |o| pending(o, 3, 300, 0), 5),
            (
                "a pod no worker could host asks for nothing",
                |o| o.unschedulable.push(unschedulable("huge", 0, 8000, 0)),
                2,
            ),
            (
                "a DaemonSet pod goes with its node",
                |o| o.workers[0].node.pods[0].moves = false,
                1,
            ),
            (
                "a leaving worker's pods come back as unschedulable",
                |o| o.workers.push(w("i-l", "z", WorkerState::Leaving, 300)),
                2,
            ),
        ];
        for (name, setup, want) in table {
            let mut o = observed(two());
            setup(&mut o);
            assert_eq!(demand(&policy(), &o), want, "{name}");
        }
    }
}
