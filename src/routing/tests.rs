//! Table-driven tests for compiling and looking up routes.

mod app_fields;
mod rewrite;
mod scale;
mod validation;

use std::sync::Arc;
use std::time::Duration;

use super::host::{self, MAX_HOST_LEN};
use super::*;
use crate::catalog::{secret, AppSpec, ConnectorSpec, GroupSpec};

pub(super) fn group(name: &str) -> GroupSpec {
    GroupSpec::new(name, None)
}

pub(super) fn connector(id: &str, group: &str) -> ConnectorSpec {
    ConnectorSpec {
        tenant: None,
        revoked: false,
        id: id.to_string(),
        group: group.to_string(),
        secret_hash: secret::hash(id),
    }
}

pub(super) fn app(name: &str, host: &str, prefix: Option<&str>) -> AppSpec {
    AppSpec {
        tenant: None,
        name: name.to_string(),
        host: host.to_string(),
        path_prefix: prefix.map(str::to_string),
        internal_url: "http://10.0.0.1:8080".to_string(),
        groups: vec!["dc-east".to_string()],
        preserve_host: false,
        backend_timeout_secs: None,
        origin_tls_verify: true,
        min_live_connectors: None,
        affinity: None,
    }
}

/// A small valid catalog: two groups, three connectors, no apps.
pub(super) fn base_catalog() -> Catalog {
    Catalog {
        groups: vec![group("dc-east"), group("dc-west")],
        connectors: vec![
            connector("east-2", "dc-east"),
            connector("east-1", "dc-east"),
            connector("west-1", "dc-west"),
        ],
        apps: Vec::new(),
        ..Catalog::default()
    }
}

fn lookup_table() -> RoutingTable {
    let mut catalog = base_catalog();
    catalog.apps = vec![
        app("wiki", "wiki.example.com", None),
        app("wiki-api", "wiki.example.com", Some("/api/")),
        app("wiki-api-v2", "wiki.example.com", Some("/api/v2")),
        app("apps", "*.apps.example.com", None),
        app("deep", "*.b.apps.example.com", Some("/")),
        app("docs", "*.example.com", Some("/docs")),
        app("api-only", "api-only.example.com", Some("/api")),
        app("mixed", "Mixed.Example.COM.", None),
        app("ip", "10.0.0.1", None),
    ];
    match RoutingTable::compile(&catalog, 7) {
        Ok(table) => table,
        Err(errors) => panic!("catalog should compile: {errors:?}"),
    }
}

/// (what, host, path, expected app)
const LOOKUP_CASES: &[(&str, &str, &str, Option<&str>)] = &[
    ("exact", "wiki.example.com", "/", Some("wiki")),
    ("exact, empty path", "wiki.example.com", "", Some("wiki")),
    ("prefix exact", "wiki.example.com", "/api", Some("wiki-api")),
    (
        "prefix slash",
        "wiki.example.com",
        "/api/",
        Some("wiki-api"),
    ),
    (
        "prefix deeper",
        "wiki.example.com",
        "/api/x",
        Some("wiki-api"),
    ),
    (
        "prefix query",
        "wiki.example.com",
        "/api?x=1",
        Some("wiki-api"),
    ),
    (
        "segment boundary",
        "wiki.example.com",
        "/apix",
        Some("wiki"),
    ),
    (
        "longest prefix",
        "wiki.example.com",
        "/api/v2/x",
        Some("wiki-api-v2"),
    ),
    (
        "longest prefix boundary",
        "wiki.example.com",
        "/api/v20",
        Some("wiki-api"),
    ),
    (
        "query ignored",
        "wiki.example.com",
        "/?/api/v2",
        Some("wiki"),
    ),
    (
        "port stripped",
        "wiki.example.com:8443",
        "/api",
        Some("wiki-api"),
    ),
    (
        "case-insensitive",
        "WIKI.Example.Com:443",
        "/api/x",
        Some("wiki-api"),
    ),
    (
        "path is case-sensitive",
        "wiki.example.com",
        "/API",
        Some("wiki"),
    ),
    ("trailing dot", "wiki.example.com.", "/", Some("wiki")),
    ("configured case", "mixed.example.com", "/", Some("mixed")),
    ("wildcard", "a.apps.example.com", "/x", Some("apps")),
    ("wildcard, upper", "A.APPS.example.com", "/x", Some("apps")),
    (
        "nested wildcard wins",
        "a.b.apps.example.com",
        "/",
        Some("deep"),
    ),
    (
        "nested wildcard deeper",
        "x.a.b.apps.example.com",
        "/",
        Some("deep"),
    ),
    (
        "wildcard needs a label",
        "b.apps.example.com",
        "/",
        Some("apps"),
    ),
    ("wildcard not its apex", "apps.example.com", "/", None),
    (
        "shorter wildcard",
        "apps.example.com",
        "/docs/1",
        Some("docs"),
    ),
    (
        "exact beats wildcard",
        "wiki.example.com",
        "/docs",
        Some("wiki"),
    ),
    (
        "fallback to wildcard",
        "api-only.example.com",
        "/docs/x",
        Some("docs"),
    ),
    (
        "exact prefix first",
        "api-only.example.com",
        "/api/docs",
        Some("api-only"),
    ),
    ("no fallback match", "api-only.example.com", "/other", None),
    ("ip host with port", "10.0.0.1:8080", "/", Some("ip")),
    ("ipv6 literal", "[::1]:8443", "/", None),
    ("unknown host", "unknown.org", "/", None),
    ("unknown subdomain", "x.wiki.example.com", "/", None),
    ("empty host", "", "/", None),
    ("empty label", "a..apps.example.com", "/", None),
    ("leading dot", ".apps.example.com", "/", None),
    ("bad port", "wiki.example.com:x", "/", None),
    ("bad byte", "wi ki.example.com", "/", None),
];

