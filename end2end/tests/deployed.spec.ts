// As deployed on many machines (README "Deploying"): nginx running deploy/nginx.conf in front
// of three Parlor processes on PostgreSQL and Redis. A browser on each of the four transports
// chats through nginx only; the process holding the WebSocket browser is killed mid-test; every
// browser carries on (reconnects through nginx to a live process, catches up) and ends with
// every message once, in the same order, nothing left pending.
import { expect, request as playwrightRequest, test, type BrowserContext, type Page } from '@playwright/test';
import { Deployment } from './deployment';
import { createRoom, enterRoom, messageTexts, person, uniqueSlug } from './helpers';

const POSTGRES = process.env.PARLOR_TEST_POSTGRES_URL;
const REDIS = process.env.PARLOR_TEST_REDIS_URL;
test.skip(!POSTGRES || !REDIS, 'needs PostgreSQL and Redis: make test starts both and sets their URLs');

const TRANSPORTS = ['ws', 'sse', 'longpoll', 'poll'] as const;

let deployment: Deployment | undefined;
test.beforeAll(async () => {
  test.setTimeout(90_000);
  deployment = await Deployment.start(POSTGRES!);
});
test.afterAll(async () => {
  await deployment?.stop();
});

const opened: BrowserContext[] = [];
test.afterEach(async () => {
  for (const context of opened.splice(0)) await context.close().catch(() => {});
});

/** Each browser sends one message, `${round} ${transport}`. */
async function everyoneSays(pages: Page[], round: string) {
  for (const [i, page] of pages.entries()) {
    const box = page.getByLabel('Message', { exact: true });
    await box.fill(`${round} ${TRANSPORTS[i]}`);
    await box.press('Enter');
  }
}

/** Every page shows `count` stored messages, nothing pending, all in the same order. */
async function everyoneSeesTheSame(pages: Page[], count: number): Promise<string[]> {
  for (const page of pages) {
    // Short polling asks every 2 s and a reconnect backs off: give them time.
    await expect(page.locator('.messages li.message:not(.pending)')).toHaveCount(count, { timeout: 30_000 });
    await expect(page.locator('.messages li.pending')).toHaveCount(0, { timeout: 30_000 });
  }
  const seen = await Promise.all(pages.map(messageTexts));
  for (const texts of seen) expect(texts).toEqual(seen[0]);
  return seen[0];
}

test('browsers on all four transports chat through nginx and carry on when a process dies', async ({
  browser,
}) => {
  test.setTimeout(120_000);
  const { nginx, processes } = deployment!;
  const base = nginx.base;
  const slug = uniqueSlug('deployed');
  const api = await playwrightRequest.newContext({ baseURL: base });
  await createRoom(api, slug, 'As deployed');
  await api.dispose();

  const pages: Page[] = [];
  for (const transport of TRANSPORTS) {
    const page = await person(browser, base, `via ${transport}`, opened);
    await enterRoom(page, slug, transport);
    await expect(page.locator('.connection')).toHaveAttribute('data-transport', transport);
    pages.push(page);
  }

  await everyoneSays(pages, 'before');
  const before = await everyoneSeesTheSame(pages, TRANSPORTS.length);
  expect(new Set(before)).toEqual(new Set(TRANSPORTS.map((t) => `before ${t}`)));

  // Record the WebSocket browser's connection states from here on.
  await pages[0].evaluate(() => {
    const badge = document.querySelector('.connection')!;
    const states: string[] = [];
    (window as unknown as { states: string[] }).states = states;
    new MutationObserver(() => states.push(badge.getAttribute('data-state') ?? '')).observe(badge, {
      attributes: true,
      attributeFilter: ['data-state'],
    });
  });

  // The process holding the WebSocket browser's room socket dies, with no warning.
  const holders = [];
  for (const process of processes) holders.push(await process.connections('ws'));
  const victim = holders.findIndex((n) => n > 0);
  expect(victim, `one process holds the room WebSocket (ws per process: ${holders})`).toBeGreaterThanOrEqual(0);
  processes[victim].kill();

  // Everyone speaks at once, the WebSocket browser while it is still reconnecting.
  await everyoneSays(pages, 'after');
  const after = await everyoneSeesTheSame(pages, 2 * TRANSPORTS.length);
  expect(after.slice(0, TRANSPORTS.length)).toEqual(before);
  expect(new Set(after)).toEqual(new Set(TRANSPORTS.flatMap((t) => [`before ${t}`, `after ${t}`])));

  // The WebSocket browser noticed the loss, reconnected, and is live again on a process left.
  await expect(pages[0].locator('.connection')).toHaveAttribute('data-state', 'live');
  const states = await pages[0].evaluate(() => (window as unknown as { states: string[] }).states);
  expect(states.some((s) => s !== 'live'), `states after the kill: ${states}`).toBe(true);
  const live = processes.filter((_, i) => i !== victim);
  const wsNow = await Promise.all(live.map((p) => p.connections('ws')));
  expect(wsNow.reduce((a, b) => a + b, 0), 'the room WebSocket moved to a live process').toBeGreaterThan(0);

  // A page loaded now, from whichever process nginx picks, shows the same history.
  const late = await person(browser, base, 'late reader', opened);
  await enterRoom(late, slug);
  await expect(late.locator('.messages li.message:not(.pending)')).toHaveCount(2 * TRANSPORTS.length);
  expect(await messageTexts(late)).toEqual(after);
});
