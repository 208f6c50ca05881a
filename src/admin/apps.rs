//! `/api/v1/apps`: published apps, in the catalog's own `AppSpec` form. `PATCH` takes a JSON
//! merge patch (RFC 7386) of that form.

use serde_json::{json, Map, Value};

use super::auth::Caller;
use super::reply::{ApiError, Reply};
use super::request::{json_error, Ctx};
use crate::catalog::{AppSpec, Catalog};

/// The app's catalog form, as stored (its `groups` relative to its own scope).
fn form(a: &AppSpec) -> Value {
    serde_json::to_value(a).unwrap_or(Value::Null)
}

/// The app as the API shows it: its catalog form and its qualified name.
fn view(a: &AppSpec) -> Value {
    let mut v = form(a);
    if let Value::Object(m) = &mut v {
        m.insert("qualified".into(), json!(a.key().qualified()));
    }
    v
}

/// A body in the app's catalog form; `qualified` (shown by reads) is accepted and ignored
/// so that a read can be sent back as it is.
fn read_app(mut body: Value) -> Result<AppSpec, ApiError> {
    if let Value::Object(m) = &mut body {
        m.remove("qualified");
    }
    serde_json::from_value(body).map_err(|e| json_error(&e))
}

/// Index of the app a path parameter names for the caller.
fn find(c: &Catalog, caller: &Caller, raw: &str) -> Result<usize, ApiError> {
    caller
        .key(raw)
        .and_then(|k| c.app_index(k))
        .ok_or_else(|| ApiError::not_found("app", raw))
}

fn taken(name: &str) -> ApiError {
    ApiError::conflict("name", format!("an app named {name:?} already exists"))
}

/// Checks what only the API knows before `app` replaces `except` (or is added): its owner,
/// and a name unique in its scope. Its groups are resolved in its scope by the catalog's
/// validation, where a group of another scope reads as an unknown group.
fn admit(
    c: &Catalog,
    caller: &Caller,
    app: &mut AppSpec,
    except: Option<usize>,
) -> Result<(), ApiError> {
    match except.map(|i| c.apps[i].tenant.clone()) {
        // An app stays in its scope: the body's `tenant` may only repeat it.
        Some(scope) => {
            // A tenant token naming another tenant is refused as on create (403).
            let requested = caller.owner_for(app.tenant.take())?;
            if requested.is_some() && requested != scope {
                return Err(ApiError::invalid(
                    "tenant",
                    "an app cannot move to another tenant; create it there instead",
                ));
            }
            app.tenant = scope;
        }
        None => app.tenant = caller.owner_for(app.tenant.take())?,
    }
    let clash = c
        .apps
        .iter()
        .enumerate()
        .any(|(i, a)| a.key() == app.key() && Some(i) != except);
    if clash {
        return Err(taken(&app.name));
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
    let mut app = read_app(ctx.json()?)?;
    let (version, v) = ctx.update(|c| {
        admit(c, &ctx.caller, &mut app, None)?;
        let v = view(&app);
        c.apps.push(app);
        Ok(v)
    })?;
    Ok(Reply::created(v, version))
}

/// `PUT /apps/{name}`: replaces the whole app (the name and scope stay; rename with
/// `PATCH`).
pub fn put(ctx: Ctx) -> Result<Reply, ApiError> {
    let mut app = read_app(ctx.json()?)?;
    let name = ctx.param(0).to_string();
    let (version, v) = ctx.update(|c| {
        let i = find(c, &ctx.caller, &name)?;
        if app.name != c.apps[i].name {
            return Err(ApiError::invalid(
                "name",
                format!(
                    "the body names app {:?}, the URL {name:?}; rename with PATCH",
                    app.name
                ),
            ));
        }
        admit(c, &ctx.caller, &mut app, Some(i))?;
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
        let mut merged = form(&c.apps[i]);
        merge(&mut merged, &patch);
        let mut app = read_app(merged)?;
        admit(c, &ctx.caller, &mut app, Some(i))?;
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
        assert_eq!(v["qualified"], "wiki");
        let out = read_app(v).expect("a view reads back");
        assert_eq!(out.groups, vec!["b".to_string()]);
        assert!(out.preserve_host);
        assert_eq!(out.host, "wiki.example.com");
    }
}
