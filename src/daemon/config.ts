// spliced's settings: built-in defaults, then /etc/spliced/spliced.conf (or $SPLICED_CONFIG), then environment
// variables (for tests and the guest harness). Documented in docs/config.md; keep both in step.
//
// File format: one `key = value` per line; `#` starts a comment; blank lines are ignored. An unknown key is
// reported and ignored; a bad value stops the daemon with a message naming file and line.

import * as fs from 'node:fs';
import { TRANSITION_TIMEOUT_MS } from '../engine/context';
import { SplicedError } from '../errors';
import { DEFAULT_MAX_INPUT_BYTES } from '../sources/read-once';
import { DEFAULT_MAX_HEADER_UNITS } from '../build/compile/includers';
import { KERNEL_PACKAGE_VERSION_RE } from '../engine/version';
import { FEED_POLICIES, parseApplyWindow, type ApplyWindow, type FeedPolicy } from '../sources/feed/policy';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type BuildIsolation = 'auto' | 'unit' | 'process';

export interface Config {
  /** The config file that was read, or null if none existed. */
  file: string | null;
  stateDir: string;
  /** Seconds a livepatch transition may take before it is reversed. */
  transitionTimeoutSeconds: number;
  /** A patch applied this many seconds before an unclean end of the previous boot is not reapplied. */
  crashGuardSeconds: number;
  /** How often the daemon records that it is alive (the crash guard's clock). */
  heartbeatSeconds: number;
  disableFile: string;
  cmdlineFile: string;
  bootIdFile: string;
  /** "system", "none" (no D-Bus: only `spliced tool` can drive it), or a D-Bus address. */
  bus: string;
  /** Jobs one D-Bus caller (uid; root is not limited) may have queued or running at once. */
  maxQueuedJobsPerCaller: number;
  /** Build worker processes that may run at once; further builds wait for a slot. */
  maxConcurrentBuilds: number;
  /** The most translation units one source patch may be compiled into (a header's includers); more: TooManyUnits. */
  maxHeaderUnits: number;
  /** Where builds run: their own systemd unit, a child process, or the unit when systemd started the daemon. */
  buildIsolation: BuildIsolation;
  logLevel: LogLevel;
  /** Largest file taken through the drop directory, Apply, ApplyFd or `spliced tool apply`. */
  maxInputBytes: number;
  /** Key and certificate that sign splices built from source patches (both or neither); null: DKMS's pair if present. */
  signingKey: string | null;
  signingCertificate: string | null;
  /** The distro feed (src/sources/feed/policy.ts). */
  feedPolicy: FeedPolicy;
  feedPinVersion: string | null;
  feedDelaySeconds: number;
  feedApplyWindow: ApplyWindow | null;
  /** Watched for changes when no apt hook asked the feed to refresh. */
  aptListsDir: string;
  /** Take kernel images whose fixes all run live out of Debian's reboot flag (src/daemon/reboot-flag.ts). */
  clearRebootRequired: boolean;
  /** Debian's reboot flag; its package list is `<file>.pkgs`. */
  rebootRequiredFile: string;
  /** Unknown keys found in the file (reported once the logger exists). */
  warnings: string[];
}

export const DEFAULT_CONFIG_FILE = '/etc/spliced/spliced.conf';

const DEFAULTS: Omit<Config, 'file' | 'warnings'> = {
  stateDir: '/var/lib/spliced',
  transitionTimeoutSeconds: 60,
  crashGuardSeconds: 120,
  heartbeatSeconds: 30,
  disableFile: '/etc/spliced/disable',
  cmdlineFile: '/proc/cmdline',
  bootIdFile: '/proc/sys/kernel/random/boot_id',
  bus: 'system',
  maxQueuedJobsPerCaller: 4,
  maxConcurrentBuilds: 1,
  maxHeaderUnits: DEFAULT_MAX_HEADER_UNITS,
  buildIsolation: 'auto',
  logLevel: 'info',
  maxInputBytes: DEFAULT_MAX_INPUT_BYTES,
  signingKey: null,
  signingCertificate: null,
  feedPolicy: 'notify',
  feedPinVersion: null,
  feedDelaySeconds: 0,
  feedApplyWindow: null,
  aptListsDir: '/var/lib/apt/lists',
  clearRebootRequired: true,
  rebootRequiredFile: '/run/reboot-required',
};

