//! Document ids.

use std::fmt;

use shared_kernel::Error;

/// The longest document id.
pub const MAX_DOCUMENT_ID_LEN: usize = 128;

/// A document id: 1–128 characters of `[A-Za-z0-9._:-]`, starting with a letter or digit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocumentId(String);

impl DocumentId {
    /// Checks the grammar.
    ///
    /// # Errors
    /// `INVALID_INPUT` naming the rule that failed.
    pub fn parse(id: &str) -> Result<Self, Error> {
        let first_ok = id.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric());
        let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-');
        if id.is_empty() || id.len() > MAX_DOCUMENT_ID_LEN {
            return Err(Error::invalid_input(format!(
                "a document id must be 1-{MAX_DOCUMENT_ID_LEN} characters long"
            )));
        }
        if !first_ok || !id.bytes().all(allowed) {
            return Err(Error::invalid_input(format!(
                "document id `{id}` must start with a letter or digit and hold only [A-Za-z0-9._:-]"
            )));
        }
        Ok(Self(id.to_owned()))
    }

    /// A fresh id (a UUIDv7, which sorts by creation time) for documents posted without one.
    pub fn generate() -> Self {
        Self(uuid::Uuid::now_v7().to_string())
    }

    /// The id text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_ids_are_accepted() {
        for id in ["a", "0", "Order-17", "urn:x:1.2_3", &"x".repeat(128)] {
            assert!(DocumentId::parse(id).is_ok(), "{id}");
        }
        assert!(DocumentId::parse(DocumentId::generate().as_str()).is_ok());
    }

    #[test]
    fn invalid_ids_are_rejected() {
        let long = "x".repeat(129);
        for id in [
            "", ".a", "-a", ":a", "_a", "a b", "a/b", "a?b", "\u{e9}", &long,
        ] {
            assert!(DocumentId::parse(id).is_err(), "{id:?} was accepted");
        }
    }
}
