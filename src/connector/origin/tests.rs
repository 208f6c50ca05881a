//! Admission and the filtering resolver against local origins: names that resolve outside
//! the allow-list are refused before any connection, names that resolve inside are reached
//! over http and https.

use std::collections::HashSet;
use std::convert::Infallible;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http::StatusCode;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use tokio::net::TcpListener;

use super::*;
use crate::tunnel::protocol::error_code;

const LIMIT: Duration = Duration::from_secs(10);

fn origins(allow: &[&str]) -> Origins {
    let allow: Vec<String> = allow.iter().map(|a| a.to_string()).collect();
    let allow = AllowList::parse(&allow).expect("allow-list");
    Origins::new(allow, None, Duration::from_secs(2)).expect("origins")
}

fn resolver(allow: &[&str], port: u16) -> AllowResolver {
    let allow: Vec<String> = allow.iter().map(|a| a.to_string()).collect();
    AllowResolver {
        allow: Arc::new(AllowList::parse(&allow).expect("allow-list")),
        port,
        timeout: Duration::from_secs(2),
    }
}

/// Admits and sends a GET; `insecure` skips certificate checks.
async fn get(origins: &Origins, uri: &str, insecure: bool) -> Result<Bytes, OriginError> {
    let mut req = Request::get(uri)
        .body(TunnelBody::empty())
        .expect("request");
    let run = async {
        origins.admit(&mut req).await?;
        let resp = origins.send(req, insecure).await?;
        assert_eq!(resp.status(), StatusCode::OK, "{uri}");
        Ok(resp.into_body().collect().await.expect("body").to_bytes())
    };
    tokio::time::timeout(LIMIT, run).await.expect("in time")
}

/// An origin on 127.0.0.1 answering "hi" (over TLS with an untrusted certificate for
/// `localhost` when `tls`); the counter counts accepted TCP connections.
async fn spawn_origin(tls: bool) -> (u16, Arc<AtomicUsize>) {
    let acceptor = tls.then(|| {
        let ca = crate::tls::gen::Ca::new("untrusted CA").expect("CA");
        let leaf = ca.issue(&["localhost"]).expect("leaf");
        let pem = (leaf.cert_pem.as_bytes(), leaf.key_pem.as_bytes());
        let cert = crate::tls::cert_pair_from_pem(pem.0, pem.1, "origin").expect("cert pair");
        let config = crate::tls::server_config(&cert, &[b"http/1.1"]);
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind origin");
    let port = listener.local_addr().expect("origin addr").port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&accepted);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let hi = service_fn(|_req| async {
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"hi"))))
                });
                let http1 = hyper::server::conn::http1::Builder::new();
                match acceptor {
                    None => {
                        let _ = http1.serve_connection(TokioIo::new(tcp), hi).await;
                    }
                    Some(acceptor) => {
                        let Ok(tls) = acceptor.accept(tcp).await else {
                            return;
                        };
                        let _ = http1.serve_connection(TokioIo::new(tls), hi).await;
                    }
                }
            });
        }
    });
    (port, accepted)
}

#[tokio::test]
async fn name_resolving_outside_the_allow_list_is_refused_without_contacting_the_origin() {
    let (port, accepted) = spawn_origin(true).await;
    // localhost resolves to 127.0.0.1 (and maybe ::1): admitted by no rule. The second list
    // admits 127.0.0.1, but on another port only.
    for allow in [&["10.0.0.0/8"][..], &["10.0.0.0/8", "127.0.0.1:1"]] {
        let origins = origins(allow);
        for scheme in ["https", "http"] {
            let uri = format!("{scheme}://localhost:{port}/");
            let err = get(&origins, &uri, true).await.expect_err(&uri);
            assert!(matches!(err, OriginError::NotAllowed), "{uri}: {err:?}");
            assert_eq!(err.code(), error_code::NOT_ALLOWED);
        }
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 0, "origin was contacted");
}

#[tokio::test]
async fn name_resolving_inside_the_allow_list_is_reached_over_http_and_https() {
    let (http_port, http_accepted) = spawn_origin(false).await;
    let (https_port, https_accepted) = spawn_origin(true).await;
    // If localhost also resolves to ::1, that address is dropped rather than the name
    // refused.
    let origins = origins(&["127.0.0.1"]);
    let body = get(&origins, &format!("http://localhost:{http_port}/"), false).await;
    assert_eq!(body.expect("http"), "hi");
    let body = get(&origins, &format!("https://localhost:{https_port}/"), true).await;
    assert_eq!(body.expect("https"), "hi");
    assert_eq!(http_accepted.load(Ordering::SeqCst), 1);
    assert_eq!(https_accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn resolver_filters_by_network_rules_on_the_port_and_trusts_name_rules() {
    let all: HashSet<SocketAddr> = tokio::net::lookup_host(("localhost", 0))
        .await
        .expect("localhost resolves")
        .collect();
    assert!(all.iter().any(|a| a.ip() == Ipv4Addr::LOCALHOST), "{all:?}");

    let kept = resolver(&["127.0.0.1:80"], 80).resolve("localhost").await;
    let kept = kept.expect("127.0.0.1 admitted on port 80");
    assert!(
        kept.iter().all(|a| a.ip() == Ipv4Addr::LOCALHOST),
        "{kept:?}"
    );
    assert!(!kept.is_empty());

    let by_name = resolver(&["localhost"], 80).resolve("LocalHost").await;
    let by_name: HashSet<SocketAddr> = by_name.expect("name rule").into_iter().collect();
    assert_eq!(by_name, all, "a name rule's addresses are not filtered");

    for (allow, port) in [
        (&["127.0.0.1:80", "10.0.0.0/8"][..], 81),
        (&["10.0.0.0/8"], 80),
    ] {
        let err = resolver(allow, port).resolve("localhost").await;
        let err = err.expect_err("outside the allow-list");
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
        let text = err.to_string();
        assert!(text.contains("outside the allow-list"), "{text}");
    }
    let err = resolver(&["wiki.internal:443"], 80)
        .resolve("localhost")
        .await;
    assert!(has_error::<Refused>(&err.expect_err("not listed")));
}
