use std::cmp::Ordering;

use mongodb::bson::oid::ObjectId;
use mongodb::bson::raw::CString;
use mongodb::bson::spec::BinarySubtype;
use mongodb::bson::{
    Binary, Bson, DateTime, Decimal128, Document, JavaScriptCodeWithScope, Regex, Timestamp,
};
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use shared_kernel::constants::MAX_SAFE_INTEGER;
use shared_kernel::{ErrorCode, Sha256Digest, canonical_json, member_name_order};
use storage_domain::{DocumentData, DocumentLimits};

use super::*;

fn object(value: Value) -> Map<String, Value> {
    let Value::Object(members) = value else {
        panic!("not an object: {value}");
    };
    members
}

fn to_document(object: &Map<String, Value>) -> Document {
    document_from_json(object).unwrap_or_else(|e| panic!("converting {object:?}: {}", e.chain()))
}

/// The document as MongoDB gets it: encoded to BSON bytes and decoded again.
fn through_bytes(document: &Document) -> Document {
    let bytes = document
        .to_vec()
        .unwrap_or_else(|e| panic!("encoding {document}: {e}"));
    Document::from_reader(bytes.as_slice()).unwrap_or_else(|e| panic!("decoding {document}: {e}"))
}

fn to_json(document: &Document) -> Map<String, Value> {
    json_from_document(document).unwrap_or_else(|e| panic!("reading {document}: {}", e.chain()))
}

/// JSON → BSON → bytes → BSON → JSON.
fn round_trip(object: &Map<String, Value>) -> Map<String, Value> {
    to_json(&through_bytes(&to_document(object)))
}

fn canonical(object: &Map<String, Value>) -> String {
    canonical_json(&Value::Object(object.clone()))
}

/// The field names of `document` and of every document under it, level by level, as the
/// member names they stand for.
fn member_names_in_order(document: &Document) -> Vec<Vec<String>> {
    let mut levels = Vec::new();
    collect_names(&Bson::Document(document.clone()), &mut levels);
    levels
}

fn collect_names(value: &Bson, levels: &mut Vec<Vec<String>>) {
    if let Bson::Document(document) = value {
        let names = document
            .keys()
            .map(|field| {
                member_name(field)
                    .unwrap_or_else(|e| panic!("{field:?}: {}", e.chain()))
                    .into_owned()
            })
            .collect();
        levels.push(names);
        document.values().for_each(|v| collect_names(v, levels));
    } else if let Bson::Array(items) = value {
        items.iter().for_each(|v| collect_names(v, levels));
    }
}

/// Whether every level's names are strictly increasing in RFC 8785 order.
fn in_canonical_order(document: &Document) -> bool {
    member_names_in_order(document).iter().all(|names| {
        names
            .windows(2)
            .all(|pair| member_name_order(&pair[0], &pair[1]) == Ordering::Less)
    })
}

fn assert_not_written_here(value: Bson, named: &str) {
    let error = json_from_bson(&value)
        .err()
        .unwrap_or_else(|| panic!("{value} was read back as JSON"));
    assert_eq!(error.code(), ErrorCode::Internal, "{}", error.chain());
    assert!(error.detail().contains(named), "{}", error.detail());
    assert!(
        error.detail().contains("not one this store wrote"),
        "{}",
        error.detail()
    );
    // Nested anywhere, the verdict is the same.
    let nested = Document::from_iter([(
        "a".to_owned(),
        Bson::Array(vec![Bson::Document(Document::from_iter([(
            "b".to_owned(),
            value,
        )]))]),
    )]);
    let error = json_from_document(&nested)
        .err()
        .unwrap_or_else(|| panic!("{nested} was read back as JSON"));
    assert_eq!(error.code(), ErrorCode::Internal, "{}", error.chain());
    assert!(error.detail().contains(named), "{}", error.detail());
}

