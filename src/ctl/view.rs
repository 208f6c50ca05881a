//! The human views of API objects: one table per list, one `key: value` block per object.
//! Fields the server adds later are shown too (at the end of a block), never dropped.

use serde_json::Value;

use super::table::{cell, relative, when, Table};

/// The objects of a list answer (`{"items":[..]}`, or a bare array).
fn items(body: &Value) -> &[Value] {
    body.get("items")
        .and_then(Value::as_array)
        .or_else(|| body.as_array())
        .map_or(&[], Vec::as_slice)
}

/// `key: value` lines: the `known` fields in order (with their labels), then any others.
fn block(obj: &Value, known: &[(&str, &str)], now: i64) -> Table {
    let mut t = Table::headless();
    for (key, label) in known {
        let v = obj.get(*key);
        let text = if key.ends_with("_unix") {
            when(v, now)
        } else {
            cell(v)
        };
        t.row([format!("{label}:"), text]);
    }
    if let Some(map) = obj.as_object() {
        for (k, v) in map {
            if !known.iter().any(|(key, _)| key == k) {
                t.row([format!("{k}:"), cell(Some(v))]);
            }
        }
    }
    t
}

fn with_version(mut t: Table, etag: Option<&str>) -> String {
    if let Some(v) = etag {
        t.row(["catalog version:".to_string(), v.to_string()]);
    }
    t.render()
}

fn or_none(t: Table, what: &str) -> String {
    if t.is_empty() {
        format!("no {what}\n")
    } else {
        t.render()
    }
}

const TENANT: &[(&str, &str)] = &[
    ("name", "name"),
    ("domains", "domains"),
    ("quotas", "quotas"),
    ("overrides", "overrides"),
    ("usage", "usage"),
];

/// `used/quota` of one kind of a tenant view.
fn usage(t: &Value, kind: &str) -> String {
    let used = cell(t.get("usage").and_then(|u| u.get(kind)));
    let quota = cell(t.get("quotas").and_then(|q| q.get(kind)));
    format!("{used}/{quota}")
}

pub fn tenants(body: &Value) -> String {
    let mut t = Table::new(&[
        "name",
        "domains",
        "apps",
        "groups",
        "connectors",
        "enrollment tokens",
    ]);
    for x in items(body) {
        t.row([
            cell(x.get("name")),
            cell(x.get("domains")),
            usage(x, "apps"),
            usage(x, "groups"),
            usage(x, "connectors"),
            usage(x, "enrollment_tokens"),
        ]);
    }
    or_none(t, "tenants")
}

pub fn tenant(body: &Value, etag: Option<&str>) -> String {
    // Per-kind numbers read better as `apps=2 groups=20` than as JSON.
    let mut shown = body.clone();
    for key in ["quotas", "overrides", "usage"] {
        if let Some(Value::Object(m)) = body.get(key) {
            let text: Vec<String> = super::QUOTA_KINDS
                .iter()
                .filter_map(|k| m.get(*k).map(|v| format!("{k}={}", cell(Some(v)))))
                .collect();
            shown[key] = Value::String(text.join(" "));
        }
    }
    with_version(block(&shown, TENANT, 0), etag)
}

const GROUP: &[(&str, &str)] = &[
    ("name", "name"),
    ("qualified", "qualified"),
    ("balance", "balance"),
    ("tenant", "tenant"),
    ("shared", "shared"),
    ("connectors", "connectors"),
    ("apps", "apps"),
];

pub fn groups(body: &Value) -> String {
    let mut t = Table::new(&[
        "name",
        "qualified",
        "balance",
        "shared",
        "connectors",
        "apps",
    ]);
    for g in items(body) {
        t.row([
            cell(g.get("name")),
            cell(g.get("qualified")),
            cell(g.get("balance")),
            cell(g.get("shared")),
            cell(g.get("connectors")),
            cell(g.get("apps")),
        ]);
    }
    or_none(t, "groups")
}

pub fn group(body: &Value, etag: Option<&str>) -> String {
    with_version(block(body, GROUP, 0), etag)
}

/// `live`, `revoked` or `offline`.
fn state(c: &Value) -> &'static str {
    if c.get("revoked").and_then(Value::as_bool) == Some(true) {
        "revoked"
    } else if c.get("live").and_then(Value::as_bool) == Some(true) {
        "live"
    } else {
        "offline"
    }
}

const CONNECTOR: &[(&str, &str)] = &[
    ("id", "id"),
    ("qualified", "qualified"),
    ("group", "group"),
    ("tenant", "tenant"),
    ("live", "live"),
    ("revoked", "revoked"),
    ("tunnels", "tunnels"),
    ("gateways", "gateways"),
    ("in_flight", "in flight"),
    ("served", "served"),
    ("remote", "remote"),
    ("version", "version"),
    ("last_seen_unix", "last seen"),
];

