//! The gateway's staged configuration: `GatewayConfig` (the file) checked once, every listener
//! address parsed, every certificate loaded, the catalog moved in; what start-up, a reload and
//! `gateway --test` all build (`gateway.toml → GatewayConfig → stage() → Config`).
//!
//! Every problem is reported with its path (`listen.https: …`, `tunnel.cert: …`); a config
//! with any problem is never returned, so nothing is half-applied.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::gateway::{
    AdminConfig, AdminRole, AdminToken, CertPaths, ConfigError, GatewayConfig, LimitsConfig,
    ListenConfig, ResilienceConfig, RuntimeConfig, TunnelConfig,
};
use crate::catalog::etcd::EtcdSettings;
use crate::catalog::Catalog;
use crate::tls::{CertStore, LoadedCert};

mod store;

/// A gateway configuration that passed every check, ready to start or to apply.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the listeners bind.
    pub listen: Listeners,
    /// Edge certificates, in file order (chosen per SNI by their names).
    pub edge_certs: Vec<LoadedCert>,
    /// Index in `edge_certs` of the certificate served to clients without SNI or with a name
    /// nothing covers (`default = true`); `None` refuses them.
    pub default_cert: Option<usize>,
    /// The tunnel listener's certificate: its own, or the first edge certificate.
    pub tunnel_cert: LoadedCert,
    /// The admin API: listener, TLS, body limit and tokens.
    pub admin: Admin,
    /// The catalog store's folder, resolved against the config file's folder.
    pub store_dir: Option<PathBuf>,
    /// The catalog in etcd (never together with `store_dir`).
    pub store_etcd: Option<EtcdSettings>,
    /// Everything a reload can change without a restart, besides catalog and certificates.
    pub settings: Settings,
    /// Process settings, fixed at start.
    pub runtime: Runtime,
    /// The catalog written in the file (with a store, it only seeds an empty one).
    pub catalog: Catalog,
}

/// Parsed listener addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listeners {
    /// HTTPS edge listener.
    pub https: SocketAddr,
    /// Plain-HTTP listener that redirects to HTTPS.
    pub http: Option<SocketAddr>,
    /// Where connectors dial in.
    pub tunnel: SocketAddr,
    /// Prometheus `/metrics`.
    pub metrics: SocketAddr,
}

/// The admin API, staged.
#[derive(Debug, Clone)]
pub struct Admin {
    /// `None` when `admin.listen` is empty (the API is off).
    pub listen: Option<SocketAddr>,
    /// Certificate of the API's TLS listener, when it serves TLS.
    pub tls: Option<LoadedCert>,
    /// Largest request body accepted (bytes).
    pub max_body_bytes: usize,
    /// Who may call the API (checked: hashes well formed, tenant set on tenant tokens).
    pub tokens: Vec<AdminToken>,
}

/// The settings a reload applies to the next request or connection.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Request limits (`[limits]`).
    pub limits: LimitsConfig,
    /// Retries and ejection (`[resilience]`).
    pub resilience: ResilienceConfig,
    /// Tunnel keep-alive and hello timings (`[tunnel]`).
    pub tunnel: TunnelTimings,
    /// One access-log line per request (`runtime.access_log`).
    pub access_log: bool,
    /// Default quotas of every tenant (`[tenant_quotas]`).
    pub tenant_quotas: crate::catalog::quota::Limits,
}

/// Tunnel timings as durations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TunnelTimings {
    /// HTTP/2 PING interval on each tunnel.
    pub ping_interval: Duration,
    /// A tunnel whose PING is not answered within this time is dropped.
    pub ping_timeout: Duration,
    /// Time a connector has to send its hello after TLS.
    pub hello_timeout: Duration,
}

/// Process settings that only a restart changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Runtime {
    /// Edge worker threads; 0 = one per CPU.
    pub threads: usize,
    /// Control runtime worker threads (at least 1).
    pub control_threads: usize,
    /// How often the config file is checked for changes; `None`: not watched.
    pub watch_interval: Option<Duration>,
    /// How long in-flight requests may run after SIGTERM.
    pub shutdown_grace: Duration,
    /// Unix socket of the graceful upgrade hand-over.
    pub upgrade_sock: String,
}

