//! Running a gateway: stage the configuration, start the tunnel and metrics listeners on a
//! control runtime, start the pingora edge on its own thread, and hand back a handle.

mod watch;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::listeners::tls::TlsSettings;
use pingora::listeners::{ListenerConfig, TcpSocketOptions};
use pingora::server::configuration::{Opt, ServerConf};
use pingora::server::{ExecutionPhase, RunArgs, Server, ShutdownSignal, ShutdownSignalWatch};
use pingora::services::listening::Service;
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, Signal, SignalKind};

use crate::admin::{AdminOptions, AdminState};
use crate::catalog::store::{FileStore, Stored};
use crate::catalog::writer::CatalogWriter;
use crate::config::gateway::GatewayConfig;
use crate::config::staged::{Config, Runtime};
use crate::edge::redirect::RedirectApp;
use crate::edge::EdgeApp;
use crate::live::catalog::{FileCatalog, GatewayCatalog, LiveCatalog};
use crate::live::etcd::EtcdCatalog;
use crate::live::reload::Reloader;
use crate::live::Live;
use crate::net::{wait_listening, PortHold};
use crate::routing::RoutingTable;
use crate::tls::{HandshakeFailures, HelloCheck, SniResolver};
use crate::tunnel::acceptor::TunnelContext;

/// Why a gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("invalid configuration:\n  {}", .0.join("\n  "))]
    Invalid(Vec<String>),
    #[error("{what} {addr}: {source}")]
    Bind {
        what: &'static str,
        addr: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Start(String),
}

/// How to run the gateway process.
#[derive(Debug, Clone, Default)]
pub struct GatewayOptions {
    /// The file to reload on SIGHUP and on change.
    pub config_path: Option<PathBuf>,
    /// Take the listening sockets over from a running gateway (pingora graceful upgrade).
    pub upgrade: bool,
    /// React to SIGTERM (graceful), SIGINT (fast), SIGQUIT (upgrade hand-over) and SIGHUP
    /// (reload `config_path`); the handlers are installed before the gateway is ready.
    pub unix_signals: bool,
    /// This is the process's only gateway: the process-wide log filter counts the TLS
    /// handshake failures that only pingora's log lines reveal into this gateway's metrics,
    /// from before it is ready (the binary and the quickstart set it; see `tls::quiet`).
    pub owns_process_log: bool,
}

/// A running gateway.
pub struct GatewayHandle {
    pub https_addr: SocketAddr,
    pub http_addr: Option<SocketAddr>,
    pub tunnel_addr: SocketAddr,
    pub metrics_addr: SocketAddr,
    /// The admin API listener (`None` when `admin.listen` is empty).
    pub admin_addr: Option<SocketAddr>,
    /// The live state: snapshot, registry, metrics.
    pub live: Arc<Live>,
    /// The catalog writer (desired state, store: none, a file, or etcd).
    pub catalog: Arc<GatewayCatalog>,
    /// Applies configuration files.
    pub reloader: Arc<Reloader>,
    stop: tokio::sync::watch::Sender<Option<StopKind>>,
    server: Option<std::thread::JoinHandle<()>>,
    control: Option<tokio::runtime::Runtime>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StopKind {
    Fast,
    Graceful,
}

impl GatewayHandle {
    /// Re-reads the config file and applies it (all or nothing).
    pub fn reload(&self) -> Result<u64, Vec<String>> {
        self.reloader.reload_from_file()
    }

    /// Stages a configuration given in memory and applies it (all or nothing).
    pub fn apply(&self, cfg: &GatewayConfig) -> Result<u64, Vec<String>> {
        self.reloader.apply_file(cfg)
    }

    /// A handle on the control runtime (for the binary's signal handling).
    pub fn control(&self) -> Option<tokio::runtime::Handle> {
        self.control.as_ref().map(|r| r.handle().clone())
    }

    /// Stops at once: listeners close, open connections are dropped.
    pub fn shutdown(mut self) {
        let _ = self.stop.send(Some(StopKind::Fast));
        self.finish();
    }

    /// Stops accepting, lets in-flight requests finish for the grace period, then stops.
    pub fn shutdown_graceful(mut self) {
        let _ = self.stop.send(Some(StopKind::Graceful));
        self.finish();
    }

    /// Blocks until the edge server exits (on a signal when `unix_signals` is set).
    pub fn wait(mut self) {
        self.finish();
    }

