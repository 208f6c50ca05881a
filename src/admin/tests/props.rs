//! The JSON merge patch (RFC 7386) the admin API applies to `PATCH` bodies, against a
//! reference written from the RFC's own definition, and by the round trip every merge patch
//! must allow: the patch from `a` to `b` turns `a` into `b`.

use proptest::prelude::*;
use serde_json::{Map, Value};

use super::super::apps::merge;

/// Small keys so that targets and patches share keys often.
fn key() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["a", "b", "c", "host", "groups", ""]).prop_map(str::to_string)
}

/// Any JSON value, nested a few levels.
fn json(nulls: bool) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(Value::from),
        "[a-z]{0,3}".prop_map(Value::String),
        if nulls {
            Just(Value::Null).boxed()
        } else {
            Just(Value::from(0)).boxed()
        },
    ];
    leaf.prop_recursive(3, 24, 4, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// RFC 7386 §2, `MergePatch(Target, Patch)`, as a pure function.
fn reference(target: &Value, patch: &Value) -> Value {
    let Value::Object(patch) = patch else {
        return patch.clone();
    };
    let mut out = match target {
        Value::Object(t) => t.clone(),
        _ => Map::new(),
    };
    for (k, v) in patch {
        if v.is_null() {
            out.remove(k);
        } else {
            let merged = reference(out.get(k).unwrap_or(&Value::Null), v);
            out.insert(k.clone(), merged);
        }
    }
    Value::Object(out)
}

/// A merge patch that turns `a` into `b` (`b` holds no nulls, which a patch cannot write).
fn diff(a: &Value, b: &Value) -> Value {
    let (Value::Object(a), Value::Object(b)) = (a, b) else {
        return b.clone();
    };
    let mut patch = Map::new();
    for k in a.keys().filter(|k| !b.contains_key(*k)) {
        patch.insert(k.clone(), Value::Null);
    }
    for (k, bv) in b {
        match a.get(k) {
            Some(av) if av == bv => {}
            Some(av) => {
                patch.insert(k.clone(), diff(av, bv));
            }
            None => {
                patch.insert(k.clone(), diff(&Value::Null, bv));
            }
        }
    }
    Value::Object(patch)
}

/// `cases` per property, or `PROPTEST_CASES` when set; no regression files (a failing case
/// becomes a named regular test instead).
fn runner(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(cases)
    }
}

fn merged(target: &Value, patch: &Value) -> Value {
    let mut out = target.clone();
    merge(&mut out, patch);
    out
}

proptest! {
    #![proptest_config(runner(3000))]

    /// `merge` does what the RFC's definition does, for any target and patch.
    #[test]
    fn merge_matches_the_rfc(target in json(true), patch in json(true)) {
        prop_assert_eq!(merged(&target, &patch), reference(&target, &patch));
    }

    /// Applying the same patch twice changes nothing more.
    #[test]
    fn merge_is_idempotent(target in json(true), patch in json(true)) {
        let once = merged(&target, &patch);
        prop_assert_eq!(merged(&once, &patch), once);
    }

    /// The patch from `a` to `b` yields `b`.
    #[test]
    fn the_diff_patch_round_trips(a in json(true), b in json(false)) {
        let patch = diff(&a, &b);
        prop_assert_eq!(merged(&a, &patch), b);
    }
}
