// Keyboard and screen-reader use (issue 15, item 3): a whole chat session by keyboard alone —
// sign up, pick a room from the list with the arrows, write, react, reply — with a visible
// focus at every stop, and new messages announced politely, one at a time, never the list.
import { expect, test, type BrowserContext, type Page } from '@playwright/test';
import { BASE_A } from '../playwright.config';
import { createRoom, person as newPerson, uniqueSlug, waitForHydration } from './helpers';

const opened: BrowserContext[] = [];
test.afterEach(async () => {
  for (const context of opened.splice(0)) await context.close().catch(() => {});
});

/** The focused element, described, and whether a focus indicator shows on it. */
function focused(page: Page) {
  return page.evaluate(() => {
    const element = document.activeElement as HTMLElement | null;
    if (!element || element === document.body) return { what: 'nothing (the page body)', visible: false };
    const style = getComputedStyle(element);
    const visible =
      (style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0) || style.boxShadow !== 'none';
    const name = element.getAttribute('aria-label') ?? element.textContent ?? '';
    return { what: `<${element.tagName.toLowerCase()} class="${element.className}"> ${name.trim().slice(0, 40)}`, visible };
  });
}

function focusMatches(page: Page, selector: string) {
  return page.evaluate((selector) => document.activeElement?.matches(selector) ?? false, selector);
}

/**
 * Presses `key` until the focus is on `selector`; every element on the way must show that it
 * has the focus. Fails when `selector` is not reached in `limit` presses.
 */
async function pressUntil(page: Page, selector: string, key = 'Tab', limit = 60) {
  for (let i = 0; i < limit; i++) {
    await page.keyboard.press(key);
    const now = await focused(page);
    expect(now.visible, `the focus is not visible on ${now.what}`).toBe(true);
    if (await focusMatches(page, selector)) return;
  }
  throw new Error(`${key} × ${limit} never reached ${selector}`);
}

test('a whole chat session by keyboard alone, with the focus visible at every stop', async ({ browser, request }) => {
  const slug = uniqueSlug('keyboard');
  await createRoom(request, slug, 'By keyboard');
  const context = await browser.newContext({ baseURL: BASE_A });
  opened.push(context);
  const page = await context.newPage();
  // The lobby feed is held, so other tests' messages do not reorder the list mid-walk.
  await page.routeWebSocket(/\/ws\/lobby/, () => {});

  // Sign up: Tab to each field, type, Enter submits.
  await page.goto('/signup');
  await waitForHydration(page);
  const username = `keys${Date.now().toString(36).slice(-6)}`;
  await pressUntil(page, '#signup-username');
  await page.keyboard.type(username);
  await pressUntil(page, '#signup-password');
  await page.keyboard.type('correct horse battery');
  await page.keyboard.press('Enter');
  await expect(page.locator('.viewer-name')).toHaveText(username);
  await waitForHydration(page);

  // The room list: Tab into it, the arrows to the room, Enter opens it.
  await pressUntil(page, '.room-links a');
  const slugOfFocus = () =>
    page.evaluate(() => document.activeElement?.closest('.room-link')?.getAttribute('data-slug') ?? null);
  await page.keyboard.press('Home');
  const rooms = await page.locator('.room-links a').count();
  for (let i = 0; i < rooms && (await slugOfFocus()) !== slug; i++) await page.keyboard.press('ArrowDown');
  expect(await slugOfFocus()).toBe(slug);
  await page.keyboard.press('Enter');
  await expect(page).toHaveURL(new RegExp(`/rooms/${slug}$`));
  await expect(page.locator('.connection')).toHaveAttribute('data-state', 'live');

  // Write: Tab to the composer, type, Enter sends.
  await pressUntil(page, '#composer-text');
  await page.keyboard.type('typed without a mouse');
  await page.keyboard.press('Enter');
  const mine = page.locator('.messages li.message:not(.pending)').filter({ hasText: 'typed without a mouse' });
  await expect(mine).toHaveCount(1);
  const id = await mine.getAttribute('data-id');
  const row = `.messages li.message[data-id="${id}"]`;

  // React: back to the message's React button; Enter opens the picker, Esc closes it and the
  // focus is back on React (not lost to the top of the page).
  await pressUntil(page, `${row} button.react`, 'Shift+Tab');
  await page.keyboard.press('Enter');
  await expect(page.locator(`${row} .picker`)).toBeVisible();
  await expect(page.locator(`${row} button.react`)).toHaveAttribute('aria-expanded', 'true');
  await pressUntil(page, `${row} .picker button.pick`, 'Tab', 3);
  await page.keyboard.press('Escape');
  await expect(page.locator(`${row} .picker`)).toHaveCount(0);
  await expect.poll(() => focusMatches(page, `${row} button.react`)).toBe(true);
  // Again, and Enter on the first emoji: the reaction shows, and though the row is rendered
  // anew with it, the focus stays on this message's React button.
  await page.keyboard.press('Enter');
  await pressUntil(page, `${row} .picker button.pick`, 'Tab', 3);
  await page.keyboard.press('Enter');
  await expect(page.locator(`${row} .reactions`)).toContainText('👍');
  await expect.poll(() => focusMatches(page, `${row} button.react`)).toBe(true);

  // Reply: Shift+Tab to Reply, Enter puts the focus in the composer with the quote; Esc drops
  // the quote; a second Reply, typed and sent, is a reply.
  await pressUntil(page, `${row} button.reply`, 'Shift+Tab', 3);
  await page.keyboard.press('Enter');
  await expect(page.locator('.replying')).toBeVisible();
  expect(await focusMatches(page, '#composer-text')).toBe(true);
  await page.keyboard.press('Escape');
  await expect(page.locator('.replying')).toHaveCount(0);
  await pressUntil(page, `${row} button.reply`, 'Shift+Tab');
  await page.keyboard.press('Enter');
  await expect(page.locator('.replying')).toBeVisible();
  await page.keyboard.type('and a reply, still by keys');
  await page.keyboard.press('Enter');
  const reply = page.locator('.messages li.message:not(.pending)').filter({ hasText: 'and a reply, still by keys' });
  await expect(reply.locator('.quote-text')).toHaveText('typed without a mouse');
});

