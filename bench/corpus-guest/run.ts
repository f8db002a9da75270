// Inside the 6.1.0-53 guest (bench/corpus-guest.ts starts it): every corpus splice in $GUEST_WORK/modules is
// loaded, transitioned, disabled and unloaded through spliced's own kernel backend, one after the other, after
// loading the modules it patches where the guest can load them. The kernel log of each must show no Call Trace.
// Results go to $GUEST_WORK/guest-results.jsonl one line per splice; a splice started but without a line (the guest
// reset under it) is recorded as a crash on the next boot, and the run goes on after it.
import { execFile } from 'node:child_process';
import { appendFileSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { KernelBackend } from '../../src/kernel';
import { SPLICE_MODINFO } from '../../src/kernel/splice-modinfo';

const run = promisify(execFile);

export interface GuestOutcome {
  module: string;
  /** loaded, transitioned, disabled and unloaded with a clean kernel log */
  ok: boolean;
  /** Where it failed: error kind of the backend, 'call-trace', 'crash'. */
  failure?: string;
  message?: string;
  /** Target modules modprobe loaded, and those it could not. */
  targets: string[];
  targetsNotLoaded: string[];
  applyMs?: number;
}

const lines = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : []);

async function modinfoField(module: string, field: string): Promise<string> {
  return (await run('modinfo', ['-F', field, module])).stdout.trim();
}

/** The klp objects a splice patches, other than vmlinux ("ext4:ext4_fill_super,0 vmlinux:…"). */
async function targetModules(module: string): Promise<string[]> {
  const functions = await modinfoField(module, SPLICE_MODINFO.functions);
  return [...new Set(functions.split(/\s+/).filter(Boolean).map((f) => f.slice(0, f.indexOf(':'))))].filter((o) => o !== 'vmlinux');
}

async function kernelLog(): Promise<string> {
  return (await run('dmesg')).stdout;
}

async function tryOne(kernel: KernelBackend, file: string): Promise<GuestOutcome> {
  const module = file.slice(file.lastIndexOf('/') + 1);
  const targets: string[] = [];
  const targetsNotLoaded: string[] = [];
  for (const target of await targetModules(file)) {
    await run('modprobe', [target]).then(() => targets.push(target), () => targetsNotLoaded.push(target));
  }
  await run('dmesg', ['--clear']);
  try {
    const loaded = await kernel.load(file);
    await kernel.revert(loaded.patch);
    const log = await kernelLog();
    if (/Call Trace|BUG:|WARNING:/.test(log)) return { module, ok: false, failure: 'call-trace', message: log.slice(-3000), targets, targetsNotLoaded, applyMs: loaded.durationMs };
    return { module, ok: true, targets, targetsNotLoaded, applyMs: loaded.durationMs };
  } catch (err) {
    const e = err as { kind?: string; message?: string };
    return { module, ok: false, failure: e.kind ?? 'exception', message: `${e.message ?? String(err)}\n${(await kernelLog()).slice(-2000)}`, targets, targetsNotLoaded };
  }
}

async function main(): Promise<void> {
  const work = process.env.GUEST_WORK;
  if (!work) throw new Error('run inside the test guest (GUEST_WORK unset)');
  const results = join(work, 'guest-results.jsonl');
  const started = join(work, 'guest-started');
  const finished = new Set(lines(results).map((l) => (JSON.parse(l) as GuestOutcome).module));
  for (const module of lines(started).filter((m) => !finished.has(m))) {
    appendFileSync(results, JSON.stringify({ module, ok: false, failure: 'crash', message: 'the guest reset while this splice was being tried', targets: [], targetsNotLoaded: [] }) + '\n');
    finished.add(module);
  }
  const kernel = new KernelBackend();
  const modules = readdirSync(join(work, 'modules')).filter((m) => m.endsWith('.ko')).sort();
  for (const [i, module] of modules.entries()) {
    if (finished.has(module)) continue;
    appendFileSync(started, module + '\n');
    const outcome = await tryOne(kernel, join(work, 'modules', module));
    appendFileSync(results, JSON.stringify(outcome) + '\n');
    console.log(`[${i + 1}/${modules.length}] ${module}: ${outcome.ok ? 'ok' : outcome.failure}`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
