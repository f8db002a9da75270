// Reads a patch as people publish it — a unified diff (`diff -urN`, `git diff`), a `git format-patch` mail, or an mbox
// of several mails applied in order, with any path prefixes and LF or CRLF line ends — and says which kernel files it
// touches and how, before anything is applied: a patch the builder cannot turn into a safe splice is refused here
// with a named reason. The `patch -p` level is found the way a careful human finds it (see stripLevel).

import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import * as path from 'node:path';
import { SplicedError } from '../../errors';
import { mergeHeaders, parsePatchHeader, PatchHeader } from './header';
import { splitMessages } from './series';

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
  /** This file's part of the patch: in a series that changes it more than once, its diffs in order. */
  diff: string;
}

export interface ParsedPatch {
  /** sha256 of the patch bytes: the module records which source patch it carries. */
  sha256: string;
  /** `patch -p` level: the number of leading path components the patch's names carry before the kernel's own. */
  strip: number;
  /** Each touched file once, in order of first mention. */
  files: PatchedFile[];
  /** The whole patch as given. */
  text: string;
  /** What is applied to the tree: the diffs of kernel source files only (not documentation, tools, ...), LF ends. */
  kernelText: string;
  /** Description, CVEs and version from the text before each mail's first diff (merged for a series). */
  header: PatchHeader;
}

/**
 * Whether a path relative to the kernel source root exists as a file or a directory. The builder asks the prepared
 * tree (treeLookup); before it has one, KERNEL_LAYOUT answers from the kernel's top-level names.
 */
export type TreeLookup = (relPath: string, kind: 'file' | 'dir') => boolean;

interface RawFile {
  /** The names as the patch gives them (prefixes included); /dev/null for a side that does not exist. */
  oldPath: string;
  newPath: string;
  added: number;
  removed: number;
  creates: boolean;
  deletes: boolean;
  unsupported?: string;
  /** This file's part of the patch (git header lines included). */
  diff: string;
  /** Which mail of a series it is in. */
  message: number;
}

const DEV_NULL = '/dev/null';

function unusualName(name: string): SplicedError {
  return new SplicedError('InvalidArgument', `the patch names a file with unusual characters: ${name}`);
}

/** `--- a/x\t2024-01-01 ...` → `a/x` (drop a timestamp after a tab; git quotes odd names, which we refuse). */
function headerPath(line: string): string {
  const rest = line.slice(4);
  const tab = rest.indexOf('\t');
  const name = (tab >= 0 ? rest.slice(0, tab) : rest).trimEnd();
  if (name.startsWith('"')) throw unusualName(name);
  return name;
}

/** The two names of a `diff --git a/x b/x` line (kernel paths hold no spaces; quoted names are refused). */
function gitNames(line: string): [string, string] {
  const names = line.slice('diff --git '.length).trim().split(' ');
  if (names.length !== 2 || names.some((n) => n.startsWith('"'))) throw unusualName(line.slice('diff --git '.length));
  return [names[0], names[1]];
}

/** What a git extended header line says that a text splice cannot carry, if anything. */
function unsupportedGitLine(line: string): string | undefined {
  if (/^(new file|deleted file) mode 120000/.test(line)) return 'adds or deletes a symbolic link';
  if (/^(new file|deleted file) mode 160000/.test(line)) return 'adds or deletes a submodule';
  if (/^index \S+ 120000$/.test(line)) return 'changes a symbolic link';
  if (line.startsWith('old mode') || line.startsWith('new mode')) return 'changes a file mode';
  if (line.startsWith('rename from') || line.startsWith('copy from')) return 'renames or copies files';
  if (line.startsWith('GIT binary patch') || line.startsWith('Binary files ')) return 'changes a binary file';
  return undefined;
}

const GIT_HEADER_RE = /^(old mode|new mode|deleted file mode|new file mode|copy from|copy to|rename from|rename to|similarity index|dissimilarity index|index|GIT binary patch|literal|delta|Binary files) ?/;
const HUNK_RE = /^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@/;

