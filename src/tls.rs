//! TLS for the gateway and connectors: PEM loading with clear errors, a per-SNI certificate
//! store behind `ArcSwap`, client and server configs, and test/quickstart certificates.
//!
//! Every config here is built with rustls's **ring** provider explicitly (DESIGN.md decision
//! 2): rustls's automatic provider choice panics when two providers are compiled in.
//!
//! The path of a certificate: PEM files → [`load_cert_pair`] (validated [`LoadedCert`]) →
//! [`CertStore`] (immutable, indexed by name) → `ArcSwap<CertStore>` → [`SniResolver`] →
//! pingora's `TlsSettings::set_cert_resolver`. A store may hold a default certificate for
//! clients without SNI or with a name nothing covers; failed handshakes are counted by reason
//! ([`handshake`]) and kept out of the error log ([`quiet`]).

use std::path::PathBuf;
use std::sync::Arc;

mod config;
pub mod gen;
pub mod handshake;
mod pem;
pub mod quiet;
mod store;
#[cfg(test)]
mod testdir;
#[cfg(test)]
mod tests;

pub use config::{
    client_config, client_config_from_ca_pem, crypto_provider, insecure_client_config,
    server_config, server_config_with_resolver,
};
pub use handshake::{FailureReason, HandshakeFailures, HelloCheck};
pub use pem::{cert_pair_from_pem, load_cert_pair};
pub use quiet::QuietHandshakeErrors;
pub use store::{CertStore, SniResolver};

/// Why certificates, keys or TLS configs could not be loaded or built.
///
/// `origin` fields name where the data came from, e.g. `certificate file "/x/cert.pem"` or
/// `key PEM "quickstart"`, so every message says which input is wrong and how.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read (missing, permissions, …).
    #[error("{what} file \"{}\": cannot read: {error}", path.display())]
    Read {
        /// What the file should hold: "certificate", "key" or "CA".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
    /// The PEM text is malformed (bad base64, missing END line, …).
    #[error("{origin}: invalid PEM: {reason}")]
    BadPem {
        /// Where the PEM came from.
        origin: String,
        /// What the PEM parser reported.
        reason: String,
    },
    /// A certificate file holds no `CERTIFICATE` section.
    #[error("{origin}: no PEM certificate found")]
    NoCertificate {
        /// Where the PEM came from.
        origin: String,
    },
    /// A key file holds no private key section (PKCS#8, SEC1 or PKCS#1).
    #[error("{origin}: no PEM private key found")]
    NoPrivateKey {
        /// Where the PEM came from.
        origin: String,
    },
    /// The private key cannot be used for signing by the ring provider.
    #[error("{origin}: unsupported private key: {reason}")]
    UnsupportedKey {
        /// Where the PEM came from.
        origin: String,
        /// What rustls reported.
        reason: String,
    },
    /// The leaf certificate is not a valid X.509 certificate.
    #[error("{origin}: invalid certificate: {reason}")]
    BadCertificate {
        /// Where the PEM came from.
        origin: String,
        /// What the X.509 parser reported.
        reason: String,
    },
    /// The private key is not the key of the leaf certificate.
    #[error("{key_origin} does not match the certificate in {cert_origin}")]
    KeyMismatch {
        /// Where the certificate came from.
        cert_origin: String,
        /// Where the key came from.
        key_origin: String,
    },
    /// The leaf certificate names no DNS name in its subject alternative names, so no SNI
    /// can select it.
    #[error("{origin}: certificate has no DNS name in its subject alternative names")]
    NoDnsName {
        /// Where the PEM came from.
        origin: String,
    },
    /// A CA file holds no `CERTIFICATE` section.
    #[error("{origin}: no CA certificate found")]
    NoCaCertificate {
        /// Where the PEM came from.
        origin: String,
    },
    /// A CA certificate cannot be used as a trust anchor.
    #[error("{origin}: CA certificate rejected: {reason}")]
    BadCaCertificate {
        /// Where the PEM came from.
        origin: String,
        /// What rustls reported.
        reason: String,
    },
    /// rustls refused to build a config.
    #[error("TLS config: {0}")]
    Config(#[from] rustls::Error),
    /// Certificate generation (rcgen) failed.
    #[error("certificate generation: {0}")]
    Generate(String),
}

/// A certificate chain with its key, validated, and the DNS names it serves.
#[derive(Clone, Debug)]
pub struct LoadedCert {
    /// DNS names from the leaf's subject alternative names: lowercased, deduplicated, in
    /// certificate order; wildcards such as `*.example.com` are kept as written.
    pub names: Vec<String>,
    /// The chain (leaf first) and its signing key, ready for rustls.
    pub certified_key: Arc<rustls::sign::CertifiedKey>,
}
