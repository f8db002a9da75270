// Module generation, step 2: link the extracted objects into a livepatch .ko through kbuild against the headers of
// the target kernel (so vermagic and modversions CRCs are exactly the kernel's), with a generated C file
// declaring the klp_patch; then add the livepatch relocations (klp-postprocess.ts). The module records where it came
// from in the .modinfo fields of src/kernel/splice-modinfo.ts (patch sha256, kernel build id, functions, and from the
// patch header: description, CVEs, version).

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SplicedError } from '../../errors';
import { SPLICE_MODINFO } from '../../kernel/splice-modinfo';
import { run } from '../process';
import { Extracted } from './extract';
import { addLivepatchRelocations } from './postprocess';

export interface ModuleRequest {
  /** Module name (a C identifier): the livepatch's name in /sys/kernel/livepatch. */
  name: string;
  /** Extracted objects, one per changed translation unit, each naming its target ("vmlinux" or a module). */
  parts: Extracted[];
  /** Headers of the target kernel: a kbuild tree, e.g. the prepared tree (or /usr/src/linux-headers-6.1.0-56-amd64). */
  headersDir: string;
  patchSha256: string;
  buildId: string;
  description?: string;
  /** CVE ids the patch fixes. */
  cves?: string[];
  /** The Debian version whose fix the patch brings. */
  version?: string;
  /** The linux-source version the objects were compiled from. */
  sourceVersion?: string;
  /** Make arguments (CC=gcc-12, -j). */
  makeArgs?: string[];
  /** Runs the link while kbuild reads headersDir: the tree's lock, as another build may have a patch applied there. */
  withHeaders?: <T>(link: () => Promise<T>) => Promise<T>;
}

// Control characters would need C escapes JSON does not produce; a one-line field has no use for them anyway.
const cString = (text: string) => JSON.stringify(text.replace(/[\x00-\x1f\x7f]/g, ' '));

/** The spliced.* modinfo strings (docs/files.md), written as MODULE_INFO() would, which cannot take a dotted key. */
function spliceModinfo(request: ModuleRequest, functions: string): string[] {
  const fields: [string, string | undefined][] = [
    [SPLICE_MODINFO.patchSha256, request.patchSha256],
    [SPLICE_MODINFO.buildId, request.buildId],
    [SPLICE_MODINFO.functions, functions],
    [SPLICE_MODINFO.version, request.version],
    [SPLICE_MODINFO.cves, request.cves?.length ? request.cves.join(' ') : undefined],
    [SPLICE_MODINFO.sourceVersion, request.sourceVersion],
  ];
  return fields
    .filter((field): field is [string, string] => field[1] !== undefined)
    .map(([key, value], i) => `static const char spliced_modinfo_${i}[] __used __section(".modinfo") __aligned(1) = ${cString(`${key}=${value}`)};`);
}

/** The C source declaring the klp_patch: one klp_object per target, one klp_func per replaced function. */
export function livepatchSource(request: ModuleRequest): string {
  const lines = ['#include <linux/module.h>', '#include <linux/kernel.h>', '#include <linux/livepatch.h>', ''];
  const declared = new Set<string>();
  for (const part of request.parts) {
    for (const f of part.functions) {
      if (!declared.has(f.newSymbol)) lines.push(`extern void ${f.newSymbol}(void);`);
      declared.add(f.newSymbol);
    }
  }
  // One klp_object per target, even when several translation units of it changed.
  const targets = [...new Set(request.parts.map((p) => p.target))];
  const objects: string[] = [];
  targets.forEach((target, i) => {
    lines.push('', `static struct klp_func funcs_${i}[] = {`);
    for (const f of request.parts.filter((p) => p.target === target).flatMap((p) => p.functions)) {
      lines.push(`\t{ .old_name = ${cString(f.oldName)}, .new_func = ${f.newSymbol}, .old_sympos = ${f.sympos} },`);
    }
    lines.push('\t{ }', '};');
    objects.push(`\t{ .name = ${target === 'vmlinux' ? 'NULL' : cString(target)}, .funcs = funcs_${i} },`);
  });
  const functions = request.parts.flatMap((p) => p.functions.map((f) => `${p.target}:${f.oldName},${f.sympos}`)).join(' ');
  lines.push(
    '',
    'static struct klp_object objs[] = {',
    ...objects,
    '\t{ }',
    '};',
    '',
    'static struct klp_patch patch = {',
    '\t.mod = THIS_MODULE,',
    '\t.objs = objs,',
    '};',
    '',
    'static int __init spliced_patch_init(void)',
    '{',
    '\treturn klp_enable_patch(&patch);',
    '}',
    '',
    'static void __exit spliced_patch_exit(void)',
    '{',
    '}',
    '',
    'module_init(spliced_patch_init);',
    'module_exit(spliced_patch_exit);',
    'MODULE_LICENSE("GPL");',
    'MODULE_INFO(livepatch, "Y");',
    `MODULE_DESCRIPTION(${cString(request.description ?? 'spliced livepatch')});`,
    ...[...new Set(request.parts.flatMap((p) => p.namespaces))].map((ns) => `MODULE_IMPORT_NS(${ns});`),
    ...spliceModinfo(request, functions),
    '',
  );
  return lines.join('\n');
}

export async function buildLivepatchModule(request: ModuleRequest): Promise<Buffer> {
  if (!/^[a-z_][a-z0-9_]*$/.test(request.name)) {
    throw new SplicedError('InvalidArgument', `module name ${request.name} is not a lowercase C identifier`);
  }
  if (request.parts.length === 0 || request.parts.every((p) => p.functions.length === 0)) {
    throw new SplicedError('NoChange', 'no function to replace');
  }
  const dir = await mkdtemp(join(tmpdir(), 'spliced-module-'));
  try {
    const objects = request.parts.map((_, i) => `patch_${i}.o`);
    await writeFile(join(dir, 'klp.c'), livepatchSource(request));
    await writeFile(join(dir, 'Kbuild'), `obj-m := ${request.name}.o\n${request.name}-y := klp.o ${objects.join(' ')}\n`);
    // Prebuilt objects: no .c beside them, so kbuild links them as they are; modpost reads a .cmd file per object.
    await Promise.all(request.parts.map((p, i) => writeFile(join(dir, objects[i]), p.object)));
    await Promise.all(objects.map((o) => writeFile(join(dir, `.${o}.cmd`), `cmd_${join(dir, o)} := prebuilt by spliced\n`)));
    const link = () => run('make', ['-C', request.headersDir, `M=${dir}`, ...(request.makeArgs ?? ['CC=gcc-12']), 'modules']);
    const make = await (request.withHeaders ? request.withHeaders(link) : link());
    if (make.code !== 0) {
      throw new SplicedError('BuildFailed', `kbuild could not link the livepatch module: ${lastLines(make.stderr || make.stdout)}`);
    }
    let ko: Buffer = await readFile(join(dir, `${request.name}.ko`));
    for (const part of request.parts) ko = addLivepatchRelocations(ko, part.target, part.klpRelocations);
    return ko;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function lastLines(text: string): string {
  return text.trim().split('\n').slice(-8).join('\n');
}
