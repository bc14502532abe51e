import { defineConfig } from '@playwright/test';

// Parlor processes under test. scripts/test.sh builds target/release/parlor first; each
// server gets a fresh SQLite file (end2end/serve.sh).
const PORT_A = Number(process.env.PARLOR_E2E_PORT_A ?? 3100);
export const BASE_A = `http://127.0.0.1:${PORT_A}`;

export default defineConfig({
  testDir: './tests',
  timeout: 30_000,
  expect: { timeout: 10_000 },
  fullyParallel: true,
  // Two cores: the server(s) and the browsers share them.
  workers: 2,
  retries: 0,
  reporter: [['list']],
  use: {
    baseURL: BASE_A,
    trace: 'retain-on-failure',
  },
  projects: [
    {
      name: 'chromium',
      use: {
        browserName: 'chromium',
        launchOptions: {
          // Debian's chromium: this machine cannot download Playwright's browsers.
          executablePath: '/usr/bin/chromium',
          args: [
            '--headless',
            '--no-sandbox',
            '--disable-gpu',
            '--disable-quic',
            '--no-first-run',
            '--disable-background-networking',
            '--disable-component-update',
            '--disable-sync',
          ],
        },
      },
    },
  ],
  webServer: [
    {
      command: `./serve.sh a ${PORT_A}`,
      url: `${BASE_A}/healthz`,
      reuseExistingServer: false,
      stdout: 'pipe',
      stderr: 'pipe',
      timeout: 60_000,
    },
  ],
});
