//! `switchyard quickstart`: a whole deployment in one process, nothing to prepare. A CA and an
//! ECDSA certificate for `*.switchyard.localhost` (also the default certificate, so clients
//! without SNI get a 404 by Host instead of a handshake alert), a gateway, two demo origins,
//! and three connectors in two groups (`dc-east` with two, `dc-west` with one as the backup
//! group).

mod origins;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::catalog::{secret, AppSpec, ConnectorSpec, GroupSpec};
use crate::config::connector::ConnectorConfig;
use crate::config::gateway::{CertPaths, GatewayConfig, ListenConfig};
use crate::gateway::{GatewayHandle, GatewayOptions};
use crate::tls::gen;
use crate::ConnectorHandle;

/// The domain the demo apps live under. TLS libraries ignore a wildcard directly under a
/// top-level name (`*.localhost`), so the apps get a second-level domain that
/// `*.switchyard.localhost` covers; browsers and curl resolve every `*.localhost` name to
/// loopback.
pub const DOMAIN: &str = "switchyard.localhost";

/// Where the quickstart listens and writes.
#[derive(Debug, Clone)]
pub struct QuickstartOptions {
    pub https: String,
    pub metrics: String,
    /// Admin API address (`switchyard ctl` talks to it).
    pub admin: String,
    pub tunnel: String,
    /// Folder for the generated CA and certificates (default: a fresh temporary folder).
    pub dir: Option<PathBuf>,
    /// Access log lines (on by default; tests turn them off).
    pub access_log: bool,
}

impl Default for QuickstartOptions {
    fn default() -> Self {
        QuickstartOptions {
            https: "127.0.0.1:8443".into(),
            metrics: "127.0.0.1:9100".into(),
            admin: "127.0.0.1:9901".into(),
            tunnel: "127.0.0.1:0".into(),
            dir: None,
            access_log: true,
        }
    }
}

/// A running quickstart.
pub struct Quickstart {
    pub gateway: GatewayHandle,
    pub connectors: Vec<ConnectorHandle>,
    pub ca_path: PathBuf,
    pub origins: Vec<SocketAddr>,
    /// Bearer token of the admin API (admin role), generated for this run.
    pub admin_token: String,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Quickstart {
    /// Ready-to-paste commands for a first try.
    pub fn instructions(&self) -> String {
        let port = self.gateway.https_addr.port();
        let ca = self.ca_path.display();
        let m = self.gateway.metrics_addr;
        let admin = self
            .gateway
            .admin_addr
            .map(|a| a.to_string())
            .unwrap_or_else(|| "off".into());
        let token = &self.admin_token;
        let hello = self
            .origins
            .first()
            .map(|a| a.to_string())
            .unwrap_or_default();
        let d = DOMAIN;
        let resolve = |app: &str| format!("--resolve {app}.{d}:{port}:127.0.0.1");
        let (rh, re, rd) = (resolve("hello"), resolve("echo"), resolve("demo"));
        format!(
            "Switchyard quickstart is running.\n\
             \n\
             \x20 gateway  https://127.0.0.1:{port}  (certificate for *.{d}, also the default)\n\
             \x20 groups   dc-east: east-1, east-2   dc-west (backup): west-1\n\
             \x20 apps     hello.{d}, echo.{d}\n\
             \x20 CA       {ca}\n\
             \x20 console  http://{admin}/ui/  (log in with the admin token {token})\n\
             \n\
             Try:\n\
             \x20 curl --cacert {ca} {rh} https://hello.{d}:{port}/\n\
             \x20 curl --cacert {ca} {re} https://echo.{d}:{port}/some/path -d 'hi'\n\
             \x20 head -c 5M /dev/zero | curl --cacert {ca} {re} https://echo.{d}:{port}/upload --data-binary @-\n\
             \x20 curl --cacert {ca} {re} --http2 -I https://echo.{d}:{port}/\n\
             \x20 curl -k https://127.0.0.1:{port}/   (no name: default certificate, 404)\n\
             \x20 curl http://{m}/metrics\n\
             \x20 switchyard ctl --url http://{admin} --token {token} connectors list\n\
             \n\
             Publish another app (any name under *.{d} works at once):\n\
             \x20 switchyard ctl --url http://{admin} --token {token} apps create demo --host demo.{d} --url http://{hello} --groups dc-east,dc-west\n\
             \x20 curl --cacert {ca} {rd} https://demo.{d}:{port}/\n\
             \n\
             Ctrl-C stops everything.\n"
        )
    }

    /// Stops connectors, origins and the gateway.
    pub fn shutdown(mut self) {
        for c in &self.connectors {
            c.kill();
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
        self.gateway.shutdown();
    }
}

fn write_certs(dir: &Path) -> Result<(PathBuf, CertPaths), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let ca = gen::Ca::new("Switchyard quickstart CA").map_err(|e| e.to_string())?;
    // `localhost` is the name connectors verify on the tunnel listener, which serves the first
    // edge certificate.
    let wildcard = format!("*.{DOMAIN}");
    let leaf = ca
        .issue(&[DOMAIN, &wildcard, "localhost", "127.0.0.1"])
        .map_err(|e| e.to_string())?;
    let ca_path = dir.join("ca.pem");
    std::fs::write(&ca_path, ca.cert_pem())
        .map_err(|e| format!("cannot write {}: {e}", ca_path.display()))?;
    let (cert, key) = gen::write_pair(dir, "localhost", &leaf)
        .map_err(|e| format!("cannot write certificates to {}: {e}", dir.display()))?;
    Ok((
        ca_path,
        CertPaths {
            cert,
            key,
            default: true,
        },
    ))
}

/// Starts everything and returns once the connectors are connected.
pub fn start(opts: QuickstartOptions) -> Result<Quickstart, String> {
    let dir = match &opts.dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("switchyard-quickstart-{}", std::process::id())),
    };
    let (ca_path, edge_cert) = write_certs(&dir)?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("switchyard-quickstart")
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    let hello = runtime
        .block_on(origins::spawn_hello())
        .map_err(|e| format!("hello origin: {e}"))?;
    let echo = runtime
        .block_on(origins::spawn_echo())
        .map_err(|e| format!("echo origin: {e}"))?;

    let secrets: Vec<String> = CONNECTORS.iter().map(|_| secret::generate()).collect();
    let admin_token = secret::generate();
    let cfg = gateway_config(
        &opts,
        &dir,
        edge_cert,
        (hello, echo),
        &secrets,
        &admin_token,
    );
    // The quickstart is the process's only gateway: the binary's log filter counts the
    // handshake failures only pingora's log line reveals into its metrics.
    let options = GatewayOptions {
        owns_process_log: true,
        ..GatewayOptions::default()
    };
    let gateway = crate::run_gateway(cfg, options).map_err(|e| e.to_string())?;
    let connectors = runtime.block_on(start_connectors(gateway.tunnel_addr, &ca_path, &secrets))?;
    Ok(Quickstart {
        gateway,
        connectors,
        ca_path,
        origins: vec![hello, echo],
        admin_token,
        runtime: Some(runtime),
    })
}

