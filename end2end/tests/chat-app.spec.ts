// The chat app (issue 12): a live sidebar, presence, typing, unread badges across tabs,
// scroll-back, the phone layout — with browsers on two Parlor processes sharing Redis, and
// one on SSE.
import { expect, request as playwrightRequest, test, type Browser, type BrowserContext, type Page } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BASE_A, BASE_B } from '../playwright.config';
import { createRoom, enterRoom, person as newPerson, uniqueSlug, waitForHydration } from './helpers';

const REDIS = process.env.PARLOR_TEST_REDIS_URL;

// Every page holds a lobby socket and a room connection: close them after each test, or
// the suite's browsers pile up connections against the server's per-address caps.
const opened: BrowserContext[] = [];
test.afterEach(async () => {
  for (const context of opened.splice(0)) await context.close().catch(() => {});
});

function person(browser: Browser, base: string, name: string, options = {}) {
  return newPerson(browser, base, name, opened, options);
}

async function say(page: Page, text: string) {
  await page.getByLabel('Message', { exact: true }).fill(text);
  await page.getByLabel('Message', { exact: true }).press('Enter');
  await expect(page.locator('.messages li.message:not(.pending) .text').last()).toHaveText(text);
}

/** Posts `count` messages quickly through several guests (each within its message burst). */
async function fill(base: string, slug: string, count: number) {
  const perGuest = 8;
  for (let g = 0; g * perGuest < count; g++) {
    const api = await playwrightRequest.newContext({ baseURL: base });
    await api.post('/api/session/guest', { data: { name: `filler${g}` } });
    const sends = [];
    for (let i = g * perGuest; i < Math.min(count, (g + 1) * perGuest); i++) {
      sends.push(api.post(`/api/rooms/${slug}/messages`, { data: { text: `history ${i}`, client_id: `${slug}-${i}` } }));
    }
    for (const response of await Promise.all(sends)) expect(response.status()).toBe(201);
    await api.dispose();
  }
}

test('presence, typing and the live sidebar across two processes and SSE', async ({ browser, request }) => {
  test.skip(!REDIS, 'needs a Redis: make test starts one');
  test.setTimeout(60_000);
  const slug = uniqueSlug('alive');
  await createRoom(request, slug, 'Alive');
  const ann = await person(browser, BASE_A, 'Ann');
  const bob = await person(browser, BASE_B, 'Bob');
  const cy = await person(browser, BASE_A, 'Cy');
  await enterRoom(ann, slug);
  await enterRoom(bob, slug);
  await enterRoom(cy, slug, 'sse');

  // Everyone sees everyone, whatever process or transport.
  for (const page of [ann, bob, cy]) {
    await expect(page.locator('.presence')).toHaveAttribute('data-count', '3');
    await page.locator('.presence summary').click();
    await expect(page.locator('.presence .member-name')).toHaveText(['Ann', 'Bob', 'Cy']);
    await page.locator('.presence summary').click();
  }

  // Typing shows on the others and clears when the message arrives.
  await bob.getByLabel('Message', { exact: true }).pressSequentially('hel');
  await expect(ann.locator('.typing')).toHaveText('Bob is typing…');
  await expect(cy.locator('.typing')).toHaveText('Bob is typing…');
  await expect(bob.locator('.typing')).toHaveText('');
  await bob.getByLabel('Message', { exact: true }).press('Enter');
  await expect(ann.locator('.typing')).toHaveText('');

  // The lobby: a room bob creates appears in ann's sidebar; his message there bumps it to
  // the top with an unread badge and the tab title counts it.
  const other = uniqueSlug('news');
  const created = await bob.request.post('/api/rooms', { data: { slug: other, title: 'News' } });
  expect(created.status()).toBe(201);
  const link = ann.locator(`.room-link[data-slug="${other}"]`);
  await expect(link).toBeVisible();
  // (Other tests create rooms in parallel: compare the two rooms' places, not the top.)
  const order = async () => {
    const slugs = await ann.locator('.room-link').evaluateAll((items) => items.map((i) => i.getAttribute('data-slug')));
    return slugs.indexOf(other) < slugs.indexOf(slug) ? 'other first' : 'first room first';
  };
  const again = await bob.request.post(`/api/rooms/${slug}/messages`, { data: { text: 'still here' } });
  expect(again.status()).toBe(201);
  await expect.poll(order).toBe('first room first');
  const posted = await bob.request.post(`/api/rooms/${other}/messages`, { data: { text: 'fresh @Ann' } });
  expect(posted.status()).toBe(201);
  await expect.poll(order).toBe('other first');
  await expect(link.locator('.badge.unread')).toHaveText('1');
  await expect(link.locator('.badge.mention')).toHaveText('@1');
  await expect(link.locator('.room-link-excerpt')).toHaveText('Bob: fresh @Ann');
  // The tab title carries the sidebar's total (other tests post in parallel, so compare).
  const titleMatchesBadges = () =>
    ann.evaluate(() => {
      const total = [...document.querySelectorAll('.room-link')]
        .map((i) => Number(i.getAttribute('data-unread') ?? 0))
        .reduce((a, b) => a + b, 0);
      const shown = /^\((\d+)\) /.exec(document.title);
      return total === (shown ? Number(shown[1]) : 0) && total > 0;
    });
  await expect.poll(titleMatchesBadges).toBe(true);

  // Reading it in a second tab of ann's clears the badge in the first.
  const annTab2 = await ann.context().newPage();
  await annTab2.goto(`/rooms/${other}`);
  await waitForHydration(annTab2);
  await expect(annTab2.locator('.divider')).toHaveText('New messages');
  await expect(link.locator('.badge.unread')).toHaveCount(0);

  // Client navigation: clicking a room in the sidebar keeps the page (no full load).
  await ann.evaluate(() => ((window as any).__same_page = true));
  await link.locator('a').click();
  await expect(ann.locator('.room')).toHaveAttribute('data-room', other);
  expect(await ann.evaluate(() => (window as any).__same_page)).toBe(true);

  // Leaving: ann navigated away from the first room; then cy closes his page.
  await expect(bob.locator('.presence')).toHaveAttribute('data-count', '2', { timeout: 15_000 });
  await cy.close();
  await expect(bob.locator('.presence')).toHaveAttribute('data-count', '1', { timeout: 25_000 });
});

