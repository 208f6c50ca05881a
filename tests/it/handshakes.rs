//! Clients without SNI and failed handshakes at the edge: the opt-in default certificate
//! (then the HTTP layer answers by Host), refusals counted by reason, pingora's per-handshake
//! ERROR line kept out of the log.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::process::{field, Proc};
use crate::support::world::{metric, write_config, Pki, Spec, World};
use crate::support::{origin, TempDir};

/// A TLS client that sends no SNI (it dials an IP address, which TLS never sends as SNI) and
/// accepts any certificate, as IP-address health checks and scanners do.
async fn no_sni(addr: SocketAddr) -> std::io::Result<TlsStream<TcpStream>> {
    let mut cfg = switchyard::tls::insecure_client_config();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
    let tcp = TcpStream::connect(addr).await?;
    let ip = ServerName::IpAddress(addr.ip().into());
    connector.connect(ip, tcp).await
}

/// One HTTP/1.1 request with `host` over a no-SNI connection; the status line's code.
pub(crate) async fn status_without_sni(addr: SocketAddr, host: &str) -> (u16, String) {
    let mut tls = no_sni(addr).await.expect("handshake without SNI");
    let req = format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    tls.write_all(req.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), tls.read_to_end(&mut out))
        .await
        .expect("answer in time")
        .expect("read");
    let text = String::from_utf8_lossy(&out).into_owned();
    let code = text
        .get(9..12)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("status line in {text:?}"));
    (code, text)
}

/// `openssl s_client -noservername`: whether the handshake succeeded, and its output.
async fn openssl_no_sni(addr: SocketAddr) -> (bool, String) {
    let out = tokio::process::Command::new("openssl")
        .args(["s_client", "-noservername", "-connect", &addr.to_string()])
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("run openssl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.success(), text)
}

/// The bytes of a real ClientHello for `a.example.test` (rustls, TLS 1.2 + 1.3).
fn client_hello() -> Vec<u8> {
    let cfg = Arc::new(switchyard::tls::insecure_client_config());
    let name = ServerName::try_from("a.example.test").expect("name");
    let mut conn = rustls::ClientConnection::new(cfg, name).expect("client");
    let mut out = Vec::new();
    conn.write_tls(&mut out).expect("ClientHello");
    out
}

fn openssl_present() -> bool {
    std::process::Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success())
}

async fn failures(w: &World, reason: &str) -> f64 {
    let series = format!("switchyard_tls_handshake_failures_total{{reason=\"{reason}\"}}");
    metric(&w.metrics().await, &series).unwrap_or(-1.0)
}

