// Apply takes a livepatch module or a kernel source patch. A patch is recognised by its content (a file descriptor
// has no name) and built into a module through the builder port before its job joins the kernel queue.

import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { asSplicedError, SplicedError } from '../errors';
import { spliceModuleName } from '../kernel/splice-modinfo';
import { patchIdOf, refuseWhenDisabled } from './apply';
import type { EngineContext } from './context';
import type { ProgressReporter } from './job';
import { refuseUnsignableBuild } from './signatures';
import type { ApplyOptions, SpliceBuilder } from './types';

/** Where builds happen: the builder port and a directory for the modules it writes (emptied at every start). */
export interface BuildSettings {
  builder: SpliceBuilder;
  workDir: string;
}

/** Largest patch accepted: a security fix is kilobytes; this only stops a stray multi-gigabyte file. */
const MAX_PATCH_BYTES = 16 * 1024 * 1024;
const SNIFF_BYTES = 64 * 1024;

/** A unified diff has a file header pair (`--- a/x` then `+++ b/x`) or a git header before its first hunk. */
function looksLikePatch(head: string): boolean {
  return /^diff --git /m.test(head) || /^--- .*\n\+\+\+ /m.test(head);
}

/**
 * Whether the file at `file` is a source patch. Anything else (an ELF module, junk) goes the module way, where the
 * kernel port names what is wrong with it. An unreadable file too: it fails there with UnreadableModule.
 */
export function isSourcePatch(file: string): boolean {
  let fd: number | undefined;
  try {
    // Never read a FIFO or device here: this runs in the caller's request, before the job.
    if (!fs.statSync(file).isFile()) return false;
    fd = fs.openSync(file, 'r');
    const head = Buffer.alloc(SNIFF_BYTES);
    const length = fs.readSync(fd, head, 0, SNIFF_BYTES, 0);
    if (length >= 4 && head.readUInt32BE(0) === 0x7f454c46) return false;
    return looksLikePatch(head.subarray(0, length).toString('utf8'));
  } catch {
    return false;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

function readPatch(file: string): string {
  try {
    const size = fs.statSync(file).size;
    if (size > MAX_PATCH_BYTES) {
      throw new SplicedError('InvalidArgument', `${file} is ${size} bytes; a source patch may be at most ${MAX_PATCH_BYTES}`, {
        path: file,
      });
    }
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof SplicedError) throw err;
    throw new SplicedError('InvalidArgument', `cannot read the patch ${file}: ${(err as NodeJS.ErrnoException).code ?? err}`, {
      path: file,
    });
  }
}

/** Empty the build directory: whatever is there was left by a build that a crash or a stop interrupted. */
export function clearBuildDir(settings: BuildSettings): void {
  fs.rmSync(settings.workDir, { recursive: true, force: true });
  fs.mkdirSync(settings.workDir, { recursive: true, mode: 0o700 });
}

/**
 * Builds the module of the patch at `file` into the build directory and returns its path. A refused or failed build
 * is recorded in the history (under the id and name the module would have had) before the error is rethrown.
 */
export async function buildFromPatch(
  ctx: EngineContext,
  settings: BuildSettings | null,
  progress: ProgressReporter,
  file: string,
  output: string,
  options: ApplyOptions,
  signal: AbortSignal,
): Promise<void> {
  let text: string | null = null;
  try {
    if (!settings) {
      throw new SplicedError('InvalidArgument', `${file} is a source patch, and this spliced has no builder to build it`, {
        path: file,
      });
    }
    refuseWhenDisabled(ctx, file, options);
    await refuseUnsignableBuild(ctx, file);
    progress.report(0, 'reading the patch');
    text = readPatch(file);
    await settings.builder.build(text, output, (step) => progress.report(step.progress, `building: ${step.message}`), signal);
    ctx.log.info({ path: file, module: output, origin: options.origin }, 'splice built from the patch');
  } catch (err) {
    const error = asSplicedError(err);
    if (text !== null) {
      const sha256 = createHash('sha256').update(text).digest('hex');
      ctx.store.addEvent({
        kind: 'failed',
        // Under the name the module would have had.
        patch: { id: patchIdOf(sha256), name: spliceModuleName(sha256), kernelRelease: ctx.identity.release },
        bootId: ctx.bootId,
        reason: `${error.kind}: ${error.message}`,
        requestedBy: options.requestedBy,
      });
    }
    ctx.log.error({ path: file, kind: error.kind, details: error.details }, `build failed: ${error.message}`);
    throw error;
  }
}

export function buildOutputPath(settings: BuildSettings, jobId: number): string {
  return path.join(settings.workDir, `job-${jobId}.ko`);
}
