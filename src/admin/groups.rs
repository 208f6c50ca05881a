//! `/api/v1/groups`: connector groups, with the connectors and apps that use each.

use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Caller;
use super::reply::{ApiError, Detail, Reply};
use super::request::Ctx;
use crate::catalog::{BalancePolicy, Catalog, GroupSpec};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewGroup {
    name: String,
    #[serde(default)]
    balance: BalancePolicy,
    #[serde(default)]
    tenant: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupPatch {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    balance: Option<BalancePolicy>,
}

/// A group as the API shows it.
pub(super) fn view(c: &Catalog, g: &GroupSpec, caller: &Caller) -> Value {
    let connectors: Vec<&str> = c
        .connectors
        .iter()
        .filter(|x| x.group == g.name && caller.sees(&x.tenant))
        .map(|x| x.id.as_str())
        .collect();
    let apps: Vec<&str> = c
        .apps
        .iter()
        .filter(|a| a.groups.contains(&g.name) && caller.sees(&a.tenant))
        .map(|a| a.name.as_str())
        .collect();
    json!({
        "name": g.name,
        "balance": g.balance,
        "tenant": g.tenant,
        "connectors": connectors,
        "apps": apps,
    })
}

/// Index of the group `name` if the caller may see it.
fn find(c: &Catalog, caller: &Caller, name: &str) -> Result<usize, ApiError> {
    c.groups
        .iter()
        .position(|g| g.name == name && caller.sees(&g.tenant))
        .ok_or_else(|| ApiError::not_found("group", name))
}

/// A reference to group `name` from a new or changed object at catalog path `path`. A
/// tenant caller naming another tenant's group (or, without `shared`, an operator group)
/// gets exactly the answer a group that does not exist gets.
pub(super) fn check_ref(
    c: &Catalog,
    caller: &Caller,
    name: &str,
    path: String,
    shared: bool,
) -> Result<(), ApiError> {
    let Some(tenant) = caller.tenant() else {
        return Ok(());
    };
    let hidden = c.groups.iter().any(|g| {
        g.name == name
            && match &g.tenant {
                Some(t) => t != tenant,
                None => !shared,
            }
    });
    if hidden {
        let message = format!("unknown group {name:?}");
        return Err(ApiError::Invalid {
            message: format!("{path}: {message}"),
            field: Some(path.clone()),
            details: vec![Detail {
                field: path,
                message,
            }],
        });
    }
    Ok(())
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

/// `POST /groups`.
pub fn create(ctx: Ctx) -> Result<Reply, ApiError> {
    let body: NewGroup = ctx.json()?;
    let tenant = ctx.caller.owner_for(body.tenant)?;
    let (version, v) = ctx.update(|c| {
        if c.groups.iter().any(|g| g.name == body.name) {
            return Err(taken(&body.name));
        }
        let g = GroupSpec {
            name: body.name,
            balance: body.balance,
            tenant,
            shared: false,
        };
        c.groups.push(g.clone());
        Ok(view(c, &g, &ctx.caller))
    })?;
    Ok(Reply::created(v, version))
}

fn taken(name: &str) -> ApiError {
    ApiError::conflict("name", format!("a group named {name:?} already exists"))
}

/// `PATCH /groups/{name}`: rename (every reference follows) and/or change the balance.
pub fn patch(ctx: Ctx) -> Result<Reply, ApiError> {
    let body: GroupPatch = ctx.json()?;
    let name = ctx.param(0).to_string();
    let (version, v) = ctx.update(|c| {
        let i = find(c, &ctx.caller, &name)?;
        if let Some(new) = body.name.filter(|n| *n != name) {
            if c.groups.iter().any(|g| g.name == new) {
                return Err(taken(&new));
            }
            c.groups[i].name = new.clone();
            for conn in c.connectors.iter_mut().filter(|x| x.group == name) {
                conn.group = new.clone();
            }
            for app in c.apps.iter_mut() {
                for g in app.groups.iter_mut().filter(|g| **g == name) {
                    *g = new.clone();
                }
            }
        }
        if let Some(b) = body.balance {
            c.groups[i].balance = b;
        }
        Ok(view(c, &c.groups[i], &ctx.caller))
    })?;
    Ok(Reply::ok(v, version))
}

/// `DELETE /groups/{name}[?move_to=other]`: refused while the group is in use, unless its
/// connectors and app references move to `move_to`.
pub fn delete(ctx: Ctx) -> Result<Reply, ApiError> {
    let name = ctx.param(0).to_string();
    let move_to = ctx.query("move_to");
    let (version, moved) = ctx.update(|c| {
        let i = find(c, &ctx.caller, &name)?;
        let connectors = c.connectors.iter().filter(|x| x.group == name).count();
        let apps = c.apps.iter().filter(|a| a.groups.contains(&name)).count();
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
                if *target == name {
                    return Err(ApiError::invalid(
                        "move_to",
                        "cannot move a group's members to the group being deleted",
                    ));
                }
                if find(c, &ctx.caller, target).is_err() {
                    return Err(ApiError::invalid(
                        "move_to",
                        format!("unknown group {target:?}"),
                    ));
                }
                for conn in c.connectors.iter_mut().filter(|x| x.group == name) {
                    conn.group = target.clone();
                }
                for app in c.apps.iter_mut() {
                    let mut chain = Vec::with_capacity(app.groups.len());
                    for g in app.groups.drain(..) {
                        let g = if g == name { target.clone() } else { g };
                        if !chain.contains(&g) {
                            chain.push(g);
                        }
                    }
                    app.groups = chain;
                }
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
