//! Certificate generation with rcgen for the quickstart and tests: a self-signed CA that
//! issues leaf certificates, ECDSA P-256 everywhere (signatures ~14× cheaper than RSA-2048).

use std::io::Write;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};

use super::TlsError;

/// A self-signed CA.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
}

impl Ca {
    /// A new CA with a fresh P-256 key and the given common name.
    pub fn new(common_name: &str) -> Result<Ca, TlsError> {
        let key = new_key()?;
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).map_err(generate)?;
        Ok(Ca {
            issuer: Issuer::new(params, key),
            cert_pem: cert.pem(),
        })
    }

    /// The CA certificate in PEM: the trust anchor clients load.
    pub fn cert_pem(&self) -> String {
        self.cert_pem.clone()
    }

    /// Leaf cert signed by this CA for the given DNS names (wildcards allowed) and/or IP SANs
    /// ("127.0.0.1" parses as IP SAN). The first name is also the subject common name.
    pub fn issue(&self, names: &[&str]) -> Result<Issued, TlsError> {
        let Some(first) = names.first() else {
            return Err(TlsError::Generate(
                "a certificate needs at least one name".to_owned(),
            ));
        };
        let sans: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(sans).map_err(generate)?;
        params.distinguished_name.push(DnType::CommonName, *first);
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        // ClientAuth too, so the same helper can make connector client certificates.
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.use_authority_key_identifier_extension = true;
        let key = new_key()?;
        let cert = params.signed_by(&key, &self.issuer).map_err(generate)?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// A leaf certificate and its key, in PEM.
pub struct Issued {
    /// The leaf certificate only, without the CA: clients trust the CA from their own CA
    /// file, and a server need not send a root its clients already hold.
    pub cert_pem: String,
    /// The leaf's private key (PKCS#8).
    pub key_pem: String,
}

/// Writes pem strings to files in a dir (helper for tests & quickstart): returns (cert_path,
/// key_path), named `<stem>.crt` and `<stem>.key`. Creates `dir` if needed; on Unix the key
/// file is readable by its owner only.
pub fn write_pair(dir: &Path, stem: &str, issued: &Issued) -> std::io::Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir)?;
    let cert_path = dir.join(format!("{stem}.crt"));
    let key_path = dir.join(format!("{stem}.key"));
    std::fs::write(&cert_path, &issued.cert_pem)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(&key_path)?
        .write_all(issued.key_pem.as_bytes())?;
    Ok((cert_path, key_path))
}

fn new_key() -> Result<KeyPair, TlsError> {
    KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(generate)
}

fn generate(e: rcgen::Error) -> TlsError {
    TlsError::Generate(e.to_string())
}