/// The connector list; a GATEWAYS column (the gateways each connector holds tunnels to)
/// when the API gives one, that is when the catalog is shared in etcd.
pub fn connectors(body: &Value, now: i64) -> String {
    let list = items(body);
    let shared = list
        .iter()
        .any(|c| c.get("gateways").is_some_and(|g| !g.is_null()));
    let mut header = vec!["id", "qualified", "group", "state", "tunnels"];
    if shared {
        header.push("gateways");
    }
    header.extend(["in-flight", "served", "remote", "version", "last seen"]);
    let mut t = Table::new(&header);
    for c in list {
        let seen = match c.get("last_seen_unix").and_then(Value::as_i64) {
            Some(t) if t > 0 => relative(t, now),
            _ => "-".into(),
        };
        let mut row = vec![
            cell(c.get("id")),
            cell(c.get("qualified")),
            cell(c.get("group")),
            state(c).to_string(),
            cell(c.get("tunnels")),
        ];
        if shared {
            row.push(cell(c.get("gateways")));
        }
        row.extend([
            cell(c.get("in_flight")),
            cell(c.get("served")),
            cell(c.get("remote")),
            cell(c.get("version")),
            seen,
        ]);
        t.row(row);
    }
    or_none(t, "connectors")
}

pub fn connector(body: &Value, etag: Option<&str>, now: i64) -> String {
    with_version(block(body, CONNECTOR, now), etag)
}

const APP: &[(&str, &str)] = &[
    ("name", "name"),
    ("qualified", "qualified"),
    ("host", "host"),
    ("path_prefix", "path prefix"),
    ("internal_url", "internal url"),
    ("groups", "groups"),
    ("preserve_host", "preserve host"),
    ("backend_timeout_secs", "backend timeout (s)"),
    ("origin_tls_verify", "origin tls verify"),
    ("min_live_connectors", "min live connectors"),
    ("affinity", "affinity"),
    ("tenant", "tenant"),
];

pub fn apps(body: &Value) -> String {
    let mut t = Table::new(&[
        "name",
        "qualified",
        "host",
        "path",
        "groups",
        "internal url",
    ]);
    for a in items(body) {
        t.row([
            cell(a.get("name")),
            cell(a.get("qualified")),
            cell(a.get("host")),
            cell(a.get("path_prefix")),
            cell(a.get("groups")),
            cell(a.get("internal_url")),
        ]);
    }
    or_none(t, "apps")
}

pub fn app(body: &Value, etag: Option<&str>) -> String {
    with_version(block(body, APP, 0), etag)
}

pub fn enrollment_tokens(body: &Value, now: i64) -> String {
    let mut t = Table::new(&["id", "qualified", "expires"]);
    for e in items(body) {
        t.row([
            cell(e.get("id")),
            cell(e.get("qualified")),
            when(e.get("expires_at_unix"), now),
        ]);
    }
    or_none(t, "enrollment tokens")
}

pub fn status(body: &Value, now: i64) -> String {
    let mut t = Table::headless();
    let mut kv = |k: &str, v: String| t.row([format!("{k}:"), v]);
    kv("version", cell(body.get("version")));
    kv("apps", cell(body.get("apps")));
    kv("live connectors", cell(body.get("connectors_live")));
    let reload = body.get("last_reload");
    let outcome = match reload.and_then(|r| r.get("ok")).and_then(Value::as_bool) {
        Some(true) => "ok",
        Some(false) => "FAILED",
        None => "-",
    };
    let at = when(reload.and_then(|r| r.get("at_unix")), now);
    kv(
        "last reload",
        if at == "-" {
            outcome.to_string()
        } else {
            format!("{outcome} at {at}")
        },
    );
    kv("store", cell(body.get("store")));
    let mut out = t.render();
    let errors = reload
        .and_then(|r| r.get("errors"))
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    if !errors.is_empty() {
        out.push_str("reload errors:\n");
        for e in errors {
            out.push_str(&format!("  {}\n", cell(Some(e))));
        }
    }
    let mut groups = Table::new(&["group", "live connectors"]);
    for g in body
        .get("groups")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice)
    {
        groups.row([cell(g.get("name")), cell(g.get("live_connectors"))]);
    }
    if !groups.is_empty() {
        out.push('\n');
        out.push_str(&groups.render());
    }
    out
}

