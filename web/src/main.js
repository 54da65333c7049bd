// The playground: a frontend of execbox's own API, written as any frontend
// would be. It runs code with POST /api/run-backend, streams the session's
// rows from its log socket (/api/run-backend/ws/{id}), cancels with
// POST /api/sessions/{id}/cancel and lists the user's sessions with
// GET /api/sessions. Every request goes to the page's own origin.

import { createEditor } from './editor.js';

const TOKEN_KEY = 'execbox.token';
const $ = (id) => document.getElementById(id);

/// A request the API refused, with its status and message.
class ApiError extends Error {
  constructor(status, message, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/// The credential: from `?access_token=` (or `#access_token=`) once, which
/// then leaves the address bar, else what this tab signed in with.
function takeToken() {
  const url = new URL(window.location.href);
  const fragment = new URLSearchParams(url.hash.slice(1));
  const given = url.searchParams.get('access_token') ?? fragment.get('access_token');
  if (url.searchParams.has('access_token') || fragment.has('access_token')) {
    url.searchParams.delete('access_token');
    fragment.delete('access_token');
    const hash = fragment.toString();
    window.history.replaceState(null, '', url.pathname + url.search + (hash ? `#${hash}` : ''));
    if (given) sessionStorage.setItem(TOKEN_KEY, given);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

let token = takeToken();

async function api(method, path, body) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { /* not JSON: the text is the message */ }
  if (!resp.ok) {
    if (resp.status === 401) signedOut('That token was refused: ' + (data?.message ?? resp.statusText));
    throw new ApiError(resp.status, data?.message ?? (text || resp.statusText), data?.code);
  }
  return data;
}

// ---- signing in ------------------------------------------------------

function signedOut(why) {
  token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  $('signin').hidden = false;
  $('who').hidden = true;
  $('signin-error').textContent = why ?? '';
  $('run').disabled = true;
}

function signedIn() {
  $('signin').hidden = true;
  $('who').hidden = false;
  $('signin-error').textContent = '';
  $('run').disabled = running !== null;
}

$('signin').addEventListener('submit', async (e) => {
  e.preventDefault();
  token = $('token').value.trim();
  if (!token) return;
  sessionStorage.setItem(TOKEN_KEY, token);
  $('token').value = '';
  if (await loadSessions()) signedIn();
});

$('signout').addEventListener('click', () => signedOut());

// ---- languages and templates -----------------------------------------

let templates = {};
const editor = createEditor($('editor'), { onRun: () => run(), label: 'Code' });

function template(language) {
  return templates[language] ?? '';
}

/// What was written in each language this visit: switching languages keeps
/// each one's code, starting from its template.
const drafts = {};

function pickLanguage(language, { keepCode = false } = {}) {
  const select = $('language');
  const previous = select.dataset.current;
  if (previous) drafts[previous] = editor.code;
  if ([...select.options].some((o) => o.value === language)) select.value = language;
  select.dataset.current = select.value;
  editor.setLanguage(select.value);
  if (!keepCode) editor.code = drafts[select.value] ?? template(select.value);
}

async function loadLanguages() {
  const [runtimes, tpl] = await Promise.all([api('GET', '/api/v2/runtimes'), api('GET', '/assets/templates.json')]);
  templates = tpl;
  const select = $('language');
  select.replaceChildren(...runtimes.map((rt) => {
    const o = document.createElement('option');
    o.value = rt.language;
    o.textContent = `${rt.language} ${rt.version}`;
    return o;
  }));
  if (runtimes.length === 0) {
    setStatus('error', 'no worker is running any language right now');
    return;
  }
  pickLanguage(runtimes.some((rt) => rt.language === 'python') ? 'python' : runtimes[0].language);
}

$('language').addEventListener('change', () => pickLanguage($('language').value));

// ---- output ----------------------------------------------------------

const output = $('output');
let lastStage = null;

/// The status shown: the session's, or `idle` and `loading` of the page's
/// own; an ended status only once the session's rows and outcome are shown.
function setStatus(status, detail) {
  const el = $('status');
  el.textContent = status;
  el.dataset.status = status;
  el.title = detail ?? '';
}

function clearOutput() {
  output.replaceChildren();
  lastStage = null;
  $('outcome').hidden = true;
  $('outcome').replaceChildren();
}

function appendRow(row) {
  // A header where the stage changes (the compiler's output, then the run).
  if (row.stage !== lastStage && (row.stage === 'compile' || lastStage === 'compile')) {
    const h = document.createElement('span');
    h.className = 'stage';
    h.dataset.stage = row.stage;
    h.textContent = row.stage === 'compile' ? 'compile\n' : 'run\n';
    output.append(h);
  }
  lastStage = row.stage;
  const span = document.createElement('span');
  span.className = row.stream;
  span.dataset.stream = row.stream;
  span.dataset.stage = row.stage;
  span.textContent = row.message + (row.newline === false ? '' : '\n');
  const atEnd = output.scrollTop + output.clientHeight >= output.scrollHeight - 4;
  output.append(span);
  if (atEnd) output.scrollTop = output.scrollHeight;
}

function fmtMs(ms) {
  if (ms == null) return null;
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`;
}

function fmtKb(kb) {
  if (kb == null) return null;
  return kb >= 1024 ? `${(kb / 1024).toFixed(1)} MiB` : `${kb} KiB`;
}

function showOutcome(s) {
  setStatus(s.status, s.error ?? '');
  const run = s.usage?.run;
  const compile = s.usage?.compile;
  const rows = [
    ['Status', s.status],
    ['Exit code', s.exitCode],
    ['End reason', s.endReason],
    ['Duration', fmtMs(s.durationMs)],
    ['CPU time', fmtMs(run?.cpuMs)],
    ['Memory', fmtKb(run?.memoryKb)],
    ['Compile', compile ? `${fmtMs(compile.wallMs)}, CPU ${fmtMs(compile.cpuMs)}` : null],
    ['Error', s.error],
  ];
  const dl = $('outcome');
  dl.replaceChildren();
  for (const [name, value] of rows) {
    if (value == null || value === '') continue;
    const dt = document.createElement('dt');
    dt.textContent = name;
    const dd = document.createElement('dd');
    dd.textContent = String(value);
    dd.dataset.field = name.toLowerCase().replace(/ /g, '-');
    dl.append(dt, dd);
  }
  dl.hidden = false;
}

// ---- running and following a session ---------------------------------

/// The session shown now: its id and its socket.
let running = null;

function busy(on) {
  $('run').disabled = on || !token;
  $('cancel').disabled = !on;
}

function follow(id) {
  const proto = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(
    `${proto}//${window.location.host}/api/run-backend/ws/${id}?access_token=${encodeURIComponent(token)}`,
  );
  const me = { id, ws, done: false };
  running = me;
  output.dataset.sessionId = id;
  busy(true);
  ws.addEventListener('message', (ev) => {
    if (running !== me) return;
    const m = JSON.parse(ev.data);
    if (m.type === 'log') {
      if ($('status').dataset.status === 'pending') setStatus('running');
      appendRow(m);
    } else if (m.type === 'execution_complete') {
      me.done = true;
      finished(me);
    }
  });
  ws.addEventListener('close', () => {
    // Closed early (the server restarted, the network went): say so, and
    // show what the session says of itself.
    if (running === me && !me.done) finished(me);
  });
}

async function finished(me) {
  running = null;
  busy(false);
  try { me.ws.close(); } catch { /* already closed */ }
  try {
    showOutcome(await api('GET', `/api/sessions/${me.id}`));
  } catch (e) {
    setStatus('error', e.message);
  }
  loadSessions();
}

async function run() {
  if (running || !token) return;
  clearOutput();
  setStatus('pending');
  busy(true);
  const stdin = $('stdin').value;
  try {
    const created = await api('POST', '/api/run-backend', {
      language: $('language').value,
      code: editor.code,
      ...(stdin ? { stdin } : {}),
    });
    // An ended status shows once its rows and outcome do (the socket's end).
    setStatus(created.status === 'pending' ? 'pending' : 'running');
    follow(created.sessionId);
    loadSessions();
  } catch (e) {
    busy(false);
    setStatus('error', e.message);
    appendRow({ stream: 'system', stage: 'run', message: e.message });
  }
}

async function cancel() {
  if (!running) return;
  $('cancel').disabled = true;
  try {
    await api('POST', `/api/sessions/${running.id}/cancel`);
  } catch (e) {
    appendRow({ stream: 'system', stage: 'run', message: `cancel refused: ${e.message}` });
    $('cancel').disabled = false;
  }
}

$('run').addEventListener('click', () => run());
$('cancel').addEventListener('click', () => cancel());

// ---- recent sessions -------------------------------------------------

function firstLine(code) {
  const line = (code ?? '').split('\n').find((l) => l.trim() !== '') ?? '';
  return line.length > 48 ? `${line.slice(0, 47)}…` : line;
}

/// Lists the user's recent sessions; false if the token was refused.
async function loadSessions() {
  if (!token) return false;
  let list;
  try {
    list = await api('GET', '/api/sessions?limit=20');
  } catch {
    return false;
  }
  signedIn();
  const ul = $('sessions');
  ul.replaceChildren(...list.map((s) => {
    const li = document.createElement('li');
    const b = document.createElement('button');
    b.type = 'button';
    b.dataset.sessionId = s.id;
    b.className = 'session';
    const when = new Date(s.createdAt).toLocaleTimeString();
    const head = document.createElement('span');
    head.className = 'session-head';
    head.textContent = `${s.language} · ${s.status} · ${when}`;
    const code = document.createElement('code');
    code.textContent = firstLine(s.code);
    b.append(head, code);
    b.setAttribute('aria-label', `Reopen the ${s.language} session of ${when}, ${s.status}`);
    b.addEventListener('click', () => reopen(s.id));
    li.append(b);
    return li;
  }));
  $('sessions-empty').hidden = list.length > 0;
  return true;
}

async function reopen(id) {
  if (running) running.ws.close();
  running = null;
  let s;
  try {
    s = await api('GET', `/api/sessions/${id}`);
  } catch (e) {
    setStatus('error', e.message);
    return;
  }
  pickLanguage(s.language, { keepCode: true });
  editor.code = s.code;
  $('stdin').value = s.stdin ?? '';
  clearOutput();
  setStatus(['pending', 'running'].includes(s.status) ? s.status : 'loading');
  // The socket sends every row written so far, then live ones, then the end.
  follow(id);
}

// ---- start -----------------------------------------------------------

async function start() {
  if (token) {
    if (!(await loadSessions())) signedOut($('signin-error').textContent || 'Sign in to run code.');
  } else {
    signedOut('Sign in to run code.');
  }
  try {
    await loadLanguages();
  } catch (e) {
    setStatus('error', `cannot list the languages: ${e.message}`);
  }
  document.body.dataset.ready = 'true';
}

start();
