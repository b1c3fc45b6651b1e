//! A tiny `random.randint` for the examples: a xorshift64* generator, seeded once from the
//! clock, shared by every coroutine on the thread (like Python's module-level `random`).
//! Setting `AIO_EXAMPLES_SEED=N` seeds it with `N` instead (the seeds' `random.seed(444)`),
//! for a reproducible run; the tests use it to pick short runs.

use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};

thread_local! {
    static STATE: Cell<u64> = const { Cell::new(0) };
}

/// A random integer in `a..=b` (Python's `random.randint(a, b)`).
pub fn randint(a: u64, b: u64) -> u64 {
    assert!(a <= b, "empty range for randint({a}, {b})");
    let x = STATE.with(|state| {
        let mut x = state.get();
        if x == 0 {
            // First use: seed from AIO_EXAMPLES_SEED or else from the clock (never zero, or
            // xorshift would stay at zero).
            let fixed = std::env::var("AIO_EXAMPLES_SEED")
                .ok()
                .and_then(|seed| seed.trim().parse::<u64>().ok());
            x = match fixed {
                // splitmix64's finalizer, so that small seeds give well-mixed states.
                Some(seed) => {
                    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
                    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                    (z ^ (z >> 31)) | 1
                }
                None => {
                    let nanos = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .map_or(0, |d| d.as_nanos());
                    // Fold the 128-bit nanosecond count into 64 bits; the low bits matter.
                    #[allow(clippy::cast_possible_truncation)]
                    let folded = (nanos as u64) ^ ((nanos >> 64) as u64);
                    folded | 1
                }
            };
        }
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        state.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    });
    // The modulo bias is far below anything an 11-value range could show.
    a + (x >> 32) % (b - a + 1)
}
