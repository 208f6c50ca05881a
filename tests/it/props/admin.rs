//! The admin API's JSON bodies through a real gateway and HTTP client: any body on any
//! writing route gets a 2xx or a 4xx with a JSON reason (never a 5xx, never a non-JSON
//! answer), and a merge patch of an app is applied as RFC 7386 says or refused whole.

use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{TestCaseError, TestRunner};
use reqwest::Method;
use serde_json::{Map, Value};
use switchyard::catalog::AppSpec;

use crate::admin::{Answer, Api};
use crate::support::world::{AdminTokens, Spec, World};

/// Keys the API knows, plus a few it does not.
const KEYS: &[&str] = &[
    "name",
    "host",
    "path_prefix",
    "internal_url",
    "groups",
    "preserve_host",
    "backend_timeout_secs",
    "origin_tls_verify",
    "min_live_connectors",
    "affinity",
    "cookie",
    "header",
    "balance",
    "tenant",
    "group",
    "id",
    "colour",
];

fn body_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        select(
            &[
                "g",
                "x.example.test",
                "http://127.0.0.1:9",
                "/api",
                "p2c",
                "",
                "*.w"
            ][..]
        )
        .prop_map(Value::from),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 20, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map(select(KEYS).prop_map(str::to_string), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A body as bytes: JSON, JSON cut short, or any bytes.
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => body_json().prop_map(|v| v.to_string().into_bytes()),
        1 => (body_json(), any::<prop::sample::Index>()).prop_map(|(v, at)| {
            let mut b = v.to_string().into_bytes();
            b.truncate(at.index(b.len() + 1));
            b
        }),
        1 => prop::collection::vec(any::<u8>(), 0..32),
    ]
}

/// Writing routes; `base` and `g` exist in the catalog the gateway starts with.
const ROUTES: &[(&str, &str)] = &[
    ("POST", "/apps"),
    ("PUT", "/apps/base"),
    ("PATCH", "/apps/base"),
    ("POST", "/groups"),
    ("PATCH", "/groups/g"),
    ("POST", "/tenants"),
    ("POST", "/connectors"),
];

fn start() -> (tokio::runtime::Runtime, World, AdminTokens, Api) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let spec = Spec::default().group("g").group("h").app(
        "base",
        "base.example.test",
        "http://127.0.0.1:9",
        &["g"],
    );
    let (w, t) = rt.block_on(async { World::start_admin(spec) });
    let api = Api::of(&w);
    (rt, w, t, api)
}

fn reason_ok(a: &Answer) -> Result<(), TestCaseError> {
    let error = &a.body["error"];
    let code = error["code"].as_str().unwrap_or("");
    let message = error["message"].as_str().unwrap_or("");
    prop_assert!(
        !code.is_empty() && !message.is_empty(),
        "{} without a reason: {}",
        a.status,
        a.body
    );
    Ok(())
}

/// Any body on any writing route: 2xx, or 4xx with a code and a message.
#[test]
fn any_body_gets_an_answer_with_a_reason() {
    let (rt, _w, t, api) = start();
    let mut runner = TestRunner::new(crate::props::runner(1000));
    let refused = std::cell::Cell::new(0);
    let outcome = runner.run(&(select(ROUTES), body()), |((method, path), bytes)| {
        rt.block_on(async {
            let method = Method::from_bytes(method.as_bytes()).expect("method");
            let body = Some(("application/json", bytes.clone()));
            let a = api.raw(Some(&t.admin), method, path, body, None).await;
            prop_assert!(
                (200..300).contains(&a.status) || (400..500).contains(&a.status),
                "{} for {}",
                a.status,
                String::from_utf8_lossy(&bytes)
            );
            if a.status >= 400 {
                reason_ok(&a)?;
                refused.set(refused.get() + 1);
            }
            Ok(())
        })
    });
    if let Err(e) = outcome {
        panic!("{e}");
    }
    assert!(
        refused.get() > 0,
        "no body was refused: the bodies are not hostile enough"
    );
}

