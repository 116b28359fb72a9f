//! A strict JSON reader: like `serde_json::from_slice`, but a duplicate object key is an error,
//! and so is a number the client wrote that a double cannot hold.
//!
//! `serde_json` silently keeps the last of two equal keys, so `{"a":1,"a":2}` would be stored
//! as something the client may not have meant, and two parsers could disagree on what was
//! signed. Likewise a non-zero literal too small for a double (`1e-400`) reads as `0`, which
//! would store a value the client did not send; one too large (`1e400`) cannot be read at
//! all. Both are refused naming the number's JSON pointer. Every request body goes through
//! this reader.
//!
//! Only the literal tells `1e-400` from `0.0`, and the parser hands over the double alone,
//! so the reader notes which numbers read as zero from a float literal (rare) and, only when
//! there are some, looks at those literals in the text. Pointers are built only on failure,
//! from the innermost value outwards, so a valid body pays for none of this.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::map::Entry;
use serde_json::{Map, Number, Value};

use crate::error::Error;

/// Parses `bytes` as one JSON value, rejecting duplicate keys, trailing characters, and
/// numbers a double cannot hold (see the module documentation).
///
/// # Errors
/// `INVALID_INPUT` naming the problem and its line and column; for a number that overflows
/// to ±∞ or underflows to 0, naming its JSON pointer.
pub fn parse_strict(bytes: &[u8]) -> Result<Value, Error> {
    let mut reading = Reading::default();
    let value = match read(bytes, &mut reading) {
        Ok(value) => value,
        Err(error) if is_out_of_range(&error) => {
            let path = reading.pointer();
            return Err(Error::invalid_field(
                &path,
                format!(
                    "the number at `{path}` is beyond what a 64-bit float holds (about \
                     ±1.8e308): it would become infinite"
                ),
            ));
        }
        Err(error) => return Err(Error::invalid_input(format!("malformed JSON: {error}"))),
    };
    if let Some((ordinal, literal)) = first_underflow(bytes, &reading.zeros) {
        // Read again, stopping at that number, to learn its pointer.
        let mut again = Reading {
            stop_at: Some(ordinal),
            ..Reading::default()
        };
        let path = match read(bytes, &mut again) {
            Err(_) if again.stopped => again.pointer(),
            Ok(_) | Err(_) => String::new(),
        };
        let literal = String::from_utf8_lossy(literal);
        return Err(Error::invalid_field(
            &path,
            format!(
                "the number `{literal}` at `{path}` is not zero but is too small for a 64-bit \
                 float (below about 4.9e-324): it would be stored as 0"
            ),
        ));
    }
    Ok(value)
}

fn read(bytes: &[u8], reading: &mut Reading) -> Result<Value, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = StrictValue(reading).deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(value)
}

/// Whether serde_json refused a number literal whose magnitude overflows a double.
fn is_out_of_range(error: &serde_json::Error) -> bool {
    error.to_string().starts_with("number out of range")
}

/// One step of a JSON pointer.
enum Token {
    Key(String),
    Index(usize),
}

/// What one reading of a text noted.
#[derive(Default)]
struct Reading {
    /// Numbers met so far, in text order.
    numbers: usize,
    /// The ordinals of numbers that read as ±0 from a float literal.
    zeros: Vec<usize>,
    /// Fail at the number with this ordinal (the second reading, to find its pointer).
    stop_at: Option<usize>,
    /// Whether the reading failed at `stop_at`.
    stopped: bool,
    /// Where the reading failed, innermost step first.
    failure_path: Vec<Token>,
}

impl Reading {
    /// The JSON pointer (RFC 6901) of the value the reading failed in.
    fn pointer(&self) -> String {
        let mut pointer = String::new();
        for token in self.failure_path.iter().rev() {
            pointer.push('/');
            match token {
                Token::Key(key) => {
                    pointer.push_str(&key.replace('~', "~0").replace('/', "~1"));
                }
                Token::Index(index) => pointer.push_str(&index.to_string()),
            }
        }
        pointer
    }

    /// Counts a number; fails at the one to stop at.
    fn number<E: de::Error>(&mut self) -> Result<usize, E> {
        let ordinal = self.numbers;
        self.numbers += 1;
        if self.stop_at == Some(ordinal) {
            self.stopped = true;
            return Err(E::custom("stopped at the number looked for"));
        }
        Ok(ordinal)
    }
}

/// The first number noted as read from a float literal as zero whose literal is not zero
/// (its digits before any exponent include one from 1 to 9): its ordinal and literal.
fn first_underflow<'a>(bytes: &'a [u8], zeros: &[usize]) -> Option<(usize, &'a [u8])> {
    if zeros.is_empty() {
        return None;
    }
    number_literals(bytes)
        .enumerate()
        .filter(|(ordinal, _)| zeros.binary_search(ordinal).is_ok())
        .find(|(_, literal)| {
            literal
                .iter()
                .take_while(|&&b| b != b'e' && b != b'E')
                .any(|b| (b'1'..=b'9').contains(b))
        })
}

