// Which kernel is running: release, GNU build id of vmlinux, and the /proc/version line.
import { readFile } from 'node:fs/promises';
import { release as osRelease } from 'node:os';
import { join } from 'node:path';
import { SplicedError } from '../errors';
import { readKernelFile } from './read-kernel-file';
import type { KernelRoots } from './roots';
import type { KernelIdentity } from './types';

const NT_GNU_BUILD_ID = 3;

/** The GNU build id from a buffer of ELF notes (the format of /sys/kernel/notes), hex; undefined if absent. */
export function buildIdFromNotes(notes: Buffer): string | undefined {
  const align4 = (n: number) => (n + 3) & ~3;
  let at = 0;
  while (at + 12 <= notes.length) {
    const nameSize = notes.readUInt32LE(at);
    const descSize = notes.readUInt32LE(at + 4);
    const type = notes.readUInt32LE(at + 8);
    const nameStart = at + 12;
    const descStart = nameStart + align4(nameSize);
    if (descStart + descSize > notes.length) return undefined;
    const name = notes.toString('latin1', nameStart, nameStart + Math.max(0, nameSize - 1));
    if (name === 'GNU' && type === NT_GNU_BUILD_ID) return notes.toString('hex', descStart, descStart + descSize);
    at = descStart + align4(descSize);
  }
  return undefined;
}

export async function readIdentity(roots: KernelRoots, release: () => string = osRelease): Promise<KernelIdentity> {
  const notesPath = join(roots.sys, 'kernel', 'notes');
  const versionPath = join(roots.proc, 'version');
  let notes: Buffer;
  let version: string;
  try {
    [notes, version] = await Promise.all([readKernelFile(notesPath), readFile(versionPath, 'utf8')]);
  } catch (err) {
    throw new SplicedError('Internal', `cannot read the running kernel's identity: ${(err as Error).message}`, {
      notesPath,
      versionPath,
    });
  }
  const buildId = buildIdFromNotes(notes);
  if (!buildId) {
    throw new SplicedError('Internal', `${notesPath} holds no GNU build id: the running kernel cannot be identified`, {
      notesPath,
    });
  }
  return { release: release(), buildId, version: version.trim() };
}
