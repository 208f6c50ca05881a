//! The gateway's configuration file: listeners, certificates, limits, tunnel settings and the
//! catalog that seeds routing.
//!
//! `gateway.toml → GatewayConfig (serde, deny_unknown_fields) → stage() → Config` (see
//! [`super::staged`]).
//! Relative certificate paths are resolved against the config file's folder.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::catalog::{AppSpec, Catalog, ConnectorSpec, GroupSpec, TenantSpec};

/// The whole gateway configuration file.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    #[serde(default)]
    pub listen: ListenConfig,
    /// Edge certificates, chosen per SNI by their SANs.
    #[serde(default)]
    pub certificates: Vec<CertPaths>,
    #[serde(default)]
    pub tunnel: TunnelConfig,
    #[serde(default)]
    pub limits: LimitsConfig,
    #[serde(default)]
    pub runtime: RuntimeConfig,
    #[serde(default)]
    pub resilience: ResilienceConfig,
    #[serde(default)]
    pub admin: AdminConfig,
    #[serde(default)]
    pub store: StoreConfig,
    /// Default quotas of every tenant (`[tenant_quotas]`); a tenant's `quotas` override them.
    #[serde(default)]
    pub tenant_quotas: crate::catalog::quota::Limits,
    #[serde(default)]
    pub tenants: Vec<TenantSpec>,
    #[serde(default)]
    pub groups: Vec<GroupSpec>,
    #[serde(default)]
    pub connectors: Vec<ConnectorSpec>,
    #[serde(default)]
    pub apps: Vec<AppSpec>,
    /// Folder that relative paths are resolved against (the config file's folder).
    #[serde(skip)]
    pub base_dir: PathBuf,
}

/// Listener addresses. Port 0 picks a free port (tests); the handle reports the real one.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ListenConfig {
    /// HTTPS edge listener (h2 + http/1.1).
    #[serde(default = "default_https")]
    pub https: String,
    /// Optional plain-HTTP listener that redirects every request to HTTPS.
    #[serde(default)]
    pub http: Option<String>,
    /// Where connectors dial in (TLS).
    #[serde(default = "default_tunnel")]
    pub tunnel: String,
    /// Prometheus `/metrics`.
    #[serde(default = "default_metrics")]
    pub metrics: String,
}

impl Default for ListenConfig {
    fn default() -> Self {
        ListenConfig {
            https: default_https(),
            http: None,
            tunnel: default_tunnel(),
            metrics: default_metrics(),
        }
    }
}

fn default_https() -> String {
    "0.0.0.0:8443".into()
}
fn default_tunnel() -> String {
    "0.0.0.0:7443".into()
}
fn default_metrics() -> String {
    "127.0.0.1:9100".into()
}

/// A certificate chain and its key, PEM files.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CertPaths {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Served to clients that send no SNI or a name no certificate covers (at most one
    /// certificate); without a default those handshakes are refused.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub default: bool,
}

/// The tunnel listener: its certificate and keep-alive settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TunnelConfig {
    /// Certificate connectors verify. Defaults to the first edge certificate.
    #[serde(default)]
    pub cert: Option<PathBuf>,
    #[serde(default)]
    pub key: Option<PathBuf>,
    /// HTTP/2 PING interval on each tunnel.
    #[serde(default = "default_ping_interval")]
    pub ping_interval_ms: u64,
    /// A tunnel whose PING is not answered within this time is dropped.
    #[serde(default = "default_ping_timeout")]
    pub ping_timeout_ms: u64,
    /// Time a connector has to send its hello after TLS.
    #[serde(default = "default_hello_timeout")]
    pub hello_timeout_ms: u64,
}

impl Default for TunnelConfig {
    fn default() -> Self {
        TunnelConfig {
            cert: None,
            key: None,
            ping_interval_ms: default_ping_interval(),
            ping_timeout_ms: default_ping_timeout(),
            hello_timeout_ms: default_hello_timeout(),
        }
    }
}

fn default_ping_interval() -> u64 {
    1000
}
fn default_ping_timeout() -> u64 {
    2000
}
fn default_hello_timeout() -> u64 {
    10_000
}

