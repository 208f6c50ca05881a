//! Steady traffic from a real client while something breaks: N tasks loop requests over
//! HTTP/1.1 keep-alive until stopped, and count what came back. Also an origin that records
//! the id of every request it receives, to prove nothing was replayed.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// Every request carries this header, `TASK-SEQ`, unique within one load run.
pub const REQ_ID: &str = "x-req-id";
/// An origin that echoes the id answers with it here; a mismatch is counted as a failure.
pub const REQ_ID_ECHO: &str = "x-req-id-echo";

/// What to send.
#[derive(Clone)]
pub struct LoadSpec {
    pub url: String,
    pub tasks: usize,
    /// `None`: GET; `Some(body)`: POST with that body (the id is appended to it).
    pub post_body: Option<String>,
    /// Pause between two requests of one task (keeps the 2-core machine responsive).
    pub pause: Duration,
    pub timeout: Duration,
}

impl LoadSpec {
    pub fn get(url: impl Into<String>, tasks: usize) -> LoadSpec {
        LoadSpec {
            url: url.into(),
            tasks,
            post_body: None,
            pause: Duration::from_millis(2),
            timeout: Duration::from_secs(10),
        }
    }

    pub fn post(url: impl Into<String>, tasks: usize, body: &str) -> LoadSpec {
        LoadSpec {
            post_body: Some(body.to_string()),
            ..LoadSpec::get(url, tasks)
        }
    }
}

#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    ok: AtomicU64,
    failed: AtomicU64,
}

#[derive(Default)]
struct TaskLog {
    failures: Vec<String>,
    ok_ids: Vec<String>,
    failed_ids: Vec<String>,
    latencies: Vec<Duration>,
}

/// A running load; [`Load::stop`] ends it and reports.
pub struct Load {
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
    started: Instant,
    tasks: Vec<tokio::task::JoinHandle<TaskLog>>,
}

/// What one load run saw.
#[derive(Debug)]
pub struct LoadReport {
    pub sent: u64,
    pub ok: u64,
    pub failed: u64,
    /// The first few failures: `+MS id: what`.
    pub failures: Vec<String>,
    pub ok_ids: Vec<String>,
    pub failed_ids: Vec<String>,
    pub latencies: Vec<Duration>,
    pub elapsed: Duration,
}

/// Failure descriptions kept per task.
const KEEP_FAILURES: usize = 5;

impl LoadReport {
    fn quantile(&self, q: f64) -> Duration {
        let mut v = self.latencies.clone();
        v.sort();
        if v.is_empty() {
            return Duration::ZERO;
        }
        v[((v.len() - 1) as f64 * q).round() as usize]
    }

    pub fn p50(&self) -> Duration {
        self.quantile(0.5)
    }
    pub fn p99(&self) -> Duration {
        self.quantile(0.99)
    }
    pub fn max_latency(&self) -> Duration {
        self.latencies.iter().max().copied().unwrap_or_default()
    }

    /// One line for assertion messages and logs.
    pub fn summary(&self) -> String {
        format!(
            "sent={} ok={} failed={} in {:?} (p50 {:?}, p99 {:?}, max {:?}); first failures: {:?}",
            self.sent,
            self.ok,
            self.failed,
            self.elapsed,
            self.p50(),
            self.p99(),
            self.max_latency(),
            self.failures
        )
    }
}

impl Load {
    /// Starts `spec.tasks` request loops on the current runtime.
    pub fn start(client: reqwest::Client, spec: LoadSpec) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(Counters::default());
        let started = Instant::now();
        let tasks = (0..spec.tasks)
            .map(|task| {
                let (client, spec) = (client.clone(), spec.clone());
                let (stop, counters) = (stop.clone(), counters.clone());
                tokio::spawn(run_task(task, client, spec, stop, counters, started))
            })
            .collect();
        Load {
            stop,
            counters,
            started,
            tasks,
        }
    }

    pub fn sent(&self) -> u64 {
        self.counters.sent.load(Ordering::SeqCst)
    }
    pub fn ok(&self) -> u64 {
        self.counters.ok.load(Ordering::SeqCst)
    }
    pub fn failed(&self) -> u64 {
        self.counters.failed.load(Ordering::SeqCst)
    }
    /// Requests sent and not answered yet.
    pub fn in_flight(&self) -> u64 {
        self.sent() - self.ok() - self.failed()
    }

    /// Waits until `n` more requests succeeded than now; false on timeout.
    pub async fn wait_ok(&self, n: u64, timeout: Duration) -> bool {
        let target = self.ok() + n;
        let deadline = Instant::now() + timeout;
        while self.ok() < target {
            if Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        true
    }

    /// Stops every task after its current request and reports.
    pub async fn stop(self) -> LoadReport {
        self.stop.store(true, Ordering::SeqCst);
        let mut report = LoadReport {
            sent: 0,
            ok: 0,
            failed: 0,
            failures: Vec::new(),
            ok_ids: Vec::new(),
            failed_ids: Vec::new(),
            latencies: Vec::new(),
            elapsed: Duration::ZERO,
        };
        for t in self.tasks {
            let log = t.await.expect("load task");
            report.failures.extend(log.failures);
            report.ok_ids.extend(log.ok_ids);
            report.failed_ids.extend(log.failed_ids);
            report.latencies.extend(log.latencies);
        }
        report.elapsed = self.started.elapsed();
        report.sent = self.counters.sent.load(Ordering::SeqCst);
        report.ok = self.counters.ok.load(Ordering::SeqCst);
        report.failed = self.counters.failed.load(Ordering::SeqCst);
        report
    }
}

