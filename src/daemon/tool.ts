// `spliced tool …`: drives the engine in-process, without D-Bus (like fwupdtool), for rescue shells, early boot
// and tests. Refuses to run while the daemon holds the state dir. Documented in docs/files.md and docs/systemd.md.

import * as path from 'node:path';
import { parseArgs } from 'node:util';
import type { EngineStatus, Job, PatchRecord } from '../engine';
import { describeModuleSignatures } from '../engine/signatures';
import { asSplicedError, SplicedError } from '../errors';
import { readNamedFile } from '../sources/read-once';
import { composeEngine } from './compose';
import { loadConfig } from './config';
import { createLogger } from './logger';

export const TOOL_USAGE = `usage: spliced tool status|list [--json]
       spliced tool show ID [--json]
       spliced tool history [ID] [--limit N] [--json]
       spliced tool apply FILE [--json]
       spliced tool revert ID [--down-to] [--json]`;

const EXIT_FAILED = 1;
const EXIT_USAGE = 2;

export async function runTool(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { json: { type: 'boolean' }, 'down-to': { type: 'boolean' }, limit: { type: 'string' } },
    });
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${TOOL_USAGE}\n`);
    return EXIT_USAGE;
  }
  const [command, argument] = parsed.positionals;
  const json = parsed.values.json ?? false;
  const needsArgument = ['show', 'apply', 'revert'].includes(command ?? '');
  if (!['status', 'list', 'show', 'history', 'apply', 'revert'].includes(command ?? '') || (needsArgument && !argument)) {
    process.stderr.write(`${TOOL_USAGE}\n`);
    return EXIT_USAGE;
  }

  try {
    const config = loadConfig();
    // Only problems go to stderr; stdout is the answer.
    const log = createLogger(process.env.SPLICED_LOG_LEVEL ? config.logLevel : 'warn', 2);
    const composed = await composeEngine(config, log);
    try {
      const { engine } = composed;
      // The tool is the daemon without D-Bus: it runs the same start-up (reconcile, reapply) before anything else.
      await engine.start();
      switch (command) {
        case 'status':
          print(json, engine.status(), formatStatus);
          return 0;
        case 'list':
          print(json, engine.list(), (patches) => formatList(patches));
          return 0;
        case 'show':
          print(json, engine.getPatch(argument!), (p) => JSON.stringify(p, null, 2));
          return 0;
        case 'history': {
          const limit = parsed.values.limit === undefined ? undefined : Number(parsed.values.limit);
          if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) {
            throw new SplicedError('InvalidArgument', `--limit must be a positive integer, not ${parsed.values.limit}`);
          }
          const events = engine.history({ patchId: argument && engine.getPatch(argument).id, limit });
          print(json, events, (list) =>
            list.map((e) => `${e.at} ${e.kind} ${e.patchId} ${e.patchName}${e.reason ? `: ${e.reason}` : ''}`).join('\n'),
          );
          return 0;
        }
        case 'apply': {
          // Like Apply on the bus: the path (a symbolic link followed) opened once, checked and read from that descriptor.
          const file = path.resolve(argument!);
          const { content } = await readNamedFile(file, { maxBytes: config.maxInputBytes });
          return await finish(json, engine.apply({ content, name: file }, { origin: 'tool', requestedBy: `uid ${process.getuid?.()}` }));
        }
        default:
          return await finish(
            json,
            engine.revert(argument!, { downTo: parsed.values['down-to'] ?? false, requestedBy: `uid ${process.getuid?.()}` }),
          );
      }
    } finally {
      await composed.close();
    }
  } catch (err) {
    const error = asSplicedError(err);
    if (json) process.stdout.write(`${JSON.stringify({ error: { kind: error.kind, message: error.message, details: error.details } })}\n`);
    process.stderr.write(`spliced tool: ${error.message}\n`);
    return EXIT_FAILED;
  }
}

async function finish(json: boolean, job: Job): Promise<number> {
  if (!json) job.on('changed', (j) => process.stderr.write(`[${String(j.progress).padStart(3)}%] ${j.status}\n`));
  await job.done;
  if (job.error) throw job.error;
  print(json, job.result!.patches, (patches) => formatList(patches));
  return 0;
}

function print<T>(json: boolean, value: T, human: (value: T) => string): void {
  process.stdout.write(`${json ? JSON.stringify(value, null, 2) : human(value)}\n`);
}

function formatList(patches: PatchRecord[]): string {
  if (patches.length === 0) return 'no patches';
  const rows = patches.map((p) => [
    p.id,
    p.name,
    p.state,
    p.stackPosition === null ? '-' : String(p.stackPosition),
    p.version ?? '-',
    p.cves.join(',') || '-',
  ]);
  const header = ['ID', 'NAME', 'STATE', 'POS', 'VERSION', 'CVES'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  return [header, ...rows].map((r) => r.map((cell, i) => cell.padEnd(widths[i])).join('  ').trimEnd()).join('\n');
}

function formatStatus(s: EngineStatus): string {
  return [
    `kernel:            ${s.kernel.release} (build id ${s.kernel.buildId})`,
    `livepatch:         ${s.livepatchSupported ? 'supported' : 'not supported by this kernel'}`,
    `state:             ${s.state}${s.disabledReason ? ` (${s.disabledReason})` : ''}`,
    `effective version: ${s.effectiveVersion} (kernel ${s.baseVersion})`,
    `applied:           ${s.applied.length}`,
    ...(s.heldByCrashGuard.length ? [`held by crash guard: ${s.heldByCrashGuard.join(', ')}`] : []),
    `reboot required:   ${s.rebootRequired ? `yes: ${s.rebootReasons.join('; ')}` : 'no'}`,
    `module signatures: ${describeModuleSignatures(s.moduleSignatures)}`,
  ].join('\n');
}
