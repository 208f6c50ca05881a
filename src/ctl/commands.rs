//! Each `ctl` command as one admin API call, and what it prints.

use std::io::Write;

use reqwest::Method;
use serde_json::{json, Map, Value};

use super::client::{Client, CtlError, Reply, Target};
use super::table::{cell, now_unix, when, Table};
use super::{
    view, AppsCmd, ConnectorsCmd, CtlArgs, CtlCommand, EnrollCmd, GroupsCmd, TenantsCmd,
    DEFAULT_URL,
};

/// Where the answer goes: a table, or the raw body with `--json`.
struct Out {
    json: bool,
}

impl Out {
    /// Prints the body (`--json`) or `human`.
    fn show(&self, reply: &Reply, human: impl FnOnce(&Reply) -> String) -> Result<(), CtlError> {
        if self.json {
            let mut text = reply.text.clone();
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            emit(&text)
        } else {
            emit(&human(reply))
        }
    }
}

fn emit(text: &str) -> Result<(), CtlError> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        // `ctl … | head` closing the pipe early is not a failure of the command.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CtlError::Local(format!("stdout: {e}"))),
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Inserts `value` under `key` when it is present.
fn put(body: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    if let Some(v) = value {
        body.insert(key.into(), v);
    }
}

pub(super) fn execute(args: CtlArgs) -> Result<(), CtlError> {
    let url = args
        .url
        .clone()
        .or_else(|| env("SWITCHYARD_URL"))
        .unwrap_or_else(|| DEFAULT_URL.to_string());
    let token = args.token.clone().or_else(|| env("SWITCHYARD_TOKEN"));
    let client = Client::new(&Target {
        url: &url,
        token: token.as_deref(),
        ca_file: args.ca_file.as_deref(),
        if_match: args.if_match.as_deref(),
    })?;
    let out = Out { json: args.json };
    match args.command {
        CtlCommand::Status => {
            let reply = client.call(Method::GET, client.url(&["status"], &[]), None)?;
            out.show(&reply, |r| view::status(&r.json, now_unix()))
        }
        CtlCommand::Tenants(cmd) => tenants(&client, &out, cmd),
        CtlCommand::Groups(cmd) => groups(&client, &out, cmd),
        CtlCommand::Connectors(cmd) => connectors(&client, &out, cmd),
        CtlCommand::Apps(cmd) => apps(&client, &out, cmd),
        CtlCommand::Enroll(cmd) => enroll(&client, &out, cmd),
    }
}

/// `{"apps": 3, …}` of `--quota` pairs.
fn quotas(pairs: Vec<(String, u32)>) -> Value {
    Value::Object(pairs.into_iter().map(|(k, n)| (k, json!(n))).collect())
}

fn tenants(client: &Client, out: &Out, cmd: TenantsCmd) -> Result<(), CtlError> {
    match cmd {
        TenantsCmd::List => {
            let reply = client.call(Method::GET, client.url(&["tenants"], &[]), None)?;
            out.show(&reply, |r| view::tenants(&r.json))
        }
        TenantsCmd::Show { name } => {
            let reply = client.call(Method::GET, client.url(&["tenants", &name], &[]), None)?;
            out.show(&reply, |r| view::tenant(&r.json, r.etag.as_deref()))
        }
        TenantsCmd::Create {
            name,
            domains,
            quotas: q,
        } => {
            let body = json!({ "name": name, "domains": domains, "quotas": quotas(q) });
            let reply = client.call(Method::POST, client.url(&["tenants"], &[]), Some(&body))?;
            out.show(&reply, |r| {
                format!("created tenant {name}\n{}", view::tenant(&r.json, None))
            })
        }
        TenantsCmd::Set {
            name,
            domains,
            no_domains,
            quotas: q,
            default_quotas,
        } => {
            let mut body = Map::new();
            if no_domains || !domains.is_empty() {
                body.insert("domains".into(), json!(domains));
            }
            if default_quotas || !q.is_empty() {
                body.insert("quotas".into(), quotas(q));
            }
            if body.is_empty() {
                return Err(CtlError::Usage(
                    "nothing to change: give --domain, --no-domains, --quota or --default-quotas"
                        .into(),
                ));
            }
            let reply = client.call(
                Method::PATCH,
                client.url(&["tenants", &name], &[]),
                Some(&Value::Object(body)),
            )?;
            out.show(&reply, |r| {
                format!("changed tenant {name}\n{}", view::tenant(&r.json, None))
            })
        }
        TenantsCmd::Delete { name } => {
            let reply = client.call(Method::DELETE, client.url(&["tenants", &name], &[]), None)?;
            out.show(&reply, |_| format!("deleted tenant {name}\n"))
        }
    }
}

