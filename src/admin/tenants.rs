//! `/api/v1/tenants`: the companies served by the gateway. Only an admin token creates or
//! deletes one; a tenant token sees its own.

use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Caller;
use super::reply::{ApiError, Reply};
use super::request::Ctx;
use crate::catalog::{Catalog, TenantSpec};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTenant {
    name: String,
}

fn view(c: &Catalog, name: &str) -> Value {
    let owned = |t: &Option<String>| t.as_deref() == Some(name);
    json!({
        "name": name,
        "groups": c.groups.iter().filter(|g| owned(&g.tenant)).count(),
        "connectors": c.connectors.iter().filter(|x| owned(&x.tenant)).count(),
        "apps": c.apps.iter().filter(|a| owned(&a.tenant)).count(),
    })
}

fn visible(caller: &Caller, name: &str) -> bool {
    caller.sees(&Some(name.to_string()))
}

fn admin_only(caller: &Caller) -> Result<(), ApiError> {
    match caller {
        Caller::Admin => Ok(()),
        _ => Err(ApiError::Forbidden(
            "only an admin token creates or deletes tenants".into(),
        )),
    }
}

/// `GET /tenants`.
pub fn list(ctx: Ctx) -> Result<Reply, ApiError> {
    let d = ctx.desired();
    let items: Vec<Value> = d
        .catalog
        .tenants
        .iter()
        .filter(|t| visible(&ctx.caller, &t.name))
        .map(|t| view(&d.catalog, &t.name))
        .collect();
    Ok(Reply::ok(json!({ "items": items }), d.version))
}

/// `GET /tenants/{name}`.
pub fn get(ctx: Ctx) -> Result<Reply, ApiError> {
    let d = ctx.desired();
    let name = ctx.param(0);
    d.catalog
        .tenants
        .iter()
        .find(|t| t.name == name && visible(&ctx.caller, &t.name))
        .map(|t| Reply::ok(view(&d.catalog, &t.name), d.version))
        .ok_or_else(|| ApiError::not_found("tenant", name))
}

/// `POST /tenants`.
pub fn create(ctx: Ctx) -> Result<Reply, ApiError> {
    admin_only(&ctx.caller)?;
    let body: NewTenant = ctx.json()?;
    let (version, v) = ctx.update(|c| {
        if c.tenants.iter().any(|t| t.name == body.name) {
            return Err(ApiError::conflict(
                "name",
                format!("a tenant named {:?} already exists", body.name),
            ));
        }
        c.tenants.push(TenantSpec::named(&body.name));
        Ok(view(c, &body.name))
    })?;
    Ok(Reply::created(v, version))
}

/// `DELETE /tenants/{name}`: refused while the tenant owns anything.
pub fn delete(ctx: Ctx) -> Result<Reply, ApiError> {
    admin_only(&ctx.caller)?;
    let name = ctx.param(0).to_string();
    let (version, ()) = ctx.update(|c| {
        let i = c
            .tenants
            .iter()
            .position(|t| t.name == name)
            .ok_or_else(|| ApiError::not_found("tenant", &name))?;
        let owned = |t: &Option<String>| t.as_deref() == Some(name.as_str());
        let in_use = c.groups.iter().any(|g| owned(&g.tenant))
            || c.connectors.iter().any(|x| owned(&x.tenant))
            || c.apps.iter().any(|a| owned(&a.tenant))
            || c.enrollment_tokens.iter().any(|e| owned(&e.tenant));
        if in_use {
            return Err(ApiError::Conflict {
                message: format!(
                    "tenant {name:?} still owns groups, connectors, apps or enrollment tokens"
                ),
                field: None,
            });
        }
        c.tenants.remove(i);
        Ok(())
    })?;
    Ok(Reply::no_content(version))
}
