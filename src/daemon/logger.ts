// pino JSON logs on stdout, each line prefixed with its syslog priority ("<3>{...}") so journald files it at the
// right level (the unit sets SyslogLevelPrefix=yes). Written synchronously: the last line before a crash matters.

import * as fs from 'node:fs';
import pino from 'pino';
import type { LogLevel } from './config';

/** pino level number → syslog priority. */
const PRIORITY: Record<number, number> = { 10: 7, 20: 7, 30: 6, 40: 4, 50: 3, 60: 2 };

/** Prefix one pino JSON line with the syslog priority of its level. */
export function withPriority(line: string): string {
  const level = /"level":(\d+)/.exec(line);
  const priority = (level && PRIORITY[Number(level[1])]) ?? 6;
  return `<${priority}>${line}`;
}

export function createLogger(level: LogLevel, fd = 1): pino.Logger {
  const destination = { write: (line: string) => void fs.writeSync(fd, withPriority(line)) };
  return pino({ level, base: { service: 'spliced' }, timestamp: pino.stdTimeFunctions.isoTime }, destination);
}
