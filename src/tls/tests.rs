//! Real handshakes over in-memory pipes: the SNI resolver, hot swap, client and server configs.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls::{ClientConfig, ServerConfig};
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::gen::{write_pair, Ca};
use super::testdir::TestDir;
use super::*;

/// Handshakes `client` against `server` for `name`, exchanges one byte each way, and
/// returns the leaf the server presented; the error is the client's.
async fn handshake(
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
    name: ServerName<'static>,
) -> Result<CertificateDer<'static>, std::io::Error> {
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let serve = async move {
        let mut tls = TlsAcceptor::from(server).accept(server_io).await?;
        let mut byte = [0u8; 1];
        tls.read_exact(&mut byte).await?;
        tls.write_all(&byte).await?;
        tls.shutdown().await
    };
    let dial = async move {
        let mut tls = TlsConnector::from(client).connect(name, client_io).await?;
        tls.write_all(b"x").await?;
        let mut byte = [0u8; 1];
        tls.read_exact(&mut byte).await?;
        assert_eq!(&byte, b"x");
        let (_, conn) = tls.get_ref();
        conn.peer_certificates()
            .and_then(|chain| chain.first())
            .map(|leaf| leaf.clone().into_owned())
            .ok_or_else(|| std::io::Error::other("no peer certificate"))
    };
    let both = async { tokio::join!(serve, dial) };
    let (_, dialed) = tokio::time::timeout(Duration::from_secs(5), both)
        .await
        .expect("handshake finished in time");
    dialed
}

fn dns(name: &str) -> ServerName<'static> {
    ServerName::try_from(name.to_owned()).expect("DNS name")
}

fn loaded(ca: &Ca, names: &[&str]) -> LoadedCert {
    let issued = ca.issue(names).expect("issue");
    cert_pair_from_pem(issued.cert_pem.as_bytes(), issued.key_pem.as_bytes(), "t").expect("load")
}

fn leaf(cert: &LoadedCert) -> CertificateDer<'static> {
    cert.certified_key.cert[0].clone()
}

/// A client trusting `ca`, without session resumption: a resumed session skips the server's
/// certificate resolver, and these tests are about the resolver.
fn client_for(ca: &Ca) -> Arc<ClientConfig> {
    let mut config = client_config_from_ca_pem(ca.cert_pem().as_bytes()).expect("client");
    config.resumption = rustls::client::Resumption::disabled();
    Arc::new(config)
}

/// The failure counters, and a reader of one reason's count.
fn failures() -> (HandshakeFailures, impl Fn(&str) -> u64) {
    let opts = prometheus::Opts::new("handshake_failures_total", "test");
    let vec = prometheus::IntCounterVec::new(opts, &["reason"]).expect("counter");
    let failures = HandshakeFailures::new(&vec);
    (failures, move |reason: &str| {
        vec.with_label_values(&[reason]).get()
    })
}

/// A client that accepts any certificate (to see what a client without a matching name
/// gets), without session resumption.
fn any_cert_client() -> Arc<ClientConfig> {
    let mut config = insecure_client_config();
    config.resumption = rustls::client::Resumption::disabled();
    Arc::new(config)
}

fn ip() -> ServerName<'static> {
    ServerName::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST).into())
}

#[tokio::test]
async fn sni_resolver_serves_known_names_and_rejects_unknown() {
    let ca = Ca::new("handshake CA").expect("CA");
    let exact = loaded(&ca, &["app.example.com"]);
    let wild = loaded(&ca, &["*.apps.example.com"]);
    let store = Arc::new(ArcSwap::from_pointee(CertStore::new(vec![
        exact.clone(),
        wild.clone(),
    ])));
    let (failures, count) = failures();
    let resolver = Arc::new(SniResolver::new(store, failures));
    let server = Arc::new(server_config_with_resolver(resolver, &[]));
    let client = client_for(&ca);

    let got = handshake(server.clone(), client.clone(), dns("app.example.com")).await;
    assert_eq!(got.expect("known SNI"), leaf(&exact));
    let got = handshake(server.clone(), client.clone(), dns("wiki.apps.example.com")).await;
    assert_eq!(got.expect("wildcard SNI"), leaf(&wild));
    assert_eq!((count("unknown_sni"), count("no_sni")), (0, 0));

    let got = handshake(server.clone(), client.clone(), dns("other.example.com")).await;
    assert!(got.is_err(), "unknown SNI must fail on the client");
    assert_eq!((count("unknown_sni"), count("no_sni")), (1, 0));

    // An IP address is never sent as SNI: the client sends none.
    assert!(handshake(server, any_cert_client(), ip()).await.is_err());
    assert_eq!((count("unknown_sni"), count("no_sni")), (1, 1));
}

