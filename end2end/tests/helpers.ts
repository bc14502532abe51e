import {
  expect,
  type APIRequestContext,
  type Browser,
  type BrowserContext,
  type BrowserContextOptions,
  type Page,
} from '@playwright/test';

/** A slug no other test uses, so tests can share one server and run in parallel. */
export function uniqueSlug(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6).toString(36)}`;
}

/** Creates a room through the REST API, as a guest (rooms need an owner). */
export async function createRoom(request: APIRequestContext, slug: string, title: string) {
  const me = await request.get('/api/me');
  if (me.status() !== 200) {
    const guest = await request.post('/api/session/guest', { data: { name: 'Room maker' } });
    expect(guest.status(), await guest.text()).toBe(200);
  }
  const response = await request.post('/api/rooms', { data: { slug, title } });
  expect(response.status(), await response.text()).toBe(201);
}

/** Waits until the WASM has hydrated the page (App sets data-hydrated from an Effect). */
export async function waitForHydration(page: Page) {
  await expect(page.locator('.app[data-hydrated="true"]')).toBeAttached();
}

/** Picks a display name through the header form. */
export async function pickName(page: Page, name: string) {
  await page.getByLabel('Display name').fill(name);
  await page.getByRole('button', { name: 'Join' }).click();
  await expect(page.locator('.viewer-name')).toHaveText(name);
}

/** Opens a room page and waits until its WebSocket is live. */
export async function openRoom(page: Page, slug: string) {
  await page.goto(`/rooms/${slug}`);
  await waitForHydration(page);
  await expect(page.locator('.connection')).toHaveAttribute('data-state', 'live');
}

/** Texts of the stored messages shown, in order. */
export async function messageTexts(page: Page): Promise<string[]> {
  return page.locator('.messages li.message:not(.pending) .text').allTextContents();
}

/**
 * Collects console errors and uncaught exceptions for the page's whole life. `expected`
 * lists HTTP statuses the test provokes on purpose (Chromium logs every failed fetch).
 */
export function collectErrors(page: Page, expected: number[] = []): string[] {
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    const text = message.text();
    if (expected.some((status) => text.includes(`status of ${status}`))) return;
    errors.push(text);
  });
  page.on('pageerror', (error) => errors.push(String(error)));
  return errors;
}

/**
 * A new browser context at `base` with a guest named `name`, on the home page; the context is
 * pushed to `opened` so the test's afterEach closes it (every page holds sockets).
 */
export async function person(
  browser: Browser,
  base: string,
  name: string,
  opened: BrowserContext[],
  options: BrowserContextOptions = {},
): Promise<Page> {
  const context = await browser.newContext({ baseURL: base, ...options });
  opened.push(context);
  const page = await context.newPage();
  await page.goto('/');
  await waitForHydration(page);
  await pickName(page, name);
  return page;
}

/** Opens a room (optionally forcing a transport) and waits until its connection is live. */
export async function enterRoom(page: Page, slug: string, transport?: string) {
  await page.goto(`/rooms/${slug}${transport ? `?transport=${transport}` : ''}`);
  await waitForHydration(page);
  await expect(page.locator('.connection')).toHaveAttribute('data-state', 'live');
}
