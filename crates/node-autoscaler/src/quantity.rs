//! Kubernetes resource quantities as the scheduler counts them: CPU in millicores, memory in
//! bytes (`500m`, `2`, `1.5`, `4Gi`, `512Mi`, `1G`, `128974848`, `129e6`).

/// CPU in millicores, rounded up.
pub fn cpu_milli(q: &str) -> Option<u64> {
    let q = q.trim();
    if let Some(m) = q.strip_suffix('m') {
        return m
            .parse::<f64>()
            .ok()
            .filter(|v| *v >= 0.0)
            .map(|v| v.ceil() as u64);
    }
    scaled(q).map(|v| (v * 1000.0).ceil() as u64)
}

/// Memory (or any byte quantity) in bytes, rounded up.
pub fn bytes(q: &str) -> Option<u64> {
    scaled(q.trim()).map(|v| v.ceil() as u64)
}

fn scaled(q: &str) -> Option<f64> {
    const SUFFIXES: [(&str, f64); 13] = [
        ("Ki", 1024.0),
        ("Mi", 1048576.0),
        ("Gi", 1073741824.0),
        ("Ti", 1099511627776.0),
        ("Pi", 1125899906842624.0),
        ("Ei", 1152921504606846976.0),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
        ("m", 1e-3),
    ];
    let (number, factor) = SUFFIXES
        .iter()
        .find_map(|(s, f)| q.strip_suffix(s).map(|n| (n, *f)))
        .unwrap_or((q, 1.0));
    let v: f64 = number.parse().ok()?;
    (v.is_finite() && v >= 0.0).then_some(v * factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        for (q, milli) in [("500m", 500), ("2", 2000), ("1.5", 1500), ("0.1", 100)] {
            assert_eq!(cpu_milli(q), Some(milli), "{q}");
        }
        for (q, b) in [
            ("4Gi", 4u64 << 30),
            ("512Mi", 512 << 20),
            ("1G", 1_000_000_000),
            ("128974848", 128974848),
            ("129e6", 129_000_000),
            ("1k", 1000),
        ] {
            assert_eq!(bytes(q), Some(b), "{q}");
        }
        assert_eq!(cpu_milli("-1"), None);
        assert_eq!(bytes("lots"), None);
    }
}
