// Reads a unified diff (plain `diff -u` or `git diff`) and says which kernel files it touches and how, before
// anything is applied: a patch the builder cannot turn into a safe splice is refused here with a named reason.

import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { SplicedError } from '../errors';
import { parsePatchHeader, PatchHeader } from './patch-header';

export type FileChange = 'modify' | 'add' | 'delete';

/** What a touched file is to the builder. */
export type FileRole =
  | 'c' // a translation unit: compiled pre and post
  | 'header' // compiled through the TUs that include it
  | 'other'; // not built into the kernel (documentation, tools, ...): ignored

export interface PatchedFile {
  /** Path relative to the kernel source root. */
  path: string;
  change: FileChange;
  role: FileRole;
  /** Lines added and removed. */
  added: number;
  removed: number;
  /** This file's part of the patch. */
  diff: string;
}

export interface ParsedPatch {
  /** sha256 of the patch bytes: the module records which source patch it carries. */
  sha256: string;
  /** `patch -p` level: 1 for a/ b/ prefixes, 0 for bare paths. */
  strip: number;
  files: PatchedFile[];
  /** The whole patch as given. */
  text: string;
  /** What is applied to the tree: the diffs of kernel source files only (not documentation, tools, ...). */
  kernelText: string;
  /** Description, CVEs and version from the text before the first diff. */
  header: PatchHeader;
}

interface RawFile {
  oldPath: string;
  newPath: string;
  added: number;
  removed: number;
  gitNew: boolean;
  gitDeleted: boolean;
  unsupported?: string;
  /** This file's part of the patch (git header lines included). */
  diff: string;
}

const DEV_NULL = '/dev/null';

/** `--- a/x\t2024-01-01 ...` → `a/x` (drop a timestamp after a tab; git quotes odd names, which we refuse). */
function headerPath(line: string): string {
  const rest = line.slice(4);
  const tab = rest.indexOf('\t');
  const name = (tab >= 0 ? rest.slice(0, tab) : rest).trimEnd();
  if (name.startsWith('"')) {
    throw new SplicedError('InvalidArgument', `the patch names a file with unusual characters: ${name}`);
  }
  return name;
}

const HUNK_RE = /^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@/;

/** Splits the diff into per-file records, counting hunk lines so a removed line "-- x" is never taken for a header. */
function scan(text: string): RawFile[] {
  const lines = text.split('\n');
  const files: RawFile[] = [];
  let gitNew = false;
  let gitDeleted = false;
  let unsupported: string | undefined;
  let gitHeader: number | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.startsWith('diff --git ')) {
      gitHeader = i;
      gitNew = gitDeleted = false;
      unsupported = undefined;
    } else if (line.startsWith('new file mode')) gitNew = true;
    else if (line.startsWith('deleted file mode')) gitDeleted = true;
    else if (line.startsWith('rename from') || line.startsWith('copy from')) unsupported = 'renames or copies files';
    else if (line.startsWith('GIT binary patch') || line.startsWith('Binary files ')) unsupported = 'changes a binary file';
    else if (line.startsWith('--- ') && lines[i + 1]?.startsWith('+++ ')) {
      const file: RawFile = {
        oldPath: headerPath(line),
        newPath: headerPath(lines[i + 1]),
        added: 0,
        removed: 0,
        gitNew,
        gitDeleted,
        unsupported,
        diff: '',
      };
      const start = gitHeader ?? i;
      files.push(file);
      i += 2;
      while (i < lines.length) {
        const hunk = HUNK_RE.exec(lines[i]);
        if (!hunk) break;
        let oldLeft = Number(hunk[1] ?? '1');
        let newLeft = Number(hunk[2] ?? '1');
        i++;
        while ((oldLeft > 0 || newLeft > 0) && i < lines.length) {
          const body = lines[i];
          if (body.startsWith('+')) {
            newLeft--;
            file.added++;
          } else if (body.startsWith('-')) {
            oldLeft--;
            file.removed++;
          } else if (body.startsWith(' ') || body === '') {
            oldLeft--;
            newLeft--;
          } else if (!body.startsWith('\\')) {
            throw new SplicedError('InvalidArgument', `the patch is malformed: hunk of ${file.newPath} ends early at line ${i + 1}`);
          }
          i++;
        }
        if (oldLeft > 0 || newLeft > 0) {
          throw new SplicedError('InvalidArgument', `the patch is malformed: the last hunk of ${file.newPath} is cut short`);
        }
        while (lines[i]?.startsWith('\\')) i++; // "\ No newline at end of file"
      }
      file.diff = lines.slice(start, i).join('\n') + '\n';
      i--;
      gitHeader = undefined;
      gitNew = gitDeleted = false;
      unsupported = undefined;
    } else if (line.startsWith('rename to') || line.startsWith('copy to')) {
      // a pure rename has no ---/+++ lines: record it so it is refused
      files.push({ oldPath: '', newPath: line.slice(line.indexOf(' to ') + 4), added: 0, removed: 0, gitNew, gitDeleted, unsupported, diff: '' });
    }
  }
  return files;
}