test('scrolling back loads older pages in place; away from the bottom a button counts new ones', async ({ browser, request }) => {
  test.setTimeout(60_000);
  const slug = uniqueSlug('history');
  await createRoom(request, slug, 'History');
  await fill(BASE_A, slug, 200);
  const ann = await person(browser, BASE_A, 'Reader');
  await enterRoom(ann, slug);
  const list = ann.locator('.timeline .messages');
  const first = async () => Number(await ann.locator('.messages li.message').first().getAttribute('data-id'));
  const before = await first();
  // Pinned to the bottom at first.
  await expect(ann.locator('.messages li.message').last()).toBeInViewport();
  // Scroll to the top: an older page comes in and the message that was on top stays in view.
  await list.evaluate((el) => (el.scrollTop = 0));
  await expect.poll(first).toBeLessThan(before);
  const anchor = ann.locator(`.messages li.message[data-id="${before}"]`);
  await expect(anchor).toBeInViewport();
  // New messages while scrolled up: the button counts them, the view does not jump.
  const api = await playwrightRequest.newContext({ baseURL: BASE_A });
  await api.post('/api/session/guest', { data: { name: 'Late' } });
  await api.post(`/api/rooms/${slug}/messages`, { data: { text: 'while away' } });
  await expect(ann.locator('.jump')).toHaveText('↓ 1 new message');
  await expect(anchor).toBeInViewport();
  await ann.locator('.jump').click();
  await expect(ann.locator('.messages li.message .text').last()).toBeInViewport();
  await expect(ann.locator('.jump')).toHaveCount(0);
  await api.dispose();
});

test('on a phone the composer stays visible with 200 messages, and the room list is its own screen', async ({ browser, request }) => {
  test.setTimeout(60_000);
  const slug = uniqueSlug('phone');
  await createRoom(request, slug, 'Phone');
  await fill(BASE_A, slug, 200);
  const phone = await person(browser, BASE_A, 'Thumb', { viewport: { width: 390, height: 740 }, hasTouch: true, isMobile: true });
  await expect(phone.locator('.sidebar')).toBeVisible();
  await enterRoom(phone, slug);
  await expect(phone.locator('.sidebar')).toBeHidden();
  await expect(phone.getByLabel('Message', { exact: true })).toBeInViewport();
  await expect(phone.locator('.messages li.message .text').last()).toBeInViewport();
  await phone.locator('.back').click();
  await expect(phone.locator('.sidebar')).toBeVisible();
});

