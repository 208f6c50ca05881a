//! `/api/v1/connectors`: the catalog's connectors joined with what the tunnel registry knows
//! of them (tunnels, load, remote address, version, last seen).

use std::collections::HashMap;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Caller;
use super::reply::{ApiError, Reply};
use super::request::Ctx;
use crate::catalog::scope::Key;
use crate::catalog::{secret, Catalog, ConnectorSpec};
use crate::tunnel::registry::ConnectorStatus;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewConnector {
    id: String,
    group: String,
    #[serde(default)]
    tenant: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MoveTo {
    group: String,
}

/// A body that must be empty or `{}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoFields {}

/// What a connector's view joins: this process's registry and, on a shared store, the
/// gateways each connector holds tunnels to.
struct Live {
    statuses: HashMap<Arc<str>, ConnectorStatus>,
    gateways: Option<std::collections::BTreeMap<String, Vec<String>>>,
}

fn live(ctx: &Ctx) -> Live {
    Live {
        statuses: ctx.state.live.registry.statuses(),
        gateways: ctx.state.catalog.connector_gateways(),
    }
}

/// A connector as the API shows it, joined with the registry by its qualified id.
fn view(c: &ConnectorSpec, live: &Live) -> Value {
    let qualified = c.key().qualified();
    let s = live
        .statuses
        .get(qualified.as_str())
        .cloned()
        .unwrap_or_default();
    let gateways = live
        .gateways
        .as_ref()
        .map(|g| g.get(&qualified).cloned().unwrap_or_default());
    json!({
        "id": c.id,
        "qualified": qualified,
        "group": c.group,
        "tenant": c.tenant,
        "revoked": c.revoked,
        "live": !c.revoked && s.tunnels > 0,
        "tunnels": s.tunnels,
        "in_flight": s.in_flight,
        "served": s.served,
        "remote": s.remote.map(|a| a.to_string()),
        "version": s.version,
        "last_seen_unix": s.last_seen_unix,
        "gateways": gateways,
    })
}

/// Index of the connector a path parameter names for the caller.
fn find(c: &Catalog, caller: &Caller, raw: &str) -> Result<usize, ApiError> {
    caller
        .key(raw)
        .and_then(|k| c.connector_index(k))
        .ok_or_else(|| ApiError::not_found("connector", raw))
}

/// The scope and group of a new connector. Its group is always of its own scope; an
/// admin may name it qualified (`t1/dc-east`), which puts the connector in that tenant's
/// scope when the body names no other. Anything else stays as written, and an unknown group
/// is the catalog's error.
fn placement(caller: &Caller, tenant: Option<String>, group: String) -> (Option<String>, String) {
    if matches!(caller, Caller::Tenant(_)) {
        return (tenant, group);
    }
    match Key::parse_qualified(&group) {
        Some(k) if tenant.is_none() || k.tenant == tenant.as_deref() => {
            (k.tenant.map(str::to_owned), k.name.to_owned())
        }
        _ => (tenant, group),
    }
}

/// `GET /connectors`.
pub fn list(ctx: Ctx) -> Result<Reply, ApiError> {
    let d = ctx.desired();
    let live = live(&ctx);
    let items: Vec<Value> = d
        .catalog
        .connectors
        .iter()
        .filter(|x| ctx.caller.sees(&x.tenant))
        .map(|x| view(x, &live))
        .collect();
    Ok(Reply::ok(json!({ "items": items }), d.version))
}

/// `GET /connectors/{id}`.
pub fn get(ctx: Ctx) -> Result<Reply, ApiError> {
    let d = ctx.desired();
    let i = find(&d.catalog, &ctx.caller, ctx.param(0))?;
    let live = live(&ctx);
    Ok(Reply::ok(view(&d.catalog.connectors[i], &live), d.version))
}

/// `POST /connectors`: registers a connector with a fresh secret, shown only here.
pub fn create(ctx: Ctx) -> Result<Reply, ApiError> {
    let body: NewConnector = ctx.json()?;
    let requested = ctx.caller.owner_for(body.tenant)?;
    let secret = secret::generate();
    let secret_hash = secret::hash(&secret);
    let (tenant, group) = placement(&ctx.caller, requested, body.group);
    let (version, spec) = ctx.update(|c| {
        if c.connector_index(Key::new(tenant.as_deref(), &body.id))
            .is_some()
        {
            return Err(ApiError::conflict(
                "id",
                format!("a connector with id {:?} already exists", body.id),
            ));
        }
        // An unknown group (or one of another scope, which is the same thing here) is
        // the catalog's `unknown group` error.
        let spec = ConnectorSpec {
            id: body.id,
            group,
            secret_hash,
            tenant,
            revoked: false,
        };
        c.connectors.push(spec.clone());
        Ok(spec)
    })?;
    let live = live(&ctx);
    Ok(Reply::created(
        json!({ "connector": view(&spec, &live), "secret": secret }),
        version,
    ))
}

/// Changes one connector; answers with its new view.
fn change(
    ctx: &Ctx,
    f: impl FnOnce(&mut Catalog, usize) -> Result<(), ApiError>,
) -> Result<Reply, ApiError> {
    let id = ctx.param(0).to_string();
    let (version, spec) = ctx.update(|c| {
        let i = find(c, &ctx.caller, &id)?;
        f(c, i)?;
        Ok(c.connectors[i].clone())
    })?;
    let live = live(ctx);
    Ok(Reply::ok(view(&spec, &live), version))
}

/// `POST /connectors/{id}/move`: the next request already sees it in its new group (a
/// group of the connector's own scope; any other is the catalog's `unknown group`).
pub fn move_to(ctx: Ctx) -> Result<Reply, ApiError> {
    let body: MoveTo = ctx.json()?;
    change(&ctx, |c, i| {
        c.connectors[i].group = body.group;
        Ok(())
    })
}

/// `POST /connectors/{id}/revoke`: refused from now on; the table swap closes its tunnels.
pub fn revoke(ctx: Ctx) -> Result<Reply, ApiError> {
    let _: NoFields = ctx.json()?;
    change(&ctx, |c, i| {
        c.connectors[i].revoked = true;
        Ok(())
    })
}

/// `DELETE /connectors/{id}`: removed from the catalog; its tunnels close.
pub fn delete(ctx: Ctx) -> Result<Reply, ApiError> {
    let id = ctx.param(0).to_string();
    let (version, ()) = ctx.update(|c| {
        let i = find(c, &ctx.caller, &id)?;
        c.connectors.remove(i);
        Ok(())
    })?;
    Ok(Reply::no_content(version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_admin_places_a_connector_by_its_groups_qualified_name() {
        let t1 = Some("t1".to_string());
        let place = |caller: &Caller, tenant: Option<String>, group: &str| {
            placement(caller, tenant, group.to_string())
        };
        let a = &Caller::Admin;
        assert_eq!(place(a, None, "t1/g"), (t1.clone(), "g".into()));
        assert_eq!(place(a, t1.clone(), "t1/g"), (t1.clone(), "g".into()));
        assert_eq!(place(a, t1.clone(), "g"), (t1.clone(), "g".into()));
        assert_eq!(place(a, None, "g"), (None, "g".into()));
        assert_eq!(place(a, None, "/g"), (None, "g".into()));
        // A qualified group of another tenant than the body's stays unknown.
        assert_eq!(place(a, t1.clone(), "t2/g"), (t1.clone(), "t2/g".into()));
        // A tenant's group names are plain names of its own scope, nothing else.
        let t = &Caller::Tenant("t1".into());
        assert_eq!(place(t, t1.clone(), "t1/g"), (t1.clone(), "t1/g".into()));
    }
}
