//! The OpenAPI 3.0.3 document of the admin API, served at `GET /api/v1/openapi.json`.
//! Written by hand; `tests` checks it against the route table in both directions.

use serde_json::{json, Map, Value};

fn schema(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn body(name: &str) -> Value {
    json!({
        "required": true,
        "content": { "application/json": { "schema": schema(name) } }
    })
}

/// A success answer with a JSON body of schema `name` and the catalog version.
fn answer(description: &str, name: &str) -> Value {
    json!({
        "description": description,
        "headers": { "ETag": { "$ref": "#/components/headers/ETag" } },
        "content": { "application/json": { "schema": schema(name) } }
    })
}

fn empty(description: &str) -> Value {
    json!({
        "description": description,
        "headers": { "ETag": { "$ref": "#/components/headers/ETag" } }
    })
}

fn error(name: &str) -> Value {
    json!({ "$ref": format!("#/components/responses/{name}") })
}

/// One operation; `write` adds `If-Match` and the write errors.
struct Op {
    id: &'static str,
    summary: &'static str,
    params: &'static [&'static str],
    request: Option<&'static str>,
    responses: Vec<(&'static str, Value)>,
    write: bool,
}

impl Op {
    fn read(id: &'static str, summary: &'static str) -> Op {
        Op {
            id,
            summary,
            params: &[],
            request: None,
            responses: Vec::new(),
            write: false,
        }
    }
    fn write(id: &'static str, summary: &'static str) -> Op {
        Op {
            write: true,
            ..Op::read(id, summary)
        }
    }
    fn params(mut self, p: &'static [&'static str]) -> Op {
        self.params = p;
        self
    }
    fn request(mut self, name: &'static str) -> Op {
        self.request = Some(name);
        self
    }
    fn answer(mut self, code: &'static str, v: Value) -> Op {
        self.responses.push((code, v));
        self
    }

    fn build(self) -> Value {
        let mut params: Vec<Value> = self
            .params
            .iter()
            .map(|p| json!({ "$ref": format!("#/components/parameters/{p}") }))
            .collect();
        let mut responses = Map::new();
        for (code, v) in self.responses {
            responses.insert(code.into(), v);
        }
        responses.insert("401".into(), error("Unauthorized"));
        if !self.params.is_empty() {
            responses.insert("404".into(), error("NotFound"));
        }
        if self.write {
            params.push(json!({ "$ref": "#/components/parameters/IfMatch" }));
            for (code, name) in [
                ("400", "Invalid"),
                ("403", "Forbidden"),
                ("409", "Conflict"),
                ("412", "PreconditionFailed"),
                ("500", "Internal"),
                ("503", "StoreUnavailable"),
            ] {
                responses.entry(code).or_insert_with(|| error(name));
            }
            if self.request.is_some() {
                responses.insert("413".into(), error("PayloadTooLarge"));
                responses.insert("415".into(), error("UnsupportedMediaType"));
            }
        }
        let mut op = json!({
            "operationId": self.id,
            "summary": self.summary,
            "parameters": params,
            "responses": responses,
        });
        if let Some(r) = self.request {
            op["requestBody"] = body(r);
        }
        op
    }
}

/// The `paths` object, built up one resource at a time in document order.
type Paths = Map<String, Value>;

fn add(p: &mut Paths, path: &str, method: &str, op: Op) {
    let entry = p.entry(path).or_insert_with(|| json!({}));
    entry[method] = op.build();
}

fn paths() -> Value {
    let mut p = Paths::new();
    status_paths(&mut p);
    tenant_paths(&mut p);
    group_paths(&mut p);
    connector_paths(&mut p);
    app_paths(&mut p);
    enrollment_token_paths(&mut p);
    openapi_path(&mut p);
    Value::Object(p)
}

/// The status summary.
fn status_paths(p: &mut Paths) {
    add(
        p,
        "/api/v1/status",
        "get",
        Op::read(
            "getStatus",
            "Catalog version, counts, live connectors, last reload",
        )
        .answer("200", answer("Status", "Status")),
    );
}

