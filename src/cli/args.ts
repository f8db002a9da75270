// splicectl's command line: `splicectl [--json] [--bus-address=ADDRESS] COMMAND [ARGS] [OPTIONS]` (docs/cli.md).

import { parseArgs } from 'node:util';
import { SplicedError } from '../errors';

export const COMMANDS = {
  status: { args: [], flags: [], summary: 'kernel, effective version, applied and pending patches; exit code tells the state' },
  list: { args: [], flags: [], summary: 'every known patch, the running kernel stack first (bottom first)' },
  show: { args: ['ID'], flags: [], summary: 'everything about one patch (id or livepatch name)' },
  apply: { args: ['FILE'], flags: ['no-wait', 'no-ask-password', 'source-version'], summary: 'apply a livepatch module or build and apply a source patch' },
  revert: { args: ['ID'], flags: ['down-to', 'no-wait', 'no-ask-password'], summary: 'revert a patch and follow the job' },
  log: { args: ['[ID]'], flags: ['limit'], summary: 'history of applies, reverts and failures, newest first' },
  uname: { args: [], flags: ['release', 'all'], summary: 'effective kernel version (-r: release, -a: /proc/version line)' },
  monitor: { args: [], flags: ['notify'], summary: 'one line per event (applied, reverted, failed, reboot required) until interrupted' },
  refresh: { args: [], flags: ['no-ask-password'], summary: "ask the distro feed to look at apt's lists now (what apt update's hook does)" },
} as const;
export type CommandName = keyof typeof COMMANDS;

const OPTIONS = {
  json: { type: 'boolean' },
  'bus-address': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  'no-wait': { type: 'boolean' },
  'no-ask-password': { type: 'boolean' },
  'down-to': { type: 'boolean' },
  limit: { type: 'string' },
  'source-version': { type: 'string' },
  release: { type: 'boolean', short: 'r' },
  all: { type: 'boolean', short: 'a' },
  notify: { type: 'boolean' },
} as const;

export interface Invocation {
  command: CommandName | 'help';
  args: string[];
  json: boolean;
  busAddress: string | undefined;
  noWait: boolean;
  askPassword: boolean;
  downTo: boolean;
  limit: number;
  release: boolean;
  all: boolean;
  /** monitor: post each event as a desktop notification too. */
  notify: boolean;
  /** apply: the linux-source version a source patch is written against (Apply's source_version). */
  sourceVersion: string | undefined;
}

const SYNOPSES = Object.entries(COMMANDS).map(([name, c]) => {
  const valued: Record<string, string> = { limit: '[--limit=N]', 'source-version': '[--source-version=V]', release: '[-r]', all: '[-a]' };
  const flags = c.flags.map((f) => valued[f] ?? `[--${f}]`);
  return [[name, ...c.args, ...flags].join(' '), c.summary];
});
const SYNOPSIS_WIDTH = Math.max(...SYNOPSES.map(([synopsis]) => synopsis.length));

export const USAGE = `usage: splicectl [--json] [--bus-address=ADDRESS] COMMAND [ARGS]

${SYNOPSES.map(([synopsis, summary]) => `  ${synopsis.padEnd(SYNOPSIS_WIDTH)}  ${summary}`).join('\n')}

  --json                 machine-readable output on stdout (errors too)
  --bus-address=ADDRESS  talk to spliced on this D-Bus address (default: $SPLICED_BUS_ADDRESS, else the system bus)
Exit codes: 0 up to date / done, 1 failed, 2 nothing applied, 3 updates pending, 4 unsupported kernel,
64 usage, 69 spliced unreachable, 75 busy (retry), 77 not authorised (docs/cli.md).`;

const usage = (message: string) => new SplicedError('InvalidArgument', message);

export function parseCommandLine(argv: string[], env: NodeJS.ProcessEnv): Invocation {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    throw usage(err instanceof Error ? err.message : String(err));
  }
  const { values, positionals } = parsed;
  const [word, ...args] = positionals;
  const base = {
    args,
    json: values.json ?? false,
    busAddress: values['bus-address'] ?? (env.SPLICED_BUS_ADDRESS || undefined),
    noWait: values['no-wait'] ?? false,
    askPassword: !(values['no-ask-password'] ?? false),
    downTo: values['down-to'] ?? false,
    limit: 0,
    release: values.release ?? false,
    all: values.all ?? false,
    notify: values.notify ?? false,
    sourceVersion: values['source-version'],
  };
  if (values.help) return { ...base, command: 'help' };
  if (word === undefined) throw usage('no command given (try --help)');
  if (!(word in COMMANDS)) throw usage(`unknown command "${word}" (try --help)`);
  const command = word as CommandName;
  const spec = COMMANDS[command];

  const allowed = new Set<string>(['json', 'bus-address', 'help', ...spec.flags]);
  const stray = Object.keys(values).find((name) => !allowed.has(name));
  if (stray) throw usage(`option --${stray} does not apply to "${command}"`);
  const required = spec.args.filter((a) => !a.startsWith('[')).length;
  if (args.length < required || args.length > spec.args.length) {
    throw usage(`"${command}" takes ${spec.args.length === 0 ? 'no arguments' : spec.args.join(' ')}`);
  }
  if (values.release && values.all) throw usage('-r and -a exclude each other');

  let limit = 0;
  if (values.limit !== undefined) {
    limit = Number(values.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 0xffffffff) throw usage(`--limit must be a positive integer`);
  }
  return { ...base, command, limit };
}
