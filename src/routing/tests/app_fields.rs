//! Validation of the apps' hosts, path prefixes and internal URLs.

use super::app;
use super::validation::{check, Case};
use crate::catalog::Catalog;

fn internal(c: &mut Catalog, url: &str) {
    c.apps[0].internal_url = url.to_string();
}

/// Hosts, path prefixes and internal URLs that must be refused.
const HOSTS_PREFIXES_AND_URLS: &[Case] = &[
    (
        "app dup",
        |c| c.apps.push(app("ok", "a.example.com", None)),
        "apps[1].name",
        "duplicate app \"ok\" (first defined at apps[0])",
    ),
    (
        "host empty",
        |c| c.apps.push(app("a", "", None)),
        "apps[1].host",
        "must not be empty",
    ),
    (
        "host star",
        |c| c.apps.push(app("a", "*", None)),
        "apps[1].host",
        "not only \"*\"",
    ),
    (
        "host star dot",
        |c| c.apps.push(app("a", "*.", None)),
        "apps[1].host",
        "not only \"*\"",
    ),
    (
        "host inner star",
        |c| c.apps.push(app("a", "a.*.com", None)),
        "apps[1].host",
        "whole first label",
    ),
    (
        "host star label",
        |c| c.apps.push(app("a", "*a.com", None)),
        "apps[1].host",
        "whole first label",
    ),
    (
        "host port",
        |c| c.apps.push(app("a", "a.com:443", None)),
        "apps[1].host",
        "port",
    ),
    (
        "host ipv6",
        |c| c.apps.push(app("a", "[::1]", None)),
        "apps[1].host",
        "port",
    ),
    (
        "host empty label",
        |c| c.apps.push(app("a", "a..com", None)),
        "apps[1].host",
        "empty label",
    ),
    (
        "host leading dot",
        |c| c.apps.push(app("a", ".a.com", None)),
        "apps[1].host",
        "empty label",
    ),
    (
        "host charset",
        |c| c.apps.push(app("a", "a_b.com", None)),
        "apps[1].host",
        "may only contain",
    ),
    (
        "host long label",
        |c| {
            c.apps
                .push(app("a", &format!("{}.com", "x".repeat(64)), None))
        },
        "apps[1].host",
        "longer than 63",
    ),
    (
        "host too long",
        |c| c.apps.push(app("a", &"abc.".repeat(70), None)),
        "apps[1].host",
        "longer than 253",
    ),
    (
        "prefix slash",
        |c| c.apps.push(app("a", "a.com", Some("api"))),
        "apps[1].path_prefix",
        "must start with '/'",
    ),
    (
        "prefix empty",
        |c| c.apps.push(app("a", "a.com", Some(""))),
        "apps[1].path_prefix",
        "must start with '/'",
    ),
    (
        "prefix query",
        |c| c.apps.push(app("a", "a.com", Some("/a?b"))),
        "apps[1].path_prefix",
        "'?' or '#'",
    ),
    (
        "prefix fragment",
        |c| c.apps.push(app("a", "a.com", Some("/a#b"))),
        "apps[1].path_prefix",
        "'?' or '#'",
    ),
    (
        "prefix space",
        |c| c.apps.push(app("a", "a.com", Some("/a b"))),
        "apps[1].path_prefix",
        "whitespace",
    ),
    (
        "prefix tab",
        |c| c.apps.push(app("a", "a.com", Some("/a\t"))),
        "apps[1].path_prefix",
        "whitespace",
    ),
    (
        "prefix ascii",
        |c| c.apps.push(app("a", "a.com", Some("/café"))),
        "apps[1].path_prefix",
        "ASCII",
    ),
    (
        "dup host",
        |c| c.apps.push(app("a", "OK.example.com.", Some("/"))),
        "apps[1].host",
        "host \"ok.example.com\" with path prefix \"/\" is already published by app \"ok\" (apps[0])",
    ),
    (
        "dup prefix",
        |c| {
            c.apps.push(app("a", "ok.example.com", Some("/api")));
            c.apps.push(app("b", "Ok.Example.com", Some("/api//")));
        },
        "apps[2].path_prefix",
        "path prefix \"/api\" is already published by app \"a\" (apps[1])",
    ),
    (
        "dup wildcard",
        |c| {
            c.apps.push(app("a", "*.example.com", None));
            c.apps.push(app("b", "*.EXAMPLE.com", None));
        },
        "apps[2].host",
        "host \"*.example.com\"",
    ),
    (
        "url relative",
        |c| internal(c, "/path"),
        "apps[0].internal_url",
        "absolute URL",
    ),
    (
        "url no scheme",
        |c| internal(c, "10.0.0.1:8080"),
        "apps[0].internal_url",
        "absolute URL",
    ),
    (
        "url scheme",
        |c| internal(c, "ftp://files.local"),
        "apps[0].internal_url",
        "use http or https",
    ),
    (
        "url userinfo",
        |c| internal(c, "http://u:p@o.local"),
        "apps[0].internal_url",
        "user info",
    ),
    (
        "url query",
        |c| internal(c, "http://o.local/?a=1"),
        "apps[0].internal_url",
        "query",
    ),
    (
        "url fragment",
        |c| internal(c, "http://o.local/#f"),
        "apps[0].internal_url",
        "fragment",
    ),
    (
        "url space",
        |c| internal(c, "http://o.local/a b"),
        "apps[0].internal_url",
        "whitespace",
    ),
    (
        "url no host",
        |c| internal(c, "http:///x"),
        "apps[0].internal_url",
        "",
    ),
    (
        "url port 0",
        |c| internal(c, "http://o.local:0"),
        "apps[0].internal_url",
        "invalid port",
    ),
    (
        "url empty port",
        |c| internal(c, "http://o.local:/x"),
        "apps[0].internal_url",
        "invalid port",
    ),
    (
        "url port range",
        |c| internal(c, "http://o.local:70000"),
        "apps[0].internal_url",
        "",
    ),
    (
        "url garbage",
        |c| internal(c, "http://o.local/\u{7f}"),
        "apps[0].internal_url",
        "",
    ),
];

#[test]
fn hosts_prefixes_and_urls() {
    check(HOSTS_PREFIXES_AND_URLS);
}
