// The playground page as a newcomer uses it, in Debian's Chromium driven by
// playwright-core: signed in from its URL, a run whose first line shows
// before the session ends, stdin, a cancel, a C++ compile error, reopening a
// past session, the keyboard alone with stdout and stderr told apart, the
// sign-in field (a refused token in the URL or typed in), a narrow window,
// and no request outside the page's origin, sent or blocked. Screenshots of each state go to the directory given.
//
//   node playground.mjs <base URL> <access token> <screenshot dir>
//
// Prints one JSON line per step ({"step", ...facts}); exits non-zero with
// the failed check on stderr.

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const [base, token, shots] = process.argv.slice(2);
assert.ok(base && token && shots, 'usage: playground.mjs <base URL> <token> <screenshot dir>');
mkdirSync(shots, { recursive: true });
const origin = new URL(base).origin;
const T = 60_000;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', '--disable-quic'],
});

const elsewhere = [];
function watch(page) {
  page.on('request', (r) => { if (new URL(r.url()).origin !== origin) elsewhere.push(r.url()); });
  page.on('websocket', (ws) => {
    const u = new URL(ws.url());
    if (u.host !== new URL(origin).host) elsewhere.push(ws.url());
  });
  page.on('pageerror', (e) => { console.error(`page error: ${e.message}`); process.exitCode = 1; });
  // A request the page's policy blocked is never sent, so it is seen here.
  page.on('console', (m) => {
    console.error(`page console ${m.type()}: ${m.text()}`);
    if (m.text().startsWith('csp-violation') || m.text().startsWith('Refused to')) elsewhere.push(m.text());
  });
  page.on('response', (r) => { if (r.status() >= 400) console.error(`${r.status()} ${r.request().method()} ${r.url()}`); });
}

const say = (step, facts = {}) => console.log(JSON.stringify({ step, ...facts }));
const shot = (page, name) => page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });

async function ready(page) {
  await page.waitForSelector('body[data-ready="true"]', { timeout: T });
}

/// Replaces the editor's text as a user would: select all, then type it
/// in one input (no auto-indent, no closed brackets).
async function setCode(page, text) {
  await page.getByTestId('code').click();
  await page.keyboard.press('Control+A');
  await page.keyboard.insertText(text);
}

async function choose(page, language) {
  await page.getByTestId('language').selectOption(language);
}

const status = (page) => page.getByTestId('status').textContent();
const output = (page) => page.getByTestId('output').textContent();
const field = (page, name) => page.locator(`[data-testid="outcome"] dd[data-field="${name}"]`).textContent();

async function waitStatus(page, wanted) {
  await page.waitForFunction(
    (w) => document.querySelector('[data-testid="status"]').dataset.status === w, wanted, { timeout: T });
}

async function waitOutput(page, text) {
  await page.waitForFunction(
    (t) => document.querySelector('[data-testid="output"]').textContent.includes(t), text, { timeout: T });
}

const newContext = async (options) => {
  const c = await browser.newContext(options);
  await c.addInitScript(() => document.addEventListener('securitypolicyviolation',
    (e) => console.error(`csp-violation ${e.violatedDirective} ${e.blockedURI}`)));
  return c;
};
const context = await newContext({ viewport: { width: 1400, height: 900 } });
const page = await context.newPage();
watch(page);

// Signed in from the address the dev banner prints; the token leaves it.
await page.goto(`${base}/?access_token=${encodeURIComponent(token)}`);
await ready(page);
assert.ok(!page.url().includes('access_token'), `the token stays in the address bar: ${page.url()}`);
assert.equal(await page.getByTestId('token').isVisible(), false, 'signed in, the sign-in field is hidden');
const languages = await page.getByTestId('language').locator('option').evaluateAll((os) => os.map((o) => o.value));
for (const l of ['python', 'cpp']) assert.ok(languages.includes(l), `${l} is offered: ${languages}`);
assert.equal(await page.getByTestId('language').inputValue(), 'python');
assert.match(await page.getByTestId('code').textContent(), /Hello, world!/, 'the Python template');
// Labelled controls, as assistive technology finds them.
for (const label of ['Language', 'Standard input', 'Code']) {
  assert.equal(await page.getByLabel(label, { exact: true }).count(), 1, `one control labelled ${label}`);
}
await shot(page, '1-signed-in');
say('signed-in', { languages: languages.length });

