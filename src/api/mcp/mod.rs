//! The agents' door: a Model Context Protocol server (`rmcp`), at `/mcp`
//! over Streamable HTTP on every API node, and over stdio for `execbox
//! mcp`. Its tools are the API's engine in MCP's terms: each call that
//! runs code is a session row of the caller's, admitted by the same
//! limits and the same door, run by the same workers, followed by the same
//! stream; its output lines go out as progress notifications while it runs.
//!
//! Stateless: no MCP session lives on a node (every POST stands alone),
//! so any node behind a load balancer serves any request, as every other
//! route. A program that fails is a tool result (`isError`) with its
//! outcome; an argument that is wrong is a tool error naming the field; an
//! unknown tool or a malformed message is a protocol error (rmcp's).

mod tools;
mod wire;

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, ErrorData, Implementation, ListToolsResult, PaginatedRequestParams,
    ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{RoleServer, ServerHandler, ServiceExt};
use uuid::Uuid;

use super::anonymous::PistonCaller;
use super::sessions::{self, Quota};
use super::ApiState;
use tools::ToolName;

/// Whom a tool call acts for, and whose limits admit it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Caller {
    pub user: Uuid,
    pub quota: Quota,
}

/// The MCP server: the node's state, and (over stdio) the one caller.
#[derive(Clone)]
pub(crate) struct Tools {
    st: ApiState,
    fixed: Option<Caller>,
}

impl Tools {
    /// The caller of this request: stdio's, or the one [`admit`] put in the
    /// HTTP request's extensions.
    fn caller(&self, ctx: &RequestContext<RoleServer>) -> Result<Caller, ErrorData> {
        let from_http = || ctx.extensions.get::<axum::http::request::Parts>()?.extensions.get::<Caller>().copied();
        self.fixed.or_else(from_http).ok_or_else(|| ErrorData::internal_error("a tool call without a caller", None))
    }
}

impl ServerHandler for Tools {
    fn get_info(&self) -> ServerConfig {
        let mut info = ServerConfig::new(ServerCapabilities::builder().enable_tools().build());
        info.server_info = Implementation::new("execbox", env!("CARGO_PKG_VERSION"));
        info.instructions = Some(
            "Runs code in hardened containers. list_languages says what runs here; run_code runs a program \
             once (its output lines arrive as progress notifications when you pass a progress token); \
             run_tests judges a solution against test cases; get_session and cancel_session act on your \
             earlier sessions by id."
                .into(),
        );
        info
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(tools::list()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        let name: ToolName = name.parse().ok()?;
        tools::list().into_iter().find(|t| t.name == name.as_str())
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let name: ToolName = request.name.parse().map_err(|_| {
            ErrorData::invalid_params(format!("no tool {:?}; tools/list names them", request.name), None)
        })?;
        let caller = self.caller(&ctx)?;
        let args = serde_json::Value::Object(request.arguments.unwrap_or_default());
        Ok(tools::call(&self.st, caller, name, args, &ctx).await.into())
    }
}

/// `/mcp`: MCP's Streamable HTTP transport, stateless, behind [`admit`].
pub(crate) fn router(st: ApiState) -> axum::Router<ApiState> {
    let tools = Tools { st: st.clone(), fixed: None };
    // Host checks guard servers that take no credentials from DNS
    // rebinding; every request here needs a credential in a header, which
    // no page can make a browser send to another origin (open mode is for
    // private networks, as for Piston's routes).
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_max_request_body_bytes(st.cfg.api.max_body_bytes)
        .disable_allowed_hosts();
    let service =
        StreamableHttpService::new(move || Ok(tools.clone()), Arc::new(NeverSessionManager::default()), config);
    axum::Router::new().route_service("/mcp", service).route_layer(axum::middleware::from_fn_with_state(st, admit))
}

/// Lets in a request with credentials (or, in open mode, without), as the
/// user they name; a 401 with `WWW-Authenticate` otherwise.
async fn admit(State(st): State<ApiState>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let caller = async {
        let caller = PistonCaller::from_request_parts(&mut parts, &st).await?;
        let user = sessions::acting_user(caller.principal(), sessions::named_user(&parts.headers)?)?;
        Ok::<_, super::error::ApiError>(Caller { user, quota: caller.quota() })
    };
    match caller.await {
        Ok(caller) => {
            parts.extensions.insert(caller);
            next.run(Request::from_parts(parts, body)).await
        }
        Err(e) => e.into_response(),
    }
}

/// `execbox mcp`: the same tools over stdin and stdout, acting as `user`,
/// until the client closes them.
pub(crate) async fn stdio(st: ApiState, user: Uuid) -> anyhow::Result<()> {
    let tools = Tools { st, fixed: Some(Caller { user, quota: Quota::PerUser }) };
    let running = tools.serve(rmcp::transport::stdio()).await?;
    running.waiting().await?;
    Ok(())
}
