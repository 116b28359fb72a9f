//! JSON ↔ BSON: the MongoDB store's one converter for user data (its anti-corruption layer).
//!
//! Whatever the store holds must read back as the very JSON it was given, so that its
//! canonical (RFC 8785) text, and so every content hash, is the one the embedded store
//! computes. The bson crate's own bridges break that: `Bson::try_from(Value)`, its serde
//! serializer and extended JSON read user keys such as `$date`, `$oid` or `$numberLong` as
//! typed values (../shared/DEPENDENCIES.md, "MongoDB: keep user JSON exactly as sent"). This
//! walker maps only what JSON has, and reads back only what it writes:
//!
//! | JSON                     | BSON                                          |
//! |--------------------------|-----------------------------------------------|
//! | object                   | embedded document, members in RFC 8785 order  |
//! | array                    | array                                         |
//! | string, `true`/`false`   | string, boolean                               |
//! | `null`                   | null                                          |
//! | integer                  | Int64 (Int32 is read back too)                |
//! | any other number         | Double                                        |
//!
//! Members are written in RFC 8785 order, by the canonical writer's own comparison, so that
//! two equal JSON objects are the same BSON, and MongoDB's embedded-document equality (which
//! depends on member order) means what JSON equality means.
//!
//! Any other BSON type read back (a date, an ObjectId, binary data, a decimal, a regular
//! expression, ...) or a non-finite double means the stored document is not one this store
//! wrote: that is an internal error, never data handed to a client as if it were theirs.

#![cfg_attr(
    not(test),
    expect(
        dead_code,
        reason = "the MongoDB store adapters (issue 22) call these; remove once they do"
    )
)]

use std::borrow::Cow;

use mongodb::bson::{Bson, Document};
use serde_json::{Map, Number, Value};
use shared_kernel::number::unsafe_integer_message;
use shared_kernel::{Error, member_name_order};

/// The most bytes of BSON MongoDB stores in one document.
pub(crate) const MAX_BSON_DOCUMENT_BYTES: usize = 16 * 1024 * 1024;

/// The largest `max_document_bytes` the MongoDB store runs with (4 MiB): a quarter of
/// [`MAX_BSON_DOCUMENT_BYTES`], since one stored write holds the document, its patch and its
/// revision, and BSON spends more bytes than canonical JSON on the same data.
pub const MAX_MONGO_DOCUMENT_BYTES: u64 = 4 * 1024 * 1024;

/// The character that starts an escape in a stored field name (see [`field_name`]): U+FFFF,
/// a Unicode noncharacter, reserved for a program's internal use, so user keys practically
/// never hold it and a stored field name is practically always the user's key as it is.
const ESCAPE: char = '\u{FFFF}';

/// Refuses, at start, a `max_document_bytes` the MongoDB store cannot honour.
///
/// # Errors
/// `INVALID_INPUT` above [`MAX_MONGO_DOCUMENT_BYTES`], naming the setting, the limit and why.
pub(crate) fn check_document_budget(max_document_bytes: u64) -> Result<(), Error> {
    if max_document_bytes <= MAX_MONGO_DOCUMENT_BYTES {
        return Ok(());
    }
    Err(Error::invalid_input(format!(
        "`max_document_bytes` is {max_document_bytes}, but the MongoDB store accepts at most \
         {MAX_MONGO_DOCUMENT_BYTES} (4 MiB): MongoDB stores at most 16 MiB of BSON in one \
         document, and that must hold the document, its patch and the revision"
    )))
}

/// The BSON form of a JSON value (see the module documentation for the mapping).
///
/// # Errors
/// `INVALID_INPUT` for an integer beyond the range of Int64 (the store refuses integers
/// beyond ±2^53 before this is reached, so only a caller that skipped that rule sees it).
pub(crate) fn bson_from_json(value: &Value) -> Result<Bson, Error> {
    Ok(match value {
        Value::Null => Bson::Null,
        Value::Bool(flag) => Bson::Boolean(*flag),
        Value::Number(number) => bson_from_number(number)?,
        Value::String(text) => Bson::String(text.clone()),
        Value::Array(items) => {
            Bson::Array(items.iter().map(bson_from_json).collect::<Result<_, _>>()?)
        }
        Value::Object(members) => Bson::Document(document_from_json(members)?),
    })
}

/// The BSON document of a JSON object: its members in RFC 8785 order, each under the
/// field name [`field_name`] gives its key.
///
/// # Errors
/// As [`bson_from_json`].
pub(crate) fn document_from_json(object: &Map<String, Value>) -> Result<Document, Error> {
    let mut members: Vec<(&String, &Value)> = object.iter().collect();
    // A map iterates in byte order (or insertion order), which is already RFC 8785 order in
    // all but rare cases; the sort finds such a run in one pass.
    members.sort_by(|(a, _), (b, _)| member_name_order(a, b));
    let mut document = Document::new();
    for (name, value) in members {
        document.insert(field_name(name).into_owned(), bson_from_json(value)?);
    }
    Ok(document)
}

