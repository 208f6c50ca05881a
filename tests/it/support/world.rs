//! A whole deployment for one test: a PKI, a gateway started from a real config file, origins
//! and connectors, all on 127.0.0.1 with port 0.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use switchyard::catalog::{secret, AppSpec, BalancePolicy, ConnectorSpec, GroupSpec};
use switchyard::config::connector::ConnectorConfig;
use switchyard::config::gateway::{CertPaths, GatewayConfig};
use switchyard::gateway::{GatewayHandle, GatewayOptions};
use switchyard::tls::gen::{self, Ca};
use switchyard::ConnectorHandle;

use super::TempDir;

/// Names every test certificate covers.
pub const EDGE_NAMES: &[&str] = &[
    "*.example.test",
    "*.apps.example.test",
    "*.c.apps.example.test",
    "*.t1.example.test",
    "*.t2.example.test",
    "localhost",
];

pub struct Pki {
    pub ca: Ca,
    pub ca_pem: String,
    pub ca_path: PathBuf,
    pub edge: CertPaths,
}

impl Pki {
    pub fn new(dir: &std::path::Path) -> Pki {
        let ca = Ca::new("Switchyard test CA").expect("ca");
        let ca_pem = ca.cert_pem();
        let ca_path = dir.join("ca.pem");
        std::fs::write(&ca_path, &ca_pem).expect("write ca");
        let leaf = ca.issue(EDGE_NAMES).expect("leaf");
        let (cert, key) = gen::write_pair(dir, "edge", &leaf).expect("write pair");
        Pki {
            ca,
            ca_pem,
            ca_path,
            edge: CertPaths {
                cert,
                key,
                default: false,
            },
        }
    }
}

/// A catalog under construction.
#[derive(Default, Clone)]
pub struct Spec {
    pub groups: Vec<GroupSpec>,
    pub connectors: Vec<(String, String)>,
    pub apps: Vec<AppSpec>,
}

impl Spec {
    pub fn group(mut self, name: &str) -> Spec {
        self.groups.push(GroupSpec::new(name, None));
        self
    }
    pub fn group_rr(mut self, name: &str) -> Spec {
        self.groups.push(GroupSpec {
            balance: BalancePolicy::RoundRobin,
            ..GroupSpec::new(name, None)
        });
        self
    }
    pub fn connector(mut self, id: &str, group: &str) -> Spec {
        self.connectors.push((id.into(), group.into()));
        self
    }
    pub fn app(mut self, name: &str, host: &str, url: &str, groups: &[&str]) -> Spec {
        self.apps.push(app(name, host, None, url, groups));
        self
    }
    pub fn app_with(mut self, a: AppSpec) -> Spec {
        self.apps.push(a);
        self
    }
}

