//! The gateway's TOML file through staging (`GatewayConfig::from_toml`, `stage()` with real
//! certificates, then `RoutingTable::compile` of the staged catalog): any or mutated text
//! never panics, a generated valid file is accepted as written, and each injected error
//! class is reported with its path, every one of them, and nothing else. The fast
//! properties skip the certificate loading (`stage` below), which reads files per case.

use std::collections::BTreeSet;
use std::path::PathBuf;

use proptest::prelude::*;
use proptest::sample::{select, Index};
use proptest::test_runner::{TestCaseError, TestRunner};
use switchyard::config::connector::ConnectorConfig;
use switchyard::config::gateway::{ConfigError, GatewayConfig};
use switchyard::routing::RoutingTable;

use crate::support::world::Pki;
use crate::support::TempDir;

const SECRET_HASH: &str = "sha256:2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b";

/// Parse, check and compile, without loading certificates; `Ok` holds the number of
/// compiled apps.
fn stage(text: &str) -> Result<usize, Vec<String>> {
    let cfg =
        GatewayConfig::from_toml(text, "props.toml", PathBuf::from(".")).map_err(|e| match e {
            ConfigError::Invalid { errors, .. } => errors,
            other => vec![format!("parse: {other}")],
        })?;
    RoutingTable::compile(&cfg.catalog(), 1)
        .map(|t| t.app_count())
        .map_err(|errors| errors.into_iter().map(|e| e.to_string()).collect())
}

/// The whole start-up pipeline: parse and check, `stage()` (certificates loaded from
/// `pki`), then compile the staged catalog; `Ok` holds the number of compiled apps.
fn stage_fully(text: &str, pki: &Pki) -> Result<usize, Vec<String>> {
    let text = text
        .replace("edge.crt", &pki.edge.cert.display().to_string())
        .replace("edge.key", &pki.edge.key.display().to_string());
    let cfg =
        GatewayConfig::from_toml(&text, "props.toml", PathBuf::from(".")).map_err(|e| match e {
            ConfigError::Invalid { errors, .. } => errors,
            other => vec![format!("parse: {other}")],
        })?;
    let config = cfg.stage()?;
    RoutingTable::compile(&config.catalog, 1)
        .map(|t| t.app_count())
        .map_err(|errors| errors.into_iter().map(|e| e.to_string()).collect())
}

/// Runs `check` over `strategy` with real certificate files, removed afterwards.
fn with_certs<S: Strategy>(
    cases: u32,
    strategy: S,
    check: impl Fn(S::Value, &Pki) -> Result<(), TestCaseError>,
) {
    let dir = TempDir::new("props-config");
    let pki = Pki::new(dir.path());
    let mut runner = TestRunner::new(crate::props::runner(cases));
    if let Err(e) = runner.run(&strategy, |v| check(v, &pki)) {
        panic!("{e}");
    }
}

#[derive(Debug, Clone)]
struct App {
    host: String,
    prefix: Option<String>,
    url: String,
    groups: Vec<String>,
    min_live: Option<u32>,
}

#[derive(Debug, Clone)]
struct Model {
    https: String,
    ping_interval_ms: u64,
    max_attempts: u32,
    max_header_bytes: usize,
    extra_limits: Option<String>,
    groups: Vec<String>,
    connectors: Vec<(String, String)>,
    apps: Vec<App>,
    preserve_host: String,
}

impl Model {
    fn render(&self) -> String {
        let mut t = format!(
            "[listen]\nhttps = \"{}\"\ntunnel = \"127.0.0.1:0\"\nmetrics = \"127.0.0.1:0\"\n\n\
             [[certificates]]\ncert = \"edge.crt\"\nkey = \"edge.key\"\n\n\
             [tunnel]\nping_interval_ms = {}\n\n[resilience]\nmax_attempts = {}\n\n\
             [limits]\nmax_header_bytes = {}\n{}\n",
            self.https,
            self.ping_interval_ms,
            self.max_attempts,
            self.max_header_bytes,
            self.extra_limits.as_deref().unwrap_or(""),
        );
        for g in &self.groups {
            t += &format!("[[groups]]\nname = \"{g}\"\n\n");
        }
        for (id, group) in &self.connectors {
            t += &format!("[[connectors]]\nid = \"{id}\"\ngroup = \"{group}\"\nsecret_hash = \"{SECRET_HASH}\"\n\n");
        }
        for (i, a) in self.apps.iter().enumerate() {
            let groups: Vec<String> = a.groups.iter().map(|g| format!("\"{g}\"")).collect();
            t += &format!(
                "[[apps]]\nname = \"app{i}\"\nhost = \"{}\"\ninternal_url = \"{}\"\ngroups = [{}]\npreserve_host = {}\n",
                a.host,
                a.url,
                groups.join(", "),
                self.preserve_host,
            );
            if let Some(p) = &a.prefix {
                t += &format!("path_prefix = \"{p}\"\n");
            }
            if let Some(n) = a.min_live {
                t += &format!("min_live_connectors = {n}\n");
            }
            t += "\n";
        }
        t
    }
}