impl GatewayConfig {
    /// Checks everything once (addresses, numbers, tokens), loads every certificate (edge,
    /// tunnel, admin TLS) and moves the catalog into a typed [`Config`]; or every problem,
    /// each with its path. The catalog itself is checked by `RoutingTable::compile`.
    pub fn stage(self) -> Result<Config, Vec<String>> {
        let mut errors = Vec::new();
        let (listen, admin_listen) = self.check(&mut errors);
        let edge_certs = self.load_edge_certs(&mut errors);
        let tunnel_cert = self.load_tunnel_cert(edge_certs.first(), &mut errors);
        let admin_tls = self.load_admin_tls(&mut errors);
        let store_etcd = self.stage_etcd(&mut errors);
        let (Some(listen), Some(admin_listen), Some(tunnel_cert), Some(admin_tls), true) = (
            listen,
            admin_listen,
            tunnel_cert,
            admin_tls,
            errors.is_empty(),
        ) else {
            return Err(errors);
        };
        let store_dir = self.store.dir.as_deref().map(|d| self.resolve(d));
        let default_cert = self.default_certificate();
        let settings = Settings::of(&self);
        let GatewayConfig {
            admin,
            tenants,
            groups,
            connectors,
            apps,
            runtime,
            ..
        } = self;
        Ok(Config {
            listen,
            edge_certs,
            default_cert,
            tunnel_cert,
            admin: Admin {
                listen: admin_listen,
                tls: admin_tls,
                max_body_bytes: admin.max_body_bytes,
                tokens: admin.tokens,
            },
            store_dir,
            store_etcd,
            settings,
            runtime: staged_runtime(runtime),
            catalog: Catalog {
                tenants,
                enrollment_tokens: Vec::new(),
                groups,
                connectors,
                apps,
            },
        })
    }

    /// The checks of [`GatewayConfig::stage`] that read no file: addresses, numbers, tokens.
    /// `stage()` runs the same checks itself, so a caller that stages never needs this.
    pub fn validate(&self) -> Vec<String> {
        let mut errors = Vec::new();
        self.check(&mut errors);
        errors
    }

    /// Every check that reads no file; the parsed listener and admin addresses come back
    /// (`None` where one is bad).
    fn check(&self, errors: &mut Vec<String>) -> (Option<Listeners>, Option<Option<SocketAddr>>) {
        let listen = listeners(&self.listen, errors);
        let admin_listen = admin_listen(&self.admin, errors);
        if self.certificates.is_empty() {
            errors.push("certificates: at least one edge certificate is required".into());
        }
        errors.extend(self.extra_default_certificates());
        if self.tunnel.cert.is_some() != self.tunnel.key.is_some() {
            errors.push("tunnel: cert and key go together".into());
        }
        if self.admin.tls_cert.is_some() != self.admin.tls_key.is_some() {
            errors.push("admin: tls_cert and tls_key go together".into());
        }
        check_numbers(self, errors);
        check_tokens(&self.admin.tokens, errors);
        store::check(&self.store, errors);
        (listen, admin_listen)
    }

    fn load_edge_certs(&self, errors: &mut Vec<String>) -> Vec<LoadedCert> {
        let mut loaded = Vec::new();
        for (i, pair) in self.certificates.iter().enumerate() {
            match self.load_pair(pair) {
                Ok(c) => loaded.push(c),
                Err(e) => errors.push(format!("certificates[{i}]: {e}")),
            }
        }
        loaded
    }

    /// The tunnel's own certificate, or the first edge one (already loaded, not read again).
    fn load_tunnel_cert(
        &self,
        first_edge: Option<&LoadedCert>,
        errors: &mut Vec<String>,
    ) -> Option<LoadedCert> {
        let (cert, key) = (&self.tunnel.cert, &self.tunnel.key);
        match self.load_optional_pair(cert, key, "tunnel.cert", errors)? {
            Some(loaded) => Some(loaded),
            None => first_edge.cloned(),
        }
    }

    /// `Some(None)`: no admin TLS; `None`: a problem (reported).
    fn load_admin_tls(&self, errors: &mut Vec<String>) -> Option<Option<LoadedCert>> {
        let (cert, key) = (&self.admin.tls_cert, &self.admin.tls_key);
        self.load_optional_pair(cert, key, "admin.tls_cert", errors)
    }

    /// A certificate given by an optional cert + key pair: `Some(Some(_))` loaded, `Some(None)`
    /// not configured, `None` a problem (a load error is reported under `label`; a half-given
    /// pair is reported by `check`).
    fn load_optional_pair(
        &self,
        cert: &Option<PathBuf>,
        key: &Option<PathBuf>,
        label: &str,
        errors: &mut Vec<String>,
    ) -> Option<Option<LoadedCert>> {
        match (cert, key) {
            (Some(cert), Some(key)) => {
                let pair = CertPaths {
                    cert: cert.clone(),
                    key: key.clone(),
                    default: false,
                };
                self.load_pair(&pair)
                    .map(Some)
                    .map_err(|e| errors.push(format!("{label}: {e}")))
                    .ok()
            }
            (None, None) => Some(None),
            _ => None,
        }
    }

    fn load_pair(&self, pair: &CertPaths) -> Result<LoadedCert, crate::tls::TlsError> {
        crate::tls::load_cert_pair(&self.resolve(&pair.cert), &self.resolve(&pair.key))
    }

