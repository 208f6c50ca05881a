//! The real binaries as an operator runs them: `switchyard gateway` and `switchyard
//! connector` processes, SIGHUP reload, SIGTERM exit.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::support::world::{write_config, Pki, Spec, World};
use crate::support::{client, origin, TempDir};

/// A `switchyard` process whose stderr lines are collected.
pub(crate) struct Proc {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Proc {
    fn spawn(args: &[&str]) -> Proc {
        Self::spawn_with_log(args, "info")
    }

    /// Starts `switchyard args…` with this `RUST_LOG`.
    pub(crate) fn spawn_with_log(args: &[&str], rust_log: &str) -> Proc {
        let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .args(args)
            .env("RUST_LOG", rust_log)
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Proc { child, lines }
    }

    /// Every log line up to and including the first one containing `needle`.
    pub(crate) fn lines_until(&self, needle: &str) -> Vec<String> {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let mut seen = Vec::new();
        while std::time::Instant::now() < deadline {
            if let Ok(l) = self.lines.recv_timeout(Duration::from_millis(100)) {
                let done = l.contains(needle);
                seen.push(l);
                if done {
                    return seen;
                }
            }
        }
        panic!("no log line with {needle:?}; saw:\n{}", seen.join("\n"));
    }

    /// Waits for a log line containing `needle`.
    pub(crate) fn wait_for(&self, needle: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let mut seen = Vec::new();
        while std::time::Instant::now() < deadline {
            if let Ok(l) = self.lines.recv_timeout(Duration::from_millis(100)) {
                if l.contains(needle) {
                    return l;
                }
                seen.push(l);
            }
        }
        panic!("no log line with {needle:?}; saw:\n{}", seen.join("\n"));
    }

    pub(crate) fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(ok.success());
    }

    fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let deadline = std::time::Instant::now() + within;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of `key=` in a log line, without URL decoration.
pub(crate) fn field(line: &str, key: &str) -> String {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("{key} in {line}"))
        .trim_start_matches("http://")
        .trim_end_matches("/metrics")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_and_connector_processes_reload_on_sighup_and_stop_on_sigterm() {
    let o = origin::spawn("o").await;
    let dir = TempDir::new("proc");
    let pki = Pki::new(dir.path());
    let secret = switchyard::catalog::secret::generate();
    let secrets = [("c1".to_string(), secret.clone())].into_iter().collect();
    let spec = Spec::default().group("g").connector("c1", "g").app(
        "o",
        "o.example.test",
        &o.url(),
        &["g"],
    );
    let mut cfg = World::config_for(&spec, &pki, &secrets);
    cfg.runtime.shutdown_grace_secs = 1;
    let gw_path = dir.path().join("gateway.toml");
    write_config(&gw_path, &cfg);
    let mut gw = Proc::spawn(&["gateway", "--config", gw_path.to_str().expect("utf8")]);
    let ready = gw.wait_for("gateway ready");
    let https: std::net::SocketAddr = field(&ready, "https").parse().expect("https addr");
    let tunnel: std::net::SocketAddr = field(&ready, "tunnel").parse().expect("tunnel addr");

    let conn_path = dir.path().join("connector.toml");
    std::fs::write(
        &conn_path,
        format!(
            "id = \"c1\"\nsecret = \"{secret}\"\ngateways = [\"127.0.0.1:{}\"]\nserver_name = \"localhost\"\nca_file = \"{}\"\nallow = [\"127.0.0.1\"]\n",
            tunnel.port(),
            pki.ca_path.display()
        ),
    )
    .expect("write");
    let mut conn = Proc::spawn(&["connector", "--config", conn_path.to_str().expect("utf8")]);
    gw.wait_for("tunnel up");

    let c = client::h1(&pki.ca_pem);
    let url = |host: &str| format!("https://{host}:{}/", https.port());
    let r = c.get(url("o.example.test")).send().await.expect("req");
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.expect("body"), "o");

    cfg.apps[0].host = "renamed.example.test".into();
    write_config(&gw_path, &cfg);
    gw.signal("-HUP");
    gw.wait_for("configuration applied");
    assert_eq!(
        c.get(url("renamed.example.test"))
            .send()
            .await
            .expect("req")
            .status(),
        200
    );
    assert_eq!(
        c.get(url("o.example.test"))
            .send()
            .await
            .expect("req")
            .status(),
        404
    );

    conn.signal("-TERM");
    assert_eq!(
        conn.wait_exit(Duration::from_secs(10)),
        Some(0),
        "connector exits cleanly"
    );
    gw.wait_for("tunnel down");
    assert_eq!(
        c.get(url("renamed.example.test"))
            .send()
            .await
            .expect("req")
            .status(),
        503
    );

    gw.signal("-TERM");
    assert_eq!(
        gw.wait_exit(Duration::from_secs(15)),
        Some(0),
        "gateway exits cleanly"
    );
}

/// A gateway process started from `Spec::default()`, once it reported ready.
fn ready_gateway(dir: &TempDir) -> Proc {
    let pki = Pki::new(dir.path());
    let mut cfg = World::config_for(&Spec::default(), &pki, &Default::default());
    cfg.runtime.shutdown_grace_secs = 1;
    let path = dir.path().join("gateway.toml");
    write_config(&path, &cfg);
    let gw = Proc::spawn(&["gateway", "--config", path.to_str().expect("utf8")]);
    gw.wait_for("gateway ready");
    gw
}

#[test]
fn signals_right_after_ready_are_handled_not_fatal() {
    let dir = TempDir::new("early-hup");
    let mut gw = ready_gateway(&dir);
    gw.signal("-HUP");
    gw.wait_for("configuration applied");
    assert_eq!(
        gw.wait_exit(Duration::from_millis(200)),
        None,
        "still running"
    );
    gw.signal("-TERM");
    assert_eq!(
        gw.wait_exit(Duration::from_secs(15)),
        Some(0),
        "SIGTERM drains"
    );

    // SIGTERM at once after ready: a graceful exit, not the default action's kill.
    let dir = TempDir::new("early-term");
    let mut gw = ready_gateway(&dir);
    gw.signal("-TERM");
    assert_eq!(
        gw.wait_exit(Duration::from_secs(15)),
        Some(0),
        "SIGTERM drains"
    );
}
