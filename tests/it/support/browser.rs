//! A real headless Chromium driven over WebDriver: `chromedriver` started on a free
//! 127.0.0.1 port (killed by PID on drop), one browser session in a fresh profile folder,
//! and helpers that wait on DOM conditions with deadlines.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};

/// How long any DOM condition may take (generous: CI machines are slow and shared).
pub const WAIT: Duration = Duration::from_secs(30);

/// The first of `names` found in `PATH`.
fn in_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

pub struct Browser {
    pub client: Client,
    driver: Child,
    /// chromedriver's port and the session's id, to end the session from `Drop`.
    port: u16,
    session: Option<String>,
    /// Where screenshots go.
    pub dir: PathBuf,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium whose profile lives in `dir`. Fails the
    /// test with a clear message when either program is missing.
    pub async fn start(dir: &Path) -> Browser {
        let chromium = in_path(&["chromium", "chromium-browser", "google-chrome"]).expect(
            "the console tests need a Chromium browser: install Debian's `chromium` package \
             (none of chromium, chromium-browser, google-chrome is in PATH)",
        );
        let chromedriver = in_path(&["chromedriver"]).expect(
            "the console tests need chromedriver: install Debian's `chromium-driver` package \
             (chromedriver is not in PATH)",
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .arg(format!(
                "--log-path={}",
                dir.join("chromedriver.log").display()
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let deadline = Instant::now() + WAIT;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver listens on {port}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = dir.join("chromium-profile");
        let caps = json!({
            "browserName": "chrome",
            "goog:loggingPrefs": { "browser": "ALL" },
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                    format!("--user-data-dir={}", profile.display()),
                    "--window-size=1400,1000", "--no-first-run", "--no-default-browser-check",
                    "--disable-extensions", "--disable-background-networking", "--disable-sync",
                    "--disable-component-update", "--disable-default-apps", "--no-pings",
                    // Nothing but loopback is reachable from the test browser.
                    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                ],
            },
        });
        let Value::Object(caps) = caps else {
            unreachable!("an object")
        };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a WebDriver session on chromedriver");
        let session = client.session_id().await.ok().flatten();
        Browser {
            client,
            driver,
            port,
            session,
            dir: dir.to_path_buf(),
        }
    }

    /// Runs `script` (a function body that returns a value) until it returns something
    /// truthy, and returns that; fails the test after [`WAIT`] naming `what`.
    pub async fn until(&self, what: &str, script: &str) -> Value {
        let deadline = Instant::now() + WAIT;
        let mut last: Value;
        loop {
            match self.client.execute(script, vec![]).await {
                Ok(v) if truthy(&v) => return v,
                Ok(v) => last = v,
                Err(e) => last = json!(e.to_string()),
            }
            if Instant::now() > deadline {
                let shot = self.shot("timeout").await;
                panic!("waited {WAIT:?} for {what}; last: {last}; screenshot {shot:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits for the element at `css` and clicks it (again if the page redrew it between
    /// finding and clicking).
    pub async fn click(&self, css: &str) {
        self.with_element(css, |c, css| async move {
            c.find(Locator::Css(&css)).await?.click().await
        })
        .await;
    }

    /// Waits for the input at `css`, clears it and types `text`.
    pub async fn type_into(&self, css: &str, text: &str) {
        let text = text.to_string();
        self.with_element(css, move |c, css| {
            let text = text.clone();
            async move {
                let e = c.find(Locator::Css(&css)).await?;
                e.clear().await?;
                e.send_keys(&text).await
            }
        })
        .await;
    }

    /// Waits for the `<select>` at `css` and chooses the option of `value`.
    pub async fn choose(&self, css: &str, value: &str) {
        let value = value.to_string();
        self.with_element(css, move |c, css| {
            let value = value.clone();
            async move {
                c.find(Locator::Css(&css))
                    .await?
                    .select_by_value(&value)
                    .await
            }
        })
        .await;
    }

    async fn with_element<F, Fut>(&self, css: &str, act: F)
    where
        F: Fn(Client, String) -> Fut,
        Fut: std::future::Future<Output = Result<(), fantoccini::error::CmdError>>,
    {
        let deadline = Instant::now() + WAIT;
        loop {
            match act(self.client.clone(), css.to_string()).await {
                Ok(()) => return,
                Err(e) if Instant::now() > deadline => {
                    let shot = self.shot("timeout").await;
                    panic!("could not act on {css} within {WAIT:?}: {e}; screenshot {shot:?}");
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// The browser's console log entries of level SEVERE since the last call, as
    /// `message` strings (chromedriver's log endpoint).
    pub async fn severe_log(&self) -> Vec<String> {
        let log = self
            .client
            .issue_cmd(BrowserLog)
            .await
            .expect("the browser log");
        log.as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["level"] == "SEVERE")
            .filter_map(|e| e["message"].as_str().map(str::to_string))
            .collect()
    }

    /// The page's text (what the operator reads).
    pub async fn text(&self) -> String {
        self.client
            .execute("return document.body.innerText;", vec![])
            .await
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }

    /// Saves a screenshot as `console-NAME.png` in [`Browser::dir`] (and in the folder
    /// `SWITCHYARD_CONSOLE_SHOTS` names, if set) and returns its path.
    pub async fn shot(&self, name: &str) -> PathBuf {
        let path = self.dir.join(format!("console-{name}.png"));
        if let Ok(png) = self.client.screenshot().await {
            let _ = std::fs::write(&path, &png);
            // The test folder goes away with the test; SWITCHYARD_CONSOLE_SHOTS keeps copies.
            if let Some(keep) = std::env::var_os("SWITCHYARD_CONSOLE_SHOTS") {
                let _ = std::fs::write(
                    Path::new(&keep).join(path.file_name().unwrap_or_default()),
                    &png,
                );
            }
        }
        path
    }

    /// Ends the session (the browser exits) and stops chromedriver.
    pub async fn close(mut self) {
        if self.client.clone().close().await.is_ok() {
            self.session = None;
        }
    }
}

impl Drop for Browser {
    /// A test that failed half-way still ends its browser: the session is deleted with a
    /// plain blocking request (no runtime in `drop`), then chromedriver is killed.
    fn drop(&mut self) {
        if let Some(id) = self.session.take() {
            delete_session(self.port, &id);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// `DELETE /session/ID` on chromedriver, which makes the browser exit.
fn delete_session(port: u16, id: &str) {
    use std::io::{Read, Write};
    let Ok(mut sock) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return;
    };
    let _ = sock.set_read_timeout(Some(Duration::from_secs(10)));
    let request = format!(
        "DELETE /session/{id} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\n\
         Connection: close\r\n\r\n"
    );
    if sock.write_all(request.as_bytes()).is_ok() {
        let mut answer = Vec::new();
        let _ = sock.read_to_end(&mut answer);
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

/// chromedriver's `POST /session/ID/se/log {"type":"browser"}`.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base: &reqwest::Url,
        session: Option<&str>,
    ) -> Result<reqwest::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &reqwest::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(r#"{"type":"browser"}"#.into()))
    }
}