// A line printed, a second later another: the first shows while it runs.
await choose(page, 'python');
await setCode(page, "import time\nprint('first line', flush=True)\ntime.sleep(1)\nprint('second line')\n");
await page.getByTestId('run').click();
await waitOutput(page, 'first line');
const whileRunning = { status: await status(page), output: await output(page) };
await shot(page, '2-streaming');
assert.ok(['pending', 'running'].includes(whileRunning.status), `still running: ${JSON.stringify(whileRunning)}`);
assert.ok(!whileRunning.output.includes('second line'), `the second line is not out yet: ${whileRunning.output}`);
assert.equal(await page.getByTestId('cancel').isEnabled(), true, 'a running session can be cancelled');
await waitStatus(page, 'completed');
assert.equal(await output(page), 'first line\nsecond line\n');
assert.equal(await field(page, 'exit-code'), '0');
assert.equal(await field(page, 'end-reason'), 'exit');
assert.match(await field(page, 'duration'), /^\d+(\.\d+)? (ms|s)$/);
assert.match(await field(page, 'cpu-time'), /^\d+(\.\d+)? (ms|s)$/);
assert.match(await field(page, 'memory'), /^\d+(\.\d+)? (KiB|MiB)$/);
const streamed = await page.getByTestId('output').getAttribute('data-session-id');
await shot(page, '3-completed');
say('streamed', { whileRunning, session: streamed });

// Standard input, and Ctrl+Enter from the editor.
await setCode(page, "name = input()\nprint(f'hello {name}')\n");
await page.getByTestId('stdin').fill('execbox\n');
await page.getByTestId('code').click();
await page.keyboard.press('Control+Enter');
await waitStatus(page, 'completed');
assert.equal(await output(page), 'hello execbox\n');
say('stdin');

// A long run, cancelled.
await page.getByTestId('stdin').fill('');
await setCode(page, "import time\nprint('waiting', flush=True)\ntime.sleep(600)\n");
await page.getByTestId('run').click();
await waitOutput(page, 'waiting');
await page.getByTestId('cancel').click();
await waitStatus(page, 'cancelled');
assert.equal(await field(page, 'end-reason'), 'cancelled');
const cancelled = await page.getByTestId('output').getAttribute('data-session-id');
await shot(page, '4-cancelled');
say('cancelled', { session: cancelled });

// A C++ compile error, with the compiler's message, in the compile stage.
await choose(page, 'cpp');
assert.match(await page.getByTestId('code').textContent(), /Hello, world!/, 'the C++ template replaced Python\'s');
await setCode(page, 'int main() {\n    return undefined_variable;\n}\n');
await page.getByTestId('run').click();
await waitStatus(page, 'failed');
assert.equal(await field(page, 'end-reason'), 'compile_error');
const compiler = await page.locator('[data-testid="output"] [data-stage="compile"]:not(.stage)').allTextContents();
assert.ok(compiler.join('').includes('undefined_variable'), `the compiler's message: ${compiler}`);
assert.equal(await page.locator('[data-testid="output"] .stage[data-stage="compile"]').count(), 1, 'a compile header');
const compileError = await page.getByTestId('output').getAttribute('data-session-id');
await shot(page, '5-compile-error');
say('compile-error', { session: compileError });

// Reopened from the list after a reload: its code, its language, its logs.
await page.reload();
await ready(page);
assert.equal(await page.getByTestId('token').isVisible(), false, 'still signed in after a reload');
const entry = page.locator(`button[data-session-id="${streamed}"]`);
await entry.waitFor({ timeout: T });
await entry.click();
await waitStatus(page, 'completed');
await waitOutput(page, 'second line');
assert.equal(await output(page), 'first line\nsecond line\n');
assert.equal(await page.getByTestId('language').inputValue(), 'python');
assert.match(await page.getByTestId('code').textContent(), /print\('first line', flush=True\)/);
assert.equal(await field(page, 'end-reason'), 'exit');
await shot(page, '6-reopened');
say('reopened');

