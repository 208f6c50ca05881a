//! `/api/v1/enrollment-tokens`: one-time tokens with which a new connector registers itself.
//! The token is shown once; the catalog keeps its hash.

use serde::Deserialize;
use serde_json::{json, Value};

use super::reply::{ApiError, Reply};
use super::request::Ctx;
use crate::catalog::scope::{qualified, Key};
use crate::catalog::{secret, EnrollmentSpec};

/// Default lifetime of a token: one day.
const DEFAULT_TTL_SECS: u64 = 86_400;
/// Longest lifetime: one year.
const MAX_TTL_SECS: u64 = 366 * 86_400;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    #[serde(default)]
    tenant: Option<String>,
    #[serde(default)]
    ttl_secs: Option<u64>,
}

fn view(e: &EnrollmentSpec) -> Value {
    json!({
        "id": e.id,
        "qualified": qualified(e.tenant.as_deref(), &e.id),
        "tenant": e.tenant,
        "expires_at_unix": e.expires_at,
    })
}

/// Now, in unix seconds (token expiry).
pub(super) fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `GET /enrollment-tokens`.
pub fn list(ctx: Ctx) -> Result<Reply, ApiError> {
    let d = ctx.desired();
    let items: Vec<Value> = d
        .catalog
        .enrollment_tokens
        .iter()
        .filter(|e| ctx.caller.sees(&e.tenant))
        .map(view)
        .collect();
    Ok(Reply::ok(json!({ "items": items }), d.version))
}

/// `POST /enrollment-tokens`.
pub fn create(ctx: Ctx) -> Result<Reply, ApiError> {
    let body: NewToken = ctx.json()?;
    let tenant_of = ctx.caller.owner_for(body.tenant)?;
    let ttl = body.ttl_secs.unwrap_or(DEFAULT_TTL_SECS);
    if ttl == 0 || ttl > MAX_TTL_SECS {
        return Err(ApiError::invalid(
            "ttl_secs",
            format!("must be between 1 and {MAX_TTL_SECS} seconds"),
        ));
    }
    let token = secret::generate();
    let token_hash = secret::hash(&token);
    let expires_at = now_unix() + ttl;
    let (version, id) = ctx.update(|c| {
        // Random ids, unique over the whole catalog (stricter than per scope, and a
        // collision tells nobody anything).
        let id = loop {
            let candidate = format!("et-{}", &secret::generate()[..12]);
            if !c.enrollment_tokens.iter().any(|e| e.id == candidate) {
                break candidate;
            }
        };
        c.enrollment_tokens.push(EnrollmentSpec {
            id: id.clone(),
            token_hash,
            tenant: tenant_of.clone(),
            expires_at,
        });
        Ok(id)
    })?;
    Ok(Reply::created(
        json!({
            "id": id,
            "qualified": qualified(tenant_of.as_deref(), &id),
            "token": token,
            "expires_at_unix": expires_at,
        }),
        version,
    ))
}

/// `DELETE /enrollment-tokens/{id}`.
pub fn delete(ctx: Ctx) -> Result<Reply, ApiError> {
    let id = ctx.param(0).to_string();
    let (version, ()) = ctx.update(|c| {
        let i = ctx
            .caller
            .key(&id)
            .and_then(|k| {
                c.enrollment_tokens
                    .iter()
                    .position(|e| Key::new(e.tenant.as_deref(), &e.id) == k)
            })
            .ok_or_else(|| ApiError::not_found("enrollment token", &id))?;
        c.enrollment_tokens.remove(i);
        Ok(())
    })?;
    Ok(Reply::no_content(version))
}
