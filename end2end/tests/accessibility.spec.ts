// Accessibility (issue 15): axe-core, run in the real browser on every page and state the
// issue names, finds no WCAG 2.1 A/AA violation — light and dark, desktop and phone.
import AxeBuilder from '@axe-core/playwright';
import { expect, test, type BrowserContext, type Page } from '@playwright/test';
import { BASE_A } from '../playwright.config';
import { enterRoom, person, uniqueSlug, waitForHydration } from './helpers';

const opened: BrowserContext[] = [];
test.afterEach(async () => {
  for (const context of opened.splice(0)) await context.close().catch(() => {});
});

/** Every violation on the page, one line each (rule, impact, the elements it found). */
async function violations(page: Page): Promise<string[]> {
  const results = await new AxeBuilder({ page })
    .withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'])
    .analyze();
  return results.violations.map(
    (v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`,
  );
}

const schemes = ['light', 'dark'] as const;
const layouts = [
  ['desktop', { width: 1280, height: 800 }],
  ['phone', { width: 390, height: 760 }],
] as const;

for (const colorScheme of schemes) {
  test.describe(`${colorScheme} theme`, () => {
    test.use({ colorScheme });

    for (const [name, path] of [
      ['home', '/'],
      ['sign-up', '/signup'],
      ['log-in', '/login'],
      ['transports', '/transports'],
      ['404', '/no-such-page'],
    ] as const) {
      test(`the ${name} page has no axe violations`, async ({ page }) => {
        await page.goto(path);
        await waitForHydration(page);
        expect(await violations(page)).toEqual([]);
      });
    }

    for (const [layout, viewport] of layouts) {
      test(`a room with messages has no axe violations (${layout})`, async ({ browser }) => {
        const slug = uniqueSlug(`a11y-${colorScheme}-${layout}`);
        const page = await person(browser, BASE_A, 'Reader', opened, { viewport, colorScheme });
        const created = await page.request.post('/api/rooms', { data: { slug, title: 'Accessible room' } });
        expect(created.status()).toBe(201);
        for (const text of ['hello @Reader', 'a link: https://example.com/page', '🎉']) {
          const sent = await page.request.post(`/api/rooms/${slug}/messages`, { data: { text } });
          expect(sent.status()).toBe(201);
        }
        await enterRoom(page, slug);
        await expect(page.locator('.messages li.message')).toHaveCount(3);
        expect(await violations(page)).toEqual([]);
      });
    }
  });
}

test('the theme toggle overrides the system, is remembered, and the server renders it', async ({ browser }) => {
  const context = await browser.newContext({ baseURL: BASE_A, colorScheme: 'light' });
  opened.push(context);
  const page = await context.newPage();
  await page.goto('/');
  await waitForHydration(page);
  const toggle = page.locator('.theme-toggle');
  const background = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  await expect(toggle).toHaveAttribute('data-theme-choice', 'system');
  const systemLight = await background();

  // System → Light → Dark: the page turns dark although the system is light.
  await toggle.click();
  await expect(toggle).toHaveAttribute('data-theme-choice', 'light');
  expect(await background()).toBe(systemLight);
  await toggle.click();
  await expect(toggle).toHaveAttribute('aria-label', 'Colour theme: Dark (change)');
  await expect(page.locator('html')).toHaveAttribute('data-theme', 'dark');
  expect(await background()).not.toBe(systemLight);
  expect(await violations(page)).toEqual([]);

  // Remembered: the server renders the next page dark before any script runs.
  const html = await (await page.request.get('/')).text();
  expect(html).toMatch(/<html[^>]*data-theme="dark"/);
  await page.reload();
  await waitForHydration(page);
  await expect(toggle).toHaveAttribute('data-theme-choice', 'dark');
  expect(await background()).not.toBe(systemLight);

  // Dark → System: the choice is forgotten.
  await toggle.click();
  await expect(toggle).toHaveAttribute('data-theme-choice', 'system');
  await expect(page.locator('html')).not.toHaveAttribute('data-theme', /./);
  expect(await background()).toBe(systemLight);
  const after = await (await page.request.get('/')).text();
  expect(after).not.toMatch(/<html[^>]*data-theme=/);
});