fn cstring(text: &str) -> CString {
    CString::try_from(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

#[test]
fn extended_json_keys_stay_plain_data() {
    let data = object(json!({
        "$date": "2020-01-01T00:00:00Z",
        "$oid": "5f1a2b3c4d5e6f7a8b9c0d1e",
        "$numberLong": "12",
        "$numberDouble": "NaN",
        "$regex": "^a", "$options": "i",
        "nested": [{"$date": {"$numberLong": "0"}}, {"$binary": {"base64": "", "subType": "00"}}],
    }));
    let document = to_document(&data);
    for key in ["$date", "$oid", "$numberLong", "$numberDouble", "$regex"] {
        assert!(
            matches!(document.get(key), Some(Bson::String(_))),
            "{key}: {document}"
        );
    }
    let Some(Bson::Array(nested)) = document.get("nested") else {
        panic!("{document}");
    };
    assert!(
        matches!(&nested[0], Bson::Document(d) if matches!(d.get("$date"), Some(Bson::Document(_)))),
        "{document}"
    );
    assert_eq!(round_trip(&data), data);
}

#[test]
fn dotted_and_empty_keys_stay_plain_data() {
    let data = object(json!({"a.b": 1, "": 2, "a": {"b": 3, "": {"": null}}, ".": "."}));
    let document = to_document(&data);
    assert_eq!(document.get("a.b"), Some(&Bson::Int64(1)));
    assert_eq!(document.get(""), Some(&Bson::Int64(2)));
    assert_eq!(round_trip(&data), data);
}

#[test]
fn members_are_in_utf16_order_not_code_point_order() {
    // U+1F600 is a surrogate pair in UTF-16 (D83D DE00), so it sorts before U+FF61, though
    // its code point is higher.
    let data = object(json!({"\u{ff61}": 1, "\u{1F600}": 2, "\u{e9}": 3, "z": 4, "a": 5}));
    let document = to_document(&data);
    let names: Vec<&str> = document.keys().map(String::as_str).collect();
    assert_eq!(names, ["a", "z", "\u{e9}", "\u{1F600}", "\u{ff61}"]);
    // The order the canonical writer uses.
    assert_eq!(
        canonical(&data),
        "{\"a\":5,\"z\":4,\"\u{e9}\":3,\"\u{1F600}\":2,\"\u{ff61}\":1}"
    );
    assert_eq!(round_trip(&data), data);
}

#[test]
fn objects_nested_in_arrays_are_in_canonical_order_at_every_level() {
    let data = object(json!({
        "z": [{"b": 1, "a": [{"d": 2, "c": [[{"\u{ff61}": 0, "\u{1F600}": 1}]]}]}, [], {}],
        "y": {"\u{ff61}": {"y": 0, "x": 1}, "\u{1F600}": null},
    }));
    let document = to_document(&data);
    assert!(in_canonical_order(&document), "{document}");
    assert!(in_canonical_order(&through_bytes(&document)), "{document}");
    assert_eq!(member_names_in_order(&document).len(), 7);
    assert_eq!(round_trip(&data), data);
}

#[test]
fn integers_are_int64_with_their_exact_value() {
    let limit = i64::try_from(MAX_SAFE_INTEGER).unwrap_or_else(|e| panic!("{e}"));
    let data = object(json!({"max": limit, "min": -limit, "zero": 0, "one": 1, "neg": -1}));
    let document = to_document(&data);
    assert_eq!(document.get("max"), Some(&Bson::Int64(limit)));
    assert_eq!(document.get("min"), Some(&Bson::Int64(-limit)));
    assert_eq!(document.get("zero"), Some(&Bson::Int64(0)));
    let back = round_trip(&data);
    assert_eq!(back, data);
    assert_eq!(
        canonical(&back),
        r#"{"max":9007199254740992,"min":-9007199254740992,"neg":-1,"one":1,"zero":0}"#
    );
}

#[test]
fn an_integer_beyond_int64_is_refused_as_input() {
    let error = bson_from_json(&json!(u64::MAX))
        .err()
        .unwrap_or_else(|| panic!("u64::MAX was converted"));
    assert_eq!(error.code(), ErrorCode::InvalidInput);
    assert!(error.detail().contains("2^53"), "{}", error.detail());
}

#[test]
fn other_numbers_are_doubles_whose_canonical_text_is_unchanged() {
    let data = object(json!({"negzero": -0.0, "big": 1e300, "tenth": 0.1, "half": -2.5}));
    let document = to_document(&data);
    let Some(Bson::Double(negative_zero)) = document.get("negzero") else {
        panic!("{document}");
    };
    assert!(
        *negative_zero == 0.0 && negative_zero.is_sign_negative(),
        "{negative_zero}"
    );
    assert_eq!(document.get("big"), Some(&Bson::Double(1e300)));
    assert_eq!(document.get("tenth"), Some(&Bson::Double(0.1)));
    let back = round_trip(&data);
    assert_eq!(back, data);
    assert_eq!(
        canonical(&back),
        r#"{"big":1e+300,"half":-2.5,"negzero":0,"tenth":0.1}"#
    );
}

#[test]
fn int32_reads_back_as_an_integer() {
    assert_eq!(json_from_bson(&Bson::Int32(-7)).ok(), Some(json!(-7)));
}

#[test]
fn names_holding_nul_are_escaped_one_to_one() {
    // Why: the bson crate refuses to encode a field name holding U+0000 (a C string).
    let raw = Document::from_iter([("a\u{0}b".to_owned(), Bson::Null)]);
    assert!(raw.to_vec().is_err(), "bson encoded a NUL in a field name");

    let data = object(json!({
        "a\u{0}b": 1, "\u{0}": 2, "\u{ffff}": 3, "\u{ffff}0": 4, "\u{ffff}\u{ffff}": 5, "0": 6,
        "plain": {"\u{0}\u{0}": [{"\u{0}": null}]},
    }));
    let document = to_document(&data);
    assert_eq!(document.len(), data.len());
    assert!(document.keys().all(|field| !field.contains('\0')));
    assert_eq!(
        document.get("a\u{ffff}0b"),
        Some(&Bson::Int64(1)),
        "{document:?}"
    );
    assert!(
        matches!(document.get("plain"), Some(Bson::Document(_))),
        "{document:?}"
    );
    assert_eq!(field_name("plain"), Cow::Borrowed("plain"));
    assert!(in_canonical_order(&document), "{document:?}");
    assert_eq!(round_trip(&data), data);
}

#[test]
fn a_malformed_escape_in_a_stored_name_is_not_read_as_data() {
    for field in ["\u{ffff}", "a\u{ffff}b", "\u{ffff}1"] {
        let document = Document::from_iter([(field.to_owned(), Bson::Null)]);
        let error = json_from_document(&document)
            .err()
            .unwrap_or_else(|| panic!("{field:?} was read back"));
        assert_eq!(error.code(), ErrorCode::Internal, "{}", error.chain());
        assert!(
            error.detail().contains("not one this store wrote"),
            "{}",
            error.detail()
        );
    }
}

#[test]
fn bson_types_this_store_never_writes_are_internal_errors_naming_the_type() {
    let regex = Regex {
        pattern: cstring("^a"),
        options: cstring("i"),
    };
    let cases = [
        (Bson::DateTime(DateTime::from_millis(0)), "DateTime"),
        (Bson::ObjectId(ObjectId::from_bytes([1; 12])), "ObjectId"),
        (
            Bson::Binary(Binary {
                subtype: BinarySubtype::Generic,
                bytes: vec![1, 2],
            }),
            "Binary",
        ),
        (
            Bson::Decimal128(Decimal128::from_bytes([0; 16])),
            "Decimal128",
        ),
        (Bson::RegularExpression(regex), "RegularExpression"),
        (
            Bson::Timestamp(Timestamp {
                time: 1,
                increment: 2,
            }),
            "Timestamp",
        ),
        (Bson::JavaScriptCode("1".to_owned()), "JavaScriptCode"),
        (
            Bson::JavaScriptCodeWithScope(JavaScriptCodeWithScope {
                code: "x".to_owned(),
                scope: Document::new(),
            }),
            "JavaScriptCodeWithScope",
        ),
        (Bson::Symbol("s".to_owned()), "Symbol"),
        (Bson::Undefined, "Undefined"),
        (Bson::MaxKey, "MaxKey"),
        (Bson::MinKey, "MinKey"),
    ];
    for (value, named) in cases {
        assert_not_written_here(value, named);
    }
}

#[test]
fn non_finite_doubles_are_internal_errors() {
    for double in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        assert_not_written_here(Bson::Double(double), "non-finite BSON Double");
    }
}

#[test]
fn document_budgets_above_four_mib_are_refused_naming_the_setting() {
    assert!(check_document_budget(1024).is_ok());
    assert!(check_document_budget(4 * 1024 * 1024).is_ok());
    let error = check_document_budget(4 * 1024 * 1024 + 1)
        .err()
        .unwrap_or_else(|| panic!("4 MiB + 1 was accepted"));
    assert_eq!(error.code(), ErrorCode::InvalidInput);
    for words in [
        "`max_document_bytes`",
        "4194305",
        "4 MiB",
        "16 MiB",
        "patch",
        "revision",
    ] {
        assert!(
            error.detail().contains(words),
            "{words}: {}",
            error.detail()
        );
    }
    assert_eq!(
        usize::try_from(MAX_MONGO_DOCUMENT_BYTES).ok(),
        Some(MAX_BSON_DOCUMENT_BYTES / 4)
    );
}

/// BSON spends far more bytes than canonical JSON on an array of small numbers (a type byte,
/// the index as a C string and eight bytes per element, against two characters): the 4 MiB
/// budget does not bound a document's BSON size, so the store must still handle a write
/// whose BSON is over 16 MiB.
#[test]
fn bson_can_be_seven_times_the_canonical_size() {
    let data = object(json!({"a": vec![0; 100_000]}));
    let json_bytes = canonical(&data).len();
    let bson_bytes = to_document(&data)
        .to_vec()
        .unwrap_or_else(|e| panic!("{e}"))
        .len();
    assert!(
        bson_bytes > 7 * json_bytes,
        "{bson_bytes} bytes of BSON for {json_bytes} of JSON"
    );
}

// --- Properties -------------------------------------------------------------------------

/// Keys: arbitrary text, and the ones that trip up BSON and MongoDB.
fn key() -> BoxedStrategy<String> {
    prop_oneof![
        3 => any::<String>(),
        1 => prop::sample::select(vec![
            "", "a", "b", "a.b", ".", "$date", "$oid", "$numberLong", "$regex", "\u{0}",
            "a\u{0}", "\u{ffff}", "\u{ffff}0", "\u{e9}", "\u{1F600}", "\u{ff61}", "\u{e000}",
            "\u{10ffff}",
        ])
        .prop_map(str::to_owned),
    ]
    .boxed()
}

/// A finite double; `storable` keeps only those the store accepts (a fraction, or
/// within ±2^53: an integral double beyond that stands for no one exact integer).
fn double(storable: bool) -> impl Strategy<Value = f64> {
    let limit = 2_f64.powi(53);
    prop_oneof![
        any::<f64>(),
        prop::sample::select(vec![0.0, -0.0, 0.1, 1e300, -1e-300, 5e-324, limit, -limit]),
        (-1000_i32..1000).prop_map(|n| f64::from(n) / 8.0),
    ]
    .prop_filter("finite and storable", move |d| {
        d.is_finite() && (!storable || d.fract() != 0.0 || d.abs() <= limit)
    })
}

fn scalar(storable: bool) -> impl Strategy<Value = Value> {
    let limit = i64::try_from(MAX_SAFE_INTEGER).unwrap_or(i64::MAX);
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-limit..=limit).prop_map(Value::from),
        prop::sample::select(vec![limit, -limit, 0]).prop_map(Value::from),
        double(storable).prop_map(Value::from),
        any::<String>().prop_map(Value::String),
    ]
}

