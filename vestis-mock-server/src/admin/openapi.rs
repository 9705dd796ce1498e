//! `GET /__admin/openapi.json`: the admin API as an OpenAPI 3 document, so
//! tools can call it without reading the README. Kept apart from
//! `/openapi.json`, which stays about the production contract (`/api/v1`).
//! A test checks that it lists exactly the routes and methods served.

use serde_json::{Value, json};

fn ok(description: &str) -> Value {
    json!({"200": {"description": description, "content": {"application/json": {"schema": {"type": "object"}}}},
           "400": {"description": "Invalid input: `{\"success\": false, \"error\": \"...\", \"code\": \"invalid_request\"}`, naming the field."}})
}

/// The largest job id: JavaScript's `Number.MAX_SAFE_INTEGER`; a larger
/// one is refused 400.
const MAX_JOB_ID: u64 = crate::queue::MAX_JOB_ID;

fn id_param() -> Value {
    json!({"name": "id", "in": "path", "required": true,
           "description": "A job id: 1 to 9007199254740991 (2^53 - 1, JavaScript's largest safe integer); larger is a 400",
           "schema": {"type": "integer", "format": "int64", "minimum": 1, "maximum": MAX_JOB_ID}})
}

fn body(schema: Value) -> Value {
    json!({"required": false, "content": {"application/json": {"schema": schema}}})
}

