//! The documents the write scenarios send: about 1 KiB of JSON each, shaped like a business
//! record (names, numbers, a nested object, an array, a text field), and the JSON Schema of
//! their collection. The SQLite and PostgreSQL peers store the very same bytes.

use serde_json::{Value, json};

/// Documents' `group` field takes this many values, so `{"group": g}` selects 1 in `GROUPS`.
pub const GROUPS: u64 = 10;

/// The text that pads a document to about 1 KiB.
const BODY: &str = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod \
tempor incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud \
exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat. Duis aute irure dolor in \
reprehenderit in voluptate velit esse cillum dolore eu fugiat nulla pariatur. Excepteur sint \
occaecat cupidatat non proident, sunt in culpa qui officia deserunt mollit anim id est laborum. \
Sed ut perspiciatis unde omnis iste natus error sit voluptatem accusantium doloremque \
laudantium, totam rem aperiam, eaque ipsa quae ab illo inventore veritatis et quasi architecto \
beatae vitae dicta sunt explicabo. Nemo enim ipsam voluptatem quia voluptas sit aspernatur.";

/// The data of document number `seq` (about 1 KiB as canonical JSON).
pub fn data(seq: u64) -> Value {
    json!({
        "title": format!("Invoice {seq:08}"),
        "seq": seq,
        "group": seq % GROUPS,
        "owner": format!("user-{}", seq % 997),
        "email": format!("user{}@example.com", seq % 997),
        "amount": (seq % 100_000) as f64 / 100.0 + 0.5,
        "currency": "EUR",
        "paid": seq.is_multiple_of(3),
        "tags": ["bench", "invoice", format!("batch-{}", seq % 50)],
        "address": {"street": "Karl Johans gate 22", "city": "Oslo", "zip": "0159"},
        "body": BODY,
    })
}

/// The request body that creates document number `seq`, with `id` when given.
pub fn create_body(seq: u64, id: Option<&str>) -> Vec<u8> {
    let body = match id {
        Some(id) => json!({"id": id, "data": data(seq)}),
        None => json!({"data": data(seq)}),
    };
    serde_json::to_vec(&body).unwrap_or_default()
}

/// The JSON Schema of the benchmark collections: every write is validated against it.
pub fn schema() -> Value {
    json!({
        "type": "object",
        "required": ["title", "seq", "group", "owner", "amount", "currency", "body"],
        "properties": {
            "title": {"type": "string", "minLength": 1, "maxLength": 200},
            "seq": {"type": "integer", "minimum": 0},
            "group": {"type": "integer", "minimum": 0, "maximum": 1000},
            "owner": {"type": "string", "pattern": "^user-[0-9]+$"},
            "email": {"type": "string", "format": "email"},
            "amount": {"type": "number", "minimum": 0},
            "currency": {"enum": ["EUR", "USD", "NOK"]},
            "paid": {"type": "boolean"},
            "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 20},
            "address": {
                "type": "object",
                "properties": {
                    "street": {"type": "string"},
                    "city": {"type": "string"},
                    "zip": {"type": "string"}
                }
            },
            "body": {"type": "string", "maxLength": 4000}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_is_about_one_kibibyte() {
        for seq in [0, 7, 123_456_789] {
            let len = serde_json::to_vec(&data(seq)).expect("json").len();
            assert!((900..=1200).contains(&len), "seq {seq}: {len} bytes");
        }
    }

    #[test]
    fn documents_differ_and_spread_over_the_groups() {
        assert_ne!(data(1), data(2));
        assert_eq!(data(13)["group"], json!(3));
    }
}
