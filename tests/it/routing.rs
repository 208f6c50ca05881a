//! Routing through a real gateway: exact, wildcard, path prefix, most specific wins, 404.

use crate::support::origin;
use crate::support::world::{app, Spec, World};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn most_specific_app_answers() {
    let names = ["exact", "wild", "deep-wild", "api", "api-v2"];
    let mut origins = Vec::new();
    for n in names {
        origins.push(origin::spawn(n).await);
    }
    let url = |i: usize| origins[i].url();
    let spec = Spec::default()
        .group("g")
        .connector("c1", "g")
        .app("exact", "wiki.apps.example.test", &url(0), &["g"])
        .app("wild", "*.apps.example.test", &url(1), &["g"])
        .app("deep-wild", "*.c.apps.example.test", &url(2), &["g"])
        .app_with(app(
            "api",
            "svc.example.test",
            Some("/api"),
            &url(3),
            &["g"],
        ))
        .app_with(app(
            "api-v2",
            "svc.example.test",
            Some("/api/v2"),
            &url(4),
            &["g"],
        ));
    let mut w = World::start(spec);
    w.connect("c1").await;
    let c = w.h1();

    let cases = [
        ("wiki.apps.example.test", "/", Some("exact")),
        ("WIKI.Apps.Example.Test", "/", Some("exact")),
        ("other.apps.example.test", "/x", Some("wild")),
        ("x.c.apps.example.test", "/", Some("deep-wild")),
        ("svc.example.test", "/api", Some("api")),
        ("svc.example.test", "/api/users?q=1", Some("api")),
        ("svc.example.test", "/api/v2/users", Some("api-v2")),
        ("svc.example.test", "/apiary", None),
        ("svc.example.test", "/", None),
        ("nothing.example.test", "/", None),
    ];
    for (host, path, want) in cases {
        let resp = c.get(w.url(host, path)).send().await.expect("request");
        match want {
            Some(name) => {
                assert_eq!(resp.status(), 200, "{host}{path}");
                assert_eq!(
                    resp.headers().get("x-origin").and_then(|v| v.to_str().ok()),
                    Some(name),
                    "{host}{path}"
                );
            }
            None => {
                assert_eq!(resp.status(), 404, "{host}{path}");
                let body = resp.text().await.expect("body");
                assert!(body.contains("no app"), "{body}");
            }
        }
    }
}
