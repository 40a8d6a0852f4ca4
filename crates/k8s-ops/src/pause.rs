//! Pausing a scaler by annotation, as KEDA does: `…/paused: "true"` holds the target at
//! whatever it has; `…/paused-replicas: "N"` sets it to N and holds it there. Both set:
//! `paused-replicas` wins (KEDA's precedence). Removing the annotation resumes scaling.
//!
//! KEDA's own names are read on SqsQueueScalers and ScaledObjects (a manifest paused for KEDA
//! stays paused); K8sMetricAlarm and LambdaConcurrencyScaler, whose originals had no pause,
//! use the suite's names with the same meaning ([`SUITE`]).
//!
//! One difference, on purpose: KEDA pauses on a `paused` value that is not a boolean ("we
//! assume user wants to pause", its `NeedToBePausedByAnnotation`), so under KEDA's names a
//! manifest written for KEDA behaves the same here; the suite's own names, which no manifest
//! predates, refuse such a value with one error naming the annotation (nothing is written
//! either way).
use std::collections::BTreeMap;

/// A pair of annotation names: hold, and set-then-hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keys {
    pub paused: &'static str,
    pub paused_replicas: &'static str,
    /// A `paused` value that is not a boolean pauses (KEDA) rather than being an error.
    pub unclear_pauses: bool,
}

/// KEDA's (`autoscaling.keda.sh/…`): SqsQueueScaler, ScaledObject.
pub const KEDA: Keys = Keys {
    paused: "autoscaling.keda.sh/paused",
    paused_replicas: "autoscaling.keda.sh/paused-replicas",
    unclear_pauses: true,
};

/// The suite's (`autoscaling.k8s-lambda.dev/…`): K8sMetricAlarm, LambdaConcurrencyScaler
/// (where "replicas" is the function's concurrency).
pub const SUITE: Keys = Keys {
    paused: "autoscaling.k8s-lambda.dev/paused",
    paused_replicas: "autoscaling.k8s-lambda.dev/paused-replicas",
    unclear_pauses: false,
};

/// What the annotations ask.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pause {
    /// Scale as usual.
    Running,
    /// Leave the target as it is.
    Hold,
    /// Set the target to this and leave it there.
    At(i32),
}

/// An annotation whose value means nothing: the scaler changes nothing until it is fixed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("metadata.annotations[{key:?}]: expected {expected}, got {value:?}")]
pub struct PauseError {
    pub key: &'static str,
    pub expected: &'static str,
    pub value: String,
}

/// The pause `annotations` ask for under `keys`.
pub fn read(annotations: &BTreeMap<String, String>, keys: Keys) -> Result<Pause, PauseError> {
    if let Some(value) = annotations.get(keys.paused_replicas) {
        return match value.trim().parse::<i32>() {
            Ok(n) if n >= 0 => Ok(Pause::At(n)),
            _ => Err(PauseError {
                key: keys.paused_replicas,
                expected: "a whole number ≥ 0",
                value: value.clone(),
            }),
        };
    }
    let Some(value) = annotations.get(keys.paused).map(|v| v.trim()) else {
        return Ok(Pause::Running);
    };
    // KEDA parses the value as a Go bool.
    match go_bool(value) {
        Some(true) => Ok(Pause::Hold),
        Some(false) => Ok(Pause::Running),
        None if keys.unclear_pauses => Ok(Pause::Hold),
        None => Err(PauseError {
            key: keys.paused,
            expected: "true or false",
            value: value.to_owned(),
        }),
    }
}

/// A boolean as Go's `strconv.ParseBool` reads it, which is how KEDA reads its annotations
/// and trigger metadata; `None`: not a boolean.
pub fn go_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

impl Pause {
    /// The replicas to set from `current` (`None`: scale as usual).
    pub fn replicas(self, current: i32) -> Option<i32> {
        match self {
            Pause::Running => None,
            Pause::Hold => Some(current),
            Pause::At(n) => Some(n),
        }
    }

    /// The `Paused` condition's reason and message (KEDA's condition type), `None` when
    /// running.
    pub fn condition(self, keys: Keys) -> Option<(&'static str, String)> {
        match self {
            Pause::Running => None,
            Pause::Hold => Some((
                "ScalingPaused",
                format!("paused by annotation {}", keys.paused),
            )),
            Pause::At(n) => Some((
                "PausedReplicas",
                format!("held at {n} by annotation {}", keys.paused_replicas),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_annotations_read_as_keda_reads_them() {
        let paused = KEDA.paused;
        let replicas = KEDA.paused_replicas;
        type Case<'a> = (&'a [(&'a str, &'a str)], Result<Pause, &'a str>);
        let cases: &[Case] = &[
            (&[], Ok(Pause::Running)),
            (&[("other", "true")], Ok(Pause::Running)),
            (&[(paused, "true")], Ok(Pause::Hold)),
            (&[(paused, "1")], Ok(Pause::Hold)),
            (&[(paused, "false")], Ok(Pause::Running)),
            // KEDA: "if annotation value is not a boolean, we assume user wants to pause".
            (&[(paused, "yes")], Ok(Pause::Hold)),
            (&[(replicas, "4")], Ok(Pause::At(4))),
            (&[(replicas, " 0 ")], Ok(Pause::At(0))),
            (&[(replicas, "-1")], Err(replicas)),
            (&[(replicas, "four")], Err(replicas)),
            // KEDA: paused-replicas takes precedence over paused.
            (&[(paused, "true"), (replicas, "2")], Ok(Pause::At(2))),
            (&[(paused, "false"), (replicas, "2")], Ok(Pause::At(2))),
        ];
        for (given, expected) in cases {
            let got = read(&annotations(given), KEDA).map_err(|e| e.key);
            assert_eq!(got, *expected, "{given:?}");
        }
    }

    #[test]
    fn each_resource_reads_only_its_own_names() {
        let keda = annotations(&[(KEDA.paused, "true")]);
        assert_eq!(read(&keda, SUITE), Ok(Pause::Running));
        let suite = annotations(&[(SUITE.paused_replicas, "3")]);
        assert_eq!(read(&suite, SUITE), Ok(Pause::At(3)));
        assert_eq!(read(&suite, KEDA), Ok(Pause::Running));
    }

    #[test]
    fn a_bad_value_names_the_annotation_and_what_was_expected() {
        // Under the suite's own names only: KEDA's pause on it.
        assert_eq!(
            read(&annotations(&[(KEDA.paused, "maybe")]), KEDA),
            Ok(Pause::Hold)
        );
        let e = read(&annotations(&[(SUITE.paused, "maybe")]), SUITE).unwrap_err();
        assert_eq!(
            e.to_string(),
            "metadata.annotations[\"autoscaling.k8s-lambda.dev/paused\"]: expected true or false, got \"maybe\""
        );
    }

    #[test]
    fn a_pause_sets_or_keeps_the_replicas() {
        assert_eq!(Pause::Running.replicas(5), None);
        assert_eq!(Pause::Hold.replicas(5), Some(5));
        assert_eq!(Pause::At(2).replicas(5), Some(2));
        assert!(Pause::Running.condition(KEDA).is_none());
        assert_eq!(Pause::At(2).condition(KEDA).unwrap().0, "PausedReplicas");
    }
}
