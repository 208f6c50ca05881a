//! `Route::map_path` and `Route::rewrite_location`.

use std::sync::Arc;

use super::{app, base_catalog};
use crate::routing::{Route, RoutingTable};

fn route(prefix: Option<&str>, internal: &str) -> Arc<Route> {
    let mut catalog = base_catalog();
    let mut spec = app("r", "ext.example.com", prefix);
    spec.internal_url = internal.to_string();
    catalog.apps.push(spec);
    let table = RoutingTable::compile(&catalog, 1).unwrap_or_else(|e| panic!("{e:?}"));
    let route = table.apps().next().cloned();
    route.unwrap_or_else(|| panic!("no route"))
}

#[test]
fn map_path_cases() {
    let cases: &[(Option<&str>, &str, &str, &str)] = &[
        // (prefix, internal URL, external path-and-query, internal path-and-query)
        (Some("/w"), "http://o/wiki", "/w/x?q", "/wiki/x?q"),
        (Some("/w"), "http://o/wiki", "/w", "/wiki"),
        (Some("/w"), "http://o/wiki/", "/w/", "/wiki/"),
        (Some("/w"), "http://o/wiki", "/w?q=1", "/wiki?q=1"),
        (Some("/w/"), "http://o/wiki", "/w/a/b", "/wiki/a/b"),
        (Some("/a/b"), "http://o/c", "/a/b/d", "/c/d"),
        (None, "http://o/wiki", "/x?q", "/wiki/x?q"),
        (None, "http://o/wiki", "/", "/wiki/"),
        (None, "http://o/wiki", "", "/wiki"),
        (None, "http://o/wiki", "?q", "/wiki?q"),
        (None, "http://o/wiki", "*", "*"),
        (Some("/"), "http://o/wiki", "/x", "/wiki/x"),
        (Some("/w"), "http://o", "/w/x?q", "/w/x?q"),
        (Some("/w"), "http://o/", "/w/x", "/w/x"),
        (None, "http://o:8080", "/x?y", "/x?y"),
    ];
    for (prefix, internal, input, want) in cases {
        let got = route(*prefix, internal).map_path(input);
        assert_eq!(
            &got, want,
            "prefix {prefix:?}, internal {internal:?}, path {input:?}"
        );
    }
}

