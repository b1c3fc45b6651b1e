//! A tiny `random.randint` for the examples: a xorshift64* generator, seeded once from the
//! clock, shared by every coroutine on the thread (like Python's module-level `random`).

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
            // First use: seed from the clock (never zero, or xorshift would stay at zero).
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            // Fold the 128-bit nanosecond count into 64 bits; keeping the low bits is the point.
            #[allow(clippy::cast_possible_truncation)]
            let folded = (nanos as u64) ^ ((nanos >> 64) as u64);
            x = folded | 1;
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
