// A temp state dir, a store and an engine over the fake kernel; "restart" and "reboot" reuse the state dir the way
// the daemon would after being killed or after the machine rebooted.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after } from 'node:test';
import { SplicedEngine, type StartReport } from '../../../src/engine';
import type { EngineLog } from '../../../src/engine/context';
import type { ApplyInput, SpliceBuilder } from '../../../src/engine/types';
import { ModuleStore, Store } from '../../../src/store';
import { FakeKernel } from './fake-kernel';

export interface Machine {
  dir: string;
  kernel: FakeKernel;
  bootId: string;
}

export interface Running {
  engine: SplicedEngine;
  store: Store;
  report: StartReport;
  logs: string[];
}

export interface StartOptions {
  disabledReason?: string | null;
  crashGuardWindowMs?: number;
  transitionTimeoutMs?: number;
  /** Builds source patches; without one the engine takes modules only. */
  builder?: SpliceBuilder;
  /** The key built splices are signed with (settings.signingKey). */
  signingKey?: string | null;
}

let boots = 0;

function newBootId(): string {
  return `boot-${++boots}-${process.pid}`;
}

export function newMachine(): Machine {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spliced-engine-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.mkdirSync(path.join(dir, 'incoming'));
  return { dir, kernel: new FakeKernel(), bootId: newBootId() };
}

/** The same machine after a reboot: nothing live, a new boot id, the same state dir. */
export function reboot(machine: Machine, kernel: FakeKernel = new FakeKernel()): Machine {
  return { dir: machine.dir, kernel, bootId: newBootId() };
}

/** Start the daemon's engine on `machine` (also how a restart after kill -9 looks: same boot, same kernel). */
export async function startEngine(machine: Machine, options: StartOptions = {}): Promise<Running> {
  const created = await createEngine(machine, options);
  return { ...created, report: await created.engine.start() };
}

/** The engine before start(): what the bus sees while the daemon is still reapplying. */
export async function createEngine(machine: Machine, options: StartOptions = {}): Promise<Omit<Running, 'report'>> {
  const { store, setAside } = Store.openOrSetAside(path.join(machine.dir, 'spliced.db'));
  after(() => store.close());
  const logs: string[] = [];
  const log: EngineLog = {
    info: (_fields, message) => logs.push(`info: ${message}`),
    warn: (_fields, message) => logs.push(`warn: ${message}`),
    error: (_fields, message) => logs.push(`error: ${message}`),
  };
  const engine = await SplicedEngine.create({
    kernel: machine.kernel,
    store,
    modules: new ModuleStore(path.join(machine.dir, 'modules')),
    ...(options.builder ? { builds: { builder: options.builder, workDir: path.join(machine.dir, 'builds') } } : {}),
    log,
    bootId: machine.bootId,
    setAsideDatabase: setAside,
    settings: {
      transitionTimeoutMs: options.transitionTimeoutMs ?? 2000,
      crashGuardWindowMs: options.crashGuardWindowMs ?? 120_000,
      disabledReason: options.disabledReason ?? null,
      livepatchSupported: true,
      signingKey: options.signingKey ?? null,
    },
  });
  return { engine, store, logs };
}

export function incoming(machine: Machine): string {
  return path.join(machine.dir, 'incoming');
}

/** What a door hands the engine for `file`: its content, read here, and its path as the name. */
export function fileInput(file: string): ApplyInput {
  return { content: fs.readFileSync(file), name: file };
}
