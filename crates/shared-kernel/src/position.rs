//! Positions in a store's ordered listings (a document's audit trail, the audit list), as a
//! client carries them in a cursor.
//!
//! A [`Position`] is opaque: each backend makes its own from whatever its listing resumes
//! after, and parses it back; the application only carries it inside a cursor and never
//! interprets it. No port promises that a position is a number, gap-free, or comparable with
//! another: on a backend whose transactions commit concurrently, numbers handed out at the
//! start of a transaction do not arrive in commit order, and "everything after N" would skip
//! a lower number that commits later.
//!
//! A backend whose positions are numbers builds them with [`Position::from_numbers`] and
//! reads them back with [`Position::numbers`], which checks each is at most
//! [`MAX_STORED_INTEGER`]: one that no backend could hold is the client's mistake (400 at
//! `/cursor`) before any statement runs, never a storage failure (500).

use std::fmt;

use crate::constants::MAX_STORED_INTEGER;
use crate::error::Error;

/// Where a listing resumes: opaque text a backend made (or a client sent back in a cursor).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Position(String);

/// Separates the numbers of a numeric position.
const NUMBER_SEPARATOR: char = '.';

impl Position {
    /// A position as a backend made it, or as a client sent it back (unchecked: the backend
    /// that reads it checks it).
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// A position made of numbers (a backend's own sort keys).
    pub fn from_numbers(numbers: &[u64]) -> Self {
        let text: Vec<String> = numbers.iter().map(u64::to_string).collect();
        Self(text.join(&NUMBER_SEPARATOR.to_string()))
    }

    /// The numbers of a position made by [`Self::from_numbers`] with `count` numbers.
    ///
    /// # Errors
    /// `INVALID_INPUT` at `/cursor` when it does not hold exactly `count` decimal numbers
    /// from 0 to [`MAX_STORED_INTEGER`] (a cursor altered, or made by another backend).
    pub fn numbers(&self, count: usize) -> Result<Vec<u64>, Error> {
        let invalid = |detail: String| {
            Error::invalid_field(
                "/cursor",
                format!("the cursor does not hold a position: {detail}"),
            )
        };
        let numbers = self
            .0
            .split(NUMBER_SEPARATOR)
            .map(|text| {
                let number = text.parse::<u64>().map_err(|_| {
                    invalid(format!(
                        "a position is made of numbers from 0 to {MAX_STORED_INTEGER}"
                    ))
                })?;
                if number > MAX_STORED_INTEGER {
                    return Err(invalid(format!(
                        "a position is at most {MAX_STORED_INTEGER}, got {number}"
                    )));
                }
                Ok(number)
            })
            .collect::<Result<Vec<u64>, Error>>()?;
        if numbers.len() != count {
            return Err(invalid(format!(
                "expected {count} numbers, got {}",
                numbers.len()
            )));
        }
        Ok(numbers)
    }

    /// The text, to be carried in a cursor.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn numeric_positions_round_trip_up_to_the_largest_stored_integer() {
        let position = Position::from_numbers(&[0, MAX_STORED_INTEGER]);
        assert_eq!(
            position.numbers(2).ok(),
            Some(vec![0, 9_223_372_036_854_775_807])
        );
        assert_eq!(
            Position::new(position.as_str()).numbers(2).ok(),
            Some(vec![0, MAX_STORED_INTEGER])
        );
        assert_eq!(
            Position::from_numbers(&[42]).numbers(1).ok(),
            Some(vec![42])
        );
    }

    #[test]
    fn a_position_that_holds_no_numbers_a_store_can_keep_is_bad_input_at_the_cursor() {
        for (bad, count) in [
            ("9223372036854775808", 1),
            ("18446744073709551616", 1),
            ("-1", 1),
            ("", 1),
            ("1e3", 1),
            (" 1", 1),
            ("1.2", 1),
            ("1", 2),
            ("1.", 2),
        ] {
            let error = Position::new(bad)
                .numbers(count)
                .err()
                .unwrap_or_else(|| panic!("{bad:?} was accepted"));
            assert_eq!(error.code(), ErrorCode::InvalidInput, "{bad:?}");
            assert_eq!(error.field_errors()[0].path, "/cursor", "{bad:?}");
        }
    }
}
