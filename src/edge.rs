//! The edge: the pingora `HttpServerApp` that owns the user's session. Every request goes
//! read → limits → route (one table load) → forward over a tunnel → access log + metrics.

pub mod affinity;
pub mod chunks;
pub mod early;
pub mod forward;
pub mod framing;
pub mod headers;
pub mod redirect;
pub mod rescue;
pub mod slow;
pub mod upgrade;

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use pingora::apps::{
    HttpPersistentSettings, HttpServerApp, HttpServerOptions, ReusedHttpStream, ServerApp,
};
use pingora::protocols::http::ServerSession;
use pingora::protocols::Stream;
use pingora::server::ShutdownWatch;

use crate::edge::forward::Served;
use crate::edge::rescue::ForwardError;
use crate::live::{Live, Snapshot};

/// The HTTPS edge application: admits a connection under the connection cap, then serves
/// HTTP on it.
pub struct EdgeApp {
    http: Arc<EdgeHttp>,
    cap: slow::ConnectionCap,
}

/// The HTTP side of the edge: one call per request (h1) or stream (h2).
pub struct EdgeHttp {
    live: Arc<Live>,
    options: HttpServerOptions,
}

impl EdgeApp {
    /// An edge app serving from the gateway's live state.
    pub fn new(live: Arc<Live>) -> EdgeApp {
        let mut options = HttpServerOptions::default();
        // pingora reads its server options once: a restart applies a new idle timeout.
        let limits = live.settings().limits;
        options.h2_idle_timeout = Some(std::time::Duration::from_secs(limits.h2_idle_secs));
        let cap = slow::ConnectionCap::new(
            limits.max_connections,
            live.metrics.downstream_connections.clone(),
            live.metrics.downstream_refused.clone(),
        );
        EdgeApp {
            http: Arc::new(EdgeHttp { live, options }),
            cap,
        }
    }
}

#[async_trait]
impl ServerApp for EdgeApp {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        // Dropping a refused stream closes it; an admitted one keeps its place until pingora's
        // HTTP loop is done with the connection (every keep-alive request, every h2 stream).
        let _admitted = self.cap.admit()?;
        let stream = chunks::StrictChunks::wrap(stream);
        ServerApp::process_new(&self.http, stream, shutdown).await
    }

    async fn cleanup(&self) {
        ServerApp::cleanup(&*self.http).await
    }
}

/// pingora's parse errors for oversized heads carry these words.
fn parse_error_status(e: &pingora::Error) -> ForwardError {
    let text = e.to_string();
    if text.contains("too many headers") || text.contains("larger than") {
        ForwardError::HeadersTooLarge
    } else {
        ForwardError::BadRequest("could not parse the request")
    }
}

#[async_trait]
impl HttpServerApp for EdgeHttp {
    async fn process_new_http(
        self: &Arc<Self>,
        mut session: ServerSession,
        shutdown: &ShutdownWatch,
    ) -> Option<ReusedHttpStream> {
        // Settings copied out before the head arrives: an idle keep-alive connection holds
        // no snapshot (the request loads its own below).
        let limits = self.live.settings().limits;
        let deadline = slow::head_deadline(&mut session, &limits);
        let failed = match tokio::time::timeout(deadline, session.read_request()).await {
            Ok(Ok(true)) => None,
            Ok(Ok(false)) => return None,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "unparsable request");
                Some(parse_error_status(&e))
            }
            Err(_) => {
                self.live
                    .metrics
                    .slow_clients
                    .with_label_values(&["header"])
                    .inc();
                Some(ForwardError::HeadTimeout)
            }
        };
        if let Some(err) = failed {
            session.set_keepalive(None);
            rescue::respond(&mut session, &err).await;
            return None;
        }
        slow::set_body_timeouts(&mut session, &limits);
        // The one snapshot load of this request: table, metrics and settings agree.
        let snapshot = self.live.snapshot();
        session.set_keepalive(if *shutdown.borrow() {
            None
        } else {
            Some(snapshot.settings.limits.keepalive_secs)
        });
        // Boxed on its own: an idle keep-alive connection waits in `read_request` above and
        // so holds only this small future, not the (much larger) state of an exchange.
        Box::pin(self.respond(session, snapshot)).await
    }

    fn server_options(&self) -> Option<&HttpServerOptions> {
        Some(&self.options)
    }
}