    fn finish(&mut self) {
        if let Some(t) = self.server.take() {
            let _ = t.join();
        }
        if let Some(rt) = self.control.take() {
            rt.shutdown_background();
        }
    }
}

impl Drop for GatewayHandle {
    fn drop(&mut self) {
        if self.server.is_some() {
            let _ = self.stop.send(Some(StopKind::Fast));
            self.finish();
        }
    }
}

/// Stops pingora from our channel and, when asked, from Unix signals.
struct StopSignal {
    rx: tokio::sync::watch::Receiver<Option<StopKind>>,
    /// Installed at start (pingora waits for a signal only once it runs); taken by `recv`.
    unix: std::sync::Mutex<Option<UnixStops>>,
}

#[async_trait]
impl ShutdownSignalWatch for StopSignal {
    async fn recv(&self) -> ShutdownSignal {
        let mut rx = self.rx.clone();
        let from_channel = async move {
            loop {
                if let Some(kind) = *rx.borrow_and_update() {
                    return kind;
                }
                if rx.changed().await.is_err() {
                    // The handle is gone: nobody can stop us any more except signals.
                    std::future::pending::<()>().await;
                }
            }
        };
        // Not the request path: taken once, when pingora starts waiting.
        let unix = self.unix.lock().unwrap_or_else(|p| p.into_inner()).take();
        let from_unix = async move {
            match unix {
                Some(mut stops) => stops.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            kind = from_channel => match kind {
                StopKind::Fast => ShutdownSignal::FastShutdown,
                StopKind::Graceful => ShutdownSignal::GracefulTerminate,
            },
            sig = from_unix => sig,
        }
    }
}

/// The stop signals' handlers: once installed, the signals no longer end the process at
/// once but reach pingora, whenever they come.
struct UnixStops {
    quit: Signal,
    term: Signal,
    int: Signal,
}

impl UnixStops {
    /// Installs the handlers on `control`'s signal driver; `None` (logged) when one fails.
    fn install(control: &tokio::runtime::Runtime) -> Option<UnixStops> {
        let _in_runtime = control.enter();
        match (
            signal(SignalKind::quit()),
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(quit), Ok(term), Ok(int)) => Some(UnixStops { quit, term, int }),
            _ => {
                tracing::error!("cannot install signal handlers");
                None
            }
        }
    }

    async fn recv(&mut self) -> ShutdownSignal {
        tokio::select! {
            _ = self.quit.recv() => ShutdownSignal::GracefulUpgrade,
            _ = self.term.recv() => ShutdownSignal::GracefulTerminate,
            _ = self.int.recv() => ShutdownSignal::FastShutdown,
        }
    }
}

/// Reloads the configuration file on SIGHUP; the handler is installed before this returns.
fn spawn_sighup_reload(control: &tokio::runtime::Runtime, reloader: Arc<Reloader>) {
    let _in_runtime = control.enter();
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        tracing::error!("cannot install the SIGHUP handler");
        return;
    };
    control.spawn(async move {
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading configuration");
            let r = reloader.clone();
            // Reading files and compiling a large table is blocking work.
            let _ = tokio::task::spawn_blocking(move || r.reload_from_file()).await;
        }
    });
}

/// Stages a configuration file's contents and starts a gateway from it; returns once its
/// listeners accept connections.
pub fn run_gateway(
    cfg: GatewayConfig,
    opts: GatewayOptions,
) -> Result<GatewayHandle, GatewayError> {
    let config = cfg.stage().map_err(GatewayError::Invalid)?;
    run_staged(config, opts)
}

