// Cold loads of one page in Chromium (Playwright from end2end/node_modules): what went over
// the wire and when the page became interactive (the app sets data-hydrated once the WASM
// has hydrated it). Every load is a fresh browser context: no cache, no cookies.
//   PARLOR_FIRSTPAINT_URL=http://127.0.0.1:4700/rooms/paint node bench/scripts/firstpaint.mjs
import { createRequire } from 'node:module';
import * as path from 'node:path';

const require = createRequire(path.resolve('end2end/package.json'));
const { chromium } = require('@playwright/test');
const url = process.env.PARLOR_FIRSTPAINT_URL;
const loads = Number(process.env.LOADS ?? 7);
if (!url) throw new Error('PARLOR_FIRSTPAINT_URL is not set');

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium' });
const runs = [];
for (let i = 0; i < loads; i++) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.addInitScript(() => {
    new MutationObserver((_, observer) => {
      if (document.querySelector('.app[data-hydrated="true"]')) {
        window.__hydratedAt = performance.now();
        observer.disconnect();
      }
    }).observe(document, { subtree: true, attributes: true, attributeFilter: ['data-hydrated'] });
  });
  await page.goto(url);
  await page.waitForFunction(() => window.__hydratedAt !== undefined, null, { timeout: 30_000 });
  runs.push(
    await page.evaluate(() => {
      const nav = performance.getEntriesByType('navigation')[0];
      const resources = performance.getEntriesByType('resource');
      const of = (suffix) => resources.find((r) => r.name.endsWith(suffix));
      const wasm = of('.wasm');
      const paint = performance.getEntriesByName('first-contentful-paint')[0];
      return {
        html: nav.encodedBodySize,
        wire: nav.transferSize + resources.reduce((sum, r) => sum + r.transferSize, 0),
        wasmWire: wasm?.encodedBodySize ?? 0,
        wasmBody: wasm?.decodedBodySize ?? 0,
        ttfb: nav.responseStart,
        fcp: paint?.startTime ?? NaN,
        load: nav.loadEventEnd,
        wasmDone: wasm?.responseEnd ?? NaN,
        hydrated: window.__hydratedAt,
        afterLoad: window.__hydratedAt - nav.loadEventEnd,
      };
    }),
  );
  await context.close();
}
await browser.close();

const median = (key) => {
  const sorted = runs.map((r) => r[key]).sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};
const ms = (key) => median(key).toFixed(0);
console.log(`Cold load of ${new URL(url).pathname}, ${loads} fresh contexts, medians:`);
console.log();
console.log('| HTML bytes (compressed) | all bytes on the wire | WASM on the wire / decoded | TTFB ms | first contentful paint ms | WASM received ms | load event ms | hydrated ms after navigation start | hydrated ms after load |');
console.log('|---|---|---|---|---|---|---|---|---|');
console.log(
  `| ${median('html')} | ${median('wire')} | ${median('wasmWire')} / ${median('wasmBody')} | ${ms('ttfb')} | ${ms('fcp')} | ${ms('wasmDone')} | ${ms('load')} | ${ms('hydrated')} | ${ms('afterLoad')} |`,
);
