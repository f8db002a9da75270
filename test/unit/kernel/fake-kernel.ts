// A fake of the kernel's livepatch surfaces on a temporary directory tree: sysfs (livepatch, module), procfs (tasks
// with patch_state), the module loader and the kernel log. It follows 6.1's semantics (a disabled patch's directory
// vanishes; atomic replace disables older patches when its transition ends). Unit tests only; the guest is the proof.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KernelLog, KmsgRecord } from '../../../src/kernel/kmsg';
import { moduleNameFromPath } from '../../../src/kernel/modinfo';
import { ModuleLoaderError, type ModuleLoader } from '../../../src/kernel/module-loader';
import type { KernelRoots } from '../../../src/kernel/roots';

export interface FakeModuleBehaviour {
  /** The insert fails with this errno (the first `failures` times, default always), logging `log`. */
  insertErrno?: string;
  failures?: number;
  log?: string[];
  /** The enable transition never finishes on its own. */
  stall?: boolean;
  /** The disable transition never finishes on its own. */
  stallDisable?: boolean;
  replace?: boolean;
  functions?: string[];
}

const TRANSITION_MS = 30;

export class FakeKernel implements ModuleLoader, KernelLog {
  readonly dir = mkdtempSync(join(tmpdir(), 'fake-kernel-'));
  readonly roots: KernelRoots = { sys: join(this.dir, 'sys'), proc: join(this.dir, 'proc') };
  readonly behaviours = new Map<string, FakeModuleBehaviour>();
  readonly inserted: { name: string; params: readonly string[] }[] = [];
  private readonly records: KmsgRecord[] = [];
  private readonly enabledState = new Map<string, boolean>();
  private readonly ticker = setInterval(() => this.tick(), 5);

  constructor() {
    mkdirSync(join(this.roots.sys, 'kernel', 'livepatch'), { recursive: true });
    mkdirSync(join(this.roots.sys, 'module'), { recursive: true });
    mkdirSync(this.roots.proc, { recursive: true });
  }

  close(): void {
    clearInterval(this.ticker);
    rmSync(this.dir, { recursive: true, force: true });
  }

  log(message: string): void {
    this.records.push({ seq: this.records.length, message });
  }

  async position(): Promise<number> {
    return this.records.length - 1;
  }

  async recordsSince(seq: number): Promise<KmsgRecord[]> {
    return this.records.filter((r) => r.seq > seq);
  }

  /** A task in /proc with a patch_state and a stack. */
  addTask(pid: number, comm: string, patchState: number, stack: string[]): void {
    const dir = join(this.roots.proc, String(pid), 'task', String(pid));
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'comm'), `${comm}\n`);
    writeFileSync(join(dir, 'patch_state'), `${patchState}\n`);
    writeFileSync(join(dir, 'stack'), stack.map((f) => `[<0>] ${f}\n`).join(''));
  }

  patchDir(name: string): string {
    return join(this.roots.sys, 'kernel', 'livepatch', name);
  }

  moduleLoaded(name: string): boolean {
    return existsSync(join(this.roots.sys, 'module', name));
  }

  async insert(path: string, params: readonly string[] = []): Promise<void> {
    const name = moduleNameFromPath(path);
    const behaviour = this.behaviours.get(name) ?? {};
    this.inserted.push({ name, params });
    const failuresSoFar = this.inserted.filter((i) => i.name === name).length;
    if (behaviour.insertErrno && failuresSoFar <= (behaviour.failures ?? Infinity)) {
      for (const line of behaviour.log ?? []) this.log(line);
      throw new ModuleLoaderError(behaviour.insertErrno, `insmod: ERROR: could not insert module ${path}: ${behaviour.insertErrno}`);
    }
    mkdirSync(join(this.roots.sys, 'module', name), { recursive: true });
    writeFileSync(join(this.roots.sys, 'module', name, 'taint'), 'OEK\n');
    this.modules = [name, ...this.modules];
    const dir = this.patchDir(name);
    for (const fn of behaviour.functions ?? ['cmdline_proc_show']) mkdirSync(join(dir, 'vmlinux', `${fn},1`), { recursive: true });
    writeFileSync(join(dir, 'vmlinux', 'patched'), '1\n');
    writeFileSync(join(dir, 'enabled'), '1\n');
    writeFileSync(join(dir, 'transition'), '1\n');
    this.enabledState.set(name, true);
    if (!behaviour.stall) setTimeout(() => this.finishTransition(name), TRANSITION_MS);
  }

  async remove(name: string): Promise<void> {
    if (!this.moduleLoaded(name)) throw new ModuleLoaderError('ENOENT', `rmmod: ERROR: Module ${name} is not currently loaded`);
    if (existsSync(this.patchDir(name))) throw new ModuleLoaderError('EBUSY', `rmmod: ERROR: Module ${name} is in use`);
    rmSync(join(this.roots.sys, 'module', name), { recursive: true });
    this.modules = this.modules.filter((m) => m !== name);
  }

  /** Loaded modules, newest first, written to /proc/modules as the kernel lists them. */
  private set modules(names: string[]) {
    writeFileSync(join(this.roots.proc, 'modules'), names.map((n) => `${n} 16384 0 - Live 0x0000000000000000 (OEK)\n`).join(''));
  }

  private get modules(): string[] {
    if (!existsSync(join(this.roots.proc, 'modules'))) return [];
    return readFileSync(join(this.roots.proc, 'modules'), 'utf8').split('\n').filter(Boolean).map((l) => l.split(' ')[0]);
  }

  private finishTransition(name: string): void {
    const dir = this.patchDir(name);
    if (!existsSync(dir)) return;
    if (this.enabledState.get(name)) {
      writeFileSync(join(dir, 'transition'), '0\n');
      if (this.behaviours.get(name)?.replace) this.replaceOthers(name);
    } else {
      rmSync(dir, { recursive: true }); // 6.1: a disabled patch is freed
      this.enabledState.delete(name);
    }
  }

  private replaceOthers(name: string): void {
    for (const other of readdirSync(join(this.roots.sys, 'kernel', 'livepatch'))) {
      if (other === name) continue;
      writeFileSync(join(this.patchDir(other), 'enabled'), '0\n');
      this.enabledState.delete(other);
      setTimeout(() => rmSync(this.patchDir(other), { recursive: true, force: true }), 20);
    }
  }

  /** React to writes of `enabled`, as the kernel does: start (or reverse) a transition. */
  private tick(): void {
    for (const [name, enabled] of this.enabledState) {
      const file = join(this.patchDir(name), 'enabled');
      if (!existsSync(file)) continue;
      const written = readFileSync(file, 'utf8').trim() === '1';
      if (written === enabled) continue;
      this.enabledState.set(name, written);
      writeFileSync(join(this.patchDir(name), 'transition'), '1\n');
      const stalls = !written && this.behaviours.get(name)?.stallDisable;
      if (!stalls) setTimeout(() => this.finishTransition(name), TRANSITION_MS);
    }
  }
}