/// Starts a gateway from a staged configuration and returns once its listeners accept
/// connections.
pub fn run_staged(cfg: Config, opts: GatewayOptions) -> Result<GatewayHandle, GatewayError> {
    let source = load_catalog(&cfg)?;
    let tunnel_tls = tunnel_tls(&cfg);
    let (https_hold, http_hold) = hold_edge_ports(&cfg, opts.upgrade)?;
    let control = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cfg.runtime.control_threads.max(1))
        .thread_name("switchyard-control")
        .enable_all()
        .build()
        .map_err(|e| GatewayError::Start(format!("control runtime: {e}")))?;
    // Bound here with std so errors surface now and the addresses are known; the control
    // runtime adopts them (this function may itself be called from async code).
    let tunnel_listener = bind_std("tunnel listener", cfg.listen.tunnel)?;
    let metrics_listener = bind_std("metrics listener", cfg.listen.metrics)?;
    let tunnel_addr = local_addr(&tunnel_listener)?;
    let metrics_addr = local_addr(&metrics_listener)?;
    let admin = admin_listener(&cfg)?;
    let admin_addr = admin.as_ref().map(|(_, a, _)| *a);

    let (live, catalog) = source.into_writer(&cfg, gateway_name(https_hold.addr))?;
    let reloader = Arc::new(Reloader::new(
        live.clone(),
        catalog.clone(),
        opts.config_path.clone(),
        cfg.clone(),
    ));
    let parts = Parts {
        live,
        catalog,
        reloader,
    };
    let tasks = spawn_control_tasks(
        &control,
        &cfg,
        &opts,
        &parts,
        (tunnel_listener, tunnel_tls),
        metrics_listener,
        admin,
    );
    let (stop, stop_rx) = tokio::sync::watch::channel(None);
    let https_addr = https_hold.addr;
    let http_addr = http_hold.as_ref().map(|h| h.addr);
    let edge = EdgeStart {
        https: (https_addr, https_hold.needs_reuseport()),
        http: http_hold.as_ref().map(|h| (h.addr, h.needs_reuseport())),
        stop: StopSignal {
            rx: stop_rx,
            unix: std::sync::Mutex::new(
                opts.unix_signals
                    .then(|| UnixStops::install(&control))
                    .flatten(),
            ),
        },
        handover: Handover {
            control: control.handle().clone(),
            tunnel_acceptor: tasks.tunnel_acceptor,
            admin: tasks.admin,
        },
    };
    if opts.owns_process_log {
        crate::tls::quiet::attach(crate::tls::HandshakeFailures::new(
            &parts.live.metrics.tls_handshake_failures,
        ));
    }
    let server = spawn_edge_thread(&cfg, parts.live.clone(), edge, opts)?;
    let handle = GatewayHandle {
        https_addr,
        http_addr,
        tunnel_addr,
        metrics_addr,
        admin_addr,
        live: parts.live,
        catalog: Arc::new(GatewayCatalog::new(parts.catalog)),
        reloader: parts.reloader,
        stop,
        server: Some(server),
        control: Some(control),
    };
    wait_ready(handle, (https_hold, http_hold))
}

/// Returns the handle once the edge listeners accept connections (the port holds are
/// released then); stops the gateway when they do not come up.
fn wait_ready(
    mut handle: GatewayHandle,
    (https_hold, http_hold): (PortHold, Option<PortHold>),
) -> Result<GatewayHandle, GatewayError> {
    let (https_addr, http_addr) = (handle.https_addr, handle.http_addr);
    let (tunnel_addr, metrics_addr, admin_addr) =
        (handle.tunnel_addr, handle.metrics_addr, handle.admin_addr);
    let up = wait_listening(https_addr, Duration::from_secs(15))
        && http_addr.is_none_or(|a| wait_listening(a, Duration::from_secs(15)));
    drop(https_hold);
    drop(http_hold);
    if !up {
        let _ = handle.stop.send(Some(StopKind::Fast));
        handle.finish();
        return Err(GatewayError::Start(format!(
            "the HTTPS listener on {https_addr} did not come up (address in use?)"
        )));
    }
    tracing::info!(
        https = %https_addr,
        tunnel = %tunnel_addr,
        metrics = %crate::metrics::describe(&metrics_addr),
        admin = %admin_addr.map_or_else(|| "off".to_string(), |a| a.to_string()),
        "gateway ready"
    );
    Ok(handle)
}

/// The live state, the catalog writer and the reloader of one gateway.
struct Parts {
    live: Arc<Live>,
    catalog: Arc<dyn LiveCatalog>,
    reloader: Arc<Reloader>,
}

/// This gateway's name among others sharing a store: the host's name and the HTTPS port.
fn gateway_name(https: SocketAddr) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty() && !h.contains('/'))
        .unwrap_or_else(|| "gateway".to_owned());
    format!("{host}:{}", https.port())
}

/// Where the catalog in service comes from, read before anything starts.
// Built once at start and consumed at once: its size does not matter.
#[allow(clippy::large_enum_variant)]
enum Source {
    /// The configuration file, or a file store (seeded from the file when empty).
    File(Stored, Option<FileStore>, RoutingTable),
    /// etcd, listed (and seeded when empty).
    Etcd(crate::live::etcd::Started),
}

