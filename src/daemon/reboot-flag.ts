// The reboot flag in the daemon (docs/feed.md "The reboot flag"): whenever /run/reboot-required.pkgs changes or the
// live version (EffectiveVersion) does, it asks dpkg about the listed packages and takes out the kernel images whose
// fixes all run (src/sources/feed/reboot-flag.ts decides). spliced.service sees /run read-only (ProtectSystem=strict),
// so there the edit is spliced-reboot-flag.service's, a oneshot that may write /run and nothing else; where the
// directory is writable (tests, `spliced` run by hand) the daemon edits it itself.

import { constants, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import type { EngineLog } from '../engine/context';
import type { SplicedEngine } from '../engine';
import type { EngineStatus } from '../engine/types';
import { asSplicedError } from '../errors';
import { DPKG_QUERY_FORMAT, parseInstalled, type InstalledPackage } from '../sources/feed/apt-output';
import { runTool, type ToolRunner } from '../sources/feed/apt-view';
import { parseRelease } from '../sources/feed/kernel-release';
import { decideFlag, packageListOf, readPackageList, removeFromFlag } from '../sources/feed/reboot-flag';
import { systemctl } from './builder';
import { systemdRuntimeDir } from './runtime-dir';
import type { Config } from './config';

/** Takes the named lines out of the flag's package list (and the flag with the last one). */
export type FlagEditor = (remove: string[]) => Promise<void>;

export interface FlagRequest {
  flagFile: string;
  remove: string[];
}

export const REBOOT_FLAG_UNIT = 'spliced-reboot-flag.service';
/** The request the unit reads (its ExecStart names this path): the flag file and the lines to take out. */
export const flagRequestFile = (runtimeDir: string): string => path.join(runtimeDir, 'reboot-flag.json');

export interface RebootFlagDeps {
  /** /run/reboot-required (config reboot_required_file). */
  flagFile: string;
  status: () => EngineStatus;
  tools: ToolRunner;
  edit: FlagEditor;
  log: EngineLog;
  /** Changes within this long are looked at once (default 1 s). */
  settleMs?: number;
}

export class RebootFlagKeeper {
  private watcher: FSWatcher | null = null;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> = Promise.resolve();
  private lastEffective: string | null = null;
  /** The last decision logged, so an unchanged list is not logged again at every look. */
  private lastLogged = '';

  constructor(private readonly deps: RebootFlagDeps) {}

  async start(): Promise<void> {
    this.lastEffective = this.deps.status().effectiveVersion;
    const dir = path.dirname(this.deps.flagFile);
    const names = new Set([path.basename(this.deps.flagFile), path.basename(packageListOf(this.deps.flagFile))]);
    const watcher = watch(dir, { depth: 0, ignoreInitial: true, followSymlinks: false, ignored: (file) => file !== dir && !names.has(path.basename(file)) });
    this.watcher = watcher;
    watcher.on('all', () => this.soon());
    watcher.on('error', (err) => this.deps.log.warn({ dir }, `watching the reboot flag: ${String(err)}`));
    await new Promise<void>((resolve) => watcher.once('ready', resolve));
    this.soon();
  }

  /** The engine's status changed: look again when the live version did. */
  statusChanged(status: EngineStatus): void {
    if (status.effectiveVersion === this.lastEffective) return;
    this.lastEffective = status.effectiveVersion;
    this.soon();
  }

  /** Resolves once the looks asked for so far have ended (tests). */
  async idle(): Promise<void> {
    while (this.timer !== null) await new Promise((resolve) => setTimeout(resolve, 20));
    await this.running;
  }

  async stop(): Promise<void> {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    await this.watcher?.close();
    await this.running;
  }

  private soon(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      // One look at a time; a look never rejects.
      this.running = this.running.then(() => this.look());
    }, this.deps.settleMs ?? 1000);
  }

  private async look(): Promise<void> {
    const { flagFile, log } = this.deps;
    try {
      const listed = readPackageList(flagFile);
      if (listed.length === 0) return;
      const status = this.deps.status();
      const decision = decideFlag(listed, await this.installed(listed), { kernel: parseRelease(status.kernel.release), effectiveVersion: status.effectiveVersion });
      const logged = JSON.stringify(decision);
      if (decision.remove.length > 0) {
        await this.deps.edit(decision.remove);
        log.info({ event: 'reboot-flag-cleared', removed: decision.remove, kept: decision.keep }, `reboot flag: ${decision.remove.join(', ')} taken out (every fix runs live, ${status.effectiveVersion})${decision.keep.length ? `; kept: ${describe(decision.keep)}` : ''}`);
      } else if (logged !== this.lastLogged) {
        log.info({ event: 'reboot-flag-kept', kept: decision.keep }, `reboot flag kept: ${describe(decision.keep)}`);
      }
      this.lastLogged = logged;
    } catch (err) {
      const error = asSplicedError(err);
      log.warn({ event: 'reboot-flag-failed', kind: error.kind }, `reboot flag: ${error.message}`);
    }
  }

  private async installed(packages: string[]): Promise<Map<string, InstalledPackage>> {
    // dpkg-query exits 1 when one of them is unknown; the others are still printed.
    return parseInstalled((await this.deps.tools('dpkg-query', ['-W', DPKG_QUERY_FORMAT, ...packages])).stdout);
  }

}

