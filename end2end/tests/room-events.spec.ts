// Room events (issue 13): editing and deleting messages, seen live by browsers on two
// Parlor processes and on every transport, and replayed to a page that was away.
import { expect, test, type Browser, type BrowserContext, type Page } from '@playwright/test';
import { BASE_A, BASE_B } from '../playwright.config';
import { enterRoom, person as newPerson, uniqueSlug, waitForHydration } from './helpers';

const REDIS = process.env.PARLOR_TEST_REDIS_URL;

const opened: BrowserContext[] = [];
test.afterEach(async () => {
  for (const context of opened.splice(0)) await context.close().catch(() => {});
});

function person(browser: Browser, base: string, name: string) {
  return newPerson(browser, base, name, opened);
}

async function say(page: Page, text: string) {
  const composer = page.getByLabel('Message', { exact: true });
  await composer.fill(text);
  await composer.press('Enter');
  const row = page.locator('.messages li.message:not(.pending)').filter({ hasText: text });
  await expect(row).toHaveCount(1);
  return row;
}

/** The stored message row whose text (or tombstone) is `text`. */
function row(page: Page, id: string) {
  return page.locator(`.messages li.message[data-id="${id}"]`);
}

test('edits and deletions reach everyone live, on two processes and every transport', async ({ browser }) => {
  test.setTimeout(60_000);
  const slug = uniqueSlug('events');
  const ann = await person(browser, BASE_A, 'Ann');
  const created = await ann.request.post('/api/rooms', { data: { slug, title: 'Events' } });
  expect(created.status()).toBe(201);
  const bob = await person(browser, REDIS ? BASE_B : BASE_A, 'Bob');
  const cy = await person(browser, BASE_A, 'Cy');
  const dee = await person(browser, REDIS ? BASE_B : BASE_A, 'Dee');
  await enterRoom(ann, slug);
  await enterRoom(bob, slug);
  await enterRoom(cy, slug, 'sse');
  await enterRoom(dee, slug, 'longpoll');

  const mine = await say(ann, 'teh first draft');
  const id = (await mine.getAttribute('data-id'))!;
  const bobs = await say(bob, 'a message of bob');
  const bobsId = (await bobs.getAttribute('data-id'))!;

  // Only the author gets Edit; the room's owner (ann) may delete bob's message; anyone replies.
  await row(bob, id).hover();
  await expect(row(bob, id).locator('button.reply')).toBeVisible();
  await expect(row(bob, id).locator('button.edit')).toHaveCount(0);
  await expect(row(bob, id).locator('button.delete')).toHaveCount(0);
  await row(ann, bobsId).hover();
  await expect(row(ann, bobsId).locator('button.edit')).toHaveCount(0);
  await expect(row(ann, bobsId).locator('button.delete')).toBeVisible();

  // Ann edits in place: Enter saves; everyone sees the new text marked "(edited)".
  await row(ann, id).hover();
  await row(ann, id).locator('button.edit').click();
  const editor = ann.getByLabel('Edit message');
  await expect(editor).toBeFocused();
  await expect(editor).toHaveValue('teh first draft');
  await editor.fill('the first draft');
  await editor.press('Enter');
  for (const page of [ann, bob, cy, dee]) {
    await expect(row(page, id).locator('.text')).toHaveText('the first draft');
    await expect(row(page, id).locator('.edited')).toHaveText('(edited)');
  }

  // ↑ in the empty composer edits your last message; Esc leaves it as it was.
  await ann.getByLabel('Message', { exact: true }).press('ArrowUp');
  await expect(ann.getByLabel('Edit message')).toBeFocused();
  await ann.getByLabel('Edit message').press('Escape');
  await expect(ann.getByLabel('Edit message')).toHaveCount(0);

  // The owner deletes bob's message (asked once more): a tombstone for everyone.
  await row(ann, bobsId).hover();
  await row(ann, bobsId).locator('button.delete').click();
  await row(ann, bobsId).locator('button.confirm-delete').click();
  for (const page of [ann, bob, cy, dee]) {
    await expect(row(page, bobsId)).toHaveAttribute('data-deleted', 'true');
    await expect(row(page, bobsId).locator('.text')).toHaveText('message deleted');
    await expect(row(page, bobsId)).not.toContainText('a message of bob');
  }

  // A reload renders the room as it stands: the edit kept, the deleted text nowhere.
  await bob.reload();
  await waitForHydration(bob);
  await expect(row(bob, id).locator('.text')).toHaveText('the first draft');
  await expect(row(bob, bobsId).locator('.text')).toHaveText('message deleted');
  expect(await bob.content()).not.toContain('a message of bob');
});