pub fn app(name: &str, host: &str, prefix: Option<&str>, url: &str, groups: &[&str]) -> AppSpec {
    AppSpec {
        tenant: None,
        name: name.into(),
        host: host.into(),
        path_prefix: prefix.map(str::to_string),
        internal_url: url.into(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        preserve_host: false,
        backend_timeout_secs: None,
        origin_tls_verify: true,
        min_live_connectors: None,
        affinity: None,
    }
}

pub struct World {
    pub dir: TempDir,
    pub pki: Pki,
    pub gw: GatewayHandle,
    pub cfg: GatewayConfig,
    pub config_path: PathBuf,
    pub secrets: HashMap<String, String>,
    pub connectors: HashMap<String, ConnectorHandle>,
}

pub fn connector_config(
    id: &str,
    secret: &str,
    tunnel: std::net::SocketAddr,
    ca: &std::path::Path,
) -> ConnectorConfig {
    let mut c = ConnectorConfig::new(id, vec!["127.0.0.1".into()]);
    c.secret = Some(secret.into());
    c.gateways = vec![format!("127.0.0.1:{}", tunnel.port())];
    c.server_name = Some("localhost".into());
    c.ca_file = Some(ca.to_path_buf());
    c.reconnect_initial_ms = 50;
    c.reconnect_max_ms = 500;
    c
}

impl World {
    /// Config for a spec, every listener on port 0.
    pub fn config_for(spec: &Spec, pki: &Pki, secrets: &HashMap<String, String>) -> GatewayConfig {
        let mut cfg = GatewayConfig::default();
        cfg.listen.https = "127.0.0.1:0".into();
        cfg.listen.tunnel = "127.0.0.1:0".into();
        cfg.listen.metrics = "127.0.0.1:0".into();
        cfg.admin.listen = "127.0.0.1:0".into();
        cfg.certificates = vec![pki.edge.clone()];
        cfg.runtime.threads = 2;
        cfg.runtime.watch_interval_ms = 0;
        cfg.tunnel.ping_interval_ms = 300;
        cfg.tunnel.ping_timeout_ms = 1000;
        cfg.groups = spec.groups.clone();
        cfg.connectors = spec
            .connectors
            .iter()
            .map(|(id, g)| ConnectorSpec {
                tenant: None,
                revoked: false,
                id: id.clone(),
                group: g.clone(),
                secret_hash: secret::hash(&secrets[id]),
            })
            .collect();
        cfg.apps = spec.apps.clone();
        cfg
    }

    /// Starts a gateway for `spec` (connectors are started with [`World::connect`]).
    pub fn start(spec: Spec) -> World {
        Self::start_with(spec, |_| {})
    }

    pub fn start_with(spec: Spec, tweak: impl FnOnce(&mut GatewayConfig)) -> World {
        let dir = TempDir::new("world");
        let pki = Pki::new(dir.path());
        let secrets: HashMap<String, String> = spec
            .connectors
            .iter()
            .map(|(id, _)| (id.clone(), secret::generate()))
            .collect();
        let mut cfg = Self::config_for(&spec, &pki, &secrets);
        tweak(&mut cfg);
        let config_path = dir.path().join("gateway.toml");
        write_config(&config_path, &cfg);
        let loaded = GatewayConfig::parse_file(&config_path).expect("config file parses");
        let gw = switchyard::run_gateway(
            loaded,
            GatewayOptions {
                config_path: Some(config_path.clone()),
                ..GatewayOptions::default()
            },
        )
        .expect("gateway starts");
        World {
            dir,
            pki,
            gw,
            cfg,
            config_path,
            secrets,
            connectors: HashMap::new(),
        }
    }

    /// A gateway that owns its catalog (a store in its folder, seeded from `spec`) with
    /// the tenant [`ADMIN_TENANT`] and one admin token per role.
    pub fn start_admin(spec: Spec) -> (World, AdminTokens) {
        let mut tokens = None;
        let w = Self::start_with(spec, |cfg| tokens = Some(admin_setup(cfg)));
        (w, tokens.expect("admin tokens"))
    }

    /// `http://ADMIN/PATH` of the admin API.
    pub fn admin_url(&self, path: &str) -> String {
        let addr = self.gw.admin_addr.expect("admin API listening");
        format!("http://{addr}{path}")
    }

    /// Stops the gateway and starts a new one from the same config file (and store); the
    /// connectors are dropped (they dialed the old tunnel port): [`World::connect`] again.
    pub fn restart_gateway(&mut self) {
        self.connectors.clear();
        let loaded = GatewayConfig::parse_file(&self.config_path).expect("config file parses");
        let fresh = switchyard::run_gateway(
            loaded,
            GatewayOptions {
                config_path: Some(self.config_path.clone()),
                ..GatewayOptions::default()
            },
        )
        .expect("gateway restarts");
        std::mem::replace(&mut self.gw, fresh).shutdown();
    }

    /// Starts connector `id` and waits for its tunnel.
    pub async fn connect(&mut self, id: &str) -> &ConnectorHandle {
        let cfg = connector_config(
            id,
            &self.secrets[id],
            self.gw.tunnel_addr,
            &self.pki.ca_path,
        );
        let h = switchyard::run_connector(cfg)
            .await
            .expect("connector starts");
        let tunnels = cfg_tunnels(id);
        assert!(
            h.wait_tunnels(tunnels, Duration::from_secs(10)).await,
            "connector {id} connected"
        );
        self.connectors.insert(id.to_string(), h);
        // The gateway registers the tunnel right after the welcome; wait until it is live.
        let gw_state = self.gw.live.clone();
        let id_owned = id.to_string();
        assert!(
            super::eventually(
                || gw_state
                    .registry
                    .snapshot()
                    .iter()
                    .any(|(c, t, _, _)| **c == *id_owned && *t >= tunnels),
                Duration::from_secs(5)
            )
            .await
        );
        &self.connectors[id]
    }

    /// Kills connector `id` (connections dropped at once) and waits until the gateway saw it.
    pub async fn kill(&mut self, id: &str) {
        if let Some(h) = self.connectors.remove(id) {
            h.kill();
        }
        let gw_state = self.gw.live.clone();
        let id_owned = id.to_string();
        assert!(
            super::eventually(
                || !gw_state
                    .registry
                    .snapshot()
                    .iter()
                    .any(|(c, t, _, _)| **c == *id_owned && *t > 0),
                Duration::from_secs(5)
            )
            .await,
            "gateway noticed {id} is gone"
        );
    }

    pub fn url(&self, host: &str, path: &str) -> String {
        format!("https://{host}:{}{path}", self.gw.https_addr.port())
    }

    pub fn h1(&self) -> reqwest::Client {
        super::client::h1(&self.pki.ca_pem)
    }

    pub fn h2(&self) -> reqwest::Client {
        super::client::h2(&self.pki.ca_pem)
    }

    /// Requests served per connector, from the gateway's registry.
    pub fn served(&self) -> HashMap<String, u64> {
        self.gw
            .live
            .registry
            .snapshot()
            .into_iter()
            .map(|(id, _, _, served)| (id.to_string(), served))
            .collect()
    }

    /// Rewrites the config file and reloads it.
    pub fn rewrite(&mut self, cfg: GatewayConfig) -> Result<u64, Vec<String>> {
        write_config(&self.config_path, &cfg);
        let r = self.gw.reload();
        if r.is_ok() {
            self.cfg = cfg;
        }
        r
    }

    /// Reads `/metrics` until `counted` holds for the text or 5 s pass, and returns the last
    /// reading: the edge counts a request after its answer's last byte left, so a client
    /// that just read an answer may otherwise see the metrics before the count.
    pub async fn metrics_when(&self, counted: impl Fn(&str) -> bool) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let m = self.metrics().await;
            if counted(&m) || std::time::Instant::now() > deadline {
                return m;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    pub async fn metrics(&self) -> String {
        reqwest::get(format!("http://{}/metrics", self.gw.metrics_addr))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text")
    }
}

/// The tenant of [`AdminTokens::tenant`].
pub const ADMIN_TENANT: &str = "acme";
/// The domain [`ADMIN_TENANT`] owns.
pub const ADMIN_TENANT_DOMAIN: &str = "acme.example.test";

/// Bearer tokens of the admin API, one per role.
#[derive(Debug, Clone)]
pub struct AdminTokens {
    pub admin: String,
    pub read_only: String,
    /// A `tenant` token of [`ADMIN_TENANT`].
    pub tenant: String,
}

/// Adds admin tokens `(name, plain token, role, tenant)` to `cfg`, stored hashed.
pub fn add_tokens(
    cfg: &mut GatewayConfig,
    tokens: &[(
        &str,
        &str,
        switchyard::config::gateway::AdminRole,
        Option<&str>,
    )],
) {
    for &(name, token, role, tenant) in tokens {
        cfg.admin
            .tokens
            .push(switchyard::config::gateway::AdminToken {
                name: name.into(),
                token_hash: secret::hash(token),
                role,
                tenant: tenant.map(str::to_string),
            });
    }
}

/// Gives `cfg` a catalog store (`store/` beside the config file), the tenant
/// [`ADMIN_TENANT`] and one token per admin role.
pub fn admin_setup(cfg: &mut GatewayConfig) -> AdminTokens {
    use switchyard::config::gateway::AdminRole;
    let tokens = AdminTokens {
        admin: secret::generate(),
        read_only: secret::generate(),
        tenant: secret::generate(),
    };
    cfg.store.dir = Some("store".into());
    cfg.tenants.push(switchyard::catalog::TenantSpec {
        domains: vec![ADMIN_TENANT_DOMAIN.into()],
        ..switchyard::catalog::TenantSpec::named(ADMIN_TENANT)
    });
    add_tokens(
        cfg,
        &[
            ("ops", &tokens.admin, AdminRole::Admin, None),
            ("auditor", &tokens.read_only, AdminRole::ReadOnly, None),
            (
                "acme",
                &tokens.tenant,
                AdminRole::Tenant,
                Some(ADMIN_TENANT),
            ),
        ],
    );
    tokens
}

/// Tunnels a test connector keeps (the connector default).
fn cfg_tunnels(id: &str) -> usize {
    ConnectorConfig::new(id, vec!["127.0.0.1".into()]).tunnels_per_gateway
}

pub fn write_config(path: &std::path::Path, cfg: &GatewayConfig) {
    let text = toml::to_string(cfg).expect("serialize config");
    std::fs::write(path, text).expect("write config");
}

/// The value of a metric line (exact name with labels), if present.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}
