//! The routing table: the catalog validated and compiled into the immutable structure that
//! maps every request's host and path to an app.
//!
//! `Catalog → RoutingTable::compile → RoutingTable::lookup(host, path) → Route`.
//!
//! # Matching rules
//!
//! **Host.** The request host is compared in lowercase, without its `:port` (bracketed IPv6
//! literals such as `[::1]:8443` keep their brackets and lose the port) and without one
//! trailing dot. Hosts longer than 255 bytes, hosts with empty labels or with bytes outside
//! `[A-Za-z0-9._-]` match nothing.
//! - An exact host (`wiki.example.com`) beats any wildcard.
//! - `*.apps.example.com` matches every host that ends in `.apps.example.com` and has at least
//!   one more label (`a.apps.example.com`, `a.b.apps.example.com`), never `apps.example.com`.
//! - When several wildcards match, the longest suffix (the most specific) is tried first.
//!
//! **Path.** The query (`?…`) is ignored. Among the apps of one host the longest `path_prefix`
//! that matches on a segment boundary wins: `/api` matches `/api`, `/api/` and `/api/x` but not
//! `/apix`. Prefixes are case-sensitive and normalized (trailing `/` removed), so `/api/` in the
//! catalog means `/api`. An app without a prefix, or with prefix `/`, matches every path.
//!
//! **Fallback.** Hosts are tried from most to least specific: the exact host, then each
//! matching wildcard from the longest suffix to the shortest. The first host whose apps have
//! a matching prefix answers. So if `wiki.example.com` only publishes `/api`, a request for
//! `wiki.example.com/docs` can still be served by a `*.example.com` app without a prefix.
//!
//! **Names.** Group names, connector ids and app names are compared exactly (case-sensitive)
//! and are unique within their scope (the operator's, or one tenant's: see
//! `catalog::scope`). The compiled table holds qualified names (`t1/dc-east`).
//!
//! **Tenants.** A tenant's app publishes only hosts inside its tenant's `domains`; an
//! operator app publishes only hosts outside every tenant's domains, and an operator
//! wildcard may not cover a tenant's domain. So a host is only ever served by an app of the
//! scope that owns it.
//!
//! A lookup does not allocate: hosts that need lowercasing are copied into a stack buffer.

mod host;
mod index;
mod rewrite;
mod tenants;
mod validate;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub use crate::catalog::CatalogError;
use crate::catalog::{BalancePolicy, Catalog};

use index::{FastMap, HostRoutes};

/// The compiled catalog: immutable, cheap to share, looked up on every request.
pub struct RoutingTable {
    version: u64,
    /// Every app, in catalog order.
    routes: Vec<Arc<Route>>,
    /// Apps by exact host.
    exact: FastMap<Box<str>, HostRoutes>,
    /// Apps by wildcard suffix: `*.apps.example.com` is stored under `apps.example.com`.
    wildcard: FastMap<Box<str>, HostRoutes>,
    /// Bit `n` is set when some wildcard suffix has `n` labels; lets lookup skip hopeless probes.
    wildcard_labels: u128,
    groups: Vec<GroupEntry>,
    group_index: HashMap<Arc<str>, usize>,
    connectors: Vec<ConnectorEntry>,
    connector_index: HashMap<Arc<str>, usize>,
    /// Connectors by their id within their scope (`c1` of `t1/c1`): a hello names that.
    connectors_by_plain_id: HashMap<Arc<str>, Vec<usize>>,
}

/// A connector group as compiled from the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEntry {
    /// The group's qualified name (`t1/dc-east`, or `dc-east` for the operator's).
    pub name: Arc<str>,
    /// How the group spreads requests over its live connectors.
    pub balance: BalancePolicy,
    /// An operator group that tenants' apps may use.
    pub shared: bool,
    /// Qualified ids of the connectors in this group, sorted.
    pub connectors: Vec<Arc<str>>,
}

