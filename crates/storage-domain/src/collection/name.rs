//! Collection names.

use std::fmt;

use shared_kernel::Error;

/// The longest collection name.
pub const MAX_COLLECTION_NAME_LEN: usize = 64;

/// A collection name: 1–64 characters of `[a-z0-9_-]`, starting with a letter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CollectionName(String);

impl CollectionName {
    /// Checks the grammar.
    ///
    /// # Errors
    /// `INVALID_INPUT` naming the rule that failed.
    pub fn parse(name: &str) -> Result<Self, Error> {
        let starts_with_letter = name.bytes().next().is_some_and(|b| b.is_ascii_lowercase());
        let allowed =
            |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-';
        if name.is_empty() || name.len() > MAX_COLLECTION_NAME_LEN {
            return Err(Error::invalid_input(format!(
                "a collection name must be 1-{MAX_COLLECTION_NAME_LEN} characters long"
            )));
        }
        if !starts_with_letter || !name.bytes().all(allowed) {
            return Err(Error::invalid_input(format!(
                "collection name `{name}` must start with a lowercase letter and hold only [a-z0-9_-]"
            )));
        }
        Ok(Self(name.to_owned()))
    }

    /// The name text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CollectionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_names_are_accepted() {
        for name in ["a", "orders", "kyc_files-2026", &"a".repeat(64)] {
            assert!(CollectionName::parse(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn invalid_names_are_rejected() {
        let long = "a".repeat(65);
        for name in [
            "",
            "1abc",
            "_a",
            "-a",
            "Orders",
            "a b",
            "a.b",
            "a/b",
            "caf\u{e9}",
            &long,
        ] {
            assert!(
                CollectionName::parse(name).is_err(),
                "{name:?} was accepted"
            );
        }
    }
}
