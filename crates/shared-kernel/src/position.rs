//! Positions in the store's ordered sequences (an audit entry's commit sequence number), as a
//! client may name them in a cursor.
//!
//! A client's number is checked once, here: a [`Position`] is at most
//! [`MAX_STORED_INTEGER`], so one that no backend could hold never reaches a store, where it
//! would be a storage failure (500) instead of the client's mistake (400).

use std::fmt;

use crate::constants::MAX_STORED_INTEGER;
use crate::error::Error;

/// A position `0..=`[`MAX_STORED_INTEGER`] in one of the store's sequences.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Position(u64);

impl Position {
    /// Checks a position.
    ///
    /// # Errors
    /// `INVALID_INPUT` above [`MAX_STORED_INTEGER`] (the caller names the parameter with
    /// [`Error::at`]).
    pub fn new(number: u64) -> Result<Self, Error> {
        if number > MAX_STORED_INTEGER {
            return Err(Error::invalid_input(format!(
                "a position is at most {MAX_STORED_INTEGER}, got {number}"
            )));
        }
        Ok(Self(number))
    }

    /// Parses a position from its decimal text.
    ///
    /// # Errors
    /// `INVALID_INPUT` when the text is not a number from 0 to [`MAX_STORED_INTEGER`].
    pub fn parse(text: &str) -> Result<Self, Error> {
        let number = text.parse::<u64>().map_err(|_| {
            Error::invalid_input(format!(
                "a position is a number from 0 to {MAX_STORED_INTEGER}"
            ))
        })?;
        Self::new(number)
    }

    /// The number.
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn positions_run_from_zero_to_the_largest_stored_integer() {
        assert_eq!(Position::new(0).map(Position::get).ok(), Some(0));
        assert_eq!(
            Position::new(MAX_STORED_INTEGER).map(Position::get).ok(),
            Some(9_223_372_036_854_775_807)
        );
        for beyond in [MAX_STORED_INTEGER + 1, u64::MAX] {
            let error = Position::new(beyond).err().map(|e| e.code());
            assert_eq!(error, Some(ErrorCode::InvalidInput), "{beyond}");
        }
    }

    #[test]
    fn positions_parse_from_decimal_text_only() {
        assert_eq!(Position::parse("42").map(Position::get).ok(), Some(42));
        for bad in [
            "9223372036854775808",
            "18446744073709551616",
            "-1",
            "",
            "1e3",
            " 1",
        ] {
            assert!(Position::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
