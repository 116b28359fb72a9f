//! The RFC 8785 (JCS) serialiser behind [`canonical_json`](crate::canonical_json).
//!
//! Every write hashes a document and an audit entry in this form, so it runs on every
//! request's path: it writes straight into one buffer, walks objects in the map's own order
//! when that order is already the canonical one (the usual case), and only sorts a copy of
//! the keys when it is not.
//!
//! The rules it follows (RFC 8785 §3.2):
//! - `null`, `true` and `false` as they are; no whitespace anywhere.
//! - Numbers as ECMAScript's `Number.prototype.toString` writes the IEEE 754 double the
//!   number denotes (§3.2.2.3): integers beyond 2^53 are rounded to a double first.
//! - Strings: `"` and `\` escaped, control characters as `\b \t \n \f \r` or `\u00xx`
//!   (lowercase hex); every other character, non-ASCII included, as its UTF-8 bytes.
//! - Object members sorted by their names' UTF-16 code units (§3.2.3).

use std::cmp::Ordering;

use serde_json::{Map, Number, Value};

/// The canonical text of `value`.
pub(crate) fn to_string(value: &Value) -> String {
    let mut out = Vec::with_capacity(256);
    write_value(value, &mut out);
    // Only whole UTF-8 sequences of the input strings and ASCII are ever written, so this
    // cannot fail; should it, the lossy form keeps the bug visible instead of panicking.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Appends the canonical form of `value` to `out`.
fn write_value(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(number) => write_number(number, out),
        Value::String(text) => write_string(text, out),
        Value::Array(items) => {
            out.push(b'[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                write_value(item, out);
            }
            out.push(b']');
        }
        Value::Object(members) => write_object(members, out),
    }
}

fn write_object(members: &Map<String, Value>, out: &mut Vec<u8>) {
    out.push(b'{');
    let in_order = members
        .keys()
        .zip(members.keys().skip(1))
        .all(|(a, b)| member_name_order(a, b) == Ordering::Less);
    if in_order {
        write_members(members.iter(), out);
    } else {
        let mut sorted: Vec<(&String, &Value)> = members.iter().collect();
        sorted.sort_by(|(a, _), (b, _)| member_name_order(a, b));
        write_members(sorted.into_iter(), out);
    }
    out.push(b'}');
}

fn write_members<'a>(members: impl Iterator<Item = (&'a String, &'a Value)>, out: &mut Vec<u8>) {
    for (index, (name, value)) in members.enumerate() {
        if index > 0 {
            out.push(b',');
        }
        write_string(name, out);
        out.push(b':');
        write_value(value, out);
    }
}

/// Orders two object member names as RFC 8785 does (§3.2.3): by their UTF-16 code units.
///
/// Public so that anything else that must lay members out in canonical order (the MongoDB
/// store writes embedded documents in this order) uses the very comparison this writer
/// uses, and the two cannot disagree.
///
/// UTF-8 byte order is code point order, which agrees with UTF-16 order except between a
/// character above U+FFFF (a surrogate pair, D800–DFFF) and one in U+E000–U+FFFF. Both start
/// with a byte of at least 0xEE in UTF-8, so names without such a byte compare as bytes.
pub fn member_name_order(a: &str, b: &str) -> Ordering {
    let may_differ = |text: &str| text.bytes().any(|byte| byte >= 0xEE);
    if may_differ(a) || may_differ(b) {
        a.encode_utf16().cmp(b.encode_utf16())
    } else {
        a.as_bytes().cmp(b.as_bytes())
    }
}

fn write_number(number: &Number, out: &mut Vec<u8>) {
    // A `Number` always has a double reading: integers convert with round-to-nearest-even,
    // as ECMAScript reads their decimal text.
    let double = number.as_f64().unwrap_or(0.0);
    // ryu-js follows `Number.prototype.toString`, negative zero (`0`) included.
    let mut buffer = ryu_js::Buffer::new();
    out.extend_from_slice(buffer.format_finite(double).as_bytes());
}

