// Apply takes a livepatch module or a kernel source patch. A patch is recognised by its content (a name says
// nothing: a file descriptor has none) and built into a module through the builder port before its job joins the kernel queue.

import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { asSplicedError, SplicedError } from '../errors';
import { spliceModuleName } from '../kernel/splice-modinfo';
import { patchIdOf, refuseWhenDisabled } from './apply';
import type { EngineContext } from './context';
import type { ProgressReporter } from './job';
import { refuseUnsignableBuild } from './signatures';
import type { ApplyInput, ApplyOptions, SpliceBuilder } from './types';
import { faultPoint } from '../fault-point';

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
 * Whether `content` is a source patch. Anything else (an ELF module, junk) goes the module way, where the kernel port
 * names what is wrong with it.
 */
export function isSourcePatch(content: Buffer): boolean {
  if (content.length >= 4 && content.readUInt32BE(0) === 0x7f454c46) return false;
  return looksLikePatch(content.subarray(0, SNIFF_BYTES).toString('utf8'));
}

function patchText(input: ApplyInput): string {
  if (input.content.length > MAX_PATCH_BYTES) {
    throw new SplicedError(
      'InvalidArgument',
      `${input.name} is ${input.content.length} bytes; a source patch may be at most ${MAX_PATCH_BYTES}`,
      { path: input.name },
    );
  }
  return input.content.toString('utf8');
}

/** Empty the build directory: whatever is there was left by a build that a crash or a stop interrupted. */
export function clearBuildDir(settings: BuildSettings): void {
  fs.rmSync(settings.workDir, { recursive: true, force: true });
  fs.mkdirSync(settings.workDir, { recursive: true, mode: 0o700 });
}

/**
 * Builds the module of the patch `input` into the build directory and returns its path. A refused or failed build
 * is recorded in the history (under the id and name the module would have had) before the error is rethrown.
 */
export async function buildFromPatch(
  ctx: EngineContext,
  settings: BuildSettings | null,
  progress: ProgressReporter,
  input: ApplyInput,
  jobId: number,
  options: ApplyOptions,
  signal: AbortSignal,
): Promise<string> {
  const file = input.name;
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
    text = patchText(input);
    const output = path.join(settings.workDir, `job-${jobId}.ko`);
    const source = { patchText: text, ...(options.sourceVersion !== undefined && { sourceVersion: options.sourceVersion }) };
    await settings.builder.build(source, output, (step) => progress.report(step.progress, `building: ${step.message}`), signal);
    faultPoint('build-done');
    ctx.log.info({ path: file, module: output, origin: options.origin }, 'splice built from the patch');
    return output;
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