impl EdgeHttp {
    /// Answers the request `session` has read; hands the connection back for reuse.
    async fn respond(
        &self,
        mut session: ServerSession,
        snapshot: Arc<Snapshot>,
    ) -> Option<ReusedHttpStream> {
        let started = Instant::now();
        let mut served = Served::default();
        let result = serve(&self.live, &snapshot, &mut session, &mut served).await;
        let (app_name, reuse) = match &result {
            Ok(app) => (app.clone(), true),
            Err((app, err)) => {
                served.status = err.status();
                let reuse = rescue::respond(&mut session, err).await;
                (app.clone(), reuse)
            }
        };
        let elapsed = started.elapsed();
        let metrics = app_name
            .as_deref()
            .and_then(|a| snapshot.app_metrics.get(a))
            .unwrap_or(&snapshot.unrouted_metrics);
        metrics.observe(served.status, elapsed.as_secs_f64());
        if served.retries > 0 {
            metrics.retries.inc_by(served.retries as u64);
        }
        match &result {
            Err((_, ForwardError::NoLiveConnector(_))) => metrics.no_live.inc(),
            Err((_, ForwardError::BodyTimeout | ForwardError::SlowReader)) => {
                let slow = &self.live.metrics.slow_clients;
                slow.with_label_values(&["body"]).inc();
            }
            _ => {}
        }
        if snapshot.settings.access_log {
            let req = session.req_header();
            tracing::info!(
                target: "switchyard::access",
                method = %req.method,
                host = headers::external_authority(req).unwrap_or("-"),
                path = req.uri.path(),
                app = app_name.as_deref().unwrap_or("-"),
                group = served.group.as_deref().unwrap_or("-"),
                connector = served.connector.as_deref().unwrap_or("-"),
                status = served.status,
                retries = served.retries,
                duration_ms = elapsed.as_secs_f64() * 1000.0,
                error = result.as_ref().err().map(|(_, e)| e.kind()).unwrap_or("-"),
            );
        }
        if !reuse || session.is_http2() {
            return None;
        }
        let mut persistent = HttpPersistentSettings::for_session(&session);
        persistent.set_user_context(Box::new(slow::Reused));
        match session.finish().await {
            Ok(Some(stream)) => Some(ReusedHttpStream::from_reusable_stream(stream, persistent)),
            _ => None,
        }
    }
}

type AppName = Option<Arc<str>>;

async fn serve(
    live: &Live,
    snapshot: &Snapshot,
    session: &mut ServerSession,
    served: &mut Served,
) -> Result<AppName, (AppName, ForwardError)> {
    framing::check(session.req_header_mut()).map_err(|e| (None, e))?;
    let req = session.req_header();
    headers::check_limits(req, &snapshot.settings.limits).map_err(|e| (None, e))?;
    let authority = headers::external_authority(req)
        .map_err(|e| (None, e))?
        .to_owned();
    let path = req.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let route = snapshot
        .table
        .lookup(&authority, path)
        .cloned()
        .ok_or((None, ForwardError::NoApp))?;
    let app = Some(route.app.clone());
    let metrics = snapshot
        .app_metrics
        .get(&route.app)
        .unwrap_or(&snapshot.unrouted_metrics);
    let edge = forward::EdgeContext {
        live,
        settings: &snapshot.settings,
        view: &live.registry.view(),
    };
    forward::forward(&edge, session, &route, metrics, &authority, served)
        .await
        .map_err(|e| (app.clone(), e))?;
    Ok(app)
}