/// App patches built from valid and invalid field values.
fn app_patch() -> impl Strategy<Value = Value> {
    let field = |values: Vec<Value>| prop::option::of(select(values));
    (
        field(vec![
            "base.example.test".into(),
            "b2.example.test".into(),
            "*.w.example.test".into(),
            "bad host".into(),
            Value::Null,
        ]),
        field(vec!["/api".into(), "/".into(), "api".into(), Value::Null]),
        field(vec![true.into(), false.into(), "yes".into(), Value::Null]),
        field(vec![1.5.into(), 30.into(), (-1).into(), Value::Null]),
        field(vec![
            serde_json::json!(["g"]),
            serde_json::json!(["h", "g"]),
            serde_json::json!(["nope"]),
            serde_json::json!([]),
            Value::Null,
        ]),
        field(vec![1.into(), 2.into(), 0.into(), Value::Null]),
        field(vec![
            serde_json::json!({"cookie": "sid"}),
            serde_json::json!({"header": "x-user"}),
            serde_json::json!({"cookie": "a", "header": "b"}),
            Value::Null,
        ]),
    )
        .prop_map(
            |(host, prefix, preserve, timeout, groups, min_live, affinity)| {
                let mut m = Map::new();
                let pairs = [
                    ("host", host),
                    ("path_prefix", prefix),
                    ("preserve_host", preserve),
                    ("backend_timeout_secs", timeout),
                    ("groups", groups),
                    ("min_live_connectors", min_live),
                    ("affinity", affinity),
                ];
                for (k, v) in pairs {
                    if let Some(v) = v {
                        m.insert(k.to_string(), v);
                    }
                }
                Value::Object(m)
            },
        )
}

/// RFC 7386, written from its definition.
fn merge_patch(target: &Value, patch: &Value) -> Value {
    let Value::Object(p) = patch else {
        return patch.clone();
    };
    let mut out = target.as_object().cloned().unwrap_or_default();
    for (k, v) in p {
        if v.is_null() {
            out.remove(k);
        } else {
            let merged = merge_patch(out.get(k).unwrap_or(&Value::Null), v);
            out.insert(k.clone(), merged);
        }
    }
    Value::Object(out)
}

/// A patch is applied as the reference merge says, or refused with a reason and nothing
/// changed.
#[test]
fn app_patches_apply_like_the_reference_or_change_nothing() {
    let (rt, _w, t, api) = start();
    let mut runner = TestRunner::new(crate::props::runner(500));
    let (applied, refused) = (std::cell::Cell::new(0), std::cell::Cell::new(0));
    let outcome = runner.run(&app_patch(), |patch| {
        rt.block_on(async {
            let get = || api.call(&t.admin, Method::GET, "/apps/base", None);
            let mut before = get().await;
            prop_assert_eq!(before.status, 200);
            let mut a = api
                .call(&t.admin, Method::PATCH, "/apps/base", Some(patch.clone()))
                .await;
            let mut after = get().await;
            // Reads add the qualified name to the app's catalog form.
            for x in [&mut before, &mut a, &mut after] {
                if let Some(m) = x.body.as_object_mut() {
                    if let Some(q) = m.remove("qualified") {
                        prop_assert_eq!(Some(&q), m.get("name"));
                    }
                }
            }
            if a.status == 200 {
                let merged = merge_patch(&before.body, &patch);
                let want: AppSpec = serde_json::from_value(merged).map_err(|e| {
                    TestCaseError::fail(format!("accepted a patch serde refuses: {e}"))
                })?;
                let want =
                    serde_json::to_value(&want).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(&after.body, &want, "patch {}", patch);
                prop_assert_eq!(&a.body, &want);
                applied.set(applied.get() + 1);
            } else {
                prop_assert!((400..500).contains(&a.status), "{} for {}", a.status, patch);
                reason_ok(&a)?;
                prop_assert_eq!(
                    &after.body,
                    &before.body,
                    "refused patch {} changed the app",
                    patch
                );
                refused.set(refused.get() + 1);
            }
            Ok(())
        })
    });
    if let Err(e) = outcome {
        panic!("{e}");
    }
    let (applied, refused) = (applied.get(), refused.get());
    assert!(
        applied > 0 && refused > 0,
        "{applied} applied, {refused} refused: both kinds must occur"
    );
}
