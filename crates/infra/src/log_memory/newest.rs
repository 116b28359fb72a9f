//! The newest committed value of something that only grows (the log's head, its latest
//! checkpoint), kept in memory so that reads need not ask storage for it every time.
//!
//! Two sources offer values: the writer, once the value is durably committed, and readers,
//! which may have read it from a snapshot that is already older. Keeping only the largest
//! offer by size makes the order of offers irrelevant: a reader's late, older value can
//! never replace a newer one. Only this process writes the store's log (the embedded store's
//! folder lock, the MongoDB store's sequencer lock), so no commit can happen that is not
//! offered here.

use std::sync::{Mutex, PoisonError};

/// The value with the largest size offered so far, if any.
#[derive(Debug)]
pub(crate) struct Newest<T> {
    value: Mutex<Option<T>>,
    size_of: fn(&T) -> u64,
}

impl<T: Clone> Newest<T> {
    /// Nothing known yet; `size_of` tells how far a value has grown.
    pub(crate) fn new(size_of: fn(&T) -> u64) -> Self {
        Self {
            value: Mutex::new(None),
            size_of,
        }
    }

    /// The newest value known, if any.
    pub(crate) fn get(&self) -> Option<T> {
        self.value
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Keeps `offered` unless a value at least as large is known.
    pub(crate) fn offer(&self, offered: &T) {
        let mut value = self.value.lock().unwrap_or_else(PoisonError::into_inner);
        let newer = value
            .as_ref()
            .is_none_or(|known| (self.size_of)(offered) > (self.size_of)(known));
        if newer {
            *value = Some(offered.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Newest;

    #[test]
    fn only_a_larger_offer_replaces_the_known_value() {
        let newest = Newest::new(|(size, _): &(u64, &str)| *size);
        assert_eq!(newest.get(), None);
        newest.offer(&(2, "two"));
        newest.offer(&(1, "an older snapshot"));
        newest.offer(&(2, "the same size again"));
        assert_eq!(newest.get(), Some((2, "two")));
        newest.offer(&(3, "three"));
        assert_eq!(newest.get(), Some((3, "three")));
    }
}
