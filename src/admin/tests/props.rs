//! The JSON merge patch (RFC 7386) the admin API applies to `PATCH` bodies, against a
//! reference written from the RFC's own definition, and by the round trip every merge patch
//! must allow: the patch from `a` to `b` turns `a` into `b`. Also the request's small
//! parsers: `%XX` decoding of path segments and queries, and `If-Match` versions.

use proptest::prelude::*;
use serde_json::{Map, Value};

use super::super::apps::merge;
use super::super::request::{parse_if_match, percent_decode};
use super::super::routes::{find, Found, ROUTES};

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

use crate::net::testing::prop_config as runner;

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

    /// Percent-encoding any text and decoding it gives the text back.
    #[test]
    fn percent_decoding_inverts_encoding(text in any::<String>(), upper in any::<bool>()) {
        let encoded: String = text
            .bytes()
            .map(|b| if b.is_ascii_alphanumeric() { char::from(b).to_string() } else if upper { format!("%{b:02X}") } else { format!("%{b:02x}") })
            .collect();
        prop_assert_eq!(percent_decode(&encoded), Some(text));
    }

    /// Any text decodes as the strict reference does: `%` and exactly two hex digits, the
    /// result UTF-8, or nothing.
    #[test]
    fn percent_decoding_matches_the_reference(text in prop_oneof!["[a-f0-9%+ -]{0,8}", any::<String>()]) {
        prop_assert_eq!(percent_decode(&text), reference_decode(&text));
    }

    /// `If-Match`: `*`, or a version as digits, optionally quoted, optionally weak.
    #[test]
    fn if_match_matches_the_reference(raw in prop_oneof!["(W/)?\"?[0-9+ -]{0,4}\"?", "[ *W/\"0-9a-z+-]{0,6}", any::<String>()]) {
        let got = parse_if_match(&raw).ok();
        prop_assert_eq!(got, reference_if_match(&raw), "{:?}", raw);
    }

    /// Every route's pattern with its `{…}` segments filled by any percent-encoded text is
    /// found as that route with those values; any method and path is looked up without panic.
    #[test]
    fn route_patterns_find_their_route(
        at in any::<prop::sample::Index>(),
        values in prop::collection::vec("[^/]{1,8}", 3),
        method in "[A-Z]{0,7}",
        path in prop_oneof!["/api/v1/[a-z{}%/-]{0,20}", any::<String>()],
    ) {
        let _ = find(&method, &path);
        let route = &ROUTES[at.index(ROUTES.len())];
        let mut given = values.iter();
        let mut want = Vec::new();
        let concrete: Vec<String> = route
            .path
            .split('/')
            .map(|seg| {
                if !(seg.starts_with('{') && seg.ends_with('}')) {
                    return seg.to_string();
                }
                let v = given.next().cloned().unwrap_or_else(|| "x".into());
                want.push(v.clone());
                v.bytes().map(|b| if b.is_ascii_alphanumeric() { char::from(b).to_string() } else { format!("%{b:02X}") }).collect()
            })
            .collect();
        let concrete = concrete.join("/");
        match find(route.method, &concrete) {
            Found::Route(r, params) => {
                prop_assert_eq!((r.method, r.path), (route.method, route.path), "{}", concrete);
                prop_assert_eq!(params, want);
            }
            _ => prop_assert!(false, "{} {} not found", route.method, concrete),
        }
    }
}

fn reference_decode(text: &str) -> Option<String> {
    let mut out = Vec::new();
    let mut rest = text.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'%' {
            let [h, l, tail @ ..] = tail else { return None };
            let hex = |c: u8| char::from(c).to_digit(16);
            out.push(u8::try_from(hex(*h)? * 16 + hex(*l)?).ok()?);
            rest = tail;
        } else {
            out.push(b);
            rest = tail;
        }
    }
    String::from_utf8(out).ok()
}

fn reference_if_match(raw: &str) -> Option<Option<u64>> {
    let v = raw.trim();
    if v == "*" {
        return Some(None);
    }
    let v = v.strip_prefix("W/").unwrap_or(v);
    let v = match v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) => inner,
        None => v,
    };
    let digits = !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit());
    digits.then(|| v.parse().ok().map(Some)).flatten()
}

/// Found by `percent_decoding_matches_the_reference`: `u8::from_str_radix` takes a sign, so
/// `%+1` decoded to byte 1 instead of being refused.
#[test]
fn a_sign_is_not_a_hex_digit() {
    assert_eq!(percent_decode("%+1"), None);
    assert_eq!(percent_decode("a%+fb"), None);
}

/// Found by `if_match_matches_the_reference`: `"+12"` was taken as version 12.
#[test]
fn a_signed_version_is_not_a_version() {
    assert!(parse_if_match("\"+12\"").is_err());
    assert!(parse_if_match("+3").is_err());
}
