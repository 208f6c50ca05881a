//! Routing compile and lookup against a naive reference: over generated catalogs (exact
//! hosts, `*.` wildcards, path prefixes, mixed case, trailing dots) every lookup returns the
//! app a linear scan with the documented precedence picks, and no host or path panics.

use proptest::prelude::*;
use proptest::sample::select;
use switchyard::catalog::{secret, AppSpec, Catalog, ConnectorSpec, GroupSpec};
use switchyard::routing::RoutingTable;

/// Few labels and segments, so that generated hosts and paths collide with the catalog often.
const LONG_LABEL: &str = "l23456789012345678901234567890123456789012345678901234567890123";
const LABELS: &[&str] = &["a", "b", "wiki", "x-1", LONG_LABEL];
const SEGMENTS: &[&str] = &["api", "v1", "a", "API", "x.y", ""];

/// One generated app, as the operator writes it.
#[derive(Debug, Clone)]
struct AppModel {
    labels: Vec<&'static str>,
    wild: bool,
    /// `None`: no `path_prefix`; `Some(segments)`: `/` + segments joined by `/`.
    prefix: Option<Vec<&'static str>>,
    trailing_slash: bool,
    upper: bool,
    fqdn: bool,
}

impl AppModel {
    fn host(&self) -> String {
        let star = if self.wild { "*." } else { "" };
        let dot = if self.fqdn { "." } else { "" };
        let host = format!("{star}{}{dot}", self.labels.join("."));
        if self.upper {
            host.to_ascii_uppercase()
        } else {
            host
        }
    }

    fn prefix(&self) -> Option<String> {
        let segments = self.prefix.as_ref()?;
        let slash = if self.trailing_slash { "/" } else { "" };
        Some(format!("/{}{slash}", segments.join("/")))
    }

    /// The (host, prefix) pair the documentation says the app is published under; `None` as
    /// prefix for a catch-all.
    fn key(&self) -> (String, Option<String>) {
        let star = if self.wild { "*." } else { "" };
        let host = format!("{star}{}", self.labels.join(".")).to_ascii_lowercase();
        let prefix = self
            .prefix()
            .map(|p| p.trim_end_matches('/').to_string())
            .filter(|p| !p.is_empty());
        (host, prefix)
    }
}

fn app_model() -> impl Strategy<Value = AppModel> {
    (
        prop::collection::vec(select(LABELS), 1..=3),
        any::<bool>(),
        prop::option::of(prop::collection::vec(select(SEGMENTS), 0..=3)),
        any::<[bool; 3]>(),
    )
        .prop_map(
            |(labels, wild, prefix, [trailing_slash, upper, fqdn])| AppModel {
                labels,
                wild,
                prefix,
                trailing_slash,
                upper,
                fqdn,
            },
        )
}

/// Apps with distinct published keys (a valid catalog), named `app0`, `app1`, …
fn catalog_models() -> impl Strategy<Value = Vec<AppModel>> {
    prop::collection::vec(app_model(), 0..12).prop_map(|mut apps| {
        let mut seen = std::collections::HashSet::new();
        apps.retain(|a| seen.insert(a.key()));
        apps
    })
}

fn catalog(apps: &[AppModel]) -> Catalog {
    let apps = apps
        .iter()
        .enumerate()
        .map(|(i, m)| AppSpec {
            path_prefix: m.prefix(),
            ..AppSpec::new(
                &format!("app{i}"),
                &m.host(),
                "http://10.0.0.1:8080",
                &["g"],
            )
        })
        .collect();
    Catalog {
        groups: vec![GroupSpec::new("g", None)],
        connectors: vec![ConnectorSpec {
            id: "c1".into(),
            group: "g".into(),
            secret_hash: secret::hash("c1"),
            tenant: None,
            revoked: false,
        }],
        apps,
        ..Catalog::default()
    }
}

