//! Real `switchyard` processes for fault tests: a gateway and its connectors started from
//! config files, their stderr kept for searching, signals sent by PID, everything killed on
//! drop.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use switchyard::config::gateway::GatewayConfig;

use super::world::{self, write_config, Pki, Spec, World};
use super::TempDir;

/// One `switchyard` process; SIGCONT + SIGKILL on drop.
pub struct Proc {
    pub label: String,
    child: Child,
    lines: mpsc::Receiver<String>,
    history: Arc<Mutex<Vec<String>>>,
    stopped: bool,
}

/// Removes terminal colour sequences, in case the subscriber ignores `NO_COLOR`.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

impl Proc {
    /// Starts `switchyard ARGS` with `RUST_LOG=info`; stderr lines go to a channel (for
    /// [`Proc::wait_for`]) and to a history (for [`Proc::grep`] and [`Proc::lines_since`]).
    pub fn spawn(label: &str, args: &[&str]) -> Proc {
        let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .args(args)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn switchyard");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = mpsc::channel();
        let history = Arc::new(Mutex::new(Vec::new()));
        let h = history.clone();
        std::thread::Builder::new()
            .name(format!("stderr-{label}"))
            .spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    let line = strip_ansi(&line);
                    h.lock().expect("history").push(line.clone());
                    let _ = tx.send(line);
                }
            })
            .expect("stderr thread");
        Proc {
            label: label.to_string(),
            child,
            lines,
            history,
            stopped: false,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for a line containing `needle` among the lines not yet consumed by an earlier
    /// wait; panics with the log tail on timeout.
    pub async fn wait_for(&mut self, needle: &str, timeout: Duration) -> String {
        match self.try_wait_for(needle, timeout).await {
            Some(l) => l,
            None => panic!(
                "{}: no log line with {needle:?} within {timeout:?}; last lines:\n{}",
                self.label,
                self.tail(40).join("\n")
            ),
        }
    }

    /// Like [`Proc::wait_for`], `None` on timeout.
    pub async fn try_wait_for(&mut self, needle: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            while let Ok(l) = self.lines.try_recv() {
                if l.contains(needle) {
                    return Some(l);
                }
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Every line so far that contains `needle`.
    pub fn grep(&self, needle: &str) -> Vec<String> {
        let h = self.history.lock().expect("history");
        h.iter().filter(|l| l.contains(needle)).cloned().collect()
    }

    /// A position in the history, for [`Proc::lines_since`].
    pub fn mark(&self) -> usize {
        self.history.lock().expect("history").len()
    }

    /// Lines logged after `mark`.
    pub fn lines_since(&self, mark: usize) -> Vec<String> {
        let h = self.history.lock().expect("history");
        h.get(mark..).unwrap_or_default().to_vec()
    }

    /// The last `n` lines.
    pub fn tail(&self, n: usize) -> Vec<String> {
        let h = self.history.lock().expect("history");
        h[h.len().saturating_sub(n)..].to_vec()
    }

    /// Sends a signal by PID: `"-KILL"`, `"-STOP"`, `"-CONT"`, `"-TERM"`, `"-QUIT"`, `"-HUP"`.
    pub fn signal(&mut self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(
            ok.success(),
            "kill {sig} {} ({})",
            self.child.id(),
            self.label
        );
        match sig {
            "-STOP" => self.stopped = true,
            "-CONT" => self.stopped = false,
            _ => {}
        }
    }

    /// Waits for the process to end; `None` if it is still running after `within`.
    pub async fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if !self.is_running() {
            return;
        }
        if self.stopped {
            // A stopped process still dies of SIGKILL, but resuming it first keeps the
            // kernel from holding its sockets in a half state.
            let _ = Command::new("kill")
                .args(["-CONT", &self.child.id().to_string()])
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of `key=` in a log line (`https=ADDR`, `metrics=http://ADDR/metrics`).
pub fn field(line: &str, key: &str) -> Option<String> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{key}=")))
        .map(|v| {
            v.trim_matches('"')
                .trim_start_matches("http://")
                .trim_end_matches("/metrics")
                .to_string()
        })
}

/// A change to the gateway config before it is written.
type Tweak = Box<dyn FnOnce(&mut GatewayConfig)>;

/// A gateway process and its connector processes, built with [`Cluster::builder`].
pub struct ClusterBuilder {
    spec: Spec,
    members: Vec<(String, Vec<String>)>,
    ping_interval_ms: u64,
    ping_timeout_ms: u64,
    tweaks: Vec<Tweak>,
    connector_extra: String,
}

impl ClusterBuilder {
    /// A group and the connectors in it (started with the cluster).
    pub fn group(mut self, name: &str, connectors: &[&str]) -> Self {
        self.spec = self.spec.group(name);
        for c in connectors {
            self.spec = self.spec.connector(c, name);
        }
        self.members.push((
            name.to_string(),
            connectors.iter().map(|c| c.to_string()).collect(),
        ));
        self
    }

    pub fn app(mut self, name: &str, host: &str, url: &str, groups: &[&str]) -> Self {
        self.spec = self.spec.app(name, host, url, groups);
        self
    }

    /// Tunnel keep-alive: PING every `interval_ms`, dropped after `timeout_ms` without answer.
    pub fn ping(mut self, interval_ms: u64, timeout_ms: u64) -> Self {
        self.ping_interval_ms = interval_ms;
        self.ping_timeout_ms = timeout_ms;
        self
    }

    /// Changes the gateway config before it is written.
    pub fn tweak(mut self, f: impl FnOnce(&mut GatewayConfig) + 'static) -> Self {
        self.tweaks.push(Box::new(f));
        self
    }

    /// Extra TOML lines for every connector.toml.
    pub fn connector_toml(mut self, lines: &str) -> Self {
        self.connector_extra.push_str(lines);
        self.connector_extra.push('\n');
        self
    }

    /// Starts the gateway, then every connector, and waits until each group's connectors
    /// are all live on the gateway.
    pub async fn start(self) -> Cluster {
        let dir = TempDir::new("cluster");
        let pki = Pki::new(dir.path());
        let secrets: HashMap<String, String> = self
            .spec
            .connectors
            .iter()
            .map(|(id, _)| (id.clone(), switchyard::catalog::secret::generate()))
            .collect();
        let mut cfg = World::config_for(&self.spec, &pki, &secrets);
        cfg.tunnel.ping_interval_ms = self.ping_interval_ms;
        cfg.tunnel.ping_timeout_ms = self.ping_timeout_ms;
        cfg.runtime.shutdown_grace_secs = 1;
        for t in self.tweaks {
            t(&mut cfg);
        }
        let config_path = dir.path().join("gateway.toml");
        write_config(&config_path, &cfg);
        let mut gateway = Proc::spawn(
            "gateway",
            &["gateway", "--config", config_path.to_str().expect("utf8")],
        );
        let ready = gateway
            .wait_for("gateway ready", Duration::from_secs(20))
            .await;
        let addr = |key: &str| -> SocketAddr {
            field(&ready, key)
                .unwrap_or_else(|| panic!("{key}= in {ready}"))
                .parse()
                .unwrap_or_else(|e| panic!("{key} address in {ready}: {e}"))
        };
        let mut cluster = Cluster {
            gateway,
            connectors: BTreeMap::new(),
            https: addr("https"),
            tunnel: addr("tunnel"),
            metrics: addr("metrics"),
            cfg,
            config_path,
            pki,
            secrets,
            members: self.members.clone(),
            connector_extra: self.connector_extra,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .expect("metrics client"),
            dir,
        };
        for (_, ids) in &self.members {
            for id in ids {
                cluster.start_connector(id);
            }
        }
        for (group, ids) in &self.members {
            assert!(
                cluster
                    .wait_live(group, ids.len(), Duration::from_secs(15))
                    .await
                    .is_some(),
                "group {group} has {} live connectors; metrics:\n{}",
                ids.len(),
                cluster.metrics_text().await
            );
        }
        cluster
    }
}

/// A running gateway process with connector processes; see [`ClusterBuilder`].
pub struct Cluster {
    pub gateway: Proc,
    pub connectors: BTreeMap<String, Proc>,
    pub https: SocketAddr,
    pub tunnel: SocketAddr,
    pub metrics: SocketAddr,
    /// The gateway config as last written.
    pub cfg: GatewayConfig,
    pub config_path: PathBuf,
    pub pki: Pki,
    secrets: HashMap<String, String>,
    members: Vec<(String, Vec<String>)>,
    connector_extra: String,
    http: reqwest::Client,
    // Last: the files outlive the processes.
    pub dir: TempDir,
}

impl Cluster {
    pub fn builder() -> ClusterBuilder {
        ClusterBuilder {
            spec: Spec::default(),
            members: Vec::new(),
            ping_interval_ms: 300,
            ping_timeout_ms: 1000,
            tweaks: Vec::new(),
            connector_extra: String::new(),
        }
    }

    /// `https://HOST:PORT/PATH` on the gateway's edge.
    pub fn url(&self, host: &str, path: &str) -> String {
        format!("https://{host}:{}{path}", self.https.port())
    }

    /// An HTTP/1.1 client trusting the cluster's CA.
    pub fn h1(&self) -> reqwest::Client {
        super::client::h1(&self.pki.ca_pem)
    }

    /// The connectors of `group`, as declared.
    pub fn members(&self, group: &str) -> Vec<String> {
        self.members
            .iter()
            .find(|(g, _)| g == group)
            .map(|(_, ids)| ids.clone())
            .unwrap_or_default()
    }

    fn connector_path(&self, id: &str) -> PathBuf {
        self.dir.path().join(format!("connector-{id}.toml"))
    }

    /// Writes connector `id`'s config file and starts it (does not wait for its tunnels).
    pub fn start_connector(&mut self, id: &str) {
        let path = self.connector_path(id);
        let secret = self
            .secrets
            .get(id)
            .unwrap_or_else(|| panic!("unknown connector {id}"));
        let text = format!(
            "id = \"{id}\"\nsecret = \"{secret}\"\ngateways = [\"127.0.0.1:{}\"]\n\
             server_name = \"localhost\"\nca_file = \"{}\"\nallow = [\"127.0.0.1\"]\n\
             reconnect_initial_ms = 50\nreconnect_max_ms = 1000\n{}",
            self.tunnel.port(),
            self.pki.ca_path.display(),
            self.connector_extra
        );
        std::fs::write(&path, text).expect("write connector config");
        let p = Proc::spawn(id, &["connector", "--config", path.to_str().expect("utf8")]);
        self.connectors.insert(id.to_string(), p);
    }

    /// Connector `id`'s process (the latest one started).
    pub fn connector(&mut self, id: &str) -> &mut Proc {
        self.connectors
            .get_mut(id)
            .unwrap_or_else(|| panic!("no connector process {id}"))
    }

    /// SIGKILL connector `id` and reap it.
    pub async fn kill_connector(&mut self, id: &str) {
        let p = self.connector(id);
        p.signal("-KILL");
        assert!(
            p.wait_exit(Duration::from_secs(5)).await.is_some(),
            "{id} dies of SIGKILL"
        );
    }

    /// SIGKILLs connector `id` if it still runs, starts it again and waits until it reports
    /// a tunnel up (the gateway's view follows: see [`Cluster::wait_live`]).
    pub async fn restart_connector(&mut self, id: &str) {
        if let Some(mut old) = self.connectors.remove(id) {
            if old.is_running() {
                old.signal("-KILL");
                let _ = old.wait_exit(Duration::from_secs(5)).await;
            }
        }
        self.start_connector(id);
        self.connector(id)
            .wait_for("tunnel up", Duration::from_secs(10))
            .await;
    }

    /// The gateway's `/metrics` text (empty if it did not answer).
    pub async fn metrics_text(&self) -> String {
        match self
            .http
            .get(format!("http://{}/metrics", self.metrics))
            .send()
            .await
        {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// One metric series (exact name with labels), if present.
    pub async fn metric(&self, series: &str) -> Option<f64> {
        world::metric(&self.metrics_text().await, series)
    }

    /// `switchyard_live_connectors{group="G"}`; a missing series counts as 0.
    pub async fn live(&self, group: &str) -> usize {
        self.metric(&format!("switchyard_live_connectors{{group=\"{group}\"}}"))
            .await
            .unwrap_or(0.0) as usize
    }

    /// Polls the metrics every 50 ms until group `group` has exactly `n` live connectors;
    /// returns how long that took, `None` on timeout.
    pub async fn wait_live(&self, group: &str, n: usize, timeout: Duration) -> Option<Duration> {
        let started = Instant::now();
        loop {
            if self.live(group).await == n {
                return Some(started.elapsed());
            }
            if started.elapsed() > timeout {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Writes `cfg` to the gateway's file, sends SIGHUP and waits for the new version to be
    /// applied; returns it.
    pub async fn reload(&mut self, cfg: GatewayConfig) -> u64 {
        write_config(&self.config_path, &cfg);
        self.gateway.signal("-HUP");
        let line = self
            .gateway
            .wait_for("configuration applied", Duration::from_secs(10))
            .await;
        self.cfg = cfg;
        field(&line, "version")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("version= in {line}"))
    }

    /// Access-log lines of the gateway after `mark` (see [`Proc::mark`]).
    pub fn access_since(&self, mark: usize) -> Vec<String> {
        self.gateway
            .lines_since(mark)
            .into_iter()
            .filter(|l| l.contains("switchyard::access"))
            .collect()
    }

    /// Access-log lines after `mark`, counted by `connector=`.
    pub fn served_since(&self, mark: usize) -> BTreeMap<String, usize> {
        let mut by = BTreeMap::new();
        for l in self.access_since(mark) {
            let c = field(&l, "connector").unwrap_or_else(|| "?".into());
            *by.entry(c).or_insert(0) += 1;
        }
        by
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Access lines drown the rest: the last few of them, then the other lines.
            let all = self.gateway.lines_since(0);
            let (access, other): (Vec<_>, Vec<_>) =
                all.iter().partition(|l| l.contains("switchyard::access"));
            eprintln!("--- gateway (pid {}) last lines:", self.gateway.pid());
            for l in &other[other.len().saturating_sub(30)..] {
                eprintln!("{l}");
            }
            eprintln!("--- gateway: {} access lines, the last ones:", access.len());
            for l in &access[access.len().saturating_sub(5)..] {
                eprintln!("{l}");
            }
            for (id, p) in &self.connectors {
                eprintln!("--- connector {id} (pid {}) last lines:", p.pid());
                for l in p.tail(15) {
                    eprintln!("{l}");
                }
            }
        }
    }
}
