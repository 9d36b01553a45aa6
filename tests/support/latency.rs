//! Latency figures from sorted samples. Included by path from
//! `benches/auth.rs` and `benches/fairness.rs`.

use std::time::Duration;

/// The sample at quantile `p` (0.5 for the median) of `sorted`.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

/// A duration in milliseconds.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
