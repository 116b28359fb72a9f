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

/// Decodes a cursor of list `kind` whose key is a position in a sequence (a commit sequence
/// number), checked to be one a store can hold.
///
/// # Errors
/// `INVALID_INPUT` at `/cursor` when it is malformed, belongs to another list, or holds a
/// number that is not a position (above 2^63 - 1 included).
pub fn decode_position(kind: &str, cursor: &str) -> Result<Position, Error> {
    let key = decode(kind, cursor)?;
    Position::parse(&key).map_err(|e| {
        Error::invalid_field(
            "/cursor",
            format!("the cursor does not hold a position: {}", e.detail()),
        )
    })
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
    fn a_position_cursor_beyond_what_a_store_holds_is_bad_input_naming_the_cursor() {
        let fine = encode("history", "9223372036854775807");
        assert_eq!(
            decode_position("history", &fine).map(Position::get).ok(),
            Some(9_223_372_036_854_775_807)
        );
        for key in ["9223372036854775808", "18446744073709551616", "-1", "x"] {
            let error = decode_position("history", &encode("history", key))
                .err()
                .unwrap_or_else(|| panic!("{key} was accepted"));
            assert_eq!(error.code(), shared_kernel::ErrorCode::InvalidInput);
            assert_eq!(error.field_errors()[0].path, "/cursor", "{key}");
        }
    }
}