/// Tenants: list, create, read, change, delete.
fn tenant_paths(p: &mut Paths) {
    add(
        p,
        "/api/v1/tenants",
        "get",
        Op::read("listTenants", "List tenants").answer("200", answer("Tenants", "TenantList")),
    );
    add(
        p,
        "/api/v1/tenants",
        "post",
        Op::write("createTenant", "Create a tenant (admin only)")
            .request("NewTenant")
            .answer("201", answer("Created", "Tenant")),
    );
    add(
        p,
        "/api/v1/tenants/{name}",
        "get",
        Op::read("getTenant", "One tenant")
            .params(&["TenantName"])
            .answer("200", answer("Tenant", "Tenant")),
    );
    add(
        p,
        "/api/v1/tenants/{name}",
        "patch",
        Op::write(
            "updateTenant",
            "Replace a tenant's domains and/or quota overrides (admin only)",
        )
        .params(&["TenantName"])
        .request("TenantPatch")
        .answer("200", answer("Updated", "Tenant")),
    );
    add(
        p,
        "/api/v1/tenants/{name}",
        "delete",
        Op::write("deleteTenant", "Delete an unused tenant (admin only)")
            .params(&["TenantName"])
            .answer("204", empty("Deleted")),
    );
}

/// Connector groups: list, create, read, rename or re-balance, delete.
fn group_paths(p: &mut Paths) {
    add(
        p,
        "/api/v1/groups",
        "get",
        Op::read("listGroups", "List connector groups")
            .answer("200", answer("Groups", "GroupList")),
    );
    add(
        p,
        "/api/v1/groups",
        "post",
        Op::write("createGroup", "Create a group")
            .request("NewGroup")
            .answer("201", answer("Created", "Group")),
    );
    add(
        p,
        "/api/v1/groups/{name}",
        "get",
        Op::read("getGroup", "One group")
            .params(&["Name"])
            .answer("200", answer("Group", "Group")),
    );
    add(
        p,
        "/api/v1/groups/{name}",
        "patch",
        Op::write(
            "updateGroup",
            "Rename (references follow), change the balance policy or sharing",
        )
        .params(&["Name"])
        .request("GroupPatch")
        .answer("200", answer("Updated", "Group")),
    );
    add(
        p,
        "/api/v1/groups/{name}",
        "delete",
        Op::write(
            "deleteGroup",
            "Delete a group; 409 while used unless move_to names the group that takes over",
        )
        .params(&["Name", "MoveTo"])
        .answer("200", answer("Deleted, members moved", "GroupDeleted"))
        .answer("204", empty("Deleted")),
    );
}

/// Connectors: list, register, read, remove, move, revoke.
fn connector_paths(p: &mut Paths) {
    add(
        p,
        "/api/v1/connectors",
        "get",
        Op::read("listConnectors", "List connectors with their live state")
            .answer("200", answer("Connectors", "ConnectorList")),
    );
    add(
        p,
        "/api/v1/connectors",
        "post",
        Op::write(
            "createConnector",
            "Register a connector; its secret is shown once",
        )
        .request("NewConnector")
        .answer("201", answer("Created", "ConnectorCreated")),
    );
    add(
        p,
        "/api/v1/connectors/{id}",
        "get",
        Op::read("getConnector", "One connector")
            .params(&["Id"])
            .answer("200", answer("Connector", "Connector")),
    );
    add(
        p,
        "/api/v1/connectors/{id}",
        "delete",
        Op::write("deleteConnector", "Remove a connector; its tunnels close")
            .params(&["Id"])
            .answer("204", empty("Deleted")),
    );
    add(
        p,
        "/api/v1/connectors/{id}/move",
        "post",
        Op::write("moveConnector", "Move a connector to another group")
            .params(&["Id"])
            .request("MoveConnector")
            .answer("200", answer("Moved", "Connector")),
    );
    add(
        p,
        "/api/v1/connectors/{id}/revoke",
        "post",
        Op::write(
            "revokeConnector",
            "Revoke a connector: refused from now on, tunnels closed",
        )
        .params(&["Id"])
        .answer("200", answer("Revoked", "Connector")),
    );
}

