//! The per-SNI certificate store and the rustls resolver that reads it through an `ArcSwap`,
//! so certificates change without a restart and the handshake path takes no lock.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::handshake::{FailureReason, HandshakeFailures};
use super::LoadedCert;

/// Immutable set of certificates indexed by name (exact map + wildcard map), with an optional
/// default certificate for clients that send no SNI or a name no certificate covers.
#[derive(Default)]
pub struct CertStore {
    /// Lowercase name without trailing dot → certificate.
    exact: HashMap<String, Arc<CertifiedKey>>,
    /// `*.example.com` is stored under `example.com`.
    wildcard: HashMap<String, Arc<CertifiedKey>>,
    /// Served when no name matches; `None` refuses those handshakes.
    default: Option<Arc<CertifiedKey>>,
}

impl CertStore {
    /// Indexes every name of every certificate, without a default certificate.
    ///
    /// When two certificates claim the same name, the first one wins and the duplicate is
    /// logged with `tracing::warn`.
    pub fn new(certs: Vec<LoadedCert>) -> CertStore {
        CertStore::with_default(certs, None)
    }

    /// Like [`CertStore::new`]; `certs[default]` (when given and in range) is also served to
    /// clients without SNI or with a name no certificate covers.
    pub fn with_default(certs: Vec<LoadedCert>, default: Option<usize>) -> CertStore {
        let mut store = CertStore {
            default: default
                .and_then(|i| certs.get(i))
                .map(|c| Arc::clone(&c.certified_key)),
            ..CertStore::default()
        };
        for cert in certs {
            for name in &cert.names {
                let name = normalize(name);
                let (map, key) = match name.strip_prefix("*.") {
                    Some(rest) => (&mut store.wildcard, rest.to_owned()),
                    None => (&mut store.exact, name.to_string()),
                };
                if map.contains_key(&key) {
                    tracing::warn!(%name, "two certificates claim this name; keeping the first");
                    continue;
                }
                map.insert(key, Arc::clone(&cert.certified_key));
            }
        }
        store
    }

    /// Exact name first, then wildcard "*.rest" matching exactly ONE label (TLS rules:
    /// "a.example.com" matches "*.example.com", "a.b.example.com" does not).
    /// Case-insensitive, trailing dot ignored.
    pub fn resolve(&self, server_name: &str) -> Option<Arc<CertifiedKey>> {
        let name = normalize(server_name);
        if let Some(key) = self.exact.get(name.as_ref()) {
            return Some(Arc::clone(key));
        }
        let (label, rest) = name.split_once('.')?;
        if label.is_empty() || rest.is_empty() {
            return None;
        }
        self.wildcard.get(rest).map(Arc::clone)
    }

    /// The certificate for clients whose SNI matches nothing (or who send none), if any.
    pub fn default_cert(&self) -> Option<Arc<CertifiedKey>> {
        self.default.clone()
    }

    /// Every name this store answers for, sorted (wildcards as `*.example.com`).
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .exact
            .keys()
            .cloned()
            .chain(self.wildcard.keys().map(|rest| format!("*.{rest}")))
            .collect();
        names.sort();
        names
    }

    /// How many names this store answers for (exact and wildcard).
    pub fn len(&self) -> usize {
        self.exact.len() + self.wildcard.len()
    }

    /// True when no name resolves.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for CertStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertStore")
            .field("names", &self.names())
            .field("default", &self.default.is_some())
            .finish()
    }
}

/// Lowercase without trailing dot; borrows when the name is already in that form, which is
/// the usual case (rustls hands over SNI lowercased).
fn normalize(name: &str) -> Cow<'_, str> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(name.to_ascii_lowercase())
    } else {
        Cow::Borrowed(name)
    }
}

