//! The OpenAPI 3.1 description of the API, served at `/api/openapi.json`
//! (public: it describes, it holds no data). Generated from the handlers'
//! `#[utoipa::path]` attributes and the request and response types; what
//! only the running server knows (its languages, its limits) is filled in
//! by [`document`]. A test checks it against the router (every route is
//! documented), and the suite runs schemathesis against it.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::ApiState;
use crate::config::Limits;
use crate::runtimes::Runtimes;

#[derive(OpenApi)]
#[openapi(
    info(title = "execbox", description = "Runs untrusted code in hardened containers. Every request becomes a row of backend_execution_sessions.\n\nAI agents reach the same engine at `/mcp`: a Model Context Protocol server (Streamable HTTP, stateless; `execbox mcp` serves it over stdio) with the tools `run_code`, `run_tests`, `list_languages`, `get_session` and `cancel_session`, authenticated as the routes here are (a 401 with `WWW-Authenticate: Bearer` without credentials). Its protocol is MCP's, JSON-RPC, so it is not described here as operations; `tools/list` gives each tool's input schema."),
    paths(
        super::health::health,
        super::health::metrics,
        serve,
        super::seed::run_backend::create,
        super::seed::run_backend::socket,
        super::seed::execute::validate,
        super::seed::execute::run,
        super::piston::runtimes,
        super::piston::execute,
        super::piston::connect,
        super::piston::exec,
        super::keys::create,
        super::keys::list,
        super::keys::revoke,
        super::my_sessions::list,
        super::my_sessions::read,
        super::my_sessions::cancel,
        super::judge0::about,
        super::judge0::config_info,
        super::judge0::languages,
        super::judge0::language,
        super::judge0::statuses,
        super::judge0::create,
        super::judge0::get_one,
        super::judge0::create_batch,
        super::judge0::get_batch,
    ),
    modifiers(&Credentials),
    tags(
        (name = "seed", description = "The original endpoints"),
        (name = "piston", description = "Piston v2, drop-in"),
        (name = "judge0", description = "Judge0 CE 1.13.1, under /judge0"),
        (name = "keys", description = "API keys for non-browser clients"),
        (name = "sessions", description = "The caller's own sessions: recent ones, one in full, a cancel"),
        (name = "health", description = "Liveness and metrics"),
    )
)]
struct ApiDoc;

/// The three places a credential may go.
struct Credentials;

impl Modify for Credentials {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let c = doc.components.get_or_insert_with(Default::default);
        let bearer = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some("A Supabase access token or an execbox API key (`exb_...`)"))
            .build();
        c.add_security_scheme("bearer", SecurityScheme::Http(bearer));
        c.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description("X-Api-Key", "An execbox API key"))),
        );
        c.add_security_scheme(
            "auth_token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Auth-Token",
                "Judge0's header: an API key or an access token",
            ))),
        );
    }
}

/// This document.
#[utoipa::path(get, path = "/api/openapi.json", tag = "health", responses(
    (status = 200, description = "OpenAPI 3.1", body = Object),
))]
pub(crate) async fn serve(
    State(st): State<ApiState>,
) -> Result<Json<utoipa::openapi::OpenApi>, super::error::ApiError> {
    let doc = serde_json::from_value(document(&st.runtimes, &st.cfg.limits))
        .map_err(|e| super::error::ApiError::internal(format!("the filled-in document is not OpenAPI: {e}")))?;
    Ok(Json(doc))
}

const MIB: u64 = 1024 * 1024;

/// The document for a server with these runtimes and limits.
pub fn document(runtimes: &Runtimes, l: &Limits) -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI document serializes");
    doc["info"]["version"] = json!(env!("CARGO_PKG_VERSION"));
    let names = |rt: &'_ crate::runtimes::Runtime| -> Vec<String> { rt.names().cloned().collect() };
    let languages: Vec<String> = runtimes.all().iter().flat_map(names).collect();
    // The seed's validate and run need a test framework (and a harness).
    let validating: Vec<String> =
        runtimes.all().iter().filter(|rt| rt.validate.is_some() && rt.benchmark.is_some()).flat_map(names).collect();
    let mut judge0_ids: Vec<u32> =
        runtimes.all().iter().filter_map(|rt| rt.judge0.as_ref()).flat_map(|j| j.ids.iter().copied()).collect();
    judge0_ids.sort();
    // Whole seconds as integers: the same number as OpenAPI's reader keeps it.
    let secs = |ms: u64| if ms.is_multiple_of(1000) { json!(ms / 1000) } else { json!(ms as f64 / 1000.0) };
    let only_false = json!({"type": ["boolean", "null"], "enum": [false, null]});
    let patches = [
        ("RunBackendRequest", "language", json!({"enum": languages})),
        ("SeedExecuteRequest", "language", json!({"enum": validating})),
        ("SeedExecuteRequest", "runs", json!({"minimum": 1, "maximum": l.max_benchmark_runs})),
        ("Judge0SubmissionRequest", "language_id", json!({"enum": judge0_ids})),
        ("Judge0SubmissionRequest", "cpu_time_limit", json!({"maximum": secs(l.max_cpu_time_ms)})),
        ("Judge0SubmissionRequest", "wall_time_limit", json!({"maximum": secs(l.max_timeout_ms)})),
        (
            "Judge0SubmissionRequest",
            "memory_limit",
            json!({"minimum": l.min_memory_mb * 1024, "maximum": l.max_memory_mb * 1024}),
        ),
        ("Judge0SubmissionRequest", "enable_network", only_false.clone()),
        ("Judge0SubmissionRequest", "enable_per_process_and_thread_time_limit", only_false.clone()),
        ("Judge0SubmissionRequest", "enable_per_process_and_thread_memory_limit", only_false),
    ];
    // Judge0's `fields`: exactly the names a submission has.
    for op in doc["paths"]
        .as_object_mut()
        .expect("paths")
        .values_mut()
        .flat_map(|p| p.as_object_mut())
        .flat_map(|p| p.values_mut())
    {
        for param in op.get_mut("parameters").and_then(Value::as_array_mut).into_iter().flatten() {
            if param["name"] == "fields" {
                param["schema"]["pattern"] = json!(super::judge0::fields_pattern());
            }
        }
    }
    // Piston's limits: the server's bounds on the positive branch (the
    // other is -1, the default).
    let piston_limits = [
        ("run_timeout", l.max_timeout_ms),
        ("compile_timeout", l.max_compile_timeout_ms),
        ("run_cpu_time", l.max_cpu_time_ms),
        ("compile_cpu_time", l.max_compile_cpu_time_ms),
        ("run_memory_limit", l.max_memory_mb * MIB),
        ("compile_memory_limit", l.max_compile_memory_mb * MIB),
    ];
    let schemas = &mut doc["components"]["schemas"];
    for (property, max) in piston_limits {
        let positive = &mut schemas["PistonExecuteRequest"]["properties"][property]["oneOf"][1];
        assert_eq!(positive["minimum"], json!(1), "PistonExecuteRequest.{property} is a Piston limit");
        positive["maximum"] = json!(max);
    }
    for (schema, property, patch) in patches {
        let target = &mut schemas[schema]["properties"][property];
        assert!(target.is_object(), "{schema}.{property} is not in the document");
        for (k, v) in patch.as_object().expect("an object") {
            target[k] = v.clone();
        }
    }
    let piston = &mut schemas["PistonExecuteRequest"];
    *piston = piston_by_runtime(piston.take(), runtimes);
    doc
}

