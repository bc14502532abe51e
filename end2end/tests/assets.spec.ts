// The site's files as deployed: the JS, WASM and CSS carry their content hash in their
// names and are cached for a year; other files for an hour; none of them sets a cookie,
// even for a visitor with a session.
import { expect, test } from '@playwright/test';

test('hashed assets are immutable and static files set no cookie', async ({ request }) => {
  const guest = await request.post('/api/session/guest', { data: { name: 'Cacher' } });
  expect(guest.status()).toBe(200);
  const html = await (await request.get('/')).text();
  const assets = [...html.matchAll(/\/pkg\/[^"']+\.(?:js|wasm|css)/g)].map((m) => m[0]);
  expect(assets.length, html).toBeGreaterThanOrEqual(3);
  for (const path of new Set(assets)) {
    const response = await request.get(path);
    expect(response.status(), path).toBe(200);
    expect(path, 'a content hash in the name').toMatch(/\.[A-Za-z0-9_-]{10,}\.(js|wasm|css)$/);
    expect(response.headers()['cache-control'], path).toBe('public, max-age=31536000, immutable');
    expect(response.headers()['set-cookie'], path).toBeUndefined();
  }
  const icon = await request.get('/favicon.svg');
  expect(icon.headers()['cache-control']).toBe('public, max-age=3600');
  expect(icon.headers()['set-cookie']).toBeUndefined();
});

test('the WASM, JS and CSS go out precompressed, brotli first, gzip for older clients', async ({ request }) => {
  const html = await (await request.get('/')).text();
  const assets = [...new Set([...html.matchAll(/\/pkg\/[^"']+\.(?:js|wasm|css)/g)].map((m) => m[0]))];
  for (const path of assets) {
    const plain = await request.get(path, { headers: { 'accept-encoding': 'identity' } });
    expect(plain.headers()['content-encoding'], path).toBeUndefined();
    const original = (await plain.body()).length;
    for (const encoding of ['br', 'gzip']) {
      const packed = await request.get(path, { headers: { 'accept-encoding': encoding } });
      expect(packed.status(), path).toBe(200);
      expect(packed.headers()['content-encoding'], `${path} ${encoding}`).toBe(encoding);
      expect(packed.headers()['vary'] ?? '', path).toMatch(/accept-encoding/i);
      // A length up front: the file compressed at build time, not compressed per request.
      expect(Number(packed.headers()['content-length']), path).toBeLessThan(original);
      expect(packed.headers()['cache-control'], path).toBe('public, max-age=31536000, immutable');
      // Playwright decodes the body: it must be the very file, byte for byte.
      expect((await packed.body()).length, `${path} ${encoding}`).toBe(original);
    }
  }
});
