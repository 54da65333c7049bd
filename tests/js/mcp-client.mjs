// The MCP TypeScript SDK's client, unchanged, against execbox's /mcp
// (Streamable HTTP). Reads a plan on stdin and prints what the client
// saw, for tests/it/mcp.rs to check:
//
//   in:  {"url", "token"?, "concurrent"?, "calls": [{"tool", "arguments", "progress"?,
//         "abortAfterProgress"? (cancel the call at its first progress)}]}
//   out: {"tools": [{"name", "inputSchema"}], "calls": [{"isError", "structured",
//         "text", "progress": [message...], "thrown"?}]} or {"connectError"}
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const read = async () => {
  let text = '';
  for await (const chunk of process.stdin) text += chunk;
  return JSON.parse(text);
};

const plan = await read();
const headers = plan.token ? { Authorization: `Bearer ${plan.token}` } : {};
const transport = new StreamableHTTPClientTransport(new URL(plan.url), { requestInit: { headers } });
const client = new Client({ name: 'execbox-suite-ts', version: '1.0.0' });
try {
  await client.connect(transport);
} catch (e) {
  process.stdout.write(JSON.stringify({ connectError: String(e?.message ?? e) }) + '\n');
  process.exit(0);
}

const call = async ({ tool, arguments: args, progress, abortAfterProgress }) => {
  const seen = [];
  const abort = new AbortController();
  const options = { timeout: 300_000, signal: abort.signal };
  if (progress || abortAfterProgress) {
    options.onprogress = (p) => {
      seen.push({ progress: p.progress, message: p.message ?? null });
      // The agent gives up on the call once it has seen the program run.
      if (abortAfterProgress) abort.abort('enough');
    };
  }
  try {
    const r = await client.callTool({ name: tool, arguments: args }, undefined, options);
    const text = (r.content ?? []).filter((c) => c.type === 'text').map((c) => c.text).join('');
    return { isError: r.isError ?? false, structured: r.structuredContent ?? null, text, progress: seen };
  } catch (e) {
    return { thrown: String(e?.message ?? e), progress: seen };
  }
};

const { tools } = await client.listTools();
const calls = plan.concurrent ? await Promise.all(plan.calls.map(call)) : [];
if (!plan.concurrent) for (const c of plan.calls) calls.push(await call(c));
process.stdout.write(
  JSON.stringify({ tools: tools.map((t) => ({ name: t.name, inputSchema: t.inputSchema })), calls }) + '\n',
);
await client.close();
