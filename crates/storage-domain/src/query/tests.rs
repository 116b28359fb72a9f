//! Given a document, when a filter judges it, then ...; and every refused construct.

use serde_json::{Value, json};
use shared_kernel::{Actor, AuditId, CollectionId, ErrorCode, Timestamp};

use super::*;
use crate::document::ChangeStamp;
use crate::{Document, DocumentData, DocumentId, DocumentLimits};

fn doc(id: &str, data: Value) -> Document {
    let data =
        DocumentData::parse(data, &DocumentLimits::default()).unwrap_or_else(|e| panic!("{e}"));
    Document::create(
        CollectionId::generate(),
        DocumentId::parse(id).unwrap_or_else(|e| panic!("{e}")),
        data,
        ChangeStamp {
            at: Timestamp::from_millis(1_764_063_000_000),
            actor: Actor::Anonymous,
            audit_id: AuditId::generate(),
        },
    )
}

fn filter(value: Value) -> Filter {
    Filter::parse(&value).unwrap_or_else(|e| panic!("{value}: {e}"))
}

fn matches(f: Value, data: Value) -> bool {
    filter(f).is_satisfied_by(&doc("d", data))
}

#[test]
fn equality_follows_dotted_paths_and_matches_any_array_element() {
    let data = json!({"a": {"b": 3}, "tags": ["x", "y"], "n": 1.5, "list": [{"k": 1}, {"k": 2}]});
    let table = [
        (json!({}), true),
        (json!({"a.b": 3}), true),
        (json!({"a.b": 3.0}), true),
        (json!({"a.b": "3"}), false),
        (json!({"tags": "x"}), true),
        (json!({"tags": ["x", "y"]}), true),
        (json!({"tags": ["y", "x"]}), false),
        (json!({"tags": "z"}), false),
        (json!({"a": {"b": 3}}), true),
        (json!({"list.k": 2}), true),
        (json!({"list.k": 3}), false),
        (json!({"missing": null}), false),
    ];
    for (case, (f, expected)) in table.into_iter().enumerate() {
        assert_eq!(
            matches(f.clone(), data.clone()),
            expected,
            "case {case}: {f}"
        );
    }
}

#[test]
fn operators_compare_only_within_one_json_type() {
    let data = json!({"n": 5, "s": "b", "t": true, "z": null, "arr": [1, "x", 10]});
    let table = [
        (json!({"n": {"$gt": 4}}), true),
        (json!({"n": {"$gt": "4"}}), false),
        (json!({"n": {"$gte": 5, "$lt": 6}}), true),
        (json!({"n": {"$lte": 4.9}}), false),
        (json!({"s": {"$gt": "a"}}), true),
        (json!({"s": {"$lt": 3}}), false),
        (json!({"t": {"$gt": false}}), true),
        (json!({"z": {"$gte": null}}), true),
        (json!({"z": {"$gt": null}}), false),
        (json!({"arr": {"$gt": 9}}), true),
        (json!({"arr": {"$gt": "w"}}), true),
        (json!({"arr": {"$gt": 10}}), false),
        (json!({"n": {"$in": [1, 5]}}), true),
        (json!({"n": {"$nin": [1, 5]}}), false),
        (json!({"arr": {"$in": ["x"]}}), true),
        (json!({"n": {"$ne": 5}}), false),
        (json!({"missing": {"$ne": 5}}), true),
        (json!({"missing": {"$nin": [5]}}), true),
        (json!({"missing": {"$exists": false}}), true),
        (json!({"n": {"$exists": true}}), true),
        (json!({"n": {"$not": {"$gt": 4}}}), false),
        (json!({"missing": {"$not": {"$gt": 4}}}), true),
        (json!({"s": {"$not": {"$gt": 4}}}), true),
        (json!({"$or": [{"n": 1}, {"s": "b"}]}), true),
        (json!({"$and": [{"n": 5}, {"s": "c"}]}), false),
    ];
    for (case, (f, expected)) in table.into_iter().enumerate() {
        assert_eq!(
            matches(f.clone(), data.clone()),
            expected,
            "case {case}: {f}"
        );
    }
}