fn valid_model() -> impl Strategy<Value = Model> {
    let app = (
        select(&["a", "wiki", "*.apps", "x-1.b"][..]),
        prop::option::of(select(&["/", "/api", "/api/v1/", "/x"][..])),
        select(
            &[
                "http://10.0.0.1:8080",
                "https://app.internal",
                "http://[::1]:81/base/",
            ][..],
        ),
        prop::collection::vec(0usize..3, 1..3),
        prop::option::of(1u32..4),
    );
    (
        1usize..4,
        prop::collection::vec(0usize..3, 0..4),
        prop::collection::vec(app, 0..6),
        any::<bool>(),
    )
        .prop_map(|(n_groups, connectors, apps, preserve)| {
            let groups: Vec<String> = (0..n_groups).map(|g| format!("g{g}")).collect();
            let connectors = connectors
                .iter()
                .enumerate()
                .map(|(i, g)| (format!("c{i}"), groups[g % n_groups].clone()))
                .collect();
            let apps = apps
                .into_iter()
                .enumerate()
                .map(|(i, (host, prefix, url, chain, min_live))| {
                    let mut chain: Vec<String> =
                        chain.iter().map(|g| groups[g % n_groups].clone()).collect();
                    chain.dedup();
                    App {
                        // The index keeps (host, prefix) pairs unique.
                        host: format!("{host}.n{i}.example.test"),
                        prefix: prefix.map(str::to_string),
                        url: url.to_string(),
                        groups: chain,
                        min_live,
                    }
                })
                .collect();
            Model {
                https: "127.0.0.1:0".into(),
                ping_interval_ms: 1000,
                max_attempts: 3,
                max_header_bytes: 65536,
                extra_limits: None,
                groups,
                connectors,
                apps,
                preserve_host: preserve.to_string(),
            }
        })
}

/// Errors the file stage reports (checked before the catalog).
#[derive(Debug, Clone, Copy)]
enum FileError {
    Https,
    PingInterval,
    Attempts,
    HeaderBytes,
}

/// Errors the catalog stage reports, each at an index into the apps or connectors.
#[derive(Debug, Clone, Copy)]
enum CatalogError {
    Host(Index),
    Prefix(Index),
    Group(Index),
    Url(Index),
    MinLive(Index),
    ConnectorGroup(Index),
    DuplicateGroup,
}

/// Injects `e`; returns the path its error must name.
fn inject_file(m: &mut Model, e: FileError) -> String {
    match e {
        FileError::Https => {
            m.https = "nowhere".into();
            "listen.https".into()
        }
        FileError::PingInterval => {
            m.ping_interval_ms = 0;
            "tunnel.ping_interval_ms".into()
        }
        FileError::Attempts => {
            m.max_attempts = 11;
            "resilience.max_attempts".into()
        }
        FileError::HeaderBytes => {
            m.max_header_bytes = 100;
            "limits.max_header_bytes".into()
        }
    }
}

/// Injects `e`; returns the path its error must name, or `None` if the model has no slot.
fn inject_catalog(m: &mut Model, e: CatalogError) -> Option<String> {
    let apps = m.apps.len();
    let app = |at: Index| (apps > 0).then(|| at.index(apps));
    Some(match e {
        CatalogError::Host(at) => {
            let i = app(at)?;
            m.apps[i].host = "bad host!".into();
            format!("apps[{i}].host")
        }
        CatalogError::Prefix(at) => {
            let i = app(at)?;
            m.apps[i].prefix = Some("no-slash".into());
            format!("apps[{i}].path_prefix")
        }
        CatalogError::Group(at) => {
            let i = app(at)?;
            m.apps[i].groups[0] = "missing".into();
            format!("apps[{i}].groups[0]")
        }
        CatalogError::Url(at) => {
            let i = app(at)?;
            m.apps[i].url = "ftp://10.0.0.1".into();
            format!("apps[{i}].internal_url")
        }
        CatalogError::MinLive(at) => {
            let i = app(at)?;
            m.apps[i].min_live = Some(0);
            format!("apps[{i}].min_live_connectors")
        }
        CatalogError::ConnectorGroup(at) => {
            let n = m.connectors.len();
            let i = (n > 0).then(|| at.index(n))?;
            m.connectors[i].1 = "missing".into();
            format!("connectors[{i}].group")
        }
        CatalogError::DuplicateGroup => {
            let first = m.groups[0].clone();
            m.groups.push(first);
            format!("groups[{}].name", m.groups.len() - 1)
        }
    })
}

fn file_error() -> impl Strategy<Value = FileError> {
    select(vec![
        FileError::Https,
        FileError::PingInterval,
        FileError::Attempts,
        FileError::HeaderBytes,
    ])
}

fn catalog_error() -> impl Strategy<Value = CatalogError> {
    prop_oneof![
        any::<Index>().prop_map(CatalogError::Host),
        any::<Index>().prop_map(CatalogError::Prefix),
        any::<Index>().prop_map(CatalogError::Group),
        any::<Index>().prop_map(CatalogError::Url),
        any::<Index>().prop_map(CatalogError::MinLive),
        any::<Index>().prop_map(CatalogError::ConnectorGroup),
        Just(CatalogError::DuplicateGroup),
    ]
}

