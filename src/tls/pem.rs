//! Reading PEM certificates, keys and CA bundles ourselves, so a bad file is an error that
//! names the file instead of a panic inside pingora (pingora issue #927).

use std::path::Path;
use std::sync::Arc;

use rustls::sign::CertifiedKey;
use rustls::{Error as RustlsError, InconsistentKeys};
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::{config::crypto_provider, LoadedCert, TlsError};

/// Loads a cert chain + key, checks the key matches the leaf, extracts DNS names from the
/// leaf's SANs (lowercased; wildcards like "*.example.com" kept).
///
/// The certificate file holds the leaf first, then any intermediates; the key file holds
/// one PKCS#8, SEC1 or PKCS#1 private key (the same file may hold both).
pub fn load_cert_pair(cert_path: &Path, key_path: &Path) -> Result<LoadedCert, TlsError> {
    let cert_pem = read_file("certificate", cert_path)?;
    let key_pem = read_file("key", key_path)?;
    build_pair(
        &cert_pem,
        &key_pem,
        file_origin("certificate", cert_path),
        file_origin("key", key_path),
    )
}

/// Same as [`load_cert_pair`], from PEM bytes; `label` names the pair in error messages.
pub fn cert_pair_from_pem(
    cert_pem: &[u8],
    key_pem: &[u8],
    label: &str,
) -> Result<LoadedCert, TlsError> {
    build_pair(
        cert_pem,
        key_pem,
        format!("certificate PEM \"{label}\""),
        format!("key PEM \"{label}\""),
    )
}

/// Reads a CA bundle file: every certificate in it.
pub(super) fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read_file("CA", path)?;
    parse_ca_pem(&bytes, &file_origin("CA", path))
}

/// Parses a CA bundle: every certificate in it, at least one.
pub(super) fn parse_ca_pem(
    bytes: &[u8],
    origin: &str,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = parse_certs(bytes, origin)?;
    if certs.is_empty() {
        return Err(TlsError::NoCaCertificate {
            origin: origin.to_owned(),
        });
    }
    Ok(certs)
}

/// `certificate file "/x/cert.pem"`: how messages name a file.
pub(super) fn file_origin(what: &str, path: &Path) -> String {
    format!("{what} file \"{}\"", path.display())
}

fn read_file(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|error| TlsError::Read {
        what,
        path: path.to_owned(),
        error,
    })
}

fn build_pair(
    cert_pem: &[u8],
    key_pem: &[u8],
    cert_origin: String,
    key_origin: String,
) -> Result<LoadedCert, TlsError> {
    let chain = parse_certs(cert_pem, &cert_origin)?;
    let Some(leaf) = chain.first() else {
        return Err(TlsError::NoCertificate {
            origin: cert_origin,
        });
    };
    let names = dns_names(leaf, &cert_origin)?;
    let key = parse_key(key_pem, &key_origin)?;
    let signing_key = crypto_provider()
        .key_provider
        .load_private_key(key)
        .map_err(|e| TlsError::UnsupportedKey {
            origin: key_origin.clone(),
            reason: e.to_string(),
        })?;
    let certified_key = CertifiedKey::new(chain, signing_key);
    match certified_key.keys_match() {
        Ok(()) => {}
        // ring's keys always expose their public key; if some key did not, the handshake
        // would still fail cleanly on a mismatch, so this is not worth refusing a start.
        Err(RustlsError::InconsistentKeys(InconsistentKeys::Unknown)) => {
            tracing::warn!(key = %key_origin, "cannot check that the key matches its certificate");
        }
        Err(RustlsError::InconsistentKeys(InconsistentKeys::KeyMismatch)) => {
            return Err(TlsError::KeyMismatch {
                cert_origin,
                key_origin,
            });
        }
        Err(e) => {
            return Err(TlsError::BadCertificate {
                origin: cert_origin,
                reason: e.to_string(),
            });
        }
    }
    Ok(LoadedCert {
        names,
        certified_key: Arc::new(certified_key),
    })
}

fn parse_certs(bytes: &[u8], origin: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    CertificateDer::pem_slice_iter(bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad_pem(origin, e))
}

fn parse_key(bytes: &[u8], origin: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(bytes).map_err(|e| match e {
        pem::Error::NoItemsFound => TlsError::NoPrivateKey {
            origin: origin.to_owned(),
        },
        e => bad_pem(origin, e),
    })
}

fn bad_pem(origin: &str, e: pem::Error) -> TlsError {
    TlsError::BadPem {
        origin: origin.to_owned(),
        reason: e.to_string(),
    }
}

