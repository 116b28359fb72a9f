//! The one rule for numbers a client sends in JSON (document data, filter operands, cursors).
//!
//! Every number must mean one exact IEEE 754 double, since canonical JSON (RFC 8785) writes
//! numbers as doubles and the content hash is taken over that text: an integer beyond ±2^53
//! would be rounded to a neighbour, silently changing the client's data. Literals that
//! underflow to 0 or overflow to ±∞ are refused earlier, by the strict reader
//! ([`crate::json::parse_strict`]), which is the only place that still sees the literal.

use serde_json::Number;

use crate::constants::MAX_SAFE_INTEGER;

/// `MAX_SAFE_INTEGER` as a double (exact: 2^53 is a power of two).
#[expect(
    clippy::cast_precision_loss,
    reason = "2^53 is a power of two: exact as a double"
)]
const MAX_SAFE_DOUBLE: f64 = MAX_SAFE_INTEGER as f64;

/// The message for a number that breaks the rule.
pub fn unsafe_integer_message() -> String {
    format!("integers must lie within ±2^53 ({MAX_SAFE_INTEGER})")
}

/// `number` in canonical shape, or `None` when it is an integer beyond ±2^53.
///
/// Integral numbers written as floats (`1e2`, `3.0`, `-0.0`) become integers, which is what
/// their canonical form says they are; fractional ones stay as they are (every double with a
/// fraction lies within ±2^52).
pub fn canonical_number(number: &Number) -> Option<Number> {
    if let Some(unsigned) = number.as_u64() {
        return (unsigned <= MAX_SAFE_INTEGER).then(|| number.clone());
    }
    if let Some(signed) = number.as_i64() {
        return (signed.unsigned_abs() <= MAX_SAFE_INTEGER).then(|| number.clone());
    }
    let float = number.as_f64()?;
    if float.fract() != 0.0 {
        return Some(number.clone());
    }
    // An integral float: beyond 2^53 it cannot stand for one exact integer.
    if float.abs() > MAX_SAFE_DOUBLE {
        return None;
    }
    #[expect(
        clippy::cast_possible_truncation,
        reason = "integral and within ±2^53: exact"
    )]
    let integer = float as i64;
    // -0.0 canonicalises to 0, as JCS does.
    Some(Number::from(integer))
}

/// Whether a double is a number some document could hold (finite, within ±2^53): what a
/// number read back from a cursor must be.
pub fn is_storable(value: f64) -> bool {
    value.is_finite() && value.abs() <= MAX_SAFE_DOUBLE
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn canonical(value: serde_json::Value) -> Option<String> {
        value
            .as_number()
            .and_then(canonical_number)
            .map(|n| n.to_string())
    }

    #[test]
    fn integral_floats_become_integers_and_fractions_stay() {
        assert_eq!(canonical(json!(1e2)).as_deref(), Some("100"));
        assert_eq!(canonical(json!(-0.0)).as_deref(), Some("0"));
        assert_eq!(canonical(json!(2.5)).as_deref(), Some("2.5"));
        assert_eq!(canonical(json!(7)).as_deref(), Some("7"));
    }

    #[test]
    fn integers_beyond_two_to_the_fifty_third_are_refused_in_every_spelling() {
        assert!(canonical(json!(9_007_199_254_740_992_u64)).is_some());
        assert!(canonical(json!(-9_007_199_254_740_992_i64)).is_some());
        for beyond in [
            json!(9_007_199_254_740_993_u64),
            json!(-9_007_199_254_740_993_i64),
            json!(u64::MAX),
            json!(18_446_744_073_709_551_616.0),
            json!(1e300),
            json!(-1e300),
        ] {
            assert_eq!(canonical(beyond.clone()), None, "{beyond}");
        }
    }

    #[test]
    fn storable_doubles_are_finite_and_within_two_to_the_fifty_third() {
        assert!(is_storable(0.5));
        assert!(is_storable(-9_007_199_254_740_992.0));
        assert!(!is_storable(18_446_744_073_709_551_616.0));
        assert!(!is_storable(f64::INFINITY));
        assert!(!is_storable(f64::NAN));
    }
}
