import { defineConfig } from '@playwright/test';

// Parlor processes under test (scripts/test.sh builds target/release/parlor and clears
// end2end/.data first). With a Redis (make test starts one and exports its URL) there are
// two processes, A and B, sharing one SQLite file and that Redis: scale-out as deployed.
const PORT_A = Number(process.env.PARLOR_E2E_PORT_A ?? 3100);
const PORT_B = Number(process.env.PARLOR_E2E_PORT_B ?? 3101);
export const BASE_A = `http://127.0.0.1:${PORT_A}`;
export const BASE_B = `http://127.0.0.1:${PORT_B}`;
const REDIS = process.env.PARLOR_TEST_REDIS_URL;

function server(name: string, port: number) {
  return {
    command: `./serve.sh ${name} ${port}`,
    url: `http://127.0.0.1:${port}/healthz`,
    reuseExistingServer: false,
    stdout: 'pipe' as const,
    stderr: 'pipe' as const,
    timeout: 60_000,
  };
}

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
  webServer: REDIS ? [server('a', PORT_A), server('b', PORT_B)] : [server('a', PORT_A)],
});
