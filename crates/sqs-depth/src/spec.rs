//! The check of a scaler's spec both scalers make on their numbers: what the CRD's schema
//! also checks, again for objects it did not (stored before the CRD had the rule, or served
//! by an API server that skipped it).
use std::fmt::Display;

/// `spec.<field>` below the least value it may take.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("spec.{field} must be ≥ {least}, got {value}")]
pub struct TooSmall {
    pub field: &'static str,
    /// The bound and the value, as the spec wrote them.
    pub least: String,
    pub value: String,
}

/// `value` when it is at least `least`.
pub fn at_least<T: PartialOrd + Display>(
    field: &'static str,
    least: T,
    value: T,
) -> Result<T, TooSmall> {
    if value < least {
        Err(TooSmall {
            field,
            least: least.to_string(),
            value: value.to_string(),
        })
    } else {
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_is_inclusive_and_the_error_names_the_field() {
        assert_eq!(at_least("queueLength", 1_i64, 1), Ok(1));
        assert_eq!(
            at_least("awsLambdaStepConcurrency", 1_i32, 0)
                .unwrap_err()
                .to_string(),
            "spec.awsLambdaStepConcurrency must be ≥ 1, got 0"
        );
    }
}
