//! Test origins: plain http and https (untrusted certificate), with endpoints that greet,
//! echo, stream forever and switch protocols.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// `/slow` bodies dropped so far: the origin side of a request the connector abandoned.
pub(super) static SLOW_BODIES_DROPPED: AtomicUsize = AtomicUsize::new(0);

type OriginBody = BoxBody<Bytes, hyper::Error>;

fn full(text: &'static str) -> OriginBody {
    Full::new(Bytes::from_static(text.as_bytes()))
        .map_err(|never| match never {})
        .boxed()
}

/// The origin: `/hello` (with hop-by-hop headers the connector must drop), `/echo` (streams
/// the request body back), `/ws` (switches to an echoing byte protocol on `Upgrade`).
async fn origin_service(req: Request<Incoming>) -> Result<Response<OriginBody>, Infallible> {
    let seen_host = req.headers().get(http::header::HOST).cloned();
    let resp = match req.uri().path() {
        "/hello" => {
            let mut resp = Response::new(full("hello from origin"));
            let headers = resp.headers_mut();
            if let Some(host) = seen_host {
                headers.insert("x-seen-host", host);
            }
            headers.insert("connection", "x-private".parse().expect("value"));
            headers.insert("x-private", "1".parse().expect("value"));
            headers.insert("keep-alive", "timeout=5".parse().expect("value"));
            resp
        }
        "/echo" => Response::new(req.into_body().boxed()),
        "/slow" => Response::new(slow_body()),
        "/ws" if req.headers().contains_key(http::header::UPGRADE) => {
            let on_upgrade = hyper::upgrade::on(req);
            tokio::spawn(async move {
                let Ok(upgraded) = on_upgrade.await else {
                    return;
                };
                let mut io = TokioIo::new(upgraded);
                let mut buf = vec![0u8; 4096];
                while let Ok(n) = io.read(&mut buf).await {
                    if n == 0 || io.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                let _ = io.shutdown().await;
            });
            let mut resp = Response::new(full(""));
            *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
            let headers = resp.headers_mut();
            headers.insert("connection", "upgrade".parse().expect("value"));
            headers.insert("upgrade", "echo-proto".parse().expect("value"));
            headers.insert("x-origin-upgraded", "yes".parse().expect("value"));
            resp
        }
        _ => {
            let mut resp = Response::new(full("not found"));
            *resp.status_mut() = StatusCode::NOT_FOUND;
            resp
        }
    };
    Ok(resp)
}

/// Starts the origin; the counter counts accepted TCP connections.
pub(super) async fn spawn_origin() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind origin");
    let addr = listener.local_addr().expect("origin addr");
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&accepted);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service_fn(origin_service))
                    .with_upgrades(),
            );
        }
    });
    (addr, accepted)
}

/// An https origin whose certificate (for 127.0.0.1) comes from a CA the connector does not
/// trust.
pub(super) async fn spawn_tls_origin() -> SocketAddr {
    let ca = crate::tls::gen::Ca::new("untrusted CA").expect("CA");
    let leaf = ca.issue(&["localhost", "127.0.0.1"]).expect("leaf");
    let pem = (leaf.cert_pem.as_bytes(), leaf.key_pem.as_bytes());
    let cert = crate::tls::cert_pair_from_pem(pem.0, pem.1, "origin").expect("cert pair");
    let config = crate::tls::server_config(&cert, &[b"http/1.1"]);
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind origin");
    let addr = listener.local_addr().expect("origin addr");
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service_fn(origin_service))
                    .await;
            });
        }
    });
    addr
}

/// Counts its own drop in [`SLOW_BODIES_DROPPED`].
struct DropCounter;

impl Drop for DropCounter {
    fn drop(&mut self) {
        SLOW_BODIES_DROPPED.fetch_add(1, Ordering::SeqCst);
    }
}

/// A body that sends 1 KiB every 10 ms and never ends.
fn slow_body() -> OriginBody {
    let chunks = futures_util::stream::unfold(DropCounter, |guard| async move {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let frame = Frame::data(Bytes::from_static(&[b'x'; 1024]));
        Some((Ok::<_, hyper::Error>(frame), guard))
    });
    StreamBody::new(chunks).boxed()
}
