//! The OpenAPI 3.1 description of the API, served at `/api/openapi.json`
//! (public: it describes, it holds no data). A test checks it against the
//! router: every documented operation exists, and every route is documented.

use axum::response::IntoResponse;
use serde_json::{json, Value};

pub(crate) async fn serve() -> impl IntoResponse {
    axum::Json(document())
}

fn err(desc: &str) -> Value {
    json!({"description": desc, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

fn authed(op: Value) -> Value {
    let mut op = op;
    op["security"] = json!([{"bearer": []}]);
    let responses = op["responses"].as_object_mut().expect("responses");
    responses.insert("401".into(), err("Missing or invalid access token; `check` says which check failed"));
    op
}

pub fn document() -> Value {
    let session_req = json!({
        "type": "object", "required": ["code", "language"],
        "properties": {
            "code": {"type": "string", "maxLength": 1048576},
            "language": {"type": "string", "examples": ["python", "node"]},
            "stdin": {"type": "string"},
            "userContext": {"type": "object", "properties": {
                "userId": {"type": "string", "format": "uuid", "description": "Must match the token's subject (a service-role token may name any user)"},
                "roomId": {"type": "string", "format": "uuid"},
                "sessionName": {"type": "string", "maxLength": 200}
            }}
        }
    });
    let piston_req = json!({
        "type": "object", "required": ["language", "files"],
        "properties": {
            "language": {"type": "string"}, "version": {"type": "string", "default": "*"},
            "files": {"type": "array", "minItems": 1, "items": {"type": "object", "required": ["content"], "properties": {
                "name": {"type": "string"}, "content": {"type": "string"}, "encoding": {"enum": ["utf8", "base64", "hex"]}}}},
            "stdin": {"type": "string"}, "args": {"type": "array", "items": {"type": "string"}},
            "compile_timeout": {"type": "integer"}, "run_timeout": {"type": "integer"},
            "compile_cpu_time": {"type": "integer"}, "run_cpu_time": {"type": "integer"},
            "compile_memory_limit": {"type": "integer"}, "run_memory_limit": {"type": "integer"}
        }
    });
    json!({
        "openapi": "3.1.0",
        "info": {"title": "execbox", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Runs untrusted code in hardened containers. Every request becomes a row of backend_execution_sessions."},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                "description": "A Supabase access token (or, for WebSockets, the access_token query parameter)"}},
            "schemas": {
                "Error": {"type": "object", "required": ["message", "code"], "properties": {
                    "message": {"type": "string"}, "code": {"type": "string"}, "check": {"type": "string"}}},
                "RunBackendRequest": session_req,
                "PistonExecuteRequest": piston_req,
                "ExecuteRequest": {"type": "object", "required": ["solution", "tests", "language"], "properties": {
                    "solution": {"type": "string"}, "tests": {"type": "string"}, "language": {"type": "string"},
                    "runs": {"type": "integer", "minimum": 1, "default": 100}}}
            }
        },
        "paths": {
            "/health": {"get": {"summary": "Liveness of the database and of workers with Docker", "responses": {
                "200": {"description": "All parts answer"}, "503": {"description": "The database or every worker's Docker is down"}}}},
            "/metrics": {"get": authed(json!({"summary": "Prometheus metrics (service role)", "responses": {
                "200": {"description": "text/plain; version=0.0.4"}, "403": err("Not the service role")}}))},
            "/api/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3.1"}}}},
            "/api/run-backend": {"post": authed(json!({"summary": "Run code (the seed's API)",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RunBackendRequest"}}}},
                "responses": {
                    "200": {"description": "{sessionId, containerId, status}"},
                    "400": err("Invalid request"), "403": err("userId is not the caller"), "413": err("Too large"),
                    "415": err("Not JSON"), "422": err("Wrong shape"), "429": err("Rate or concurrency limit; see Retry-After")}}))},
            "/api/run-backend/ws/{session_id}": {"get": authed(json!({"summary": "WebSocket of a session's log lines: connected, log..., execution_complete",
                "parameters": [{"name": "session_id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}}],
                "responses": {"101": {"description": "Switching protocols"}, "404": err("No such session of yours")}}))},
            "/api/execute/validate": {"post": authed(json!({"summary": "Validate a solution against a test suite (seed 004)",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ExecuteRequest"}}}},
                "responses": {"200": {"description": "{passed, testsPassed, totalTests, tests[{name, status, message, durationMs}], output, compileError?}"},
                    "400": err("Unknown language"), "413": err("Too large"), "415": err("Not JSON"), "422": err("Wrong shape"),
                    "429": err("Rate or concurrency limit"), "503": err("No worker ran it in time")}}))},
            "/api/execute/run": {"post": authed(json!({"summary": "Validate, then time the test suite `runs` times in one process (seed 004)",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ExecuteRequest"}}}},
                "responses": {"200": {"description": "{passed, testsPassed, totalTests, meanExecutionTime, standardDeviation, median, p95, min, max, n, outliers} (ms)"},
                    "400": err("Unknown language or runs out of range"), "413": err("Too large"), "415": err("Not JSON"),
                    "429": err("Rate or concurrency limit"), "503": err("No worker ran it in time")}}))},
            "/api/v2/runtimes": {"get": {"summary": "Piston: installed runtimes", "responses": {"200": {"description": "[{language, version, aliases, runtime}]"}}}},
            "/api/v2/execute": {"post": authed(json!({"summary": "Piston: run and wait for the result",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PistonExecuteRequest"}}}},
                "responses": {"200": {"description": "{language, version, run: {stdout, stderr, output, code, signal, message, status, wall_time}}"},
                    "400": err("Unknown runtime or a limit above the server's"), "413": err("Too large"), "415": err("Not JSON"),
                    "429": err("Rate or concurrency limit"), "503": err("No worker ran it in time")}}))},
            "/api/v2/connect": {"get": authed(json!({"summary": "Piston: interactive WebSocket (init, data, eof, signal)",
                "responses": {"101": {"description": "Switching protocols"}}}))},
            "/api/exec": {"get": authed(json!({"summary": "Alias of /api/v2/connect", "responses": {"101": {"description": "Switching protocols"}}}))}
        }
    })
}