/// The paths of `errors` (`path: message` lines), as a set.
fn paths(errors: &[String]) -> BTreeSet<String> {
    errors
        .iter()
        .map(|e| e.split(": ").next().unwrap_or("").to_string())
        .collect()
}

/// The shipped example files, as seeds for mutation.
const GATEWAY_EXAMPLE: &str = include_str!("../../../conf/gateway.toml");
const CONNECTOR_EXAMPLE: &str = include_str!("../../../conf/connector.toml");

/// A valid file's text (generated, or a shipped example) with a few characters overwritten,
/// inserted or cut.
fn mutated_text() -> impl Strategy<Value = String> {
    let seed = prop_oneof![
        3 => valid_model().prop_map(|m| m.render()),
        1 => Just(GATEWAY_EXAMPLE.to_string()),
        1 => Just(CONNECTOR_EXAMPLE.to_string()),
    ];
    const MARKS: [char; 14] = [
        '"', '[', ']', '=', '\n', '0', 'a', '.', '#', '\\', 'é', ':', '/', '*',
    ];
    (
        seed,
        prop::collection::vec((any::<Index>(), select(&MARKS[..]), 0u8..3), 1..5),
    )
        .prop_map(|(text, edits)| {
            let mut chars: Vec<char> = text.chars().collect();
            for (at, c, op) in edits {
                let i = at.index(chars.len().max(1)).min(chars.len());
                match op {
                    0 if i < chars.len() => chars[i] = c,
                    1 => chars.insert(i, c),
                    _ => chars.truncate(i),
                }
            }
            chars.into_iter().collect()
        })
}

proptest! {
    #![proptest_config(crate::props::runner(2000))]

    /// Catalog-stage errors: the same, with indexed paths.
    #[test]
    fn every_catalog_error_is_reported_with_its_path(m in valid_model(), errs in prop::collection::vec(catalog_error(), 1..4)) {
        let mut m = m;
        let mut want: BTreeSet<String> = errs.iter().filter_map(|&e| inject_catalog(&mut m, e)).collect();
        if want.is_empty() {
            // No app or connector to break: a duplicate group always fits.
            want.extend(inject_catalog(&mut m, CatalogError::DuplicateGroup));
        }
        let got = stage(&m.render()).err().unwrap_or_default();
        prop_assert_eq!(paths(&got), want, "{:?}\n{}", got, m.render());
    }

    /// Parse errors (unknown key, wrong type) refuse the file and name the culprit.
    #[test]
    fn parse_errors_name_the_key(m in valid_model(), unknown in any::<bool>()) {
        let mut m = m;
        let key = if unknown || m.apps.is_empty() {
            m.extra_limits = Some("max_header_bites = 10".into());
            "max_header_bites"
        } else {
            m.preserve_host = "\"yes\"".into();
            "preserve_host"
        };
        let got = stage(&m.render());
        prop_assert!(matches!(&got, Err(e) if e.len() == 1 && e[0].starts_with("parse: ") && e[0].contains(key)), "{:?}", got);
    }

    /// Any text, and valid text with a few characters changed: no panic in either stage of
    /// the gateway's file, nor in the connector's file with its allow-list.
    #[test]
    fn any_text_never_panics(text in prop_oneof![any::<String>(), mutated_text()]) {
        let _ = stage(&text);
        let _ = ConnectorConfig::from_toml(&text, "props.toml");
    }
}

/// The shipped examples are accepted as they are (they seed the mutations above).
#[test]
fn the_examples_are_accepted() {
    let gateway = GatewayConfig::from_toml(GATEWAY_EXAMPLE, "gateway.toml", PathBuf::from("."));
    assert!(gateway.is_ok(), "{gateway:?}");
    let connector = ConnectorConfig::from_toml(CONNECTOR_EXAMPLE, "connector.toml");
    assert!(connector.is_ok(), "{connector:?}");
}

/// A generated valid file goes through the whole pipeline, `stage()` with real
/// certificates included, with every app compiled.
#[test]
fn a_valid_file_is_staged() {
    with_certs(1000, valid_model(), |m, pki| {
        prop_assert_eq!(
            stage_fully(&m.render(), pki),
            Ok(m.apps.len()),
            "{}",
            m.render()
        );
        Ok(())
    });
}

/// File-level errors through `stage()`: every injected one is reported with its path, and
/// nothing else.
#[test]
fn every_file_error_is_reported_with_its_path() {
    let strategy = (valid_model(), prop::collection::vec(file_error(), 1..4));
    with_certs(1000, strategy, |(mut m, errs), pki| {
        let want: BTreeSet<String> = errs.iter().map(|&e| inject_file(&mut m, e)).collect();
        let got = stage_fully(&m.render(), pki).err().unwrap_or_default();
        prop_assert_eq!(paths(&got), want, "{:?}", got);
        Ok(())
    });
}
