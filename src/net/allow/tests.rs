//! Allow-list parsing and matching, table-driven.

use super::*;

fn list(entries: &[&str]) -> AllowList {
    let entries: Vec<String> = entries.iter().map(|e| e.to_string()).collect();
    match AllowList::parse(&entries) {
        Ok(list) => list,
        Err(errors) => panic!("{entries:?} should parse: {errors:?}"),
    }
}

fn errors(entries: &[&str]) -> Vec<String> {
    let entries: Vec<String> = entries.iter().map(|e| e.to_string()).collect();
    match AllowList::parse(&entries) {
        Ok(list) => panic!("{entries:?} should be refused, got {list:?}"),
        Err(errors) => errors,
    }
}

#[test]
fn every_documented_form_parses() {
    list(&[
        "10.0.0.0/8",
        "10.0.0.0/8:8080",
        "10.1.2.3",
        "10.1.2.3:80-90",
        "[::1]:8080",
        "::1",
        "fd00::/8",
        "[fd00::/8]:443",
        "[fd00::]/8:443",
        "wiki.internal",
        "wiki.internal:8080",
        "*.corp.internal",
        "*.corp.internal:443",
        "localhost",
        "0.0.0.0/0",
    ]);
}

#[test]
fn every_invalid_entry_is_reported_with_its_index() {
    let bad = [
        "10.0.0.0/8",         // 0: fine
        "",                   // 1
        "*",                  // 2
        "10.0.0.0/33",        // 3
        "10.1.2.3:0",         // 4
        "10.1.2.3:90-80",     // 5
        "10.1.2.3:http",      // 6
        "wiki..internal",     // 7
        "*:80",               // 8
        "a.*.internal",       // 9
        "[::1",               // 10
        "[10.0.0.1]:80",      // 11
        "10.0.0.300",         // 12
        "-bad.internal",      // 13
        "fe80::zz",           // 14
        "wiki.internal:",     // 15
        "[::1]x",             // 16
        "*.",                 // 17
        "host name.internal", // 18
    ];
    let errs = errors(&bad);
    assert_eq!(errs.len(), bad.len() - 1, "{errs:#?}");
    for (i, entry) in bad.iter().enumerate().skip(1) {
        let prefix = format!("allow[{i}]: {entry:?} ");
        assert!(
            errs.iter().any(|e| e.starts_with(&prefix)),
            "no error for {prefix}: {errs:#?}"
        );
    }
    assert!(errs.contains(&r#"allow[3]: "10.0.0.0/33" is not a valid CIDR"#.to_owned()));
}

#[test]
fn empty_list_is_refused() {
    let errs = errors(&[]);
    assert_eq!(errs.len(), 1);
    assert!(errs[0].starts_with("allow:"), "{errs:?}");
}

#[test]
fn ip_literals_follow_network_and_port_rules() {
    let l = list(&[
        "10.0.0.0/8",
        "192.168.1.7:80-90",
        "172.16.0.0/12:443",
        "fd00::/8",
        "[::1]:8080",
    ]);
    let cases: &[(&str, u16, Decision)] = &[
        ("10.200.3.4", 1, Decision::Allowed),
        ("10.200.3.4", 65535, Decision::Allowed),
        ("11.0.0.1", 80, Decision::Denied),
        ("192.168.1.7", 80, Decision::Allowed),
        ("192.168.1.7", 90, Decision::Allowed),
        ("192.168.1.7", 91, Decision::Denied),
        ("192.168.1.7", 79, Decision::Denied),
        ("192.168.1.8", 85, Decision::Denied),
        ("172.31.255.255", 443, Decision::Allowed),
        ("172.31.255.255", 80, Decision::Denied),
        ("fd12:3456::1", 443, Decision::Allowed),
        ("[fd12:3456::1]", 443, Decision::Allowed),
        ("fe80::1", 443, Decision::Denied),
        ("[::1]", 8080, Decision::Allowed),
        ("::1", 8081, Decision::Denied),
        // IPv4-mapped IPv6 is judged as the IPv4 address it carries.
        ("::ffff:10.1.1.1", 80, Decision::Allowed),
        ("::ffff:11.1.1.1", 80, Decision::Denied),
    ];
    for (host, port, want) in cases {
        assert_eq!(l.check(host, *port), *want, "{host}:{port}");
    }
}

#[test]
fn names_match_exactly_or_by_wildcard_suffix_ignoring_case() {
    let l = list(&["wiki.internal:8080", "*.corp.internal", "localhost"]);
    let cases: &[(&str, u16, Decision)] = &[
        ("wiki.internal", 8080, Decision::Allowed),
        ("WIKI.Internal", 8080, Decision::Allowed),
        ("wiki.internal.", 8080, Decision::Allowed),
        ("wiki.internal", 80, Decision::Denied),
        ("app.corp.internal", 1234, Decision::Allowed),
        ("a.b.CORP.internal", 443, Decision::Allowed),
        ("corp.internal", 443, Decision::Denied),
        ("evilcorp.internal", 443, Decision::Denied),
        ("localhost", 3000, Decision::Allowed),
        ("other.internal", 80, Decision::Denied),
        ("127.0.0.1", 3000, Decision::Denied),
    ];
    for (host, port, want) in cases {
        assert_eq!(l.check(host, *port), *want, "{host}:{port}");
    }
}

#[test]
fn unknown_names_resolve_when_a_network_admits_the_port() {
    let l = list(&["10.0.0.0/8:443", "wiki.internal:80"]);
    assert_eq!(l.check("db.internal", 443), Decision::Resolve);
    assert_eq!(l.check("db.internal", 80), Decision::Denied);
    // A name rule that does not admit the port falls through to the network rules.
    assert_eq!(l.check("wiki.internal", 443), Decision::Resolve);
    assert_eq!(l.check("wiki.internal", 80), Decision::Allowed);

    assert!(l.ip_allowed(ip("10.9.8.7"), 443));
    assert!(!l.ip_allowed(ip("10.9.8.7"), 80));
    assert!(!l.ip_allowed(ip("192.168.0.1"), 443));
}

#[test]
fn host_bits_of_a_network_are_ignored() {
    let l = list(&["10.1.2.3/16"]);
    assert_eq!(l.check("10.1.200.1", 80), Decision::Allowed);
    assert_eq!(l.check("10.2.0.1", 80), Decision::Denied);
}

fn ip(text: &str) -> IpAddr {
    text.parse().expect("test IP literal")
}
