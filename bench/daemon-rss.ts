// Resident memory of an idle spliced daemon on the host (target ≤ 60 MB): started with a temp state dir, on a
// private dbus-daemon (a host package: scripts/host-packages.txt), measured from /proc/PID/status after READY
// and a few idle seconds. The host kernel has no livepatch support, so nothing is applied; the figure is the
// daemon's own footprint (Node, SQLite, pino, dbus-next), run with the unit's node flags.
// Run: npx tsc -p tsconfig.json && node dist/bench/daemon-rss.js
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PERMISSIVE_POLICY, startPrivateBus } from '../test/support/private-bus';

const MAIN = path.resolve(__dirname, '../src/daemon/main.js');
const IDLE_MS = 5000;
const TARGET_MB = 60;

function rssMb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

async function waitForReady(child: ChildProcess): Promise<void> {
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no READY within 20 s:\n${out}`)), 20_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('"msg":"ready"')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', (code) => reject(new Error(`spliced exited with ${code}:\n${out}`)));
  });
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spliced-rss-'));
  const bus = await startPrivateBus(PERMISSIVE_POLICY);
  try {
    fs.writeFileSync(path.join(dir, 'boot_id'), 'bench\n');
    // The node flags units/spliced.service uses.
    const child = spawn(process.execPath, ['--jitless', '--no-expose-wasm', MAIN], {
      env: {
        ...process.env,
        SPLICED_CONFIG: path.join(dir, 'none.conf'),
        SPLICED_STATE_DIR: path.join(dir, 'state'),
        SPLICED_BOOT_ID_FILE: path.join(dir, 'boot_id'),
        SPLICED_BUS: bus.address,
        NOTIFY_SOCKET: '',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await waitForReady(child);
    await new Promise((resolve) => setTimeout(resolve, IDLE_MS));
    const rss = rssMb(child.pid!);
    child.kill('SIGTERM');
    await new Promise((resolve) => child.on('exit', resolve));
    process.stdout.write(
      `${JSON.stringify({ bench: 'daemon idle RSS', bus: 'private dbus-daemon', rssMb: +rss.toFixed(1), targetMb: TARGET_MB })}\n`,
    );
    process.exitCode = rss <= TARGET_MB ? 0 : 1;
  } finally {
    await bus.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