/// A connector as compiled from the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorEntry {
    /// The connector's qualified id (`t1/c1`, or `c1` for the operator's).
    pub id: Arc<str>,
    /// The qualified name of the group it belongs to.
    pub group: Arc<str>,
    /// SHA-256 of the connector's secret.
    pub secret_digest: [u8; 32],
}

/// One published app, ready for the request path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The app's qualified name (`t1/wiki`, or `wiki` for the operator's).
    pub app: Arc<str>,
    /// External host as configured, lowercased, without a trailing dot
    /// (`wiki.example.com` or `*.apps.example.com`).
    pub host: String,
    /// Normalized prefix: starts with `/`, no trailing `/` unless it is `/` itself.
    pub path_prefix: Option<String>,
    /// Where the connector sends the request.
    pub internal: InternalUrl,
    /// Ordered chain of connector groups (qualified names), primary first.
    pub groups: Vec<Arc<str>>,
    /// Send the external Host header to the origin instead of the internal one.
    pub preserve_host: bool,
    /// How long to wait for the origin's response headers.
    pub backend_timeout: Duration,
    /// Verify the certificate of an `https://` origin.
    pub origin_tls_verify: bool,
    /// Live connectors a group needs before it counts as up for this app (at least 1).
    pub min_live: usize,
    /// Where the session-affinity key comes from, if the app wants affinity.
    pub affinity: Option<Affinity>,
}

/// The source of an app's session-affinity key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Affinity {
    /// A cookie of this name, set by the gateway when missing.
    Cookie(String),
    /// A request header.
    Header(http::HeaderName),
}

/// The parsed internal URL of an app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InternalUrl {
    /// `http` or `https`.
    pub scheme: http::uri::Scheme,
    /// `host[:port]` exactly as the origin should be addressed (the port is kept if given).
    pub authority: http::uri::Authority,
    /// Path of the internal URL when it is neither empty nor `/`, without trailing `/`.
    pub base_path: Option<String>,
}

impl RoutingTable {
    /// Validates the whole catalog and compiles it; on error returns EVERY error found.
    pub fn compile(catalog: &Catalog, version: u64) -> Result<RoutingTable, Vec<CatalogError>> {
        let tenant_errors = tenants::validate(catalog);
        match validate::validate(catalog) {
            Ok(parts) if tenant_errors.is_empty() => Ok(RoutingTable::build(parts, version)),
            Ok(_) => Err(tenant_errors),
            Err(mut errors) => {
                errors.extend(tenant_errors);
                Err(errors)
            }
        }
    }

    /// A table with version 0 and no apps, groups or connectors.
    pub fn empty() -> RoutingTable {
        RoutingTable::build(validate::Parts::default(), 0)
    }

