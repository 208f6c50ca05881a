//! `/api/v1/groups`: connector groups, with the connectors and apps that use each.

use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Caller;
use super::reply::{ApiError, Reply};
use super::request::Ctx;
use crate::catalog::scope::{self, Key};
use crate::catalog::{BalancePolicy, Catalog, GroupSpec};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewGroup {
    name: String,
    #[serde(default)]
    balance: BalancePolicy,
    #[serde(default)]
    tenant: Option<String>,
    #[serde(default)]
    shared: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupPatch {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    balance: Option<BalancePolicy>,
    #[serde(default)]
    shared: Option<bool>,
}

/// A group as the API shows it: its connectors and apps by plain name (they are of the
/// group's own scope), except the tenant apps using an operator's shared group, which only
/// an operator's token sees, qualified.
pub(super) fn view(c: &Catalog, g: &GroupSpec, caller: &Caller) -> Value {
    let key = g.key();
    let connectors: Vec<&str> = c
        .connectors
        .iter()
        .filter(|x| x.group_key() == key)
        .map(|x| x.id.as_str())
        .collect();
    let apps: Vec<String> = c
        .apps
        .iter()
        .filter(|a| a.uses(key) && caller.sees(&a.tenant))
        .map(|a| match a.tenant == g.tenant {
            true => a.name.clone(),
            false => a.key().qualified(),
        })
        .collect();
    json!({
        "name": g.name,
        "qualified": key.qualified(),
        "balance": g.balance,
        "tenant": g.tenant,
        "shared": g.shared,
        "connectors": connectors,
        "apps": apps,
    })
}

/// Index of the group a path parameter names for the caller.
fn find(c: &Catalog, caller: &Caller, raw: &str) -> Result<usize, ApiError> {
    caller
        .key(raw)
        .and_then(|k| c.group_index(k))
        .ok_or_else(|| ApiError::not_found("group", raw))
}

/// Only an admin shares a group, and only an operator's group can be shared.
fn shareable(caller: &Caller, tenant: &Option<String>) -> Result<(), ApiError> {
    if *caller != Caller::Admin {
        return Err(ApiError::Forbidden(
            "only an admin token shares groups with tenants".into(),
        ));
    }
    match tenant {
        None => Ok(()),
        Some(_) => Err(ApiError::invalid(
            "shared",
            "only an operator group can be shared with tenants",
        )),
    }
}

/// `GET /groups`.
pub fn list(ctx: Ctx) -> Result<Reply, ApiError> {
    let d = ctx.desired();
    let items: Vec<Value> = d
        .catalog
        .groups
        .iter()
        .filter(|g| ctx.caller.sees(&g.tenant))
        .map(|g| view(&d.catalog, g, &ctx.caller))
        .collect();
    Ok(Reply::ok(json!({ "items": items }), d.version))
}

/// `GET /groups/{name}`.
pub fn get(ctx: Ctx) -> Result<Reply, ApiError> {
    let d = ctx.desired();
    let i = find(&d.catalog, &ctx.caller, ctx.param(0))?;
    Ok(Reply::ok(
        view(&d.catalog, &d.catalog.groups[i], &ctx.caller),
        d.version,
    ))
}

/// `POST /groups`: a new group in the caller's scope (an admin may name a tenant).
pub fn create(ctx: Ctx) -> Result<Reply, ApiError> {
    let body: NewGroup = ctx.json()?;
    let tenant = ctx.caller.owner_for(body.tenant)?;
    if body.shared {
        shareable(&ctx.caller, &tenant)?;
    }
    let (version, v) = ctx.update(|c| {
        if c.group_index(Key::new(tenant.as_deref(), &body.name))
            .is_some()
        {
            return Err(taken(&body.name));
        }
        let g = GroupSpec {
            name: body.name,
            balance: body.balance,
            tenant,
            shared: body.shared,
        };
        c.groups.push(g.clone());
        Ok(view(c, &g, &ctx.caller))
    })?;
    Ok(Reply::created(v, version))
}

/// A conflict in one scope: only ever the caller's own (or, for an admin, the one named).
fn taken(name: &str) -> ApiError {
    ApiError::conflict("name", format!("a group named {name:?} already exists"))
}

/// `PATCH /groups/{name}`: rename (every reference follows), balance, sharing.
pub fn patch(ctx: Ctx) -> Result<Reply, ApiError> {
    let body: GroupPatch = ctx.json()?;
    let name = ctx.param(0).to_string();
    let (version, v) = ctx.update(|c| {
        let i = find(c, &ctx.caller, &name)?;
        if let Some(shared) = body.shared {
            if shared != c.groups[i].shared {
                shareable(&ctx.caller, &c.groups[i].tenant)?;
            }
            c.groups[i].shared = shared;
        }
        if let Some(new) = body.name.filter(|n| *n != c.groups[i].name) {
            let tenant = c.groups[i].tenant.clone();
            if c.group_index(Key::new(tenant.as_deref(), &new)).is_some() {
                return Err(taken(&new));
            }
            let old = std::mem::replace(&mut c.groups[i].name, new.clone());
            c.retarget_group((tenant.clone(), old), (tenant, new));
        }
        if let Some(b) = body.balance {
            c.groups[i].balance = b;
        }
        Ok(view(c, &c.groups[i], &ctx.caller))
    })?;
    Ok(Reply::ok(v, version))
}

/// `DELETE /groups/{name}[?move_to=other]`: refused while the group is in use, unless its
/// connectors and app references move to `move_to` (a reference as written in the group's
/// own scope: a plain name, or `/shared` for a tenant group whose users are only apps).
pub fn delete(ctx: Ctx) -> Result<Reply, ApiError> {
    let name = ctx.param(0).to_string();
    let move_to = ctx.query("move_to");
    let (version, moved) = ctx.update(|c| {
        let i = find(c, &ctx.caller, &name)?;
        let g = c.groups[i].clone();
        let key = g.key();
        let connectors = c.connectors.iter().filter(|x| x.group_key() == key).count();
        let apps = c.apps.iter().filter(|a| a.uses(key)).count();
        match &move_to {
            None if connectors + apps > 0 => {
                return Err(ApiError::Conflict {
                    message: format!(
                        "group {name:?} is used by {connectors} connector(s) and {apps} app(s); \
                         move them first or pass ?move_to=<group>"
                    ),
                    field: None,
                })
            }
            None => {}
            Some(target) => {
                let to = scope::resolve(g.tenant.as_deref(), target);
                check_target(c, key, to, target, connectors)?;
                c.retarget_group(
                    (g.tenant.clone(), g.name.clone()),
                    (to.tenant.map(str::to_owned), to.name.to_owned()),
                );
            }
        }
        c.groups.remove(i);
        Ok(move_to.clone())
    })?;
    Ok(match moved {
        Some(target) => Reply::ok(json!({ "deleted": name, "moved_to": target }), version),
        None => Reply::no_content(version),
    })
}

/// Where the members of group `from` may move: another group its apps can reach (its own
/// scope, or an operator's shared group from a tenant's scope); its connectors never leave
/// their scope. Anything else reads like a group that does not exist.
fn check_target(
    c: &Catalog,
    from: Key<'_>,
    to: Key<'_>,
    raw: &str,
    connectors: usize,
) -> Result<(), ApiError> {
    if to == from {
        return Err(ApiError::invalid(
            "move_to",
            "cannot move a group's members to the group being deleted",
        ));
    }
    let reachable = c
        .group_index(to)
        .is_some_and(|j| to.tenant == from.tenant || (from.tenant.is_some() && c.groups[j].shared));
    if !reachable {
        return Err(ApiError::invalid(
            "move_to",
            format!("unknown group {raw:?}"),
        ));
    }
    if to.tenant != from.tenant && connectors > 0 {
        return Err(ApiError::invalid(
            "move_to",
            format!(
                "connectors stay in their own scope: {raw:?} can take the apps, not the connectors"
            ),
        ));
    }
    Ok(())
}
