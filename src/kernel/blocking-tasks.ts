// The tasks that keep a transition from finishing: those whose patch_state is not yet the transition's target.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { KernelRoots } from './roots';
import type { BlockingTask } from './types';

async function readOrUndefined(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined; // the task exited, or the file is not readable: it is not reported
  }
}

async function numericEntries(dir: string): Promise<number[]> {
  try {
    return (await readdir(dir)).filter((e) => /^\d+$/.test(e)).map(Number);
  } catch {
    return [];
  }
}

/** "[<0>] busymod_work_func+0x3a/0x60 [test_klp_callbacks_busy]" → "busymod_work_func+0x3a/0x60 [test_klp_callbacks_busy]". */
export function parseStack(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.replace(/^\[<[0-9a-fx]+>\]\s*/, '').trim())
    .filter((line) => line.length > 0);
}

/** Tasks whose /proc/<pid>/task/<tid>/patch_state is neither the target state nor -1 (not part of a transition). */
export async function findBlockingTasks(roots: KernelRoots, targetState: 0 | 1): Promise<BlockingTask[]> {
  const blockers: BlockingTask[] = [];
  for (const pid of await numericEntries(roots.proc)) {
    const taskRoot = join(roots.proc, String(pid), 'task');
    for (const tid of await numericEntries(taskRoot)) {
      const dir = join(taskRoot, String(tid));
      const state = Number((await readOrUndefined(join(dir, 'patch_state')))?.trim());
      if (state !== (targetState === 1 ? 0 : 1)) continue;
      const comm = ((await readOrUndefined(join(dir, 'comm'))) ?? '?').trim();
      const stack = parseStack((await readOrUndefined(join(dir, 'stack'))) ?? '');
      blockers.push({ pid, tid, comm, stack });
    }
  }
  return blockers;
}

/** "kworker/0:1 (pid 37, tid 37) in busymod_work_func+0x3a/0x60" for an admin's message. */
export function describeBlockers(blockers: readonly BlockingTask[]): string {
  if (blockers.length === 0) return 'no blocking task could be identified';
  return blockers
    .map((b) => {
      const where = b.stack.find((frame) => !/^(__schedule|schedule|msleep|schedule_timeout)/.test(frame)) ?? b.stack[0];
      return `${b.comm} (pid ${b.pid}, tid ${b.tid})${where ? ` in ${where}` : ''}`;
    })
    .join('; ');
}