/// The document.
/// `GET /__admin/requests`'s query parameters (apart from the document's
/// one `json!`, which would otherwise pass the macro's recursion limit).
fn journal_filters() -> Value {
    json!([
        {"name": "method", "in": "query", "required": false, "schema": {"type": "string"}},
        {"name": "path", "in": "query", "required": false, "schema": {"type": "string", "example": "/api/v1/generate"}},
        {"name": "job_id", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": MAX_JOB_ID}},
        {"name": "fault", "in": "query", "required": false,
         "description": "Requests given this transport fault (slow-body: of any duration), any fault (any), or none (none)",
         "schema": {"type": "string", "enum": ["any", "none", "reset", "close", "truncate", "garbage", "stall", "slow-body"]}}
    ])
}

pub(crate) fn document() -> Value {
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "vestis-mock-server admin API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Control routes for tests, outside /api/v1 auth. Bodies are JSON whatever their content type."
        },
        "servers": [{"url": "/__admin"}],
        "paths": {
            "/reset": {"post": {"operationId": "reset", "summary": "Forget every job, key and journal entry; restore settings, clock and pause; reload fixtures (under --replay, the recording's jobs restored from the copy loaded at start, the file not read again: the answer names it and its jobs_loaded)", "responses": ok("Reset")}},
            "/stats": {"get": {"operationId": "stats", "summary": "api_requests, jobs_stored, journal_entries, faults_injected (transport faults done, by name: reset, close, truncate, garbage, stall, slow-body) and faults_injected_total", "responses": ok("Counters")}},
            "/config": {
                "get": {"operationId": "getConfig", "summary": "The fault settings", "responses": ok("Settings")},
                "patch": {"operationId": "patchConfig", "summary": "Change some settings in one atomic update; unknown fields are refused",
                          "requestBody": body(json!({"type": "object", "properties": {
                              "processing_time": {"type": "string", "example": "2m..3m"},
                              "processing_time_by_type": {"type": "string", "example": "chat=300ms..600ms,flatlay=1s..2s", "description": "Types with their own processing time; empty for none"},
                              "failure_rate": {"type": "number", "minimum": 0, "maximum": 1},
                              "max_attempts": {"type": "integer", "minimum": 1},
                              "rate_limit": {"type": "integer", "minimum": 1, "nullable": true},
                              "http_error_rate": {"type": "number", "minimum": 0, "maximum": 1},
                              "latency": {"type": "string", "example": "150ms"},
                              "fault_rate": {"type": "number", "minimum": 0, "maximum": 1,
                                             "description": "Probability that an /api/v1 request gets a transport fault drawn from `faults` (seeded by --seed). The request is handled first; only its answer is faulted (see docs/faults.md)"},
                              "faults": {"type": "string", "example": "reset,truncate,slow-body=2s",
                                         "description": "The transport faults fault_rate draws from, comma-separated, each once: reset, close, truncate, garbage, stall, slow-body[=DURATION] (at most 5m; default 2s). stall holds the request for at most 5 minutes, then closes"},
                              "fault_on": {"type": "string", "enum": ["all", "polls", "creates"],
                                           "description": "Which /api/v1 requests fault_rate may fault"}},
                              "additionalProperties": false})),
                          "responses": ok("The new settings")},
                "put": {"operationId": "putConfig", "summary": "Same as PATCH", "responses": ok("The new settings")}
            },
            "/jobs": {
                "get": {"operationId": "allJobs", "summary": "Every job of every token, newest first, with owner, token_fingerprint and payload; filtered and paged",
                        "parameters": [
                            {"name": "status", "in": "query", "required": false, "schema": {"type": "string", "enum": ["pending", "processing", "completed", "failed", "cancelled"]}},
                            {"name": "kind", "in": "query", "required": false, "schema": {"type": "string", "enum": ["chat", "flatlay", "mdoli", "onmodel", "background", "legacy"]}},
                            {"name": "token", "in": "query", "required": false, "schema": {"type": "string", "example": "fp:0123456789abcdef"}, "description": "A token's fingerprint"},
                            {"name": "page", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "default": 1}},
                            {"name": "page_size", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": 1000}, "description": "Without it, every matching job"}
                        ],
                        "responses": ok("{total, page, page_size, jobs}")},
                "post": {"operationId": "loadJobs", "summary": "Load jobs in any state (the --fixtures shape), all or none",
                         "requestBody": body(json!({"type": "array", "items": {"type": "object", "required": ["token", "status"],
                                                    "properties": {"job_id": {"type": "integer", "format": "int64", "minimum": 1, "maximum": MAX_JOB_ID,
                                                                              "description": "Larger is a 400 naming job_id; without it, the next free id"}}}})),
                         "responses": ok("201 {loaded, jobs}; 409 when an id is taken, or when an entry without job_id would pass 9007199254740991")}
            },
            "/jobs/{id}": {"get": {"operationId": "adminJob", "summary": "One job of any token, with owner and payload", "parameters": [id_param()], "responses": ok("The job")}},
            "/jobs/{id}/complete": {"post": {"operationId": "completeJob", "summary": "Complete a pending or processing job now", "parameters": [id_param()], "responses": ok("The job")}},
            "/jobs/{id}/fail": {"post": {"operationId": "failJob", "summary": "Fail a pending or processing job now", "parameters": [id_param()],
                                         "requestBody": body(json!({"type": "object", "properties": {"error": {"type": "string"}}})),
                                         "responses": ok("The job")}},
            "/jobs/{id}/cancel": {"post": {"operationId": "cancelJob", "summary": "Cancel a pending or processing job of any token now", "parameters": [id_param()], "responses": ok("The job; 409 when already terminal")}},
            "/overview": {"get": {"operationId": "overview", "summary": "Counts by status, queue depth, workers, pause, clock, requests per second, tokens (what each `overview` event carries)", "responses": ok("The overview")}},
            "/events": {"get": {"operationId": "events", "summary": "Server-sent events: `overview` at once, when jobs change and at least every second",
                                "responses": {"200": {"description": "An event stream", "content": {"text/event-stream": {"schema": {"type": "string"}}}}}}},
            "/ui": {"get": {"operationId": "dashboard", "summary": "The dashboard (HTML)", "responses": {"200": {"description": "The page", "content": {"text/html": {"schema": {"type": "string"}}}}}}},
            "/ui/dashboard.css": {"get": {"operationId": "dashboardStyle", "summary": "The dashboard's style sheet", "responses": {"200": {"description": "CSS", "content": {"text/css": {"schema": {"type": "string"}}}}}}},
            "/ui/dashboard.js": {"get": {"operationId": "dashboardScript", "summary": "The dashboard's script", "responses": {"200": {"description": "JavaScript", "content": {"text/javascript": {"schema": {"type": "string"}}}}}}},
            "/queue": {"get": {"operationId": "queueState", "summary": "{paused}", "responses": ok("Queue state")}},
            "/queue/pause": {"post": {"operationId": "pause", "summary": "Start nothing until resumed (running attempts still end)", "responses": ok("{paused: true}")}},
            "/queue/resume": {"post": {"operationId": "resume", "summary": "Start pending jobs on free workers at once", "responses": ok("{paused: false}")}},
            "/clock": {"get": {"operationId": "clock", "summary": "{mode, now}: the mock's clock", "responses": ok("The clock")}},
            "/clock/advance": {"post": {"operationId": "advanceClock", "summary": "Move the mock's clock forward, playing every event in the span in order",
                                        "requestBody": {"required": true, "content": {"application/json": {"schema": {
                                            "type": "object", "required": ["by"], "additionalProperties": false,
                                            "properties": {"by": {"type": "string", "example": "2m30s", "description": "At most 366 days"}}}}}},
                                        "responses": ok("{mode, now, advanced}")}},
            "/requests": {
                "get": {"operationId": "requests", "summary": "The request journal, newest first",
                        "parameters": journal_filters(),
                        "responses": ok("{total, requests}")},
                "delete": {"operationId": "clearRequests", "summary": "Empty the journal", "responses": ok("Cleared")}
            },
            "/requests.har": {"get": {"operationId": "requestsHar", "summary": "The request journal, oldest first, as a HAR 1.2 document (tokens as fingerprints; no answer bodies or timings)", "responses": ok("HAR 1.2")}},
            "/recording": {
                "get": {"operationId": "recordingSummary", "summary": "What the recording proxy (--proxy-to) holds, or the replayed recording (--replay; with replay: true, file and skipped): source, jobs, per job type the jobs per status, queue_wait and processing_time ({samples, median_ms, p90_ms}), attempts, failed_attempts, attempt_failure_rate, job_failure_rate and errors ([{message, count}]); 409 when neither proxying nor replaying", "responses": ok("The summary; 409 when not recording")},
                "post": {"operationId": "saveRecording", "summary": "Write the recording file now (atomically): {success, file, jobs}; 409 when not recording to a file (--record)", "responses": ok("Saved; 409 when not recording")}
            },
            "/openapi.json": {"get": {"operationId": "adminOpenapi", "summary": "This document", "responses": ok("OpenAPI 3")}}
        }
    })
}
