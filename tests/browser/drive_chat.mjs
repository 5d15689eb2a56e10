// Drives the browser chat example in headless Chromium (Debian's, via playwright-core) as two users.
// Usage: node drive_chat.mjs <page url> <screenshot.png>
// Prints one JSON line per step ({"step": ...}) and a final {"result": {...}}; exit 0 on success,
// 1 with {"failed": "..."} when a step fails or times out. Never downloads a browser.
import { createRequire } from 'node:module';

const require = createRequire(new URL('../node/package.json', import.meta.url));
const { chromium } = require('playwright-core');

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const STEP_TIMEOUT_MS = 15000;
const TOTAL_TIMEOUT_MS = Number(process.env.BROWSER_CHAT_TIMEOUT_MS ?? 90000);
// Playwright adds --user-data-dir itself (a fresh profile under TMPDIR, removed on close).
const FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

const [pageUrl, screenshotPath] = process.argv.slice(2);
const log = obj => console.log(JSON.stringify(obj));
const step = (name, data = {}) => log({ step: name, ...data });

const watchdog = setTimeout(() => {
  log({ failed: `browser chat did not finish within ${TOTAL_TIMEOUT_MS} ms` });
  process.exit(1);
}, TOTAL_TIMEOUT_MS);

/** A user: an isolated browser context (own localStorage) with one page on the chat. */
async function openUser(browser, label, problems) {
  const context = await browser.newContext({ viewport: { width: 960, height: 640 } });
  context.setDefaultTimeout(STEP_TIMEOUT_MS);
  const page = await context.newPage();
  page.on('pageerror', err => problems.push(`${label}: page error: ${err.message}`));
  page.on('console', msg => { if (msg.type() === 'error') problems.push(`${label}: console: ${msg.text()}`); });
  await page.goto(pageUrl);
  await page.waitForSelector('body[data-state="connected"]');
  step('connected', { user: label, identity: await identityOf(page) });
  return page;
}

const identityOf = page => page.evaluate(() => document.body.dataset.identity);

async function submit(page, form, text) {
  await page.fill(`#${form} input`, text);
  await page.click(`#${form} button`);
}

/** Wait until the page's list `#id` has an item whose text contains `text`. */
async function waitForItem(page, id, text) {
  await page.waitForFunction(
    ([listId, want]) => [...document.querySelectorAll(`#${listId} li`)].some(li => li.textContent.includes(want)),
    [id, text],
  );
}

/** Wait until the page shows a message `text` sent by the user named `sender`. */
async function waitForMessage(page, sender, text) {
  await page.waitForFunction(
    ([who, what]) => [...document.querySelectorAll('#messages li')].some(
      li => li.querySelector('.sender')?.textContent === who && li.querySelector('.text')?.textContent === what),
    [sender, text],
  );
}

const listText = (page, id) => page.$$eval(`#${id} li`, lis => lis.map(li => li.textContent));
const messagesOf = page => page.$$eval('#messages li', lis => lis.map(li => ({
  sender: li.querySelector('.sender')?.textContent, text: li.querySelector('.text')?.textContent })));

async function main() {
  const problems = [];
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS, timeout: 30000 });
  try {
    const alice = await openUser(browser, 'alice', problems);
    const bob = await openUser(browser, 'bob', problems);

    await submit(alice, 'name-form', 'alice');
    await submit(bob, 'name-form', 'bob');
    await waitForItem(alice, 'users', 'alice (you)');
    await waitForItem(alice, 'users', 'bob');
    await waitForItem(bob, 'users', 'bob (you)');
    await waitForItem(bob, 'users', 'alice');
    step('named');

    await submit(alice, 'message-form', 'hello from alice');
    await waitForMessage(bob, 'alice', 'hello from alice');
    await submit(bob, 'message-form', 'hi alice');
    await waitForMessage(alice, 'bob', 'hi alice');
    step('messages exchanged');

    // The module refuses an empty name with a SenderError; the page shows its text.
    await submit(alice, 'name-form', '');
    await alice.waitForFunction(() => document.getElementById('error').textContent === 'Names must not be empty');
    step('refusal shown');

    // A reload reconnects with the token kept in localStorage: same identity, same name, the history.
    const before = await identityOf(alice);
    await alice.reload();
    await alice.waitForSelector('body[data-state="connected"]');
    await waitForItem(alice, 'users', 'alice (you)');
    await waitForMessage(alice, 'bob', 'hi alice');
    const after = await identityOf(alice);
    step('reloaded', { same_identity: before === after });

    if (screenshotPath) await bob.screenshot({ path: screenshotPath, fullPage: true });
    const result = {
      identities: { alice: after, bob: await identityOf(bob) },
      identity_kept_on_reload: before === after,
      alice_messages: await messagesOf(alice),
      bob_messages: await messagesOf(bob),
      bob_users: await listText(bob, 'users'),
      bob_status: await bob.textContent('#status'),
      problems: [...problems], // the refused token below logs a failed request on purpose
    };

    // A saved token the server refuses (say its keys were reset) is dropped: the page connects as a new user.
    await bob.evaluate(() => {
      for (const key of Object.keys(localStorage)) {
        if (key.startsWith('spacetimedb-chat:token:')) localStorage.setItem(key, 'not-a-token');
      }
    });
    await bob.reload();
    await bob.waitForSelector('body[data-state="connected"]');
    result.new_identity_after_bad_token = (await identityOf(bob)) !== result.identities.bob;
    step('bad token replaced', { new_identity: result.new_identity_after_bad_token });
    log({ result });
  } finally {
    await browser.close();
  }
}

main().then(
  () => { clearTimeout(watchdog); process.exit(0); },
  err => { log({ failed: String(err?.stack ?? err) }); process.exit(1); },
);