/** Splits one mail into per-file records, counting hunk lines so a removed line "-- x" is never taken for a header. */
function scan(text: string, message: number): RawFile[] {
  const lines = text.split('\n');
  const files: RawFile[] = [];
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let git: { names: [string, string]; creates: boolean; deletes: boolean; unsupported?: string } | undefined;
    if (lines[i].startsWith('diff --git ')) {
      git = { names: gitNames(lines[i]), creates: false, deletes: false };
      for (i++; i < lines.length && GIT_HEADER_RE.test(lines[i]); i++) {
        git.creates ||= lines[i].startsWith('new file mode');
        git.deletes ||= lines[i].startsWith('deleted file mode');
        git.unsupported ??= unsupportedGitLine(lines[i]);
        // Binary data follows "GIT binary patch" up to the next file: nothing in it is a header.
        if (lines[i].startsWith('GIT binary patch')) while (i + 1 < lines.length && !lines[i + 1].startsWith('diff --git ')) i++;
      }
      if (!(lines[i]?.startsWith('--- ') && lines[i + 1]?.startsWith('+++ '))) {
        // A git entry without a text diff: a mode change, binary, pure rename, empty new file, …
        const [oldPath, newPath] = git.names;
        const unsupported = git.unsupported ?? 'has an entry without a text diff (an empty file?)';
        files.push({ oldPath, newPath, added: 0, removed: 0, creates: git.creates, deletes: git.deletes, unsupported, diff: '', message });
        i--;
        continue;
      }
    } else if (!(lines[i].startsWith('--- ') && lines[i + 1]?.startsWith('+++ '))) {
      // `diff -r` of two trees says "Binary files x and y differ" and gives no diff at all.
      const binary = /^Binary files (\S+) and (\S+) differ$/.exec(lines[i]);
      if (binary) {
        files.push({ oldPath: binary[1], newPath: binary[2], added: 0, removed: 0, creates: false, deletes: false, unsupported: 'changes a binary file', diff: '', message });
      }
      continue;
    }
    const file: RawFile = {
      oldPath: headerPath(lines[i]),
      newPath: headerPath(lines[i + 1]),
      added: 0,
      removed: 0,
      creates: git?.creates ?? false,
      deletes: git?.deletes ?? false,
      unsupported: git?.unsupported,
      diff: '',
      message,
    };
    files.push(file);
    // `diff -N` names a missing side by its path with an epoch date, not /dev/null: its hunks are -0,0 or +0,0.
    let oldEmpty = true;
    let newEmpty = true;
    i += 2;
    while (i < lines.length) {
      const hunk = HUNK_RE.exec(lines[i]);
      if (!hunk) break;
      let oldLeft = Number(hunk[2] ?? '1');
      let newLeft = Number(hunk[4] ?? '1');
      oldEmpty &&= hunk[1] === '0' && oldLeft === 0;
      newEmpty &&= hunk[3] === '0' && newLeft === 0;
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
    file.creates ||= file.oldPath === DEV_NULL || (oldEmpty && !newEmpty);
    file.deletes ||= file.newPath === DEV_NULL || (newEmpty && !oldEmpty);
    file.diff = lines.slice(start, i).join('\n') + '\n';
    i--;
  }
  return files;
}

/** The path a level-N strip leaves (as `patch -pN` does: N leading components dropped), or undefined if none is left. */
function stripped(name: string, level: number): string | undefined {
  const parts = name.split('/').filter(Boolean);
  return parts.length > level ? parts.slice(level).join('/') : undefined;
}

/** How a file fits a strip level: its path exists (a new file: its directory does), or it cannot tell. */
type Fit = 'yes' | 'no' | 'neutral';

function fitAt(file: RawFile, level: number, exists: TreeLookup): Fit {
  if (!file.creates) {
    const name = stripped(file.deletes ? file.oldPath : file.newPath, level);
    return name !== undefined && exists(name, 'file') ? 'yes' : 'no';
  }
  const name = stripped(file.newPath, level);
  if (name === undefined) return 'no';
  const dir = path.posix.dirname(name);
  // A new file at the top level, or in a directory the patch also creates, says nothing about the level on its own.
  if (dir === '.') return 'neutral';
  if (exists(dir, 'dir')) return 'yes';
  return exists(name.split('/')[0], 'dir') ? 'neutral' : 'no';
}