/// Apps: list, publish, read, replace, merge-patch, unpublish.
fn app_paths(p: &mut Paths) {
    add(
        p,
        "/api/v1/apps",
        "get",
        Op::read("listApps", "List apps").answer("200", answer("Apps", "AppList")),
    );
    add(
        p,
        "/api/v1/apps",
        "post",
        Op::write("createApp", "Publish an app")
            .request("AppSpec")
            .answer("201", answer("Created", "AppSpec")),
    );
    add(
        p,
        "/api/v1/apps/{name}",
        "get",
        Op::read("getApp", "One app")
            .params(&["Name"])
            .answer("200", answer("App", "AppSpec")),
    );
    add(
        p,
        "/api/v1/apps/{name}",
        "put",
        Op::write(
            "replaceApp",
            "Replace an app (the body's name must be the URL's)",
        )
        .params(&["Name"])
        .request("AppSpec")
        .answer("200", answer("Replaced", "AppSpec")),
    );
    add(
        p,
        "/api/v1/apps/{name}",
        "patch",
        Op::write(
            "updateApp",
            "Merge-patch an app (RFC 7386): named fields change",
        )
        .params(&["Name"])
        .request("AppPatch")
        .answer("200", answer("Updated", "AppSpec")),
    );
    add(
        p,
        "/api/v1/apps/{name}",
        "delete",
        Op::write("deleteApp", "Unpublish an app")
            .params(&["Name"])
            .answer("204", empty("Deleted")),
    );
}

/// Enrollment tokens: list, create, delete.
fn enrollment_token_paths(p: &mut Paths) {
    add(
        p,
        "/api/v1/enrollment-tokens",
        "get",
        Op::read(
            "listEnrollmentTokens",
            "List enrollment tokens (never the tokens)",
        )
        .answer("200", answer("Tokens", "EnrollmentTokenList")),
    );
    add(
        p,
        "/api/v1/enrollment-tokens",
        "post",
        Op::write(
            "createEnrollmentToken",
            "Create a one-time enrollment token, shown once",
        )
        .request("NewEnrollmentToken")
        .answer("201", answer("Created", "EnrollmentTokenCreated")),
    );
    add(
        p,
        "/api/v1/enrollment-tokens/{id}",
        "delete",
        Op::write("deleteEnrollmentToken", "Delete an enrollment token")
            .params(&["Id"])
            .answer("204", empty("Deleted")),
    );
}

/// This document, the one operation that needs no token.
fn openapi_path(p: &mut Paths) {
    add(
        p,
        "/api/v1/openapi.json",
        "get",
        Op::read("getOpenApi", "This document (no token needed)").answer(
            "200",
            json!({ "description": "OpenAPI 3.0.3", "content": { "application/json": { "schema": { "type": "object" } } } }),
        ),
    );
    // The document itself needs no token.
    p["/api/v1/openapi.json"]["get"]["security"] = json!([]);
    if let Some(r) = p["/api/v1/openapi.json"]["get"]["responses"].as_object_mut() {
        r.remove("401");
    }
}

fn nullable(t: &str) -> Value {
    json!({ "type": t, "nullable": true })
}

fn list_of(name: &str) -> Value {
    json!({
        "type": "object",
        "required": ["items"],
        "properties": { "items": { "type": "array", "items": schema(name) } }
    })
}

fn strings() -> Value {
    json!({ "type": "array", "items": { "type": "string" } })
}

fn balance() -> Value {
    json!({ "type": "string", "enum": ["p2c", "round_robin"] })
}

fn unix() -> Value {
    json!({ "type": "integer", "format": "int64", "minimum": 0 })
}

fn qualified() -> Value {
    json!({ "type": "string", "description": "the qualified name: t1/name for a tenant's object, name for the operator's" })
}

fn count() -> Value {
    json!({ "type": "integer", "minimum": 0 })
}

/// The `schemas` object: each resource's schemas in document order.
fn schemas() -> Value {
    let mut s = Map::new();
    for part in [
        error_and_status_schemas(),
        tenant_schemas(),
        group_schemas(),
        connector_schemas(),
        app_schemas(),
        enrollment_token_schemas(),
    ] {
        if let Value::Object(m) = part {
            s.extend(m);
        }
    }
    Value::Object(s)
}

