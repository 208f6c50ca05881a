//! `/api/v1/apps`: published apps, in the catalog's own `AppSpec` form. `PATCH` takes a JSON
//! merge patch (RFC 7386) of that form.

use serde_json::{json, Map, Value};

use super::auth::Caller;
use super::groups;
use super::reply::{ApiError, Reply};
use super::request::{json_error, Ctx};
use crate::catalog::{AppSpec, Catalog};

fn view(a: &AppSpec) -> Value {
    serde_json::to_value(a).unwrap_or(Value::Null)
}

fn find(c: &Catalog, caller: &Caller, name: &str) -> Result<usize, ApiError> {
    c.apps
        .iter()
        .position(|a| a.name == name && caller.sees(&a.tenant))
        .ok_or_else(|| ApiError::not_found("app", name))
}

fn taken(name: &str) -> ApiError {
    ApiError::conflict("name", format!("an app named {name:?} already exists"))
}

/// Checks what only the API knows before app `app` goes to catalog index `at`: a unique
/// name (other than `except`), its owner, and that a tenant caller names no hidden group.
fn admit(
    c: &Catalog,
    caller: &Caller,
    app: &mut AppSpec,
    at: usize,
    except: Option<usize>,
) -> Result<(), ApiError> {
    let clash = c
        .apps
        .iter()
        .enumerate()
        .any(|(i, a)| a.name == app.name && Some(i) != except);
    if clash {
        return Err(taken(&app.name));
    }
    app.tenant = caller.owner_for(app.tenant.take())?;
    for (j, g) in app.groups.iter().enumerate() {
        groups::check_ref(c, caller, g, format!("apps[{at}].groups[{j}]"), true)?;
    }
    Ok(())
}

/// `GET /apps`.
pub fn list(ctx: Ctx) -> Result<Reply, ApiError> {
    let d = ctx.desired();
    let items: Vec<Value> = d
        .catalog
        .apps
        .iter()
        .filter(|a| ctx.caller.sees(&a.tenant))
        .map(view)
        .collect();
    Ok(Reply::ok(json!({ "items": items }), d.version))
}

/// `GET /apps/{name}`.
pub fn get(ctx: Ctx) -> Result<Reply, ApiError> {
    let d = ctx.desired();
    let i = find(&d.catalog, &ctx.caller, ctx.param(0))?;
    Ok(Reply::ok(view(&d.catalog.apps[i]), d.version))
}

/// `POST /apps`.
pub fn create(ctx: Ctx) -> Result<Reply, ApiError> {
    let mut app: AppSpec = ctx.json()?;
    let (version, v) = ctx.update(|c| {
        admit(c, &ctx.caller, &mut app, c.apps.len(), None)?;
        let v = view(&app);
        c.apps.push(app);
        Ok(v)
    })?;
    Ok(Reply::created(v, version))
}

/// `PUT /apps/{name}`: replaces the whole app (the name stays; rename with `PATCH`).
pub fn put(ctx: Ctx) -> Result<Reply, ApiError> {
    let mut app: AppSpec = ctx.json()?;
    let name = ctx.param(0).to_string();
    if app.name != name {
        return Err(ApiError::invalid(
            "name",
            format!(
                "the body names app {:?}, the URL {name:?}; rename with PATCH",
                app.name
            ),
        ));
    }
    let (version, v) = ctx.update(|c| {
        let i = find(c, &ctx.caller, &name)?;
        admit(c, &ctx.caller, &mut app, i, Some(i))?;
        let v = view(&app);
        c.apps[i] = app;
        Ok(v)
    })?;
    Ok(Reply::ok(v, version))
}

/// `PATCH /apps/{name}`: merges a partial app (`{"groups":["dc-east"]}` reassigns it;
/// `null` resets a field to its default).
pub fn patch(ctx: Ctx) -> Result<Reply, ApiError> {
    let patch: Value = ctx.json()?;
    if !patch.is_object() {
        return Err(ApiError::invalid("", "a PATCH body is a JSON object"));
    }
    let name = ctx.param(0).to_string();
    let (version, v) = ctx.update(|c| {
        let i = find(c, &ctx.caller, &name)?;
        let mut merged = view(&c.apps[i]);
        merge(&mut merged, &patch);
        let mut app: AppSpec = serde_json::from_value(merged).map_err(|e| json_error(&e))?;
        admit(c, &ctx.caller, &mut app, i, Some(i))?;
        let v = view(&app);
        c.apps[i] = app;
        Ok(v)
    })?;
    Ok(Reply::ok(v, version))
}

/// `DELETE /apps/{name}`.
pub fn delete(ctx: Ctx) -> Result<Reply, ApiError> {
    let name = ctx.param(0).to_string();
    let (version, ()) = ctx.update(|c| {
        let i = find(c, &ctx.caller, &name)?;
        c.apps.remove(i);
        Ok(())
    })?;
    Ok(Reply::no_content(version))
}

/// RFC 7386 JSON merge patch: objects merge key by key, `null` removes, anything else
/// replaces.
pub(super) fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(t) = target {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_patch_follows_rfc_7386() {
        let mut t = json!({"a": 1, "b": {"c": 2, "d": 3}, "e": [1, 2]});
        merge(
            &mut t,
            &json!({"a": null, "b": {"c": 9}, "e": [3], "f": "x"}),
        );
        assert_eq!(t, json!({"b": {"c": 9, "d": 3}, "e": [3], "f": "x"}));
    }

    #[test]
    fn a_patched_app_keeps_what_was_not_named() {
        let app = AppSpec::new("wiki", "wiki.example.com", "http://10.0.0.1", &["a"]);
        let mut v = view(&app);
        merge(&mut v, &json!({"groups": ["b"], "preserve_host": true}));
        let out: AppSpec = serde_json::from_value(v).expect("app");
        assert_eq!(out.groups, vec!["b".to_string()]);
        assert!(out.preserve_host);
        assert_eq!(out.host, "wiki.example.com");
    }
}