type Key = keyof typeof DEFAULTS;

/** Config file key and environment variable of each setting. */
const SETTINGS: Record<Key, { key: string; env: string; parse: (value: string) => Config[Key] }> = {
  stateDir: { key: 'state_dir', env: 'SPLICED_STATE_DIR', parse: absolutePath },
  transitionTimeoutSeconds: {
    key: 'transition_timeout',
    env: 'SPLICED_TRANSITION_TIMEOUT',
    parse: (value) => secondsBetween(value, TRANSITION_TIMEOUT_MS.min / 1000, TRANSITION_TIMEOUT_MS.max / 1000),
  },
  crashGuardSeconds: { key: 'crash_guard_window', env: 'SPLICED_CRASH_GUARD_WINDOW', parse: positiveSeconds },
  heartbeatSeconds: { key: 'heartbeat_interval', env: 'SPLICED_HEARTBEAT_INTERVAL', parse: positiveSeconds },
  disableFile: { key: 'disable_file', env: 'SPLICED_DISABLE_FILE', parse: absolutePath },
  cmdlineFile: { key: 'cmdline_file', env: 'SPLICED_CMDLINE_FILE', parse: absolutePath },
  bootIdFile: { key: 'boot_id_file', env: 'SPLICED_BOOT_ID_FILE', parse: absolutePath },
  bus: { key: 'bus', env: 'SPLICED_BUS', parse: nonEmpty },
  maxQueuedJobsPerCaller: { key: 'max_queued_jobs_per_caller', env: 'SPLICED_MAX_QUEUED_JOBS_PER_CALLER', parse: count },
  maxConcurrentBuilds: { key: 'max_concurrent_builds', env: 'SPLICED_MAX_CONCURRENT_BUILDS', parse: count },
  maxHeaderUnits: { key: 'max_header_units', env: 'SPLICED_MAX_HEADER_UNITS', parse: unitCount },
  buildIsolation: { key: 'build_isolation', env: 'SPLICED_BUILD_ISOLATION', parse: buildIsolation },
  logLevel: { key: 'log_level', env: 'SPLICED_LOG_LEVEL', parse: logLevel },
  maxInputBytes: { key: 'max_input_size', env: 'SPLICED_MAX_INPUT_SIZE', parse: byteSize },
  signingKey: { key: 'signing_key', env: 'SPLICED_SIGNING_KEY', parse: absolutePath },
  signingCertificate: { key: 'signing_certificate', env: 'SPLICED_SIGNING_CERTIFICATE', parse: absolutePath },
  feedPolicy: { key: 'feed_policy', env: 'SPLICED_FEED_POLICY', parse: feedPolicy },
  feedPinVersion: { key: 'feed_pin_version', env: 'SPLICED_FEED_PIN_VERSION', parse: debianVersion },
  feedDelaySeconds: { key: 'feed_delay', env: 'SPLICED_FEED_DELAY', parse: feedDelay },
  feedApplyWindow: { key: 'feed_apply_window', env: 'SPLICED_FEED_APPLY_WINDOW', parse: parseApplyWindow },
  aptListsDir: { key: 'apt_lists_dir', env: 'SPLICED_APT_LISTS_DIR', parse: absolutePath },
  clearRebootRequired: { key: 'clear_reboot_required', env: 'SPLICED_CLEAR_REBOOT_REQUIRED', parse: yesNo },
  rebootRequiredFile: { key: 'reboot_required_file', env: 'SPLICED_REBOOT_REQUIRED_FILE', parse: absolutePath },
};

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const file = env.SPLICED_CONFIG ?? DEFAULT_CONFIG_FILE;
  const text = readOptional(file);
  const config: Config = { ...DEFAULTS, file: text === null ? null : file, warnings: [] };
  if (text !== null) applyFile(config, file, text);
  for (const [name, setting] of Object.entries(SETTINGS) as [Key, (typeof SETTINGS)[Key]][]) {
    const value = env[setting.env];
    if (value !== undefined && value !== '') set(config, name, value, `environment variable ${setting.env}`);
  }
  if ((config.signingKey === null) !== (config.signingCertificate === null)) {
    throw invalid('signing_key and signing_certificate go together: set both or neither');
  }
  return config;
}