test('a page whose socket was cut sees what was edited and deleted meanwhile', async ({ browser }) => {
  test.setTimeout(60_000);
  const slug = uniqueSlug('away');
  const ann = await person(browser, BASE_A, 'Ann');
  const created = await ann.request.post('/api/rooms', { data: { slug, title: 'Away' } });
  expect(created.status()).toBe(201);
  const ids: string[] = [];
  let lastSeq = 0;
  for (const text of ['keep me', 'edit me', 'delete me']) {
    const sent = await ann.request.post(`/api/rooms/${slug}/messages`, { data: { text } });
    expect(sent.status()).toBe(201);
    const body = await sent.json();
    ids.push(String(body.id));
    lastSeq = body.seq;
  }

  // Bob's room socket goes through a switch: while it is off, the socket is cut and every
  // reconnect refused, so what happens meanwhile can only reach him by the resume.
  const bob = await person(browser, REDIS ? BASE_B : BASE_A, 'Bob');
  let cut = false;
  const sockets: { close: () => Promise<void> }[] = [];
  const urls: string[] = [];
  await bob.routeWebSocket(/\/ws\/rooms\//, (ws) => {
    urls.push(ws.url());
    if (cut) return ws.close();
    ws.connectToServer();
    sockets.push(ws);
  });
  // Forced to WebSocket: refused reconnects must not make it fall back to SSE.
  await enterRoom(bob, slug, 'ws');
  await expect(row(bob, ids[2]).locator('.text')).toHaveText('delete me');
  cut = true;
  for (const ws of sockets.splice(0)) await ws.close();
  await expect(bob.locator('.connection')).toHaveAttribute('data-state', 'reconnecting');

  const edited = await ann.request.patch(`/api/rooms/${slug}/messages/${ids[1]}`, { data: { text: 'edited while away' } });
  expect(edited.status()).toBe(200);
  const deleted = await ann.request.delete(`/api/rooms/${slug}/messages/${ids[2]}`);
  expect(deleted.status()).toBe(200);
  await expect(row(bob, ids[1]).locator('.text')).toHaveText('edit me');

  cut = false;
  await bob.locator('.retry-now').click();
  await expect(bob.locator('.connection')).toHaveAttribute('data-state', 'live', { timeout: 15_000 });
  await expect(row(bob, ids[1]).locator('.text')).toHaveText('edited while away');
  await expect(row(bob, ids[1]).locator('.edited')).toHaveText('(edited)');
  await expect(row(bob, ids[2])).toHaveAttribute('data-deleted', 'true');
  await expect(row(bob, ids[0]).locator('.text')).toHaveText('keep me');
  // It resumed by seq, from the last event it had applied.
  expect(urls.at(-1)).toContain(`since=${lastSeq}`);
});

test('a reply quotes its original, jumps to it through older pages, and shows its deletion', async ({ browser }) => {
  test.setTimeout(60_000);
  const slug = uniqueSlug('replies');
  const ann = await person(browser, BASE_A, 'Ann');
  const created = await ann.request.post('/api/rooms', { data: { slug, title: 'Replies' } });
  expect(created.status()).toBe(201);
  const first = await ann.request.post(`/api/rooms/${slug}/messages`, { data: { text: 'the plan for Friday' } });
  const original = String((await first.json()).id);
  // Bury it under 64 messages (8 guests, each within its message burst): it is not among
  // the page's latest 50.
  for (let batch = 0; batch < 64; batch += 8) {
    const guest = await browser.newContext({ baseURL: BASE_A });
    opened.push(guest);
    await guest.request.post('/api/session/guest', { data: { name: `filler${batch}` } });
    const sends = [];
    for (let i = batch; i < batch + 8; i++) {
      sends.push(guest.request.post(`/api/rooms/${slug}/messages`, { data: { text: `filler ${i}` } }));
    }
    for (const sent of await Promise.all(sends)) expect(sent.status()).toBe(201);
  }
  // Ann answers her own old message through the API; Bob answers the last filler in the UI.
  const answer = await ann.request.post(`/api/rooms/${slug}/messages`, {
    data: { text: 'still on?', reply_to: Number(original) },
  });
  expect(answer.status()).toBe(201);
  const bob = await person(browser, REDIS ? BASE_B : BASE_A, 'Bob');
  await enterRoom(ann, slug);
  await enterRoom(bob, slug);
  await expect(row(bob, original)).toHaveCount(0);

  const reply = bob.locator('.messages li.message').filter({ hasText: 'still on?' });
  await expect(reply.locator('.quote')).toContainText('Ann');
  await expect(reply.locator('.quote')).toContainText('the plan for Friday');
  await reply.locator('.quote').click();
  await expect(row(bob, original)).toBeInViewport();
  await expect(row(bob, original)).toHaveClass(/highlighted/);

  // Reply in the UI: the composer says to whom; the answer carries the quote for everyone.
  const filler = ann.locator('.messages li.message').filter({ hasText: 'filler 63' });
  await filler.hover();
  await filler.locator('button.reply').click();
  await expect(ann.locator('.composer .replying')).toContainText('filler 63');
  await expect(ann.getByLabel('Message', { exact: true })).toBeFocused();
  await ann.getByLabel('Message', { exact: true }).fill('agreed');
  await ann.getByLabel('Message', { exact: true }).press('Enter');
  await expect(ann.locator('.composer .replying')).toHaveCount(0);
  for (const page of [ann, bob]) {
    const agreed = page.locator('.messages li.message:not(.pending)').filter({ hasText: 'agreed' });
    await expect(agreed.locator('.quote')).toContainText('filler 63');
  }

  // The original is deleted: its quotes become tombstones, live.
  const deleted = await ann.request.delete(`/api/rooms/${slug}/messages/${original}`);
  expect(deleted.status()).toBe(200);
  await expect(reply.locator('.quote')).toHaveAttribute('data-deleted', 'true');
  await expect(reply.locator('.quote')).toContainText('message deleted');
  await expect(reply.locator('.quote')).not.toContainText('the plan for Friday');
});