test('screenshots of the app, desktop and phone, light and dark', async ({ browser, request }) => {
  test.setTimeout(60_000);
  const slug = uniqueSlug('tour');
  await createRoom(request, slug, 'Product tour');
  const lines: [string, string][] = [
    ['Ann', 'Morning! Is the release still on for Thursday?'],
    ['Bo', 'Yes — the migration ran clean on staging last night.'],
    ['Ann', 'Great. Who is writing the changelog?'],
    ['Bo', 'I can. @Ann can you check the screenshots in the README?'],
    ['Ann', 'On it. The dark theme ones look good already.'],
    ['Bo', 'Perfect, thanks 🙌'],
  ];
  const people = new Map<string, Awaited<ReturnType<typeof playwrightRequest.newContext>>>();
  const ids: number[] = [];
  for (const [i, [name, text]] of lines.entries()) {
    if (!people.has(name)) {
      const api = await playwrightRequest.newContext({ baseURL: BASE_A });
      await api.post('/api/session/guest', { data: { name } });
      people.set(name, api);
    }
    // Bo's offer answers Ann's question: the tour shows a reply.
    const data = i === 3 ? { text, reply_to: ids[2] } : { text };
    const sent = await people.get(name)!.post(`/api/rooms/${slug}/messages`, { data });
    expect(sent.status()).toBe(201);
    ids.push((await sent.json()).id);
  }
  // And an edited message.
  const edited = await people.get('Ann')!.patch(`/api/rooms/${slug}/messages/${ids[4]}`, {
    data: { text: 'On it. The dark theme ones look good already, checking the phone ones now.' },
  });
  expect(edited.status()).toBe(200);
  for (const api of people.values()) await api.dispose();
  const out = path.resolve(__dirname, '../../docs/screenshots');
  fs.mkdirSync(out, { recursive: true });
  for (const scheme of ['light', 'dark'] as const) {
    for (const [name, viewport] of [['desktop', { width: 1280, height: 800 }], ['phone', { width: 390, height: 760 }]] as const) {
      const page = await person(browser, BASE_A, `Guide ${name}`, { viewport, colorScheme: scheme });
      await enterRoom(page, slug);
      await page.screenshot({ path: path.join(out, `${name}-${scheme}.png`) });
      await page.context().close();
    }
  }
});

test('offline, the room says so and a message waits with a clock until it can go', async ({ browser, request }) => {
  const slug = uniqueSlug('offline');
  await createRoom(request, slug, 'Offline');
  const page = await person(browser, BASE_A, 'Traveller');
  await enterRoom(page, slug, 'longpoll');
  await page.context().setOffline(true);
  await expect(page.locator('.conn-banner')).toContainText('You are offline');
  await page.getByLabel('Message', { exact: true }).fill('sent from a tunnel');
  await page.getByLabel('Message', { exact: true }).press('Enter');
  await expect(page.locator('.message.pending .queued')).toContainText('sending…');
  await page.context().setOffline(false);
  await expect(page.locator('.conn-banner')).toHaveCount(0, { timeout: 15_000 });
  await expect(page.locator('.messages li.message:not(.pending) .text').last()).toHaveText('sent from a tunnel', { timeout: 15_000 });
  await expect(page.locator('.message.pending')).toHaveCount(0);
});

test('a refused message offers Retry and Delete', async ({ browser, request }) => {
  const slug = uniqueSlug('refused');
  await createRoom(request, slug, 'Refused');
  const page = await person(browser, BASE_A, 'Unlucky');
  await enterRoom(page, slug, 'longpoll');
  // A proxy refuses the first two sends as the server would refuse an invalid one.
  let refusals = 2;
  await page.route(`**/api/rooms/${slug}/messages`, async (route) => {
    if (route.request().method() === 'POST' && refusals > 0) {
      refusals -= 1;
      await route.fulfill({
        status: 422,
        contentType: 'application/json',
        body: JSON.stringify({ error: { code: 'invalid', message: 'Refused by the test proxy.' } }),
      });
    } else {
      await route.continue();
    }
  });
  const box = page.getByLabel('Message', { exact: true });
  await box.fill('first try');
  await box.press('Enter');
  const failed = page.locator('.message.pending[data-failed="true"]');
  await expect(failed.locator('.failed')).toContainText('Refused by the test proxy.');
  // Delete drops it.
  await failed.getByRole('button', { name: 'Delete' }).click();
  await expect(page.locator('.message.pending')).toHaveCount(0);
  // Retry sends it again (same client_id), and this time it is stored once.
  await box.fill('second try');
  await box.press('Enter');
  await expect(failed.locator('.failed')).toContainText('Refused by the test proxy.');
  await failed.getByRole('button', { name: 'Retry' }).click();
  await expect(page.locator('.messages li.message:not(.pending) .text')).toHaveText(['second try']);
  await expect(page.locator('.message.pending')).toHaveCount(0);
});