/// DNS names of the leaf's SANs, lowercased and deduplicated, at least one.
fn dns_names(leaf: &CertificateDer<'_>, origin: &str) -> Result<Vec<String>, TlsError> {
    let cert = webpki::EndEntityCert::try_from(leaf).map_err(|e| TlsError::BadCertificate {
        origin: origin.to_owned(),
        reason: e.to_string(),
    })?;
    let mut names: Vec<String> = Vec::new();
    for name in cert.valid_dns_names() {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if !name.is_empty() && !names.contains(&name) {
            names.push(name);
        }
    }
    if names.is_empty() {
        return Err(TlsError::NoDnsName {
            origin: origin.to_owned(),
        });
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::gen::{write_pair, Ca};
    use crate::tls::testdir::TestDir;

    fn ca() -> Ca {
        Ca::new("pem test CA").expect("CA")
    }

    #[test]
    fn loads_a_generated_pair_from_files() {
        let dir = TestDir::new("load");
        let issued = ca()
            .issue(&["App.Example.com", "*.apps.example.com", "127.0.0.1"])
            .expect("issue");
        let (cert, key) = write_pair(dir.path(), "app", &issued).expect("write");
        let loaded = load_cert_pair(&cert, &key).expect("load");
        assert_eq!(loaded.names, ["app.example.com", "*.apps.example.com"]);
        assert_eq!(loaded.certified_key.cert.len(), 1);
    }

    #[test]
    fn missing_file_names_the_file() {
        let dir = TestDir::new("missing");
        let cert = dir.path().join("nope.pem");
        let err = load_cert_pair(&cert, &cert).expect_err("missing");
        assert!(
            matches!(
                err,
                TlsError::Read {
                    what: "certificate",
                    ..
                }
            ),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(msg.starts_with("certificate file \""), "{msg}");
        assert!(msg.contains("nope.pem\": cannot read:"), "{msg}");
    }

    #[test]
    fn empty_cert_file_has_no_certificate() {
        let dir = TestDir::new("empty");
        let issued = ca().issue(&["a.example.com"]).expect("issue");
        let (_, key) = write_pair(dir.path(), "a", &issued).expect("write");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").expect("write empty");
        let err = load_cert_pair(&empty, &key).expect_err("empty");
        assert!(matches!(err, TlsError::NoCertificate { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!(
                "certificate file \"{}\": no PEM certificate found",
                empty.display()
            )
        );
    }

    #[test]
    fn cert_without_key() {
        let issued = ca().issue(&["a.example.com"]).expect("issue");
        let err = cert_pair_from_pem(issued.cert_pem.as_bytes(), issued.cert_pem.as_bytes(), "t")
            .expect_err("no key");
        assert!(matches!(err, TlsError::NoPrivateKey { .. }), "{err:?}");
        assert_eq!(err.to_string(), "key PEM \"t\": no PEM private key found");
    }

    #[test]
    fn key_of_another_cert_is_a_mismatch() {
        let ca = ca();
        let a = ca.issue(&["a.example.com"]).expect("issue a");
        let b = ca.issue(&["b.example.com"]).expect("issue b");
        let err = cert_pair_from_pem(a.cert_pem.as_bytes(), b.key_pem.as_bytes(), "ab")
            .expect_err("mismatch");
        assert!(matches!(err, TlsError::KeyMismatch { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "key PEM \"ab\" does not match the certificate in certificate PEM \"ab\""
        );
    }

    #[test]
    fn garbage_is_rejected() {
        let issued = ca().issue(&["a.example.com"]).expect("issue");
        let key = issued.key_pem.as_bytes();

        let err = cert_pair_from_pem(b"hello, not a certificate\n", key, "g").expect_err("text");
        assert!(matches!(err, TlsError::NoCertificate { .. }), "{err:?}");

        let broken = b"-----BEGIN CERTIFICATE-----\n!!!not base64!!!\n-----END CERTIFICATE-----\n";
        let err = cert_pair_from_pem(broken, key, "g").expect_err("base64");
        assert!(matches!(err, TlsError::BadPem { .. }), "{err:?}");

        let unterminated = b"-----BEGIN CERTIFICATE-----\nAAAA\n";
        let err = cert_pair_from_pem(unterminated, key, "g").expect_err("no END");
        assert!(matches!(err, TlsError::BadPem { .. }), "{err:?}");

        let not_der = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let err = cert_pair_from_pem(not_der, key, "g").expect_err("not DER");
        assert!(matches!(err, TlsError::BadCertificate { .. }), "{err:?}");

        let bad_key = b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        let err = cert_pair_from_pem(issued.cert_pem.as_bytes(), bad_key, "g").expect_err("key");
        assert!(matches!(err, TlsError::UnsupportedKey { .. }), "{err:?}");
    }

    #[test]
    fn ip_only_certificate_has_no_dns_name() {
        let issued = ca().issue(&["127.0.0.1"]).expect("issue");
        let err = cert_pair_from_pem(issued.cert_pem.as_bytes(), issued.key_pem.as_bytes(), "ip")
            .expect_err("no DNS SAN");
        assert!(matches!(err, TlsError::NoDnsName { .. }), "{err:?}");
    }

    #[test]
    fn ca_file_without_certificates() {
        let dir = TestDir::new("ca");
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "# nothing here\n").expect("write");
        let err = read_ca_file(&path).expect_err("empty CA");
        assert_eq!(
            err.to_string(),
            format!("CA file \"{}\": no CA certificate found", path.display())
        );
    }
}
