//! Delays in asyncio's style: seconds as numbers (negative ones lie in the past, infinite ones
//! never come), or a `Duration`.

use std::time::{Duration, Instant};

use crate::Error;

/// A delay as asyncio takes one: a span from now, in the past for a negative number of
/// seconds, or never for an infinite one. [`IntoDelay`] makes one from a number or a
/// [`Duration`]; [`deadline`](Delay::deadline) turns it into a point on the loop's clock.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use aio_scheduler::{Delay, IntoDelay};
///
/// assert_eq!(1.5.into_delay()?, Delay::After(Duration::from_millis(1500)));
/// assert_eq!((-2).into_delay()?, Delay::Before(Duration::from_secs(2)));
/// assert_eq!(f64::INFINITY.into_delay()?, Delay::Never);
/// let now = Instant::now();
/// assert_eq!(Delay::Before(Duration::from_secs(2)).deadline(now), now.checked_sub(Duration::from_secs(2)));
/// assert_eq!(Delay::Never.deadline(now), None);
/// # Ok::<(), aio_scheduler::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Delay {
    /// This long before now: a negative delay (asyncio keeps it, so `call_later(-2, b)` runs
    /// before `call_later(-1, a)`, and `timeout(-11).when()` lies 11 s in the past).
    Before(Duration),
    /// This long from now (zero included).
    After(Duration),
    /// Never: an infinite delay (`f64::INFINITY`, `Duration::MAX`), or one so large that no
    /// clock reading lies that far ahead.
    Never,
}

impl Delay {
    /// The point `self` names, measured from `now`: `None` for [`Delay::Never`] and for a
    /// delay beyond the clock's range. A point before the clock's earliest reading is clamped
    /// to `now` (it is due either way).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use aio_scheduler::Delay;
    ///
    /// let now = Instant::now();
    /// let second = Duration::from_secs(1);
    /// assert_eq!(Delay::After(second).deadline(now), Some(now + second));
    /// assert_eq!(Delay::After(Duration::MAX).deadline(now), None); // beyond the clock's range
    /// assert_eq!(Delay::Before(Duration::MAX).deadline(now), Some(now)); // clamped: due anyway
    /// assert_eq!(Delay::Never.deadline(now), None);
    /// ```
    pub fn deadline(self, now: Instant) -> Option<Instant> {
        match self {
            Delay::After(span) => now.checked_add(span),
            Delay::Before(span) => Some(now.checked_sub(span).unwrap_or(now)),
            Delay::Never => None,
        }
    }

    /// Whether the delay is zero or negative: the time has already come.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_scheduler::IntoDelay;
    /// assert!(0.into_delay()?.is_due() && (-0.5).into_delay()?.is_due());
    /// assert!(!0.5.into_delay()?.is_due() && !f64::INFINITY.into_delay()?.is_due());
    /// # Ok::<(), aio_scheduler::Error>(())
    /// ```
    pub fn is_due(self) -> bool {
        match self {
            Delay::After(span) => span.is_zero(),
            Delay::Before(_) => true,
            Delay::Never => false,
        }
    }
}

/// A value usable as a delay: `f64`/`f32` seconds (asyncio style), whole seconds as an integer,
/// or a [`Duration`] (`Duration::MAX` meaning never).
///
/// As in asyncio, a negative delay is a time in the past (due at once, but ordered among other
/// past deadlines), and an infinite one never comes: `sleep(f64::INFINITY)` sleeps forever,
/// `wait_for(x, f64::INFINITY)` never times out. Values too large for the clock mean never too.
/// Only NaN is [`Error::InvalidDelay`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use aio_scheduler::{Delay, IntoDelay};
///
/// assert_eq!(0.25.into_delay()?, Delay::After(Duration::from_millis(250)));
/// assert_eq!(2.into_delay()?, Delay::After(Duration::from_secs(2)));
/// assert_eq!((-1.0).into_delay()?, Delay::Before(Duration::from_secs(1)));
/// assert_eq!(Duration::MAX.into_delay()?, Delay::Never);
/// assert_eq!(f64::INFINITY.into_delay()?, Delay::Never);
/// assert!(f64::NAN.into_delay().is_err());
/// # Ok::<(), aio_scheduler::Error>(())
/// ```
pub trait IntoDelay {
    /// The delay.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidDelay`] for NaN.
    fn into_delay(self) -> Result<Delay, Error>;
}

impl IntoDelay for Delay {
    fn into_delay(self) -> Result<Delay, Error> {
        Ok(self)
    }
}

impl IntoDelay for Duration {
    fn into_delay(self) -> Result<Delay, Error> {
        Ok(if self == Duration::MAX {
            Delay::Never
        } else {
            Delay::After(self)
        })
    }
}

impl IntoDelay for f64 {
    fn into_delay(self) -> Result<Delay, Error> {
        if self.is_nan() {
            return Err(Error::InvalidDelay("NaN is not a delay".into()));
        }
        let span = |secs: f64| Duration::try_from_secs_f64(secs).ok();
        Ok(if self < 0.0 {
            // Beyond `Duration`'s range in the past: due, as any past time.
            Delay::Before(span(-self).unwrap_or(Duration::MAX))
        } else {
            span(self).map_or(Delay::Never, Delay::After)
        })
    }
}

impl IntoDelay for f32 {
    fn into_delay(self) -> Result<Delay, Error> {
        f64::from(self).into_delay()
    }
}

macro_rules! integer_seconds {
    ($($t:ty),*) => {$(
        impl IntoDelay for $t {
            fn into_delay(self) -> Result<Delay, Error> {
                let secs = i128::try_from(self).unwrap_or(i128::MAX);
                let span = Duration::from_secs(u64::try_from(secs.unsigned_abs()).unwrap_or(u64::MAX));
                Ok(if secs < 0 {
                    Delay::Before(span)
                } else if span.as_secs() == u64::MAX {
                    Delay::Never
                } else {
                    Delay::After(span)
                })
            }
        }
    )*};
}
integer_seconds!(
    i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize
);
