//! The OpenAPI 3 document served at `/openapi.json`.
//!
//! Kept in this one file, written out by hand: the contract is small and a
//! hand-written document reads like the contract. A test in
//! `tests/http/openapi.rs` proves it matches the routes and methods the router
//! actually serves, so the two cannot drift silently.

use serde_json::{Value, json};

fn error_response(description: &str, retry_after: bool) -> Value {
    let mut response = json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    });
    if retry_after {
        response["headers"] = json!({
            "Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer", "minimum": 1}}
        });
    }
    response
}

/// The errors every `/api/v1` route can answer.
fn common_errors() -> Value {
    json!({
        "401": error_response("Missing, empty, malformed or rejected bearer token (`unauthorized`).", false),
        "429": error_response("Over the rate limit (`rate_limited`).", true),
        "500": error_response("A server bug (`internal`).", false),
        "503": error_response("Queue full or server overloaded (`unavailable`).", true),
    })
}

fn with_common(mut responses: Value) -> Value {
    if let (Value::Object(map), Value::Object(common)) = (&mut responses, common_errors()) {
        for (k, v) in common {
            map.entry(k).or_insert(v);
        }
    }
    responses
}

fn job_id_param() -> Value {
    json!({
        "name": "id", "in": "path", "required": true,
        "description": "The job id (a positive integer).",
        "schema": {"type": "integer", "format": "int64", "minimum": 1}
    })
}

