//! A real etcd for one test (or a cluster of several members): the `etcd` binary on free
//! 127.0.0.1 ports with a temporary data folder, ready once it answers; killed by PID (and restarted on the same ports and data)
//! on demand; stopped on drop, with its log printed when the test failed. A test that needs
//! etcd fails when the binary is missing. Also a gate: a TCP relay in front of etcd that a
//! test can cut, so one gateway loses etcd while others and the test still reach it.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::TempDir;

/// One etcd member.
pub struct Etcd {
    pub client_port: u16,
    peer_port: u16,
    name: String,
    /// `--initial-cluster`: this member alone, or every member of a cluster.
    cluster: String,
    dir: TempDir,
    child: Option<Child>,
}

/// A port that was free a moment ago (another process may take it: callers retry).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn binary() -> PathBuf {
    let found = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("etcd"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default()
        .into_iter()
        .find(|p| p.is_file());
    found.unwrap_or_else(|| {
        panic!(
            "the etcd binary is not on PATH: install Debian's etcd-server package \
             (.ci/run does); these tests need a real etcd"
        )
    })
}

impl Etcd {
    /// Starts etcd on free ports and waits until it serves.
    pub async fn start() -> Etcd {
        for _ in 0..5 {
            let mut e = Etcd::member("default", free_port(), free_port());
            e.cluster = format!("default=http://127.0.0.1:{}", e.peer_port);
            if e.launch().await {
                return e;
            }
            // Dropped: killed, its folder removed; try other ports.
        }
        panic!("etcd did not start on free ports in 5 attempts")
    }

    fn member(name: &str, client_port: u16, peer_port: u16) -> Etcd {
        Etcd {
            client_port,
            peer_port,
            name: name.into(),
            cluster: String::new(),
            dir: TempDir::new("etcd"),
            child: None,
        }
    }

    /// Starts a cluster of `n` members on free ports (one data folder each) and waits
    /// until every member serves.
    pub async fn cluster(n: usize) -> Vec<Etcd> {
        let mut members: Vec<Etcd> = (0..n)
            .map(|i| Etcd::member(&format!("m{i}"), free_port(), free_port()))
            .collect();
        let cluster = members
            .iter()
            .map(|m| format!("{}=http://127.0.0.1:{}", m.name, m.peer_port))
            .collect::<Vec<_>>()
            .join(",");
        for m in &mut members {
            m.cluster = cluster.clone();
            m.spawn();
        }
        for m in &mut members {
            assert!(m.wait_serving().await, "member {} exited", m.name);
        }
        members
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("etcd.log")
    }

    /// Spawns the process on this member's ports and data; false when it exited before
    /// serving (a port taken meanwhile).
    async fn launch(&mut self) -> bool {
        self.spawn();
        self.wait_serving().await
    }

    fn spawn(&mut self) {
        let client = format!("http://127.0.0.1:{}", self.client_port);
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("etcd log");
        let child = Command::new(binary())
            .args(["--name", &self.name, "--data-dir"])
            .arg(self.dir.path().join("data"))
            .args([
                "--listen-client-urls",
                &client,
                "--advertise-client-urls",
                &client,
            ])
            .args([
                "--listen-peer-urls",
                &peer,
                "--initial-advertise-peer-urls",
                &peer,
            ])
            .args(["--initial-cluster", &self.cluster])
            .args(["--initial-cluster-token", "switchyard-test"])
            .args(["--logger", "zap", "--log-level", "warn"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn etcd");
        self.child = Some(child);
    }

    /// Waits until this member serves; false when its process exited first.
    async fn wait_serving(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(_)) = c.try_wait() {
                    return false;
                }
            }
            if self.healthy().await {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("etcd did not serve within 15 s:\n{}", self.log_tail())
    }

    async fn healthy(&self) -> bool {
        let probe = async {
            let mut c = etcd_client::Client::connect([self.endpoint()], None)
                .await
                .ok()?;
            c.get("/health-probe", None).await.ok()
        };
        matches!(
            tokio::time::timeout(Duration::from_millis(500), probe).await,
            Ok(Some(_))
        )
    }

    /// A client of this member (for writes, compaction and checks made "by hand").
    pub async fn client(&self) -> etcd_client::Client {
        etcd_client::Client::connect([self.endpoint()], None)
            .await
            .expect("etcd client")
    }

    /// Whether this member is the cluster's leader now.
    pub async fn is_leader(&self) -> bool {
        let mut c = self.client().await;
        match c.status().await {
            Ok(s) => s.header().is_some_and(|h| h.member_id() == s.leader()),
            Err(_) => false,
        }
    }

    /// Kills the process at once (SIGKILL, by PID) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the process again on the same ports and data.
    pub async fn restart(&mut self) {
        for _ in 0..50 {
            if self.launch().await {
                return;
            }
            // The old process's port may linger a moment.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("etcd did not restart:\n{}", self.log_tail());
    }

    /// Runs `etcdctl` against this member; its standard output.
    pub fn etcdctl(&self, args: &[&str]) -> String {
        let out = Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={}", self.endpoint()))
            .args(args)
            .output()
            .expect("etcdctl runs (Debian package etcd-client)");
        assert!(
            out.status.success(),
            "etcdctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("--- etcd log (last lines) ---\n{}", self.log_tail());
        }
    }
}

/// A TCP relay to etcd that can be cut: open, it forwards every connection; cut, it drops
/// the connections it carries and every new one.
pub struct Gate {
    pub addr: SocketAddr,
    open: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Gate {
    /// A relay on a free port to `target`.
    pub async fn to(target: SocketAddr) -> Gate {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind gate");
        let addr = listener.local_addr().expect("gate addr");
        let open = Arc::new(AtomicBool::new(true));
        let conns: Arc<Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
        let (o, c) = (open.clone(), conns.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !o.load(Ordering::SeqCst) {
                    continue;
                }
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                c.lock().expect("gate lock").push(task.abort_handle());
            }
        });
        Gate {
            addr,
            open,
            conns,
            accept,
        }
    }

    /// `http://ADDR` for a gateway's endpoints.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Drops every relayed connection and refuses new ones.
    pub fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        for c in self.conns.lock().expect("gate lock").drain(..) {
            c.abort();
        }
    }

    /// Relays again.
    pub fn reopen(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}