impl Source {
    /// The live state serving this catalog and its writer.
    fn into_writer(
        self,
        cfg: &Config,
        name: String,
    ) -> Result<(Arc<Live>, Arc<dyn LiveCatalog>), GatewayError> {
        match self {
            Source::File(desired, store, table) => {
                let live = Live::new(table, cfg.settings, cfg.cert_store());
                live.metrics.store_connected.set(1);
                let writer = Arc::new(FileCatalog::new(live.clone(), desired, store));
                Ok((live, writer))
            }
            Source::Etcd(mut started) => {
                let table = std::mem::take(&mut started.table);
                let live = Live::new(table, cfg.settings, cfg.cert_store());
                let writer =
                    EtcdCatalog::new(live.clone(), started).map_err(GatewayError::Start)?;
                writer.announce(name);
                Ok((live, writer))
            }
        }
    }
}

/// The desired state (from the store, or the file when there is none or it is empty), its
/// store, and its compiled table. An empty store is seeded from the file.
fn load_catalog(cfg: &Config) -> Result<Source, GatewayError> {
    if let Some(etcd) = &cfg.store_etcd {
        let started =
            crate::live::etcd::start(etcd, &cfg.catalog).map_err(GatewayError::Invalid)?;
        return Ok(Source::Etcd(started));
    }
    let store = cfg.store_dir.as_deref().map(FileStore::in_dir);
    let from_file = || Stored {
        version: 1,
        catalog: cfg.catalog.clone(),
    };
    let (desired, seed) = match &store {
        None => (from_file(), false),
        Some(s) => match s.load() {
            Ok(Some(stored)) => (stored, false),
            Ok(None) => (from_file(), true),
            Err(e) => return Err(GatewayError::Invalid(vec![e.to_string()])),
        },
    };
    let table = RoutingTable::compile(&desired.catalog, desired.version).map_err(|es| {
        // A stored catalog is not the file the operator is looking at: say where it is.
        let origin = match (&store, seed) {
            (Some(s), false) => format!("catalog store {}: ", s.path().display()),
            _ => String::new(),
        };
        GatewayError::Invalid(es.iter().map(|e| format!("{origin}{e}")).collect())
    })?;
    if let (Some(s), true) = (&store, seed) {
        s.save(&desired)
            .map_err(|e| GatewayError::Start(e.to_string()))?;
        tracing::info!(path = %s.path().display(), "catalog store seeded from the configuration file");
    }
    Ok(Source::File(desired, store, table))
}

/// The TLS acceptor of the tunnel listener.
fn tunnel_tls(cfg: &Config) -> tokio_rustls::TlsAcceptor {
    tokio_rustls::TlsAcceptor::from(Arc::new(crate::tls::server_config(&cfg.tunnel_cert, &[])))
}

/// Reserves the edge ports (HTTPS, and plain HTTP when configured) until pingora binds them.
fn hold_edge_ports(
    cfg: &Config,
    upgrade: bool,
) -> Result<(PortHold, Option<PortHold>), GatewayError> {
    let hold = |what: &'static str, addr: SocketAddr| {
        PortHold::new(addr, upgrade).map_err(|source| GatewayError::Bind {
            what,
            addr: addr.to_string(),
            source,
        })
    };
    let https = hold("HTTPS listener", cfg.listen.https)?;
    let http = match cfg.listen.http {
        Some(a) => Some(hold("HTTP listener", a)?),
        None => None,
    };
    Ok((https, http))
}

fn bind_std(what: &'static str, addr: SocketAddr) -> Result<std::net::TcpListener, GatewayError> {
    crate::net::bind_shared(addr).map_err(|source| GatewayError::Bind {
        what,
        addr: addr.to_string(),
        source,
    })
}

fn local_addr(l: &std::net::TcpListener) -> Result<SocketAddr, GatewayError> {
    l.local_addr()
        .map_err(|e| GatewayError::Start(e.to_string()))
}

type AdminListener = (std::net::TcpListener, SocketAddr, AdminOptions);