test('a new message is announced politely by itself; the list is not re-read, a reaction is not announced', async ({ browser, request }) => {
  const slug = uniqueSlug('announce');
  await createRoom(request, slug, 'Announcements');
  const ann = await newPerson(browser, BASE_A, 'Ann', opened);
  const bo = await newPerson(browser, BASE_A, 'Bo', opened);
  for (const page of [ann, bo]) {
    await page.goto(`/rooms/${slug}`);
    await waitForHydration(page);
    await expect(page.locator('.connection')).toHaveAttribute('data-state', 'live');
  }
  const say = async (text: string) => {
    await bo.getByLabel('Message', { exact: true }).fill(text);
    await bo.getByLabel('Message', { exact: true }).press('Enter');
  };

  // The history itself is no live region (a screen reader would read it all on each change).
  const history = ann.locator('ol.messages');
  await expect(history).not.toHaveAttribute('aria-live', /.+/);
  await expect(history).not.toHaveAttribute('role', /log|status|alert/);
  const region = ann.locator('.visually-hidden[aria-live="polite"]');
  await expect(region).toHaveCount(1);

  await say('first of two');
  await expect(region).toHaveText('Bo: first of two');
  // Count what changes in the region from here on.
  await region.evaluate((element) => {
    const w = window as unknown as { announced: string[] };
    w.announced = [];
    new MutationObserver(() => w.announced.push(element.textContent ?? '')).observe(element, {
      subtree: true,
      childList: true,
      characterData: true,
    });
  });
  await say('second of two');
  await expect(region).toHaveText('Bo: second of two');
  const announced = () => ann.evaluate(() => (window as unknown as { announced: string[] }).announced);
  await expect.poll(announced).toEqual(['Bo: second of two']);

  // A reaction on that message changes the row, not what was said: nothing is announced.
  const id = await ann.locator('.messages li.message').filter({ hasText: 'second of two' }).getAttribute('data-id');
  const reacted = await request.post(`/api/rooms/${slug}/messages/${id}/reactions`, { data: { emoji: '🎉' } });
  expect(reacted.status(), await reacted.text()).toBeLessThan(300);
  await expect(ann.locator(`.messages li.message[data-id="${id}"] .reactions`)).toContainText('🎉');
  expect(await announced()).toEqual(['Bo: second of two']);
});
