//! Every validation rule, and that all errors are reported together.

use super::{app, base_catalog, connector, group};
use crate::catalog::Catalog;
use crate::routing::{CatalogError, RoutingTable};

/// The base catalog plus one valid app (`apps[0]`).
pub(super) fn catalog() -> Catalog {
    let mut c = base_catalog();
    c.apps.push(app("ok", "ok.example.com", None));
    c
}

fn errors_of(c: &Catalog) -> Vec<CatalogError> {
    match RoutingTable::compile(c, 1) {
        Ok(_) => Vec::new(),
        Err(errors) => errors,
    }
}

/// (what, edit, error path, message contains)
pub(super) type Case = (&'static str, fn(&mut Catalog), &'static str, &'static str);

/// Names, duplicates, group chains and timeouts that must be refused.
const NAMES_CHAINS_AND_TIMEOUTS: &[Case] = &[
    (
        "group empty",
        |c| c.groups.push(group("")),
        "groups[2].name",
        "must not be empty",
    ),
    (
        "group charset",
        |c| c.groups.push(group("dc east")),
        "groups[2].name",
        "may only contain",
    ),
    (
        "connector empty",
        |c| c.connectors.push(connector("", "dc-east")),
        "connectors[3].id",
        "must not be empty",
    ),
    (
        "connector charset",
        |c| c.connectors.push(connector("a/b", "dc-east")),
        "connectors[3].id",
        "may only contain",
    ),
    (
        "connector group",
        |c| c.connectors.push(connector("x", "dc-est")),
        "connectors[3].group",
        "unknown group \"dc-est\"",
    ),
    (
        "secret prefix",
        |c| c.connectors[1].secret_hash = "abc".into(),
        "connectors[1].secret_hash",
        "must start with",
    ),
    (
        "secret hex",
        |c| c.connectors[1].secret_hash = "sha256:zz".into(),
        "connectors[1].secret_hash",
        "hexadecimal",
    ),
    (
        "secret length",
        |c| c.connectors[1].secret_hash = "sha256:abcd".into(),
        "connectors[1].secret_hash",
        "64 hex digits",
    ),
    (
        "app name",
        |c| c.apps.push(app(" ", "a.example.com", None)),
        "apps[1].name",
        "must not be empty",
    ),
    (
        "groups empty",
        |c| c.apps[0].groups.clear(),
        "apps[0].groups",
        "at least one",
    ),
    (
        "groups unknown",
        |c| c.apps[0].groups = vec!["dc-est".into()],
        "apps[0].groups[0]",
        "unknown group \"dc-est\"",
    ),
    (
        "groups dup",
        |c| c.apps[0].groups = vec!["dc-east".into(), "dc-east".into()],
        "apps[0].groups[1]",
        "group \"dc-east\" is already in the chain at groups[0]",
    ),
    (
        "timeout zero",
        |c| c.apps[0].backend_timeout_secs = Some(0.0),
        "apps[0].backend_timeout_secs",
        "greater than 0",
    ),
    (
        "timeout negative",
        |c| c.apps[0].backend_timeout_secs = Some(-1.0),
        "apps[0].backend_timeout_secs",
        "greater than 0",
    ),
    (
        "timeout nan",
        |c| c.apps[0].backend_timeout_secs = Some(f64::NAN),
        "apps[0].backend_timeout_secs",
        "finite",
    ),
    (
        "timeout inf",
        |c| c.apps[0].backend_timeout_secs = Some(f64::INFINITY),
        "apps[0].backend_timeout_secs",
        "finite",
    ),
    (
        "group dup",
        |c| c.groups.push(group("dc-east")),
        "groups[2].name",
        "duplicate group \"dc-east\" (first defined at groups[0])",
    ),
    (
        "connector dup",
        |c| c.connectors.push(connector("east-1", "dc-west")),
        "connectors[3].id",
        "duplicate connector \"east-1\" (first defined at connectors[1])",
    ),
];

#[test]
fn names_chains_and_timeouts() {
    check(NAMES_CHAINS_AND_TIMEOUTS);
}

/// Applies each edit to a fresh valid catalog and expects exactly the one error described.
pub(super) fn check(cases: &[Case]) {
    assert!(
        errors_of(&catalog()).is_empty(),
        "the base catalog must be valid"
    );
    for (what, edit, path, message) in cases {
        let mut c = catalog();
        edit(&mut c);
        let errors = errors_of(&c);
        assert_eq!(
            errors.len(),
            1,
            "{what}: exactly one error expected, got {errors:?}"
        );
        assert_eq!(errors[0].path, *path, "{what}: {errors:?}");
        assert!(
            errors[0].message.contains(message),
            "{what}: {:?}",
            errors[0].message
        );
        assert_eq!(
            errors[0].to_string(),
            format!("{}: {}", errors[0].path, errors[0].message)
        );
    }
}

#[test]
fn accepted_edge_cases() {
    let mut c = catalog();
    c.groups.push(group("DC_North.2"));
    c.connectors.push(connector("North.1_a", "DC_North.2"));
    c.apps.push(app("wild", "*.ok.example.com", None));
    c.apps.push(app("apex-api", "ok.example.com", Some("/api")));
    c.apps.push(app("ip", "192.168.1.10", None));
    c.apps.push(app("dot", "dot.example.com.", None));
    c.apps.push(app("tld-wild", "*.com", None));
    let mut slow = app("slow", "slow.example.com", None);
    slow.backend_timeout_secs = Some(1e9);
    slow.internal_url = "HTTPS://[fd00::1]:8443/base".into();
    slow.groups = vec!["DC_North.2".into(), "dc-west".into(), "dc-east".into()];
    c.apps.push(slow);
    assert_eq!(errors_of(&c), Vec::new());
}

#[test]
fn all_errors_reported_together() {
    let mut c = catalog();
    c.groups.push(group("dc-east"));
    c.groups.push(group("bad name"));
    c.connectors.push(connector("east-1", "dc-est"));
    c.connectors[0].secret_hash = "nope".into();
    c.apps.push(app("", "*", Some("x")));
    let mut bad = app("ok", "ok.example.com", None);
    bad.internal_url = "ftp://x".into();
    bad.groups = vec!["dc-west".into(), "dc-est".into(), "dc-west".into()];
    bad.backend_timeout_secs = Some(0.0);
    c.apps.push(bad);
    let errors = errors_of(&c);
    let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "groups[2].name",
            "groups[3].name",
            "connectors[0].secret_hash",
            "connectors[3].id",
            "connectors[3].group",
            "apps[1].name",
            "apps[1].host",
            "apps[1].path_prefix",
            "apps[2].name",
            "apps[2].host",
            "apps[2].internal_url",
            "apps[2].groups[1]",
            "apps[2].groups[2]",
            "apps[2].backend_timeout_secs",
        ],
        "{errors:#?}"
    );
    let unknown = errors.iter().find(|e| e.path == "apps[2].groups[1]");
    assert_eq!(
        unknown.map(ToString::to_string).as_deref(),
        Some("apps[2].groups[1]: unknown group \"dc-est\"")
    );
}