/// An integer is Int64, so that it keeps its exact value and its kind; any other number
/// is the double it is.
fn bson_from_number(number: &Number) -> Result<Bson, Error> {
    if let Some(integer) = number.as_i64() {
        return Ok(Bson::Int64(integer));
    }
    match number.as_f64() {
        Some(double) if number.is_f64() => Ok(Bson::Double(double)),
        // An integer above i64::MAX.
        Some(_) | None => Err(Error::invalid_input(format!(
            "{number} cannot be stored: {}",
            unsafe_integer_message()
        ))),
    }
}

/// The JSON value a stored BSON value stands for: the inverse of [`bson_from_json`].
///
/// Int32 reads back as an integer too (MongoDB may hand small integers back in that form);
/// a Double reads back as the double it is, whose canonical text is that of the number
/// originally sent.
///
/// # Errors
/// `INTERNAL_ERROR` for any BSON type [`bson_from_json`] never writes, or a non-finite
/// double: the stored document is not one this store wrote.
pub(crate) fn json_from_bson(value: &Bson) -> Result<Value, Error> {
    Ok(match value {
        Bson::Null => Value::Null,
        Bson::Boolean(flag) => Value::Bool(*flag),
        Bson::Int32(integer) => Value::from(*integer),
        Bson::Int64(integer) => Value::from(*integer),
        Bson::Double(double) => Number::from_f64(*double)
            .map(Value::Number)
            .ok_or_else(|| not_written_here(&format!("a non-finite BSON Double ({double})")))?,
        Bson::String(text) => Value::String(text.clone()),
        Bson::Array(items) => {
            Value::Array(items.iter().map(json_from_bson).collect::<Result<_, _>>()?)
        }
        Bson::Document(document) => Value::Object(json_from_document(document)?),
        Bson::RegularExpression(_)
        | Bson::JavaScriptCode(_)
        | Bson::JavaScriptCodeWithScope(_)
        | Bson::Timestamp(_)
        | Bson::Binary(_)
        | Bson::ObjectId(_)
        | Bson::DateTime(_)
        | Bson::Symbol(_)
        | Bson::Decimal128(_)
        | Bson::Undefined
        | Bson::MaxKey
        | Bson::MinKey
        | Bson::DbPointer(_) => {
            return Err(not_written_here(&format!(
                "a BSON {:?} value",
                value.element_type()
            )));
        }
    })
}

/// The JSON object a stored BSON document stands for: the inverse of [`document_from_json`].
///
/// # Errors
/// As [`json_from_bson`], and for a field name [`field_name`] cannot have written.
pub(crate) fn json_from_document(document: &Document) -> Result<Map<String, Value>, Error> {
    let mut object = Map::new();
    for (field, value) in document {
        object.insert(member_name(field)?.into_owned(), json_from_bson(value)?);
    }
    Ok(object)
}

/// The BSON field name a JSON member is stored under: its name as it is, unless the name
/// holds U+0000 or [`ESCAPE`].
///
/// BSON field names are C strings, so U+0000, which JSON allows in a name and the embedded
/// store accepts, cannot be written as it is (the bson crate refuses the whole document).
/// It is written as `ESCAPE` then `0`, and `ESCAPE` itself as `ESCAPE` twice: one-to-one, so
/// [`member_name`] recovers every name. Whatever names fields in MongoDB (queries, indexes)
/// must name them through this function.
pub(crate) fn field_name(name: &str) -> Cow<'_, str> {
    if !name.contains(['\0', ESCAPE]) {
        return Cow::Borrowed(name);
    }
    let mut field = String::with_capacity(name.len() + 4);
    for character in name.chars() {
        match character {
            '\0' => field.extend([ESCAPE, '0']),
            ESCAPE => field.extend([ESCAPE, ESCAPE]),
            other => field.push(other),
        }
    }
    Cow::Owned(field)
}

/// The JSON member name a stored field name stands for: the inverse of [`field_name`].
///
/// # Errors
/// `INTERNAL_ERROR` for an `ESCAPE` followed by anything but `0` or `ESCAPE`: no name
/// [`field_name`] writes has one.
pub(crate) fn member_name(field: &str) -> Result<Cow<'_, str>, Error> {
    if !field.contains(ESCAPE) {
        return Ok(Cow::Borrowed(field));
    }
    let mut name = String::with_capacity(field.len());
    let mut characters = field.chars();
    while let Some(character) = characters.next() {
        if character != ESCAPE {
            name.push(character);
            continue;
        }
        match characters.next() {
            Some('0') => name.push('\0'),
            Some(ESCAPE) => name.push(ESCAPE),
            Some(_) | None => {
                return Err(not_written_here(&format!(
                    "the field name {field:?}, whose U+FFFF escape is malformed"
                )));
            }
        }
    }
    Ok(Cow::Owned(name))
}

/// Stored data this converter never writes: the document was written by something else, or
/// changed behind the store's back, so it must not reach a client as if it were their data.
fn not_written_here(what: &str) -> Error {
    Error::internal(
        format!(
            "stored document data holds {what}: the stored document is not one this store wrote"
        ),
        "the MongoDB store writes only embedded documents, arrays, strings, booleans, nulls, \
         64-bit integers and finite doubles",
    )
}

#[cfg(test)]
mod tests;