/// The demo connectors; `east-*` are in `dc-east`, the others in `dc-west`.
const CONNECTORS: [&str; 3] = ["east-1", "east-2", "west-1"];

fn group_of(connector: &str) -> &'static str {
    if connector.starts_with("east") {
        "dc-east"
    } else {
        "dc-west"
    }
}

/// The gateway's configuration: two groups, the connectors with their secrets' hashes, the
/// two demo apps, an admin token, and a fresh catalog store in `dir`.
fn gateway_config(
    opts: &QuickstartOptions,
    dir: &Path,
    edge_cert: CertPaths,
    (hello, echo): (SocketAddr, SocketAddr),
    secrets: &[String],
    admin_token: &str,
) -> GatewayConfig {
    let group = |name: &str| GroupSpec::new(name, None);
    let mut cfg = GatewayConfig {
        listen: ListenConfig {
            https: opts.https.clone(),
            http: None,
            tunnel: opts.tunnel.clone(),
            metrics: opts.metrics.clone(),
        },
        certificates: vec![edge_cert],
        groups: vec![group("dc-east"), group("dc-west")],
        connectors: CONNECTORS
            .iter()
            .zip(secrets)
            .map(|(n, s)| ConnectorSpec {
                tenant: None,
                revoked: false,
                id: (*n).into(),
                group: group_of(n).into(),
                secret_hash: secret::hash(s),
            })
            .collect(),
        apps: vec![demo_app("hello", hello), demo_app("echo", echo)],
        ..GatewayConfig::default()
    };
    cfg.runtime.access_log = opts.access_log;
    cfg.admin.listen = opts.admin.clone();
    cfg.admin.tokens.push(crate::config::gateway::AdminToken {
        name: "quickstart".into(),
        token_hash: secret::hash(admin_token),
        role: crate::config::gateway::AdminRole::Admin,
        tenant: None,
    });
    // A fresh store each run: the quickstart's catalog is its own.
    let store_dir = dir.join("data");
    let _ = std::fs::remove_dir_all(&store_dir);
    cfg.store.dir = Some(store_dir);
    cfg.runtime.threads = 2;
    cfg
}

/// A demo app at `<name>.switchyard.localhost`, served by `dc-east`, then `dc-west`.
fn demo_app(name: &str, origin: SocketAddr) -> AppSpec {
    AppSpec {
        tenant: None,
        name: name.into(),
        host: format!("{name}.{DOMAIN}"),
        path_prefix: None,
        internal_url: format!("http://{origin}"),
        groups: vec!["dc-east".into(), "dc-west".into()],
        preserve_host: false,
        backend_timeout_secs: None,
        origin_tls_verify: true,
        min_live_connectors: None,
        affinity: None,
    }
}

/// Starts the connectors and waits until each has its tunnel.
async fn start_connectors(
    tunnel: SocketAddr,
    ca_path: &Path,
    secrets: &[String],
) -> Result<Vec<ConnectorHandle>, String> {
    let mut out = Vec::new();
    for (n, s) in CONNECTORS.iter().zip(secrets) {
        let c = ConnectorConfig {
            id: (*n).into(),
            secret: Some(s.clone()),
            gateways: vec![format!("127.0.0.1:{}", tunnel.port())],
            server_name: Some("localhost".into()),
            ca_file: Some(ca_path.to_path_buf()),
            allow: vec!["127.0.0.1".into()],
            ..ConnectorConfig::new(n, vec![])
        };
        out.push(crate::run_connector(c).await.map_err(|e| e.to_string())?);
    }
    for c in &out {
        if !c.wait_tunnels(1, Duration::from_secs(10)).await {
            return Err(format!("connector {} did not connect", c.id()));
        }
    }
    Ok(out)
}

/// Starts, prints the instructions, and runs until Ctrl-C.
pub fn run_blocking(opts: QuickstartOptions) -> Result<(), String> {
    let qs = start(opts)?;
    println!("{}", qs.instructions());
    let wait = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    wait.block_on(async {
        let _ = tokio::signal::ctrl_c().await;
    });
    println!("stopping");
    qs.shutdown();
    Ok(())
}
