//! The operator's console in a real headless Chromium (WebDriver), against a real gateway
//! with a catalog store, real connectors and a real origin: the three connector-group steps
//! done in the page and checked with an HTTPS request through the gateway, the one-time
//! enrollment token, roles (read-only, tenant), a conflicting edit, and the security
//! headers. Screenshots of each view go to the test's folder.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::admin::Api;
use crate::support::browser::Browser;
use crate::support::origin;
use crate::support::world::{connector_config, AdminTokens, Spec, World};

const HOST: &str = "wiki.example.test";

/// A gateway with groups `dc-east` (connectors `c1`, `c2`, both live) and `dc-west`, and
/// app `wiki` on `dc-east`.
async fn deployment() -> (World, AdminTokens, origin::Origin) {
    let o = origin::spawn("wiki-origin").await;
    let spec = Spec::default()
        .group("dc-east")
        .group("dc-west")
        .connector("c1", "dc-east")
        .connector("c2", "dc-east")
        .app("wiki", HOST, &o.url(), &["dc-east"]);
    let (mut w, t) = World::start_admin(spec);
    w.connect("c1").await;
    w.connect("c2").await;
    (w, t, o)
}

/// Opens the console and logs in with `token`; waits until the groups view is drawn.
async fn log_in(w: &World, token: &str, role: &str) -> Browser {
    let b = Browser::start(w.dir.path()).await;
    b.client
        .goto(&w.admin_url("/"))
        .await
        .expect("console opens");
    b.type_into("#token", token).await;
    b.click("#login-button").await;
    b.until(
        &format!("logged in as {role}"),
        &format!(
            "return document.getElementById('who').textContent.startsWith('{role}') \
             && document.querySelector('#view h2') !== null;"
        ),
    )
    .await;
    b
}

/// Shows view `name` and waits until it is drawn.
async fn show(b: &Browser, name: &str, heading: &str) {
    b.click(&format!("#nav-{name}")).await;
    b.until(
        &format!("the {name} view"),
        &format!("const h = document.querySelector('#view h2'); return h && h.textContent === '{heading}';"),
    )
    .await;
}

/// No uncaught error and no CSP violation happened in the page, and the browser logged no
/// error except the API refusals of status `refusals` the test provoked (browsers log every
/// 4xx of a fetch).
async fn no_page_errors(b: &Browser, refusals: &[u16]) {
    let errors = b
        .client
        .execute("return window.consoleErrors;", vec![])
        .await
        .expect("the console's error list");
    assert_eq!(errors, json!([]), "errors in the page");
    let unexpected: Vec<String> = b
        .severe_log()
        .await
        .into_iter()
        .filter(|m| {
            !(m.contains("/api/v1/")
                && refusals
                    .iter()
                    .any(|s| m.contains(&format!("status of {s} "))))
        })
        .collect();
    assert!(unexpected.is_empty(), "browser log: {unexpected:?}");
}