#[tokio::test]
async fn the_default_certificate_answers_missing_and_unknown_names_until_swapped_out() {
    let ca = Ca::new("default CA").expect("CA");
    let app = loaded(&ca, &["app.example.com"]);
    let fallback = loaded(&ca, &["fallback.example.com"]);
    let store = Arc::new(ArcSwap::from_pointee(CertStore::with_default(
        vec![app.clone(), fallback.clone()],
        Some(1),
    )));
    let (failures, count) = failures();
    let resolver = Arc::new(SniResolver::new(store.clone(), failures));
    let server = Arc::new(server_config_with_resolver(resolver, &[]));
    let client = any_cert_client();

    let got = handshake(server.clone(), client.clone(), dns("app.example.com")).await;
    assert_eq!(got.expect("known SNI"), leaf(&app), "a matching name wins");
    let got = handshake(server.clone(), client.clone(), ip()).await;
    assert_eq!(got.expect("no SNI"), leaf(&fallback));
    let got = handshake(server.clone(), client.clone(), dns("other.example.com")).await;
    assert_eq!(got.expect("unknown SNI"), leaf(&fallback));
    assert_eq!(
        (count("unknown_sni"), count("no_sni")),
        (0, 0),
        "not failures"
    );

    // A reload without a default refuses those clients again.
    store.store(Arc::new(CertStore::new(vec![app.clone()])));
    assert!(handshake(server.clone(), client.clone(), ip())
        .await
        .is_err());
    assert!(handshake(server, client, dns("other.example.com"))
        .await
        .is_err());
    assert_eq!((count("unknown_sni"), count("no_sni")), (1, 1));
}

#[tokio::test]
async fn sni_resolver_follows_a_hot_swap() {
    let ca = Ca::new("swap CA").expect("CA");
    let old = loaded(&ca, &["a.example.com"]);
    let store = Arc::new(ArcSwap::from_pointee(CertStore::new(vec![old.clone()])));
    let (failures, count) = failures();
    let resolver = Arc::new(SniResolver::new(store.clone(), failures));
    let server = Arc::new(server_config_with_resolver(resolver, &[]));
    let client = client_for(&ca);

    let got = handshake(server.clone(), client.clone(), dns("a.example.com")).await;
    assert_eq!(got.expect("a before swap"), leaf(&old));
    assert!(
        handshake(server.clone(), client.clone(), dns("b.example.com"))
            .await
            .is_err()
    );
    assert_eq!(count("unknown_sni"), 1);

    let new = loaded(&ca, &["a.example.com", "b.example.com"]);
    store.store(Arc::new(CertStore::new(vec![new.clone()])));

    let got = handshake(server.clone(), client.clone(), dns("a.example.com")).await;
    assert_eq!(got.expect("a after swap"), leaf(&new));
    let got = handshake(server, client, dns("b.example.com")).await;
    assert_eq!(got.expect("b after swap"), leaf(&new));
    assert_eq!(count("unknown_sni"), 1);
}

#[tokio::test]
async fn client_rejects_a_server_from_another_ca() {
    let ours = Ca::new("our CA").expect("CA");
    let theirs = Ca::new("their CA").expect("CA");
    let server = Arc::new(server_config(&loaded(&theirs, &["a.example.com"]), &[]));
    let client = Arc::new(client_config_from_ca_pem(ours.cert_pem().as_bytes()).expect("client"));
    assert!(handshake(server.clone(), client, dns("a.example.com"))
        .await
        .is_err());

    // The explicit opt-out accepts it.
    let insecure = Arc::new(insecure_client_config());
    assert!(handshake(server, insecure, dns("a.example.com"))
        .await
        .is_ok());
}

#[tokio::test]
async fn single_cert_server_with_ca_file_and_ip_name() {
    let dir = TestDir::new("ca-file");
    let ca = Ca::new("file CA").expect("CA");
    let ca_path = dir.path().join("ca.pem");
    std::fs::write(&ca_path, ca.cert_pem()).expect("write CA");
    let issued = ca
        .issue(&["tunnel.example.com", "127.0.0.1"])
        .expect("issue");
    let (cert_path, key_path) = write_pair(dir.path(), "tunnel", &issued).expect("write pair");
    let cert = load_cert_pair(&cert_path, &key_path).expect("load");

    let server = Arc::new(server_config(&cert, &[b"h2"]));
    assert_eq!(server.alpn_protocols, [b"h2".to_vec()]);
    let client = Arc::new(client_config(Some(&ca_path)).expect("client from CA file"));
    let ip = ServerName::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST).into());
    assert_eq!(
        handshake(server.clone(), client.clone(), ip)
            .await
            .expect("IP"),
        leaf(&cert)
    );
    let got = handshake(server, client, dns("tunnel.example.com")).await;
    assert_eq!(got.expect("DNS"), leaf(&cert));
}

#[test]
fn configs_build() {
    let config = client_config(None).expect("webpki roots");
    assert!(config.alpn_protocols.is_empty());
    let _ = insecure_client_config();
    let ca = Ca::new("build CA").expect("CA");
    let _ = server_config(&loaded(&ca, &["a.example.com"]), &[]);
}

#[test]
fn bad_ca_inputs() {
    let err = client_config_from_ca_pem(b"").expect_err("empty CA");
    assert_eq!(err.to_string(), "CA PEM: no CA certificate found");
    let not_der = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    let err = client_config_from_ca_pem(not_der).expect_err("bad CA");
    assert!(matches!(err, TlsError::BadCaCertificate { .. }), "{err:?}");

    let dir = TestDir::new("bad-ca");
    let missing = dir.path().join("missing.pem");
    let err = client_config(Some(&missing)).expect_err("missing CA");
    assert!(err.to_string().starts_with("CA file \""), "{err}");
}
