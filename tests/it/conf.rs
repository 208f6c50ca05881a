//! The shipped examples in `conf/` stay valid, and `gateway --test` checks what start-up
//! checks.

use std::path::Path;

use switchyard::config::connector::ConnectorConfig;
use switchyard::config::gateway::GatewayConfig;
use switchyard::routing::RoutingTable;

use crate::support::world::{write_config, Pki, Spec, World};
use crate::support::TempDir;

#[test]
fn shipped_examples_parse_and_compile() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("conf");
    let files: Vec<_> = std::fs::read_dir(&root)
        .expect("conf/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    assert!(files.len() >= 4, "found the examples: {files:?}");
    let gw = GatewayConfig::from_file(&root.join("gateway.toml")).expect("gateway.toml parses");
    let table = RoutingTable::compile(&gw.catalog(), 1).expect("catalog compiles");
    assert_eq!(table.app_count(), 2);
    assert!(table.lookup("wiki.example.com", "/").is_some());
    assert!(table.lookup("x.apps.example.com", "/api/v").is_some());
    ConnectorConfig::from_file(&root.join("connector.toml")).expect("connector.toml is valid");
    tenants_example(&root.join("gateway-tenants.toml"));
    etcd_example(&root.join("gateway-etcd.toml"));
}

/// The gateway on etcd: three members, a seed catalog that compiles.
fn etcd_example(path: &Path) {
    let etcd = GatewayConfig::from_file(path).expect("gateway-etcd.toml parses and checks");
    assert_eq!(
        etcd.store.etcd.as_ref().map(|e| e.endpoints.len()),
        Some(3),
        "a gateway on three etcd members"
    );
    let table = RoutingTable::compile(&etcd.catalog(), 1).expect("the seed catalog compiles");
    assert!(table.lookup("wiki.example.com", "/").is_some());
}

/// The two-tenant example: the same names in three scopes, each host routed to its own
/// scope's app and groups, the operator's shared group in a tenant's chain.
fn tenants_example(path: &Path) {
    let gw = GatewayConfig::from_file(path).expect("gateway-tenants.toml parses");
    assert_eq!(gw.tenants.len(), 2);
    assert_eq!(gw.tenant_quotas.groups, 20);
    let table = RoutingTable::compile(&gw.catalog(), 1).expect("catalog compiles");
    assert_eq!(table.app_count(), 3);
    let route = |host: &str| {
        let r = table
            .lookup(host, "/")
            .unwrap_or_else(|| panic!("{host} routed"));
        let groups: Vec<&str> = r.groups.iter().map(|g| &**g).collect();
        (r.app.to_string(), groups.join(","))
    };
    assert_eq!(
        route("status.example.com"),
        ("status".into(), "dc-east".into())
    );
    assert_eq!(
        route("wiki.acme.com"),
        ("acme/wiki".into(), "acme/dc-east,dr-site".into())
    );
    assert_eq!(
        route("shop.globex.net"),
        ("globex/wiki".into(), "globex/dc-east".into())
    );
    assert!(table.lookup("other.acme.com", "/").is_none());
    // One id, three connectors: a hello saying "c1" is checked against each.
    assert_eq!(table.connectors_named("c1").len(), 3);
    for c in ["acme/c1", "globex/c1"] {
        assert_eq!(table.connectors_named(c).len(), 1, "{c}");
    }
}

/// Runs `switchyard gateway --test` on `cfg` written to `dir/name`; exit code and stderr.
fn gateway_test(dir: &Path, name: &str, cfg: &GatewayConfig) -> (Option<i32>, String) {
    let path = dir.join(name);
    write_config(&path, cfg);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["gateway", "--test", "--config"])
        .arg(&path)
        .output()
        .expect("run switchyard");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn gateway_test_loads_every_certificate_and_parses_every_address() {
    let dir = TempDir::new("conf-test");
    let pki = Pki::new(dir.path());
    let mut good = World::config_for(&Spec::default().group("g"), &pki, &Default::default());
    let (tunnel_cert, tunnel_key) = switchyard::tls::gen::write_pair(
        dir.path(),
        "tunnel",
        &pki.ca.issue(&["tunnel.example.test"]).expect("issue"),
    )
    .expect("write tunnel pair");
    good.tunnel.cert = Some(tunnel_cert);
    good.tunnel.key = Some(tunnel_key.clone());
    good.admin.tls_cert = Some(pki.edge.cert.clone());
    good.admin.tls_key = Some(pki.edge.key.clone());
    let (code, err) = gateway_test(dir.path(), "good.toml", &good);
    assert_eq!(code, Some(0), "{err}");

    let not_pem = dir.path().join("not-a-cert.pem");
    std::fs::write(&not_pem, "hello\n").expect("write");
    let mut bad_tunnel = good.clone();
    bad_tunnel.tunnel.cert = Some(not_pem.clone());
    let mut bad_admin = good.clone();
    bad_admin.admin.tls_cert = Some(dir.path().join("missing.pem"));
    let mut bad_addr = good.clone();
    bad_addr.listen.https = "localhost:8443".into();
    let cases = [
        ("tunnel.toml", bad_tunnel, "tunnel.cert: "),
        ("admin.toml", bad_admin, "admin.tls_cert: "),
        ("addr.toml", bad_addr, "listen.https: \"localhost:8443\""),
    ];
    for (name, cfg, want) in cases {
        let (code, err) = gateway_test(dir.path(), name, &cfg);
        assert_eq!(code, Some(2), "{name}: {err}");
        assert!(err.contains(want), "{name}: {want:?} missing in {err}");
        assert_eq!(err.lines().count(), 2, "{name}: one problem: {err}");
    }

    let mut all = good;
    all.tunnel.cert = Some(not_pem);
    all.admin.tls_cert = Some(dir.path().join("missing.pem"));
    all.listen.metrics = "9100".into();
    all.apps.push(switchyard_app("bad host!", "missing"));
    let (code, err) = gateway_test(dir.path(), "all.toml", &all);
    assert_eq!(code, Some(2), "{err}");
    for want in [
        "listen.metrics",
        "tunnel.cert",
        "admin.tls_cert",
        "apps[0].host",
        "apps[0].groups[0]",
    ] {
        assert!(err.contains(want), "{want:?} missing in {err}");
    }
}

fn switchyard_app(host: &str, group: &str) -> switchyard::catalog::AppSpec {
    crate::support::world::app("x", host, None, "http://10.0.0.1", &[group])
}

#[test]
fn a_connector_with_an_unreadable_ca_file_exits_2_before_dialing() {
    let dir = TempDir::new("conf-connector");
    let path = dir.path().join("connector.toml");
    std::fs::write(
        &path,
        "id = \"c1\"\nsecret = \"s\"\ngateways = [\"127.0.0.1:1\"]\n\
         allow = [\"127.0.0.1\"]\nca_file = \"missing-ca.pem\"\ntunnels_per_gateway = 0\n",
    )
    .expect("write config");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["connector", "--config"])
        .arg(&path)
        .output()
        .expect("run switchyard");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("ca_file: "), "{err}");
    assert!(err.contains("tunnels_per_gateway: 0"), "{err}");
}
