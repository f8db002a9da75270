// The kill switch: `spliced.disable=1` on the kernel command line or the file /etc/spliced/disable. While set,
// nothing is reapplied at boot and nothing is applied automatically (drop dir, feed); the API still answers.

import * as fs from 'node:fs';

export interface KillSwitchPaths {
  /** /proc/cmdline */
  cmdline: string;
  /** /etc/spliced/disable */
  disableFile: string;
}

/** Why spliced is disabled, or null when it is not. */
export function killSwitchReason(paths: KillSwitchPaths): string | null {
  const cmdline = readOptional(paths.cmdline) ?? '';
  if (cmdline.split(/\s+/).includes('spliced.disable=1')) return 'spliced.disable=1 is on the kernel command line';
  if (fs.existsSync(paths.disableFile)) return `${paths.disableFile} exists`;
  return null;
}

function readOptional(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}
