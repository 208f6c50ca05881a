//! rustls client and server configs, always on the ring provider and TLS 1.2 + 1.3.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::server::ResolvesServerCert;
use rustls::sign::SingleCertAndKey;
use rustls::{
    ClientConfig, ConfigBuilder, ConfigSide, DigitallySignedStruct, RootCertStore, ServerConfig,
    SignatureScheme, WantsVerifier,
};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use super::pem::{file_origin, parse_ca_pem, read_ca_file};
use super::{LoadedCert, TlsError};

/// The ring crypto provider every Switchyard config uses (never rustls's automatic choice).
pub fn crypto_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Client config for dialing TLS (used by connectors to reach the gateway and for https
/// origins): roots = the PEM CA file if given, else the webpki-roots crate's roots. ALPN left
/// empty. ring provider.
pub fn client_config(ca_file: Option<&Path>) -> Result<ClientConfig, TlsError> {
    let roots = match ca_file {
        Some(path) => roots_from(read_ca_file(path)?, &file_origin("CA", path))?,
        None => RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        },
    };
    client_config_with_roots(roots)
}

/// Same as [`client_config`], from PEM bytes of a CA (tests, quickstart).
pub fn client_config_from_ca_pem(ca_pem: &[u8]) -> Result<ClientConfig, TlsError> {
    let origin = "CA PEM";
    client_config_with_roots(roots_from(parse_ca_pem(ca_pem, origin)?, origin)?)
}

/// A ClientConfig that does NOT verify the server certificate: any certificate for any name
/// is accepted. Only for origins whose app explicitly opts out of verification; the
/// handshake signature is still checked, so the peer holds the key of what it presented.
pub fn insecure_client_config() -> ClientConfig {
    let provider = crypto_provider();
    let verifier = Arc::new(NoServerVerification {
        provider: Arc::clone(&provider),
    });
    tls12_and_13(ClientConfig::builder_with_provider(provider))
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth()
}

/// Server config for a single cert (used by the tunnel listener and tests), ring provider,
/// TLS 1.2+1.3, given ALPN. The certificate is served whatever the SNI (or without one).
pub fn server_config(cert: &LoadedCert, alpn: &[&[u8]]) -> ServerConfig {
    let resolver = Arc::new(SingleCertAndKey::from(Arc::clone(&cert.certified_key)));
    server_config_with_resolver(resolver, alpn)
}

/// Server config choosing its certificate with `resolver` (e.g. an
/// [`SniResolver`](super::SniResolver)), ring provider, TLS 1.2+1.3, given ALPN.
pub fn server_config_with_resolver(
    resolver: Arc<dyn ResolvesServerCert>,
    alpn: &[&[u8]],
) -> ServerConfig {
    let mut config = tls12_and_13(ServerConfig::builder_with_provider(crypto_provider()))
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config
}

fn client_config_with_roots(roots: RootCertStore) -> Result<ClientConfig, TlsError> {
    Ok(ClientConfig::builder_with_provider(crypto_provider())
        .with_protocol_versions(&[&rustls::version::TLS12, &rustls::version::TLS13])?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

fn roots_from(
    certs: Vec<CertificateDer<'static>>,
    origin: &str,
) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots.add(cert).map_err(|e| TlsError::BadCaCertificate {
            origin: origin.to_owned(),
            reason: e.to_string(),
        })?;
    }
    Ok(roots)
}

/// Enables TLS 1.2 and 1.3 on a builder that uses [`crypto_provider`].
///
/// rustls only refuses when the provider lacks cipher suites or key exchange groups for the
/// versions; ring's default provider has both for both versions (the `configs_build` test
/// exercises this), so the error arm cannot run.
fn tls12_and_13<S: ConfigSide>(
    builder: ConfigBuilder<S, rustls::WantsVersions>,
) -> ConfigBuilder<S, WantsVerifier> {
    match builder.with_protocol_versions(&[&rustls::version::TLS12, &rustls::version::TLS13]) {
        Ok(builder) => builder,
        Err(e) => unreachable!("ring's default provider supports TLS 1.2 and 1.3: {e}"),
    }
}

/// Accepts any server certificate; see [`insecure_client_config`].
#[derive(Debug)]
struct NoServerVerification {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for NoServerVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
