//! A catalog store written before tenant scopes (no `schema` field: schema 1) loads into the
//! new layout: traffic routes as before, the API shows the shared operator group, the
//! tenant app's `/name` reference and the domains derived from the published hosts, and
//! the first write saves schema 2. A store of a newer schema is refused at start.

use std::path::Path;

use reqwest::Method;
use serde_json::{json, Value};
use switchyard::catalog::secret;
use switchyard::catalog::writer::CatalogWriter;
use switchyard::config::gateway::GatewayConfig;
use switchyard::gateway::GatewayOptions;

use super::{expect, fetch, live, start, start_connector, T1, T2};
use crate::support::origin;
use crate::support::world::{connector_config, write_config, Pki, Spec, World};
use crate::support::TempDir;

/// Secrets of the connectors of the old store.
struct Secrets {
    operator: String,
    t1: String,
    t2: String,
}

/// A `catalog.json` exactly as the previous release wrote it: one global namespace, a
/// tenant app using the operator group `dr`, a tenant-owned `default`, tenant apps on hosts
/// and no domains.
fn old_store(s: &Secrets, op_url: &str, t1_url: &str, t2_url: &str) -> String {
    let text = json!({
        "version": 41,
        "catalog": {
            "tenants": [{"name": "t1"}, {"name": "t2"}],
            "groups": [
                {"name": "dr", "balance": "p2c"},
                {"name": "ops", "balance": "round_robin"},
                {"name": "default", "balance": "p2c", "tenant": "t1"},
                {"name": "t2-east", "balance": "p2c", "tenant": "t2"}
            ],
            "connectors": [
                {"id": "op-1", "group": "dr", "secret_hash": secret::hash(&s.operator)},
                {"id": "t1-a", "group": "default", "secret_hash": secret::hash(&s.t1), "tenant": "t1"},
                {"id": "t2-a", "group": "t2-east", "secret_hash": secret::hash(&s.t2), "tenant": "t2"}
            ],
            "apps": [
                {"name": "status", "host": "status.example.test", "path_prefix": null,
                 "internal_url": op_url, "groups": ["dr", "ops"], "preserve_host": false,
                 "backend_timeout_secs": null, "origin_tls_verify": true,
                 "min_live_connectors": null, "affinity": null},
                {"name": "portal", "tenant": "t1", "host": "portal.t1.example.test",
                 "path_prefix": null, "internal_url": t1_url, "groups": ["default", "dr"],
                 "preserve_host": false, "backend_timeout_secs": null,
                 "origin_tls_verify": true, "min_live_connectors": null, "affinity": null},
                {"name": "shop", "tenant": "t2", "host": "*.t2.example.test",
                 "path_prefix": null, "internal_url": t2_url, "groups": ["t2-east"],
                 "preserve_host": false, "backend_timeout_secs": null,
                 "origin_tls_verify": true, "min_live_connectors": null, "affinity": null}
            ],
            "enrollment_tokens": []
        }
    });
    serde_json::to_string_pretty(&text).expect("json")
}

fn store_file(w: &World) -> std::path::PathBuf {
    w.dir.path().join("store").join("catalog.json")
}

fn on_disk(w: &World) -> Value {
    let text = std::fs::read_to_string(store_file(w)).expect("store file");
    serde_json::from_str(&text).expect("store JSON")
}

/// True once the registry counts `n` requests served by `connector` (it counts a request
/// once its answer has ended).
async fn served(w: &World, connector: &str, n: u64) -> bool {
    let done = || w.served().get(connector) == Some(&n);
    crate::support::eventually(done, std::time::Duration::from_secs(5)).await
}

/// A gateway started on the old store (written before start); its connectors connected.
async fn old_world(
    origins: (&origin::Origin, &origin::Origin, &origin::Origin),
) -> (
    World,
    super::Tokens,
    crate::admin::Api,
    Vec<switchyard::ConnectorHandle>,
) {
    let s = Secrets {
        operator: secret::generate(),
        t1: secret::generate(),
        t2: secret::generate(),
    };
    let text = old_store(&s, &origins.0.url(), &origins.1.url(), &origins.2.url());
    let (w, t, api) = start(Spec::default(), |cfg| {
        // The store folder exists before the gateway starts: write the old file there.
        let dir = cfg_dir(cfg);
        std::fs::create_dir_all(dir.join("store")).expect("store dir");
        std::fs::write(dir.join("store").join("catalog.json"), &text).expect("old store");
    });
    assert!(!std::fs::read_to_string(store_file(&w))
        .expect("store")
        .contains("schema"));
    let mut handles = Vec::new();
    for (id, secret, qualified) in [
        ("op-1", &s.operator, "op-1"),
        ("t1-a", &s.t1, "t1/t1-a"),
        ("t2-a", &s.t2, "t2/t2-a"),
    ] {
        let cfg = connector_config(id, secret, w.gw.tunnel_addr, &w.pki.ca_path);
        handles.push(start_connector(&w, cfg, qualified).await);
    }
    (w, t, api, handles)
}

