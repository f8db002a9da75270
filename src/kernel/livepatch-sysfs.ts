// /sys/kernel/livepatch as data. Directories can vanish at any moment (a finished disable on 6.1, an atomic replace),
// so a vanished entry reads as "not there", never as an error.
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readKernelFile } from './read-kernel-file';
import type { KernelRoots } from './roots';
import type { LivePatch, PatchedFunction, PatchedObject } from './types';

export function livepatchRoot(roots: KernelRoots): string {
  return join(roots.sys, 'kernel', 'livepatch');
}

export function patchDir(roots: KernelRoots, patch: string): string {
  return join(livepatchRoot(roots), patch);
}

/** ENODEV: an attribute read while the kernel is deleting its kobject (a patch being freed). */
function isGone(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'ENODEV';
}

async function readFlag(path: string): Promise<boolean | undefined> {
  try {
    return (await readFile(path, 'utf8')).trim() === '1';
  } catch (err) {
    if (isGone(err)) return undefined;
    throw err;
  }
}

async function subdirectories(path: string): Promise<string[] | undefined> {
  try {
    const entries = await readdir(path, { withFileTypes: true });
    return entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
  } catch (err) {
    if (isGone(err)) return undefined;
    throw err;
  }
}

/** "func,sympos" directory name → function. */
export function parseFunctionDir(entry: string): PatchedFunction {
  const comma = entry.lastIndexOf(',');
  if (comma < 0) return { name: entry, sympos: 0 };
  const sympos = Number(entry.slice(comma + 1));
  return { name: entry.slice(0, comma), sympos: Number.isInteger(sympos) ? sympos : 0 };
}

async function readObject(dir: string, name: string): Promise<PatchedObject | undefined> {
  const [patched, functionDirs] = await Promise.all([readFlag(join(dir, 'patched')), subdirectories(dir)]);
  if (patched === undefined || functionDirs === undefined) return undefined;
  return { name, patched, functions: functionDirs.map(parseFunctionDir) };
}

/** One patch's state, or undefined once its directory is gone. */
export async function readPatch(roots: KernelRoots, name: string): Promise<LivePatch | undefined> {
  const dir = patchDir(roots, name);
  const [enabled, transition, objectNames] = await Promise.all([
    readFlag(join(dir, 'enabled')),
    readFlag(join(dir, 'transition')),
    subdirectories(dir),
  ]);
  if (enabled === undefined || transition === undefined || objectNames === undefined) return undefined;
  const objects = await Promise.all(objectNames.map((o) => readObject(join(dir, o), o)));
  if (objects.some((o) => o === undefined)) return undefined;
  return { name, enabled, transition, objects: objects as PatchedObject[] };
}

/** Live patches in load order, oldest first: the stack as the kernel built it (6.1 has no stack_order to read). */
export async function listPatches(roots: KernelRoots): Promise<LivePatch[]> {
  const names = (await subdirectories(livepatchRoot(roots))) ?? [];
  const order = await loadOrder(roots);
  const rank = (name: string) => order.get(name) ?? Number.MAX_SAFE_INTEGER;
  names.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  const patches = await Promise.all(names.map((name) => readPatch(roots, name)));
  return patches.filter((p): p is LivePatch => p !== undefined);
}

/** Module name → position in load order (0 = oldest): /proc/modules lists the newest first. Empty if unreadable. */
async function loadOrder(roots: KernelRoots): Promise<Map<string, number>> {
  // Read to its end: Node 18's fs.promises.readFile stops at procfs' first short read (4 KiB), and /proc/modules of a
  // Debian machine is longer; the oldest modules would lose their place.
  const text = await readKernelFile(join(roots.proc, 'modules')).then((content) => content.toString('utf8'), () => '');
  const newestFirst = text.split('\n').filter((line) => line !== '').map((line) => line.split(' ')[0]);
  return new Map(newestFirst.reverse().map((name, index) => [name, index]));
}

/** `transition` of a patch: true/false, or undefined when its directory is gone. */
export function readTransition(roots: KernelRoots, patch: string): Promise<boolean | undefined> {
  return readFlag(join(patchDir(roots, patch), 'transition'));
}

export function readEnabled(roots: KernelRoots, patch: string): Promise<boolean | undefined> {
  return readFlag(join(patchDir(roots, patch), 'enabled'));
}

/** Write `enabled`; rejects with the kernel's errno (EBUSY while another patch is in transition, EINVAL, ENOENT). */
export function writeEnabled(roots: KernelRoots, patch: string, enabled: boolean): Promise<void> {
  return writeFile(join(patchDir(roots, patch), 'enabled'), enabled ? '1' : '0');
}

/** Whether a module of this name is loaded (livepatch or not). */
export async function isModuleLoaded(roots: KernelRoots, name: string): Promise<boolean> {
  try {
    await stat(join(roots.sys, 'module', name));
    return true;
  } catch (err) {
    if (isGone(err)) return false;
    throw err;
  }
}