/// `deleted group X` + where its members went, from a 200 `{"deleted","moved_to"}`.
pub fn group_deleted(name: &str, body: &Value) -> String {
    match body.get("moved_to") {
        Some(v) if !v.is_null() => {
            format!("deleted group {name}; members moved to {}\n", cell(Some(v)))
        }
        _ => format!("deleted group {name}\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn group_list() {
        let body = json!({"items": [
            {"name": "dc-east", "qualified": "dc-east", "balance": "p2c", "tenant": null,
             "shared": true, "connectors": ["east-1", "east-2"], "apps": ["wiki", "t1/crm"]},
            {"name": "dc-west", "qualified": "t1/dc-west", "balance": "round_robin",
             "shared": false, "connectors": [], "apps": []},
        ]});
        assert_eq!(
            groups(&body),
            "NAME     QUALIFIED   BALANCE      SHARED  CONNECTORS     APPS\n\
             dc-east  dc-east     p2c          yes     east-1,east-2  wiki,t1/crm\n\
             dc-west  t1/dc-west  round_robin  no      -              -\n"
        );
        assert_eq!(groups(&json!({"items": []})), "no groups\n");
    }

    #[test]
    fn connector_states_and_last_seen() {
        let body = json!({"items": [
            {"id": "east-1", "group": "dc-east", "live": true, "revoked": false, "tunnels": 2,
             "in_flight": 0, "served": 10, "remote": "10.0.0.1:5000", "version": "0.1.0",
             "last_seen_unix": 990},
            {"id": "east-2", "group": "dc-east", "live": false, "revoked": true, "tunnels": 0},
        ]});
        let text = connectors(&body, 1000);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with("ID      QUALIFIED  GROUP    STATE    TUNNELS"),
            "{text}"
        );
        assert!(
            lines[1].contains("live") && lines[1].ends_with("10s ago"),
            "{text}"
        );
        assert!(
            lines[2].contains("revoked") && lines[2].ends_with('-'),
            "{text}"
        );
    }

    #[test]
    fn a_gateways_column_only_when_the_catalog_is_shared() {
        let body = json!({"items": [
            {"id": "east-1", "live": true, "tunnels": 2,
             "gateways": ["gw-a:8443", "gw-b:8443"]},
            {"id": "east-2", "live": false, "tunnels": 0, "gateways": []},
        ]});
        let text = connectors(&body, 1000);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].contains(" TUNNELS  GATEWAYS "), "{text}");
        assert!(lines[1].contains(" gw-a:8443,gw-b:8443 "), "{text}");
        let alone = json!({"items": [{"id": "east-1", "tunnels": 2, "gateways": null}]});
        assert!(!connectors(&alone, 1000).contains("GATEWAYS"));
        let one = connector(&body["items"][0], Some("7"), 1000);
        assert!(one.contains("gateways:"), "{one}");
        assert!(one.contains("gw-a:8443,gw-b:8443"), "{one}");
    }

    #[test]
    fn show_blocks_keep_unknown_fields_and_the_version() {
        let body = json!({"name": "wiki", "host": "wiki.example.com", "groups": ["a", "b"],
                          "preserve_host": false, "zeta": 1});
        let text = app(&body, Some("7"));
        assert!(text.starts_with("name:                 wiki\n"), "{text}");
        assert!(text.contains("groups:               a,b\n"));
        assert!(text.contains("preserve host:        no\n"));
        assert!(text.contains("zeta:                 1\n"));
        assert!(text.ends_with("catalog version:      7\n"), "{text}");
    }

    #[test]
    fn tenant_usage_against_quotas() {
        let body = json!({"items": [{"name": "t1", "domains": ["t1.example.com"],
            "quotas": {"apps": 2, "groups": 20, "connectors": 50, "enrollment_tokens": 20},
            "usage": {"apps": 1, "groups": 0, "connectors": 3, "enrollment_tokens": 0}}]});
        assert_eq!(
            tenants(&body),
            "NAME  DOMAINS         APPS  GROUPS  CONNECTORS  ENROLLMENT TOKENS\n\
             t1    t1.example.com  1/2   0/20    3/50        0/20\n"
        );
        assert_eq!(tenants(&json!({"items": []})), "no tenants\n");
        let one = tenant(&body["items"][0], Some("4"));
        assert!(
            one.contains(" apps=1 groups=0 connectors=3 enrollment_tokens=0\n"),
            "{one}"
        );
    }

    #[test]
    fn status_view() {
        let body = json!({"version": "0.1.0", "apps": 2, "connectors_live": 3,
            "groups": [{"name": "dc-east", "live_connectors": 2}],
            "last_reload": {"ok": false, "at_unix": 5, "errors": ["apps[0].host: empty"]},
            "store": "file"});
        let text = status(&body, 10);
        assert!(
            text.contains("last reload:      FAILED at 1970-01-01"),
            "{text}"
        );
        assert!(
            text.contains("reload errors:\n  apps[0].host: empty\n"),
            "{text}"
        );
        assert!(
            text.ends_with("GROUP    LIVE CONNECTORS\ndc-east  2\n"),
            "{text}"
        );
    }
}
