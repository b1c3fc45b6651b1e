//! Measuring: resident memory, lateness statistics, number formatting.

use std::time::Duration;

/// The process's resident set size in bytes: `/proc/self/statm`'s resident pages × page size.
pub fn rss_bytes() -> i64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("read /proc/self/statm");
    let pages: i64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|field| field.parse().ok())
        .expect("statm's second field is the resident page count");
    pages * rustix::param::page_size() as i64
}

/// Mean and 99th percentile of a set of durations, in microseconds.
pub fn mean_and_p99_us(samples: &mut [Duration]) -> (f64, f64) {
    assert!(!samples.is_empty());
    samples.sort_unstable();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let mean = samples.iter().copied().map(us).sum::<f64>() / samples.len() as f64;
    // Nearest-rank percentile.
    let rank = (samples.len() * 99).div_ceil(100);
    (mean, us(samples[rank - 1]))
}

/// `count` operations in `elapsed`, per second.
pub fn rate(count: usize, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64()
}

/// A value with three significant digits and an SI prefix for large rates ("12.3 M"); "—" for
/// NaN (a runtime a row does not measure).
pub fn human(value: f64) -> String {
    if value.is_nan() {
        return "—".to_owned();
    }
    let (scaled, suffix) = if value >= 1e6 {
        (value / 1e6, " M")
    } else if value >= 1e4 {
        (value / 1e3, " k")
    } else {
        (value, "")
    };
    let digits = if scaled >= 100.0 {
        0
    } else if scaled >= 10.0 {
        1
    } else {
        2
    };
    format!("{scaled:.digits$}{suffix}")
}