/// The number literals of a JSON text known to be valid, in text order: outside strings,
/// a number is the only token that starts with `-` or a digit.
fn number_literals(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut at = 0;
    std::iter::from_fn(move || {
        while at < bytes.len() {
            match bytes[at] {
                b'"' => {
                    at += 1;
                    while at < bytes.len() && bytes[at] != b'"' {
                        at += if bytes[at] == b'\\' { 2 } else { 1 };
                    }
                    at += 1;
                }
                b'-' | b'0'..=b'9' => {
                    let start = at;
                    while at < bytes.len()
                        && matches!(bytes[at], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
                    {
                        at += 1;
                    }
                    return Some(&bytes[start..at]);
                }
                _ => at += 1,
            }
        }
        None
    })
}

/// Deserialises any JSON value, refusing duplicate keys at every depth and noting what
/// [`Reading`] keeps.
struct StrictValue<'r>(&'r mut Reading);

impl<'de> DeserializeSeed<'de> for StrictValue<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        self.0.number::<E>()?;
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        self.0.number::<E>()?;
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        let ordinal = self.0.number::<E>()?;
        if v == 0.0 {
            self.0.zeros.push(ordinal);
        }
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("a number must be finite"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let reading = self.0;
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        loop {
            match seq.next_element_seed(StrictValue(&mut *reading)) {
                Ok(Some(item)) => items.push(item),
                Ok(None) => break,
                Err(error) => {
                    reading.failure_path.push(Token::Index(items.len()));
                    return Err(error);
                }
            }
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let reading = self.0;
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            // One lookup per key: the vacant slot found by the duplicate check takes the value.
            match object.entry(key) {
                Entry::Occupied(taken) => {
                    return Err(de::Error::custom(format!(
                        "duplicate key `{}`",
                        taken.key()
                    )));
                }
                Entry::Vacant(slot) => match map.next_value_seed(StrictValue(&mut *reading)) {
                    Ok(value) => {
                        slot.insert(value);
                    }
                    Err(error) => {
                        reading.failure_path.push(Token::Key(slot.key().clone()));
                        return Err(error);
                    }
                },
            }
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn well_formed_json_parses_like_serde_json() {
        let text = br#"{"a":[1,-2,3.5,"x",null,true,{"b":{}}]}"#;
        assert_eq!(
            parse_strict(text).ok(),
            Some(json!({"a":[1,-2,3.5,"x",null,true,{"b":{}}]}))
        );
    }

    #[test]
    fn duplicate_keys_are_rejected_at_any_depth() {
        for text in [
            &br#"{"a":1,"a":2}"#[..],
            br#"{"x":{"a":1,"a":1}}"#,
            br#"[{"k":0,"k":0}]"#,
        ] {
            let error = parse_strict(text)
                .err()
                .map(|e| e.detail().to_owned())
                .unwrap_or_default();
            assert!(error.contains("duplicate key"), "{error}");
        }
    }

    #[test]
    fn trailing_characters_and_garbage_are_rejected() {
        assert!(parse_strict(b"{} x").is_err());
        assert!(parse_strict(b"{").is_err());
        assert!(parse_strict(b"").is_err());
    }

    fn refusal(text: &str) -> (String, String) {
        let error = parse_strict(text.as_bytes())
            .err()
            .unwrap_or_else(|| panic!("{text} was accepted"));
        assert_eq!(error.code(), crate::ErrorCode::InvalidInput, "{text}");
        let path = error
            .field_errors()
            .first()
            .map(|f| f.path.clone())
            .unwrap_or_else(|| panic!("{text}: no path in {error}"));
        (path, error.detail().to_owned())
    }

    #[test]
    fn a_non_zero_literal_that_underflows_to_zero_is_refused_naming_its_pointer() {
        let (path, detail) = refusal(r#"{"data": {"x": 1e-400}}"#);
        assert_eq!(path, "/data/x");
        assert!(detail.contains("1e-400"), "{detail}");
        assert_eq!(refusal(r#"{"a": [0.0, 1, -2.5E-999]}"#).0, "/a/2");
        assert_eq!(
            refusal(r#"{"a~/b": {"c": 0.000e0, "d": 7e-500}}"#).0,
            "/a~0~1b/d"
        );
        assert_eq!(refusal("1e-400").0, "");
        // Strings that look like numbers and escaped quotes do not confuse the search.
        assert_eq!(
            refusal(r#"{"s\"1e-400": "0.5e-999", "t": 0.0, "u": 1e-400}"#).0,
            "/u"
        );
    }

    #[test]
    fn a_literal_that_overflows_a_double_is_refused_naming_its_pointer() {
        assert_eq!(refusal(r#"{"data": {"n": 1e400}}"#).0, "/data/n");
        assert_eq!(refusal(r#"{"a": [1, {"b": -1.5e309}]}"#).0, "/a/1/b");
        let digits = "9".repeat(400);
        assert_eq!(refusal(&format!(r#"{{"n": {digits}}}"#)).0, "/n");
    }

    #[test]
    fn zeros_written_any_way_and_tiny_numbers_a_double_holds_are_fine() {
        let value = parse_strict(br#"{"a": [0, -0, 0.0, -0.0, 0e5, 0.000E-400, 5e-324, 1e2]}"#)
            .unwrap_or_else(|e| panic!("{e}"));
        let numbers: Vec<f64> = value["a"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_f64).collect())
            .unwrap_or_default();
        assert_eq!(numbers.len(), 8);
        assert!(numbers[..6].iter().all(|n| *n == 0.0));
        assert!(numbers[6] > 0.0);
        assert_eq!(numbers[7], 100.0);
    }
}