/// rustls resolver over a hot-swappable store. A missing or unknown SNI gets the store's
/// default certificate when it has one; otherwise `None` (rustls then aborts the handshake
/// with an alert), counted as `no_sni` or `unknown_sni` and logged at debug.
#[derive(Debug)]
pub struct SniResolver {
    store: Arc<ArcSwap<CertStore>>,
    failures: HandshakeFailures,
}

impl SniResolver {
    /// A resolver reading `store` on every handshake; publish new certificates with
    /// `store.store(Arc::new(CertStore::new(..)))`.
    pub fn new(store: Arc<ArcSwap<CertStore>>, failures: HandshakeFailures) -> Self {
        SniResolver { store, failures }
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let store = self.store.load();
        let sni = client_hello.server_name();
        if let Some(found) = sni.and_then(|name| store.resolve(name)) {
            return Some(found);
        }
        if let Some(default) = store.default_cert() {
            tracing::debug!(?sni, "no certificate for this SNI; serving the default one");
            return Some(default);
        }
        let reason = match sni {
            None => FailureReason::NoSni,
            Some(_) => FailureReason::UnknownSni,
        };
        self.failures.count(reason);
        tracing::debug!(?sni, reason = reason.label(), "TLS handshake refused");
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::cert_pair_from_pem;
    use crate::tls::gen::Ca;

    fn loaded(ca: &Ca, names: &[&str]) -> LoadedCert {
        let issued = ca.issue(names).expect("issue");
        cert_pair_from_pem(issued.cert_pem.as_bytes(), issued.key_pem.as_bytes(), "t")
            .expect("load")
    }

    fn same(a: &Option<Arc<CertifiedKey>>, b: &LoadedCert) -> bool {
        a.as_ref().is_some_and(|a| Arc::ptr_eq(a, &b.certified_key))
    }

    #[test]
    fn exact_then_wildcard_one_label() {
        let ca = Ca::new("store test CA").expect("CA");
        let exact = loaded(&ca, &["www.example.com", "example.com"]);
        let wild = loaded(&ca, &["*.example.com"]);
        let store = CertStore::new(vec![exact.clone(), wild.clone()]);

        assert!(same(&store.resolve("www.example.com"), &exact));
        assert!(same(&store.resolve("example.com"), &exact));
        assert!(same(&store.resolve("a.example.com"), &wild));
        assert!(store.resolve("a.b.example.com").is_none());
        assert!(store.resolve(".example.com").is_none());
        assert!(store.resolve("other.org").is_none());
        assert!(store.resolve("").is_none());
        assert!(store.resolve("com").is_none());
    }

    #[test]
    fn case_and_trailing_dot_are_ignored() {
        let ca = Ca::new("store test CA").expect("CA");
        let exact = loaded(&ca, &["www.example.com"]);
        let wild = loaded(&ca, &["*.apps.example.com"]);
        let store = CertStore::new(vec![exact.clone(), wild.clone()]);

        assert!(same(&store.resolve("WWW.Example.COM"), &exact));
        assert!(same(&store.resolve("www.example.com."), &exact));
        assert!(same(&store.resolve("Wiki.APPS.example.com."), &wild));
    }

    #[test]
    fn first_certificate_wins_on_duplicates() {
        let ca = Ca::new("store test CA").expect("CA");
        let first = loaded(&ca, &["a.example.com", "*.example.com"]);
        let second = loaded(&ca, &["a.example.com", "*.example.com", "b.example.com"]);
        let store = CertStore::new(vec![first.clone(), second.clone()]);

        assert!(same(&store.resolve("a.example.com"), &first));
        assert!(same(&store.resolve("x.example.com"), &first));
        assert!(same(&store.resolve("b.example.com"), &second));
        assert_eq!(store.len(), 3);
        assert_eq!(
            store.names(),
            ["*.example.com", "a.example.com", "b.example.com"]
        );
    }

    #[test]
    fn empty_store() {
        let store = CertStore::new(Vec::new());
        assert!(store.is_empty());
        assert_eq!(store.len(), 0);
        assert!(store.resolve("a.example.com").is_none());
    }
}