/// Limits applied to every request before anything is forwarded.
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Sum of header names and values (bytes); larger → 431.
    #[serde(default = "default_max_header_bytes")]
    pub max_header_bytes: usize,
    /// Number of header fields; more → 431.
    #[serde(default = "default_max_header_count")]
    pub max_header_count: usize,
    /// Length of the request target; longer → 414.
    #[serde(default = "default_max_uri_bytes")]
    pub max_uri_bytes: usize,
    /// Idle keep-alive time of a downstream HTTP/1 connection, seconds.
    #[serde(default = "default_keepalive")]
    pub keepalive_secs: u64,
    /// Idle time after which a downstream HTTP/2 connection is closed, seconds.
    #[serde(default = "default_h2_idle")]
    pub h2_idle_secs: u64,
    /// Time to receive a whole HTTP/1 request head, seconds (at least 1); slower → 408.
    #[serde(default = "default_header_timeout")]
    pub header_timeout_secs: u64,
    /// Longest wait for the next byte of a request body, or for the client to accept more of
    /// a response body, seconds (at least 1); then the request ends.
    #[serde(default = "default_body_idle_timeout")]
    pub body_idle_timeout_secs: u64,
    /// Open downstream connections; beyond it new ones are closed at once. 0: no cap.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_header_bytes: default_max_header_bytes(),
            max_header_count: default_max_header_count(),
            max_uri_bytes: default_max_uri_bytes(),
            keepalive_secs: default_keepalive(),
            h2_idle_secs: default_h2_idle(),
            header_timeout_secs: default_header_timeout(),
            body_idle_timeout_secs: default_body_idle_timeout(),
            max_connections: default_max_connections(),
        }
    }
}

fn default_max_header_bytes() -> usize {
    64 * 1024
}
fn default_max_header_count() -> usize {
    100
}
fn default_max_uri_bytes() -> usize {
    8 * 1024
}
fn default_keepalive() -> u64 {
    60
}
fn default_h2_idle() -> u64 {
    300
}
fn default_header_timeout() -> u64 {
    10
}
fn default_body_idle_timeout() -> u64 {
    30
}
fn default_max_connections() -> usize {
    10_000
}

/// The admin API: listener, optional TLS, and the bearer tokens allowed to use it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Listener of the admin API; an empty string turns the API off.
    #[serde(default = "default_admin_listen")]
    pub listen: String,
    /// Serve the API over TLS with this certificate (PEM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
    /// Largest request body accepted (bytes); larger: 413.
    #[serde(default = "default_admin_body")]
    pub max_body_bytes: usize,
    /// Who may call the API.
    #[serde(default)]
    pub tokens: Vec<AdminToken>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            listen: default_admin_listen(),
            tls_cert: None,
            tls_key: None,
            max_body_bytes: default_admin_body(),
            tokens: Vec::new(),
        }
    }
}

fn default_admin_listen() -> String {
    "127.0.0.1:9901".into()
}
fn default_admin_body() -> usize {
    1024 * 1024
}

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AdminRole {
    /// Everything.
    Admin,
    /// Reads only.
    ReadOnly,
    /// Reads and writes the objects of one tenant only.
    Tenant,
}

/// One admin API token, stored hashed (`switchyard secret` prints a token and its hash).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AdminToken {
    /// A name for logs.
    pub name: String,
    /// `sha256:<hex>` of the token.
    pub token_hash: String,
    pub role: AdminRole,
    /// The tenant of a `tenant` token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}

/// Where the catalog is stored. Without a store, the catalog lives in this file and the admin
/// API is read-only; with one (`dir`: a file in that folder, or `etcd`: shared by several
/// gateways), the catalog in this file only seeds an empty store and the API owns it from
/// then on.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etcd: Option<EtcdConfig>,
}

/// `[store] etcd = { endpoints = [...], prefix = "/switchyard", ... }`: the catalog in etcd,
/// shared by every gateway configured with the same endpoints and prefix.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EtcdConfig {
    /// Client URLs of the etcd members (`http://host:2379`, or `https://` with `ca_file`).
    #[serde(default)]
    pub endpoints: Vec<String>,
    /// Every key of the catalog lives under this prefix.
    #[serde(default = "default_etcd_prefix")]
    pub prefix: String,
    /// User to sign in as, when etcd has authentication enabled (with `password_file`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// File holding the user's password (one line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// CA certificate (PEM) that signed the etcd servers' certificates (`https` endpoints).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
}

fn default_etcd_prefix() -> String {
    "/switchyard".into()
}

/// Retries, their budget, and passive ejection of failing connectors.
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ResilienceConfig {
    /// Attempts per request, the first included (1 turns retries off).
    #[serde(default = "default_max_attempts")]
    pub max_attempts: usize,
    /// Retries may add at most this share of extra requests (0.2 = 20 %).
    #[serde(default = "default_retry_ratio")]
    pub retry_budget_ratio: f64,
    /// Retries always allowed per second, whatever the ratio (so a quiet app can retry).
    #[serde(default = "default_retry_floor")]
    pub retry_budget_min_per_sec: u32,
    /// Request bodies up to this size (with a Content-Length) are read before sending so
    /// the request can be replayed on another connector when that is safe; 0 turns it off.
    #[serde(default = "default_retry_buffer")]
    pub retry_buffer_bytes: usize,
    /// Consecutive failures attributable to a connector that eject it.
    #[serde(default = "default_eject_after")]
    pub eject_after_failures: u32,
    /// First ejection period; it doubles while failures continue.
    #[serde(default = "default_eject_base")]
    pub eject_base_ms: u64,
    /// Longest ejection period.
    #[serde(default = "default_eject_max")]
    pub eject_max_ms: u64,
}