/// The error body every failure answers with, and the status summary.
fn error_and_status_schemas() -> Value {
    json!({
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": { "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": { "type": "string", "enum": [
                        "unauthorized", "forbidden", "not_found", "method_not_allowed", "conflict",
                        "quota_exceeded", "precondition_failed", "payload_too_large", "unsupported_media_type",
                        "invalid", "read_only", "internal", "store_unavailable"
                    ] },
                    "message": { "type": "string" },
                    "field": { "type": "string", "description": "JSON field or catalog path (apps[3].host; for a tenant token, numbered in its own lists); for quota_exceeded, the kind (apps, groups, connectors, enrollment_tokens)" },
                    "details": { "type": "array", "items": {
                        "type": "object",
                        "required": ["field", "message"],
                        "properties": { "field": { "type": "string" }, "message": { "type": "string" } }
                    } }
                }
            } }
        },
        "Status": {
            "type": "object",
            "required": ["version", "caller", "apps", "connectors_live", "groups", "last_reload", "store"],
            "properties": {
                "version": unix(),
                "caller": {
                    "type": "object",
                    "description": "the role of the token that asks, and its tenant for a tenant token",
                    "required": ["role", "tenant"],
                    "properties": {
                        "role": { "type": "string", "enum": ["admin", "read_only", "tenant"] },
                        "tenant": { "type": "string", "nullable": true }
                    }
                },
                "tunnel_listen": { "type": "string", "nullable": true, "description": "address the tunnel listener is bound to (host:port); connectors dial it" },
                "apps": count(),
                "connectors_live": count(),
                "groups": { "type": "array", "items": {
                    "type": "object",
                    "required": ["name", "live_connectors"],
                    "properties": {
                        "name": { "type": "string", "description": "qualified for an operator's token (t1/dc-east), plain for a tenant's" },
                        "live_connectors": count()
                    }
                } },
                "last_reload": {
                    "type": "object",
                    "required": ["ok", "at_unix", "errors", "restart_needed"],
                    "properties": {
                        "ok": { "type": "boolean" },
                        "at_unix": { "type": "integer", "nullable": true },
                        "errors": strings(),
                        "restart_needed": strings()
                    }
                },
                "store": {
                    "description": "where the catalog lives: null (the configuration file), the store file's path, or for etcd {kind, endpoints, prefix, connected, revision, gateways}",
                    "nullable": true,
                    "oneOf": [
                        { "type": "string" },
                        { "type": "object",
                          "required": ["kind", "endpoints", "prefix", "connected", "revision"],
                          "properties": {
                            "kind": { "type": "string", "enum": ["etcd"] },
                            "endpoints": strings(),
                            "prefix": { "type": "string" },
                            "connected": { "type": "boolean" },
                            "revision": { "type": "integer" },
                            "gateways": { "type": "array", "items": {
                                "type": "object",
                                "description": "a live gateway (its presence key under a lease) and the tunnels each connector holds to it",
                                "properties": {
                                    "gateway": { "type": "string" },
                                    "connectors": { "type": "object", "additionalProperties": { "type": "integer" } }
                                }
                            } }
                          } }
                    ]
                }
            }
        }
    })
}

/// A number per quota kind.
fn kinds(description: &str) -> Value {
    let n = count();
    json!({
        "type": "object",
        "description": description,
        "properties": {
            "apps": n, "groups": n, "connectors": n, "enrollment_tokens": n
        }
    })
}

/// Tenants.
fn tenant_schemas() -> Value {
    let domains = json!({ "type": "array", "items": { "type": "string" },
        "description": "each covers itself and every name below it; never overlapping another tenant's" });
    json!({
        "Tenant": {
            "type": "object",
            "required": ["name", "domains", "quotas", "overrides", "usage", "groups", "connectors", "apps"],
            "properties": {
                "name": { "type": "string" },
                "domains": domains,
                "quotas": kinds("the quotas in force: each override, else the gateway's [tenant_quotas]"),
                "overrides": schema("Quotas"),
                "usage": kinds("what the tenant holds"),
                "groups": count(), "connectors": count(), "apps": count()
            }
        },
        "Quotas": {
            "type": "object",
            "additionalProperties": false,
            "description": "per-kind overrides of the default quotas; a kind left out takes the default",
            "properties": {
                "apps": count(), "groups": count(), "connectors": count(), "enrollment_tokens": count()
            }
        },
        "NewTenant": {
            "type": "object",
            "additionalProperties": false,
            "required": ["name"],
            "properties": { "name": { "type": "string" }, "domains": domains, "quotas": schema("Quotas") }
        },
        "TenantPatch": {
            "type": "object",
            "additionalProperties": false,
            "description": "each field given replaces the whole value (quotas: {} returns every kind to the default)",
            "properties": { "domains": domains, "quotas": schema("Quotas") }
        },
        "TenantList": list_of("Tenant")
    })
}