fn write_string(text: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    let written: Result<(), std::convert::Infallible> = escape_json_string(text, |piece| {
        out.extend_from_slice(piece.as_bytes());
        Ok(())
    });
    let Ok(()) = written;
    out.push(b'"');
}

/// How RFC 8785 writes each control character: the five with a short form, the rest as
/// `\u00xx` in lowercase hex.
const CONTROL_ESCAPES: [&str; 32] = [
    "\\u0000", "\\u0001", "\\u0002", "\\u0003", "\\u0004", "\\u0005", "\\u0006", "\\u0007", "\\b",
    "\\t", "\\n", "\\u000b", "\\f", "\\r", "\\u000e", "\\u000f", "\\u0010", "\\u0011", "\\u0012",
    "\\u0013", "\\u0014", "\\u0015", "\\u0016", "\\u0017", "\\u0018", "\\u0019", "\\u001a",
    "\\u001b", "\\u001c", "\\u001d", "\\u001e", "\\u001f",
];

/// Hands `put` the inside of `text` as a JSON string, piece by piece: `"` and `\` escaped,
/// control characters as `\b \t \n \f \r` or `\u00xx` (lowercase hex), every other
/// character, non-ASCII included, as it is. This is RFC 8785's string form, and valid RFC 8259
/// for any other JSON writer (the server's JSON log fields use it); the quotes are the
/// caller's. Text with nothing to escape goes to `put` in one piece after one scan.
///
/// # Errors
/// The first error `put` returns.
pub fn escape_json_string<E>(
    text: &str,
    mut put: impl FnMut(&str) -> Result<(), E>,
) -> Result<(), E> {
    if !text.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        return put(text);
    }
    let mut copied = 0;
    for (index, byte) in text.bytes().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            0x00..=0x1F => CONTROL_ESCAPES[usize::from(byte)],
            _ => continue,
        };
        // `index` is at an ASCII byte, so both slices end on character boundaries.
        put(&text[copied..index])?;
        put(escape)?;
        copied = index + 1;
    }
    put(&text[copied..])
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn canonical(text: &str) -> String {
        let value: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        to_string(&value)
    }

    #[test]
    fn numbers_are_written_as_ecmascript_writes_their_double() {
        // RFC 8785 §3.2.2.3 and appendix B.
        for (input, expected) in [
            ("0", "0"),
            ("-0.0", "0"),
            ("1e30", "1e+30"),
            ("4.50", "4.5"),
            ("2e-3", "0.002"),
            ("0.000001", "0.000001"),
            ("1e-7", "1e-7"),
            ("1e20", "100000000000000000000"),
            ("1e21", "1e+21"),
            ("9007199254740992", "9007199254740992"),
            ("9007199254740993", "9007199254740992"),
            ("295147905179352825856", "295147905179352830000"),
            ("-9223372036854775808", "-9223372036854776000"),
            ("18446744073709551615", "18446744073709552000"),
            ("333333333.33333329", "333333333.3333333"),
            ("5e-324", "5e-324"),
            ("1.7976931348623157e308", "1.7976931348623157e+308"),
            ("-1.5", "-1.5"),
        ] {
            assert_eq!(canonical(input), expected, "{input}");
        }
    }

    #[test]
    fn strings_escape_only_quotes_backslashes_and_control_characters() {
        // RFC 8785 §3.2.2.2's example, plus DEL and U+2028, which stay as they are.
        let text = r#""\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/\u0008\u000c\r\t\u007f\u2028""#;
        assert_eq!(
            canonical(text),
            "\"€$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\\b\\f\\r\\t\u{7f}\u{2028}\""
        );
    }

    #[test]
    fn every_ascii_character_escapes_to_a_string_that_reads_back_as_itself() {
        for code in 0_u8..0x80 {
            let text = format!("a{}b", char::from(code));
            let mut inside = String::new();
            let written: Result<(), std::convert::Infallible> =
                escape_json_string(&text, |piece| {
                    inside.push_str(piece);
                    Ok(())
                });
            let Ok(()) = written;
            let read: String = serde_json::from_str(&format!("\"{inside}\""))
                .unwrap_or_else(|e| panic!("{code:#04x}: {inside}: {e}"));
            assert_eq!(read, text, "{code:#04x}");
            assert_eq!(
                inside.len() > 3,
                code < 0x20 || code == b'"' || code == b'\\'
            );
        }
    }

    #[test]
    fn members_are_sorted_by_utf16_code_units_not_code_points() {
        // RFC 8785 §3.2.3: U+1F600 (a surrogate pair) sorts before U+FB33 in UTF-16.
        let text = r#"{"\u20ac":"Euro","\r":"CR","\ufb33":"Hebrew","1":"One","\ud83d\ude00":"Smiley","\u0080":"Control","\u00f6":"Latin"}"#;
        assert_eq!(
            canonical(text),
            "{\"\\r\":\"CR\",\"1\":\"One\",\"\u{80}\":\"Control\",\"ö\":\"Latin\",\
             \"€\":\"Euro\",\"😀\":\"Smiley\",\"\u{fb33}\":\"Hebrew\"}"
        );
    }

    #[test]
    fn nesting_and_literals_have_no_whitespace() {
        let value = json!({"b": [true, false, null, {"d": {}, "c": []}], "a": ""});
        assert_eq!(
            to_string(&value),
            r#"{"a":"","b":[true,false,null,{"c":[],"d":{}}]}"#
        );
    }

    /// A small deterministic generator (xorshift64*), so the comparison below is repeatable.
    struct Generator(u64);

    impl Generator {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, bound: u64) -> usize {
            usize::try_from(self.next() % bound).unwrap_or(0)
        }

        fn text(&mut self) -> String {
            const PIECES: [&str; 14] = [
                "a",
                "Z",
                "1",
                "é",
                "€",
                "\u{fb33}",
                "😀",
                "\u{e000}",
                "\u{ffff}",
                "\r",
                "\u{1}",
                "\"",
                "\\",
                "\u{10ffff}",
            ];
            (0..self.below(5))
                .map(|_| PIECES[self.below(PIECES.len() as u64)])
                .collect()
        }

        fn number(&mut self) -> Value {
            match self.below(5) {
                0 => json!(self.next() % 1000),
                1 => json!(self.next().cast_signed()),
                2 => json!(self.next()),
                3 => json!((self.next() % 100_000) as f64 / 64.0),
                _ => {
                    let double = f64::from_bits(self.next());
                    if double.is_finite() {
                        json!(double)
                    } else {
                        json!(0.5)
                    }
                }
            }
        }

        fn value(&mut self, depth: u32) -> Value {
            let kinds = if depth >= 4 { 4 } else { 6 };
            match self.below(kinds) {
                0 => Value::Null,
                1 => Value::Bool(self.next().is_multiple_of(2)),
                2 => self.number(),
                3 => Value::String(self.text()),
                4 => (0..self.below(4)).map(|_| self.value(depth + 1)).collect(),
                _ => Value::Object(
                    (0..self.below(6))
                        .map(|_| (self.text(), self.value(depth + 1)))
                        .collect(),
                ),
            }
        }
    }

    #[test]
    fn agrees_byte_for_byte_with_an_independent_implementation() {
        let mut generator = Generator(0x9E37_79B9_7F4A_7C15);
        for _ in 0..5_000 {
            let value = generator.value(0);
            let theirs = serde_json_canonicalizer::to_string(&value)
                .unwrap_or_else(|e| panic!("the reference failed on {value}: {e}"));
            assert_eq!(to_string(&value), theirs, "for {value}");
        }
    }
}