impl Default for ResilienceConfig {
    fn default() -> Self {
        ResilienceConfig {
            max_attempts: default_max_attempts(),
            retry_budget_ratio: default_retry_ratio(),
            retry_budget_min_per_sec: default_retry_floor(),
            retry_buffer_bytes: default_retry_buffer(),
            eject_after_failures: default_eject_after(),
            eject_base_ms: default_eject_base(),
            eject_max_ms: default_eject_max(),
        }
    }
}

fn default_max_attempts() -> usize {
    3
}
fn default_retry_ratio() -> f64 {
    0.2
}
fn default_retry_floor() -> u32 {
    10
}
fn default_retry_buffer() -> usize {
    64 * 1024
}
fn default_eject_after() -> u32 {
    3
}
fn default_eject_base() -> u64 {
    1000
}
fn default_control_threads() -> usize {
    2
}
fn default_eject_max() -> u64 {
    30_000
}

/// Process settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeConfig {
    /// Worker threads of the edge listener; 0 = one per CPU.
    #[serde(default)]
    pub threads: usize,
    /// Worker threads of the control runtime (tunnels, metrics, admin API); at least 1.
    #[serde(default = "default_control_threads")]
    pub control_threads: usize,
    /// How often the config file is checked for changes, milliseconds; 0 turns watching off
    /// (SIGHUP still reloads).
    #[serde(default = "default_watch")]
    pub watch_interval_ms: u64,
    /// Write one access-log line per request (target `switchyard::access`, level info).
    #[serde(default = "default_true")]
    pub access_log: bool,
    /// On SIGTERM, how long in-flight requests may run before the process exits, seconds.
    #[serde(default = "default_grace")]
    pub shutdown_grace_secs: u64,
    /// Unix socket through which a new process (`gateway -u`) takes the listening sockets
    /// over from this one.
    #[serde(default = "default_upgrade_sock")]
    pub upgrade_sock: String,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            threads: 0,
            control_threads: default_control_threads(),
            watch_interval_ms: default_watch(),
            access_log: true,
            shutdown_grace_secs: default_grace(),
            upgrade_sock: default_upgrade_sock(),
        }
    }
}

fn default_watch() -> u64 {
    1000
}
fn default_upgrade_sock() -> String {
    "/tmp/switchyard_upgrade.sock".into()
}
fn default_grace() -> u64 {
    5
}
fn default_true() -> bool {
    true
}

/// Errors reading a configuration file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{origin}: {message}")]
    Parse { origin: String, message: String },
    #[error("{origin}: invalid configuration:\n  {}", .errors.join("\n  "))]
    Invalid { origin: String, errors: Vec<String> },
}

impl ConfigError {
    /// Every individual problem, one per entry.
    pub fn messages(&self) -> Vec<String> {
        match self {
            ConfigError::Invalid { errors, .. } => errors.clone(),
            other => vec![other.to_string()],
        }
    }
}

impl GatewayConfig {
    /// Reads, parses and checks a file (no certificate is read: [`GatewayConfig::stage`]
    /// does the whole pipeline, certificates included).
    pub fn from_file(path: &Path) -> Result<GatewayConfig, ConfigError> {
        Self::parse_file(path)?.checked(&path.display().to_string())
    }

    /// Parses and checks TOML text; `origin` names it in errors.
    pub fn from_toml(
        text: &str,
        origin: &str,
        base_dir: PathBuf,
    ) -> Result<GatewayConfig, ConfigError> {
        Self::parse_toml(text, origin, base_dir)?.checked(origin)
    }

    fn checked(self, origin: &str) -> Result<GatewayConfig, ConfigError> {
        let errors = self.validate();
        if errors.is_empty() {
            Ok(self)
        } else {
            Err(ConfigError::Invalid {
                origin: origin.to_string(),
                errors,
            })
        }
    }

    /// The catalog part of the file.
    pub fn catalog(&self) -> Catalog {
        Catalog {
            tenants: self.tenants.clone(),
            enrollment_tokens: Vec::new(),
            groups: self.groups.clone(),
            connectors: self.connectors.clone(),
            apps: self.apps.clone(),
        }
    }

    /// A path from the file, resolved against the file's folder.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }

    /// Index in `certificates` of the one marked `default = true`, if any.
    pub fn default_certificate(&self) -> Option<usize> {
        self.certificates.iter().position(|c| c.default)
    }