function describe(keep: { package: string; reason: string }[]): string {
  return keep.map((k) => `${k.package} (${k.reason})`).join('; ');
}

/** The keeper as the daemon runs it (clear_reboot_required), following the engine's status; null when switched off. */
export async function startRebootFlag(config: Config, engine: SplicedEngine, log: EngineLog): Promise<RebootFlagKeeper | null> {
  if (!config.clearRebootRequired) return null;
  const keeper = new RebootFlagKeeper({
    flagFile: config.rebootRequiredFile,
    status: () => engine.status(),
    tools: runTool,
    edit: await chooseFlagEditor(config.rebootRequiredFile, systemdRuntimeDir()),
    log,
  });
  engine.on('status-changed', (status) => keeper.statusChanged(status));
  try {
    await keeper.start();
  } catch (err) {
    log.warn({ event: 'reboot-flag-failed' }, `not watching the reboot flag: ${asSplicedError(err).message}`);
  }
  return keeper;
}

/** Edits in-process where the flag's directory is writable, else through spliced-reboot-flag.service. */
export async function chooseFlagEditor(flagFile: string, runtimeDir: string | undefined): Promise<FlagEditor> {
  const writable = await fs.access(path.dirname(flagFile), constants.W_OK).then(() => true, () => false);
  if (writable || runtimeDir === undefined) return async (remove) => void removeFromFlag(flagFile, remove);
  return async (remove) => {
    const request = flagRequestFile(runtimeDir);
    await fs.writeFile(request, JSON.stringify({ flagFile, remove } satisfies FlagRequest), { mode: 0o600 });
    const started = await systemctl(['start', REBOOT_FLAG_UNIT]);
    if (started.code !== 0) throw new Error(`${REBOOT_FLAG_UNIT} failed: ${started.stderr.trim()} (journalctl -u ${REBOOT_FLAG_UNIT})`);
  };
}

/** `spliced reboot-flag REQUEST`: spliced-reboot-flag.service's one job, the edit a FlagRequest names. */
export async function runRebootFlagEdit(args: string[]): Promise<number> {
  const text = await fs.readFile(args[0] ?? '', 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw err;
  });
  // Started with nothing asked (by hand, or by a package manager starting every unit it installs): nothing to do.
  if (text === null) {
    process.stdout.write(`spliced reboot-flag: no request in ${args[0] ?? '(none named)'}: nothing to do\n`);
    return 0;
  }
  const request = JSON.parse(text) as FlagRequest;
  if (!path.isAbsolute(request.flagFile) || !Array.isArray(request.remove) || !request.remove.every((line) => typeof line === 'string')) {
    process.stderr.write('spliced reboot-flag: the request names no absolute flag file and list of lines\n');
    return 64;
  }
  const left = removeFromFlag(request.flagFile, request.remove);
  process.stdout.write(`${request.flagFile}: ${left.length === 0 ? 'removed (no package left)' : `${left.length} package(s) left: ${left.join(' ')}`}\n`);
  return 0;
}
