//! The quickstart's demo origins: `hello` (a greeting) and `echo` (the request it received,
//! as JSON, with the body's length and SHA-256 instead of the body, so uploads of any size
//! work).

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;

async fn serve<F, Fut>(handler: F) -> std::io::Result<SocketAddr>
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                continue;
            };
            let handler = handler.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let handler = handler.clone();
                    async move { Ok::<_, Infallible>(handler(req).await) }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(sock), svc)
                    .await;
            });
        }
    });
    Ok(addr)
}

fn text(status: u16, body: impl Into<Bytes>, ctype: &'static str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(body.into()));
    *resp.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK);
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(ctype),
    );
    resp
}

/// Starts the greeting app.
pub async fn spawn_hello() -> std::io::Result<SocketAddr> {
    serve(|_req| async {
        text(
            200,
            "Hello from the hello app, served through Switchyard.\n",
            "text/plain; charset=utf-8",
        )
    })
    .await
}

/// Starts the echo app: it reads the whole body as it streams in (any size, nothing kept)
/// and answers with the request's method, path, headers, body length and SHA-256.
pub async fn spawn_echo() -> std::io::Result<SocketAddr> {
    serve(|req: Request<Incoming>| async move {
        let (parts, body) = req.into_parts();
        let Some((bytes, sha256)) = digest(body).await else {
            return text(400, "request body broken off\n", "text/plain");
        };
        let headers: serde_json::Map<String, serde_json::Value> = parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    serde_json::Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()),
                )
            })
            .collect();
        let json = serde_json::json!({
            "method": parts.method.as_str(),
            "path": parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"),
            "version": format!("{:?}", parts.version),
            "headers": headers,
            "body_bytes": bytes,
            "body_sha256": sha256,
        });
        let mut out = serde_json::to_vec_pretty(&json).unwrap_or_default();
        out.push(b'\n');
        text(200, out, "application/json")
    })
    .await
}

/// Length and hex SHA-256 of a body, read frame by frame; `None` if it broke off.
async fn digest(mut body: Incoming) -> Option<(u64, String)> {
    let mut hasher = Sha256::new();
    let mut bytes = 0u64;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.ok()?.into_data() {
            bytes += data.len() as u64;
            hasher.update(&data);
        }
    }
    Some((bytes, hex::encode(hasher.finalize())))
}
