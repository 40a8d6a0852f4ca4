//! What to do with what one look at the resources found, pure: look again, report, or claim
//! the step. No I/O.
//!
//! A warm container looks first at the resources it remembers from its last invocation,
//! saving the list call. A step decided from memory is safe to claim: the claim is guarded by
//! the remembered resourceVersion, so a resource changed since fails it with 409. Anything
//! else (a hold, an unknown alarm, a missing Deployment) may be an artefact of a stale memory,
//! so it is final only when found in a fresh list. A lost claim looks again, afresh; after
//! [`MAX_CLAIMS`] claims lost on fresh lists the invocation fails, and Lambda retries it.

/// Claims lost to concurrent writers of the same resource, on fresh lists, before giving up.
pub const MAX_CLAIMS: u32 = 3;

/// What a look found about the notification's alarm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finding {
    /// No K8sMetricAlarm names the alarm.
    NoOwner,
    /// The K8sMetricAlarm's Deployment does not exist.
    NoDeployment,
    /// The policy holds (duplicate, stale, cooldown, at a bound).
    Hold,
    /// The policy steps.
    Step,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Look again, at a fresh list.
    LookAgain,
    /// The finding is the outcome (in a dry run, a step too).
    Report,
    /// Claim the step, then take it.
    Claim,
}

/// One notification's looks so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Attempts {
    /// The resources are listed afresh from now on (memory was used, empty, or not trusted).
    pub fresh: bool,
    /// Claims lost on fresh lists.
    pub lost: u32,
}

impl Attempts {
    /// What `finding`, from the look just made, leads to.
    pub fn next(&self, finding: Finding, dry_run: bool) -> Next {
        match finding {
            Finding::Step if !dry_run => Next::Claim,
            _ if !self.fresh => Next::LookAgain,
            _ => Next::Report,
        }
    }

    pub fn look_again(&mut self) {
        self.fresh = true;
    }

    /// A claim was lost (the resource changed since it was read); whether to look again.
    pub fn claim_lost(&mut self) -> bool {
        if self.fresh {
            self.lost += 1;
        }
        self.fresh = true;
        self.lost < MAX_CLAIMS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_step_or_a_fresh_finding_is_acted_on() {
        use Finding::*;
        use Next::*;
        // (finding, fresh, dry run, next)
        let cases = [
            (Step, false, false, Claim),
            (Step, true, false, Claim),
            (Step, false, true, LookAgain),
            (Step, true, true, Report),
            (Hold, false, false, LookAgain),
            (Hold, true, false, Report),
            (Hold, true, true, Report),
            (NoOwner, false, false, LookAgain),
            (NoOwner, true, false, Report),
            (NoDeployment, false, false, LookAgain),
            (NoDeployment, true, true, Report),
        ];
        for (finding, fresh, dry_run, want) in cases {
            let attempts = Attempts { fresh, lost: 0 };
            assert_eq!(
                attempts.next(finding, dry_run),
                want,
                "{finding:?} fresh={fresh} dry_run={dry_run}"
            );
        }
    }

    #[test]
    fn a_claim_lost_on_memory_is_free_then_three_fresh_ones_give_up() {
        let mut attempts = Attempts::default();
        assert!(attempts.claim_lost(), "lost on the remembered list");
        assert_eq!(
            attempts,
            Attempts {
                fresh: true,
                lost: 0
            }
        );
        assert!(attempts.claim_lost());
        assert!(attempts.claim_lost());
        assert!(!attempts.claim_lost(), "the third fresh loss gives up");
        assert_eq!(attempts.lost, MAX_CLAIMS);
    }
}
