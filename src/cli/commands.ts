// The splicectl commands: each asks spliced over D-Bus and returns what to print (text, and the --json value) and
// the exit code. Failures are thrown as SplicedErrors; main.ts prints them.

import { Variant } from 'dbus-next';
import * as path from 'node:path';
import { describeModuleSignatures } from '../engine/signatures';
import { DBUS_ERROR_PREFIX, isErrorKind, SplicedError } from '../errors';
import type { Invocation } from './args';
import type { JobView, SplicedClient } from './client';
import { EXIT } from './exit-codes';
import { startTtyAgent } from './polkit-agent';
import { ProgressLine } from './progress';
import { historyEntry, patchDetails, patchSummary, status, type FeedSummary, type Status } from './records';

export interface Outcome {
  text: string;
  json: unknown;
  exit: number;
}

export interface Io {
  stderr: NodeJS.WriteStream;
  stdinIsTTY: boolean;
  isRoot: boolean;
  cwd: string;
}

type Command = (client: SplicedClient, inv: Invocation, io: Io) => Promise<Outcome>;

const VERDICT_EXIT: Record<Status['verdict'], number> = {
  'up-to-date': EXIT.ok,
  'nothing-applied': EXIT.nothingApplied,
  'updates-pending': EXIT.updatesPending,
  'unsupported-kernel': EXIT.unsupportedKernel,
};

const VERDICT_TEXT: Record<Status['verdict'], string> = {
  'up-to-date': 'up to date',
  'nothing-applied': 'nothing applied',
  'updates-pending': 'updates pending',
  'unsupported-kernel': 'unsupported kernel (no livepatch support)',
};

const ok = (text: string, json: unknown): Outcome => ({ text, json, exit: EXIT.ok });

const table = (rows: string[][]): string => {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]))).join('  ')).join('\n');
};

const fields = (pairs: [string, string][]): string => {
  const width = Math.max(...pairs.map(([k]) => k.length)) + 1;
  return pairs.map(([k, v]) => `${`${k}:`.padEnd(width)} ${v}`).join('\n');
};

const none = (list: string[]) => (list.length === 0 ? 'none' : list.join(', '));

/** "policy auto, 6.1.192-2 offered (linux-image-6.1.0-56-amd64), idle". */
function describeFeed(f: FeedSummary): string {
  const settings = [
    `policy ${f.policy}`,
    f.pinVersion && `pinned to ${f.pinVersion}`,
    f.delaySeconds > 0 && `delay ${f.delaySeconds} s`,
    f.applyWindow && `applies ${f.applyWindow}`,
  ].filter(Boolean);
  const offered = f.offered ? `${f.offered} offered${f.offeredImage ? ` (${f.offeredImage})` : ''}` : 'nothing newer offered';
  return `${settings.join(', ')}; ${offered}; ${f.state}${f.lastRefresh ? `; last looked ${f.lastRefresh}` : ''}`;
}

const statusCommand: Command = async (client) => {
  const s = status(await client.managerProperties(), (await client.list()).map(patchSummary));
  const text = fields([
    ['Kernel', `${s.kernelRelease} (${s.baseVersion})`],
    ['Effective version', s.effectiveVersion],
    ['State', s.disabledReason ? `${s.state}: ${s.disabledReason}` : s.state],
    ['Applied', `${s.appliedPatches.length} (${none(s.appliedPatches)})`],
    ['Pending', `${s.pendingPatches.length} (${none(s.pendingPatches)})`],
    ['Crash guard held', none(s.heldByCrashGuard)],
    ['Reboot required', s.rebootRequired ? `yes: ${s.rebootReasons.join('; ')}` : 'no'],
    ['Module signatures', describeModuleSignatures({ ...s, required: s.moduleSignatures === 'required' })],
    ['Distro feed', describeFeed(s.feed)],
    ...(s.feed.pending ? [['Feed pending', s.feed.pending] as [string, string]] : []),
    ...(s.feed.lastError ? [['Feed error', s.feed.lastError] as [string, string]] : []),
    ['Status', VERDICT_TEXT[s.verdict]],
  ]);
  return { text, json: s, exit: VERDICT_EXIT[s.verdict] };
};

const listCommand: Command = async (client) => {
  const patches = (await client.list()).map(patchSummary);
  const rows = patches.map((p) => [
    p.stackPosition === null ? '-' : String(p.stackPosition),
    p.id,
    p.name,
    p.stateReason ? `${p.state} (${p.stateReason})` : p.state,
    p.version ?? '-',
    p.origin,
    p.cves.length === 0 ? '-' : p.cves.join(','),
    p.description,
  ]);
  // ID is spliced's name for a patch (what show, revert and log take); MODULE is the kernel's name for the same patch.
  const text = patches.length === 0 ? 'No patches.' : table([['POS', 'ID', 'MODULE', 'STATE', 'VERSION', 'ORIGIN', 'CVES', 'DESCRIPTION'], ...rows]);
  return ok(text, patches);
};

