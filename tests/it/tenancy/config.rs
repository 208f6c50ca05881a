//! A catalog in the configuration file where a tenant's app publishes outside its tenant's
//! domains: the gateway refuses to start on it, and a reload to it changes nothing.

use switchyard::catalog::{AppSpec, GroupSpec, TenantSpec};
use switchyard::config::gateway::GatewayConfig;

use super::{fetch, T1, T1_DOMAIN, T2, T2_DOMAIN};
use crate::support::origin;
use crate::support::world::{write_config, Pki, Spec, World};
use crate::support::TempDir;

/// Tenants `t1` and `t2` with their domains, and group `g` in t1's scope.
fn tenants(cfg: &mut GatewayConfig) {
    for (name, domain) in [(T1, T1_DOMAIN), (T2, T2_DOMAIN)] {
        cfg.tenants.push(TenantSpec {
            domains: vec![domain.into()],
            ..TenantSpec::named(name)
        });
    }
    cfg.groups.push(GroupSpec::new("g", Some(T1)));
}

fn t1_app(host: &str, url: &str) -> AppSpec {
    AppSpec {
        tenant: Some(T1.into()),
        ..AppSpec::new("web", host, url, &["g"])
    }
}

/// Writes `cfg` into `dir` and runs `switchyard gateway --test` on it, which must exit 2;
/// returns the file and what it printed on stderr.
fn gateway_test_refuses(
    dir: &std::path::Path,
    cfg: &GatewayConfig,
) -> (std::path::PathBuf, String) {
    let path = dir.join("gateway.toml");
    write_config(&path, cfg);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["gateway", "--test", "--config"])
        .arg(&path)
        .output()
        .expect("run switchyard");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{err}");
    (path, err)
}

const OUTSIDE: &str = "apps[0].host: host \"web.t2.example.test\" is outside this tenant's \
                       domains (t1.example.test); ask the operator to assign the domain";

#[test]
fn a_gateway_refuses_to_start_on_a_tenant_app_outside_its_domains() {
    let dir = TempDir::new("tenancy-conf");
    let pki = Pki::new(dir.path());
    let mut cfg = World::config_for(&Spec::default(), &pki, &Default::default());
    tenants(&mut cfg);
    cfg.apps
        .push(t1_app("web.t2.example.test", "http://10.0.0.1"));
    let (path, err) = gateway_test_refuses(dir.path(), &cfg);
    assert!(err.contains(OUTSIDE), "{err}");

    // The same file in process: start-up fails with the same error.
    let loaded = GatewayConfig::parse_file(&path).expect("parses");
    match switchyard::run_gateway(loaded, Default::default()) {
        Ok(gw) => {
            gw.shutdown();
            panic!("started with a tenant app outside its domains");
        }
        Err(e) => assert!(e.to_string().contains(OUTSIDE), "{e}"),
    }
}

#[test]
fn gateway_test_refuses_an_operator_wildcard_over_a_tenant_domain() {
    let dir = TempDir::new("tenancy-conf-wild");
    let pki = Pki::new(dir.path());
    let mut cfg = World::config_for(&Spec::default().group("ops"), &pki, &Default::default());
    tenants(&mut cfg);
    cfg.apps.push(AppSpec::new(
        "all",
        "*.example.test",
        "http://10.0.0.1",
        &["ops"],
    ));
    cfg.apps.push(AppSpec::new(
        "in",
        "x.t2.example.test",
        "http://10.0.0.1",
        &["ops"],
    ));
    let (_, err) = gateway_test_refuses(dir.path(), &cfg);
    assert!(
        err.contains("apps[0].host: wildcard \"*.example.test\" would capture names of domain"),
        "{err}"
    );
    assert!(
        err.contains("apps[1].host: host \"x.t2.example.test\" is inside domain \"t2.example.test\" of tenant \"t2\""),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_to_a_tenant_app_outside_its_domains_is_refused_whole() {
    let o = origin::spawn("t1-origin").await;
    let mut w = World::start_with(Spec::default(), |cfg| {
        tenants(cfg);
        cfg.apps.push(t1_app("web.t1.example.test", &o.url()));
    });
    let mut bad = w.cfg.clone();
    bad.apps[0].host = "web.t2.example.test".into();
    let errors = w.rewrite(bad).expect_err("reload refused");
    assert!(errors.iter().any(|e| e.contains(OUTSIDE)), "{errors:?}");
    // The running table is the old one: t1's host still routes (503: no connector yet,
    // not 404), t2's name is not routed.
    let client = w.h1();
    assert_eq!(fetch(&w, &client, "web.t1.example.test").await.0, 503);
    assert_eq!(fetch(&w, &client, "web.t2.example.test").await.0, 404);
}
