//! The OpenAPI 3.1 document, generated from [`ROUTES`](crate::routes::ROUTES). A copy is checked in at
//! `docs/openapi.json`; a test fails when the two drift apart.

use crate::routes::{ROUTES, Scope};
use serde_json::{Map, Value, json};

/// The document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for r in ROUTES {
        let params: Vec<Value> = r
            .path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
            .collect();
        let mut op = json!({
            "summary": r.summary,
            "operationId": format!("{}_{}", r.method.to_lowercase(), r.path.trim_start_matches('/').replace(['/', '{', '}', '.'], "_")),
            "parameters": params,
            "x-ferry-permission": r.permission.as_str(),
            "responses": {
                "200": { "description": if r.changes { "Done: `{transaction: {id, status}, result}`" } else { "OK" } },
                "400": { "$ref": "#/components/responses/Error" },
                "401": { "$ref": "#/components/responses/Error" },
                "403": { "$ref": "#/components/responses/Error" },
                "404": { "$ref": "#/components/responses/Error" },
                "409": { "$ref": "#/components/responses/Error" },
            },
        });
        if r.scope == Scope::Public {
            op["security"] = json!([]);
        }
        if matches!(r.method, "POST" | "PUT" | "PATCH") {
            op["requestBody"] =
                json!({ "content": { "application/json": { "schema": { "type": "object" } } } });
        }
        let entry = paths
            .entry(r.path.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        entry[r.method.to_lowercase()] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Ferry migration programme API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Tenants, eligibility, gates, endpoints and credentials, mappings, assessments, events and passes, reports, tickets, pause and offboarding. Every state-changing request returns a transaction and writes an audit entry. Errors are `{kind, message, request_id}`.",
        },
        "security": [{ "bearer": [] }],
        "paths": paths,
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["kind", "message", "request_id"],
                    "properties": {
                        "kind": { "type": "string" },
                        "message": { "type": "string" },
                        "request_id": { "type": "string" },
                    },
                },
            },
            "responses": {
                "Error": {
                    "description": "An error",
                    "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } },
                },
            },
        },
    })
}
