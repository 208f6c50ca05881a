//! Staging a configuration: validate it and load everything it needs (routing table,
//! certificates), so that publishing cannot fail half-way.

use crate::catalog::Catalog;
use crate::config::gateway::GatewayConfig;
use crate::routing::RoutingTable;
use crate::tls::{CertStore, LoadedCert};

/// A configuration checked and loaded, ready to publish.
pub struct Staged {
    pub table: RoutingTable,
    pub certs: CertStore,
}

/// Validates and loads everything a configuration needs; every error is returned.
pub fn stage(cfg: &GatewayConfig, version: u64) -> Result<Staged, Vec<String>> {
    stage_with(cfg, &cfg.catalog(), version)
}

/// Like [`stage`], with the catalog taken from elsewhere (the store).
pub fn stage_with(
    cfg: &GatewayConfig,
    catalog: &Catalog,
    version: u64,
) -> Result<Staged, Vec<String>> {
    let mut errors: Vec<String> = cfg.validate();
    let table = match RoutingTable::compile(catalog, version) {
        Ok(t) => Some(t),
        Err(es) => {
            errors.extend(es.into_iter().map(|e| e.to_string()));
            None
        }
    };
    let mut loaded: Vec<LoadedCert> = Vec::new();
    for (i, pair) in cfg.certificates.iter().enumerate() {
        match crate::tls::load_cert_pair(&cfg.resolve(&pair.cert), &cfg.resolve(&pair.key)) {
            Ok(c) => loaded.push(c),
            Err(e) => errors.push(format!("certificates[{i}]: {e}")),
        }
    }
    match (errors.is_empty(), table) {
        (true, Some(table)) => Ok(Staged {
            table,
            certs: CertStore::with_default(loaded, cfg.default_certificate()),
        }),
        _ => Err(errors),
    }
}