test('@ completes a name from the room and the mention is highlighted for its person', async ({ browser }) => {
  test.setTimeout(60_000);
  const slug = uniqueSlug('mentions');
  const ann = await person(browser, BASE_A, 'Annika');
  const created = await ann.request.post('/api/rooms', { data: { slug, title: 'Mentions' } });
  expect(created.status()).toBe(201);
  const bob = await person(browser, REDIS ? BASE_B : BASE_A, 'Bob');
  await enterRoom(ann, slug);
  await enterRoom(bob, slug);
  await expect(bob.locator('.presence')).toHaveAttribute('data-count', '2');

  const composer = bob.getByLabel('Message', { exact: true });
  await composer.pressSequentially('lunch? @an');
  await expect(bob.locator('.mention-option')).toHaveText(['@Annika']);
  await composer.press('Enter');
  await expect(composer).toHaveValue('lunch? @Annika ');
  await composer.press('Enter');
  const sent = ann.locator('.messages li.message:not(.pending)').filter({ hasText: 'lunch?' });
  await expect(sent.locator('.mention.me')).toHaveText('@Annika');
  const own = bob.locator('.messages li.message:not(.pending)').filter({ hasText: 'lunch?' });
  await expect(own.locator('.mention')).toHaveText('@Annika');
  await expect(own.locator('.mention.me')).toHaveCount(0);

  // Esc closes the list; the text stays as typed.
  await composer.pressSequentially('@A');
  await expect(bob.locator('.mention-option')).toHaveCount(1);
  await composer.press('Escape');
  await expect(bob.locator('.mention-option')).toHaveCount(0);
  await expect(composer).toHaveValue('@A');
});

