//! Page sizes: every list in the API shares one rule.

use crate::constants::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
use crate::error::Error;

/// How many items one page may hold: 1 to [`MAX_PAGE_SIZE`], [`DEFAULT_PAGE_SIZE`] by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLimit(u32);

impl PageLimit {
    /// Checks a client's `limit`, using the default when absent.
    ///
    /// # Errors
    /// `INVALID_INPUT` naming `limit` when it is 0 or above the maximum.
    pub fn parse(requested: Option<u32>) -> Result<Self, Error> {
        match requested {
            None => Ok(Self(DEFAULT_PAGE_SIZE)),
            Some(n) if (1..=MAX_PAGE_SIZE).contains(&n) => Ok(Self(n)),
            Some(n) => Err(Error::invalid_field(
                "/limit",
                format!("limit must be between 1 and {MAX_PAGE_SIZE}, got {n}"),
            )),
        }
    }

    /// The number of items.
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl Default for PageLimit {
    fn default() -> Self {
        Self(DEFAULT_PAGE_SIZE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_default_to_fifty_and_stop_at_one_thousand() {
        assert_eq!(PageLimit::parse(None).map(PageLimit::get).ok(), Some(50));
        assert_eq!(
            PageLimit::parse(Some(1000)).map(PageLimit::get).ok(),
            Some(1000)
        );
        assert!(PageLimit::parse(Some(1001)).is_err());
        assert!(PageLimit::parse(Some(0)).is_err());
    }
}
