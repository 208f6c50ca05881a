//! The quickstart as a user runs it: generated CA, two apps under `*.switchyard.localhost`,
//! three connectors in two groups, the default certificate for clients without SNI.

use switchyard::quickstart::{self, QuickstartOptions};

use crate::support::{client, TempDir};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quickstart_serves_hello_and_echo_and_prints_working_commands() {
    let dir = TempDir::new("qs");
    let qs = start(&dir).await;
    let ca = std::fs::read_to_string(&qs.ca_path).expect("CA written");
    let port = qs.gateway.https_addr.port();
    let text = qs.instructions();
    assert!(
        text.contains(&format!("https://hello.switchyard.localhost:{port}/")),
        "{text}"
    );
    assert!(text.contains(&qs.ca_path.display().to_string()));
    let admin = qs.gateway.admin_addr.expect("admin listener");
    assert!(
        text.contains(&format!("console  http://{admin}/ui/")),
        "{text}"
    );
    let url = |host: &str, path: &str| format!("https://{host}.switchyard.localhost:{port}{path}");

    let c = client::h1(&ca);
    let r = c.get(url("hello", "/")).send().await.expect("hello");
    assert_eq!(r.status(), 200);
    assert!(r.text().await.expect("body").contains("Hello"));

    let v = echo(&c, &url("echo", "/some/path?x=1"), b"hi there".to_vec()).await;
    assert_eq!(v["method"], "POST");
    assert_eq!(v["path"], "/some/path?x=1");
    assert_eq!(v["headers"]["x-forwarded-proto"], "https");
    assert_eq!(v["body_bytes"], 8);
    assert_eq!(v["body_sha256"], sha256_hex(b"hi there"));

    // Uploads of any size: 5 MiB over HTTP/1.1 and HTTP/2.
    let big: Vec<u8> = (0..5 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    for c in [client::h1(&ca), client::h2(&ca)] {
        let v = echo(&c, &url("echo", "/upload"), big.clone()).await;
        assert_eq!(v["body_bytes"], big.len());
        assert_eq!(v["body_sha256"], sha256_hex(&big));
    }

    // No SNI (an IP address, as `curl -k https://127.0.0.1:8443/`): default certificate, 404.
    let addr = qs.gateway.https_addr;
    assert_eq!(
        crate::handshakes::status_without_sni(addr, "127.0.0.1")
            .await
            .0,
        404
    );
    let r = c
        .get(url("nothere", "/"))
        .send()
        .await
        .expect("unknown name");
    assert_eq!(r.status(), 404, "an unknown name under the wildcard");

    // The printed ctl examples work as written: the listing, then an app under the
    // wildcard that answers at once.
    run_printed_ctl_examples(&text).await;
    let r = c.get(url("demo", "/")).send().await.expect("demo");
    assert_eq!(r.status(), 200);
    assert!(r.text().await.expect("body").contains("Hello"));

    let live = qs.gateway.live.registry.snapshot();
    assert_eq!(live.len(), 3, "three connectors connected: {live:?}");
    tokio::task::spawn_blocking(move || qs.shutdown())
        .await
        .expect("shutdown");
}

/// Starts a quickstart on port 0 everywhere, writing into `dir`.
async fn start(dir: &TempDir) -> quickstart::Quickstart {
    let opts = QuickstartOptions {
        https: "127.0.0.1:0".into(),
        metrics: "127.0.0.1:0".into(),
        admin: "127.0.0.1:0".into(),
        tunnel: "127.0.0.1:0".into(),
        dir: Some(dir.path().to_path_buf()),
        access_log: false,
    };
    tokio::task::spawn_blocking(move || quickstart::start(opts))
        .await
        .expect("join")
        .expect("quickstart starts")
}

/// Runs the two `switchyard ctl` lines of the instructions: the connector listing (checked)
/// and the creation of `demo.switchyard.localhost`.
async fn run_printed_ctl_examples(text: &str) {
    let ctl: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("switchyard ctl"))
        .map(String::from)
        .collect();
    assert_eq!(ctl.len(), 2, "{text}");
    let listing = run_ctl(&ctl[0]).await;
    for id in ["east-1", "east-2", "west-1"] {
        assert!(listing.contains(id), "{listing}");
    }
    assert!(
        ctl[1].contains("--host demo.switchyard.localhost"),
        "{text}"
    );
    run_ctl(&ctl[1]).await;
}

/// POSTs `body` to the echo app and returns its JSON answer (status 200 asserted).
async fn echo(c: &reqwest::Client, url: &str, body: Vec<u8>) -> serde_json::Value {
    let r = c.post(url).body(body).send().await.expect("echo");
    assert_eq!(r.status(), 200);
    r.json().await.expect("json")
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

/// Runs a printed `switchyard ctl …` line; its stdout (success asserted).
async fn run_ctl(line: &str) -> String {
    let args: Vec<&str> = line.split_whitespace().skip(1).collect();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(&args)
        .output()
        .await
        .expect("run ctl");
    assert!(
        out.status.success(),
        "{line}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