/// Piston's request, one branch per runtime: the same object, but for the
/// runtime's names as `language` and the versions that select it (as
/// [`super::piston::versions`] says) as `version`.
fn piston_by_runtime(mut request: Value, runtimes: &Runtimes) -> Value {
    let description = request.as_object_mut().and_then(|o| o.remove("description"));
    let branches: Vec<Value> = runtimes
        .all()
        .iter()
        .map(|rt| {
            let mut branch = request.clone();
            let names: Vec<&String> = rt.names().collect();
            let mut versions: Vec<Value> = super::piston::versions(rt).into_iter().map(Value::from).collect();
            versions.push(Value::Null);
            branch["properties"]["language"] = json!({"type": "string", "enum": names});
            let longer = super::piston::longer_versions(rt);
            branch["properties"]["version"] = json!({"anyOf": [
                {"type": ["string", "null"], "enum": versions},
                {"type": "string", "pattern": longer},
            ]});
            branch
        })
        .collect();
    json!({"description": description, "anyOf": branches})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_servers_languages_and_limits_are_filled_in() {
        let l = Limits::default();
        let doc = document(&Runtimes::builtin(), &l);
        // What is served: the filled-in document read back as OpenAPI, nothing lost.
        let served: utoipa::openapi::OpenApi = serde_json::from_value(doc.clone()).unwrap();
        assert_eq!(serde_json::to_value(served).unwrap(), doc);
        let schemas = &doc["components"]["schemas"];
        let piston = schemas["PistonExecuteRequest"]["anyOf"].as_array().unwrap();
        assert_eq!(piston.len(), Runtimes::builtin().all().len());
        let python = piston.iter().find(|b| b["properties"]["language"]["enum"][0] == "python").unwrap();
        let languages = python["properties"]["language"]["enum"].as_array().unwrap();
        assert!(languages.contains(&json!("py")) && !languages.contains(&json!("node")), "{languages:?}");
        let python_version = Runtimes::builtin().resolve("python").unwrap().version.clone();
        let versions = python["properties"]["version"]["anyOf"][0]["enum"].as_array().unwrap();
        for v in [json!("*"), json!(python_version), json!("3"), Value::Null] {
            assert!(versions.contains(&v), "{v} in {versions:?}");
        }
        let seed = schemas["SeedExecuteRequest"]["properties"]["language"]["enum"].as_array().unwrap();
        assert!(
            seed.contains(&json!("cpp")) && !seed.contains(&json!("c")),
            "only languages with a test framework: {seed:?}"
        );
        let run_timeout = &python["properties"]["run_timeout"]["oneOf"];
        assert_eq!(run_timeout[1]["maximum"], json!(l.max_timeout_ms), "{run_timeout}");
        let judge0 = &schemas["Judge0SubmissionRequest"]["properties"];
        assert!(judge0["language_id"]["enum"].as_array().unwrap().contains(&json!(71)));
        assert_eq!(judge0["memory_limit"]["maximum"], json!(l.max_memory_mb * 1024));
        assert_eq!(judge0["enable_network"]["enum"], json!([false, null]));
        let params = doc["paths"]["/judge0/submissions/{token}"]["get"]["parameters"].as_array().unwrap();
        let fields = params.iter().find(|p| p["name"] == "fields").unwrap();
        assert_eq!(fields["schema"]["pattern"], json!(crate::api::judge0::fields_pattern()));
        assert!(!doc.to_string().contains(r#""parameters":null"#), "filling in added empty parameters");
        let security = doc["components"]["securitySchemes"].as_object().unwrap();
        assert_eq!(security.keys().collect::<Vec<_>>(), ["api_key", "auth_token", "bearer"]);
    }
}