fn groups(client: &Client, out: &Out, cmd: GroupsCmd) -> Result<(), CtlError> {
    match cmd {
        GroupsCmd::List => {
            let reply = client.call(Method::GET, client.url(&["groups"], &[]), None)?;
            out.show(&reply, |r| view::groups(&r.json))
        }
        GroupsCmd::Show { name } => {
            let reply = client.call(Method::GET, client.url(&["groups", &name], &[]), None)?;
            out.show(&reply, |r| view::group(&r.json, r.etag.as_deref()))
        }
        GroupsCmd::Create {
            name,
            balance,
            tenant,
            shared,
        } => {
            let mut body = Map::new();
            body.insert("name".into(), json!(name));
            put(&mut body, "balance", balance.map(Value::from));
            put(&mut body, "tenant", tenant.map(Value::from));
            put(&mut body, "shared", shared.then_some(Value::Bool(true)));
            let reply = client.call(
                Method::POST,
                client.url(&["groups"], &[]),
                Some(&Value::Object(body)),
            )?;
            out.show(&reply, |r| {
                let shared = match r.json.get("shared").and_then(Value::as_bool) {
                    Some(true) => ", shared with tenants",
                    _ => "",
                };
                format!(
                    "created group {} (balance {}{shared})\n",
                    cell(r.json.get("qualified").or(r.json.get("name"))),
                    cell(r.json.get("balance"))
                )
            })
        }
        GroupsCmd::Rename { old, new } => {
            let reply = client.call(
                Method::PATCH,
                client.url(&["groups", &old], &[]),
                Some(&json!({ "name": new })),
            )?;
            out.show(&reply, |_| format!("renamed group {old} to {new}\n"))
        }
        GroupsCmd::Delete { name, move_to } => {
            let query: Vec<(&str, &str)> =
                move_to.iter().map(|g| ("move_to", g.as_str())).collect();
            let reply = client
                .call(Method::DELETE, client.url(&["groups", &name], &query), None)
                .map_err(|e| e.hint(409, "ctl: --move-to GROUP"))?;
            out.show(&reply, |r| view::group_deleted(&name, &r.json))
        }
    }
}

fn connectors(client: &Client, out: &Out, cmd: ConnectorsCmd) -> Result<(), CtlError> {
    match cmd {
        ConnectorsCmd::List => {
            let reply = client.call(Method::GET, client.url(&["connectors"], &[]), None)?;
            out.show(&reply, |r| view::connectors(&r.json, now_unix()))
        }
        ConnectorsCmd::Show { id } => {
            let reply = client.call(Method::GET, client.url(&["connectors", &id], &[]), None)?;
            out.show(&reply, |r| {
                view::connector(&r.json, r.etag.as_deref(), now_unix())
            })
        }
        ConnectorsCmd::Create { id, group, tenant } => {
            let mut body = Map::new();
            body.insert("id".into(), json!(id));
            body.insert("group".into(), json!(group));
            put(&mut body, "tenant", tenant.map(Value::from));
            let reply = client.call(
                Method::POST,
                client.url(&["connectors"], &[]),
                Some(&Value::Object(body)),
            )?;
            eprintln!(
                "warning: the connector's secret is shown only this once: store it now \
                 (connector.toml `secret` or `secret_file`)"
            );
            out.show(&reply, |r| {
                let c = r.json.get("connector").unwrap_or(&Value::Null);
                let group = match c.get("group") {
                    Some(g) => cell(Some(g)),
                    None => group.clone(),
                };
                let id = match c.get("qualified") {
                    Some(q) => cell(Some(q)),
                    None => id.clone(),
                };
                format!(
                    "created connector {id} in group {group}\nsecret = \"{}\"   # connector.toml\n",
                    cell(r.json.get("secret"))
                )
            })
        }
        ConnectorsCmd::Move { id, group } => {
            let reply = client.call(
                Method::POST,
                client.url(&["connectors", &id, "move"], &[]),
                Some(&json!({ "group": group })),
            )?;
            out.show(&reply, |_| {
                format!("moved connector {id} to group {group}\n")
            })
        }
        ConnectorsCmd::Revoke { id } => {
            let reply = client.call(
                Method::POST,
                client.url(&["connectors", &id, "revoke"], &[]),
                None,
            )?;
            out.show(&reply, |_| {
                format!("revoked connector {id}: its tunnels are closed and its secret refused\n")
            })
        }
        ConnectorsCmd::Delete { id } => {
            let reply = client.call(Method::DELETE, client.url(&["connectors", &id], &[]), None)?;
            out.show(&reply, |_| format!("deleted connector {id}\n"))
        }
    }
}

