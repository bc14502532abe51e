// The walking skeleton: server-rendered room list, room creation, live chat
// between two browsers over WebSockets, history on reload, IME-safe Enter, and a clean
// console after hydration.
import { expect, test } from '@playwright/test';
import {
  collectErrors,
  createRoom,
  messageTexts,
  openRoom,
  pickName,
  uniqueSlug,
  waitForHydration,
} from './helpers';

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });

  test('the room list is in the server-rendered HTML', async ({ page, request }) => {
    const slug = uniqueSlug('nojs');
    await createRoom(request, slug, 'Rendered <b>without</b> JS');

    const html = await (await request.get('/')).text();
    // Escaped, listed, linked.
    expect(html).toContain(`href="/rooms/${slug}"`);
    expect(html).toContain('Rendered &lt;b&gt;without&lt;/b&gt; JS');

    await page.goto('/');
    await expect(page.locator(`li.room-item[data-slug="${slug}"]`)).toContainText('Rendered <b>without</b> JS');
  });

  test('the create-room form works and explains a bad slug', async ({ page }) => {
    const slug = uniqueSlug('form-nojs');
    await page.goto('/');
    await expect(page.getByText('to create a room')).toBeVisible();
    await page.getByLabel('Display name').fill('Form maker');
    await page.getByRole('button', { name: 'Join' }).click();
    await expect(page.locator('.viewer-name')).toHaveText('Form maker');
    await page.getByLabel('Slug').fill('Not A Slug!');
    await page.getByLabel('Title').fill('Whatever');
    await page.getByRole('button', { name: 'Create room' }).click();
    await expect(page.locator('#room-slug-error')).toContainText('lower-case letters');

    await page.getByLabel('Slug').fill(slug);
    await page.getByLabel('Title').fill('Made without JS');
    await page.getByRole('button', { name: 'Create room' }).click();
    await expect(page).toHaveURL(new RegExp(`/rooms/${slug}$`));
    await expect(page.getByRole('heading', { name: 'Made without JS' })).toBeVisible();
  });

  test('picking a name and posting work as plain forms', async ({ page, request }) => {
    const slug = uniqueSlug('post-nojs');
    await createRoom(request, slug, 'Plain forms');
    await page.goto(`/rooms/${slug}`);
    await expect(page.getByText('pick a display name above')).toBeVisible();
    await page.getByLabel('Display name').fill('No Script');
    await page.getByRole('button', { name: 'Join' }).click();
    await expect(page.locator('.viewer-name')).toHaveText('No Script');
    await expect(page).toHaveURL(new RegExp(`/rooms/${slug}\\??$`));

    await page.getByLabel('Message', { exact: true }).fill('posted <i>without</i> WASM');
    await page.getByRole('button', { name: 'Send' }).click();
    await expect(page).toHaveURL(new RegExp(`/rooms/${slug}$`));
    const last = page.locator('.messages li.message').last();
    await expect(last.locator('.text')).toHaveText('posted <i>without</i> WASM');
    await expect(last.locator('.author')).toHaveText('No Script');
  });

  test('an unknown room is a 404 page', async ({ page }) => {
    const response = await page.goto('/rooms/no-such-room-here');
    expect(response?.status()).toBe(404);
    await expect(page.getByRole('heading', { name: 'Not found' })).toBeVisible();
  });
});

test('create a room through the form, with a clear message for a duplicate', async ({ page }) => {
  const errors = collectErrors(page, [409]);
  const slug = uniqueSlug('form');
  await page.goto('/');
  await waitForHydration(page);
  await pickName(page, 'Room maker');
  await page.getByLabel('Slug').fill(slug);
  await page.getByLabel('Title').fill('Made by the form');
  await page.getByRole('button', { name: 'Create room' }).click();
  await expect(page).toHaveURL(new RegExp(`/rooms/${slug}$`));
  await expect(page.getByRole('heading', { name: 'Made by the form' })).toBeVisible();

  await page.goto('/');
  await expect(page.locator(`li.room-item[data-slug="${slug}"]`)).toContainText('Made by the form');
  await waitForHydration(page);
  await page.getByLabel('Slug').fill(slug);
  await page.getByLabel('Title').fill('Again');
  await page.getByRole('button', { name: 'Create room' }).click();
  await expect(page.locator('#room-slug-error')).toContainText('already exists');
  expect(errors).toEqual([]);
});