test('messages read like chat: grouped by author, avatars, your own marked, safe links, large emoji', async ({ browser, request }) => {
  test.setTimeout(60_000);
  const slug = uniqueSlug('reads');
  await createRoom(request, slug, 'Reads like chat');
  const ann = await person(browser, BASE_A, 'Ann');
  const bo = await person(browser, REDIS ? BASE_B : BASE_A, 'Bo');
  await enterRoom(ann, slug);
  await enterRoom(bo, slug);
  await say(ann, 'first of two');
  await say(ann, 'second of two');
  await say(bo, 'see https://example.com/a?b=1. or javascript:alert(1)');
  await say(ann, '🎉');

  const rows = (page: Page) => page.locator('.messages li.message:not(.pending)');
  for (const page of [ann, bo]) {
    await expect(rows(page)).toHaveCount(4);
    // Ann's two messages are one group: one name and avatar for both.
    await expect(rows(page).nth(0)).not.toHaveClass(/continued/);
    await expect(rows(page).nth(0).locator('.byline .avatar')).toHaveText('A');
    await expect(rows(page).nth(1)).toHaveClass(/continued/);
    const hidden = await rows(page).nth(1).locator('.byline').boundingBox();
    expect(hidden?.width ?? 0, 'the name is for screen readers only').toBeLessThanOrEqual(1);
    await expect(rows(page).nth(2)).not.toHaveClass(/continued/);
    await expect(rows(page).nth(3)).not.toHaveClass(/continued/);
    // An address is a link that tells the site nothing; other schemes stay text.
    const link = rows(page).nth(2).locator('.text a');
    await expect(link).toHaveCount(1);
    await expect(link).toHaveAttribute('href', 'https://example.com/a?b=1');
    await expect(link).toHaveAttribute('rel', 'noopener noreferrer nofollow');
    await expect(link).toHaveAttribute('target', '_blank');
    await expect(rows(page).nth(2).locator('.text')).toContainText('javascript:alert(1)');
    // An emoji alone is shown large.
    await expect(rows(page).nth(3)).toHaveClass(/emoji-only/);
    const size = await rows(page).nth(3).locator('.text').evaluate((e) => parseFloat(getComputedStyle(e).fontSize));
    expect(size).toBeGreaterThan(24);
  }
  // Your own messages are marked, others' are not.
  await expect(rows(ann).nth(0)).toHaveClass(/\bmine\b/);
  await expect(rows(ann).nth(2)).not.toHaveClass(/\bmine\b/);
  await expect(rows(bo).nth(2)).toHaveClass(/\bmine\b/);
  await expect(rows(bo).nth(0)).not.toHaveClass(/\bmine\b/);

  // The server renders the same groups (the page reads the same without JavaScript).
  const second = await rows(ann).nth(1).getAttribute('data-id');
  const html = await (await request.get(`/rooms/${slug}`)).text();
  const tag = html.match(new RegExp(`<li[^>]*data-id="${second}"[^>]*>`))?.[0] ?? '';
  expect(tag).toMatch(/class="[^"]*\bcontinued\b/);
  expect(html).toContain('rel="noopener noreferrer nofollow"');
});

