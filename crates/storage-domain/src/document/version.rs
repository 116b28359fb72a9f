//! Document versions and the `If-Match` precondition.

use std::fmt;
use std::num::NonZeroU64;

use shared_kernel::Error;

/// A document version: starts at 1 and grows by 1 with every change, delete included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(NonZeroU64);

impl Version {
    /// The version of a newly created document.
    pub const FIRST: Version = Version(NonZeroU64::MIN);

    /// A version from its number.
    ///
    /// # Errors
    /// `INVALID_INPUT` for 0.
    pub fn new(number: u64) -> Result<Self, Error> {
        NonZeroU64::new(number)
            .map(Self)
            .ok_or_else(|| Error::invalid_input("versions start at 1"))
    }

    /// The version after this one.
    ///
    /// # Errors
    /// `CONFLICT` in the unreachable case that the counter is exhausted.
    pub fn next(self) -> Result<Self, Error> {
        self.0
            .checked_add(1)
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
        assert!(v(u64::MAX).next().is_err());
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
