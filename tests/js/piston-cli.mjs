// A Piston CLI user, for the suite. Piston's CLI (engineer-man/piston,
// cli/, 1.1.0) is not on a registry, so this drives the same client
// libraries it uses (axios 0.21 with only `Content-Type: application/json`
// set, ws 7) with the requests it makes, field for field:
//
//   run:         POST <url>/api/v2/execute
//                {language, version: '*', files, args: [], stdin: '',
//                 compile_timeout: 10000, run_timeout: 3000}
//   interactive: ws <url with http→ws>/api/v2/connect, then
//                {type: 'init', language, version: '*', files, args: [],
//                 compile_timeout: 10000, run_timeout: 3000}
//                and each chunk of its stdin as
//                {type: 'data', stream: 'stdin', data}; never an EOF.
//
// files: each path given, extra files first and the main file last, as
// {name: basename, content, encoding: 'utf8'} ('base64' when the bytes are
// not UTF-8). No credentials are sent.
//
// usage: node piston-cli.mjs <url> run|interactive <language> <file> [--stdin] [extra files...]
// prints the response (run) or the socket's messages (interactive) as JSON
// lines on stdout; exits 3 when the server refuses the request.
import fs from 'node:fs';
import path from 'node:path';
import axios from 'axios';
import WebSocket from 'ws';

const [url, mode, language, file, ...rest] = process.argv.slice(2);
const readStdin = rest.includes('--stdin');
const extra = rest.filter((a) => a !== '--stdin');

const files = [...extra, file].map((p) => {
  const bytes = fs.readFileSync(p);
  const encoding = bytes.toString().includes('\uFFFD') ? 'base64' : 'utf8';
  return { name: path.basename(p), content: bytes.toString(encoding), encoding };
});
const out = (v) => process.stdout.write(JSON.stringify(v) + '\n');

async function run() {
  const stdin = readStdin
    ? await new Promise((resolve) => {
        let data = '';
        process.stdin.on('data', (d) => (data += d));
        process.stdin.on('end', () => resolve(data));
      })
    : '';
  const client = axios.create({ baseURL: url, headers: { 'Content-Type': 'application/json' } });
  const request = { language, version: '*', files, args: [], stdin, compile_timeout: 10000, run_timeout: 3000 };
  try {
    const { data } = await client.post('/api/v2/execute', request);
    out({ response: data });
  } catch (e) {
    if (!e.response) throw e;
    out({ status: e.response.status, body: e.response.data, retryAfter: e.response.headers['retry-after'] ?? null });
    process.exit(3);
  }
}

function interactive() {
  const ws = new WebSocket(url.replace('http', 'ws') + '/api/v2/connect');
  ws.on('unexpected-response', (_req, res) => {
    let body = '';
    res.on('data', (d) => (body += d));
    res.on('end', () => {
      out({ status: res.statusCode, body: JSON.parse(body) });
      process.exit(3);
    });
  });
  ws.on('open', () => {
    ws.send(JSON.stringify({ type: 'init', language, version: '*', files, args: [], compile_timeout: 10000, run_timeout: 3000 }));
    process.stdin.resume();
    process.stdin.on('data', (data) => ws.send(JSON.stringify({ type: 'data', stream: 'stdin', data: data.toString() })));
  });
  ws.on('message', (data) => out({ message: JSON.parse(data) }));
  ws.on('close', (code, reason) => {
    out({ close: code, reason: reason.toString() });
    process.stdin.pause();
    process.exit(0);
  });
}

if (mode === 'run') await run();
else if (mode === 'interactive') interactive();
else {
  console.error(`unknown mode ${mode}`);
  process.exit(2);
}