/** A path that is absolute or climbs with `..` is outside the tree at every strip level. */
function checkInside(name: string): void {
  if (name === DEV_NULL || name === '') return;
  if (path.posix.isAbsolute(name) || name.split('/').includes('..')) {
    throw new SplicedError('InvalidArgument', `the patch touches ${name}, which is outside the kernel source tree`, { path: name });
  }
}

/**
 * The `patch -p` level: the one at which every touched file exists in the tree (a new file: its directory), the way a
 * careful human picks it. Of several such levels the smallest (the most literal reading) wins — `arch/x86/kernel/
 * signal.c` is not `kernel/signal.c` — unless what it strips is itself a directory of the tree: then the patch could
 * mean either, and with the prepared tree that is an ambiguity the user must resolve. With the layout heuristic (no
 * tree yet) the smallest is taken, to be confirmed against the tree.
 */
function stripLevel(files: RawFile[], exists: TreeLookup, confirmed: boolean): number {
  const named = files.flatMap((f) => [f.oldPath, f.newPath]).filter((p) => p !== DEV_NULL);
  const deepest = Math.min(...named.map((p) => p.split('/').filter(Boolean).length)) - 1;
  const scored: { level: number; yes: number }[] = [];
  for (let level = 0; level <= deepest; level++) {
    const fits = files.map((f) => fitAt(f, level, exists));
    if (!fits.includes('no')) scored.push({ level, yes: fits.filter((f) => f === 'yes').length });
  }
  const best = Math.max(...scored.map((s) => s.yes));
  const levels = scored.filter((s) => s.yes === best).map((s) => s.level);
  const example = named[0];
  if (levels.length === 0) {
    const where = confirmed ? 'exist in the kernel tree' : 'are kernel source paths (arch/, fs/, kernel/, …)';
    throw new SplicedError(confirmed ? 'BuildFailed' : 'InvalidArgument', `at no strip level (-p0 to -p${Math.max(deepest, 0)}) do the patch's files ${where}: ${example}`, {
      path: example,
    });
  }
  const [level] = levels;
  const prefix = (name: string) => name.split('/').filter(Boolean).slice(0, level).join('/');
  if (confirmed && levels.length > 1 && level > 0 && named.some((name) => exists(prefix(name), 'dir'))) {
    const readings = levels.map((l) => `-p${l} (${stripped(example, l)})`).join(' and ');
    throw new SplicedError('InvalidArgument', `the patch's paths fit the kernel tree at ${readings}; give paths with one known prefix (a/ and b/)`, {
      levels,
      path: example,
    });
  }
  return level;
}

/** A path inside the kernel tree at this strip level. */
function kernelPath(raw: string, strip: number): string {
  return path.posix.normalize(stripped(raw, strip) ?? '');
}

/** The kernel's top-level directories and files (6.1): how paths are read before the tree is at hand. */
const TOP_DIRS = new Set('Documentation LICENSES arch block certs crypto drivers fs include init io_uring ipc kernel lib mm net rust samples scripts security sound tools usr virt'.split(' '));
const TOP_FILES = new Set('COPYING CREDITS Kbuild Kconfig MAINTAINERS Makefile README'.split(' '));

export const KERNEL_LAYOUT: TreeLookup = (rel, kind) => {
  const parts = rel.split('/');
  if (parts.length > 1 || kind === 'dir') return TOP_DIRS.has(parts[0]);
  return TOP_FILES.has(rel) || rel.startsWith('.');
};

/** The files of a prepared tree, as they are on disk. */
export function treeLookup(sourceDir: string): TreeLookup {
  return (rel, kind) => {
    const stat = statSync(path.join(sourceDir, rel), { throwIfNoEntry: false });
    return kind === 'dir' ? stat?.isDirectory() === true : stat?.isFile() === true;
  };
}

