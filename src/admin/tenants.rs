//! `/api/v1/tenants`: the companies served by the gateway, the domains each may publish
//! under and its quotas. Only an admin token creates, changes or deletes one; a tenant
//! token reads its own.

use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Caller;
use super::enrollment::now_unix;
use super::reply::{ApiError, Reply};
use super::request::Ctx;
use crate::catalog::quota::{self, Limits, Quotas};
use crate::catalog::{Catalog, TenantSpec};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTenant {
    name: String,
    #[serde(default)]
    domains: Vec<String>,
    #[serde(default)]
    quotas: Quotas,
}

/// A change of a tenant: each field given replaces the whole value (`quotas` is the whole
/// set of overrides; `{}` returns every kind to the default).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantPatch {
    #[serde(default)]
    domains: Option<Vec<String>>,
    #[serde(default)]
    quotas: Option<Quotas>,
}

/// A tenant as the API shows it: its domains, the quotas in force (and which of them are
/// its own overrides), and what it holds as quotas count it (expired enrollment tokens
/// not included).
fn view(c: &Catalog, t: &TenantSpec, defaults: &Limits) -> Value {
    let usage: serde_json::Map<String, Value> = quota::usage(c, &t.name, now_unix())
        .into_iter()
        .map(|(kind, n)| (kind.as_str().to_owned(), json!(n)))
        .collect();
    let count = |kind: &str| usage.get(kind).cloned().unwrap_or(json!(0));
    json!({
        "name": t.name,
        "domains": t.domains,
        "quotas": t.quotas.effective(defaults),
        "overrides": t.quotas,
        "groups": count("groups"),
        "connectors": count("connectors"),
        "apps": count("apps"),
        "usage": usage,
    })
}

fn visible(caller: &Caller, name: &str) -> bool {
    caller.sees(&Some(name.to_string()))
}

fn admin_only(caller: &Caller) -> Result<(), ApiError> {
    match caller {
        Caller::Admin => Ok(()),
        _ => Err(ApiError::Forbidden(
            "only an admin token creates, changes or deletes tenants".into(),
        )),
    }
}

fn defaults(ctx: &Ctx) -> Limits {
    ctx.state.live.settings().tenant_quotas
}

/// `GET /tenants`.
pub fn list(ctx: Ctx) -> Result<Reply, ApiError> {
    let d = ctx.desired();
    let limits = defaults(&ctx);
    let items: Vec<Value> = d
        .catalog
        .tenants
        .iter()
        .filter(|t| visible(&ctx.caller, &t.name))
        .map(|t| view(&d.catalog, t, &limits))
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
        .map(|t| Reply::ok(view(&d.catalog, t, &defaults(&ctx)), d.version))
        .ok_or_else(|| ApiError::not_found("tenant", name))
}

/// `POST /tenants`.
pub fn create(ctx: Ctx) -> Result<Reply, ApiError> {
    admin_only(&ctx.caller)?;
    let body: NewTenant = ctx.json()?;
    let limits = defaults(&ctx);
    let (version, v) = ctx.update(|c| {
        if c.tenants.iter().any(|t| t.name == body.name) {
            return Err(ApiError::conflict(
                "name",
                format!("a tenant named {:?} already exists", body.name),
            ));
        }
        let t = TenantSpec {
            name: body.name,
            domains: body.domains,
            quotas: body.quotas,
        };
        let v = view(c, &t, &limits);
        c.tenants.push(t);
        Ok(v)
    })?;
    Ok(Reply::created(v, version))
}

/// `PATCH /tenants/{name}`: domains and quota overrides. Domains are checked like the
/// whole catalog is (disjoint between tenants, every app of each scope still inside what
/// it owns); a lower quota never breaks what the tenant already holds.
pub fn patch(ctx: Ctx) -> Result<Reply, ApiError> {
    admin_only(&ctx.caller)?;
    let body: TenantPatch = ctx.json()?;
    let name = ctx.param(0).to_string();
    let limits = defaults(&ctx);
    let (version, v) = ctx.update(|c| {
        let i = c
            .tenants
            .iter()
            .position(|t| t.name == name)
            .ok_or_else(|| ApiError::not_found("tenant", &name))?;
        if let Some(domains) = body.domains {
            c.tenants[i].domains = domains;
        }
        if let Some(quotas) = body.quotas {
            c.tenants[i].quotas = quotas;
        }
        Ok(view(c, &c.tenants[i], &limits))
    })?;
    Ok(Reply::ok(v, version))
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
        // Expired enrollment tokens count here: they still name the tenant.
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
