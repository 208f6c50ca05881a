//! Real clients: reqwest over rustls (ring) trusting the test CA, every name resolved to
//! 127.0.0.1; raw TLS sockets for malformed requests; a WebSocket client.

use std::net::SocketAddr;
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Loopback;

impl Resolve for Loopback {
    fn resolve(&self, _name: Name) -> Resolving {
        Box::pin(async {
            let addrs: Addrs = Box::new(vec![SocketAddr::from(([127, 0, 0, 1], 0))].into_iter());
            Ok(addrs)
        })
    }
}

fn tls(ca_pem: &str, alpn: &[&[u8]]) -> rustls::ClientConfig {
    let mut cfg =
        switchyard::tls::client_config_from_ca_pem(ca_pem.as_bytes()).expect("client config");
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    cfg
}

/// HTTP/1.1-only client.
pub fn h1(ca_pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .use_preconfigured_tls(tls(ca_pem, &[b"http/1.1"]))
        .http1_only()
        .dns_resolver(Arc::new(Loopback))
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("client")
}

/// HTTP/2 client (ALPN h2).
pub fn h2(ca_pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .use_preconfigured_tls(tls(ca_pem, &[b"h2"]))
        .http2_prior_knowledge()
        .dns_resolver(Arc::new(Loopback))
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("client")
}

/// A TLS connection to the gateway with the given SNI.
pub async fn tls_connect(
    ca_pem: &str,
    addr: SocketAddr,
    sni: &str,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let cfg = tls(ca_pem, &[b"http/1.1"]);
    let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
    let sock = tokio::net::TcpStream::connect(addr).await?;
    let name = rustls::pki_types::ServerName::try_from(sni.to_string())
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    connector.connect(name, sock).await
}

/// Sends raw bytes over TLS and returns everything the gateway answered until it closed
/// (or 5 s passed).
pub async fn raw(ca_pem: &str, addr: SocketAddr, sni: &str, request: &[u8]) -> String {
    let mut s = tls_connect(ca_pem, addr, sni).await.expect("tls");
    s.write_all(request).await.expect("write");
    let mut out = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}