    /// Parses the file without checking it (no validation: [`GatewayConfig::stage`] does
    /// that once); relative paths resolve against the file's folder.
    pub fn parse_file(path: &Path) -> Result<GatewayConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let base = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Self::parse_toml(&text, &path.display().to_string(), base)
    }

    /// Parses TOML text without checking it; `origin` names the text in errors.
    pub fn parse_toml(
        text: &str,
        origin: &str,
        base_dir: PathBuf,
    ) -> Result<GatewayConfig, ConfigError> {
        let mut cfg: GatewayConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            origin: origin.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        cfg.base_dir = base_dir;
        Ok(cfg)
    }
}

impl Config {
    /// Reads, parses and stages a config file: the whole pipeline in one call.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let origin = path.display().to_string();
        GatewayConfig::parse_file(path)?
            .stage()
            .map_err(|errors| ConfigError::Invalid { origin, errors })
    }

    /// The edge certificates as the store the SNI resolver serves from.
    pub fn cert_store(&self) -> CertStore {
        CertStore::with_default(self.edge_certs.clone(), self.default_cert)
    }
}

fn parse_addr(field: &str, value: &str, errors: &mut Vec<String>) -> Option<SocketAddr> {
    let parsed = value.parse::<SocketAddr>().ok();
    if parsed.is_none() {
        errors.push(format!("{field}: \"{value}\" is not an ip:port address"));
    }
    parsed
}

fn listeners(l: &ListenConfig, errors: &mut Vec<String>) -> Option<Listeners> {
    let https = parse_addr("listen.https", &l.https, errors);
    let tunnel = parse_addr("listen.tunnel", &l.tunnel, errors);
    let metrics = parse_addr("listen.metrics", &l.metrics, errors);
    let http = match &l.http {
        Some(a) => Some(parse_addr("listen.http", a, errors)?),
        None => None,
    };
    Some(Listeners {
        https: https?,
        http,
        tunnel: tunnel?,
        metrics: metrics?,
    })
}

/// `Some(None)`: the API is off; `None`: a bad address (reported).
fn admin_listen(a: &AdminConfig, errors: &mut Vec<String>) -> Option<Option<SocketAddr>> {
    match a.listen.as_str() {
        "" => Some(None),
        addr => parse_addr("admin.listen", addr, errors).map(Some),
    }
}

fn check_numbers(cfg: &GatewayConfig, errors: &mut Vec<String>) {
    let t = &cfg.tunnel;
    for (name, value) in [
        ("tunnel.ping_interval_ms", t.ping_interval_ms),
        ("tunnel.ping_timeout_ms", t.ping_timeout_ms),
        ("tunnel.hello_timeout_ms", t.hello_timeout_ms),
    ] {
        if value == 0 {
            errors.push(format!("{name}: must be > 0"));
        }
    }
    if cfg.runtime.control_threads == 0 {
        errors.push("runtime.control_threads: must be at least 1".into());
    }
    check_resilience(&cfg.resilience, errors);
    check_limits(&cfg.limits, errors);
}

fn check_resilience(r: &ResilienceConfig, errors: &mut Vec<String>) {
    if r.max_attempts == 0 || r.max_attempts > 10 {
        errors.push("resilience.max_attempts: must be between 1 and 10".into());
    }
    if !(0.0..=1.0).contains(&r.retry_budget_ratio) {
        errors.push("resilience.retry_budget_ratio: must be between 0 and 1".into());
    }
    if r.retry_buffer_bytes > 16 * 1024 * 1024 {
        errors.push("resilience.retry_buffer_bytes: at most 16 MiB".into());
    }
    if r.eject_after_failures == 0 {
        errors.push("resilience.eject_after_failures: must be at least 1".into());
    }
    if r.eject_base_ms == 0 || r.eject_max_ms < r.eject_base_ms {
        errors
            .push("resilience: eject_base_ms must be > 0 and eject_max_ms >= eject_base_ms".into());
    }
}

fn check_limits(l: &LimitsConfig, errors: &mut Vec<String>) {
    if l.max_header_bytes < 1024 {
        errors.push("limits.max_header_bytes: must be at least 1024".into());
    }
    if l.max_header_count < 8 {
        errors.push("limits.max_header_count: must be at least 8".into());
    }
    if l.max_uri_bytes < 256 {
        errors.push("limits.max_uri_bytes: must be at least 256".into());
    }
    if l.header_timeout_secs == 0 {
        errors.push("limits.header_timeout_secs: must be at least 1".into());
    }
    if l.body_idle_timeout_secs == 0 {
        errors.push("limits.body_idle_timeout_secs: must be at least 1".into());
    }
}