function applyFile(config: Config, file: string, text: string): void {
  const byKey = new Map(Object.entries(SETTINGS).map(([name, s]) => [s.key, name as Key]));
  text.split('\n').forEach((raw, index) => {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') return;
    const where = `${file} line ${index + 1}`;
    const eq = line.indexOf('=');
    if (eq < 0) throw invalid(`${where}: expected "key = value", found "${line}"`);
    const key = line.slice(0, eq).trim();
    const name = byKey.get(key);
    if (name === undefined) {
      config.warnings.push(`${where}: unknown setting "${key}" ignored`);
      return;
    }
    set(config, name, line.slice(eq + 1).trim(), where);
  });
}

function set(config: Config, name: Key, value: string, where: string): void {
  try {
    (config as unknown as Record<Key, unknown>)[name] = SETTINGS[name].parse(value);
  } catch (err) {
    throw invalid(`${where}: ${SETTINGS[name].key}: ${(err as Error).message}`);
  }
}

function invalid(message: string): SplicedError {
  return new SplicedError('InvalidArgument', `invalid configuration: ${message}`);
}

function buildIsolation(value: string): BuildIsolation {
  if (value !== 'auto' && value !== 'unit' && value !== 'process') throw new Error(`"${value}" is not auto, unit or process`);
  return value;
}

function absolutePath(value: string): string {
  if (!value.startsWith('/')) throw new Error(`"${value}" is not an absolute path`);
  return value;
}

function positiveSeconds(value: string): number {
  const seconds = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || seconds <= 0) throw new Error(`"${value}" is not a positive number of seconds`);
  return seconds;
}

const SIZE_UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

/** Bytes, or K, M or G (powers of 1024): "65536", "64M". */
function byteSize(value: string): number {
  const match = /^(\d+)([KMG]?)$/.exec(value);
  const bytes = match ? Number(match[1]) * SIZE_UNITS[match[2]] : 0;
  if (!(bytes > 0 && Number.isSafeInteger(bytes))) throw new Error(`"${value}" is not a positive size (bytes, or with K, M or G)`);
  return bytes;
}

/** A year at most: a pin (feed_pin_version) is the way to hold a version for longer. */
const MAX_FEED_DELAY_SECONDS = 365 * 24 * 3600;

function feedDelay(value: string): number {
  return value === '0' ? 0 : secondsBetween(value, 0, MAX_FEED_DELAY_SECONDS);
}

function feedPolicy(value: string): FeedPolicy {
  if (!FEED_POLICIES.includes(value as FeedPolicy)) throw new Error(`"${value}" is not ${FEED_POLICIES.join(', ')}`);
  return value as FeedPolicy;
}

function debianVersion(value: string): string {
  if (!KERNEL_PACKAGE_VERSION_RE.test(value)) throw new Error(`"${value}" is not a Debian package version (like 6.1.192-2)`);
  return value;
}

function secondsBetween(value: string, min: number, max: number): number {
  const seconds = positiveSeconds(value);
  if (seconds < min || seconds > max) throw new Error(`"${value}" is not between ${min} and ${max} seconds`);
  return seconds;
}

function wholeNumber(value: string, max: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > max) throw new Error(`"${value}" is not a whole number from 1 to ${max}`);
  return n;
}

function count(value: string): number {
  return wholeNumber(value, 1000);
}

/** Up to 100000: above the ≈ 13,600 C units of Debian's amd64 kernel, so that any header can be allowed. */
function unitCount(value: string): number {
  return wholeNumber(value, 100_000);
}

function yesNo(value: string): boolean {
  if (value !== 'yes' && value !== 'no') throw new Error(`"${value}" is not yes or no`);
  return value === 'yes';
}

function nonEmpty(value: string): string {
  if (value === '') throw new Error('must not be empty');
  return value;
}

function logLevel(value: string): LogLevel {
  if (!['debug', 'info', 'warn', 'error'].includes(value)) throw new Error(`"${value}" is not debug, info, warn or error`);
  return value as LogLevel;
}

function readOptional(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new SplicedError('InvalidArgument', `cannot read the configuration ${file}: ${(err as Error).message}`);
  }
}