/// (prefix, internal URL, Location, rewritten)
const LOCATION_CASES: &[(Option<&str>, &str, &str, Option<&str>)] = &[
    (
        None,
        "http://10.0.0.1:8080",
        "http://10.0.0.1:8080/login?next=/x",
        Some("https://wiki.example.com/login?next=/x"),
    ),
    (
        None,
        "http://origin.local",
        "http://origin.local:80/a",
        Some("https://wiki.example.com/a"),
    ),
    (
        None,
        "http://origin.local:80",
        "http://ORIGIN.local/a",
        Some("https://wiki.example.com/a"),
    ),
    (
        None,
        "http://origin.local",
        "HTTP://origin.local/a",
        Some("https://wiki.example.com/a"),
    ),
    (
        None,
        "http://origin.local",
        "http://origin.local:/a",
        Some("https://wiki.example.com/a"),
    ),
    (
        None,
        "https://origin.local",
        "https://origin.local:443/a",
        Some("https://wiki.example.com/a"),
    ),
    (
        None,
        "https://origin.local:443",
        "https://origin.local/a",
        Some("https://wiki.example.com/a"),
    ),
    (
        None,
        "http://origin.local",
        "http://origin.local",
        Some("https://wiki.example.com/"),
    ),
    (
        None,
        "http://origin.local",
        "http://origin.local?x",
        Some("https://wiki.example.com/?x"),
    ),
    (
        None,
        "http://origin.local",
        "http://origin.local#top",
        Some("https://wiki.example.com/#top"),
    ),
    (
        None,
        "http://[::1]:8080",
        "http://[::1]:8080/a",
        Some("https://wiki.example.com/a"),
    ),
    (
        None,
        "http://[::1]",
        "http://[::1]:80/a",
        Some("https://wiki.example.com/a"),
    ),
    (
        Some("/w"),
        "http://o/wiki",
        "http://o/wiki/x?q#f",
        Some("https://wiki.example.com/w/x?q#f"),
    ),
    (
        Some("/w"),
        "http://o/wiki",
        "http://o/wiki",
        Some("https://wiki.example.com/w"),
    ),
    (
        Some("/w"),
        "http://o/wiki",
        "http://o/wiki?q",
        Some("https://wiki.example.com/w?q"),
    ),
    (
        Some("/w"),
        "http://o",
        "http://o/x",
        Some("https://wiki.example.com/x"),
    ),
    (
        None,
        "http://o/wiki",
        "http://o/wiki/",
        Some("https://wiki.example.com/"),
    ),
    (
        None,
        "http://o/wiki",
        "http://o/wiki",
        Some("https://wiki.example.com/"),
    ),
    (
        Some("/"),
        "http://o/wiki",
        "http://o/wiki/a",
        Some("https://wiki.example.com/a"),
    ),
    // Not the internal URL: left alone.
    (Some("/w"), "http://o/wiki", "http://o/wikix", None),
    (Some("/w"), "http://o/wiki", "http://o/other", None),
    (
        None,
        "https://origin.local",
        "https://origin.local:80/a",
        None,
    ),
    (None, "https://origin.local", "http://origin.local/a", None),
    (None, "http://origin.local", "https://origin.local/a", None),
    (
        None,
        "http://origin.local:8080",
        "http://origin.local/a",
        None,
    ),
    (
        None,
        "http://origin.local",
        "http://origin.local:8080/a",
        None,
    ),
    (None, "http://origin.local", "http://origin.local:x/a", None),
    (None, "http://origin.local", "http://other.local/a", None),
    (
        None,
        "http://origin.local",
        "http://origin.local.evil/a",
        None,
    ),
    (
        None,
        "http://origin.local",
        "http://user@origin.local/a",
        None,
    ),
    (None, "http://origin.local", "/relative", None),
    (None, "http://origin.local", "relative/x", None),
    (None, "http://origin.local", "//origin.local/a", None),
    (
        None,
        "http://origin.local",
        "/next?to=http://origin.local/a",
        None,
    ),
    (None, "http://[::1]", "http://[::1/a", None),
];

#[test]
fn rewrite_location_cases() {
    let ext = "wiki.example.com";
    let cases = LOCATION_CASES;
    for (prefix, internal, location, want) in cases {
        let got = route(*prefix, internal).rewrite_location(location, ext);
        assert_eq!(
            got.as_deref(),
            *want,
            "prefix {prefix:?}, internal {internal:?}, {location:?}"
        );
    }
}

#[test]
fn external_authority_is_kept() {
    let r = route(None, "http://o");
    let got = r.rewrite_location("http://o/a", "wiki.example.com:8443");
    assert_eq!(got.as_deref(), Some("https://wiki.example.com:8443/a"));
}

/// What map_path sends to the origin comes back as the external path.
#[test]
fn rewrite_location_inverts_map_path() {
    let routes = [
        route(Some("/w"), "http://o:8080/wiki"),
        route(None, "http://o:8080/wiki"),
        route(Some("/w"), "http://o:8080"),
        route(Some("/a/b"), "https://o/c/d/"),
    ];
    let paths = ["/w", "/w/", "/w/x/y?q=1", "/a/b", "/a/b/z", "/x", "/"];
    for r in &routes {
        for path in paths {
            let internal = format!(
                "{}://{}{}",
                r.internal.scheme,
                r.internal.authority,
                r.map_path(path)
            );
            let back = r.rewrite_location(&internal, "ext");
            let prefix = r.path_prefix.as_deref().unwrap_or("/");
            if crate::routing::index::prefix_matches(path, prefix) || prefix == "/" {
                assert_eq!(
                    back,
                    Some(format!("https://ext{path}")),
                    "{path:?} via {internal:?}"
                );
            }
        }
    }
}