#[test]
fn metadata_is_addressed_with_dollar_names_and_times_as_rfc_3339() {
    let document = doc("order-7", json!({"a": 1}));
    let table = [
        (json!({"$id": "order-7"}), true),
        (json!({"$id": {"$gt": "order-6"}}), true),
        (json!({"$id": 7}), false),
        (json!({"$version": 1}), true),
        (json!({"$created_at": "2025-11-25T09:30:00.000Z"}), true),
        (
            json!({"$created_at": "2025-11-25T10:30:00.000+01:00"}),
            true,
        ),
        (
            json!({"$updated_at": {"$gt": "2025-11-25T09:29:59.999Z"}}),
            true,
        ),
        (
            json!({"$updated_at": {"$gt": "2025-11-25T09:30:00Z"}}),
            false,
        ),
    ];
    for (case, (f, expected)) in table.into_iter().enumerate() {
        assert_eq!(
            filter(f.clone()).is_satisfied_by(&document),
            expected,
            "case {case}: {f}"
        );
    }
}

#[test]
fn a_tombstone_satisfies_no_filter() {
    let mut document = doc("d", json!({"a": 1}));
    let stamp = ChangeStamp {
        at: Timestamp::from_millis(2),
        actor: Actor::Anonymous,
        audit_id: AuditId::generate(),
    };
    document
        .delete(&crate::Precondition::None, stamp)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!Filter::all().is_satisfied_by(&document));
}

fn rejection(f: Value) -> (String, String) {
    let error = Filter::parse(&f)
        .err()
        .unwrap_or_else(|| panic!("{f} was accepted"));
    assert_eq!(error.code(), ErrorCode::InvalidInput, "{f}");
    let path = error
        .field_errors()
        .first()
        .map(|e| e.path.clone())
        .unwrap_or_default();
    (path, error.detail().to_owned())
}

#[test]
fn every_unsupported_construct_is_refused_naming_its_operator_and_path() {
    let table = [
        (json!({"$where": "sleep(1000)"}), "/$where", "$where"),
        (json!({"$expr": {"$gt": ["$a", 1]}}), "/$expr", "$expr"),
        (json!({"$nor": [{"a": 1}]}), "/$nor", "$nor"),
        (json!({"a": {"$regex": "^x"}}), "/a/$regex", "$regex"),
        (
            json!({"a.b": {"$elemMatch": {}}}),
            "/a.b/$elemMatch",
            "$elemMatch",
        ),
        (
            json!({"$or": [{"a": {"$size": 1}}]}),
            "/$or/0/a/$size",
            "$size",
        ),
        (
            json!({"a": {"$not": {"$regex": "x"}}}),
            "/a/$not/$regex",
            "$regex",
        ),
        (json!({"a": {"$foo": 1}}), "/a/$foo", "$foo"),
        (json!({"a/b~": {"$where": 1}}), "/a~1b~0/$where", "$where"),
    ];
    for (f, path, operator) in table {
        let (actual_path, detail) = rejection(f.clone());
        assert_eq!(actual_path, path, "{f}");
        assert!(detail.contains(operator), "{f}: {detail}");
    }
}

#[test]
fn malformed_operands_and_paths_are_refused() {
    let table = [
        (json!([]), ""),
        (json!({"$and": []}), "/$and"),
        (json!({"$or": {"a": 1}}), "/$or"),
        (json!({"$and": [1]}), "/$and/0"),
        (json!({"a": {"$gt": [1]}}), "/a/$gt"),
        (json!({"a": {"$lt": {"x": 1}}}), "/a/$lt"),
        (json!({"a": {"$in": 1}}), "/a/$in"),
        (json!({"a": {"$exists": 1}}), "/a/$exists"),
        (json!({"a": {"$not": 1}}), "/a/$not"),
        (json!({"a": {"$not": {}}}), "/a/$not"),
        (json!({"a": {"$gt": 1, "b": 2}}), "/a/b"),
        (json!({"a..b": 1}), "/a..b"),
        (json!({"a.$b": 1}), "/a.$b"),
        (json!({"$id.x": 1}), "/$id.x"),
        (json!({"$created_at": 5}), "/$created_at"),
        (
            json!({"$created_at": {"$gt": "yesterday"}}),
            "/$created_at/$gt",
        ),
        (json!({"a": 9_007_199_254_740_993_u64}), "/a"),
    ];
    for (f, path) in table {
        assert_eq!(rejection(f.clone()).0, path, "{f}");
    }
}

