//! `GET /api/v1/status`: catalog version, counts, live connectors per group, the last
//! configuration reload, where the catalog is stored, and the caller's role.

use std::time::UNIX_EPOCH;

use serde_json::{json, Value};

use super::auth::Caller;
use super::reply::{ApiError, Reply};
use super::request::Ctx;

/// `GET /status` (a tenant token sees its own groups, by plain name, and counts; an
/// operator's token every group, qualified).
pub fn get(ctx: Ctx) -> Result<Reply, ApiError> {
    let d = ctx.desired();
    let c = &d.catalog;
    let caller = &ctx.caller;
    let view = ctx.state.live.registry.view();
    // The registry knows groups and connectors by qualified name.
    let live_in = |group: &str| view.group(group).map_or(0, |g| g.members.len());
    let groups: Vec<Value> = c
        .groups
        .iter()
        .filter(|g| caller.sees(&g.tenant))
        .map(|g| {
            let live = live_in(&g.key().qualified());
            json!({ "name": caller.name_of(g.key()), "live_connectors": live })
        })
        .collect();
    let statuses = ctx.state.live.registry.statuses();
    let connectors_live = c
        .connectors
        .iter()
        .filter(|x| caller.sees(&x.tenant) && !x.revoked)
        .filter(|x| {
            let id = x.key().qualified();
            statuses.get(id.as_str()).is_some_and(|s| s.tunnels > 0)
        })
        .count();
    let reload = ctx.state.live.last_reload.load();
    // Reload errors may name any object of the catalog, and settings are the operator's:
    // operators only.
    let (errors, restart_needed) = match caller.tenant() {
        None => (reload.errors.clone(), reload.restart_needed.clone()),
        Some(_) => (Vec::new(), Vec::new()),
    };
    let (role, tenant) = match caller {
        Caller::Admin => ("admin", None),
        Caller::ReadOnly => ("read_only", None),
        Caller::Tenant(t) => ("tenant", Some(t.as_str())),
    };
    let body = json!({
        "version": d.version,
        // Who asks: the console shows write controls only to a role that may write.
        "caller": { "role": role, "tenant": tenant },
        // What a connector's `gateways` names (the console's enrollment snippet uses it).
        "tunnel_listen": ctx.state.tunnel_listen.map(|a| a.to_string()),
        "apps": c.apps.iter().filter(|a| caller.sees(&a.tenant)).count(),
        "connectors_live": connectors_live,
        "groups": groups,
        "last_reload": {
            "ok": reload.ok,
            "at_unix": reload.at.and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map(|d| d.as_secs()),
            "errors": errors,
            "restart_needed": restart_needed,
        },
        "store": ctx.state.catalog.store_state(),
    });
    Ok(Reply::ok(body, d.version))
}
