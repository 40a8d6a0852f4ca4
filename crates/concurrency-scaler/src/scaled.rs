//! What the policy's concurrency is applied to, pure: `spec.scale` resolved against the
//! function's SQS event source mappings, the bounds that keep the poller from being throttled,
//! and the writes that carry a plan out, in a safe order.
//!
//! The rule behind every bound (the Lambda SQS scaling guide): a function's reserved
//! concurrency must be at least the total maximum concurrency of its SQS mappings, or the
//! pollers are throttled and messages end in the dead-letter queue. So reserved concurrency is
//! never set below that total, a mapping's maximum never set above what the reserved
//! concurrency leaves it, and when both change the larger limit moves first.
use k8s_ops::crd::lambda_concurrency::Scale;

use crate::decide::{Plan, Policy};

/// `ScalingConfig.MaximumConcurrency`'s range.
pub const LEAST: i32 = 2;
pub const GREATEST: i32 = 1000;

/// One of the function's event source mappings, as listed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mapping {
    pub uuid: String,
    pub source_arn: String,
    /// Its poller runs (Enabled, or on its way there).
    pub active: bool,
    /// Provisioned pollers, which exclude a maximum concurrency.
    pub provisioned: bool,
    /// `ScalingConfig.MaximumConcurrency` (`None`: unlimited).
    pub maximum: Option<i32>,
}

/// The function as found this run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Function {
    pub reserved: Option<i32>,
    /// The mapping from the scaler's queue (an active one, if any).
    pub mine: Option<Mapping>,
    /// The total maximum concurrency of the function's other active SQS mappings (an
    /// unlimited one adds nothing: no reserved concurrency could cover it).
    pub others: i32,
}

impl Function {
    pub fn new(reserved: Option<i32>, mappings: &[Mapping], queue_arn: &str) -> Function {
        let mine = mappings
            .iter()
            .filter(|m| m.source_arn == queue_arn)
            .max_by_key(|m| m.active)
            .cloned();
        let sqs = |m: &&Mapping| m.active && m.source_arn.split(':').nth(2) == Some("sqs");
        let others = mappings
            .iter()
            .filter(|m| m.source_arn != queue_arn)
            .filter(sqs)
            .filter_map(|m| m.maximum)
            .sum();
        Function {
            reserved,
            mine,
            others,
        }
    }

    /// The concurrency the policy steps from.
    pub fn current(&self, scaled: Scale) -> Option<i32> {
        match scaled {
            Scale::ReservedConcurrency => self.reserved,
            _ => self.mine.as_ref().and_then(|m| m.maximum),
        }
    }
}

/// Why the chosen concurrency cannot be applied safely.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    #[error(
        "spec.scale {0:?}: the mapping from the queue uses provisioned pollers, which exclude a maximum concurrency; use ReservedConcurrency"
    )]
    Provisioned(Scale),
    #[error(
        "reserved concurrency {reserved}, less {others} for the function's other SQS mappings, leaves less than 2 for this mapping's maximum concurrency; raise or remove it, or set spec.scale Both"
    )]
    ReservedTooLow { reserved: i32, others: i32 },
}

/// What `spec.scale` means for this mapping (never `Auto`).
pub fn resolve(scale: Scale, mine: &Mapping) -> Result<Scale, Conflict> {
    match scale {
        Scale::Auto if mine.active && !mine.provisioned => Ok(Scale::MaximumConcurrency),
        Scale::Auto | Scale::ReservedConcurrency => Ok(Scale::ReservedConcurrency),
        Scale::MaximumConcurrency | Scale::Both if mine.provisioned => {
            Err(Conflict::Provisioned(scale))
        }
        other => Ok(other),
    }
}

/// The policy's bounds made safe for what is scaled, and a note for each change (the status
/// message carries them).
pub fn limits(
    policy: &Policy,
    scaled: Scale,
    f: &Function,
) -> Result<(Policy, Vec<String>), Conflict> {
    let (mut min, mut max) = (policy.min, policy.max);
    let mut notes = Vec::new();
    if scaled == Scale::ReservedConcurrency {
        let mine = f.mine.as_ref().filter(|m| m.active).and_then(|m| m.maximum);
        let floor = f.others + mine.unwrap_or(0);
        if floor > min {
            notes.push(format!(
                "reserved concurrency kept ≥ {floor}, the maximum concurrency of the function's SQS mappings"
            ));
            min = floor;
            max = max.max(floor);
        }
        return Ok((
            Policy {
                min,
                max,
                ..*policy
            },
            notes,
        ));
    }
    let into_range = |v: i32| v.clamp(LEAST, GREATEST);
    if into_range(min) != min || into_range(max) != max {
        notes.push(format!(
            "bounds [{min}, {max}] clamped to [{}, {}], ScalingConfig.MaximumConcurrency's range",
            into_range(min),
            into_range(max)
        ));
        (min, max) = (into_range(min), into_range(max));
    }
    if let (Scale::MaximumConcurrency, Some(reserved)) = (scaled, f.reserved) {
        let cap = reserved - f.others;
        if cap < LEAST {
            return Err(Conflict::ReservedTooLow {
                reserved,
                others: f.others,
            });
        }
        if cap < max {
            notes.push(format!(
                "maximum concurrency capped at {cap} by the reserved concurrency {reserved}{}",
                match f.others {
                    0 => String::new(),
                    o => format!(" less {o} for the other SQS mappings"),
                }
            ));
            (min, max) = (min.min(cap), cap);
        }
    }
    Ok((
        Policy {
            min,
            max,
            ..*policy
        },
        notes,
    ))
}

/// One write to the function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Write {
    Reserved(i32),
    Maximum(i32),
}

impl Write {
    pub fn reserved(&self) -> Option<i32> {
        match *self {
            Write::Reserved(to) => Some(to),
            Write::Maximum(_) => None,
        }
    }

    pub fn maximum(&self) -> Option<i32> {
        match *self {
            Write::Maximum(to) => Some(to),
            Write::Reserved(_) => None,
        }
    }
}

/// The writes `plan` needs, in order: with `Both`, the reserved concurrency follows the
/// mapping's maximum (plus the other mappings'), raised before the maximum rises and lowered
/// after it falls, so it is never below the total.
pub fn writes(scaled: Scale, plan: &Plan, f: &Function) -> Vec<Write> {
    match scaled {
        Scale::ReservedConcurrency => plan.set.map(Write::Reserved).into_iter().collect(),
        Scale::MaximumConcurrency | Scale::Auto => {
            plan.set.map(Write::Maximum).into_iter().collect()
        }
        Scale::Both => {
            let maximum = plan.set.or(f.current(scaled)).unwrap_or(plan.wanted);
            let reserved = maximum + f.others;
            let set_max = plan.set.map(Write::Maximum);
            let set_reserved = (f.reserved != Some(reserved)).then_some(Write::Reserved(reserved));
            let raise_first = f.reserved.is_some_and(|r| r < reserved);
            let order = match raise_first {
                true => [set_reserved, set_max],
                false => [set_max, set_reserved],
            };
            order.into_iter().flatten().collect()
        }
    }
}

#[cfg(test)]
mod tests;