/// JSON nested up to four levels; `keys` names object members.
fn json(keys: BoxedStrategy<String>, storable: bool) -> impl Strategy<Value = Value> {
    scalar(storable).prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((keys.clone(), inner), 0..6)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}

fn top_level(
    keys: BoxedStrategy<String>,
    storable: bool,
) -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::vec((keys.clone(), json(keys, storable)), 0..8)
        .prop_map(|members| members.into_iter().collect())
}

proptest! {
    /// Any JSON object comes back through BSON bytes as the same JSON: the same value, so
    /// the same canonical text and hash; and it was stored in canonical order throughout.
    #[test]
    fn any_json_reads_back_through_bson_bytes_as_itself(data in top_level(key(), false)) {
        let document = to_document(&data);
        prop_assert!(in_canonical_order(&document), "{document:?}");
        let back = to_json(&through_bytes(&document));
        prop_assert_eq!(canonical(&back), canonical(&data));
        prop_assert_eq!(
            Sha256Digest::of_json(&Value::Object(back.clone())),
            Sha256Digest::of_json(&Value::Object(data.clone()))
        );
        prop_assert_eq!(back, data);
    }

    /// What the embedded store accepts, the MongoDB store reads back with the same
    /// canonical text and content hash, whichever way the store rebuilds the data.
    #[test]
    fn stored_document_data_reads_back_with_the_same_content_hash(
        data in top_level(key().prop_filter("no `$` key", |k| !k.starts_with('$')).boxed(), true),
    ) {
        let limits = DocumentLimits::default();
        let stored = DocumentData::parse(Value::Object(data), &limits)
            .unwrap_or_else(|e| panic!("the embedded store refused it: {}", e.chain()));
        let Value::Object(members) = stored.value() else {
            panic!("document data is not an object");
        };
        let back = Value::Object(round_trip(members));

        let restored = DocumentData::restore(canonical_json(&back))
            .unwrap_or_else(|e| panic!("restore: {}", e.chain()));
        prop_assert_eq!(restored.canonical(), stored.canonical());
        prop_assert_eq!(restored.content_hash(), stored.content_hash());

        let reparsed = DocumentData::parse(back, &limits)
            .unwrap_or_else(|e| panic!("parse: {}", e.chain()));
        prop_assert_eq!(reparsed.canonical(), stored.canonical());
        prop_assert_eq!(reparsed.content_hash(), stored.content_hash());
    }
}
