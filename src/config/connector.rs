//! The connector's config file (TOML) → validated [`ConnectorConfig`].
//!
//! ```toml
//! id = "east-1"
//! secret_file = "/etc/switchyard/east-1.secret"
//! gateways = ["gw1.example.com:7443", "gw2.example.com:7443"]
//! allow = ["10.0.0.0/8", "*.corp.internal:443"]
//! ```
//!
//! Credentials: exactly one of `secret`, `secret_file`, or `enrollment_token` together with
//! `secret_file`. With a token the connector enrolls itself on its first start (the gateway
//! registers it in the `default` group) and stores the secret it receives in `secret_file`;
//! once that file holds a secret, the token is no longer used.

use std::path::{Path, PathBuf};

use rustls_pki_types::ServerName;

mod staged;

pub use staged::{GatewayTarget, StagedConnector};

/// Everything a connector needs to know, as read from its config file.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorConfig {
    /// The connector's id, as registered in the gateway's catalog.
    pub id: String,
    /// The connector's secret; exactly one of `secret`, `secret_file`, or
    /// `enrollment_token` + `secret_file` is set.
    #[serde(default)]
    pub secret: Option<String>,
    /// A file holding the secret (surrounding whitespace is ignored). With
    /// `enrollment_token`, where the secret received at enrollment is written (mode 0600);
    /// while it is missing or empty the connector enrolls.
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// A token from the gateway's operator with which the connector registers itself (into
    /// the `default` group) when `secret_file` holds no secret yet.
    #[serde(default)]
    pub enrollment_token: Option<String>,
    /// `host:port` of every gateway tunnel listener to dial (at least one).
    pub gateways: Vec<String>,
    /// TLS name to verify on the gateways; default: the host part of each gateway address.
    #[serde(default)]
    pub server_name: Option<String>,
    /// PEM CA that signs the gateways' certificates; default: the webpki roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Extra PEM CAs trusted for https origins, on top of the webpki roots.
    #[serde(default)]
    pub origin_ca_file: Option<PathBuf>,
    /// Internal destinations this connector may reach; required and non-empty (see
    /// [`crate::net::allow::AllowList`] for the forms).
    pub allow: Vec<String>,
    /// Tunnels kept open to each gateway (default 2, so that one can fail or be replaced
    /// while another carries the traffic); each is its own dial loop.
    #[serde(default = "default_tunnels_per_gateway")]
    pub tunnels_per_gateway: usize,
    /// First re-dial delay bound, in milliseconds.
    #[serde(default = "default_reconnect_initial_ms")]
    pub reconnect_initial_ms: u64,
    /// Largest re-dial delay, in milliseconds.
    #[serde(default = "default_reconnect_max_ms")]
    pub reconnect_max_ms: u64,
    /// Timeout for connecting to an origin, in milliseconds.
    #[serde(default = "default_origin_connect_timeout_ms")]
    pub origin_connect_timeout_ms: u64,
    /// How long a graceful shutdown waits for in-flight requests, in milliseconds.
    #[serde(default = "default_drain_timeout_ms")]
    pub drain_timeout_ms: u64,
    /// Worker threads of the connector process; 0 = one per CPU.
    #[serde(default)]
    pub threads: usize,
}

/// Empty id, secret, gateways and allow-list (all required, so the result does not
/// validate as is); the documented defaults for everything else. For
/// `ConnectorConfig { id, secret, gateways, allow, ..Default::default() }`.
impl Default for ConnectorConfig {
    fn default() -> Self {
        ConnectorConfig {
            id: String::new(),
            secret: None,
            secret_file: None,
            enrollment_token: None,
            gateways: Vec::new(),
            server_name: None,
            ca_file: None,
            origin_ca_file: None,
            allow: Vec::new(),
            tunnels_per_gateway: default_tunnels_per_gateway(),
            reconnect_initial_ms: default_reconnect_initial_ms(),
            reconnect_max_ms: default_reconnect_max_ms(),
            origin_connect_timeout_ms: default_origin_connect_timeout_ms(),
            drain_timeout_ms: default_drain_timeout_ms(),
            threads: 0,
        }
    }
}

fn default_tunnels_per_gateway() -> usize {
    2
}
fn default_reconnect_initial_ms() -> u64 {
    250
}
fn default_reconnect_max_ms() -> u64 {
    30_000
}
fn default_origin_connect_timeout_ms() -> u64 {
    5_000
}
fn default_drain_timeout_ms() -> u64 {
    30_000
}

/// Most tunnels one connector keeps to one gateway; more only wastes gateway resources.
const MAX_TUNNELS_PER_GATEWAY: usize = 64;

/// Why a connector config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The config file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The text is not valid TOML for this config (the message has line and column).
    #[error("{origin}: {message}")]
    Parse {
        /// Where the text came from (a file name).
        origin: String,
        /// What the TOML parser reported.
        message: String,
    },
    /// The config parsed but is not valid; every problem is listed.
    #[error("{origin}: invalid connector config:\n{}", errors.join("\n"))]
    Invalid {
        /// Where the text came from (a file name).
        origin: String,
        /// Every problem, each with its field path.
        errors: Vec<String>,
    },
}