    /// One error per certificate marked `default` after the first.
    pub(super) fn extra_default_certificates(&self) -> Vec<String> {
        let first = self.default_certificate();
        let marked = self
            .certificates
            .iter()
            .enumerate()
            .filter(|(_, c)| c.default);
        marked
            .skip(1)
            .map(|(i, _)| {
                format!(
                    "certificates[{i}].default: only one certificate can be the default \
                     (certificates[{}] already is)",
                    first.unwrap_or_default()
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_every_error_reported() {
        let ok = GatewayConfig::from_toml(
            "[[certificates]]\ncert = \"c.pem\"\nkey = \"k.pem\"\n",
            "t",
            PathBuf::from("/etc/sy"),
        )
        .expect("valid");
        assert_eq!(ok.listen.https, "0.0.0.0:8443");
        assert_eq!(ok.limits.max_header_bytes, 65536);
        assert_eq!(ok.limits.max_header_count, 100);
        assert_eq!(
            ok.resolve(Path::new("c.pem")),
            PathBuf::from("/etc/sy/c.pem")
        );

        let err = GatewayConfig::from_toml(
            "[listen]\nhttps = \"nope\"\ntunnel = \"1.2.3.4\"\n[tunnel]\nping_interval_ms = 0\n\
             [runtime]\ncontrol_threads = 0\n",
            "t",
            PathBuf::new(),
        )
        .expect_err("invalid");
        let msgs = err.messages();
        assert!(
            msgs.iter().any(|m| m.starts_with("listen.https")),
            "{msgs:?}"
        );
        assert!(
            msgs.iter().any(|m| m.starts_with("listen.tunnel")),
            "{msgs:?}"
        );
        assert!(
            msgs.iter().any(|m| m.starts_with("certificates")),
            "{msgs:?}"
        );
        assert!(
            msgs.iter()
                .any(|m| m.starts_with("tunnel.ping_interval_ms")),
            "{msgs:?}"
        );
        assert!(
            msgs.iter()
                .any(|m| m.starts_with("runtime.control_threads")),
            "{msgs:?}"
        );
    }

    #[test]
    fn slow_client_limits_have_defaults_and_refuse_zero_timeouts() {
        let ok = GatewayConfig::from_toml(
            "[[certificates]]\ncert = \"c.pem\"\nkey = \"k.pem\"\n[limits]\nmax_connections = 0\n",
            "t",
            PathBuf::new(),
        )
        .expect("valid");
        assert_eq!(ok.limits.header_timeout_secs, 10);
        assert_eq!(ok.limits.body_idle_timeout_secs, 30);
        assert_eq!(ok.limits.max_connections, 0, "0: no cap");
        let err = GatewayConfig::from_toml(
            "[[certificates]]\ncert = \"c.pem\"\nkey = \"k.pem\"\n\
             [limits]\nheader_timeout_secs = 0\nbody_idle_timeout_secs = 0\n",
            "t",
            PathBuf::new(),
        )
        .expect_err("zero timeouts");
        let msgs = err.messages();
        for key in [
            "limits.header_timeout_secs",
            "limits.body_idle_timeout_secs",
        ] {
            assert!(msgs.iter().any(|m| m.starts_with(key)), "{key}: {msgs:?}");
        }
    }

    #[test]
    fn unknown_fields_are_refused_with_location() {
        let err = GatewayConfig::from_toml("[listen]\nhttps_port = 1\n", "gw.toml", PathBuf::new())
            .expect_err("unknown field");
        let text = err.to_string();
        assert!(text.contains("gw.toml"), "{text}");
        assert!(text.contains("https_port"), "{text}");
    }

    #[test]
    fn at_most_one_default_certificate() {
        let certs = |defaults: &[bool]| -> String {
            defaults
                .iter()
                .enumerate()
                .map(|(i, d)| {
                    format!("[[certificates]]\ncert = \"c{i}.pem\"\nkey = \"k{i}.pem\"\ndefault = {d}\n")
                })
                .collect()
        };
        let none = GatewayConfig::from_toml(&certs(&[false, false]), "t", PathBuf::new())
            .expect("no default is valid");
        assert_eq!(none.default_certificate(), None);
        let one = GatewayConfig::from_toml(&certs(&[false, true]), "t", PathBuf::new())
            .expect("one default is valid");
        assert_eq!(one.default_certificate(), Some(1));

        let err = GatewayConfig::from_toml(&certs(&[false, true, true, true]), "t", PathBuf::new())
            .expect_err("three defaults");
        assert_eq!(
            err.messages(),
            [
                "certificates[2].default: only one certificate can be the default \
                 (certificates[1] already is)",
                "certificates[3].default: only one certificate can be the default \
                 (certificates[1] already is)",
            ]
        );
    }
}