/// Requests to the wiki through the gateway, and which connectors served them.
async fn served_by(w: &World, n: u64) -> (u64, u64) {
    let before = w.served();
    let client = w.h1();
    for _ in 0..n {
        let r = client
            .get(w.url(HOST, "/"))
            .send()
            .await
            .expect("through the gateway");
        assert_eq!(r.status(), 200);
        assert_eq!(r.text().await.expect("body"), "wiki-origin");
    }
    let delta =
        |id: &str| w.served().get(id).copied().unwrap_or(0) - before.get(id).copied().unwrap_or(0);
    assert!(
        crate::support::eventually(|| delta("c1") + delta("c2") == n, Duration::from_secs(5)).await,
        "every request counted"
    );
    (delta("c1"), delta("c2"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_is_served_with_strict_security_headers() {
    let (w, _t) = World::start_admin(Spec::default());
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let root = http.get(w.admin_url("/")).send().await.expect("answer");
    assert_eq!(root.status(), 302);
    assert_eq!(root.headers()["location"], "/ui/");
    for (path, ty) in [
        ("/ui/", "text/html; charset=utf-8"),
        ("/ui/app.js", "text/javascript; charset=utf-8"),
        ("/ui/app.css", "text/css; charset=utf-8"),
    ] {
        let r = http.get(w.admin_url(path)).send().await.expect("answer");
        assert_eq!(r.status(), 200, "{path}");
        let h = r.headers();
        assert_eq!(h["content-type"], ty);
        let csp = h["content-security-policy"].to_str().expect("ascii");
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "frame-ancestors 'none'",
            "form-action 'none'",
            "base-uri 'none'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe"), "{csp}");
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert_eq!(h["cache-control"], "no-cache");
        assert!(h.get("set-cookie").is_none());
    }
    // The page needs no token; the API still does.
    let api = http
        .get(w.admin_url("/api/v1/groups"))
        .send()
        .await
        .expect("answer");
    assert_eq!(api.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_does_the_three_group_steps_in_the_console() {
    let (w, t, _o) = deployment().await;
    let b = log_in(&w, &t.admin, "admin").await;
    b.shot("groups-before").await;
    // The token lives in the tab's sessionStorage, never in a cookie.
    let stored = b
        .client
        .execute("return [document.cookie, sessionStorage.length];", vec![])
        .await
        .expect("storage");
    assert_eq!(stored, json!(["", 1]));

    // Step 1: a new group.
    b.click("#new-group").await;
    b.type_into("#f-name", "dc-blue").await;
    b.click("#save").await;
    b.until(
        "the new group",
        "return document.querySelector('[data-group=\"dc-blue\"]');",
    )
    .await;

    // Step 2: move c2 into it.
    b.click("button[data-action='move-connector'][data-key='c2']")
        .await;
    b.choose("#f-group", "dc-blue").await;
    b.click("#save").await;
    b.until(
        "c2 listed in dc-blue, live",
        "const r = document.querySelector('[data-group=\"dc-blue\"] tr[data-connector=\"c2\"]'); \
         return r && r.textContent.includes('live');",
    )
    .await;
    b.shot("groups").await;

    // Step 3: the wiki's chain is dc-blue only.
    show(&b, "apps", "Apps").await;
    b.click("button[data-action='edit-app'][data-key='wiki']")
        .await;
    // dc-blue first (primary), dc-east as the backup; dc-west added and removed again.
    for g in ["dc-west", "dc-blue"] {
        b.choose("#f-add-group", g).await;
        b.click("#add-group").await;
    }
    b.click("button[data-remove='dc-west']").await;
    b.click("button[data-up='dc-blue']").await;
    b.until(
        "the chain editor ordered dc-blue, dc-east",
        "return [...document.querySelectorAll('#chain li')].map(l => l.dataset.chain).join() \
         === 'dc-blue,dc-east';",
    )
    .await;
    b.shot("app-editor").await;
    b.click("#save").await;
    b.until(
        "the wiki's chain shown as dc-blue → dc-east",
        "const c = document.querySelector('tr[data-app=\"wiki\"] .chain-cell'); \
         return c && c.textContent === 'dc-blue → dc-east';",
    )
    .await;
    b.shot("apps").await;

    // The API agrees, and real requests through the gateway reach the origin through c2.
    let api = Api::of(&w);
    let app = api.call(&t.admin, Method::GET, "/apps/wiki", None).await;
    assert_eq!(app.body["groups"], json!(["dc-blue", "dc-east"]));
    assert_eq!(served_by(&w, 6).await, (0, 6));

    show(&b, "connectors", "Connectors").await;
    b.shot("connectors").await;
    no_page_errors(&b, &[]).await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enrollment_token_is_shown_once_with_the_config_to_paste() {
    let (w, t, _o) = deployment().await;
    let b = log_in(&w, &t.admin, "admin").await;
    show(&b, "connectors", "Connectors").await;
    b.click("#new-enrollment").await;
    b.type_into("#f-id", "edge-7").await;
    b.click("#save").await;
    let snippet = b
        .until(
            "the enrollment snippet",
            "const s = document.getElementById('enrollment-snippet'); return s && s.textContent;",
        )
        .await;
    let snippet = snippet.as_str().expect("text").to_string();
    let token = snippet
        .lines()
        .find_map(|l| l.strip_prefix("enrollment_token = \""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("the token in the snippet")
        .to_string();
    assert!(snippet.contains("id = \"edge-7\""), "{snippet}");
    assert!(token.len() >= 20, "{token}");
    b.shot("enrollment").await;
    // The catalog lists the token (by id), never its secret; once closed the page shows it
    // nowhere.
    let api = Api::of(&w);
    let listed = api
        .call(&t.admin, Method::GET, "/enrollment-tokens", None)
        .await;
    assert_eq!(listed.body["items"].as_array().map(Vec::len), Some(1));
    assert!(!listed.body.to_string().contains(&token));
    b.click("#cancel").await;
    b.until(
        "the token row",
        "return document.querySelector('tr[data-enrollment]');",
    )
    .await;
    assert!(!b.text().await.contains(&token), "the token is shown once");

    // The snippet is valid connector TOML; a connector started with its id and token
    // enrolls and shows up live in the page, in the `default` group.
    let pasted: toml::Value = toml::from_str(&snippet).expect("the snippet is TOML");
    assert_eq!(pasted["id"].as_str(), Some("edge-7"));
    let tunnel = format!("127.0.0.1:{}", w.gw.tunnel_addr.port());
    assert_eq!(pasted["gateways"], toml::Value::Array(vec![tunnel.into()]));
    let mut cfg = connector_config("edge-7", "unused", w.gw.tunnel_addr, &w.pki.ca_path);
    cfg.secret = None;
    cfg.enrollment_token = pasted["enrollment_token"].as_str().map(str::to_string);
    cfg.secret_file = Some(w.dir.path().join("edge-7.secret"));
    let edge = switchyard::run_connector(cfg)
        .await
        .expect("connector starts");
    show(&b, "groups", "Groups").await;
    b.until(
        "edge-7 live in the default group",
        "const r = document.querySelector('[data-group=\"default\"] tr[data-connector=\"edge-7\"]'); \
         return r && r.textContent.includes('live');",
    )
    .await;
    b.shot("enrolled").await;
    no_page_errors(&b, &[]).await;
    b.close().await;
    edge.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_token_sees_no_write_controls_and_cannot_write() {
    let (w, t, _o) = deployment().await;
    let api = Api::of(&w);
    let b = log_in(&w, &t.read_only, "read-only").await;
    for (view, heading) in [
        ("groups", "Groups"),
        ("connectors", "Connectors"),
        ("apps", "Apps"),
    ] {
        show(&b, view, heading).await;
        let writes = b
            .client
            .execute(
                "return document.querySelectorAll('.write, #save, [data-action]').length;",
                vec![],
            )
            .await
            .expect("count");
        assert_eq!(writes, json!(0), "write controls in the {view} view");
        assert!(
            b.text().await.contains("dc-east"),
            "{view} shows the catalog"
        );
        b.shot(&format!("read-only-{view}")).await;
    }
    // A write forged from the page with the read-only token is refused by the API.
    let forged: Value = b
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1]; \
             fetch('/api/v1/groups', {method: 'POST', headers: {'Content-Type': 'application/json', \
               Authorization: 'Bearer ' + sessionStorage.getItem('switchyard.console.token')}, \
               body: JSON.stringify({name: 'forged'})}) \
             .then(async r => done([r.status, (await r.json()).error.code]));",
            vec![],
        )
        .await
        .expect("forged write");
    assert_eq!(forged, json!([403, "forbidden"]));
    let groups = api.call(&t.admin, Method::GET, "/groups", None).await;
    assert!(!groups.names("name").contains("forged"));
    no_page_errors(&b, &[403]).await;

    // Logging out forgets the token at once.
    b.click("#logout").await;
    b.until(
        "the login form, the token forgotten",
        "return !document.getElementById('login').hidden && sessionStorage.length === 0 \
           && document.getElementById('view').hidden;",
    )
    .await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_token_sees_only_its_own_objects_by_plain_name() {
    let (w, t, _o) = deployment().await;
    let api = Api::of(&w);
    for (path, body) in [
        ("/groups", json!({"name": "acme-east"})),
        ("/groups", json!({"name": "acme-west"})),
        ("/connectors", json!({"id": "robot", "group": "acme-east"})),
    ] {
        let made = api.call(&t.tenant, Method::POST, path, Some(body)).await;
        assert_eq!(made.status, 201, "{:?}", made.body);
    }
    let b = log_in(&w, &t.tenant, "tenant acme").await;
    b.until(
        "the tenant's group",
        "return document.querySelector('[data-group=\"acme/acme-east\"]');",
    )
    .await;
    let text = b.text().await;
    assert!(text.contains("acme-east"), "{text}");
    assert!(
        !text.contains("acme/acme-east"),
        "plain names for a tenant: {text}"
    );
    for other in ["dc-east", "dc-west", "c1", "wiki"] {
        assert!(!text.contains(other), "the tenant sees {other}: {text}");
    }
    assert!(
        b.client
            .execute(
                "return document.querySelector('#new-group') !== null;",
                vec![]
            )
            .await
            .expect("new group button")
            == json!(true),
        "a tenant may create its own groups"
    );
    b.shot("tenant-groups").await;
    // Its writes address its objects by plain name.
    b.click("button[data-action='move-connector'][data-key='acme/robot']")
        .await;
    b.choose("#f-group", "acme-west").await;
    b.click("#save").await;
    b.until(
        "robot in acme-west",
        "return document.querySelector('[data-group=\"acme/acme-west\"] tr[data-connector=\"acme/robot\"]');",
    )
    .await;
    let robot = api
        .call(&t.tenant, Method::GET, "/connectors/robot", None)
        .await;
    assert_eq!(robot.body["group"], "acme-west");
    no_page_errors(&b, &[]).await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_that_lost_a_race_shows_the_conflict_and_the_current_data() {
    let (w, t, _o) = deployment().await;
    let b = log_in(&w, &t.admin, "admin").await;
    show(&b, "apps", "Apps").await;
    b.click("button[data-action='edit-app'][data-key='wiki']")
        .await;
    b.type_into("#f-prefix", "/docs").await;
    // Meanwhile another operator changes the same app.
    let api = Api::of(&w);
    let other = api
        .call(
            &t.admin,
            Method::PATCH,
            "/apps/wiki",
            Some(json!({"groups": ["dc-west"]})),
        )
        .await;
    assert_eq!(other.status, 200);
    b.click("#save").await;
    b.until(
        "the conflict message",
        "const b = document.getElementById('banner'); \
         return !b.hidden && b.textContent.startsWith('Conflict');",
    )
    .await;
    b.until(
        "the other operator's change shown",
        "const c = document.querySelector('tr[data-app=\"wiki\"] .chain-cell'); \
         return c && c.textContent === 'dc-west';",
    )
    .await;
    b.shot("conflict").await;
    // The losing edit changed nothing.
    let app = api.call(&t.admin, Method::GET, "/apps/wiki", None).await;
    assert_eq!(app.body["path_prefix"], Value::Null);
    assert_eq!(app.body["groups"], json!(["dc-west"]));
    // An API error is told in words: a group name that is taken.
    show(&b, "groups", "Groups").await;
    b.click("#new-group").await;
    b.type_into("#f-name", "dc-east").await;
    b.click("#save").await;
    b.until(
        "the API's error message",
        "const b = document.getElementById('banner'); \
         return !b.hidden && b.textContent.includes('a group named \"dc-east\" already exists');",
    )
    .await;
    no_page_errors(&b, &[412, 409]).await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_is_renamed_then_deleted_with_everything_moved_to_another() {
    let (w, t, _o) = deployment().await;
    let b = log_in(&w, &t.admin, "admin").await;
    b.click("button[data-action='rename-group'][data-key='dc-east']")
        .await;
    b.type_into("#f-name", "dc-north").await;
    b.click("#save").await;
    b.until(
        "dc-north with c1 and c2",
        "const g = document.querySelector('[data-group=\"dc-north\"]'); \
         return g && g.querySelectorAll('tr[data-connector]').length === 2 \
           && g.textContent.includes('Apps: wiki');",
    )
    .await;
    b.click("button[data-action='delete-group'][data-key='dc-north']")
        .await;
    b.choose("#f-move-to", "dc-west").await;
    b.shot("group-delete").await;
    b.click("#save").await;
    b.until(
        "dc-north gone, its connectors and app in dc-west",
        "const g = document.querySelector('[data-group=\"dc-west\"]'); \
         return !document.querySelector('[data-group=\"dc-north\"]') && g \
           && g.querySelectorAll('tr[data-connector]').length === 2 \
           && g.textContent.includes('Apps: wiki');",
    )
    .await;
    let api = Api::of(&w);
    let app = api.call(&t.admin, Method::GET, "/apps/wiki", None).await;
    assert_eq!(app.body["groups"], json!(["dc-west"]));
    let (c1, c2) = served_by(&w, 4).await;
    assert_eq!(c1 + c2, 4);
    no_page_errors(&b, &[]).await;
    b.close().await;
}