#[test]
fn lookup_cases() {
    let table = lookup_table();
    let long_host = format!("{}.apps.example.com", "a".repeat(300));
    let long_upper = format!("{}.APPS.example.com", "A".repeat(70));
    let long: &[(&str, &str, &str, Option<&str>)] = &[
        ("too long", &long_host, "/", None),
        ("long, upper", &long_upper, "/", Some("apps")),
    ];
    for (what, host, path, want) in LOOKUP_CASES.iter().chain(long) {
        let got = table.lookup(host, path).map(|r| &*r.app);
        assert_eq!(got, *want, "{what}: lookup({host:?}, {path:?})");
    }
}

/// The host as `lookup` compares it: parsed, then lowercased.
fn normalize(raw: &str) -> Option<(String, usize, bool)> {
    let parsed = host::parse(raw)?;
    let mut buf = [0u8; MAX_HOST_LEN];
    let name = match parsed.upper {
        true => host::lowercase(parsed.name, &mut buf)?,
        false => parsed.name,
    };
    Some((name.to_string(), parsed.dots, parsed.literal))
}

#[test]
fn normalize_cases() {
    type Case<'a> = (&'a str, Option<(&'a str, usize, bool)>);
    let cases: &[Case] = &[
        ("example.com", Some(("example.com", 1, false))),
        ("Example.COM:80", Some(("example.com", 1, false))),
        ("example.com.:443", Some(("example.com", 1, false))),
        ("example.com:", Some(("example.com", 1, false))),
        ("[::1]:8443", Some(("[::1]", 0, true))),
        ("[::1]", Some(("[::1]", 0, true))),
        ("[FE80::1]", Some(("[fe80::1]", 0, true))),
        ("[::1", None),
        ("[::1]x", None),
        ("a:1:2", None),
        ("a.", Some(("a", 0, false))),
        (".", None),
        ("a..", None),
        ("a.:80", Some(("a", 0, false))),
        ("A..b", None),
        ("a b", None),
        ("", None),
        (":443", None),
        ("[]", None),
        ("[g::1]", None),
    ];
    for (raw, want) in cases {
        let want = want.map(|(name, dots, literal)| (name.to_string(), dots, literal));
        assert_eq!(normalize(raw), want, "normalize({raw:?})");
    }
    assert!(normalize(&"A".repeat(MAX_HOST_LEN)).is_some());
    assert!(normalize(&format!("{}.", "a".repeat(MAX_HOST_LEN))).is_some());
    assert!(normalize(&"a".repeat(MAX_HOST_LEN + 1)).is_none());
}

#[test]
fn compiled_fields() {
    let mut catalog = base_catalog();
    catalog.groups[1].balance = BalancePolicy::RoundRobin;
    let mut wiki = app("wiki", "Wiki.Example.com", Some("/w//"));
    wiki.internal_url = "HTTPS://Origin.local:8443/wiki/".to_string();
    wiki.groups = vec!["dc-west".to_string(), "dc-east".to_string()];
    wiki.preserve_host = true;
    wiki.backend_timeout_secs = Some(2.5);
    wiki.origin_tls_verify = false;
    let mut huge = app("huge", "huge.example.com", Some("///"));
    huge.backend_timeout_secs = Some(1e300);
    catalog.apps = vec![wiki, huge, app("plain", "*.example.com", None)];
    let table = match RoutingTable::compile(&catalog, 42) {
        Ok(t) => t,
        Err(e) => panic!("{e:?}"),
    };
    assert_eq!(table.version(), 42);
    assert_eq!(table.app_count(), 3);
    let names: Vec<&str> = table.apps().map(|r| &*r.app).collect();
    assert_eq!(names, ["wiki", "huge", "plain"]);

    let wiki = table.lookup("wiki.example.com", "/w/x").map(|r| &**r);
    let wiki = wiki.unwrap_or_else(|| panic!("wiki not found"));
    assert_eq!(wiki.host, "wiki.example.com");
    assert_eq!(wiki.path_prefix.as_deref(), Some("/w"));
    assert_eq!(wiki.internal.scheme, http::uri::Scheme::HTTPS);
    assert_eq!(wiki.internal.authority.as_str(), "Origin.local:8443");
    assert_eq!(wiki.internal.base_path.as_deref(), Some("/wiki"));
    let chain: Vec<&str> = wiki.groups.iter().map(|g| &**g).collect();
    assert_eq!(chain, ["dc-west", "dc-east"]);
    assert!(wiki.preserve_host);
    assert!(!wiki.origin_tls_verify);
    assert_eq!(wiki.backend_timeout, Duration::from_millis(2500));

    let huge = table.lookup("huge.example.com", "/").map(|r| &**r);
    let huge = huge.unwrap_or_else(|| panic!("huge not found"));
    assert_eq!(huge.path_prefix.as_deref(), Some("/"));
    assert_eq!(huge.backend_timeout, Duration::MAX);
    assert_eq!(huge.internal.base_path, None);

    let plain = table.lookup("x.example.com", "/").map(|r| &**r);
    let plain = plain.unwrap_or_else(|| panic!("plain not found"));
    assert_eq!(plain.host, "*.example.com");
    assert_eq!(plain.path_prefix, None);
    assert!(plain.origin_tls_verify);
    assert_eq!(
        plain.backend_timeout,
        Duration::from_secs_f64(crate::catalog::DEFAULT_BACKEND_TIMEOUT_SECS)
    );

    let east = table.group("dc-east").unwrap_or_else(|| panic!("no group"));
    assert_eq!(east.balance, BalancePolicy::P2c);
    let ids: Vec<&str> = east.connectors.iter().map(|c| &**c).collect();
    assert_eq!(ids, ["east-1", "east-2"]);
    let west = table.group("dc-west").unwrap_or_else(|| panic!("no group"));
    assert_eq!(west.balance, BalancePolicy::RoundRobin);
    assert!(table.group("dc-East").is_none());
    assert_eq!(table.groups().count(), 2);

    let c = table
        .connector("west-1")
        .unwrap_or_else(|| panic!("no connector"));
    assert_eq!(&*c.group, "dc-west");
    assert!(secret::verify("west-1", &c.secret_digest));
    assert!(table.connector("nope").is_none());
    let ids: Vec<&str> = table.connectors().map(|c| &*c.id).collect();
    assert_eq!(ids, ["east-2", "east-1", "west-1"]);
}

#[test]
fn empty_tables() {
    let table = RoutingTable::empty();
    assert_eq!(table.version(), 0);
    assert_eq!(table.app_count(), 0);
    assert!(table.lookup("a.example.com", "/").is_none());
    assert_eq!(table.groups().count(), 0);

    let table = RoutingTable::compile(&Catalog::default(), 3);
    assert_eq!(
        table.map(|t| (t.version(), t.app_count())).ok(),
        Some((3, 0))
    );
    let table = RoutingTable::compile(&base_catalog(), 4);
    assert_eq!(table.map(|t| t.groups().count()).ok(), Some(2));
}

#[test]
fn table_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<RoutingTable>();
    assert_send_sync::<Arc<Route>>();
}
