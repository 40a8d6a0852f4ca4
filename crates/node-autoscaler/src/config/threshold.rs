//! `CPU_UP` and `CPU_DOWN` as a percentage, from either way of writing them: the original
//! k3s autoscaler took fractions (`CPU_UP=0.70`), this function percentages (`70`). Read as a
//! percentage, `0.70` would scale up at 0.7 % CPU, so each value is read the one way it can
//! mean, and a value that could mean two things is refused.
//!
//! | written | read as |
//! |---|---|
//! | `70%`, `0.5%` (explicit `%`, 0 to 100) | that percentage |
//! | `0` | 0 % (both readings agree) |
//! | above 0 and below 1 (`0.70`) | a fraction: 70 % |
//! | `1` | refused: 1 % or 100 %? Write `1%` or `100%` |
//! | above 1 up to 100 (`70`, `1.5`) | a percentage |
//! | negative, above 100, not a number | refused |

/// What the init error says a threshold should look like.
pub const EXPECTED: &str = "a fraction below 1 such as 0.70 (= 70 %) or a percentage up to 100 such as 70 or 70%; 1 alone is ambiguous: write 1% or 100%";

/// The percentage `raw` means, or `None` when it means none or two.
pub fn percent(raw: &str) -> Option<f64> {
    let raw = raw.trim();
    if let Some(number) = raw.strip_suffix('%') {
        let v: f64 = number.trim().parse().ok()?;
        return (0.0..=100.0).contains(&v).then_some(v);
    }
    let v: f64 = raw.parse().ok()?;
    if v == 0.0 {
        Some(0.0)
    } else if v > 0.0 && v < 1.0 {
        // 0.30 × 100 is 30.000000000000004 in binary floating point: rounded to 1e-9 so the
        // logs and the comparisons say 30.
        Some((v * 100.0 * 1e9).round() / 1e9)
    } else if v > 1.0 && v <= 100.0 {
        Some(v)
    } else {
        // 1, negative, above 100, NaN, infinite.
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_value_is_read_the_one_way_it_can_mean() {
        let table = [
            ("0.70", Some(70.0)),
            ("0.30", Some(30.0)),
            ("0.7", Some(70.0)),
            ("0.005", Some(0.5)),
            ("70", Some(70.0)),
            ("30", Some(30.0)),
            ("1.5", Some(1.5)),
            ("100", Some(100.0)),
            ("70%", Some(70.0)),
            (" 70 % ", Some(70.0)),
            ("0.5%", Some(0.5)),
            ("1%", Some(1.0)),
            ("100%", Some(100.0)),
            ("0%", Some(0.0)),
            ("0", Some(0.0)),
            ("1", None),
            ("1.0", None),
            ("1.00", None),
            ("-0.5", None),
            ("-5%", None),
            ("101", None),
            ("150%", None),
            ("NaN", None),
            ("inf", None),
            ("seventy", None),
            ("%", None),
            ("", None),
        ];
        for (raw, want) in table {
            assert_eq!(percent(raw), want, "{raw:?}");
        }
    }
}
