//! The cross-tenant attempts of tenant `t2` on tenant `t1`'s objects, each with its control:
//! the same request on names nobody has (see `isolation`).

use reqwest::Method;
use serde_json::{json, Value};

use super::isolation::URL;
use crate::admin::app_json;

/// One attempt and its control: the same request on names nobody has.
pub struct Attempt {
    pub what: &'static str,
    pub method: Method,
    /// Path and body of the attempt on `t1`'s object.
    pub hidden: (String, Option<Value>),
    /// Path and body of the control.
    pub missing: (String, Option<Value>),
    /// The names that differ between the two, as `(in the attempt, in the control)`.
    pub names: Vec<(String, String)>,
}

fn attempt(
    what: &'static str,
    method: Method,
    hidden: (&str, Option<Value>),
    missing: (&str, Option<Value>),
    names: &[(&str, &str)],
) -> Attempt {
    Attempt {
        what,
        method,
        hidden: (hidden.0.to_string(), hidden.1),
        missing: (missing.0.to_string(), missing.1),
        names: names
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect(),
    }
}

/// The body with each name (as it appears quoted inside a JSON string) made neutral.
pub fn neutral<'a>(body: &Value, names: impl Iterator<Item = &'a str>) -> String {
    let mut text = body.to_string();
    for (i, n) in names.enumerate() {
        text = text.replace(&format!("\\\"{n}\\\""), &format!("<name{i}>"));
    }
    text
}

/// Every attempt; `t1_token_id` is the id of one of `t1`'s enrollment tokens.
pub fn all(t1_token_id: &str) -> Vec<Attempt> {
    let mut all = reads();
    all.extend(group_writes());
    all.extend(connector_writes());
    all.extend(app_writes());
    all.extend(hosts());
    all.extend(scopes(t1_token_id));
    all
}

const BLUE: &[(&str, &str)] = &[("blue-dc", "ghost-dc")];
const BLUE_C: &[(&str, &str)] = &[("blue-c", "ghost-c")];
const BLUE_APP: &[(&str, &str)] = &[("blue-app", "ghost-app")];

/// Reads of `t1`'s objects, by plain, qualified and `/` names.
fn reads() -> Vec<Attempt> {
    use Method as M;
    vec![
        attempt(
            "read a group",
            M::GET,
            ("/groups/blue-dc", None),
            ("/groups/ghost-dc", None),
            BLUE,
        ),
        attempt(
            "read a group by its qualified name",
            M::GET,
            ("/groups/t1%2Fblue-dc", None),
            ("/groups/t9%2Fghost-dc", None),
            &[("t1/blue-dc", "t9/ghost-dc")],
        ),
        attempt(
            "read an operator group by its /name",
            M::GET,
            ("/groups/%2Fops-dc", None),
            ("/groups/%2Fghost-dc", None),
            &[("/ops-dc", "/ghost-dc")],
        ),
        attempt(
            "read a shared operator group by its /name",
            M::GET,
            ("/groups/%2Fdr", None),
            ("/groups/%2Fghost-dc", None),
            &[("/dr", "/ghost-dc")],
        ),
        attempt(
            "read a connector",
            M::GET,
            ("/connectors/blue-c", None),
            ("/connectors/ghost-c", None),
            BLUE_C,
        ),
        attempt(
            "read an app",
            M::GET,
            ("/apps/blue-app", None),
            ("/apps/ghost-app", None),
            BLUE_APP,
        ),
        attempt(
            "read a tenant",
            M::GET,
            ("/tenants/t1", None),
            ("/tenants/t9", None),
            &[("t1", "t9")],
        ),
    ]
}

/// Changes to `t1`'s group, and moving members into it.
fn group_writes() -> Vec<Attempt> {
    use Method as M;
    let rename = Some(json!({"name": "mine"}));
    vec![
        attempt(
            "change a group",
            M::PATCH,
            ("/groups/blue-dc", Some(json!({"balance": "round_robin"}))),
            ("/groups/ghost-dc", Some(json!({"balance": "round_robin"}))),
            BLUE,
        ),
        attempt(
            "rename a group",
            M::PATCH,
            ("/groups/blue-dc", rename.clone()),
            ("/groups/ghost-dc", rename),
            BLUE,
        ),
        attempt(
            "delete a group",
            M::DELETE,
            ("/groups/blue-dc", None),
            ("/groups/ghost-dc", None),
            BLUE,
        ),
        attempt(
            "delete a group, moving its members into another tenant's group",
            M::DELETE,
            ("/groups/green-dc?move_to=blue-dc", None),
            ("/groups/green-dc?move_to=ghost-dc", None),
            BLUE,
        ),
    ]
}

/// Changes to `t1`'s connector, and placing connectors into `t1`'s group.
fn connector_writes() -> Vec<Attempt> {
    use Method as M;
    vec![
        attempt(
            "move another tenant's connector",
            M::POST,
            (
                "/connectors/blue-c/move",
                Some(json!({"group": "green-dc"})),
            ),
            (
                "/connectors/ghost-c/move",
                Some(json!({"group": "green-dc"})),
            ),
            BLUE_C,
        ),
        attempt(
            "move a connector into another tenant's group",
            M::POST,
            (
                "/connectors/green-c/move",
                Some(json!({"group": "blue-dc"})),
            ),
            (
                "/connectors/green-c/move",
                Some(json!({"group": "ghost-dc"})),
            ),
            BLUE,
        ),
        attempt(
            "create a connector in another tenant's group",
            M::POST,
            (
                "/connectors",
                Some(json!({"id": "new-c", "group": "blue-dc"})),
            ),
            (
                "/connectors",
                Some(json!({"id": "new-c", "group": "ghost-dc"})),
            ),
            BLUE,
        ),
        attempt(
            "revoke a connector",
            M::POST,
            ("/connectors/blue-c/revoke", None),
            ("/connectors/ghost-c/revoke", None),
            BLUE_C,
        ),
        attempt(
            "delete a connector",
            M::DELETE,
            ("/connectors/blue-c", None),
            ("/connectors/ghost-c", None),
            BLUE_C,
        ),
    ]
}