fn apps(client: &Client, out: &Out, cmd: AppsCmd) -> Result<(), CtlError> {
    match cmd {
        AppsCmd::List => {
            let reply = client.call(Method::GET, client.url(&["apps"], &[]), None)?;
            out.show(&reply, |r| view::apps(&r.json))
        }
        AppsCmd::Show { name } => {
            let reply = client.call(Method::GET, client.url(&["apps", &name], &[]), None)?;
            out.show(&reply, |r| view::app(&r.json, r.etag.as_deref()))
        }
        AppsCmd::Create {
            name,
            host,
            url,
            groups,
            path_prefix,
            preserve_host,
            timeout,
            tenant,
        } => {
            let mut body = Map::new();
            body.insert("name".into(), json!(name));
            body.insert("host".into(), json!(host));
            body.insert("internal_url".into(), json!(url));
            body.insert("groups".into(), json!(groups));
            body.insert("preserve_host".into(), json!(preserve_host));
            put(&mut body, "path_prefix", path_prefix.map(Value::from));
            put(&mut body, "backend_timeout_secs", timeout.map(Value::from));
            put(&mut body, "tenant", tenant.map(Value::from));
            let reply = client.call(
                Method::POST,
                client.url(&["apps"], &[]),
                Some(&Value::Object(body)),
            )?;
            out.show(&reply, |r| {
                format!(
                    "created app {name}: {}{} -> {} via {}\n",
                    cell(r.json.get("host")),
                    r.json
                        .get("path_prefix")
                        .and_then(Value::as_str)
                        .unwrap_or(""),
                    cell(r.json.get("internal_url")),
                    cell(r.json.get("groups")),
                )
            })
        }
        AppsCmd::Assign { name, groups } => {
            let reply = client.call(
                Method::PATCH,
                client.url(&["apps", &name], &[]),
                Some(&json!({ "groups": groups })),
            )?;
            out.show(&reply, |r| {
                let chain = match r.json.get("groups") {
                    Some(g) => cell(Some(g)),
                    None => groups.join(","),
                };
                format!("app {name} now served by groups {chain}\n")
            })
        }
        AppsCmd::Delete { name } => {
            let reply = client.call(Method::DELETE, client.url(&["apps", &name], &[]), None)?;
            out.show(&reply, |_| format!("deleted app {name}\n"))
        }
    }
}

fn enroll(client: &Client, out: &Out, cmd: EnrollCmd) -> Result<(), CtlError> {
    match cmd {
        EnrollCmd::Create { tenant, ttl } => {
            let mut body = Map::new();
            put(&mut body, "tenant", tenant.map(Value::from));
            put(&mut body, "ttl_secs", ttl.map(Value::from));
            let reply = client.call(
                Method::POST,
                client.url(&["enrollment-tokens"], &[]),
                Some(&Value::Object(body)),
            )?;
            eprintln!("warning: the enrollment token is shown only this once: store it now");
            out.show(&reply, |r| {
                let mut t = Table::headless();
                t.row(["id:".to_string(), cell(r.json.get("id"))]);
                t.row(["token:".to_string(), cell(r.json.get("token"))]);
                t.row([
                    "expires:".to_string(),
                    when(r.json.get("expires_at_unix"), now_unix()),
                ]);
                t.render()
            })
        }
        EnrollCmd::List => {
            let reply = client.call(Method::GET, client.url(&["enrollment-tokens"], &[]), None)?;
            out.show(&reply, |r| view::enrollment_tokens(&r.json, now_unix()))
        }
        EnrollCmd::Delete { id } => {
            let reply = client.call(
                Method::DELETE,
                client.url(&["enrollment-tokens", &id], &[]),
                None,
            )?;
            out.show(&reply, |_| format!("deleted enrollment token {id}\n"))
        }
    }
}