/// Waits until the metric for `reason` reaches `want` (counting happens on the gateway's
/// side of the connection, after the client already saw the close).
async fn wait_failures(w: &World, reason: &str, want: f64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let got = failures(w, reason).await;
        if got == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{reason}: {got}, want {want}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn default_spec(o: &origin::Origin) -> Spec {
    Spec::default()
        .group("g")
        .connector("c1", "g")
        .app("a", "a.example.test", &o.url(), &["g"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_default_certificate_no_sni_clients_are_answered_by_host() {
    let o = origin::spawn("a").await;
    let mut w = World::start_with(default_spec(&o), |cfg| cfg.certificates[0].default = true);
    w.connect("c1").await;
    let addr = w.gw.https_addr;

    let tls = no_sni(addr).await.expect("handshake without SNI");
    let served = tls.get_ref().1.peer_certificates().expect("chain")[0].clone();
    let ours = switchyard::tls::load_cert_pair(&w.pki.edge.cert, &w.pki.edge.key).expect("edge");
    let ours: &CertificateDer = &ours.certified_key.cert[0];
    assert_eq!(&served, ours, "the default certificate is served");

    assert_eq!(status_without_sni(addr, "nothing.invalid").await.0, 404);
    let (code, text) = status_without_sni(addr, "a.example.test").await;
    assert_eq!((code, text.ends_with("\r\n\r\na")), (200, true), "{text}");

    // An SNI no certificate covers gets the default certificate too.
    let mut cfg = switchyard::tls::insecure_client_config();
    cfg.resumption = rustls::client::Resumption::disabled();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let name = ServerName::try_from("unknown.invalid").expect("name");
    assert!(connector.connect(name, tcp).await.is_ok());

    // curl as a user types it (an IP address: no SNI).
    let out = tokio::process::Command::new("curl")
        .args(["-k", "-s", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("https://127.0.0.1:{}/", addr.port()))
        .output()
        .await;
    if let Ok(out) = out {
        assert_eq!(String::from_utf8_lossy(&out.stdout), "404");
    }
    if openssl_present() {
        let (ok, text) = openssl_no_sni(addr).await;
        assert!(ok && text.contains("BEGIN CERTIFICATE"), "{text}");
    }
    for reason in ["no_sni", "unknown_sni"] {
        assert_eq!(failures(&w, reason).await, 0.0, "{reason}: not a failure");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_default_no_sni_clients_are_refused_and_counted_until_a_reload_sets_one() {
    let mut w = World::start(Spec::default());
    let addr = w.gw.https_addr;
    assert!(no_sni(addr).await.is_err(), "refused without a default");
    wait_failures(&w, "no_sni", 1.0).await;
    let mut refused = 1.0;
    if openssl_present() {
        let (ok, text) = openssl_no_sni(addr).await;
        assert!(!ok, "{text}");
        refused += 1.0;
        wait_failures(&w, "no_sni", refused).await;
    }
    assert_eq!(failures(&w, "unknown_sni").await, 0.0);

    // Two defaults: the reload is refused whole, naming the entry.
    let mut cfg = w.cfg.clone();
    cfg.certificates[0].default = true;
    let mut twice = cfg.clone();
    twice.certificates.push(twice.certificates[0].clone());
    let errors = w.rewrite(twice).expect_err("two defaults refused");
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("certificates[1].default")),
        "{errors:?}"
    );
    assert!(no_sni(addr).await.is_err(), "still refused");
    refused += 1.0;

    // One default: applied by the reload, no restart.
    w.rewrite(cfg).expect("reload applies");
    assert_eq!(status_without_sni(addr, "nothing.invalid").await.0, 404);
    assert_eq!(failures(&w, "no_sni").await, refused);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aborted_and_non_tls_handshakes_are_counted_and_the_listener_keeps_serving() {
    let w = World::start(Spec::default());
    let addr = w.gw.https_addr;
    for reason in ["aborted", "protocol", "timeout"] {
        assert_eq!(failures(&w, reason).await, 0.0, "{reason} starts at 0");
    }

    // A port scan: connect, close.
    drop(TcpStream::connect(addr).await.expect("connect"));
    wait_failures(&w, "aborted", 1.0).await;

    // A client that gives up mid-ClientHello: a record header announcing 512 bytes, 3 sent.
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01])
        .await
        .expect("write");
    drop(tcp);
    wait_failures(&w, "aborted", 2.0).await;

    // Plain HTTP on the HTTPS port: closed at once, counted as `protocol`.
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: a.example.test\r\n\r\n")
        .await
        .expect("write");
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut out)).await;
    assert!(read.is_ok(), "the gateway closes a non-TLS connection");
    wait_failures(&w, "protocol", 1.0).await;

    // A TLS record that is not a handshake (an alert) is `protocol` too.
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28])
        .await
        .expect("write");
    wait_failures(&w, "protocol", 2.0).await;

    let ok = crate::support::client::tls_connect(&w.pki.ca_pem, addr, "a.example.test").await;
    assert!(ok.is_ok(), "a normal client still gets in");
    assert_eq!(failures(&w, "aborted").await, 2.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_handshakes_are_counted_and_leave_no_error_line_unless_pingoras_target_is_asked_for()
{
    let dir = TempDir::new("quiet");
    let pki = Pki::new(dir.path());
    let cfg = World::config_for(&Spec::default(), &pki, &Default::default());
    let path = dir.path().join("gateway.toml");
    write_config(&path, &cfg);
    let config = path.to_str().expect("utf8");

    for (rust_log, want_line) in [
        ("info", false),
        ("info,pingora_core::services::listening=error", true),
    ] {
        let gw = Proc::spawn_with_log(&["gateway", "--config", config], rust_log);
        let ready = gw.wait_for("gateway ready");
        let https: SocketAddr = field(&ready, "https").parse().expect("https addr");
        let metrics = field(&ready, "metrics");
        // Before a ClientHello (counted by the pre-TLS check): a port scan.
        drop(TcpStream::connect(https).await.expect("connect"));
        // After it (seen only in pingora's line): a ClientHello then nothing; a client that
        // rejects the certificate.
        let mut tcp = TcpStream::connect(https).await.expect("connect");
        tcp.write_all(&client_hello()).await.expect("hello");
        let mut answer = [0u8; 1];
        tcp.read_exact(&mut answer)
            .await
            .expect("the server answered");
        drop(tcp);
        let stranger = switchyard::tls::gen::Ca::new("another CA").expect("CA");
        let stranger = stranger.cert_pem();
        let refused = crate::support::client::tls_connect(&stranger, https, "a.example.test");
        assert!(refused.await.is_err(), "certificate rejected by the client");
        let wanted = [("aborted", 2.0), ("protocol", 1.0)];
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let text = reqwest::get(format!("http://{metrics}/metrics"))
                .await
                .expect("metrics")
                .text()
                .await
                .expect("metrics text");
            let got = |r: &str| {
                let series = format!("switchyard_tls_handshake_failures_total{{reason=\"{r}\"}}");
                metric(&text, &series)
            };
            if wanted.iter().all(|(r, n)| got(r) == Some(*n)) {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "failures counted ({rust_log}): {text}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // pingora writes its line right after the count; a later line (the access-log line
        // of a request sent now) proves it had time.
        let url = format!("https://nothing.example.test:{}/", https.port());
        let r = crate::support::client::h1(&pki.ca_pem)
            .get(url)
            .send()
            .await;
        assert_eq!(r.expect("request").status(), 404);
        let seen = gw.lines_until("switchyard::access");
        let noisy = seen.iter().any(|l| l.contains("Downstream handshake"));
        assert_eq!(
            noisy,
            want_line,
            "RUST_LOG={rust_log}:\n{}",
            seen.join("\n")
        );
    }
}