async fn run_task(
    task: usize,
    client: reqwest::Client,
    spec: LoadSpec,
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
    started: Instant,
) -> TaskLog {
    let mut log = TaskLog::default();
    let mut seq = 0u64;
    while !stop.load(Ordering::SeqCst) {
        seq += 1;
        let id = format!("{task}-{seq}");
        let req = match &spec.post_body {
            None => client.get(&spec.url),
            Some(body) => client.post(&spec.url).body(format!("{body} {id}")),
        }
        .header(REQ_ID, &id)
        .timeout(spec.timeout);
        counters.sent.fetch_add(1, Ordering::SeqCst);
        let t0 = Instant::now();
        let outcome = one(req, &id).await;
        log.latencies.push(t0.elapsed());
        match outcome {
            Ok(()) => {
                counters.ok.fetch_add(1, Ordering::SeqCst);
                log.ok_ids.push(id);
            }
            Err(what) => {
                counters.failed.fetch_add(1, Ordering::SeqCst);
                if log.failures.len() < KEEP_FAILURES {
                    log.failures.push(format!(
                        "+{}ms {id} (took {}ms): {what}",
                        t0.duration_since(started).as_millis(),
                        t0.elapsed().as_millis()
                    ));
                }
                log.failed_ids.push(id);
            }
        }
        tokio::time::sleep(spec.pause).await;
    }
    log
}

/// One request: Ok for a 2xx whose whole body arrived (and whose echoed id, if any, is ours).
async fn one(req: reqwest::RequestBuilder, id: &str) -> Result<(), String> {
    let resp = req.send().await.map_err(|e| format!("{e:?}"))?;
    let status = resp.status();
    let echoed = resp
        .headers()
        .get(REQ_ID_ECHO)
        .map(|v| v.to_str().unwrap_or("?").to_string());
    let body = resp
        .bytes()
        .await
        .map_err(|e| format!("{status}, body cut: {e:?}"))?;
    if !status.is_success() {
        let text = String::from_utf8_lossy(&body);
        return Err(format!(
            "{status}: {}",
            text.chars().take(160).collect::<String>()
        ));
    }
    if let Some(e) = echoed {
        if e != id {
            return Err(format!("{status} for another request: {e}"));
        }
    }
    Ok(())
}

/// An HTTP/1.1 origin that records the `x-req-id` of each request on arrival, reads the
/// body, waits `delay`, and answers 200 with the id (body and `x-req-id-echo`).
pub struct RecordingOrigin {
    pub addr: SocketAddr,
    seen: Arc<Mutex<HashMap<String, usize>>>,
    task: tokio::task::JoinHandle<()>,
}

impl RecordingOrigin {
    pub async fn spawn(delay: Duration) -> RecordingOrigin {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind origin");
        let addr = listener.local_addr().expect("addr");
        let seen: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let s = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    continue;
                };
                let s = s.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let s = s.clone();
                        async move {
                            let id = req
                                .headers()
                                .get(REQ_ID)
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("-")
                                .to_string();
                            *s.lock().expect("seen").entry(id.clone()).or_insert(0) += 1;
                            let _ = req.into_body().collect().await;
                            tokio::time::sleep(delay).await;
                            let mut r = Response::new(Full::new(Bytes::from(id.clone())));
                            r.headers_mut()
                                .insert(REQ_ID_ECHO, id.parse().expect("header value"));
                            Ok::<_, Infallible>(r)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(sock), svc)
                        .await;
                });
            }
        });
        RecordingOrigin { addr, seen, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many times each id arrived.
    pub fn seen(&self) -> HashMap<String, usize> {
        self.seen.lock().expect("seen").clone()
    }

    /// Requests received in all.
    pub fn requests(&self) -> usize {
        self.seen.lock().expect("seen").values().sum()
    }
}

impl Drop for RecordingOrigin {
    fn drop(&mut self) {
        self.task.abort();
    }
}