impl ConnectorConfig {
    /// A config with this id and allow-list and the documented defaults; set a secret and
    /// the gateways before use.
    pub fn new(id: &str, allow: Vec<String>) -> ConnectorConfig {
        ConnectorConfig {
            id: id.to_owned(),
            allow,
            ..ConnectorConfig::default()
        }
    }

    /// Reads, parses and checks a config file (no file it names is read:
    /// [`ConnectorConfig::stage`] loads those).
    pub fn from_file(path: &Path) -> Result<ConnectorConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        ConnectorConfig::from_toml(&text, &path.display().to_string())
    }

    /// Reads, parses and stages a config file: the whole pipeline in one call.
    pub fn stage_file(path: &Path) -> Result<StagedConnector, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let origin = path.display().to_string();
        ConnectorConfig::parse_toml(&text, &origin)?
            .stage()
            .map_err(|errors| ConfigError::Invalid { origin, errors })
    }

    /// Parses TOML text without checking it; `origin` names the text in errors.
    pub fn parse_toml(text: &str, origin: &str) -> Result<ConnectorConfig, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            origin: origin.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })
    }

    /// Parses and checks TOML text; `origin` names the text in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<ConnectorConfig, ConfigError> {
        let cfg = ConnectorConfig::parse_toml(text, origin)?;
        cfg.validate().map_err(|errors| ConfigError::Invalid {
            origin: origin.to_owned(),
            errors,
        })?;
        Ok(cfg)
    }
}

impl ConnectorConfig {
    /// The problems of `secret` / `secret_file` / `enrollment_token`.
    fn credential_errors(&self) -> Vec<String> {
        let mut errors = Vec::new();
        match (&self.secret, &self.secret_file, &self.enrollment_token) {
            (None, None, None) => errors.push(
                "secret: set one of secret, secret_file, or enrollment_token with secret_file"
                    .to_owned(),
            ),
            (Some(_), Some(_), _) => {
                errors.push("secret_file: set only one of secret or secret_file".to_owned())
            }
            (Some(s), None, None) if s.trim().is_empty() => {
                errors.push("secret: must not be empty".to_owned())
            }
            (None, None, Some(_)) => errors.push(
                "secret_file: enrollment_token needs secret_file (where the secret received \
                 at enrollment is stored)"
                    .to_owned(),
            ),
            _ => {}
        }
        if let Some(token) = &self.enrollment_token {
            if self.secret.is_some() {
                errors.push(
                    "enrollment_token: set either secret or enrollment_token, not both".to_owned(),
                );
            }
            if token.trim().is_empty() {
                errors.push("enrollment_token: must not be empty".to_owned());
            }
        }
        errors
    }
}

/// Splits `host:port` or `[v6]:port`; the host comes back without brackets.
pub(crate) fn split_host_port(addr: &str) -> Option<(&str, u16)> {
    let (host, port) = addr.rsplit_once(':')?;
    let host = match host.strip_prefix('[') {
        Some(inner) => inner.strip_suffix(']')?,
        None if host.contains(':') => return None,
        None => host,
    };
    let port = port.parse::<u16>().ok().filter(|p| *p != 0)?;
    (!host.is_empty()).then_some((host, port))
}