/// The request host as the documentation describes it: lowercase, no port, one trailing dot
/// dropped, at most 255 bytes of `[A-Za-z0-9._-]` in non-empty labels. IP literals never
/// match a configured host, so they give `None` here too.
fn reference_host(raw: &str) -> Option<String> {
    let (name, port) = raw.split_once(':').unwrap_or((raw, ""));
    if raw.contains(':') && !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let name = name.strip_suffix('.').unwrap_or(name);
    let ok = !name.is_empty()
        && name.len() <= 255
        && name.split('.').all(|l| !l.is_empty())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    ok.then(|| name.to_ascii_lowercase())
}

/// Linear scan: exact host, then each wildcard from the longest suffix to the shortest; the
/// first host with a matching app answers, its longest segment-boundary prefix winning.
fn reference_lookup(apps: &[AppModel], host: &str, path: &str) -> Option<String> {
    let path = path.split('?').next().unwrap_or("");
    let host = reference_host(host)?;
    let labels: Vec<&str> = host.split('.').collect();
    let candidates = std::iter::once(host.clone())
        .chain((1..labels.len()).map(|i| format!("*.{}", labels[i..].join("."))));
    for candidate in candidates {
        let best = apps
            .iter()
            .enumerate()
            .filter_map(|(i, a)| {
                let (h, prefix) = a.key();
                if h != candidate {
                    return None;
                }
                match prefix {
                    None => Some((0, i)),
                    Some(p) if path == p || path.starts_with(&format!("{p}/")) => {
                        Some((p.len() + 1, i))
                    }
                    Some(_) => None,
                }
            })
            .max();
        if let Some((_, i)) = best {
            return Some(format!("app{i}"));
        }
    }
    None
}

/// A request host made of the catalog's labels, in any case, with a port or a trailing dot.
fn request_host() -> impl Strategy<Value = String> {
    let built = (
        prop::collection::vec(select(LABELS), 1..=5),
        any::<u64>(),
        prop::option::of(prop_oneof![Just(String::new()), "[0-9]{1,5}", "[a-z]{1,2}"]),
        any::<bool>(),
    )
        .prop_map(|(labels, case_bits, port, fqdn)| {
            let mut host: String = labels
                .join(".")
                .chars()
                .enumerate()
                .map(|(i, c)| {
                    if case_bits >> (i % 64) & 1 == 1 {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    }
                })
                .collect();
            if fqdn {
                host.push('.');
            }
            if let Some(port) = port {
                host = format!("{host}:{port}");
            }
            host
        });
    prop_oneof![8 => built, 1 => "[a-zA-Z0-9.:_\\[\\]-]{0,12}", 1 => any::<String>()]
}

/// A request path made of the catalog's segments, with an optional query, or anything.
fn request_path() -> impl Strategy<Value = String> {
    let built = (
        prop::collection::vec(select(SEGMENTS), 0..=4),
        any::<bool>(),
        prop::option::of("[a-z/=]{0,6}"),
    )
        .prop_map(|(segments, slash, query)| {
            let mut path = format!("/{}", segments.join("/"));
            if slash {
                path.push('/');
            }
            if let Some(q) = query {
                path = format!("{path}?{q}");
            }
            path
        });
    prop_oneof![8 => built, 1 => "[a-zA-Z/?.]{0,10}", 1 => any::<String>()]
}

