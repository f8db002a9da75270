// Engine List latency with 50 recorded patches (what the D-Bus List method serves, without the bus marshalling):
// a real SQLite store in a temp dir (WAL, synchronous=FULL), the fake kernel of the unit tests. Target p99 ≤ 5 ms.
// Run: npx tsc -p tsconfig.json && node dist/bench/engine-list.js
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { SplicedEngine } from '../src/engine';
import { ModuleStore, Store } from '../src/store';
import { FakeKernel, writeModule } from '../test/unit/engine/fake-kernel';

const PATCHES = 50;
const WARMUP = 200;
const SAMPLES = 2000;

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spliced-bench-'));
  try {
    const store = Store.open(path.join(dir, 'spliced.db'));
    const kernel = new FakeKernel();
    const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
    const engine = await SplicedEngine.create({
      kernel,
      store,
      modules: new ModuleStore(path.join(dir, 'modules')),
      log: quiet,
      bootId: 'bench',
      settings: { transitionTimeoutMs: 1000, crashGuardWindowMs: 120_000, disabledReason: null, livepatchSupported: true, signingKey: null },
    });
    await engine.start();
    for (let i = 0; i < PATCHES; i++) {
      const file = writeModule(dir, {
        name: `splice_${i}`,
        description: `fix number ${i}`,
        fields: { 'spliced.cves': [`CVE-2025-${1000 + i}`], 'spliced.version': [`6.1.${159 + i}-1`] },
        functions: ['tcp_v4_rcv', 'udp_rcv', `func_${i}`],
      });
      const job = await engine.apply({ content: fs.readFileSync(file), name: file }, { origin: 'dbus' }).done;
      if (job.error) throw job.error;
    }
    const times: number[] = [];
    for (let i = 0; i < WARMUP + SAMPLES; i++) {
      const start = performance.now();
      const list = engine.list();
      const elapsed = performance.now() - start;
      if (list.length !== PATCHES) throw new Error(`expected ${PATCHES} patches, got ${list.length}`);
      if (i >= WARMUP) times.push(elapsed);
    }
    times.sort((a, b) => a - b);
    const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))];
    const result = {
      bench: 'engine.list',
      patches: PATCHES,
      samples: SAMPLES,
      p50Ms: +at(0.5).toFixed(3),
      p99Ms: +at(0.99).toFixed(3),
      maxMs: +times[times.length - 1].toFixed(3),
      targetP99Ms: 5,
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
    await engine.stop();
    store.close();
    process.exitCode = result.p99Ms <= result.targetP99Ms ? 0 : 1;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
