//! The catalog: the desired state (groups, connectors, apps) as the operator wrote it.
//!
//! The catalog is plain data. `routing::RoutingTable::compile` validates it and turns it into
//! the lookup structure the request path uses.

pub mod enroll;
mod error;
pub mod etcd;
pub mod migrate;
pub mod quota;
pub mod scope;
pub mod secret;
pub mod store;
pub mod writer;

pub use error::CatalogError;

use serde::{Deserialize, Serialize};

/// The whole desired state of one gateway.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    /// Companies served by this gateway; objects with a `tenant` belong to one of them.
    #[serde(default)]
    pub tenants: Vec<TenantSpec>,
    /// Connector groups: the unit of placement, high availability and load balancing.
    #[serde(default)]
    pub groups: Vec<GroupSpec>,
    /// Connectors and the group each belongs to.
    #[serde(default)]
    pub connectors: Vec<ConnectorSpec>,
    /// Published apps.
    #[serde(default)]
    pub apps: Vec<AppSpec>,
    /// One-time tokens with which a new connector registers itself into the `default` group.
    #[serde(default)]
    pub enrollment_tokens: Vec<EnrollmentSpec>,
}

/// A company served by the gateway: its own scope of names, the domains it may publish
/// under, and how much it may create.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TenantSpec {
    pub name: String,
    /// DNS names the tenant owns: each covers itself and every name below it. The tenant's
    /// apps publish only hosts inside them; no other app publishes a host inside them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub domains: Vec<String>,
    /// Overrides of the gateway's default quotas (`[tenant_quotas]`).
    #[serde(default, skip_serializing_if = "quota::Quotas::is_empty")]
    pub quotas: quota::Quotas,
}

impl TenantSpec {
    /// A tenant with no domains and the default quotas.
    pub fn named(name: &str) -> TenantSpec {
        TenantSpec {
            name: name.to_owned(),
            ..TenantSpec::default()
        }
    }
}

/// An enrollment token, stored hashed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollmentSpec {
    pub id: String,
    /// `sha256:<hex>` of the token.
    pub token_hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Unix seconds after which the token is refused.
    pub expires_at: u64,
}

/// How a group spreads requests over its live connectors.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BalancePolicy {
    /// Power of two choices on in-flight requests.
    #[default]
    P2c,
    /// Strict rotation.
    RoundRobin,
}

/// A named set of connectors.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    pub name: String,
    #[serde(default)]
    pub balance: BalancePolicy,
    /// The tenant owning the group (none: the operator's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// An operator group that tenants' apps may put in their chains (as `/name`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shared: bool,
}

impl GroupSpec {
    /// A group of `tenant`'s scope with the default balance policy.
    pub fn new(name: &str, tenant: Option<&str>) -> GroupSpec {
        GroupSpec {
            name: name.to_owned(),
            balance: BalancePolicy::default(),
            tenant: tenant.map(str::to_owned),
            shared: false,
        }
    }
}

/// One connector agent: its id, its group and the hash of its secret.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorSpec {
    pub id: String,
    pub group: String,
    /// `sha256:<64 hex digits>` of the connector's secret (see `switchyard secret`).
    pub secret_hash: String,
    /// The tenant owning the connector (none: the operator's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// A revoked connector is refused and its tunnels are closed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub revoked: bool,
}

/// One published app.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AppSpec {
    pub name: String,
    /// The tenant owning the app (none: the operator's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// External host: `wiki.example.com` or `*.apps.example.com`.
    pub host: String,
    /// Optional path prefix (`/api`); the longest matching prefix wins.
    #[serde(default)]
    pub path_prefix: Option<String>,
    /// Where the connector sends the request: `http://10.1.2.3:8080` or `https://…`.
    pub internal_url: String,
    /// Ordered connector groups: primary first, then backups.
    pub groups: Vec<String>,
    /// Send the external Host header to the origin instead of the internal one.
    #[serde(default)]
    pub preserve_host: bool,
    /// How long to wait for the origin's response headers, in seconds (default 85).
    #[serde(default)]
    pub backend_timeout_secs: Option<f64>,
    /// Verify the certificate of an `https://` origin (default true).
    #[serde(default = "default_true")]
    pub origin_tls_verify: bool,
    /// A group counts as up for this app only with at least this many live connectors
    /// (default 1); otherwise the next group of the chain serves.
    #[serde(default)]
    pub min_live_connectors: Option<u32>,
    /// Keep each user on one connector while it is live (session affinity).
    #[serde(default)]
    pub affinity: Option<AffinitySpec>,
}

/// Where the affinity key of a request comes from: exactly one of the two.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AffinitySpec {
    /// A cookie the gateway sets when the request has none (`Secure; HttpOnly`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie: Option<String>,
    /// A request header the client sends (for example a user or tenant id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
}

impl AppSpec {
    /// An app with default options.
    pub fn new(name: &str, host: &str, internal_url: &str, groups: &[&str]) -> AppSpec {
        AppSpec {
            tenant: None,
            name: name.into(),
            host: host.into(),
            path_prefix: None,
            internal_url: internal_url.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            preserve_host: false,
            backend_timeout_secs: None,
            origin_tls_verify: true,
            min_live_connectors: None,
            affinity: None,
        }
    }
}

fn default_true() -> bool {
    true
}

/// Default time to wait for an origin's response headers.
pub const DEFAULT_BACKEND_TIMEOUT_SECS: f64 = 85.0;

/// True when `name` is `domain` or a name below it.
pub fn within_domain(name: &str, domain: &str) -> bool {
    name == domain
        || name
            .strip_suffix(domain)
            .is_some_and(|rest| rest.ends_with('.'))
}
