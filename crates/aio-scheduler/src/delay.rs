//! Delays in asyncio's style: seconds as numbers, or a `Duration`.

use std::time::Duration;

use crate::Error;

/// A value usable as a delay: `f64`/`f32` seconds (asyncio style), whole seconds as an integer,
/// or a [`Duration`].
///
/// As in asyncio, a negative delay means "as soon as possible" (it becomes zero). NaN, infinity
/// and delays too large to represent are [`Error::InvalidDelay`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use aio_scheduler::IntoDelay;
///
/// assert_eq!(0.25.into_delay()?, Duration::from_millis(250));
/// assert_eq!(2.into_delay()?, Duration::from_secs(2));
/// assert_eq!((-1.0).into_delay()?, Duration::ZERO);
/// assert!(f64::NAN.into_delay().is_err());
/// assert!(f64::INFINITY.into_delay().is_err());
/// # Ok::<(), aio_scheduler::Error>(())
/// ```
pub trait IntoDelay {
    /// The delay as a non-negative `Duration`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidDelay`] for NaN, infinite, or unrepresentably large values.
    fn into_delay(self) -> Result<Duration, Error>;
}

impl IntoDelay for Duration {
    fn into_delay(self) -> Result<Duration, Error> {
        Ok(self)
    }
}

impl IntoDelay for f64 {
    fn into_delay(self) -> Result<Duration, Error> {
        if self.is_nan() {
            return Err(Error::InvalidDelay("NaN is not a delay".into()));
        }
        if self.is_infinite() {
            return Err(Error::InvalidDelay(
                format!("{self} is not a finite delay").into(),
            ));
        }
        if self <= 0.0 {
            return Ok(Duration::ZERO);
        }
        Duration::try_from_secs_f64(self)
            .map_err(|_| Error::InvalidDelay(format!("{self} seconds is too large").into()))
    }
}

impl IntoDelay for f32 {
    fn into_delay(self) -> Result<Duration, Error> {
        f64::from(self).into_delay()
    }
}

macro_rules! integer_seconds {
    ($($t:ty),*) => {$(
        impl IntoDelay for $t {
            #[allow(unused_comparisons)]
            fn into_delay(self) -> Result<Duration, Error> {
                if self <= 0 {
                    return Ok(Duration::ZERO);
                }
                u64::try_from(self)
                    .map(Duration::from_secs)
                    .map_err(|_| Error::InvalidDelay(format!("{self} seconds is too large").into()))
            }
        }
    )*};
}
integer_seconds!(
    i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize
);