/// The TLS name for `host` (a DNS name or an IP address), if it is one.
pub(crate) fn server_name(host: &str) -> Option<ServerName<'static>> {
    ServerName::try_from(host.to_owned()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
        id = "east-1"
        secret = "s3cret"
        gateways = ["gw.example.com:7443", "[::1]:7443"]
        allow = ["10.0.0.0/8", "*.corp.internal:443"]
    "#;

    #[test]
    fn minimal_config_gets_defaults() {
        let cfg = ConnectorConfig::from_toml(GOOD, "test.toml").expect("valid");
        assert_eq!(cfg.tunnels_per_gateway, 2);
        assert_eq!(cfg.reconnect_initial_ms, 250);
        assert_eq!(cfg.reconnect_max_ms, 30_000);
        assert_eq!(cfg.origin_connect_timeout_ms, 5_000);
        assert_eq!(cfg.drain_timeout_ms, 30_000);
        assert!(cfg.server_name.is_none() && cfg.ca_file.is_none());
    }

    #[test]
    fn constructor_defaults_match_the_file_defaults() {
        let mut cfg = ConnectorConfig::new("east-1", vec!["10.0.0.0/8".into()]);
        cfg.secret = Some("s".into());
        cfg.gateways = vec!["gw:7443".into()];
        cfg.validate().expect("valid");
        let parsed = ConnectorConfig::from_toml(
            "id = \"east-1\"\nsecret = \"s\"\ngateways = [\"gw:7443\"]\nallow = [\"10.0.0.0/8\"]",
            "t",
        )
        .expect("valid");
        assert_eq!(format!("{cfg:?}"), format!("{parsed:?}"));
    }

    #[test]
    fn every_problem_is_reported_together() {
        let text = r#"
            id = ""
            secret = "a"
            secret_file = "/x"
            gateways = []
            allow = ["10.0.0.0/8", "10.0.0.0/33", "*"]
            tunnels_per_gateway = 0
            reconnect_initial_ms = 500
            reconnect_max_ms = 100
        "#;
        let err = ConnectorConfig::from_toml(text, "bad.toml").expect_err("invalid");
        let ConfigError::Invalid { origin, errors } = &err else {
            panic!("expected Invalid, got {err}");
        };
        assert_eq!(origin, "bad.toml");
        let want = [
            "id: must not be empty",
            "secret_file: set only one of secret or secret_file",
            "gateways: list at least one",
            r#"allow[1]: "10.0.0.0/33" is not a valid CIDR"#,
            r#"allow[2]: "*" allows everything"#,
            "tunnels_per_gateway: 0",
            "reconnect_max_ms: 100 is less than reconnect_initial_ms (500)",
        ];
        for w in want {
            assert!(
                errors.iter().any(|e| e.starts_with(w)),
                "missing {w:?} in {errors:#?}"
            );
        }
        assert_eq!(errors.len(), want.len(), "{errors:#?}");
        let shown = err.to_string();
        assert_eq!(shown.lines().count(), 1 + want.len(), "{shown}");
    }

    #[test]
    fn missing_secret_and_empty_allow_list_are_refused() {
        let text = r#"
            id = "east-1"
            gateways = ["gw:7443", "no-port", "gw:0"]
            allow = []
        "#;
        let err = ConnectorConfig::from_toml(text, "t").expect_err("invalid");
        let ConfigError::Invalid { errors, .. } = err else {
            panic!("expected Invalid");
        };
        assert!(
            errors.iter().any(|e| e.starts_with("secret:")),
            "{errors:?}"
        );
        assert!(errors.iter().any(|e| e.starts_with("allow:")), "{errors:?}");
        assert!(
            errors.iter().any(|e| e.starts_with("gateways[1]:")),
            "{errors:?}"
        );
        assert!(
            errors.iter().any(|e| e.starts_with("gateways[2]:")),
            "{errors:?}"
        );
        assert_eq!(errors.len(), 4, "{errors:?}");
    }

    #[test]
    fn credential_combinations() {
        let base = "id = \"e\"\ngateways = [\"gw:7443\"]\nallow = [\"10.0.0.0/8\"]\n";
        let ok = [
            "secret = \"s\"",
            "secret_file = \"/s\"",
            "secret_file = \"/s\"\nenrollment_token = \"t\"",
        ];
        for extra in ok {
            let cfg = ConnectorConfig::from_toml(&format!("{base}{extra}"), "t");
            assert!(cfg.is_ok(), "{extra}: {cfg:?}");
        }
        let bad: [(&str, &[&str]); 6] = [
            (
                "",
                &["secret: set one of secret, secret_file, or enrollment_token"],
            ),
            (
                "enrollment_token = \"t\"",
                &["secret_file: enrollment_token needs secret_file"],
            ),
            (
                "secret = \"s\"\nenrollment_token = \"t\"",
                &["enrollment_token: set either secret or enrollment_token"],
            ),
            (
                "secret = \"s\"\nsecret_file = \"/s\"\nenrollment_token = \"t\"",
                &[
                    "secret_file: set only one of secret or secret_file",
                    "enrollment_token: set either secret or enrollment_token",
                ],
            ),
            (
                "secret_file = \"/s\"\nenrollment_token = \" \"",
                &["enrollment_token: must not be empty"],
            ),
            ("secret = \"\"", &["secret: must not be empty"]),
        ];
        for (extra, want) in bad {
            let err = ConnectorConfig::from_toml(&format!("{base}{extra}"), "t").expect_err(extra);
            let ConfigError::Invalid { errors, .. } = err else {
                panic!("{extra}: expected Invalid, got {err}");
            };
            assert_eq!(errors.len(), want.len(), "{extra}: {errors:?}");
            for (got, w) in errors.iter().zip(want) {
                assert!(got.starts_with(w), "{extra}: {got:?} is not {w:?}");
            }
        }
    }

    #[test]
    fn parse_errors_carry_position_and_unknown_fields_are_refused() {
        let err = ConnectorConfig::from_toml("id = \"x\"\nbogus = 1\n", "f.toml")
            .expect_err("unknown field");
        let ConfigError::Parse { message, .. } = &err else {
            panic!("expected Parse, got {err}");
        };
        assert!(message.contains("bogus"), "{message}");
        assert!(message.contains("line 2"), "{message}");
    }

    #[test]
    fn unreadable_file_is_a_read_error() {
        let err = ConnectorConfig::from_file(Path::new("/nonexistent/switchyard.toml"))
            .expect_err("missing file");
        assert!(matches!(err, ConfigError::Read { .. }), "{err}");
    }

    #[test]
    fn host_port_split() {
        assert_eq!(
            split_host_port("gw.example.com:7443"),
            Some(("gw.example.com", 7443))
        );
        assert_eq!(split_host_port("[::1]:7443"), Some(("::1", 7443)));
        assert_eq!(split_host_port("::1:7443"), None);
        assert_eq!(split_host_port("gw"), None);
        assert_eq!(split_host_port(":7443"), None);
    }
}
