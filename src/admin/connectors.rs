//! `/api/v1/connectors`: the catalog's connectors joined with what the tunnel registry knows
//! of them (tunnels, load, remote address, version, last seen).

use std::collections::HashMap;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Caller;
use super::groups;
use super::reply::{ApiError, Reply};
use super::request::Ctx;
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

type Live = HashMap<Arc<str>, ConnectorStatus>;

/// A connector as the API shows it.
fn view(c: &ConnectorSpec, live: &Live) -> Value {
    let s = live.get(c.id.as_str()).cloned().unwrap_or_default();
    json!({
        "id": c.id,
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
    })
}

fn find(c: &Catalog, caller: &Caller, id: &str) -> Result<usize, ApiError> {
    c.connectors
        .iter()
        .position(|x| x.id == id && caller.sees(&x.tenant))
        .ok_or_else(|| ApiError::not_found("connector", id))
}

/// `GET /connectors`.
pub fn list(ctx: Ctx) -> Result<Reply, ApiError> {
    let d = ctx.desired();
    let live = ctx.state.live.registry.statuses();
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
    let live = ctx.state.live.registry.statuses();
    Ok(Reply::ok(view(&d.catalog.connectors[i], &live), d.version))
}

/// `POST /connectors`: registers a connector with a fresh secret, shown only here.
pub fn create(ctx: Ctx) -> Result<Reply, ApiError> {
    let body: NewConnector = ctx.json()?;
    let requested = ctx.caller.owner_for(body.tenant)?;
    let secret = secret::generate();
    let secret_hash = secret::hash(&secret);
    let (version, spec) = ctx.update(|c| {
        if c.connectors.iter().any(|x| x.id == body.id) {
            return Err(ApiError::conflict(
                "id",
                format!("a connector with id {:?} already exists", body.id),
            ));
        }
        let at = c.connectors.len();
        groups::check_ref(
            c,
            &ctx.caller,
            &body.group,
            format!("connectors[{at}].group"),
            false,
        )?;
        // An operator creating a connector without a tenant gets the group's: a connector
        // always belongs to its group's tenant.
        let tenant = match (&ctx.caller, requested) {
            (Caller::Admin, None) => c
                .groups
                .iter()
                .find(|g| g.name == body.group)
                .and_then(|g| g.tenant.clone()),
            (_, t) => t,
        };
        let spec = ConnectorSpec {
            id: body.id,
            group: body.group,
            secret_hash,
            tenant,
            revoked: false,
        };
        c.connectors.push(spec.clone());
        Ok(spec)
    })?;
    let live = ctx.state.live.registry.statuses();
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
    let live = ctx.state.live.registry.statuses();
    Ok(Reply::ok(view(&spec, &live), version))
}

/// `POST /connectors/{id}/move`: the next request already sees it in its new group.
pub fn move_to(ctx: Ctx) -> Result<Reply, ApiError> {
    let body: MoveTo = ctx.json()?;
    change(&ctx, |c, i| {
        groups::check_ref(
            c,
            &ctx.caller,
            &body.group,
            format!("connectors[{i}].group"),
            false,
        )?;
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
