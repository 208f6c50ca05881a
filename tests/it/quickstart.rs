//! The quickstart as a user runs it: generated CA, two apps, three connectors in two groups.

use switchyard::quickstart::{self, QuickstartOptions};

use crate::support::{client, TempDir};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quickstart_serves_hello_and_echo_and_prints_working_commands() {
    let dir = TempDir::new("qs");
    let opts = QuickstartOptions {
        https: "127.0.0.1:0".into(),
        metrics: "127.0.0.1:0".into(),
        admin: "127.0.0.1:0".into(),
        tunnel: "127.0.0.1:0".into(),
        dir: Some(dir.path().to_path_buf()),
        access_log: false,
    };
    let qs = tokio::task::spawn_blocking(move || quickstart::start(opts))
        .await
        .expect("join")
        .expect("quickstart starts");
    let ca = std::fs::read_to_string(&qs.ca_path).expect("CA written");
    let port = qs.gateway.https_addr.port();
    let text = qs.instructions();
    assert!(
        text.contains(&format!("https://hello.localhost:{port}/")),
        "{text}"
    );
    assert!(text.contains(&qs.ca_path.display().to_string()));

    let c = client::h1(&ca);
    let r = c
        .get(format!("https://hello.localhost:{port}/"))
        .send()
        .await
        .expect("hello");
    assert_eq!(r.status(), 200);
    assert!(r.text().await.expect("body").contains("Hello"));

    let r = c
        .post(format!("https://echo.localhost:{port}/some/path?x=1"))
        .body("hi there")
        .send()
        .await
        .expect("echo");
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.expect("json");
    assert_eq!(v["method"], "POST");
    assert_eq!(v["path"], "/some/path?x=1");
    assert_eq!(v["body"], "hi there");
    assert_eq!(v["headers"]["x-forwarded-proto"], "https");

    // The printed ctl example works as written.
    let line = text
        .lines()
        .find(|l| l.contains("switchyard ctl"))
        .expect("a ctl example")
        .trim()
        .to_string();
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
    let listing = String::from_utf8_lossy(&out.stdout);
    for id in ["east-1", "east-2", "west-1"] {
        assert!(listing.contains(id), "{listing}");
    }

    let live = qs.gateway.state.registry.snapshot();
    assert_eq!(live.len(), 3, "three connectors connected: {live:?}");
    tokio::task::spawn_blocking(move || qs.shutdown())
        .await
        .expect("shutdown");
}
