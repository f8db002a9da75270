// Builds the engine from the configuration: state dir, store, module store, the real kernel backend, boot id and
// kill switch. Shared by the daemon and `spliced tool`.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { killSwitchReason, SplicedEngine, type EngineLog, type SpliceBuilder } from '../engine';
import { chooseSigningKey, type SigningKey } from '../build/module/signing-key';
import { SplicedError } from '../errors';
import { KernelBackend } from '../kernel';
import { ModuleStore, Store } from '../store';
import type { Config } from './config';
import { processRunner, unitRunner, workerBuilder, type WorkerRunner } from './builder';
import { limitConcurrentBuilds } from './build-slots';
import { lockStateDir } from './lock';
import { systemdRuntimeDir } from './runtime-dir';

export interface Composed {
  engine: SplicedEngine;
  /** The builder jobs use (build slots + worker process): the distro feed builds through it too. */
  builder: SpliceBuilder;
  /** Where worker jobs run (a unit or a child process): the builder's, and the distro feed's plan. */
  runner: WorkerRunner;
  /** Stop the engine (queued jobs finish; patches stay loaded), close the store, release the state dir. */
  close(): Promise<void>;
}

const LIVEPATCH_SYSFS = '/sys/kernel/livepatch';

export async function composeEngine(config: Config, log: EngineLog): Promise<Composed> {
  fs.mkdirSync(config.stateDir, { recursive: true, mode: 0o700 });
  const lock = await lockStateDir(config.stateDir);
  let store: Store | null = null;
  try {
    const opened = Store.openOrSetAside(path.join(config.stateDir, 'spliced.db'));
    store = opened.store;
    // Modules built from source patches wait here to be applied; the builder's scratch files go here too.
    const buildDir = path.join(config.stateDir, 'builds');
    const signing = signingKeyOf(config, log);
    const runner = buildRunner(config, buildDir);
    const builder = limitConcurrentBuilds(workerBuilder(runner, signing, config.maxHeaderUnits), config.maxConcurrentBuilds);
    const engine = await SplicedEngine.create({
      kernel: new KernelBackend({ defaults: { transitionTimeoutMs: config.transitionTimeoutSeconds * 1000, busyRetries: 5 } }),
      store,
      modules: new ModuleStore(path.join(config.stateDir, 'modules')),
      builds: { builder, workDir: buildDir },
      log,
      bootId: readBootId(config.bootIdFile),
      setAsideDatabase: opened.setAside,
      settings: {
        transitionTimeoutMs: config.transitionTimeoutSeconds * 1000,
        crashGuardWindowMs: config.crashGuardSeconds * 1000,
        disabledReason: killSwitchReason({ cmdline: config.cmdlineFile, disableFile: config.disableFile }),
        livepatchSupported: fs.existsSync(LIVEPATCH_SYSFS),
        signingKey: signing?.key ?? null,
      },
    });
    const open = store;
    return {
      engine,
      builder,
      runner,
      close: async () => {
        await engine.stop();
        open.close();
        await lock.release();
      },
    };
  } catch (err) {
    store?.close();
    await lock.release();
    throw err;
  }
}

/**
 * Worker jobs (builds, the feed's plan) run in spliced-build@.service when systemd runs the daemon (it then gives the daemon its runtime directory,
 * where the build unit's job and output files live), else as child processes.
 */
function buildRunner(config: Config, buildDir: string): WorkerRunner {
  const runtimeDir = systemdRuntimeDir();
  const underSystemd = process.env.INVOCATION_ID !== undefined && runtimeDir !== undefined;
  if (config.buildIsolation === 'unit' && !underSystemd) {
    throw new SplicedError('InvalidArgument', 'build_isolation = unit needs spliced started by systemd with RuntimeDirectory=spliced');
  }
  return config.buildIsolation !== 'process' && underSystemd ? unitRunner(runtimeDir!) : processRunner(buildDir);
}

/** A configured key that cannot be used is logged, not fatal: the daemon must still reapply the stack. */
function signingKeyOf(config: Config, log: EngineLog): SigningKey | null {
  const configured =
    config.signingKey !== null && config.signingCertificate !== null
      ? { key: config.signingKey, certificate: config.signingCertificate }
      : null;
  const choice = chooseSigningKey(configured);
  if (choice.problem !== null) log.warn({ problem: choice.problem }, `no usable signing key: ${choice.problem}`);
  if (choice.key !== null) log.info({ key: choice.key.key, certificate: choice.key.certificate }, `splices are signed (${choice.key.source})`);
  return choice.key;
}

function readBootId(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new SplicedError('Internal', `cannot read the boot id from ${file}: ${(err as Error).message}`);
  }
}