/// The whole document.
pub(crate) fn document() -> Value {
    let type_flags: Vec<Value> = ["chat", "flatlay", "mdoli", "onmodel", "background"]
        .iter()
        .map(|t| {
            json!({
                "name": t, "in": "query", "required": false,
                "description": format!("`true` or `1` selects the `{t}` job type. At most one type may be selected; none selects `legacy`."),
                "schema": {"type": "string", "enum": ["true", "false", "1", "0"]}
            })
        })
        .collect();
    let mut generate_params = type_flags;
    generate_params.extend([
        json!({"name": "Idempotency-Key", "in": "header", "required": false,
               "description": "1 to 255 printable ASCII characters. A repeat from the same token answers the same job; the same key with another type or payload is 409.",
               "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x20-\\x7e]+$"}}),
        json!({"name": "X-Mock-Outcome", "in": "header", "required": false,
               "description": "Mock server only: every attempt of the job completes or fails.",
               "schema": {"type": "string", "enum": ["complete", "fail"]}}),
        json!({"name": "X-Mock-Duration", "in": "header", "required": false,
               "description": "Mock server only: every attempt takes this long, e.g. `500ms` or `2m`, at most one day (the server also reads compound forms such as `2m30s`).",
               "schema": {"type": "string", "pattern": "^([0-9]{1,7}ms|[0-9]{1,4}s|[0-9]{1,3}m|(1[0-9]|2[0-4]|[0-9])h)$"}}),
        json!({"name": "X-Mock-Polls", "in": "header", "required": false,
               "description": "Mock server only: the job advances by its GETs instead of time and is terminal at the Nth.",
               "schema": {"type": "integer", "minimum": 1, "maximum": 10000}}),
    ]);

    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Vestis async generation API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Create image-generation jobs, poll them, list and cancel them. Served by vestis-mock-server."
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "paths": {
            "/generate": {
                "post": {
                    "operationId": "createJob",
                    "summary": "Queue a generation job",
                    "parameters": generate_params,
                    "requestBody": {
                        "required": true,
                        "content": {"application/json": {"schema": {"oneOf": [
                            {"$ref": "#/components/schemas/ChatRequest"},
                            {"$ref": "#/components/schemas/FlatlayRequest"},
                            {"$ref": "#/components/schemas/GenericRequest"}
                        ]}}}
                    },
                    "responses": with_common(json!({
                        "202": {
                            "description": "The job is stored and queued.",
                            "headers": {"Location": {"description": "`/api/v1/jobs/{id}`", "schema": {"type": "string"}}},
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CreateJobResponse"}}},
                            "links": {
                                "GetJob": {"operationId": "getJob", "parameters": {"id": "$response.body#/job_id"}},
                                "CancelJob": {"operationId": "cancelJob", "parameters": {"id": "$response.body#/job_id"}}
                            }
                        },
                        "400": error_response("Malformed JSON, not an object, two job types, or a payload that fails validation (`invalid_request`).", false),
                        "405": error_response("Wrong method (`method_not_allowed`).", false),
                        "409": error_response("Idempotency-Key reused for a different request (`conflict`).", false),
                        "413": error_response("Request body over the limit (`payload_too_large`).", false),
                        "415": error_response("The body is not `application/json` (`unsupported_media_type`).", false)
                    }))
                }
            },
            "/jobs": {
                "get": {
                    "operationId": "listJobs",
                    "summary": "The caller's jobs, newest first",
                    "parameters": [
                        {"name": "page", "in": "query", "required": false, "schema": {"type": "integer", "format": "int64", "minimum": 1, "maximum": 9_223_372_036_854_775_807_i64, "default": 1}},
                        {"name": "page_size", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}},
                        {"name": "status", "in": "query", "required": false, "schema": {"$ref": "#/components/schemas/JobStatus"}}
                    ],
                    "responses": with_common(json!({
                        "200": {"description": "One page; a page past the end has no jobs and the true total.",
                                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/JobPage"}}}},
                        "400": error_response("`page`, `page_size` or `status` out of range or not valid (`invalid_request`).", false),
                        "405": error_response("Wrong method (`method_not_allowed`).", false)
                    }))
                }
            },
            "/jobs/{id}": {
                "get": {
                    "operationId": "getJob",
                    "summary": "One job",
                    "parameters": [job_id_param()],
                    "responses": with_common(json!({
                        "200": {"description": "The job (not wrapped).",
                                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Job"}}}},
                        "400": error_response("The id is not a positive integer (`invalid_request`).", false),
                        "404": error_response("No such job for this token (`not_found`).", false),
                        "405": error_response("Wrong method (`method_not_allowed`).", false)
                    }))
                },
                "delete": {
                    "operationId": "cancelJob",
                    "summary": "Cancel a pending job",
                    "parameters": [job_id_param()],
                    "responses": with_common(json!({
                        "200": {"description": "The job is now cancelled and will never start.",
                                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CancelJobResponse"}}}},
                        "400": error_response("The id is not a positive integer (`invalid_request`).", false),
                        "404": error_response("No such job for this token (`not_found`).", false),
                        "405": error_response("Wrong method (`method_not_allowed`).", false),
                        "409": error_response("The job is processing or terminal and is unchanged (`conflict`).", false)
                    }))
                }
            }
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "JobStatus": {"type": "string", "enum": ["pending", "processing", "completed", "failed", "cancelled"],
                              "description": "Clients must not fail on a status they do not know."},
                "JobKind": {"type": "string", "enum": ["chat", "flatlay", "mdoli", "onmodel", "background", "legacy"]},
                "Timestamp": {"type": "string", "format": "date-time", "example": "2026-11-28T10:00:00.123Z"},
                "JobResult": {
                    "type": "object", "required": ["image_url", "generated_at", "message"],
                    "properties": {
                        "image_url": {"type": "string", "format": "uri"},
                        "generated_at": {"$ref": "#/components/schemas/Timestamp"},
                        "message": {"type": "string"}
                    }
                },
                "Job": {
                    "type": "object",
                    "required": ["job_id", "status", "job_type", "created_at", "attempts"],
                    "properties": {
                        "job_id": {"type": "integer", "format": "int64", "minimum": 1},
                        "status": {"$ref": "#/components/schemas/JobStatus"},
                        "job_type": {"$ref": "#/components/schemas/JobKind"},
                        "created_at": {"$ref": "#/components/schemas/Timestamp"},
                        "started_at": {"allOf": [{"$ref": "#/components/schemas/Timestamp"}], "nullable": true},
                        "completed_at": {"allOf": [{"$ref": "#/components/schemas/Timestamp"}], "nullable": true},
                        "attempts": {"type": "integer", "minimum": 0},
                        "result": {"allOf": [{"$ref": "#/components/schemas/JobResult"}], "nullable": true},
                        "error": {"type": "string", "nullable": true}
                    }
                },
                "PageMetadata": {
                    "type": "object", "required": ["page", "page_size", "total", "total_pages"],
                    "properties": {
                        "page": {"type": "integer", "minimum": 1},
                        "page_size": {"type": "integer", "minimum": 1, "maximum": 100},
                        "total": {"type": "integer", "minimum": 0},
                        "total_pages": {"type": "integer", "minimum": 0}
                    }
                },
                "JobPage": {
                    "type": "object", "required": ["jobs", "metadata"],
                    "properties": {
                        "jobs": {"type": "array", "items": {"$ref": "#/components/schemas/Job"}},
                        "metadata": {"$ref": "#/components/schemas/PageMetadata"}
                    }
                },
                "CreateJobResponse": {
                    "type": "object", "required": ["success", "job_id", "status", "message"],
                    "properties": {
                        "success": {"type": "boolean", "enum": [true]},
                        "job_id": {"type": "integer", "format": "int64", "minimum": 1},
                        "status": {"$ref": "#/components/schemas/JobStatus"},
                        "message": {"type": "string"}
                    }
                },
                "CancelJobResponse": {
                    "type": "object", "required": ["success", "job_id", "status", "message"],
                    "properties": {
                        "success": {"type": "boolean", "enum": [true]},
                        "job_id": {"type": "integer", "format": "int64", "minimum": 1},
                        "status": {"type": "string", "enum": ["cancelled"]},
                        "message": {"type": "string"}
                    }
                },
                "ErrorBody": {
                    "type": "object", "required": ["success", "error", "code"],
                    "properties": {
                        "success": {"type": "boolean", "enum": [false]},
                        "error": {"type": "string"},
                        "code": {"type": "string", "enum": [
                            "invalid_request", "unauthorized", "not_found", "method_not_allowed", "conflict",
                            "payload_too_large", "unsupported_media_type", "rate_limited", "internal", "unavailable"
                        ]}
                    }
                },
                "ChatRequest": {
                    "type": "object", "required": ["prompt"],
                    "properties": {
                        "prompt": {"type": "string", "minLength": 1, "description": "Non-empty after trimming."},
                        "images": {"type": "array", "items": {"type": "string"}, "description": "URLs or data URIs."}
                    }
                },
                "FlatlayRequest": {
                    "type": "object", "required": ["modelId", "backgroundId", "products"],
                    "properties": {
                        "modelId": {"oneOf": [{"type": "string", "minLength": 1}, {"type": "number"}]},
                        "backgroundId": {"oneOf": [{"type": "string", "minLength": 1}, {"type": "number"}]},
                        "products": {"type": "array", "minItems": 1, "items": {}}
                    }
                },
                "GenericRequest": {
                    "type": "object",
                    "description": "onmodel, mdoli, background and legacy: any object; `prompt` a string and `images` strings if present.",
                    "properties": {
                        "prompt": {"type": "string"},
                        "images": {"type": "array", "items": {"type": "string"}}
                    }
                }
            }
        }
    })
}