/// Apps naming groups `t2` may not use, and changes to `t1`'s app.
fn app_writes() -> Vec<Attempt> {
    use Method as M;
    let app_in = |groups: &[&str]| Some(app_json("new-app", "new.t2.example.test", URL, groups));
    let whole = Some(app_json("x", "x.t2.example.test", URL, &["green-dc"]));
    vec![
        attempt(
            "an app naming another tenant's group",
            M::POST,
            ("/apps", app_in(&["blue-dc"])),
            ("/apps", app_in(&["ghost-dc"])),
            BLUE,
        ),
        attempt(
            "an app naming another tenant's group qualified",
            M::POST,
            ("/apps", app_in(&["t1/blue-dc"])),
            ("/apps", app_in(&["t9/ghost-dc"])),
            &[("t1/blue-dc", "t9/ghost-dc")],
        ),
        attempt(
            "an app naming an operator group that is not shared",
            M::POST,
            ("/apps", app_in(&["/ops-dc"])),
            ("/apps", app_in(&["/ghost-dc"])),
            &[("/ops-dc", "/ghost-dc")],
        ),
        attempt(
            "re-point an app at another tenant's group",
            M::PATCH,
            ("/apps/green-app", Some(json!({"groups": ["blue-dc"]}))),
            ("/apps/green-app", Some(json!({"groups": ["ghost-dc"]}))),
            BLUE,
        ),
        attempt(
            "replace an app",
            M::PUT,
            ("/apps/blue-app", whole.clone()),
            ("/apps/ghost-app", whole),
            BLUE_APP,
        ),
        attempt(
            "change an app",
            M::PATCH,
            ("/apps/blue-app", Some(json!({"preserve_host": true}))),
            ("/apps/ghost-app", Some(json!({"preserve_host": true}))),
            BLUE_APP,
        ),
        attempt(
            "delete an app",
            M::DELETE,
            ("/apps/blue-app", None),
            ("/apps/ghost-app", None),
            BLUE_APP,
        ),
    ]
}

/// Hosts and wildcards of `t1`'s domain.
fn hosts() -> Vec<Attempt> {
    use Method as M;
    let app_at = |host: &str| Some(app_json("new-app", host, URL, &["green-dc"]));
    vec![
        attempt(
            "publish a host of another tenant's domain",
            M::POST,
            ("/apps", app_at("new.t1.example.test")),
            ("/apps", app_at("new.nobody.example.test")),
            &[("new.t1.example.test", "new.nobody.example.test")],
        ),
        attempt(
            "publish the exact host another tenant publishes",
            M::POST,
            ("/apps", app_at("blue.t1.example.test")),
            ("/apps", app_at("blue.nobody.example.test")),
            &[("blue.t1.example.test", "blue.nobody.example.test")],
        ),
        attempt(
            "publish a wildcard over another tenant's domain",
            M::POST,
            ("/apps", app_at("*.t1.example.test")),
            ("/apps", app_at("*.nobody.example.test")),
            &[("*.t1.example.test", "*.nobody.example.test")],
        ),
    ]
}

/// Objects in `t1`'s scope, and `t1` itself.
fn scopes(tid: &str) -> Vec<Attempt> {
    use Method as M;
    vec![
        attempt(
            "delete another tenant's enrollment token",
            M::DELETE,
            (&format!("/enrollment-tokens/{tid}"), None),
            ("/enrollment-tokens/et-ghost0000000", None),
            &[(tid, "et-ghost0000000")],
        ),
        attempt(
            "create a group in another tenant's scope",
            M::POST,
            ("/groups", Some(json!({"name": "x", "tenant": "t1"}))),
            ("/groups", Some(json!({"name": "x", "tenant": "t9"}))),
            &[],
        ),
        attempt(
            "create a connector in another tenant's scope",
            M::POST,
            (
                "/connectors",
                Some(json!({"id": "x", "group": "green-dc", "tenant": "t1"})),
            ),
            (
                "/connectors",
                Some(json!({"id": "x", "group": "green-dc", "tenant": "t9"})),
            ),
            &[],
        ),
        attempt(
            "an enrollment token for another tenant's scope",
            M::POST,
            ("/enrollment-tokens", Some(json!({"tenant": "t1"}))),
            ("/enrollment-tokens", Some(json!({"tenant": "t9"}))),
            &[],
        ),
        attempt(
            "delete another tenant",
            M::DELETE,
            ("/tenants/t1", None),
            ("/tenants/t9", None),
            &[("t1", "t9")],
        ),
        attempt(
            "change another tenant's quotas",
            M::PATCH,
            ("/tenants/t1", Some(json!({"quotas": {"apps": 1000}}))),
            ("/tenants/t9", Some(json!({"quotas": {"apps": 1000}}))),
            &[("t1", "t9")],
        ),
    ]
}
