//! Document versions and the `If-Match` precondition.

use std::fmt;
use std::num::NonZeroU64;

use shared_kernel::Error;
use shared_kernel::constants::MAX_STORED_INTEGER;

/// A document version: starts at 1 and grows by 1 with every change, delete included.
///
/// At most [`MAX_STORED_INTEGER`], the largest integer every backend stores: a client's
/// `?version=` or cursor beyond it is refused here, as bad input, and never reaches a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(NonZeroU64);

impl Version {
    /// The version of a newly created document.
    pub const FIRST: Version = Version(NonZeroU64::MIN);

    /// A version from its number.
    ///
    /// # Errors
    /// `INVALID_INPUT` for 0 or a number above [`MAX_STORED_INTEGER`] (the caller names the
    /// parameter with [`Error::at`]).
    pub fn new(number: u64) -> Result<Self, Error> {
        NonZeroU64::new(number)
            .filter(|n| n.get() <= MAX_STORED_INTEGER)
            .map(Self)
            .ok_or_else(|| {
                Error::invalid_input(format!(
                    "versions run from 1 to {MAX_STORED_INTEGER}, got {number}"
                ))
            })
    }

    /// The version after this one.
    ///
    /// # Errors
    /// `CONFLICT` in the unreachable case that the counter is exhausted.
    pub fn next(self) -> Result<Self, Error> {
        self.0
            .checked_add(1)
            .filter(|n| n.get() <= MAX_STORED_INTEGER)
            .map(Self)
            .ok_or_else(|| Error::conflict("the document's version counter is exhausted"))
    }

    /// The number.
    pub const fn get(self) -> u64 {
        self.0.get()
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What a change requires of the current version (from `If-Match`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Precondition {
    /// No requirement: last writer wins, each change still gets its own version.
    #[default]
    None,
    /// `If-Match: *`: any live document.
    AnyLive,
    /// One of these versions (strong ETags; weak ones never match and are not listed, so an
    /// empty list matches nothing).
    OneOf(Vec<Version>),
}

impl Precondition {
    /// Whether the current `version` satisfies this precondition.
    pub fn is_met_by(&self, version: Version) -> bool {
        match self {
            Precondition::None | Precondition::AnyLive => true,
            Precondition::OneOf(versions) => versions.contains(&version),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(n: u64) -> Version {
        Version::new(n).unwrap_or(Version::FIRST)
    }

    #[test]
    fn versions_start_at_one_and_grow_by_one() {
        assert!(Version::new(0).is_err());
        assert_eq!(Version::FIRST.get(), 1);
        assert_eq!(v(41).next().map(Version::get).ok(), Some(42));
    }

    #[test]
    fn no_version_lies_beyond_what_a_store_can_hold() {
        let largest = Version::new(MAX_STORED_INTEGER).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(largest.get(), 9_223_372_036_854_775_807);
        assert!(largest.next().is_err(), "the counter ends at the largest");
        for beyond in [MAX_STORED_INTEGER + 1, u64::MAX] {
            let error = Version::new(beyond).err().map(|e| e.code());
            assert_eq!(
                error,
                Some(shared_kernel::ErrorCode::InvalidInput),
                "{beyond}"
            );
        }
    }

    #[test]
    fn preconditions_match_only_listed_versions() {
        assert!(Precondition::None.is_met_by(v(3)));
        assert!(Precondition::AnyLive.is_met_by(v(3)));
        assert!(Precondition::OneOf(vec![v(2), v(3)]).is_met_by(v(3)));
        assert!(!Precondition::OneOf(vec![v(2)]).is_met_by(v(3)));
        assert!(!Precondition::OneOf(vec![]).is_met_by(v(1)));
    }
}