const BUILD_SYSTEM = /(^|\/)(Makefile[^/]*|Kbuild[^/]*|Kconfig[^/]*)$|^scripts\/|\.lds(\.S)?$/;
const NOT_BUILT = /^(Documentation|tools|samples|LICENSES|usr\/include)\/|^(MAINTAINERS|CREDITS|README|COPYING|\.[^/]+)$/;

/** The refusal of a change to an assembly file: its code has no ftrace hook a livepatch could redirect. */
export function assemblyRefusal(file: string): SplicedError {
  return new SplicedError('UnsafePatch', `the patch changes the assembly file ${file}; assembly cannot be spliced`, { reason: 'assembly', path: file });
}

function roleOf(file: string): FileRole {
  if (/\.(S|s)$/.test(file)) throw assemblyRefusal(file);
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

/** Each file once, in order of first mention: a series may change a file in several of its mails. */
function mergeByPath(files: PatchedFile[], messages: number[]): PatchedFile[] {
  const byPath = new Map<string, { file: PatchedFile; message: number }>();
  files.forEach((file, i) => {
    const seen = byPath.get(file.path);
    if (!seen) return byPath.set(file.path, { file: { ...file }, message: messages[i] });
    if (seen.message === messages[i]) {
      throw new SplicedError('InvalidArgument', `the patch changes ${file.path} twice; give one diff per file`);
    }
    const merged = seen.file;
    // Added then changed is still an addition; whatever ends deleted is a deletion.
    if (file.change === 'delete') merged.change = 'delete';
    merged.added += file.added;
    merged.removed += file.removed;
    merged.diff += file.diff;
    seen.message = messages[i];
  });
  return [...byPath.values()].map((v) => v.file);
}

/**
 * Parses and vets a kernel patch. `exists` says which paths the target tree has (treeLookup of the prepared tree);
 * without it the strip level is read from the kernel's layout and must be confirmed against the tree later.
 * Throws InvalidArgument for a malformed or ambiguous patch, UnsafePatch for one that cannot be a splice, BuildFailed
 * when its files are not in the tree at any strip level.
 */
export function parsePatch(text: string, exists?: TreeLookup): ParsedPatch {
  const messages = splitMessages(text.replace(/\r\n/g, '\n'));
  const raw = messages.flatMap((message, i) => scan(message, i));
  if (raw.length === 0) throw new SplicedError('InvalidArgument', 'the file contains no unified diff');
  for (const f of raw) {
    // No name on either side: there is nothing to find a strip level from (and nothing to patch).
    if (f.oldPath === DEV_NULL && f.newPath === DEV_NULL) throw new SplicedError('InvalidArgument', 'the patch has a diff of /dev/null against /dev/null');
    checkInside(f.oldPath);
    checkInside(f.newPath);
    if (f.unsupported) {
      // Refused before the strip level is sought: such an entry is never given to GNU patch.
      const name = f.newPath === DEV_NULL ? f.oldPath : f.newPath;
      throw new SplicedError('UnsafePatch', `the patch ${f.unsupported} (${name}); only text changes can be spliced`, {
        reason: 'unsupported-diff',
        path: name,
      });
    }
  }
  const strip = stripLevel(raw, exists ?? KERNEL_LAYOUT, exists !== undefined);
  const files = raw.map((f): PatchedFile => {
    const file = kernelPath(f.deletes ? f.oldPath : f.newPath, strip);
    if (!f.creates && !f.deletes && kernelPath(f.oldPath, strip) !== file) {
      throw new SplicedError('UnsafePatch', `the patch renames ${f.oldPath} to ${f.newPath}; renames cannot be spliced`, {
        reason: 'unsupported-diff',
        path: file,
      });
    }
    return {
      path: file,
      change: f.creates ? 'add' : f.deletes ? 'delete' : 'modify',
      role: roleOf(file),
      added: f.added,
      removed: f.removed,
      diff: f.diff,
    };
  });
  const kernelText = files
    .filter((f) => f.role !== 'other')
    .map((f) => f.diff)
    .join('');
  return {
    sha256: createHash('sha256').update(text).digest('hex'),
    strip,
    files: mergeByPath(files, raw.map((f) => f.message)),
    text,
    kernelText,
    header: mergeHeaders(messages.map(parsePatchHeader)),
  };
}
