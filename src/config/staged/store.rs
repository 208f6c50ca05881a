//! `[store]` staged: a file store's folder or etcd's endpoints, never both; the etcd
//! password and CA read once, every problem reported with its path.

use super::super::gateway::{EtcdConfig, GatewayConfig, StoreConfig};
use crate::catalog::etcd::EtcdSettings;

/// The checks that read no file.
pub(super) fn check(store: &StoreConfig, errors: &mut Vec<String>) {
    let Some(etcd) = &store.etcd else {
        return;
    };
    if store.dir.is_some() {
        errors.push(
            "store: set either `dir` (a catalog file on this machine) or `etcd` (a catalog \
             shared by several gateways), not both"
                .into(),
        );
    }
    check_endpoints(etcd, errors);
    let p = &etcd.prefix;
    if !p.starts_with('/') || p.ends_with('/') || p.contains("//") || p.len() < 2 {
        errors.push(format!(
            "store.etcd.prefix: {p:?} must start with '/', not end with '/' and have no \
             empty segment (for example \"/switchyard\")"
        ));
    }
    if etcd.username.is_some() != etcd.password_file.is_some() {
        errors.push("store.etcd: username and password_file go together".into());
    }
}

fn check_endpoints(etcd: &EtcdConfig, errors: &mut Vec<String>) {
    if etcd.endpoints.is_empty() {
        errors.push(
            "store.etcd.endpoints: at least one endpoint is needed (\"http://127.0.0.1:2379\")"
                .into(),
        );
    }
    let mut schemes = Vec::new();
    for (i, e) in etcd.endpoints.iter().enumerate() {
        let scheme = ["http://", "https://"]
            .into_iter()
            .find(|s| e.starts_with(s));
        let authority = scheme.map(|s| &e[s.len()..]).unwrap_or_default();
        let ok = authority
            .parse::<http::uri::Authority>()
            .is_ok_and(|a| a.port().is_some());
        match (scheme, ok) {
            (Some(s), true) => schemes.push(s),
            _ => errors.push(format!(
                "store.etcd.endpoints[{i}]: {e:?} is not http://HOST:PORT or https://HOST:PORT"
            )),
        }
    }
    let tls = schemes.contains(&"https://");
    if tls && schemes.contains(&"http://") {
        errors.push("store.etcd.endpoints: all http:// or all https://, not a mix".into());
    }
    match (tls, etcd.ca_file.is_some()) {
        (true, false) => errors.push(
            "store.etcd.ca_file: https endpoints need the CA certificate that signed etcd's".into(),
        ),
        (false, true) if !schemes.is_empty() => errors.push(
            "store.etcd.ca_file: only used with https:// endpoints (these are http://)".into(),
        ),
        _ => {}
    }
}

impl GatewayConfig {
    /// The etcd settings with the password and CA read; `None` without etcd or on a problem
    /// (reported).
    pub(super) fn stage_etcd(&self, errors: &mut Vec<String>) -> Option<EtcdSettings> {
        let etcd = self.store.etcd.as_ref()?;
        let before = errors.len();
        let password = etcd.password_file.as_ref().and_then(|f| {
            let path = self.resolve(f);
            std::fs::read_to_string(&path)
                .map(|p| p.trim_end_matches(['\r', '\n']).to_owned())
                .map_err(|e| {
                    errors.push(format!("store.etcd.password_file: {}: {e}", path.display()))
                })
                .ok()
        });
        let ca_pem = etcd.ca_file.as_ref().and_then(|f| {
            let path = self.resolve(f);
            match std::fs::read(&path) {
                Ok(pem)
                    if String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") =>
                {
                    Some(pem)
                }
                Ok(_) => {
                    errors.push(format!(
                        "store.etcd.ca_file: {}: no PEM certificate in it",
                        path.display()
                    ));
                    None
                }
                Err(e) => {
                    errors.push(format!("store.etcd.ca_file: {}: {e}", path.display()));
                    None
                }
            }
        });
        if errors.len() != before {
            return None;
        }
        Some(EtcdSettings {
            endpoints: etcd.endpoints.clone(),
            prefix: etcd.prefix.clone(),
            user: etcd.username.clone().zip(password),
            ca_pem,
        })
    }
}
