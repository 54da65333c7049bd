// Opens an address in Debian's Chromium (playwright-core) and says what the
// playground shows there: whether it is signed in, the sessions it lists,
// and the address once the page has read its token.
//
//   node open-signed-in.mjs <URL>   →   {"signedIn", "sessions", "url", "languages"}

import { chromium } from 'playwright-core';

const [url] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
});
try {
  const page = await browser.newPage();
  await page.goto(url);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
  const signedIn = !(await page.getByTestId('token').isVisible());
  const sessions = await page.locator('[data-testid="sessions"] button').count();
  const languages = await page.getByTestId('language').locator('option').count();
  console.log(JSON.stringify({ signedIn, sessions, languages, url: page.url() }));
} finally {
  await browser.close();
}