test('reactions: a picked emoji shows with its count on both processes, and toggles off', async ({ browser }) => {
  test.setTimeout(60_000);
  const slug = uniqueSlug('react');
  const ann = await person(browser, BASE_A, 'Ann');
  const created = await ann.request.post('/api/rooms', { data: { slug, title: 'Reactions' } });
  expect(created.status()).toBe(201);
  const bob = await person(browser, REDIS ? BASE_B : BASE_A, 'Bob');
  const cy = await person(browser, BASE_A, 'Cy');
  await enterRoom(ann, slug);
  await enterRoom(bob, slug);
  await enterRoom(cy, slug, 'sse');
  const message = await say(ann, 'lunch at noon?');
  const id = (await message.getAttribute('data-id'))!;

  // Bob reacts from the picker; everyone sees 🎉 1, and only bob's chip is his.
  await row(bob, id).hover();
  await row(bob, id).locator('button.react').click();
  await bob.getByRole('button', { name: 'React with 🎉' }).click();
  for (const page of [ann, bob, cy]) {
    const chip = row(page, id).locator('button.reaction[data-emoji="🎉"]');
    await expect(chip.locator('.reaction-count')).toHaveText('1');
    await expect(chip).toHaveAttribute('title', 'Bob');
  }
  await expect(row(bob, id).locator('button.reaction')).toHaveAttribute('aria-pressed', 'true');
  await expect(row(ann, id).locator('button.reaction')).toHaveAttribute('aria-pressed', 'false');

  // Ann adds hers with a click on the chip, then any emoji typed in the picker.
  await row(ann, id).locator('button.reaction[data-emoji="🎉"]').click();
  await expect(row(cy, id).locator('button.reaction[data-emoji="🎉"] .reaction-count')).toHaveText('2');
  await row(ann, id).hover();
  await row(ann, id).locator('button.react').click();
  await ann.getByLabel('Any emoji').fill('🦀');
  await ann.getByLabel('Any emoji').press('Enter');
  await expect(row(bob, id).locator('button.reaction[data-emoji="🦀"] .reaction-count')).toHaveText('1');
  // Something that is not one emoji is refused, and the page says why.
  await row(ann, id).hover();
  await row(ann, id).locator('button.react').click();
  await ann.getByLabel('Any emoji').fill('lol');
  await ann.getByLabel('Any emoji').press('Enter');
  await expect(ann.locator('.notice, [role="alert"]').filter({ hasText: 'one emoji' }).first()).toBeVisible();

  // Bob takes his off: 🎉 1 everywhere; a reload shows what the store has.
  await row(bob, id).locator('button.reaction[data-emoji="🎉"]').click();
  await expect(row(ann, id).locator('button.reaction[data-emoji="🎉"] .reaction-count')).toHaveText('1');
  await cy.reload();
  await waitForHydration(cy);
  await expect(row(cy, id).locator('button.reaction')).toHaveCount(2);
  await expect(row(cy, id).locator('button.reaction[data-emoji="🎉"]')).toHaveAttribute('title', 'Ann');
});

/** A new browser with a new account `name` signed in (usernames must be unique per run). */
async function account(
  browser: Browser,
  base: string,
  name: string,
  prepare?: (context: BrowserContext) => Promise<void>,
): Promise<Page> {
  const context = await browser.newContext({ baseURL: base });
  opened.push(context);
  if (prepare) await prepare(context);
  const page = await context.newPage();
  const signup = await page.request.post('/api/signup', { data: { username: name, password: 'correct horse battery' } });
  expect(signup.status(), await signup.text()).toBe(201);
  await page.goto('/');
  await waitForHydration(page);
  return page;
}

test('a direct message only the two of them can see, across processes', async ({ browser }) => {
  test.setTimeout(60_000);
  const tag = Date.now().toString(36).slice(-6);
  const [annName, bobName, cyName] = [`ann${tag}`, `bob${tag}`, `cy${tag}`];
  const ann = await account(browser, BASE_A, annName);
  const bob = await account(browser, REDIS ? BASE_B : BASE_A, bobName);
  const cy = await account(browser, BASE_A, cyName);

  // Ann opens the conversation from the home page's form and lands in it.
  await ann.locator('#direct-username').fill(bobName);
  await ann.getByRole('button', { name: 'Message' }).click();
  await expect(ann).toHaveURL(/\/rooms\/dm-\d+-\d+$/);
  await waitForHydration(ann);
  await expect(ann.locator('.connection')).toHaveAttribute('data-state', 'live');
  const slug = new URL(ann.url()).pathname.split('/').pop()!;
  await say(ann, 'just between us');

  // Bob's room list shows it (marked private) and he answers in it.
  await bob.reload();
  await waitForHydration(bob);
  const link = bob.locator(`.rooms li.room-item[data-slug="${slug}"]`);
  await expect(link).toContainText(`${annName} & ${bobName}`);
  await expect(link.locator('.lock')).toBeVisible();
  await enterRoom(bob, slug);
  await expect(bob.locator('.messages li.message .text')).toContainText(['just between us']);
  await say(bob, 'agreed');
  await expect(ann.locator('.messages li.message:not(.pending)').filter({ hasText: 'agreed' })).toHaveCount(1);

  // Cy sees no trace of it: not in the list, and its address is "not found".
  await cy.reload();
  await expect(cy.locator(`[data-slug="${slug}"]`)).toHaveCount(0);
  const page = await cy.goto(`/rooms/${slug}`);
  expect(page?.status()).toBe(404);
  await expect(cy.locator('body')).not.toContainText('just between us');
  await expect(cy.locator('body')).not.toContainText(annName);
});

