//! A tiny `time.strftime('%X')` for the examples: the UTC time of day as `HH:MM:SS`.

use std::time::{SystemTime, UNIX_EPOCH};

/// The current UTC time of day, `HH:MM:SS`.
pub fn now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let day = secs % 86_400;
    format!("{:02}:{:02}:{:02}", day / 3600, day % 3600 / 60, day % 60)
}
