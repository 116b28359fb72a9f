//! Opaque page cursors.
//!
//! A cursor is the last item's sort key, tagged with the list it belongs to and encoded as
//! URL-safe text, so a client cannot mistake one list's cursor for another's: a tampered or
//! foreign cursor is `INVALID_INPUT`, never a silently wrong page.

use shared_kernel::{Error, Position};

const SEPARATOR: char = '|';

/// Encodes `key` as a cursor of list `kind`.
pub fn encode(kind: &str, key: &str) -> String {
    hex_encode(&format!("{kind}{SEPARATOR}{key}"))
}

/// Decodes a cursor of list `kind` back into its key.
///
/// # Errors
/// `INVALID_INPUT` at `/cursor` when it is malformed or belongs to another list.
pub fn decode(kind: &str, cursor: &str) -> Result<String, Error> {
    let invalid = || {
        Error::invalid_field(
            "/cursor",
            "the cursor is malformed or belongs to another list",
        )
    };
    let text = hex_decode(cursor).ok_or_else(invalid)?;
    let (tag, key) = text.split_once(SEPARATOR).ok_or_else(invalid)?;
    if tag != kind {
        return Err(invalid());
    }
    Ok(key.to_owned())
}

/// Decodes a cursor of list `kind` whose key is a store's opaque [`Position`]: carried back to
/// the store uninterpreted (the store checks it is one it made).
///
/// # Errors
/// `INVALID_INPUT` at `/cursor` when it is malformed or belongs to another list.
pub fn decode_position(kind: &str, cursor: &str) -> Result<Position, Error> {
    decode(kind, cursor).map(Position::new)
}

fn hex_encode(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

fn hex_decode(text: &str) -> Option<String> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    let bytes = (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_other_lists() {
        let cursor = encode("collections", "orders");
        assert_eq!(
            decode("collections", &cursor).ok().as_deref(),
            Some("orders")
        );
        assert!(decode("documents", &cursor).is_err());
        assert!(decode("collections", "zz").is_err());
        assert!(decode("collections", "abc").is_err());
        assert!(decode("collections", "").is_err());
    }

    #[test]
    fn a_position_travels_in_its_cursor_uninterpreted() {
        for text in ["9223372036854775807", "12.345", "anything|a store made"] {
            let cursor = encode("history", Position::new(text).as_str());
            assert_eq!(
                decode_position("history", &cursor).ok(),
                Some(Position::new(text))
            );
            assert!(decode_position("audit", &cursor).is_err(), "{text}");
        }
    }
}