/** `splicectl show`'s text of a patch (patchDetails' record). */
export function showText(p: Record<string, unknown>): string {
  return fields(
    Object.entries(p).map(([key, value]): [string, string] => [
      key,
      key === 'functions'
        ? (value as { object: string; name: string; sympos: number }[])
            .map((f) => `${f.object}:${f.name}${f.sympos ? `,${f.sympos}` : ''}`)
            .join(' ') || 'none'
        : Array.isArray(value)
          ? none(value as string[])
          : String(value),
    ]),
  );
}

const showCommand: Command = async (client, inv) => {
  const p = patchDetails(await client.getPatch(inv.args[0]));
  return ok(showText(p), p);
};

/** Follow the job (unless --no-wait); a failed job becomes the SplicedError it failed with. */
async function runJob(client: SplicedClient, jobPath: string, inv: Invocation, io: Io, verb: string): Promise<Outcome> {
  if (inv.noWait) return ok(`Queued ${jobPath}`, { job: jobPath });
  const progress = new ProgressLine(io.stderr);
  let job: JobView;
  try {
    // With --json nothing but the result is printed.
    job = await client.followJob(jobPath, inv.json ? () => undefined : (j) => progress.show(j));
  } finally {
    progress.end();
  }
  if (job.state === 'failed') {
    const kind = job.errorName.slice(DBUS_ERROR_PREFIX.length);
    throw new SplicedError(isErrorKind(kind) ? kind : 'Internal', job.errorMessage, { job: jobPath });
  }
  const json = { job: jobPath, kind: job.kind, target: job.target, state: job.state, patches: job.patches };
  return ok(`${verb}: ${job.patches.join(', ')}`, json);
}

/**
 * Send Apply/Revert, letting polkit ask for a password when a person is at a terminal (and not root, which polkit
 * is not asked about); then follow the job.
 */
async function mutate(
  inv: Invocation,
  io: Io,
  send: (options: Record<string, Variant>) => Promise<string>,
  client: SplicedClient,
  verb: string,
): Promise<Outcome> {
  const interactive = inv.askPassword && io.stdinIsTTY && !io.isRoot;
  const options: Record<string, Variant> = { interactive: new Variant('b', interactive) };
  if (inv.downTo) options.down_to = new Variant('b', true);
  if (inv.sourceVersion !== undefined) options.source_version = new Variant('s', inv.sourceVersion);
  const stopAgent = interactive ? await startTtyAgent() : () => undefined;
  let jobPath: string;
  try {
    jobPath = await send(options);
  } finally {
    stopAgent();
  }
  return runJob(client, jobPath, inv, io, verb);
}

const applyCommand: Command = (client, inv, io) => {
  const file = path.resolve(io.cwd, inv.args[0]);
  return mutate(inv, io, (options) => client.apply(file, options), client, 'Applied');
};

const revertCommand: Command = (client, inv, io) =>
  mutate(inv, io, (options) => client.revert(inv.args[0], options), client, 'Reverted');

const logCommand: Command = async (client, inv) => {
  const events = (await client.history(inv.args[0] ?? '', inv.limit)).map(historyEntry);
  const rows = events.map((e) => [
    e.at ?? '-',
    e.kind,
    e.patchId ?? '-',
    e.patchName ?? '-',
    [e.reason, e.requestedBy && `requested by ${e.requestedBy}`].filter(Boolean).join('; '),
  ]);
  const text = events.length === 0 ? 'No events.' : table([['TIME', 'EVENT', 'ID', 'MODULE', 'DETAILS'], ...rows]);
  return ok(text, events);
};

const refreshCommand: Command = async (client, inv, io) => {
  const interactive = inv.askPassword && io.stdinIsTTY && !io.isRoot;
  const stopAgent = interactive ? await startTtyAgent() : () => undefined;
  let answer: string;
  try {
    answer = await client.refresh({ interactive: new Variant('b', interactive) });
  } finally {
    stopAgent();
  }
  const text: Record<string, string> = {
    scheduled: 'Refresh requested: the feed looks at apt\'s lists now (splicectl status shows what it finds).',
    joined: 'Refresh requested: it joins a refresh about to start.',
    queued: 'Refresh requested: it runs once the refresh in progress has finished.',
    covered: 'Nothing to do: a refresh started since.',
  };
  return ok(text[answer] ?? answer, { refresh: answer });
};

const unameCommand: Command = async (client, inv) => {
  const props = await client.managerProperties();
  const [release, base, effective, version] = [props.KernelRelease, props.BaseVersion, props.EffectiveVersion, props.KernelVersion].map(String);
  const text = inv.release ? release : inv.all ? version.split(base).join(effective) : effective;
  return ok(text, { release, baseVersion: base, effectiveVersion: effective, version });
};

/** The commands that ask and answer (`monitor` runs until stopped: monitor/command.ts). */
export const RUN: Record<Exclude<Invocation['command'], 'help' | 'monitor'>, Command> = {
  status: statusCommand,
  list: listCommand,
  show: showCommand,
  apply: applyCommand,
  revert: revertCommand,
  log: logCommand,
  uname: unameCommand,
  refresh: refreshCommand,
};
