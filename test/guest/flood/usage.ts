// What a process holds: open descriptors (/proc/PID/fd, readable by root only for a root process) and resident memory.

import { readFileSync, readdirSync } from 'node:fs';

export interface Usage {
  fds: number;
  rssKb: number;
}

export function usageOf(pid: number): Usage {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return { fds: readdirSync(`/proc/${pid}/fd`).length, rssKb: Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? Number.NaN) };
}

export function isAlive(pid: number): boolean {
  try {
    readFileSync(`/proc/${pid}/status`);
    return true;
  } catch {
    return false;
  }
}

/** Samples `usageOf(pid)` every `everyMs` until stopped; the largest of each figure. */
export function watchPeak(pid: number, everyMs: number): { stop(): Usage } {
  const peak = usageOf(pid);
  const timer = setInterval(() => {
    try {
      const now = usageOf(pid);
      peak.fds = Math.max(peak.fds, now.fds);
      peak.rssKb = Math.max(peak.rssKb, now.rssKb);
    } catch {
      // gone: whoever watches its pid sees that
    }
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      return peak;
    },
  };
}
