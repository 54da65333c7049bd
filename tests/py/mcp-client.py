"""The MCP Python SDK's client, unchanged, against execbox: over
Streamable HTTP (/mcp) or over stdio (`execbox mcp`). Reads a plan on
stdin and prints what the client saw, for tests/it/mcp.rs to check:

  in:  {"url"?, "token"?, "stdio"?: {"command", "args", "env"}, "concurrent"?,
        "calls": [{"tool", "arguments", "progress"?}]}
  out: {"tools": [{"name", "inputSchema"}], "calls": [{"isError", "structured",
        "text", "progress": [{"progress", "message"}], "thrown"?}]} or {"connectError"}
"""

import asyncio
import json
import sys
from contextlib import AsyncExitStack

import httpx2
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client


async def call(session, plan_call):
    seen = []

    async def on_progress(progress, total, message):
        seen.append({"progress": progress, "message": message})

    try:
        r = await session.call_tool(
            plan_call["tool"],
            plan_call.get("arguments"),
            read_timeout_seconds=300,
            progress_callback=on_progress if plan_call.get("progress") else None,
        )
        text = "".join(c.text for c in r.content if c.type == "text")
        return {"isError": bool(r.is_error), "structured": r.structured_content, "text": text, "progress": seen}
    except Exception as e:  # what the client raised is what the test checks
        return {"thrown": str(e), "progress": seen}


async def main():
    plan = json.loads(sys.stdin.read())
    async with AsyncExitStack() as stack:
        try:
            if "stdio" in plan:
                s = plan["stdio"]
                params = StdioServerParameters(command=s["command"], args=s["args"], env=s.get("env"))
                read, write = await stack.enter_async_context(stdio_client(params))
            else:
                headers = {"Authorization": f"Bearer {plan['token']}"} if plan.get("token") else {}
                http = await stack.enter_async_context(httpx2.AsyncClient(headers=headers, timeout=300))
                read, write = await stack.enter_async_context(streamable_http_client(plan["url"], http_client=http))
            session = await stack.enter_async_context(ClientSession(read, write))
            await session.initialize()
        except BaseException as e:  # an ExceptionGroup from the task group, too
            print(json.dumps({"connectError": repr(e)}))
            return
        tools = (await session.list_tools()).tools
        if plan.get("concurrent"):
            calls = await asyncio.gather(*(call(session, c) for c in plan["calls"]))
        else:
            calls = [await call(session, c) for c in plan["calls"]]
        print(json.dumps({"tools": [{"name": t.name, "inputSchema": t.input_schema} for t in tools], "calls": calls}))


asyncio.run(main())