    fn build(parts: validate::Parts, version: u64) -> RoutingTable {
        let index::HostIndex {
            exact,
            wildcard,
            wildcard_labels,
        } = index::HostIndex::build(&parts.routes);
        let group_index = parts
            .groups
            .iter()
            .enumerate()
            .map(|(i, g)| (g.name.clone(), i))
            .collect();
        let connector_index = parts
            .connectors
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id.clone(), i))
            .collect();
        let mut connectors_by_plain_id: HashMap<Arc<str>, Vec<usize>> = HashMap::new();
        for (i, c) in parts.connectors.iter().enumerate() {
            let plain = c.id.rsplit('/').next().unwrap_or(&c.id);
            connectors_by_plain_id
                .entry(Arc::from(plain))
                .or_default()
                .push(i);
        }
        RoutingTable {
            version,
            routes: parts.routes,
            exact,
            wildcard,
            wildcard_labels,
            groups: parts.groups,
            group_index,
            connectors: parts.connectors,
            connector_index,
            connectors_by_plain_id,
        }
    }

    /// The same table under another version: a shared store learns a change's version only
    /// when it commits, after the change was validated.
    pub fn with_version(mut self, version: u64) -> RoutingTable {
        self.version = version;
        self
    }

    /// The catalog version this table was compiled from.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The app serving `host` and `path`, per the rules in the module documentation.
    ///
    /// `host`: Host/authority from the request, any case, may carry `:port` (also
    /// `[::1]:8443`). `path`: the request path, may carry a `?query` (ignored).
    pub fn lookup(&self, host: &str, path: &str) -> Option<&Arc<Route>> {
        let path = match path.bytes().position(|b| b == b'?') {
            Some(i) => &path[..i],
            None => path,
        };
        let host = host::parse(host)?;
        if !host.upper {
            self.lookup_host(host.name, host.dots, host.literal, path)
        } else if host.name.len() <= 64 {
            // Most hosts are short: a small buffer is cheaper to set up.
            let mut buf = [0u8; 64];
            let name = host::lowercase(host.name, &mut buf)?;
            self.lookup_host(name, host.dots, host.literal, path)
        } else {
            let mut buf = [0u8; host::MAX_HOST_LEN];
            let name = host::lowercase(host.name, &mut buf)?;
            self.lookup_host(name, host.dots, host.literal, path)
        }
    }

    /// `lookup` once the host is in lowercase and the query is gone.
    #[inline]
    fn lookup_host(
        &self,
        host: &str,
        dots: usize,
        literal: bool,
        path: &str,
    ) -> Option<&Arc<Route>> {
        if let Some(route) = self.exact.get(host).and_then(|e| e.find(path)) {
            return Some(route);
        }
        if self.wildcard_labels == 0 || literal {
            return None;
        }
        // Each dot starts a shorter suffix: the first one found is the most specific.
        let mut suffix = host;
        let mut labels = dots + 1;
        while let Some(dot) = suffix.bytes().position(|b| b == b'.') {
            suffix = &suffix[dot + 1..];
            labels -= 1;
            if labels >= 128 || self.wildcard_labels & (1u128 << labels) == 0 {
                continue;
            }
            if let Some(route) = self.wildcard.get(suffix).and_then(|e| e.find(path)) {
                return Some(route);
            }
        }
        None
    }

    /// The group with qualified name `name`.
    pub fn group(&self, name: &str) -> Option<&GroupEntry> {
        self.group_index.get(name).map(|&i| &self.groups[i])
    }

    /// The connector with qualified id `id`.
    pub fn connector(&self, id: &str) -> Option<&ConnectorEntry> {
        self.connector_index.get(id).map(|&i| &self.connectors[i])
    }

    /// The connectors a connector's hello may mean by `id`: the one with that qualified id
    /// (`t1/c1`), or every connector whose id within its scope is `id` (the operator and two
    /// tenants may each have a `c1`; the secret tells them apart).
    pub fn connectors_named(&self, id: &str) -> Vec<&ConnectorEntry> {
        if id.contains('/') {
            return self.connector(id).into_iter().collect();
        }
        self.connectors_by_plain_id
            .get(id)
            .map(|all| all.iter().map(|&i| &self.connectors[i]).collect())
            .unwrap_or_default()
    }

    /// Every group, in catalog order.
    pub fn groups(&self) -> impl Iterator<Item = &GroupEntry> {
        self.groups.iter()
    }

    /// Every connector, in catalog order.
    pub fn connectors(&self) -> impl Iterator<Item = &ConnectorEntry> {
        self.connectors.iter()
    }

    /// Every app, in catalog order.
    pub fn apps(&self) -> impl Iterator<Item = &Arc<Route>> {
        self.routes.iter()
    }

    /// How many apps the table holds.
    pub fn app_count(&self) -> usize {
        self.routes.len()
    }
}

impl Default for RoutingTable {
    fn default() -> RoutingTable {
        RoutingTable::empty()
    }
}

impl fmt::Debug for RoutingTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RoutingTable")
            .field("version", &self.version)
            .field("apps", &self.routes.len())
            .field("groups", &self.groups.len())
            .field("connectors", &self.connectors.len())
            .finish_non_exhaustive()
    }
}
