//! The admin API against a real gateway with a catalog store, through a real HTTP client:
//! round trips of every resource, every class of validation error, roles, concurrent
//! writers, persistence across a restart and a crash, changes live on the next request, and
//! tenant scopes.

mod durability;
mod resources;
mod rules;
mod scopes;

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::support::world::{AdminTokens, World};

/// One answer of the API.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub etag: Option<u64>,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
    pub fn field(&self) -> &str {
        self.body["error"]["field"].as_str().unwrap_or("")
    }
    pub fn names(&self, key: &str) -> BTreeSet<String> {
        self.body["items"]
            .as_array()
            .unwrap_or_else(|| panic!("items in {:?}", self.body))
            .iter()
            .filter_map(|i| i[key].as_str().map(str::to_string))
            .collect()
    }
}

/// A client of one gateway's admin API.
#[derive(Clone)]
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
}

impl Api {
    pub fn new(base: String) -> Api {
        Api {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("client"),
            base,
        }
    }

    pub fn of(w: &World) -> Api {
        Api::new(w.admin_url(""))
    }

    /// A request with a raw body and content type.
    pub async fn raw(
        &self,
        token: Option<&str>,
        method: Method,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
        if_match: Option<&str>,
    ) -> Answer {
        let mut req = self
            .http
            .request(method, format!("{}/api/v1{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(v) = if_match {
            req = req.header("if-match", v);
        }
        if let Some((ctype, bytes)) = body {
            if !ctype.is_empty() {
                req = req.header("content-type", ctype);
            }
            req = req.body(bytes);
        }
        let resp = req.send().await.expect("admin API answers");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let etag = headers
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim_matches('"').parse().expect("numeric etag"));
        let text = resp.text().await.expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("JSON body ({e}): {text}"))
        };
        Answer {
            status,
            etag,
            headers,
            body,
        }
    }

    pub async fn call(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Answer {
        self.call_if(token, method, path, body, None).await
    }

    pub async fn call_if(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
        if_match: Option<&str>,
    ) -> Answer {
        let body = body.map(|v| ("application/json", serde_json::to_vec(&v).expect("json")));
        self.raw(Some(token), method, path, body, if_match).await
    }
}

pub fn app_json(name: &str, host: &str, url: &str, groups: &[&str]) -> Value {
    json!({ "name": name, "host": host, "internal_url": url, "groups": groups })
}

/// `GET` as admin, expecting 200.
pub async fn get(api: &Api, t: &AdminTokens, path: &str) -> Answer {
    let a = api.call(&t.admin, Method::GET, path, None).await;
    assert_eq!(a.status, 200, "GET {path}: {:?}", a.body);
    a
}

pub async fn status_of(w: &World, host: &str) -> u16 {
    w.h1()
        .get(w.url(host, "/"))
        .send()
        .await
        .expect("edge answers")
        .status()
        .as_u16()
}