function stripLevel(files: RawFile[]): number {
  const named = files.flatMap((f) => [f.oldPath, f.newPath]).filter((p) => p && p !== DEV_NULL);
  const prefixed = (p: string) => /^[ab]\//.test(p);
  return named.length > 0 && named.every(prefixed) ? 1 : 0;
}

/** A path inside the kernel tree, or a refusal. */
function kernelPath(raw: string, strip: number): string {
  const stripped = strip === 1 ? raw.slice(2) : raw;
  const normal = path.posix.normalize(stripped);
  if (path.posix.isAbsolute(stripped) || normal.startsWith('../') || normal === '..' || normal === '.' || normal.includes('/../')) {
    throw new SplicedError('InvalidArgument', `the patch touches ${raw}, which is outside the kernel source tree`, { path: raw });
  }
  return normal;
}

const BUILD_SYSTEM = /(^|\/)(Makefile[^/]*|Kbuild[^/]*|Kconfig[^/]*)$|^scripts\/|\.lds(\.S)?$/;
const NOT_BUILT = /^(Documentation|tools|samples|LICENSES|usr\/include)\/|^(MAINTAINERS|CREDITS|README|COPYING|\.[^/]+)$/;

function roleOf(file: string): FileRole {
  if (/\.(S|s)$/.test(file)) {
    throw new SplicedError('UnsafePatch', `the patch changes the assembly file ${file}; assembly cannot be spliced`, {
      reason: 'assembly',
      path: file,
    });
  }
  if (BUILD_SYSTEM.test(file)) {
    throw new SplicedError('UnsafePatch', `the patch changes the build system (${file}); that changes how the kernel is built, not just code`, {
      reason: 'build-system',
      path: file,
    });
  }
  if (NOT_BUILT.test(file)) return 'other';
  if (file.endsWith('.c')) return 'c';
  if (file.endsWith('.h')) return 'header';
  return 'other';
}

/** Parses and vets a kernel patch. Throws InvalidArgument for a malformed patch, UnsafePatch for one that cannot be a splice. */
export function parsePatch(text: string): ParsedPatch {
  const raw = scan(text);
  if (raw.length === 0) throw new SplicedError('InvalidArgument', 'the file contains no unified diff');
  const strip = stripLevel(raw);
  const files = raw.map((f): PatchedFile => {
    const isNew = f.gitNew || f.oldPath === DEV_NULL;
    const isDeleted = f.gitDeleted || f.newPath === DEV_NULL;
    const file = kernelPath(isDeleted ? f.oldPath : f.newPath, strip);
    if (f.unsupported) {
      throw new SplicedError('UnsafePatch', `the patch ${f.unsupported} (${file}); only text changes can be spliced`, {
        reason: 'unsupported-diff',
        path: file,
      });
    }
    if (!isNew && !isDeleted && kernelPath(f.oldPath, strip) !== file) {
      throw new SplicedError('UnsafePatch', `the patch renames ${f.oldPath} to ${f.newPath}; renames cannot be spliced`, {
        reason: 'unsupported-diff',
        path: file,
      });
    }
    return {
      path: file,
      change: isNew ? 'add' : isDeleted ? 'delete' : 'modify',
      role: roleOf(file),
      added: f.added,
      removed: f.removed,
      diff: f.diff,
    };
  });
  const seen = new Set<string>();
  for (const f of files) {
    if (seen.has(f.path)) throw new SplicedError('InvalidArgument', `the patch changes ${f.path} twice; give one diff per file`);
    seen.add(f.path);
  }
  const kernelText = files
    .filter((f) => f.role !== 'other')
    .map((f) => f.diff)
    .join('');
  return { sha256: createHash('sha256').update(text).digest('hex'), strip, files, text, kernelText, header: parsePatchHeader(text) };
}
