//! Many apps: one host with many prefixes, 100k hosts, and a timing probe.

use std::time::{Duration, Instant};

use super::{app, base_catalog};
use crate::catalog::Catalog;
use crate::routing::RoutingTable;

/// A host with many prefixes goes through the prefix map rather than a scan.
#[test]
fn many_prefixes_on_one_host() {
    let mut catalog = base_catalog();
    catalog.apps = (0..50)
        .map(|i| {
            app(
                &format!("p{i}"),
                "many.example.com",
                Some(&format!("/p{i}")),
            )
        })
        .collect();
    catalog
        .apps
        .push(app("nested", "many.example.com", Some("/p1/deep/er")));
    catalog.apps.push(app("root", "many.example.com", None));
    let table = RoutingTable::compile(&catalog, 1).unwrap_or_else(|e| panic!("{e:?}"));
    let cases = [
        ("/p1", "p1"),
        ("/p1/", "p1"),
        ("/p1?q", "p1"),
        ("/p1/deep", "p1"),
        ("/p1/deep/er/x", "nested"),
        ("/p1/deep/erx", "p1"),
        ("/p10/x", "p10"),
        ("/p100", "root"),
        ("/", "root"),
        ("", "root"),
        ("//p1", "root"),
    ];
    for (path, want) in cases {
        let got = table.lookup("many.example.com", path).map(|r| &*r.app);
        assert_eq!(got, Some(want), "path {path:?}");
    }
}

fn big_catalog(n: usize) -> Catalog {
    let mut catalog = base_catalog();
    catalog.apps = (0..n)
        .map(|i| match i % 4 {
            0 => app(&format!("a{i}"), &format!("*.t{i}.example.com"), None),
            1 => app(
                &format!("a{i}"),
                &format!("app{i}.example.com"),
                Some("/api"),
            ),
            _ => app(&format!("a{i}"), &format!("app{i}.example.com"), None),
        })
        .collect();
    catalog
}

#[test]
fn hundred_thousand_apps() {
    let table = RoutingTable::compile(&big_catalog(100_000), 9).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(table.app_count(), 100_000);
    let get = |h: &str, p: &str| table.lookup(h, p).map(|r| r.app.to_string());
    assert_eq!(get("app99999.example.com", "/x").as_deref(), Some("a99999"));
    assert_eq!(
        get("APP50001.example.com:443", "/api/x").as_deref(),
        Some("a50001")
    );
    assert_eq!(get("app50001.example.com", "/x"), None);
    assert_eq!(
        get("x.y.t40000.example.com", "/").as_deref(),
        Some("a40000")
    );
    assert_eq!(get("app100000.example.com", "/"), None);
}

/// Prints the best per-lookup time of several rounds (the minimum filters out noise from
/// other processes). Run with
/// `cargo test --release --lib routing::tests::scale::lookup_speed -- --ignored --nocapture`.
#[test]
#[ignore = "timing; meaningful only in release builds"]
fn lookup_speed() {
    let table = RoutingTable::compile(&big_catalog(100_000), 1).unwrap_or_else(|e| panic!("{e:?}"));
    let cases = [
        ("app77778.example.com", "/some/path?q=1", true),
        ("App77778.Example.com:443", "/some/path", true),
        ("app77777.example.com", "/api/x", true),
        ("app77777.example.com", "/other", false),
        ("deep.x.t40000.example.com", "/", true),
        ("nothing.example.org", "/", false),
    ];
    for (host, path, hit) in cases {
        let rounds = 100_000u32;
        let mut best = Duration::MAX;
        for _ in 0..30 {
            let start = Instant::now();
            for _ in 0..rounds {
                let table = std::hint::black_box(&table);
                let found = table.lookup(std::hint::black_box(host), std::hint::black_box(path));
                assert_eq!(found.is_some(), hit);
            }
            best = best.min(start.elapsed() / rounds);
        }
        println!("lookup({host:?}, {path:?}): {best:?}");
    }
}
