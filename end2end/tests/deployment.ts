// A deployment as docs/capacity.md and the README's "Deploying" draw it, started by a test
// and stopped by it: a fresh PostgreSQL database, three `parlor serve` processes on it and on
// make test's Redis, and nginx running deploy/nginx.conf (only its ports changed) in front.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');
/** Bearer token the processes take for /metrics, so a test can see who holds what. */
const METRICS_TOKEN = 'e2e-deployed-metrics';

/** A port nothing listens on now (the OS picks it). */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** Polls `check` every 100 ms until it holds, or throws `what` after `ms`. */
async function until(what: string, ms: number, check: () => Promise<boolean>) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A new, empty database in the PostgreSQL make test started; returns its URL. */
function freshDatabase(serverUrl: string): string {
  const name = `e2e_deployed_${Date.now().toString(36)}_${process.pid}`;
  execFileSync('psql', [serverUrl, '-v', 'ON_ERROR_STOP=1', '-qc', `CREATE DATABASE ${name}`], {
    stdio: 'pipe',
  });
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** One `parlor serve` process (through end2end/serve.sh) and its port. */
export class Process {
  private constructor(
    readonly port: number,
    private readonly child: ChildProcess,
    readonly output: string[],
  ) {}

  static async start(name: string, database: string): Promise<Process> {
    const port = await freePort();
    const child = spawn(
      path.join(ROOT, 'end2end/serve.sh'),
      [name, String(port), '--trust-proxy', '--metrics-token', METRICS_TOKEN],
      {
        env: { ...process.env, PARLOR_E2E_DATABASE: database },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const output: string[] = [];
    for (const stream of [child.stdout, child.stderr]) {
      stream?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    }
    const started = new Process(port, child, output);
    await until(`parlor ${name} on ${port} to be healthy`, 30_000, async () => {
      if (child.exitCode !== null) throw new Error(`parlor ${name} exited:\n${output.join('')}`);
      return (await fetch(`http://127.0.0.1:${port}/healthz`)).ok;
    });
    return started;
  }

  /** Open connections of one transport (`ws`, `sse`, `longpoll`) on this process. */
  async connections(transport: string): Promise<number> {
    const response = await fetch(`http://127.0.0.1:${this.port}/metrics`, {
      headers: { authorization: `Bearer ${METRICS_TOKEN}` },
    });
    const prefix = `parlor_connections{transport="${transport}"} `;
    const line = (await response.text()).split('\n').find((l) => l.startsWith(prefix));
    return line ? Number(line.slice(prefix.length)) : 0;
  }

  /** Dies at once, as a crashed process or a lost machine does: no draining, no goodbye. */
  kill() {
    this.child.kill('SIGKILL');
  }

  /** Stops a process still running (SIGTERM: Parlor drains and exits). */
  async stop() {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
    this.child.kill('SIGKILL');
  }
}

/** nginx running deploy/nginx.conf from a temporary prefix, in the foreground. */
export class Nginx {
  private constructor(
    readonly port: number,
    private readonly child: ChildProcess,
    private readonly prefix: string,
  ) {}

  static async start(upstreams: number[]): Promise<Nginx> {
    let config = fs.readFileSync(path.join(ROOT, 'deploy/nginx.conf'), 'utf8');
    const defaults = ['127.0.0.1:3001', '127.0.0.1:3002', '127.0.0.1:3003'];
    if (upstreams.length !== defaults.length) throw new Error('deploy/nginx.conf names three');
    for (const [i, address] of defaults.entries()) {
      if (!config.includes(address)) throw new Error(`deploy/nginx.conf no longer names ${address}`);
      config = config.replace(address, `127.0.0.1:${upstreams[i]}`);
    }
    const port = await freePort();
    if (!config.includes('listen 127.0.0.1:8080')) throw new Error('deploy/nginx.conf listens elsewhere');
    config = config.replace('listen 127.0.0.1:8080', `listen 127.0.0.1:${port}`);
    const prefix = fs.mkdtempSync(path.join(os.tmpdir(), 'parlor-nginx-'));
    fs.mkdirSync(path.join(prefix, 'logs'));
    // Run as root, nginx's workers drop to `nobody`: they must write their temp files.
    fs.chmodSync(prefix, 0o777);
    fs.chmodSync(path.join(prefix, 'logs'), 0o777);
    const file = path.join(prefix, 'nginx.conf');
    fs.writeFileSync(file, config);
    const binary = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => fs.existsSync(p)) ?? 'nginx';
    const child = spawn(binary, ['-p', `${prefix}/`, '-c', file, '-e', 'logs/error.log', '-g', 'daemon off;'], {
      stdio: 'ignore',
    });
    const nginx = new Nginx(port, child, prefix);
    await until(`nginx on ${port}`, 10_000, async () => {
      if (child.exitCode !== null) throw new Error(`nginx exited: ${nginx.errors()}`);
      return (await fetch(`http://127.0.0.1:${port}/healthz`)).ok;
    });
    return nginx;
  }

  get base(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** nginx's error log: what it said about upstreams going away. */
  errors(): string {
    try {
      return fs.readFileSync(path.join(this.prefix, 'logs/error.log'), 'utf8');
    } catch {
      return '';
    }
  }

  /** SIGTERM, not SIGKILL: the master stops its workers before it exits. */
  async stop() {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((resolve) => this.child.once('exit', resolve));
      this.child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
    }
    fs.rmSync(this.prefix, { recursive: true, force: true });
  }
}

/** Three processes on one fresh PostgreSQL database and make test's Redis, nginx in front. */
export class Deployment {
  private constructor(
    readonly processes: Process[],
    readonly nginx: Nginx,
  ) {}

  static async start(postgresUrl: string): Promise<Deployment> {
    const database = freshDatabase(postgresUrl);
    const processes: Process[] = [];
    try {
      for (const name of ['p1', 'p2', 'p3']) processes.push(await Process.start(name, database));
      const nginx = await Nginx.start(processes.map((p) => p.port));
      return new Deployment(processes, nginx);
    } catch (error) {
      await Promise.all(processes.map((p) => p.stop()));
      throw error;
    }
  }

  async stop() {
    await this.nginx.stop();
    await Promise.all(this.processes.map((p) => p.stop()));
  }
}