test('two browsers chat both ways, live and in the same order; reload keeps history', async ({
  browser,
  request,
}) => {
  const slug = uniqueSlug('chat');
  await createRoom(request, slug, 'Two people');
  const ann = await browser.newPage();
  const bob = await browser.newPage();
  const annErrors = collectErrors(ann);
  const bobErrors = collectErrors(bob);

  for (const [page, name] of [
    [ann, 'Ann'],
    [bob, 'Bob 민수'],
  ] as const) {
    await page.goto('/');
    await waitForHydration(page);
    await pickName(page, name);
    await openRoom(page, slug);
  }

  // Enter sends; Shift+Enter makes a new line.
  const annBox = ann.getByLabel('Message', { exact: true });
  await annBox.fill('hello bob');
  await annBox.press('Enter');
  await expect(bob.locator('.messages .message .text').last()).toHaveText('hello bob');
  await expect(annBox).toHaveValue('');

  const bobBox = bob.getByLabel('Message', { exact: true });
  await bobBox.pressSequentially('line one');
  await bobBox.press('Shift+Enter');
  await bobBox.pressSequentially('line two');
  await bob.getByRole('button', { name: 'Send' }).click();
  await expect(ann.locator('.messages .message .text').last()).toHaveText('line one\nline two');

  // Author and time are shown.
  const last = ann.locator('.messages li.message:not(.pending)').last();
  await expect(last.locator('.author')).toHaveText('Bob 민수');
  await expect(last.locator('time')).toHaveAttribute('datetime', /^\d{4}-\d\d-\d\dT/);

  // A burst from both sides lands in the same order everywhere.
  for (let i = 0; i < 5; i++) {
    await annBox.fill(`ann ${i}`);
    await annBox.press('Enter');
    await bobBox.fill(`bob ${i}`);
    await bobBox.press('Enter');
  }
  await expect(ann.locator('.messages li.message:not(.pending)')).toHaveCount(12);
  await expect(bob.locator('.messages li.message:not(.pending)')).toHaveCount(12);
  const seenByAnn = await messageTexts(ann);
  expect(await messageTexts(bob)).toEqual(seenByAnn);
  expect(new Set(seenByAnn).size).toBe(12);

  // History survives a reload (rendered by the server).
  await ann.reload();
  await waitForHydration(ann);
  expect(await messageTexts(ann)).toEqual(seenByAnn);

  expect(annErrors).toEqual([]);
  expect(bobErrors).toEqual([]);
});

test('Enter during an IME composition does not send', async ({ page, request }) => {
  const errors = collectErrors(page);
  const slug = uniqueSlug('ime');
  await createRoom(request, slug, 'IME');
  await page.goto('/');
  await waitForHydration(page);
  await pickName(page, '지민');
  await openRoom(page, slug);
  const box = page.getByLabel('Message', { exact: true });
  await box.click();

  // A real composition through Chrome's IME API, then an Enter that the browser reports as
  // part of it (isComposing, keyCode 229), as Korean and Japanese input methods do.
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Input.imeSetComposition', { text: '안녕', selectionStart: 2, selectionEnd: 2 });
  await box.evaluate((element) => {
    const composing = new KeyboardEvent('keydown', {
      key: 'Enter',
      code: 'Enter',
      isComposing: true,
      bubbles: true,
      cancelable: true,
    });
    element.dispatchEvent(composing);
    const legacy = new KeyboardEvent('keydown', { key: 'Enter', code: 'Enter', bubbles: true, cancelable: true });
    Object.defineProperty(legacy, 'keyCode', { get: () => 229 });
    element.dispatchEvent(legacy);
  });
  await cdp.send('Input.insertText', { text: '안녕하세요' });
  await page.waitForTimeout(500);
  await expect(page.locator('.messages li.message')).toHaveCount(0);
  await expect(box).toHaveValue('안녕하세요');

  // A plain Enter after the composition ended sends it.
  await box.press('Enter');
  await expect(page.locator('.messages li.message:not(.pending) .text')).toHaveText(['안녕하세요']);
  expect(errors).toEqual([]);
});
