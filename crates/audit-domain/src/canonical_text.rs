//! The one spelling of numbers and bytes in the log's text formats (C2SP checkpoints, signed
//! notes, tlog proofs): a verifier must never accept two texts for one value, or a note could
//! be re-spelled without breaking its signature's meaning.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// An ASCII decimal without leading zeros (`0` itself allowed), within `u64`.
pub(crate) fn canonical_decimal(text: &str) -> Option<u64> {
    let canonical = text == "0"
        || (!text.is_empty() && !text.starts_with('0') && text.bytes().all(|b| b.is_ascii_digit()));
    if canonical { text.parse().ok() } else { None }
}

/// Standard padded base64, decoded only when re-encoding gives the same text back (no
/// missing padding, no stray bits in the last character).
pub(crate) fn canonical_base64(text: &str) -> Option<Vec<u8>> {
    let bytes = STANDARD.decode(text).ok()?;
    (STANDARD.encode(&bytes) == text).then_some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_have_one_spelling() {
        assert_eq!(canonical_decimal("0"), Some(0));
        assert_eq!(canonical_decimal("18446744073709551615"), Some(u64::MAX));
        for refused in [
            "",
            "00",
            "01",
            "+1",
            "-1",
            " 1",
            "1 ",
            "1e3",
            "18446744073709551616",
        ] {
            assert_eq!(canonical_decimal(refused), None, "{refused:?}");
        }
    }

    #[test]
    fn base64_has_one_spelling() {
        assert_eq!(canonical_base64("AAE=").as_deref(), Some(&[0u8, 1][..]));
        assert_eq!(canonical_base64("").as_deref(), Some(&[][..]));
        // Missing padding, a stray low bit, URL-safe letters, whitespace.
        for refused in ["AAE", "AAF=", "-_8=", "AA E=", "AAE=\n"] {
            assert_eq!(canonical_base64(refused), None, "{refused:?}");
        }
    }
}
