// Scale-out: two Parlor processes sharing one database and one Redis. A person on
// one process chats with a person on the other, and `parlor broadcast` (a separate, short-
// lived process) reaches browsers on both.
import { expect, test, type Browser, type BrowserContext } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { BASE_A, BASE_B } from '../playwright.config';
import { createRoom, messageTexts, openRoom, person, uniqueSlug } from './helpers';

// Pages hold a lobby socket and a room connection: close the contexts each test opened, or
// the suite's browsers pile up connections against the server's per-address caps.
const opened: BrowserContext[] = [];
test.afterEach(async () => {
  for (const context of opened.splice(0)) await context.close().catch(() => {});
});


const REDIS = process.env.PARLOR_TEST_REDIS_URL;
test.skip(!REDIS, 'needs a Redis: make test starts one and sets PARLOR_TEST_REDIS_URL');

async function personOn(browser: Browser, base: string, name: string, slug: string) {
  const page = await person(browser, base, name, opened);
  await openRoom(page, slug);
  return page;
}

test('two browsers on two server processes chat with each other', async ({ browser, request }) => {
  const slug = uniqueSlug('two-servers');
  await createRoom(request, slug, 'Across processes');
  const ann = await personOn(browser, BASE_A, 'Ann on A', slug);
  const bob = await personOn(browser, BASE_B, 'Bob on B', slug);

  await ann.getByLabel('Message', { exact: true }).fill('hello from A');
  await ann.getByLabel('Message', { exact: true }).press('Enter');
  await expect(bob.locator('.messages .message .text').last()).toHaveText('hello from A');

  await bob.getByLabel('Message', { exact: true }).fill('hello from B');
  await bob.getByLabel('Message', { exact: true }).press('Enter');
  await expect(ann.locator('.messages .message .text').last()).toHaveText('hello from B');
  expect(await messageTexts(ann)).toEqual(await messageTexts(bob));
});

test('parlor broadcast reaches browsers connected to both servers', async ({ browser, request }) => {
  const slug = uniqueSlug('broadcast');
  await createRoom(request, slug, 'Announcements');
  const onA = await personOn(browser, BASE_A, 'Reader A', slug);
  const onB = await personOn(browser, BASE_B, 'Reader B', slug);

  const root = path.resolve(__dirname, '../..');
  execFileSync(
    path.join(root, 'target/release/parlor'),
    [
      'broadcast',
      '--database', path.join(root, 'end2end/.data/e2e.db'),
      '--redis', REDIS!,
      '--room', slug,
      '--text', 'Deploy at 17:00',
      '--as', 'Ops',
    ],
    { stdio: 'pipe' },
  );
  for (const page of [onA, onB]) {
    const last = page.locator('.messages li.message:not(.pending)').last();
    await expect(last.locator('.text')).toHaveText('Deploy at 17:00');
    await expect(last.locator('.author')).toHaveText('Ops');
  }
});
