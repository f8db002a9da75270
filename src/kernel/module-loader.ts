// Inserting and removing modules. Node has no finit_module binding; kmod's insmod calls finit_module on the exact file
// (no dependency resolution, no modprobe.d) and rmmod calls delete_module, so they are thin and reliable.
import { execFile } from 'node:child_process';

/** A refused insert/remove: the errno name the kernel answered (EEXIST, EBUSY, ENOEXEC, …) and the tool's words. */
export class ModuleLoaderError extends Error {
  constructor(
    readonly errno: string,
    message: string,
  ) {
    super(message);
  }
}

export interface ModuleLoader {
  insert(path: string, params?: readonly string[]): Promise<void>;
  remove(name: string): Promise<void>;
}

// kmod prints strerror() (or its own wording for a few codes, see kmod's mod_strerror); map the words back to errno.
const ERRNO_BY_MESSAGE: ReadonlyArray<[RegExp, string]> = [
  [/File exists/, 'EEXIST'],
  [/Device or resource busy|is in use/, 'EBUSY'],
  [/Invalid module format|Exec format error/, 'ENOEXEC'],
  [/Unknown symbol in module/, 'ENOENT'],
  [/Invalid parameters|Invalid argument/, 'EINVAL'],
  [/No such device/, 'ENODEV'],
  [/not currently loaded|No such file or directory/, 'ENOENT'],
  [/Operation not permitted/, 'EPERM'],
  [/Key was rejected by service/, 'EKEYREJECTED'],
  [/Required key not available/, 'ENOKEY'],
  [/Cannot allocate memory/, 'ENOMEM'],
];

export function errnoFromToolMessage(message: string): string {
  return ERRNO_BY_MESSAGE.find(([pattern]) => pattern.test(message))?.[1] ?? 'EUNKNOWN';
}

function run(tool: string, args: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(tool, args, { timeout: 120_000 }, (err, _stdout, stderr) => {
      if (!err) return resolve();
      const spawnCode = (err as NodeJS.ErrnoException).code;
      if (spawnCode === 'ENOENT') return reject(new ModuleLoaderError('ENOTOOL', `${tool} (kmod) is not installed`));
      const message = String(stderr).trim() || err.message;
      reject(new ModuleLoaderError(errnoFromToolMessage(message), message));
    });
  });
}

export class KmodLoader implements ModuleLoader {
  insert(path: string, params: readonly string[] = []): Promise<void> {
    return run('insmod', [path, ...params]);
  }

  remove(name: string): Promise<void> {
    return run('rmmod', [name]);
  }
}