#[test]
fn operands_beyond_two_to_the_fifty_third_are_refused_whatever_their_spelling() {
    // 2^64 reads as a double (it does not fit a u64): the rule data follows applies to it too.
    let two_to_the_64: Value =
        serde_json::from_str("18446744073709551616").unwrap_or_else(|e| panic!("{e}"));
    let table = [
        (json!({"a": two_to_the_64.clone()}), "/a"),
        (json!({"a": {"$gt": two_to_the_64.clone()}}), "/a/$gt"),
        (
            json!({"$version": {"$lte": two_to_the_64.clone()}}),
            "/$version/$lte",
        ),
        (
            json!({"a": {"$in": [1, 2, two_to_the_64.clone()]}}),
            "/a/$in/2",
        ),
        (json!({"a": {"$eq": {"b": [0, 1e300]}}}), "/a/$eq/b/1"),
        (json!({"a": -1e300}), "/a"),
    ];
    for (f, path) in table {
        let (actual, detail) = rejection(f.clone());
        assert_eq!(actual, path, "{f}");
        assert!(detail.contains("2^53"), "{f}: {detail}");
    }
    for fine in [
        json!({"a": 9_007_199_254_740_992_u64}),
        json!({"a": {"$gt": -9_007_199_254_740_992_i64}}),
        json!({"a": 1e2}),
        json!({"a": 1.5e300_f64.recip()}),
    ] {
        assert!(Filter::parse(&fine).is_ok(), "{fine} was refused");
    }
}

#[test]
fn limits_on_depth_clauses_and_in_lists_are_enforced() {
    let mut deep = json!({"a": 1});
    for _ in 0..15 {
        deep = json!({"$and": [deep]});
    }
    assert!(Filter::parse(&deep).is_ok(), "16 levels are fine");
    let (_, detail) = rejection(json!({"$and": [deep]}));
    assert!(detail.contains("16"), "{detail}");

    let clauses = |n: usize| {
        let items: Vec<Value> = (0..n).map(|i| json!({ format!("f{i}"): i })).collect();
        json!({ "$or": items })
    };
    assert!(
        Filter::parse(&clauses(256)).is_ok(),
        "an $or of 256 alternatives holds 256 clauses"
    );
    let (path, detail) = rejection(clauses(257));
    assert_eq!(path, "/$or/256/f256", "the 257th clause is named");
    assert!(detail.contains("256"), "{detail}");

    // Operators count one each, `$not` by what it holds, empty filters one each.
    let mixed = |n: usize| {
        let mut items = vec![json!({"a": {"$not": {"$gt": 0}, "$lt": 9}}), json!({})];
        items.extend((2..n - 1).map(|i| json!({ format!("f{i}"): i })));
        json!({"$and": [{"$or": items}]})
    };
    assert!(
        Filter::parse(&mixed(256)).is_ok(),
        "$and, $or, $not count nothing"
    );
    assert!(rejection(mixed(257)).1.contains("256"));
    let empties = |n: usize| json!({ "$or": vec![json!({}); n] });
    assert!(Filter::parse(&empties(256)).is_ok());
    assert!(rejection(empties(257)).1.contains("256"));

    let values = |n: usize| json!({"a": {"$in": (0..n).collect::<Vec<_>>()}});
    assert!(Filter::parse(&values(1000)).is_ok());
    let (path, detail) = rejection(values(1001));
    assert_eq!(path, "/a/$in");
    assert!(detail.contains("1000"), "{detail}");
}

#[test]
fn sorts_parse_with_directions_and_end_with_the_id() {
    let sort = Sort::parse("-$updated_at,a.b").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sort.to_string(), "-$updated_at,a.b,$id");
    assert_eq!(sort.fields().len(), 2);
    assert_eq!(Sort::parse("").ok(), Some(Sort::by_id()));
    assert_eq!(
        Sort::parse("x,-$id").map(|s| s.to_string()).ok().as_deref(),
        Some("x,-$id")
    );
    for bad in ["a,a", "$id,a", "a..b", "$nope", ",", "a,", "-"] {
        assert!(Sort::parse(bad).is_err(), "{bad} was accepted");
    }
}

#[test]
fn sort_keys_follow_the_cross_type_order_then_the_id() {
    let sort = Sort::parse("v").unwrap_or_else(|e| panic!("{e}"));
    let docs = [
        doc("a0", json!({})),
        doc("a1", json!({"v": null})),
        doc("a2", json!({"v": -1})),
        doc("a3", json!({"v": 2.5})),
        doc("a4", json!({"v": "A"})),
        doc("a5", json!({"v": "a"})),
        doc("a6", json!({"v": {"z": 1}})),
        doc("a7", json!({"v": {"a": 1}})),
        doc("a8", json!({"v": []})),
        doc("a9", json!({"v": false})),
        doc("b0", json!({"v": true})),
    ];
    for pair in docs.windows(2) {
        assert_eq!(
            sort.compare(&pair[0], &pair[1]),
            std::cmp::Ordering::Less,
            "{} before {}",
            pair[0].id(),
            pair[1].id()
        );
    }
    let descending = Sort::parse("-v").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        descending.compare(&docs[6], &docs[7]),
        std::cmp::Ordering::Less,
        "objects tie, so the id decides, ascending"
    );
}