/// The folder of the config file the world is about to write: the certificate's folder.
fn cfg_dir(cfg: &GatewayConfig) -> std::path::PathBuf {
    cfg.certificates[0]
        .cert
        .parent()
        .map(Path::to_path_buf)
        .expect("certificate folder")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_store_routes_as_before_and_the_first_write_saves_schema_2() {
    let (op_o, t1_o, t2_o) = (
        origin::spawn("operator-origin").await,
        origin::spawn("t1-origin").await,
        origin::spawn("t2-origin").await,
    );
    let (w, t, api, handles) = old_world((&op_o, &t1_o, &t2_o)).await;
    let client = w.h1();
    let routes = [
        ("status.example.test", "operator-origin", "op-1"),
        ("portal.t1.example.test", "t1-origin", "t1/t1-a"),
        ("www.t2.example.test", "t2-origin", "t2/t2-a"),
    ];
    for (host, origin, connector) in routes {
        let before = w.served().get(connector).copied().unwrap_or(0);
        assert_eq!(
            fetch(&w, &client, host).await,
            (200, origin.to_string()),
            "{host}"
        );
        assert!(
            served(&w, connector, before + 1).await,
            "{host}: {:?}",
            w.served()
        );
    }
    // The tenant app keeps its backup: without t1's connector, the shared `dr` serves.
    handles[1].kill();
    assert!(live(&w, "t1/t1-a", 0).await);
    let before = w.served().get("op-1").copied().unwrap_or(0);
    assert_eq!(
        fetch(&w, &client, "portal.t1.example.test").await,
        (200, "t1-origin".to_string())
    );
    assert!(served(&w, "op-1", before + 1).await, "{:?}", w.served());

    // Nothing was written yet; the first write saves the migrated catalog in schema 2.
    assert!(on_disk(&w).get("schema").is_none());
    assert_eq!(w.gw.catalog.desired().version, 41);
    let g = expect(
        &api,
        &t.admin,
        Method::POST,
        "/groups",
        Some(json!({"name": "new"})),
        201,
    )
    .await;
    assert_eq!(g.etag, Some(42));
    let saved = on_disk(&w);
    assert_eq!(saved["schema"], 2);
    assert_eq!(saved["version"], 42);
    let groups = saved["catalog"]["groups"].as_array().expect("groups");
    let dr = groups.iter().find(|g| g["name"] == "dr").expect("dr");
    assert_eq!(dr["shared"], true);
    let ops = groups.iter().find(|g| g["name"] == "ops").expect("ops");
    assert!(ops.get("shared").is_none(), "unused by tenants: not shared");
    let apps = saved["catalog"]["apps"].as_array().expect("apps");
    let portal = apps.iter().find(|a| a["name"] == "portal").expect("portal");
    assert_eq!(portal["groups"], json!(["default", "/dr"]));
    let status = apps.iter().find(|a| a["name"] == "status").expect("status");
    assert_eq!(
        status["groups"],
        json!(["dr", "ops"]),
        "operator app unchanged"
    );
    let tenants = &saved["catalog"]["tenants"];
    assert_eq!(
        tenants[0],
        json!({"name": T1, "domains": ["portal.t1.example.test"]})
    );
    assert_eq!(
        tenants[1],
        json!({"name": T2, "domains": ["t2.example.test"]})
    );
    for h in handles {
        h.kill();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_store_shows_shared_groups_references_and_domains_in_the_api() {
    let (op_o, t1_o, t2_o) = (
        origin::spawn("operator-origin").await,
        origin::spawn("t1-origin").await,
        origin::spawn("t2-origin").await,
    );
    let (_w, t, api, handles) = old_world((&op_o, &t1_o, &t2_o)).await;
    let dr = expect(&api, &t.admin, Method::GET, "/groups/dr", None, 200).await;
    assert_eq!(dr.body["shared"], true);
    assert_eq!(dr.body["apps"], json!(["status", "t1/portal"]));
    let ops = expect(&api, &t.admin, Method::GET, "/groups/ops", None, 200).await;
    assert_ne!(ops.body["shared"], true, "unused by tenants: not shared");
    let t1_default = expect(
        &api,
        &t.admin,
        Method::GET,
        "/groups/t1%2Fdefault",
        None,
        200,
    )
    .await;
    assert_eq!(t1_default.body["qualified"], "t1/default");
    assert_eq!(t1_default.body["connectors"], json!(["t1-a"]));
    // The tenant sees its app's chain as stored, with the shared group as `/dr`.
    let portal = expect(&api, &t.t1, Method::GET, "/apps/portal", None, 200).await;
    assert_eq!(portal.body["groups"], json!(["default", "/dr"]));
    let own = expect(&api, &t.t1, Method::GET, "/groups/default", None, 200).await;
    assert_eq!(own.body["tenant"], T1);
    for (tenant, token, domain) in [
        (T1, &t.t1, "portal.t1.example.test"),
        (T2, &t.t2, "t2.example.test"),
    ] {
        let path = format!("/tenants/{tenant}");
        let a = expect(&api, &t.admin, Method::GET, &path, None, 200).await;
        assert_eq!(a.body["domains"], json!([domain]), "{tenant}");
        let mine = expect(&api, token, Method::GET, &path, None, 200).await;
        assert_eq!(mine.body["domains"], json!([domain]), "{tenant}");
    }
    // The operator's `default` is free again: an operator enrollment lands there, not in t1's.
    let c = json!({"id": "op-2", "group": "default"});
    let missing = api
        .call(&t.admin, Method::POST, "/connectors", Some(c.clone()))
        .await;
    assert_eq!(
        missing.status, 400,
        "the operator has no default yet: {:?}",
        missing.body
    );
    expect(
        &api,
        &t.admin,
        Method::POST,
        "/groups",
        Some(json!({"name": "default"})),
        201,
    )
    .await;
    expect(&api, &t.admin, Method::POST, "/connectors", Some(c), 201).await;
    for h in handles {
        h.kill();
    }
}

/// Starts a gateway on a store file holding `text`; the start-up error, or a panic.
fn start_error(tag: &str, text: &str) -> (String, std::path::PathBuf, TempDir) {
    let dir = TempDir::new(tag);
    let pki = Pki::new(dir.path());
    let mut cfg = World::config_for(&Spec::default(), &pki, &Default::default());
    cfg.store.dir = Some("store".into());
    std::fs::create_dir_all(dir.path().join("store")).expect("store dir");
    let file = dir.path().join("store").join("catalog.json");
    std::fs::write(&file, text).expect("write store");
    let path = dir.path().join("gateway.toml");
    write_config(&path, &cfg);
    let loaded = GatewayConfig::parse_file(&path).expect("config parses");
    let options = GatewayOptions {
        config_path: Some(path.clone()),
        ..GatewayOptions::default()
    };
    let err = match switchyard::run_gateway(loaded, options) {
        Ok(gw) => {
            gw.shutdown();
            panic!("a gateway started on the store {text}");
        }
        Err(e) => e.to_string(),
    };
    (err, file, dir)
}

#[test]
fn a_store_of_a_newer_schema_is_refused_at_start() {
    let newer = r#"{"schema": 99, "version": 7, "catalog": {"groups": [{"name": "g"}]}}"#;
    let (err, file, _dir) = start_error("tenancy-schema", newer);
    assert!(err.contains("schema 99"), "{err}");
    assert!(err.contains("newer version"), "{err}");
    assert!(err.contains("catalog.json"), "names the file: {err}");
    assert_eq!(
        std::fs::read_to_string(&file).expect("store"),
        newer,
        "left as it was"
    );
}

/// The one schema 1 layout owned domains cannot express: an operator wildcard over a host a
/// tenant published. Refused at start, naming the store and the conflict; file untouched.
#[test]
fn an_old_store_with_an_operator_wildcard_over_a_tenant_host_is_refused_with_its_path() {
    let old = json!({
        "version": 3,
        "catalog": {
            "tenants": [{"name": "t1"}],
            "groups": [{"name": "g"}, {"name": "t1g", "tenant": "t1"}],
            "apps": [
                {"name": "all", "host": "*.example.test", "internal_url": "http://127.0.0.1:9",
                 "groups": ["g"]},
                {"name": "wiki", "tenant": "t1", "host": "wiki.example.test",
                 "internal_url": "http://127.0.0.1:9", "groups": ["t1g"]}
            ]
        }
    })
    .to_string();
    let (err, file, _dir) = start_error("tenancy-unmigratable", &old);
    assert!(err.contains("catalog store"), "says it is the store: {err}");
    assert!(err.contains("catalog.json"), "names the file: {err}");
    assert!(
        err.contains(r#"apps[0].host: wildcard "*.example.test" would capture names of domain "wiki.example.test" of tenant "t1""#),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&file).expect("store"),
        old,
        "left as it was"
    );
}