test('days are marked: UTC days on the server page, the reader\'s own days once live, the full date on hover', async ({ browser, request }) => {
  test.setTimeout(60_000);
  const slug = uniqueSlug('days');
  await createRoom(request, slug, 'Days');
  expect((await request.post(`/api/rooms/${slug}/messages`, { data: { text: 'what day is it' } })).status()).toBe(201);

  // The server names the day in full, in UTC: it cannot know the reader's zone or today.
  const html = await (await request.get(`/rooms/${slug}`)).text();
  expect(html).toMatch(/<li class="day"><h2>(Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day \d{1,2} [A-Z][a-z]{2} \d{4}<\/h2><\/li>/);
  expect(html).toMatch(/<time datetime="[^"]+" title="\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC">/);

  // Live, a reader's own today is "Today".
  const now = await person(browser, BASE_A, 'Now');
  await enterRoom(now, slug);
  await expect(now.locator('.messages li.day h2')).toHaveText(['Today']);

  // A reader in Seoul whose clock says a day later: "Yesterday"; five days later: its weekday
  // (or, across New Year, its date and year).
  const dayLater = await person(browser, BASE_A, 'Tomorrow', { timezoneId: 'Asia/Seoul' });
  await dayLater.clock.setFixedTime(Date.now() + 24 * 3600_000);
  await enterRoom(dayLater, slug);
  await expect(dayLater.locator('.messages li.day h2')).toHaveText(['Yesterday']);
  const time = dayLater.locator('.messages li.message time').first();
  await expect(time).not.toHaveAttribute('title', /UTC/);
  await expect(time).toHaveAttribute('title', /20\d\d/);

  const later = await person(browser, BASE_A, 'Later', { timezoneId: 'Asia/Seoul' });
  await later.clock.setFixedTime(Date.now() + 5 * 24 * 3600_000);
  await enterRoom(later, slug);
  await expect(later.locator('.messages li.day h2')).toHaveText([
    /^((Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day \d{1,2} [A-Z][a-z]{2}|\d{1,2} [A-Z][a-z]{2} \d{4})$/,
  ]);
  // A message sent now is of the same (server) day: no second separator, one group.
  await say(later, 'still that day');
  await expect(later.locator('.messages li.day h2')).toHaveCount(1);
});

test('the room list is a keyboard switcher: arrows move the focus, Enter opens the room in place', async ({ browser, request }) => {
  const first = uniqueSlug('keys-a');
  const second = uniqueSlug('keys-b');
  await createRoom(request, first, 'Keys A');
  await createRoom(request, second, 'Keys B');
  const page = await person(browser, BASE_A, 'Keys');
  // Other tests post meanwhile, which moves their rooms up: this page's lobby feed is held
  // (a socket that opens and stays silent) so the list's order stays the one it rendered.
  await page.routeWebSocket(/\/ws\/lobby/, () => {});
  await enterRoom(page, first);
  const links = page.locator('.room-links a');
  const count = await links.count();
  expect(count).toBeGreaterThanOrEqual(2);
  const focused = () =>
    page.evaluate(() => [...document.querySelectorAll('.room-links a')].indexOf(document.activeElement as Element));

  await links.first().focus();
  await page.keyboard.press('ArrowDown');
  await expect.poll(focused).toBe(1);
  await page.keyboard.press('ArrowUp');
  await page.keyboard.press('ArrowUp'); // stays on the first
  await expect.poll(focused).toBe(0);
  await page.keyboard.press('End');
  await expect.poll(focused).toBe(count - 1);
  await page.keyboard.press('Home');
  await expect.poll(focused).toBe(0);

  // Enter opens the focused room by client navigation (the page is not reloaded).
  await page.evaluate(() => { (window as unknown as { stayed: boolean }).stayed = true; });
  await page.locator(`.room-link[data-slug="${second}"] a`).focus();
  await page.keyboard.press('Enter');
  await expect(page).toHaveURL(new RegExp(`/rooms/${second}$`));
  await expect(page.getByRole('heading', { name: 'Keys B' })).toBeVisible();
  expect(await page.evaluate(() => (window as unknown as { stayed?: boolean }).stayed)).toBe(true);
});

test('a live update of the room list keeps the keyboard focus on the same room', async ({ browser, request }) => {
  const here = uniqueSlug('focus-here');
  const held = uniqueSlug('focus-held');
  const busy = uniqueSlug('focus-busy');
  // Created oldest first: the busy room starts below the held one.
  for (const [slug, title] of [[busy, 'Focus busy'], [held, 'Focus held'], [here, 'Focus here']]) {
    await createRoom(request, slug, title);
  }
  const page = await person(browser, BASE_A, 'Focus');
  await enterRoom(page, here);
  await expect(page.locator(`.room-link[data-slug="${busy}"]`)).toBeAttached();
  const focusedSlug = () =>
    page.evaluate(() => document.activeElement?.closest('.room-link')?.getAttribute('data-slug') ?? null);
  const busyAboveHeld = () =>
    page.evaluate(([busy, held]) => {
      const order = [...document.querySelectorAll('.room-link')].map((li) => li.getAttribute('data-slug'));
      return order.indexOf(busy) < order.indexOf(held);
    }, [busy, held]);
  expect(await busyAboveHeld()).toBe(false);
  await page.locator(`.room-link[data-slug="${held}"] a`).focus();

  // A message in another room moves that room up (its link is moved), and one in the focused
  // room re-renders the focused link itself: the focus stays on the same room both times.
  const moved = await request.post(`/api/rooms/${busy}/messages`, { data: { text: 'moves up' } });
  expect(moved.status()).toBe(201);
  await expect.poll(busyAboveHeld).toBe(true);
  await expect.poll(focusedSlug).toBe(held);
  const bumped = await request.post(`/api/rooms/${held}/messages`, { data: { text: 'bumps the badge' } });
  expect(bumped.status()).toBe(201);
  await expect(page.locator(`.room-link[data-slug="${held}"]`)).toHaveAttribute('data-unread', '1');
  await expect.poll(focusedSlug).toBe(held);
  // And the arrows go on from there.
  await page.keyboard.press('ArrowDown');
  await expect.poll(focusedSlug).not.toBe(held);
});