// The keyboard alone: Tab from the picker to Run and into the editor, Esc
// then Tab out of it to stdin, Enter on Run; stderr told apart from stdout.
await page.getByTestId('language').focus();
await page.keyboard.press('Tab');
const focused = () => page.evaluate(() => document.activeElement.closest('#editor') ? 'editor' : document.activeElement.id);
assert.equal(await focused(), 'run', 'Tab from the picker reaches Run');
await page.keyboard.press('Tab');
assert.equal(await focused(), 'editor', 'then the editor (Cancel is disabled)');
await page.keyboard.press('Control+A');
await page.keyboard.insertText("import sys\nline = input()\nprint(line[::-1])\nprint('to stderr', file=sys.stderr)\n");
await page.keyboard.press('Escape');
await page.keyboard.press('Tab');
assert.equal(await focused(), 'stdin', 'Esc then Tab leaves the editor');
await page.keyboard.insertText('olleh\n');
await page.getByTestId('language').focus();
await page.keyboard.press('Tab');
await page.keyboard.press('Enter');
await waitStatus(page, 'completed');
const streams = await page.locator('[data-testid="output"] span[data-stream]').evaluateAll((spans) => spans.map(
  (s) => ({ stream: s.dataset.stream, text: s.textContent, color: getComputedStyle(s).color })));
assert.deepEqual(streams.map(({ stream, text }) => [stream, text]), [['stdout', 'hello\n'], ['stderr', 'to stderr\n']]);
assert.notEqual(streams[0].color, streams[1].color, 'stderr looks unlike stdout');
await shot(page, '7-keyboard');
say('keyboard', { session: await page.getByTestId('output').getAttribute('data-session-id') });

// A narrow window: nothing wider than the screen.
await page.setViewportSize({ width: 380, height: 800 });
const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
assert.ok(overflow <= 0, `the page is ${overflow}px wider than a narrow window`);
await shot(page, '8-narrow');
say('narrow');

// A refused token in the address: the sign-in field says so, and the
// token leaves the address bar all the same.
const refused = await (await newContext({ viewport: { width: 1200, height: 800 } })).newPage();
watch(refused);
await refused.goto(`${base}/?access_token=not-a-token`);
await ready(refused);
assert.ok(!refused.url().includes('access_token'), `the token stays in the address bar: ${refused.url()}`);
assert.equal(await refused.getByTestId('token').isVisible(), true, 'the sign-in field for a refused token');
assert.match(await refused.locator('#signin-error').textContent(), /refused/);
assert.equal(await refused.getByTestId('run').isDisabled(), true, 'nothing runs with a refused token');
await shot(refused, '9-refused-in-url');
say('refused-in-url');

// Without a token: the sign-in field; a bad token is refused there.
const fresh = await (await newContext({ viewport: { width: 1200, height: 800 } })).newPage();
watch(fresh);
await fresh.goto(`${base}/`);
await ready(fresh);
assert.equal(await fresh.getByTestId('token').isVisible(), true, 'the sign-in field without a token');
assert.equal(await fresh.getByTestId('run').isDisabled(), true, 'nothing runs signed out');
await fresh.getByTestId('token').fill('not-a-token');
await fresh.getByTestId('signin').click();
await fresh.waitForFunction(() => document.getElementById('signin-error').textContent.includes('refused'), null, { timeout: T });
assert.equal(await fresh.getByTestId('token').isVisible(), true);
await shot(fresh, '10-refused');
await fresh.getByTestId('token').fill(token);
await fresh.getByTestId('signin').click();
await fresh.getByTestId('token').waitFor({ state: 'hidden', timeout: T });
assert.equal(await fresh.getByTestId('run').isEnabled(), true);
await fresh.locator(`button[data-session-id="${streamed}"]`).waitFor({ timeout: T });
say('sign-in');

assert.deepEqual(elsewhere, [], 'requests outside the page\'s origin');
say('same-origin');
await browser.close();