/// The admin listener, bound, with its TLS (`None` when `admin.listen` is empty).
fn admin_listener(cfg: &Config) -> Result<Option<AdminListener>, GatewayError> {
    let Some(addr) = cfg.admin.listen else {
        return Ok(None);
    };
    let tls = cfg.admin.tls.as_ref().map(|pair| {
        tokio_rustls::TlsAcceptor::from(Arc::new(crate::tls::server_config(
            pair,
            &[b"h2", b"http/1.1"],
        )))
    });
    let listener = bind_std("admin listener", addr)?;
    let bound = local_addr(&listener)?;
    let opts = AdminOptions {
        tls,
        max_body_bytes: cfg.admin.max_body_bytes,
    };
    Ok(Some((listener, bound, opts)))
}

/// The control tasks a hand-over stops.
struct ControlTasks {
    tunnel_acceptor: tokio::task::AbortHandle,
    admin: Option<tokio::task::AbortHandle>,
}

/// Starts the tunnel acceptor, the metrics and admin listeners and the file watcher on the
/// control runtime.
fn spawn_control_tasks(
    control: &tokio::runtime::Runtime,
    cfg: &Config,
    opts: &GatewayOptions,
    parts: &Parts,
    (tunnel_listener, tunnel_tls): (std::net::TcpListener, tokio_rustls::TlsAcceptor),
    metrics_listener: std::net::TcpListener,
    admin: Option<AdminListener>,
) -> ControlTasks {
    let catalog: Arc<dyn CatalogWriter> = parts.catalog.clone().writer();
    let tunnel_listen = tunnel_listener.local_addr().ok();
    let ctx = TunnelContext {
        live: parts.live.clone(),
        catalog: catalog.clone(),
    };
    let tunnel_acceptor = control.spawn(async move {
        match TcpListener::from_std(tunnel_listener) {
            Ok(l) => crate::tunnel::acceptor::serve(l, tunnel_tls, ctx).await,
            Err(e) => tracing::error!(error = %e, "tunnel listener"),
        }
    });
    let metrics = parts.live.metrics.clone();
    control.spawn(async move {
        match TcpListener::from_std(metrics_listener) {
            Ok(l) => crate::metrics::serve(l, metrics).await,
            Err(e) => tracing::error!(error = %e, "metrics listener"),
        }
    });
    let admin = admin.map(|(listener, _, admin_opts)| {
        let state = AdminState {
            live: parts.live.clone(),
            catalog,
            tokens: parts.reloader.admin_tokens.clone(),
            tunnel_listen,
        };
        control
            .spawn(async move {
                match TcpListener::from_std(listener) {
                    Ok(l) => crate::admin::serve(l, admin_opts, state).await,
                    Err(e) => tracing::error!(error = %e, "admin listener"),
                }
            })
            .abort_handle()
    });
    if let (Some(_), true) = (&opts.config_path, opts.unix_signals) {
        spawn_sighup_reload(control, parts.reloader.clone());
    }
    if let Some(path) = &opts.config_path {
        if let Some(every) = cfg.runtime.watch_interval {
            control.spawn(watch::watch_file(
                path.clone(),
                every,
                parts.reloader.clone(),
            ));
        }
    }
    ControlTasks {
        tunnel_acceptor: tunnel_acceptor.abort_handle(),
        admin,
    }
}

/// What the edge thread needs besides the configuration and the live state.
struct EdgeStart {
    https: (SocketAddr, bool),
    http: Option<(SocketAddr, bool)>,
    stop: StopSignal,
    handover: Handover,
}

/// Runs the pingora edge on a thread of its own (pingora builds its own runtimes).
fn spawn_edge_thread(
    cfg: &Config,
    live: Arc<Live>,
    edge: EdgeStart,
    opts: GatewayOptions,
) -> Result<std::thread::JoinHandle<()>, GatewayError> {
    let runtime = cfg.runtime.clone();
    std::thread::Builder::new()
        .name("switchyard-edge".into())
        .spawn(move || run_edge(&runtime, live, edge, opts))
        .map_err(|e| GatewayError::Start(format!("edge thread: {e}")))
}

/// What the old process does when a new one takes over (`gateway -u`, then SIGQUIT).
struct Handover {
    control: tokio::runtime::Handle,
    tunnel_acceptor: tokio::task::AbortHandle,
    admin: Option<tokio::task::AbortHandle>,
}

