//! The registered sources of a reactor, in a generational slab shared by every reactor.

use std::fmt;
use std::rc::Rc;

use crate::Source;

/// Bits of a key that hold the slot index.
const INDEX_BITS: u32 = 32;
/// Generations are 30 bits wide, so a key (`generation << 32 | index`) stays below 2^62: a
/// reactor can put two more bits of its own in a 64-bit event tag (io_uring's direction), and
/// the top values of a `u64` or `usize` (`polling`'s reserved `usize::MAX`, an epoll reactor's
/// own wake-up and timer tags) never collide with a key.
const GENERATION_MASK: u32 = (1 << 30) - 1;

/// The largest key [`Sources`] hands out, plus one: keys are below `1 << 62`.
///
/// # Examples
///
/// ```
/// use aio_reactor::{KEY_LIMIT, Sources};
/// assert!(Sources::default().vacant_key() < KEY_LIMIT);
/// ```
pub const KEY_LIMIT: usize = 1 << (INDEX_BITS + 30);

/// The registrations of one reactor: a slab of [`Source`]s whose keys carry the slot index
/// and a generation.
///
/// A reactor tags each kernel registration with the key of its source and looks the key up
/// when an event arrives. A slot freed by a deregistration bumps its generation, so an event
/// still queued for the old descriptor (whose slot, and maybe descriptor number, a new
/// registration reuses) finds no source and is dropped instead of reaching the wrong
/// registration. The `slab` crate has no generations, which is why the reactors share this
/// type instead (see `docs/design.md`).
///
/// Registering is two steps so that a failed kernel registration leaves nothing behind:
/// [`vacant_key`](Sources::vacant_key) picks the key the kernel is told about, then
/// [`fill`](Sources::fill) stores the source, or [`release`](Sources::release) gives the key
/// back.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use aio_reactor::{Source, Sources};
///
/// let mut sources = Sources::default();
/// let key = sources.vacant_key();
/// sources.fill(key, Rc::new(Source::new(3, key)));
/// assert_eq!(sources.get(key).map(|s| s.fd()), Some(3));
/// sources.release(key);
/// // The slot is reused, but the old key is stale.
/// let again = sources.vacant_key();
/// sources.fill(again, Rc::new(Source::new(4, again)));
/// assert!(sources.get(key).is_none());
/// assert_eq!(sources.len(), 1);
/// ```
#[derive(Default)]
pub struct Sources {
    entries: Vec<Slot>,
    free: Vec<u32>,
    live: usize,
}

struct Slot {
    generation: u32,
    source: Option<Rc<Source>>,
}

impl Sources {
    /// The key the next registration gets. Until [`fill`](Sources::fill) or
    /// [`release`](Sources::release), the slot stays reserved.
    ///
    /// # Panics
    ///
    /// With more than 2^32 registrations at once.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut sources = aio_reactor::Sources::default();
    /// let (a, b) = (sources.vacant_key(), sources.vacant_key());
    /// assert_ne!(a, b); // both reserved
    /// ```
    pub fn vacant_key(&mut self) -> usize {
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                self.entries.push(Slot {
                    generation: 0,
                    source: None,
                });
                u32::try_from(self.entries.len() - 1).expect("more than 2^32 registrations")
            }
        };
        let generation = self.entries[index as usize].generation;
        ((generation as usize) << INDEX_BITS) | index as usize
    }

    fn split(key: usize) -> (usize, u32) {
        (key & u32::MAX as usize, (key >> INDEX_BITS) as u32)
    }

    /// The source registered under `key`, unless the key is stale (its registration was
    /// released) or was never handed out.
    ///
    /// # Examples
    ///
    /// ```
    /// let sources = aio_reactor::Sources::default();
    /// assert!(sources.get(12).is_none());
    /// ```
    pub fn get(&self, key: usize) -> Option<&Rc<Source>> {
        let (index, generation) = Self::split(key);
        let slot = self.entries.get(index)?;
        if slot.generation != generation {
            return None;
        }
        slot.source.as_ref()
    }

    /// Stores `source` in the slot [`vacant_key`](Sources::vacant_key) reserved for `key`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::rc::Rc;
    /// let mut sources = aio_reactor::Sources::default();
    /// let key = sources.vacant_key();
    /// sources.fill(key, Rc::new(aio_reactor::Source::new(0, key)));
    /// assert_eq!(sources.len(), 1);
    /// ```
    pub fn fill(&mut self, key: usize, source: Rc<Source>) {
        let (index, generation) = Self::split(key);
        let slot = &mut self.entries[index];
        debug_assert_eq!(slot.generation, generation, "fill with a stale key");
        if slot.source.replace(source).is_none() {
            self.live += 1;
        }
    }

    /// Frees the slot of `key` (filled or only reserved) and moves its generation on, so
    /// `key` is stale from now on. A key that is already stale is ignored.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut sources = aio_reactor::Sources::default();
    /// let key = sources.vacant_key();
    /// sources.release(key);
    /// sources.release(key); // stale now: nothing happens
    /// assert_eq!(sources.len(), 0);
    /// ```
    pub fn release(&mut self, key: usize) {
        let (index, generation) = Self::split(key);
        let Some(slot) = self.entries.get_mut(index) else {
            return;
        };
        if slot.generation != generation {
            return;
        }
        if slot.source.take().is_some() {
            self.live -= 1;
        }
        slot.generation = slot.generation.wrapping_add(1) & GENERATION_MASK;
        self.free.push(index as u32);
    }

    /// How many sources are stored.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(aio_reactor::Sources::default().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.live
    }

    /// Whether no source is stored.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(aio_reactor::Sources::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }
}

impl fmt::Debug for Sources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sources")
            .field("len", &self.live)
            .field("slots", &self.entries.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generations_wrap_within_their_bits_and_keys_stay_below_the_limit() {
        let mut sources = Sources::default();
        let mut key = sources.vacant_key();
        for _ in 0..(GENERATION_MASK as usize + 5) {
            sources.release(key);
            key = sources.vacant_key();
            assert!(key < KEY_LIMIT);
        }
        // Wrapped: the generation went past its maximum back to small values.
        assert!(key >> INDEX_BITS < 8);
    }
}