/// Connector groups.
fn group_schemas() -> Value {
    json!({
        "Group": {
            "type": "object",
            "required": ["name", "qualified", "balance", "tenant", "shared", "connectors", "apps"],
            "properties": {
                "name": { "type": "string" },
                "qualified": qualified(),
                "balance": balance(),
                "tenant": nullable("string"),
                "shared": { "type": "boolean", "description": "an operator group tenants' apps may use as /name" },
                "connectors": { "type": "array", "items": { "type": "string" }, "description": "ids in the group's scope" },
                "apps": { "type": "array", "items": { "type": "string" },
                    "description": "names in the group's scope; tenant apps using a shared group qualified (operator tokens only)" }
            }
        },
        "NewGroup": {
            "type": "object",
            "additionalProperties": false,
            "required": ["name"],
            "properties": {
                "name": { "type": "string" },
                "balance": balance(),
                "tenant": { "type": "string", "nullable": true, "description": "admin only: create in this tenant's scope" },
                "shared": { "type": "boolean", "default": false, "description": "admin only, operator groups only" }
            }
        },
        "GroupPatch": {
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "name": { "type": "string" },
                "balance": balance(),
                "shared": { "type": "boolean", "description": "admin only, operator groups only" }
            }
        },
        "GroupList": list_of("Group"),
        "GroupDeleted": {
            "type": "object",
            "required": ["deleted", "moved_to"],
            "properties": { "deleted": { "type": "string" }, "moved_to": { "type": "string" } }
        }
    })
}

/// Connectors.
fn connector_schemas() -> Value {
    json!({
        "Connector": {
            "type": "object",
            "required": ["id", "qualified", "group", "tenant", "revoked", "live", "tunnels",
                         "in_flight", "served", "remote", "version", "last_seen_unix"],
            "properties": {
                "id": { "type": "string" },
                "qualified": qualified(),
                "group": { "type": "string", "description": "a group of the connector's scope" },
                "tenant": nullable("string"),
                "revoked": { "type": "boolean" },
                "live": { "type": "boolean" },
                "tunnels": count(),
                "in_flight": count(),
                "served": count(),
                "remote": nullable("string"),
                "version": nullable("string"),
                "last_seen_unix": { "type": "integer", "nullable": true,
                    "description": "now while connected; else when its last tunnel to this process closed" },
                "gateways": { "type": "array", "items": { "type": "string" }, "nullable": true,
                    "description": "with the catalog in etcd: every gateway it holds tunnels to (their presence); null otherwise" }
            }
        },
        "NewConnector": {
            "type": "object",
            "additionalProperties": false,
            "required": ["id", "group"],
            "properties": {
                "id": { "type": "string" },
                "group": { "type": "string",
                    "description": "a group of the connector's scope; an admin naming no tenant may write t1/group" },
                "tenant": nullable("string")
            }
        },
        "ConnectorCreated": {
            "type": "object",
            "required": ["connector", "secret"],
            "properties": {
                "connector": schema("Connector"),
                "secret": { "type": "string", "description": "shown only in this answer" }
            }
        },
        "ConnectorList": list_of("Connector"),
        "MoveConnector": {
            "type": "object",
            "additionalProperties": false,
            "required": ["group"],
            "properties": { "group": { "type": "string", "description": "a group of the connector's scope" } }
        }
    })
}

/// Apps.
fn app_schemas() -> Value {
    json!({
        "Affinity": {
            "type": "object",
            "additionalProperties": false,
            "description": "exactly one of cookie or header",
            "properties": { "cookie": { "type": "string" }, "header": { "type": "string" } }
        },
        "AppSpec": {
            "type": "object",
            "additionalProperties": false,
            "required": ["name", "host", "internal_url", "groups"],
            "properties": {
                "name": { "type": "string" },
                "qualified": { "type": "string", "readOnly": true,
                    "description": "t1/name for a tenant's app; shown by reads, ignored in requests" },
                "tenant": { "type": "string", "nullable": true,
                    "description": "fixed once created: a PUT or PATCH may only repeat it" },
                "host": { "type": "string", "example": "wiki.example.com",
                    "description": "a tenant's app: inside its tenant's domains; an operator's app: outside every tenant's" },
                "path_prefix": nullable("string"),
                "internal_url": { "type": "string", "example": "http://10.1.2.3:8080" },
                "groups": { "type": "array", "items": { "type": "string" },
                    "description": "the chain in order, relative to the app's scope: plain names of its scope; from a tenant's app, /name is an operator group marked shared" },
                "preserve_host": { "type": "boolean", "default": false },
                "backend_timeout_secs": { "type": "number", "nullable": true },
                "origin_tls_verify": { "type": "boolean", "default": true },
                "min_live_connectors": { "type": "integer", "minimum": 1, "nullable": true },
                "affinity": { "allOf": [schema("Affinity")], "nullable": true }
            }
        },
        "AppPatch": {
            "type": "object",
            "description": "any subset of AppSpec's fields (JSON merge patch: null resets a field)"
        },
        "AppList": list_of("AppSpec")
    })
}

