//! The OpenAPI document against the route table, both ways, and its structure.

mod props;

use std::collections::BTreeSet;

use serde_json::Value;

use super::openapi::document;
use super::reply::ApiError;
use super::routes::{BodyRule, OPENAPI_PATH, ROUTES};

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn documented() -> BTreeSet<(String, String)> {
    let doc = document();
    let paths = doc["paths"].as_object().expect("paths object");
    let mut out = BTreeSet::new();
    for (path, item) in paths {
        for (method, _) in item.as_object().expect("path item object") {
            if METHODS.contains(&method.as_str()) {
                out.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    out
}

#[test]
fn every_route_is_documented_and_every_operation_is_routed() {
    let routed: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .chain([("GET".to_string(), OPENAPI_PATH.to_string())])
        .collect();
    assert!(routed.len() > 20, "the table has the API's routes");
    let documented = documented();
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from the document: {undocumented:?}"
    );
    assert!(
        unrouted.is_empty(),
        "documented operations with no route: {unrouted:?}"
    );
}

#[test]
fn request_bodies_match_the_body_rules() {
    let doc = document();
    for r in ROUTES {
        let op = &doc["paths"][r.path][r.method.to_lowercase()];
        let has_body = op.get("requestBody").is_some();
        match r.body {
            BodyRule::Required => assert!(has_body, "{} {} documents its body", r.method, r.path),
            BodyRule::None => assert!(!has_body, "{} {} takes no body", r.method, r.path),
            BodyRule::Optional => {}
        }
    }
}

/// Every `$ref` in `v`.
fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("$ref", Value::String(s)) => out.push(s.clone()),
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[test]
fn the_document_names_its_version_and_title() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.0.3");
    assert!(doc["info"]["title"].is_string());
    assert!(doc["info"]["version"].is_string());
}

/// Every `(path, method, operation)` of the document, each path under `/api/v1/` and each
/// method an HTTP method.
fn operations(doc: &Value) -> Vec<(&str, &str, &Value)> {
    let paths = doc["paths"].as_object().expect("paths");
    assert!(!paths.is_empty());
    let mut out = Vec::new();
    for (path, item) in paths {
        assert!(path.starts_with("/api/v1/"), "{path}");
        for (method, op) in item.as_object().expect("item") {
            assert!(METHODS.contains(&method.as_str()), "{method} {path}");
            out.push((path.as_str(), method.as_str(), op));
        }
    }
    out
}

#[test]
fn every_operation_has_a_success_answer_and_a_unique_id() {
    let doc = document();
    let mut ids = BTreeSet::new();
    for (path, method, op) in operations(&doc) {
        let responses = op["responses"].as_object().expect("responses");
        assert!(!responses.is_empty(), "{method} {path} has responses");
        assert!(
            responses.keys().any(|c| c.starts_with('2')),
            "{method} {path} has a success answer"
        );
        let id = op["operationId"].as_str().expect("operationId");
        assert!(ids.insert(id.to_string()), "operationId {id} is unique");
    }
}

#[test]
fn every_path_parameter_is_declared() {
    let doc = document();
    for (path, method, op) in operations(&doc) {
        let declared: Vec<String> = op["parameters"]
            .as_array()
            .expect("parameters")
            .iter()
            .filter_map(|p| p["$ref"].as_str())
            .filter_map(|r| r.rsplit('/').next())
            .filter_map(|name| doc["components"]["parameters"][name]["name"].as_str())
            .map(str::to_string)
            .collect();
        for seg in path.split('/').filter(|s| s.starts_with('{')) {
            let name = seg.trim_matches(|c| c == '{' || c == '}');
            assert!(
                declared.iter().any(|d| d == name),
                "{method} {path} declares {name}"
            );
        }
    }
}

#[test]
fn every_reference_resolves() {
    let doc = document();
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let pointer = r.strip_prefix('#').expect("local reference");
        assert!(doc.pointer(pointer).is_some(), "{r} resolves");
    }
}

#[test]
fn the_document_round_trips_through_text() {
    let doc = document();
    let text = serde_json::to_string(&doc).expect("serialize");
    let back: Value = serde_json::from_str(&text).expect("parse");
    assert_eq!(back, doc);
}

#[test]
fn every_error_code_is_documented() {
    let doc = document();
    let codes: Vec<&str> = doc["components"]["schemas"]["Error"]["properties"]["error"]
        ["properties"]["code"]["enum"]
        .as_array()
        .expect("enum")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let samples = [
        ApiError::Unauthorized,
        ApiError::Forbidden(String::new()),
        ApiError::NotFound(String::new()),
        ApiError::MethodNotAllowed {
            method: "PUT".into(),
            allowed: vec!["GET"],
        },
        ApiError::conflict("name", ""),
        ApiError::QuotaExceeded {
            message: String::new(),
            kind: "apps",
        },
        ApiError::PreconditionFailed { current: 1 },
        ApiError::PayloadTooLarge { limit: 1 },
        ApiError::UnsupportedMediaType,
        ApiError::invalid("x", ""),
        ApiError::ReadOnly,
        ApiError::Internal(String::new()),
        ApiError::StoreUnavailable(String::new()),
    ];
    for e in samples {
        let code = e.status_code().1;
        assert!(codes.contains(&code), "{code} documented");
    }
}

#[test]
fn catalog_errors_name_the_first_path_and_list_all() {
    use crate::routing::CatalogError;
    let e = ApiError::from_catalog(vec![
        CatalogError {
            path: "apps[2].host".into(),
            message: "bad".into(),
        },
        CatalogError {
            path: "apps[2].internal_url".into(),
            message: "worse".into(),
        },
    ]);
    let resp = e.into_response();
    assert_eq!(resp.status(), 400);
}

#[test]
fn tenant_callers_see_catalog_errors_in_their_own_numbering() {
    use super::reindex::Owners;
    use crate::catalog::{AppSpec, Catalog, TenantSpec};
    use crate::routing::CatalogError;
    let app = |name: &str, tenant: Option<&str>| AppSpec {
        tenant: tenant.map(str::to_owned),
        ..AppSpec::new(name, "a.example.com", "http://10.0.0.1", &["g"])
    };
    let c = Catalog {
        tenants: vec![TenantSpec::named("acme"), TenantSpec::named("globex")],
        apps: vec![
            app("secret", None),
            app("hidden", Some("globex")),
            app("mine", Some("acme")),
            app("mine", Some("acme")),
        ],
        ..Catalog::default()
    };
    let e = ApiError::from_catalog(vec![
        CatalogError::new("apps[0].host", "about \"secret\""),
        CatalogError::new(
            "apps[3].name",
            "duplicate app \"mine\" (first defined at apps[2])",
        ),
        CatalogError::new("apps[1].host", "about \"hidden\""),
    ])
    .redacted(&Owners::of(&c), "acme");
    match e {
        ApiError::Invalid {
            message,
            details,
            field,
        } => {
            assert_eq!(
                message,
                "apps[1].name: duplicate app \"mine\" (first defined at apps[0])"
            );
            assert_eq!(details.len(), 1, "{details:?}");
            assert_eq!(field.as_deref(), Some("apps[1].name"));
        }
        other => panic!("{other:?}"),
    }
}