impl Handover {
    /// Watches pingora's phases. Once the listening sockets were sent to the new process,
    /// the tunnel listener closes (so new tunnels land on the new process, which shares the
    /// port) and every connector is asked to dial replacements; the old tunnels keep serving
    /// this process's last requests until it exits.
    fn watch(self, mut phases: tokio::sync::broadcast::Receiver<ExecutionPhase>, live: Arc<Live>) {
        self.control.spawn(async move {
            loop {
                match phases.recv().await {
                    Ok(ExecutionPhase::GracefulUpgradeTransferringFds) => {
                        // The new process loaded the catalog store before asking for the
                        // sockets: a write accepted here from now on would be lost to it.
                        if let Some(admin) = &self.admin {
                            admin.abort();
                        }
                    }
                    Ok(ExecutionPhase::GracefulUpgradeCloseTimeout) => {
                        self.tunnel_acceptor.abort();
                        let n = live.registry.request_reconnect_all();
                        tracing::info!(
                            tunnels = n,
                            "handing over: connectors asked to reconnect to the new process"
                        );
                    }
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        });
    }
}

fn socket_options(reuseport: bool) -> TcpSocketOptions {
    let mut o = TcpSocketOptions::default();
    if reuseport {
        o.so_reuseport = Some(true);
    }
    o
}

/// The edge listener, which also tells the live state which runtime it runs on (tunnels
/// are then driven there: see [`Live::edge_runtime`]).
struct EdgeService {
    inner: Service<EdgeApp>,
    live: Arc<Live>,
}

#[async_trait]
impl pingora::services::Service for EdgeService {
    async fn start_service(
        &mut self,
        fds: Option<pingora::server::ListenFds>,
        shutdown: pingora::server::ShutdownWatch,
        listeners_per_fd: usize,
    ) {
        let _ = self
            .live
            .edge_runtime
            .set(tokio::runtime::Handle::current());
        pingora::services::Service::start_service(&mut self.inner, fds, shutdown, listeners_per_fd)
            .await
    }

    fn name(&self) -> &str {
        pingora::services::Service::name(&self.inner)
    }

    fn threads(&self) -> Option<usize> {
        pingora::services::Service::threads(&self.inner)
    }

    fn listen_addresses(&self) -> Option<Vec<String>> {
        pingora::services::Service::listen_addresses(&self.inner)
    }
}

fn run_edge(runtime: &Runtime, live: Arc<Live>, edge: EdgeStart, opts: GatewayOptions) {
    let EdgeStart {
        https,
        http,
        stop,
        handover,
    } = edge;
    let threads = if runtime.threads == 0 {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    } else {
        runtime.threads
    };
    let conf = ServerConf {
        threads,
        // One thread: a current-thread runtime does the same work without the bookkeeping
        // of a work-stealing scheduler.
        work_stealing: threads > 1,
        grace_period_seconds: Some(runtime.shutdown_grace.as_secs()),
        graceful_shutdown_timeout_seconds: Some(1),
        upgrade_sock: runtime.upgrade_sock.clone(),
        ..ServerConf::default()
    };
    let opt = Opt {
        upgrade: opts.upgrade,
        ..Opt::default()
    };
    let mut server = Server::new_with_opt_and_conf(opt, conf);

    let mut tls = match TlsSettings::intermediate("", "") {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "TLS settings");
            return;
        }
    };
    let failures = HandshakeFailures::new(&live.metrics.tls_handshake_failures);
    tls.set_cert_resolver(Arc::new(SniResolver::new(
        live.certs.clone(),
        failures.clone(),
    )));
    tls.enable_h2();
    let mut edge = Service::new("switchyard-edge".into(), EdgeApp::new(live.clone()));
    edge.endpoints()
        .set_pre_tls_callback(Arc::new(HelloCheck::new(failures)));
    edge.add_listener(
        ListenerConfig::tcp(https.0.to_string())
            .tcp_socket_options(socket_options(https.1))
            .tls(tls),
    );
    server.add_service(EdgeService {
        inner: edge,
        live: live.clone(),
    });
    if let Some((addr, reuse)) = http {
        let mut redirect = Service::new(
            "switchyard-redirect".into(),
            RedirectApp {
                https_port: https.0.port(),
            },
        );
        redirect.add_listener(
            ListenerConfig::tcp(addr.to_string()).tcp_socket_options(socket_options(reuse)),
        );
        server.add_service(redirect);
    }
    server.bootstrap();
    handover.watch(server.watch_execution_phase(), live);
    server.run(RunArgs {
        shutdown_signal: Box::new(stop),
    });
}
