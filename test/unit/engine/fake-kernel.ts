// A KernelPort for host unit tests: keeps /sys/kernel/livepatch in memory. A "module file" is JSON holding the
// modinfo the fake reports, so tests can make modules of any name, release and metadata without a compiler.
// Never a substitute for the guest tests against the real kernel.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { SplicedError } from '../../../src/errors';
import type {
  KernelIdentity,
  KernelPort,
  LivePatch,
  LoadResult,
  ModuleInfo,
  SignaturePolicy,
  TransitionOptions,
} from '../../../src/kernel/types';

export interface FakeModule {
  name: string;
  release?: string;
  livepatch?: boolean;
  /** Carries a signature (whether the fake kernel trusts it is not modelled). */
  signed?: boolean;
  description?: string;
  /** Extra modinfo fields (e.g. spliced.version). */
  fields?: Record<string, string[]>;
  functions?: string[];
  /** Atomic-replace: names of the patches it replaces when loaded. */
  replaces?: string[];
}

/** Where a simulated daemon death happens: the call never returns, before or after the kernel acted. */
export type Hang = 'before-kernel' | 'after-kernel';

export const FAKE_IDENTITY: KernelIdentity = {
  release: '6.1.0-56-amd64',
  buildId: 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678',
  version:
    'Linux version 6.1.0-56-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0) ' +
    '#1 SMP PREEMPT_DYNAMIC Debian 6.1.158-1 (2025-11-09)',
};

let moduleCounter = 0;

/** Write a fake module file into `dir` and return its path. */
export function writeModule(dir: string, module: FakeModule): string {
  const file = path.join(dir, `${module.name}-${++moduleCounter}.ko`);
  fs.writeFileSync(file, JSON.stringify({ release: FAKE_IDENTITY.release, livepatch: true, ...module }));
  return file;
}

export class FakeKernel implements KernelPort {
  readonly live = new Map<string, LivePatch>();
  /** Modules still loaded whose livepatch is gone from sysfs (a disable finished on 6.1, no rmmod yet). */
  readonly leftoverModules = new Set<string>();
  /** Every kernel action, in order: "load NAME" / "revert NAME". */
  readonly actions: string[] = [];
  /** Error thrown by the next load/revert (then cleared). */
  failNext: SplicedError | null = null;
  /** Simulate the daemon dying in the next load/revert (then cleared). */
  hangNext: Hang | null = null;
  /** After a load, report the patch as in transition for this many list() calls. */
  transitionPolls = 0;
  running = 0;
  maxConcurrent = 0;
  /** Milliseconds each load/revert takes. */
  delayMs = 0;
  /** What /sys/kernel/security/lockdown and sig_enforce say. */
  policy: SignaturePolicy = { required: false, lockdown: 'none', sigEnforce: false };

  constructor(readonly kernelIdentity: KernelIdentity = FAKE_IDENTITY) {}

  async identity(): Promise<KernelIdentity> {
    return this.kernelIdentity;
  }

  async readModuleInfo(file: string): Promise<ModuleInfo> {
    const module = parseModule(file);
    return {
      path: file,
      name: module.name.replace(/-/g, '_'),
      vermagic: `${module.release} SMP preempt mod_unload modversions`,
      release: module.release ?? FAKE_IDENTITY.release,
      livepatch: module.livepatch ?? true,
      signed: module.signed ?? false,
      description: module.description,
      fields: { ...(module.description ? { description: [module.description] } : {}), ...module.fields },
    };
  }

  async signaturePolicy(): Promise<SignaturePolicy> {
    return { ...this.policy };
  }

  async list(): Promise<LivePatch[]> {
    const patches = [...this.live.values()].map((p) => structuredClone(p));
    if (this.transitionPolls > 0) this.transitionPolls--;
    else for (const p of this.live.values()) p.transition = false;
    return patches;
  }

  async load(file: string, _options?: TransitionOptions): Promise<LoadResult> {
    const module = parseModule(file);
    const name = module.name.replace(/-/g, '_');
    return this.act(`load ${name}`, () => {
      if (this.live.has(name)) throw new SplicedError('AlreadyLoaded', `${name} is already loaded`);
      const superseded = (module.replaces ?? []).filter((old) => this.live.delete(old));
      this.live.set(name, {
        name,
        enabled: true,
        transition: this.transitionPolls > 0,
        objects: [{ name: 'vmlinux', patched: true, functions: (module.functions ?? []).map((f) => ({ name: f, sympos: 0 })) }],
      });
      return { patch: name, superseded, durationMs: 1 };
    });
  }

  async revert(name: string, _options?: TransitionOptions): Promise<void> {
    return this.act(`revert ${name}`, () => {
      if (!this.live.delete(name) && !this.leftoverModules.delete(name)) {
        throw new SplicedError('PatchNotLoaded', `${name} is not loaded`);
      }
    });
  }

  private async act<T>(action: string, change: () => T): Promise<T> {
    this.running++;
    this.maxConcurrent = Math.max(this.maxConcurrent, this.running);
    try {
      if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
      const hang = this.hangNext;
      this.hangNext = null;
      if (hang === 'before-kernel') return await never<T>();
      const failure = this.failNext;
      this.failNext = null;
      if (failure) throw failure;
      const result = change();
      this.actions.push(action);
      if (hang === 'after-kernel') return await never<T>();
      return result;
    } finally {
      this.running--;
    }
  }
}

function never<T>(): Promise<T> {
  return new Promise<T>(() => undefined);
}

function parseModule(file: string): FakeModule {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new SplicedError('UnreadableModule', `cannot read ${file}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text) as FakeModule;
  } catch {
    throw new SplicedError('CorruptModule', `${file} is not a (fake) kernel module`);
  }
}
