// Accounts and secure defaults: sign-up / log-in / log-out through the UI, posting
// needs an identity, hostile text stays text, and an owner's deletion sends everyone home.
import { expect, test, type Browser, type Page, type BrowserContext } from '@playwright/test';
import { BASE_A, BASE_B } from '../playwright.config';
import { collectErrors, openRoom, uniqueSlug, waitForHydration } from './helpers';

// Pages hold a lobby socket and a room connection: close the contexts each test opened, or
// the suite's browsers pile up connections against the server's per-address caps.
const opened: BrowserContext[] = [];
test.afterEach(async () => {
  for (const context of opened.splice(0)) await context.close().catch(() => {});
});


function uniqueName(prefix: string): string {
  return `${prefix}${Date.now().toString(36).slice(-5)}${Math.floor(Math.random() * 1e4)}`;
}

async function signUp(page: Page, username: string, password = 'correct horse') {
  await page.goto('/signup');
  await waitForHydration(page);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page.locator('.viewer-name')).toHaveText(username);
}

/** Fails the test if any script manages to open a dialog (alert, confirm, prompt). */
function forbidDialogs(page: Page) {
  page.on('dialog', async (dialog) => {
    await dialog.dismiss();
    throw new Error(`a script ran: ${dialog.type()} ${dialog.message()}`);
  });
}

test('sign up, log out and log in again through the UI', async ({ page }) => {
  const errors = collectErrors(page, [401]);
  const username = uniqueName('민수');
  await signUp(page, username);
  await expect(page.getByText('Signed in as')).toBeVisible();

  await page.getByRole('button', { name: 'Log out' }).click();
  const header = page.locator('.site-header');
  await expect(header.getByRole('link', { name: 'Log in' })).toBeVisible();
  await expect(page.locator('.viewer-name')).toHaveCount(0);

  await header.getByRole('link', { name: 'Log in' }).click();
  await expect(page).toHaveURL(/\/login\?next=/);
  await waitForHydration(page);
  await page.getByLabel('Username').fill(username.toUpperCase());
  await page.getByLabel('Password').fill('wrong password');
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.locator('.form-error')).toContainText('Wrong username or password');

  await page.getByLabel('Password').fill('correct horse');
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.locator('.viewer-name')).toHaveText(username);
  await expect(page).toHaveURL(/\/$/);
  expect(errors).toEqual([]);
});

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });

  test('sign-up and log-in forms work as plain forms', async ({ page }) => {
    const username = uniqueName('nojs');
    await page.goto('/signup');
    await page.getByLabel('Username').fill('x');
    await page.getByLabel('Password').fill('correct horse');
    await page.getByRole('button', { name: 'Create account' }).click();
    await expect(page.locator('#signup-username-error')).toContainText('3 to 32');

    await page.getByLabel('Username').fill(username);
    await page.getByLabel('Password').fill('correct horse');
    await page.getByRole('button', { name: 'Create account' }).click();
    await expect(page.locator('.viewer-name')).toHaveText(username);

    await page.getByRole('button', { name: 'Log out' }).click();
    await expect(page.locator('.site-header').getByRole('link', { name: 'Log in' })).toBeVisible();
  });
});

test('posting needs an identity: anonymous readers get a log-in link', async ({ browser, page }) => {
  const owner = await browser.newPage();
  await signUp(owner, uniqueName('owner'));
  const slug = uniqueSlug('readers');
  await owner.goto('/');
  await waitForHydration(owner);
  await owner.getByLabel('Slug').fill(slug);
  await owner.getByLabel('Title').fill('Readers welcome');
  await owner.getByRole('button', { name: 'Create room' }).click();
  await expect(owner).toHaveURL(new RegExp(`/rooms/${slug}$`));
  await waitForHydration(owner);

  await openRoom(page, slug);
  const hint = page.locator('.login-hint');
  await expect(hint.getByRole('link', { name: 'Log in' })).toHaveAttribute(
    'href',
    `/login?next=/rooms/${slug}`,
  );
  await expect(page.getByLabel('Message', { exact: true })).toHaveCount(0);

  // The reader still sees messages live.
  const box = owner.getByLabel('Message', { exact: true });
  await box.fill('hello readers');
  await box.press('Enter');
  await expect(page.locator('.messages .message .text').last()).toHaveText('hello readers');
});

