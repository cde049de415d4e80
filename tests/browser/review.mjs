// The review page in a real browser: Debian's headless Chromium driven by playwright-core.
// Run by tests/review_browser.rs, which starts `hallpass serve`, adds the user and sends the
// messages. Signs in, filters the queue, opens the held message, releases it, opens a held
// message with hostile HTML and checks that no script ran and no remote request was made.
// Screenshots go to $SHOTS. Exits non-zero with a message on the first failed check.
import { chromium } from 'playwright-core';

const BASE = process.env.BASE;
const USER = process.env.REVIEW_USER;
const PASS = process.env.REVIEW_PASS;
const SHOTS = process.env.SHOTS;
const CLEAN_SUBJECT = process.env.CLEAN_SUBJECT;
const HOSTILE_SUBJECT = process.env.HOSTILE_SUBJECT;

function check(cond, what) {
  if (!cond) {
    throw new Error(`check failed: ${what}`);
  }
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
let failed = null;
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const foreign = [];
  const dialogs = [];
  const consoleErrors = [];
  page.on('request', (r) => { if (!r.url().startsWith(BASE)) foreign.push(r.url()); });
  page.on('dialog', async (d) => { dialogs.push(d.message()); await d.dismiss(); });
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });

  // Every page but sign-in sends us to sign in.
  await page.goto(`${BASE}/queue`);
  check(page.url().endsWith('/signin'), `unsigned /queue goes to /signin (at ${page.url()})`);
  await page.screenshot({ path: `${SHOTS}/01-signin.png` });

  // A wrong password is refused with a message.
  await page.fill('#username', USER);
  await page.fill('#password', 'not the password');
  await page.click('button[type=submit]');
  check((await page.textContent('[role=alert]')).includes('do not match'), 'wrong password refused');

  consoleErrors.length = 0; // the 401 of the wrong password was expected
  await page.fill('#username', USER);
  await page.fill('#password', PASS);
  await page.click('button[type=submit]');
  await page.waitForURL(`${BASE}/`);
  check((await page.textContent('h1')).includes('Dashboard'), 'dashboard after sign-in');
  check(await page.locator('svg.chart').count() >= 4, 'dashboard charts rendered');
  await page.screenshot({ path: `${SHOTS}/02-dashboard.png`, fullPage: true });

  // The queue, filtered by finding kind with the keyboard-usable form.
  await page.click('nav >> text=Queue');
  await page.selectOption('select[name=kind]', 'bulk_pupil_data');
  await page.click('form.filters button[type=submit]');
  await page.waitForURL(/kind=bulk_pupil_data/);
  const rows = page.locator('table.queue tbody tr');
  check(await rows.count() === 2, `two held items with bulk pupil data (saw ${await rows.count()})`);
  await page.screenshot({ path: `${SHOTS}/03-queue.png`, fullPage: true });

  // The hostile one: shown as text, nothing ran, nothing remote was fetched.
  await page.click(`table.queue tr:has-text("${HOSTILE_SUBJECT}") a[href^="/item/"]`);
  await page.waitForSelector('h2:text("Findings")');
  check(dialogs.length === 0, `no dialog opened (saw ${dialogs.join(', ')})`);
  check(!(await page.title()).includes('pwned'), 'the held message script did not run');
  check(await page.evaluate(() => window.hallpassPwned === undefined), 'no global set by the message');
  check(await page.locator('img').count() === 0, 'no image element from the message');
  check((await page.locator('pre').first().textContent()).includes('As requested'), 'the HTML part shown as text');
  check(await page.locator('mark').count() > 0, 'matched words highlighted');
  await page.screenshot({ path: `${SHOTS}/04-hostile-item.png`, fullPage: true });
  check(foreign.length === 0, `no request left the review page (saw ${foreign.join(', ')})`);

  // The clean-looking class list: open it and release it.
  await page.goBack();
  await page.click(`table.queue tr:has-text("${CLEAN_SUBJECT}") a[href^="/item/"]`);
  await page.waitForSelector('#release');
  const reference = (await page.textContent('h1')).trim().split(/\s+/)[0];
  await page.screenshot({ path: `${SHOTS}/05-item.png`, fullPage: true });
  await page.click('#release');
  await page.waitForSelector('[role=status]');
  check((await page.textContent('[role=status]')).includes('was released'), 'release confirmed');
  await page.screenshot({ path: `${SHOTS}/06-released.png` });

  // The audit log shows the view and the release.
  await page.click('nav >> text=Audit log');
  const audit = await page.textContent('table');
  check(audit.includes('released') && audit.includes(reference), 'release in the audit log');
  check(audit.includes('viewed'), 'view in the audit log');
  await page.screenshot({ path: `${SHOTS}/07-audit.png`, fullPage: true });
  check(foreign.length === 0, `no request left the review page (saw ${foreign.join(', ')})`);
  check(consoleErrors.length === 0, `no console errors (saw ${consoleErrors.join(' | ')})`);
  console.log(`released ${reference}`);
} catch (e) {
  failed = e;
} finally {
  await browser.close();
}
if (failed) {
  console.error(failed.message || failed);
  process.exit(1);
}
