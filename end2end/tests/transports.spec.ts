// The four transports: a browser on each, forced with ?transport=, in one room;
// everyone sees everyone's messages once and in the same order. WebSockets blocked: the
// client falls back by itself. And /transports measures them side by side.
import { expect, test, type Browser, type Page, type BrowserContext } from '@playwright/test';
import { createRoom, messageTexts, pickName, uniqueSlug, waitForHydration } from './helpers';

// Pages hold a lobby socket and a room connection: close the contexts each test opened, or
// the suite's browsers pile up connections against the server's per-address caps.
const opened: BrowserContext[] = [];
test.afterEach(async () => {
  for (const context of opened.splice(0)) await context.close().catch(() => {});
});


const TRANSPORTS = ['ws', 'sse', 'longpoll', 'poll'] as const;

async function personOn(browser: Browser, transport: string, slug: string): Promise<Page> {
  const context = await browser.newContext();
  opened.push(context);
  const page = await context.newPage();
  await page.goto('/');
  await waitForHydration(page);
  await pickName(page, `via ${transport}`);
  await page.goto(`/rooms/${slug}?transport=${transport}`);
  await waitForHydration(page);
  const badge = page.locator('.connection');
  await expect(badge).toHaveAttribute('data-transport', transport);
  await expect(badge).toHaveAttribute('data-state', 'live');
  return page;
}

test('one browser per transport, all see each other once and in order', async ({ browser, request }) => {
  test.setTimeout(60_000);
  const slug = uniqueSlug('four-ways');
  await createRoom(request, slug, 'Four ways');
  const pages = [];
  for (const transport of TRANSPORTS) {
    pages.push(await personOn(browser, transport, slug));
  }
  for (const [i, page] of pages.entries()) {
    const box = page.getByLabel('Message', { exact: true });
    await box.fill(`hello from ${TRANSPORTS[i]}`);
    await box.press('Enter');
  }
  for (const page of pages) {
    // Short polling asks every 2 s: give it time.
    await expect(page.locator('.messages li.message:not(.pending)')).toHaveCount(4, { timeout: 15_000 });
  }
  const seen = await Promise.all(pages.map(messageTexts));
  for (const texts of seen) {
    expect(texts).toEqual(seen[0]);
  }
  expect(new Set(seen[0])).toEqual(new Set(TRANSPORTS.map((t) => `hello from ${t}`)));
  // Nothing is left pending: every send was acknowledged.
  for (const page of pages) {
    await expect(page.locator('.messages li.pending')).toHaveCount(0);
  }
});

test('with WebSockets blocked, the client falls back to streaming by itself', async ({ browser, request }) => {
  const slug = uniqueSlug('blocked');
  await createRoom(request, slug, 'Behind a proxy');
  const context = await browser.newContext();
  opened.push(context);
  const page = await context.newPage();
  // A proxy that refuses WebSockets.
  await page.routeWebSocket(/\/ws\//, (ws) => ws.close());
  await page.goto('/');
  await waitForHydration(page);
  await pickName(page, 'Proxied');
  await page.goto(`/rooms/${slug}`);
  await waitForHydration(page);
  const badge = page.locator('.connection');
  await expect(badge).toHaveAttribute('data-transport', 'sse', { timeout: 20_000 });
  await expect(badge).toHaveAttribute('data-state', 'live');

  const box = page.getByLabel('Message', { exact: true });
  await box.fill('still here');
  await box.press('Enter');
  await expect(page.locator('.messages li.message:not(.pending) .text')).toHaveText(['still here']);
});

test('/transports measures all four for a room', async ({ page, request }) => {
  const slug = uniqueSlug('measured');
  await createRoom(request, slug, 'Measured');
  await page.goto('/');
  await waitForHydration(page);
  await pickName(page, 'Measurer');
  await page.goto(`/transports?room=${slug}`);
  await waitForHydration(page);
  for (const transport of TRANSPORTS) {
    await expect(page.locator(`tr[data-transport="${transport}"] .connection`)).toHaveAttribute(
      'data-state',
      'live',
    );
  }
  await page.getByLabel('Test message').fill('measure me');
  await page.getByRole('button', { name: 'Send' }).click();
  for (const transport of TRANSPORTS) {
    const row = page.locator(`tr[data-transport="${transport}"]`);
    await expect(row.locator('.deliveries')).toHaveText('1', { timeout: 15_000 });
    await expect(row.locator('.bytes-per-message')).not.toHaveText('–');
    expect(Number(await row.locator('.requests').textContent())).toBeGreaterThan(0);
  }
});