test('hostile text in a message, a room title and a name stays text', async ({ page, browser }) => {
  forbidDialogs(page);
  const errors = collectErrors(page);
  const xss = '<img src=x onerror=alert(1)>';
  const sql = "'; DROP TABLE messages; --";
  const slug = uniqueSlug('hostile');

  // A guest name may contain markup (account names may not).
  await page.goto('/');
  await waitForHydration(page);
  await page.getByLabel('Display name').fill(xss);
  await page.getByRole('button', { name: 'Join' }).click();
  await expect(page.locator('.viewer-name')).toHaveText(xss);

  await page.getByLabel('Slug').fill(slug);
  await page.getByLabel('Title').fill(`</title>${xss}`);
  await page.getByRole('button', { name: 'Create room' }).click();
  await expect(page).toHaveURL(new RegExp(`/rooms/${slug}$`));
  await expect(page.getByRole('heading', { level: 1 })).toHaveText(`</title>${xss}`);
  await waitForHydration(page);
  await expect(page.locator('.connection')).toHaveAttribute('data-state', 'live');

  const box = page.getByLabel('Message', { exact: true });
  for (const text of [xss, sql]) {
    await box.fill(text);
    await box.press('Enter');
  }
  const stored = page.locator('.messages li.message:not(.pending)');
  await expect(stored.locator('.text')).toHaveText([xss, sql]);
  await expect(stored.first().locator('.author')).toHaveText(xss);
  await expect(page.locator('.messages img')).toHaveCount(0);

  // Rendered by the server too (a fresh page, no WASM involved yet).
  const other = await browser.newPage();
  forbidDialogs(other);
  await other.goto(`/rooms/${slug}`);
  await expect(other.locator('.messages li.message .text')).toHaveText([xss, sql]);
  await expect(other).toHaveTitle(`</title>${xss} — Parlor`);
  await expect(other.locator('img')).toHaveCount(0);
  expect(errors).toEqual([]);
});

test('deleting a room sends its members on both servers back to the list', async ({ browser }) => {
  test.skip(!process.env.PARLOR_TEST_REDIS_URL, 'needs the second server (make test)');
  const slug = uniqueSlug('doomed');
  const ownerContext = await browser.newContext({ baseURL: BASE_A });
  opened.push(ownerContext);
  const owner = await ownerContext.newPage();
  await signUp(owner, uniqueName('boss'));
  await owner.goto('/');
  await waitForHydration(owner);
  await owner.getByLabel('Slug').fill(slug);
  await owner.getByLabel('Title').fill('Short-lived');
  await owner.getByRole('button', { name: 'Create room' }).click();
  await expect(owner).toHaveURL(new RegExp(`/rooms/${slug}$`));

  const members = await Promise.all(
    [BASE_A, BASE_B].map(async (base) => {
      const context = await browser.newContext({ baseURL: base });
      opened.push(context);
      const page = await context.newPage();
      await openRoom(page, slug);
      return page;
    }),
  );
  await waitForHydration(owner);
  await owner.getByText('Room settings').click();
  await owner.getByRole('button', { name: 'Delete room' }).click();
  await expect(owner).toHaveURL(/\/\?notice=room-deleted$/);

  for (const page of members) {
    await expect(page).toHaveURL(/\/\?notice=room-deleted$/);
    await expect(page.getByText('That room was deleted by its owner.')).toBeVisible();
    await expect(page.locator(`li[data-slug="${slug}"]`)).toHaveCount(0);
  }
  const gone = await members[0].goto(`/rooms/${slug}`);
  expect(gone?.status()).toBe(404);
});