/// A configured host by the documented rule: no port, one trailing dot dropped, an optional
/// leading `*.` label, then at most 253 bytes of 1–63 byte labels of letters, digits and `-`;
/// stored in lowercase.
fn reference_config_host(raw: &str) -> Option<String> {
    if raw.contains(':') {
        return None;
    }
    let trimmed = raw.strip_suffix('.').unwrap_or(raw);
    let rest = trimmed.strip_prefix("*.").unwrap_or(trimmed);
    let ok = !raw.is_empty()
        && trimmed.len() <= 253
        && rest.split('.').all(|l| {
            (1..=63).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    ok.then(|| trimmed.to_ascii_lowercase())
}

/// A configured path prefix: starts with `/`, ASCII without `?`, `#`, whitespace or
/// controls; trailing slashes dropped (`/` alone stays).
fn reference_prefix(raw: &str) -> Option<String> {
    let ok = raw.starts_with('/')
        && raw
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'?' && b != b'#');
    let trimmed = raw.trim_end_matches('/');
    ok.then(|| {
        if trimmed.is_empty() {
            "/".to_string()
        } else {
            trimmed.to_string()
        }
    })
}

fn host_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "(\\*\\.)?[a-zA-Z0-9_-]{0,5}(\\.[a-zA-Z0-9*_-]{0,5}){0,3}\\.?",
        1 => "[a-zA-Z0-9*.: _\\[\\]-]{0,12}",
        1 => (1usize..5, 60usize..66).prop_map(|(n, len)| vec!["a".repeat(len); n].join(".")),
        1 => any::<String>(),
    ]
}

fn prefix_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "/[a-zA-Z0-9/._~%-]{0,10}",
        1 => "[ -~]{0,10}",
        1 => any::<String>(),
    ]
}

proptest! {
    #![proptest_config(crate::props::runner(2000))]

    /// Any host and path prefix text: compiling never panics, and a field is accepted (and
    /// stored in the form the rules give) exactly when the documented rule accepts it; a
    /// refused field is reported at its own path.
    #[test]
    fn configured_hosts_and_prefixes_follow_the_rules(host in host_text(), prefix in prefix_text()) {
        let app = AppSpec {
            path_prefix: Some(prefix.clone()),
            ..AppSpec::new("app0", &host, "http://10.0.0.1:8080", &["g"])
        };
        let mut cat = catalog(&[]);
        cat.apps.push(app);
        let (want_host, want_prefix) = (reference_config_host(&host), reference_prefix(&prefix));
        match RoutingTable::compile(&cat, 1) {
            Ok(table) => {
                let route = table.apps().next().ok_or_else(|| TestCaseError::fail("no route"))?;
                prop_assert_eq!(Some(route.host.clone()), want_host);
                prop_assert_eq!(route.path_prefix.clone(), want_prefix);
            }
            Err(errors) => {
                let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
                let mut want = Vec::new();
                if want_host.is_none() { want.push("apps[0].host"); }
                if want_prefix.is_none() { want.push("apps[0].path_prefix"); }
                prop_assert_eq!(paths, want, "{:?}", errors);
            }
        }
    }

    /// Every generated catalog compiles, and every lookup agrees with the reference.
    #[test]
    fn lookup_matches_the_reference(
        apps in catalog_models(),
        requests in prop::collection::vec((request_host(), request_path()), 1..16),
    ) {
        let table = RoutingTable::compile(&catalog(&apps), 1);
        let table = match table {
            Ok(t) => t,
            Err(e) => return Err(TestCaseError::fail(format!("valid catalog refused: {e:?}"))),
        };
        prop_assert_eq!(table.app_count(), apps.len());
        for (host, path) in &requests {
            let got = table.lookup(host, path).map(|r| r.app.to_string());
            let want = reference_lookup(&apps, host, path);
            prop_assert_eq!(got, want, "host {:?} path {:?}", host, path);
        }
    }

    /// Any host and path bytes: no panic, and a host the documentation rules out matches
    /// nothing even against a catalog full of wildcards and catch-alls.
    #[test]
    fn lookup_never_panics_on_any_input(host in any::<String>(), path in any::<String>()) {
        let apps: Vec<AppModel> = ["a", "b", "wiki"]
            .iter()
            .flat_map(|l| {
                [false, true].map(|wild| AppModel {
                    labels: vec![l],
                    wild,
                    prefix: None,
                    trailing_slash: false,
                    upper: false,
                    fqdn: false,
                })
            })
            .collect();
        let table = RoutingTable::compile(&catalog(&apps), 1).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        let got = table.lookup(&host, &path).map(|r| r.app.to_string());
        prop_assert_eq!(got, reference_lookup(&apps, &host, &path));
    }
}
