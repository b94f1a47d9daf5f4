//! The OpenAPI 3.1 document of every route, built from the route table itself, so that it
//! cannot leave a route out or name one the router does not serve. It must never describe a
//! route that is not in [`crate::routes`].

use serde_json::{Map, Value, json};

use crate::routes::{Answer, In, RouteInfo};

/// The document for `routes`.
pub(crate) fn document(routes: &[RouteInfo]) -> Value {
    let mut paths = Map::new();
    for route in routes {
        let item = paths
            .entry(route.path)
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(item) = item {
            item.insert(route.method.as_str().to_ascii_lowercase(), operation(route));
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Picket",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Picket's HTTP API. Every route needs `Authorization: Bearer TOKEN` \
                (the dashboard's pages also take the session cookie its login form sets); \
                errors are JSON `{\"error\": \"...\"}`.",
        },
        "servers": [{ "url": "/" }],
        "security": [{ "bearer": [] }],
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": { "error": { "type": "string" } }
                }
            }
        },
        "paths": paths,
    })
}

fn operation(route: &RouteInfo) -> Value {
    let parameters: Vec<Value> = route
        .params
        .iter()
        .map(|p| {
            json!({
                "name": p.name,
                "in": match p.location { In::Path => "path", In::Query => "query" },
                "required": p.required,
                "description": p.description,
                "schema": { "type": "string" },
            })
        })
        .collect();
    let content = match route.answer {
        Answer::Json => json!({ "application/json": {} }),
        Answer::Html => json!({ "text/html": {} }),
        Answer::Metrics => json!({ "text/plain; version=0.0.4": {} }),
    };
    let error = json!({
        "description": "error",
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
    });
    let mut responses = Map::new();
    responses.insert(
        route.success.to_string(),
        json!({ "description": "success", "content": content }),
    );
    responses.insert(
        "401".into(),
        json!({ "description": "no valid token (WWW-Authenticate: Bearer)" }),
    );
    responses.insert("default".into(), error);
    let mut op = json!({
        "summary": route.summary,
        "operationId": operation_id(route),
        "tags": [if route.path.starts_with("/api/") || route.path == "/metrics" { "api" } else { "dashboard" }],
        "parameters": parameters,
        "responses": responses,
    });
    if let (Some(body), Value::Object(map)) = (route.body, &mut op) {
        let media = if route.answer == Answer::Html {
            "application/x-www-form-urlencoded"
        } else {
            "application/json"
        };
        map.insert(
            "requestBody".into(),
            json!({ "description": body, "content": { media: {} } }),
        );
    }
    op
}

/// `get_api_v1_runs_id`: unique per method and path.
fn operation_id(route: &RouteInfo) -> String {
    let path: String = route
        .path
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let path: Vec<&str> = path.split('_').filter(|s| !s.is_empty()).collect();
    format!(
        "{}_{}",
        route.method.as_str().to_ascii_lowercase(),
        if path.is_empty() {
            "root".to_owned()
        } else {
            path.join("_")
        }
    )
}