test('search finds a message and jumps to it in its room, through older pages', async ({ browser }) => {
  test.setTimeout(60_000);
  const slug = uniqueSlug('search');
  const word = `needle${Date.now().toString(36)}`;
  const ann = await person(browser, BASE_A, 'Ann');
  const created = await ann.request.post('/api/rooms', { data: { slug, title: 'Haystack' } });
  expect(created.status()).toBe(201);
  const needle = await ann.request.post(`/api/rooms/${slug}/messages`, { data: { text: `the ${word} is here` } });
  const id = String((await needle.json()).id);
  for (let batch = 0; batch < 64; batch += 8) {
    // A guest per batch: each stays within the per-user message rate.
    const guest = await browser.newContext({ baseURL: BASE_A });
    opened.push(guest);
    await guest.request.post('/api/session/guest', { data: { name: `hay${batch}` } });
    const sends = [];
    for (let i = batch; i < batch + 8; i++) {
      sends.push(guest.request.post(`/api/rooms/${slug}/messages`, { data: { text: `hay ${i}` } }));
    }
    for (const sent of await Promise.all(sends)) expect(sent.status()).toBe(201);
  }
  const bob = await person(browser, REDIS ? BASE_B : BASE_A, 'Bob');
  await bob.getByLabel('Search messages').fill(word);
  await bob.getByLabel('Search messages').press('Enter');
  await expect(bob).toHaveURL(/\/search\?q=/);
  const result = bob.locator('.search-result');
  await expect(result).toHaveCount(1);
  await expect(result).toContainText(`the ${word} is here`);
  await expect(result).toContainText(`#${slug}`);
  await result.locator('a').click();
  await expect(bob).toHaveURL(new RegExp(`/rooms/${slug}\\?at=${id}$`));
  await waitForHydration(bob);
  await expect(row(bob, id)).toBeInViewport();
  await expect(row(bob, id)).toHaveClass(/highlighted/);
});

test('a mention becomes a browser notification while the tab is hidden, once allowed', async ({ browser }) => {
  test.setTimeout(60_000);
  const tag = Date.now().toString(36).slice(-6);
  const [annName, boName] = [`ann${tag}`, `bo${tag}`];
  const slug = uniqueSlug('notify');
  const ann = await account(browser, BASE_A, annName);
  const created = await ann.request.post('/api/rooms', { data: { slug, title: 'Notify' } });
  expect(created.status()).toBe(201);
  // Bo, on the other process, is looking at the home page. The real Notification API is
  // spied on (every notification shown is recorded), and since a headless page is always
  // visible, the test says when his tab is hidden.
  const bo = await account(browser, REDIS ? BASE_B : BASE_A, boName, async (context) => {
    await context.addInitScript(() => {
      const w = window as unknown as {
        Notification: typeof Notification;
        __shown: { title: string; body?: string; tag?: string }[];
        __hidden?: boolean;
      };
      w.__shown = [];
      const Real = w.Notification;
      if (!Real) return;
      w.Notification = class extends Real {
        constructor(title: string, options?: NotificationOptions) {
          super(title, options);
          w.__shown.push({ title, body: options?.body, tag: options?.tag });
        }
      };
      Object.defineProperty(document, 'hidden', { configurable: true, get: () => w.__hidden === true });
    });
  });
  const shown = () => bo.evaluate(() => (window as unknown as { __shown: unknown[] }).__shown);

  // Not asked yet: the sidebar offers it; allowing it takes the offer away.
  const offer = bo.getByRole('button', { name: 'Notify me of mentions' });
  await expect(offer).toBeVisible();
  await bo.context().grantPermissions(['notifications']);
  await offer.click();
  await expect(offer).toHaveCount(0);

  // A mention while bo looks at the tab: the badge counts it, no notification.
  await ann.request.post(`/api/rooms/${slug}/messages`, { data: { text: `@${boName} are you there?` } });
  const link = bo.locator(`.room-link[data-slug="${slug}"]`);
  await expect(link.locator('.badge.mention')).toHaveText('@1');
  expect(await shown()).toEqual([]);

  // His tab hidden, the next mention is a notification naming the author and the room; a
  // message that names someone else is not.
  await bo.evaluate(() => { (window as unknown as { __hidden: boolean }).__hidden = true; });
  await ann.request.post(`/api/rooms/${slug}/messages`, { data: { text: 'nobody named here' } });
  const sent = await ann.request.post(`/api/rooms/${slug}/messages`, { data: { text: `@${boName} lunch at noon` } });
  const id = (await sent.json()).id;
  await expect.poll(shown).toEqual([
    { title: `${annName} in Notify`, body: `@${boName} lunch at noon`, tag: `parlor-mention-${id}` },
  ]);
  await expect(link.locator('.badge.mention')).toHaveText('@2');
});
