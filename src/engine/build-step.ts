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
import { fsyncPath } from '../store';

/**
 * Where builds happen: the builder port and a directory for the modules it writes. At every start it is emptied but
 * for finished builds (see finishedBuild), which bridge a restart between a build's end and its apply.
 */
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

/** How long a finished build waits for the restart that applies it: one older was for a patch that is gone. */
const FINISHED_BUILD_KEPT_MS = 24 * 60 * 60 * 1000;
const FINISHED_BUILD_NAME = /^[0-9a-f]{64}\.ko$/;

/**
 * Empty the build directory but for finished builds of the last day: whatever else is there was left by a build that
 * a crash or a stop interrupted.
 */
export function clearBuildDir(settings: BuildSettings, now = Date.now()): void {
  fs.mkdirSync(settings.workDir, { recursive: true, mode: 0o700 });
  for (const entry of fs.readdirSync(settings.workDir, { withFileTypes: true })) {
    const file = path.join(settings.workDir, entry.name);
    const finished =
      entry.isFile() && FINISHED_BUILD_NAME.test(entry.name) && now - fs.statSync(file).mtimeMs < FINISHED_BUILD_KEPT_MS;
    if (!finished) fs.rmSync(file, { recursive: true, force: true });
  }
}

/**
 * Where the module of a finished build is kept until its apply has been tried: named by everything the module
 * depends on (the patch, the running kernel's build, the source version, the signing key), so a restart between the
 * build and the apply (a crash, a stop) applies what was built instead of building it again.
 */
function finishedBuild(ctx: EngineContext, settings: BuildSettings, text: string, options: ApplyOptions): string {
  const inputs = [text, ctx.identity.release, ctx.identity.buildId, options.sourceVersion ?? '', ctx.settings.signingKey ?? ''];
  return path.join(settings.workDir, `${createHash('sha256').update(JSON.stringify(inputs)).digest('hex')}.ko`);
}

/** A module built for a job: the job's own name for it, and the finished build it is kept as until its apply. */
export interface BuiltModule {
  file: string;
  finished: string;
}

/** Its apply has been tried (the store keeps its own copy of an applied module): both names go. */
export function forgetBuild(built: BuiltModule): void {
  for (const file of [built.file, built.finished]) fs.rmSync(file, { force: true });
}

/** Keep the job's module as the finished build: on disk before it is named so, so a named one is whole. */
function keepFinished(file: string, finished: string): void {
  fsyncPath(file);
  fs.rmSync(`${finished}.tmp`, { force: true });
  fs.linkSync(file, `${finished}.tmp`);
  fs.renameSync(`${finished}.tmp`, finished);
}

/**
 * Builds the module of the patch `input` into the build directory (or takes the finished build a restart left) and
 * returns it. A refused or failed build is recorded in the history (under the id and name the module would have had)
 * before the error is rethrown.
 */
export async function buildFromPatch(
  ctx: EngineContext,
  settings: BuildSettings | null,
  progress: ProgressReporter,
  input: ApplyInput,
  jobId: number,
  options: ApplyOptions,
  signal: AbortSignal,
): Promise<BuiltModule> {
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
    const built = { file: path.join(settings.workDir, `job-${jobId}.ko`), finished: finishedBuild(ctx, settings, text, options) };
    if (fs.existsSync(built.finished)) {
      // The job's own name for it: another job of the same patch may forget the finished build meanwhile.
      fs.linkSync(built.finished, built.file);
      progress.report(100, 'built before spliced restarted: not built again');
      ctx.log.info({ path: file, module: built.finished, origin: options.origin }, 'splice built before a restart, applied without building again');
      return built;
    }
    const source = { patchText: text, ...(options.sourceVersion !== undefined && { sourceVersion: options.sourceVersion }) };
    await settings.builder.build(source, built.file, (step) => progress.report(step.progress, `building: ${step.message}`), signal);
    keepFinished(built.file, built.finished);
    faultPoint('build-done');
    ctx.log.info({ path: file, module: built.file, origin: options.origin }, 'splice built from the patch');
    return built;
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