fn check_tokens(tokens: &[AdminToken], errors: &mut Vec<String>) {
    for (i, t) in tokens.iter().enumerate() {
        if let Err(e) = crate::catalog::secret::validate_hash(&t.token_hash) {
            errors.push(format!("admin.tokens[{i}].token_hash: {e}"));
        }
        match (t.role, &t.tenant) {
            (AdminRole::Tenant, None) => errors.push(format!(
                "admin.tokens[{i}].tenant: a tenant token names its tenant"
            )),
            (AdminRole::Admin | AdminRole::ReadOnly, Some(_)) => errors.push(format!(
                "admin.tokens[{i}].tenant: only a `tenant` token has a tenant"
            )),
            _ => {}
        }
    }
}

impl Settings {
    /// The reloadable settings written in a file (numbers are checked by `stage()`).
    pub fn of(cfg: &GatewayConfig) -> Settings {
        Settings {
            limits: cfg.limits,
            resilience: cfg.resilience,
            tunnel: timings(&cfg.tunnel),
            access_log: cfg.runtime.access_log,
            tenant_quotas: cfg.tenant_quotas,
        }
    }
}

fn timings(t: &TunnelConfig) -> TunnelTimings {
    TunnelTimings {
        ping_interval: Duration::from_millis(t.ping_interval_ms),
        ping_timeout: Duration::from_millis(t.ping_timeout_ms),
        hello_timeout: Duration::from_millis(t.hello_timeout_ms),
    }
}

fn staged_runtime(r: RuntimeConfig) -> Runtime {
    Runtime {
        threads: r.threads,
        control_threads: r.control_threads,
        watch_interval: (r.watch_interval_ms > 0)
            .then(|| Duration::from_millis(r.watch_interval_ms)),
        shutdown_grace: Duration::from_secs(r.shutdown_grace_secs),
        upgrade_sock: r.upgrade_sock,
    }
}

/// Every setting that only a restart applies, by its file name, in the order
/// [`Config::restart_needed`] reports them (the labels of the restart-needed gauge).
pub const RESTART_ONLY: [&str; 17] = [
    "listen.https",
    "listen.http",
    "listen.tunnel",
    "listen.metrics",
    "tunnel.cert",
    "admin.listen",
    "admin.tls_cert",
    "admin.max_body_bytes",
    "store.dir",
    "store.etcd",
    "runtime.threads",
    "runtime.control_threads",
    "runtime.watch_interval_ms",
    "runtime.shutdown_grace_secs",
    "runtime.upgrade_sock",
    "limits.h2_idle_secs",
    "limits.max_connections",
];

impl Config {
    /// The settings that differ between `self` (in service) and `new` and that only a restart
    /// applies, by their file names. Everything else (catalog, edge certificates, admin
    /// tokens, [`Settings`]) a reload applies.
    pub fn restart_needed(&self, new: &Config) -> Vec<&'static str> {
        RESTART_ONLY
            .into_iter()
            .zip(self.restart_only_differs(new))
            .filter_map(|(name, differs)| differs.then_some(name))
            .collect()
    }

    /// For each of [`RESTART_ONLY`], in order: whether `new` changes it. Certificates are
    /// compared by content: a renewed file at the same path is a change.
    fn restart_only_differs(&self, new: &Config) -> [bool; RESTART_ONLY.len()] {
        let (a, b) = (&self.listen, &new.listen);
        let (ra, rb) = (&self.runtime, &new.runtime);
        let (la, lb) = (&self.settings.limits, &new.settings.limits);
        [
            a.https != b.https,
            a.http != b.http,
            a.tunnel != b.tunnel,
            a.metrics != b.metrics,
            !same_cert(&self.tunnel_cert, &new.tunnel_cert),
            self.admin.listen != new.admin.listen,
            !same_tls(&self.admin.tls, &new.admin.tls),
            self.admin.max_body_bytes != new.admin.max_body_bytes,
            self.store_dir != new.store_dir,
            self.store_etcd != new.store_etcd,
            ra.threads != rb.threads,
            ra.control_threads != rb.control_threads,
            ra.watch_interval != rb.watch_interval,
            ra.shutdown_grace != rb.shutdown_grace,
            ra.upgrade_sock != rb.upgrade_sock,
            la.h2_idle_secs != lb.h2_idle_secs,
            la.max_connections != lb.max_connections,
        ]
    }
}

/// Same certificate chain (a renewed file at the same path is a different certificate).
fn same_cert(a: &LoadedCert, b: &LoadedCert) -> bool {
    a.certified_key.cert == b.certified_key.cert
}

fn same_tls(a: &Option<LoadedCert>, b: &Option<LoadedCert>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => same_cert(a, b),
        (None, None) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests;