/// Enrollment tokens.
fn enrollment_token_schemas() -> Value {
    json!({
        "EnrollmentToken": {
            "type": "object",
            "required": ["id", "qualified", "tenant", "expires_at_unix"],
            "properties": {
                "id": { "type": "string" },
                "qualified": qualified(),
                "tenant": nullable("string"),
                "expires_at_unix": unix()
            }
        },
        "NewEnrollmentToken": {
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "tenant": nullable("string"),
                "ttl_secs": { "type": "integer", "minimum": 1, "default": 86400 }
            }
        },
        "EnrollmentTokenCreated": {
            "type": "object",
            "required": ["id", "qualified", "token", "expires_at_unix"],
            "properties": {
                "id": { "type": "string" },
                "qualified": qualified(),
                "token": { "type": "string", "description": "shown only in this answer" },
                "expires_at_unix": unix()
            }
        },
        "EnrollmentTokenList": list_of("EnrollmentToken")
    })
}

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": schema("Error") } }
    })
}

/// The whole document.
pub fn document() -> Value {
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Switchyard admin API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Manage the gateway's catalog: tenants, connector groups, connectors, \
                apps and enrollment tokens. Every write is validated whole, saved, and live for \
                the next request before it is answered. Reads return the catalog version in \
                ETag; writes accept If-Match. Names are unique per scope (the operator's, or one \
                tenant's): an admin or read-only token addresses a tenant's object by its \
                qualified name, percent-encoded in the path (/api/v1/groups/t1%2Fdc-east), and \
                the operator's by its plain name; a tenant token addresses its own objects by \
                plain name only. Writes that take a tenant past a quota are refused with 409 \
                quota_exceeded."
        },
        "servers": [{ "url": "/" }],
        "security": [{ "bearer": [] }],
        "paths": paths(),
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "headers": {
                "ETag": {
                    "description": "the catalog version, quoted: \"12\"",
                    "schema": { "type": "string" }
                }
            },
            "parameters": {
                "Name": {
                    "name": "name", "in": "path", "required": true, "schema": { "type": "string" },
                    "description": "admin/read-only tokens: qualified (t1%2Fdc-east for tenant t1's, dc-east for the operator's); tenant tokens: the plain name of their own object"
                },
                "Id": {
                    "name": "id", "in": "path", "required": true, "schema": { "type": "string" },
                    "description": "admin/read-only tokens: qualified (t1%2Fc1 for tenant t1's, c1 for the operator's); tenant tokens: the plain id of their own object"
                },
                "TenantName": { "name": "name", "in": "path", "required": true, "schema": { "type": "string" } },
                "MoveTo": {
                    "name": "move_to", "in": "query", "required": false,
                    "description": "group that takes over the deleted group's connectors and app references, relative to its scope (a plain name; from a tenant group without connectors, /name of a shared operator group)",
                    "schema": { "type": "string" }
                },
                "IfMatch": {
                    "name": "If-Match", "in": "header", "required": false,
                    "description": "apply only if the catalog is still at this version (an ETag)",
                    "schema": { "type": "string" }
                }
            },
            "responses": {
                "Unauthorized": error_response("no or unknown bearer token (unauthorized)"),
                "Forbidden": error_response("the token's role does not allow this (forbidden)"),
                "NotFound": error_response("no such object, or not visible to this token (not_found)"),
                "Invalid": error_response("malformed JSON, unknown field, or the catalog would be invalid (invalid)"),
                "Conflict": error_response("name taken in the scope or object in use (conflict); a tenant's quota reached (quota_exceeded, field = kind); no store configured (read_only)"),
                "PreconditionFailed": error_response("If-Match is not the current version (precondition_failed)"),
                "PayloadTooLarge": error_response("body larger than admin.max_body_bytes (payload_too_large)"),
                "UnsupportedMediaType": error_response("body is not application/json (unsupported_media_type)"),
                "Internal": error_response("the store could not be written; nothing changed (internal)"),
                "StoreUnavailable": error_response("the shared catalog store (etcd) is unreachable; nothing changed, try again later (store_unavailable)")
            },
            "schemas": schemas()
        }
    })
}
