// What a kernel that is not running looks like, from Debian's own packages: its vmlinux (extracted exactly from the
// bzImage in linux-image-<release>), its symbols in kallsyms order (System.map: the image package's is a stub, the
// real one is in linux-image-<release>-dbg), which translation unit each of its same-named locals comes from (the -dbg
// vmlinux's file symbols, for sympos) and its GNU build id (the vmlinux's ELF note, the same note the running
// kernel shows in /sys/kernel/notes). Prepared once per tree, lazily, under the tree lock; module .ko files are taken
// from the image package on demand. See docs/build.md.

import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { SplicedError } from '../../errors';
import { parseElf } from '../../elf/reader';
import { fileSymbols, formatSameNamed, KallsymsEntry, parseSameNamed } from '../module/symbols';
import { buildIdFromNotes } from '../../kernel/identity';
import { run, tail } from '../process';
import { download, StepListener, Tree, withTreeLock, writeMarker } from './tree';

/** The target kernel's files, in `<tree cache>/image/`. */
export interface TargetImage {
  /** vmlinux (no symbols), as the boot loader unpacks it. */
  vmlinux: string;
  /** Every vmlinux symbol in address order (= /proc/kallsyms order), System.map format. */
  systemMap: string;
  /** Its symbols whose name occurs more than once, each local with its translation unit (formatSameNamed()). */
  sameNamed: string;
  /** GNU build id of that vmlinux, hex. */
  buildId: string;
}

interface ImageMarker {
  release: string;
  debianVersion: string;
  buildId: string;
}

const MARKER = 'image.json';
const SAME_NAMED = 'same-named.tsv';
const SHT_NOTE = 7;
const XZ_MAGIC = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);

function imageDir(tree: Tree): string {
  return path.join(tree.cacheDir, 'image');
}

function fail(message: string, details: Record<string, unknown> = {}): never {
  throw new SplicedError('BuildFailed', message, details);
}

/**
 * The compressed kernel inside a bzImage, located by the boot protocol's setup header (Documentation/x86/boot.rst):
 * setup_sects at 0x1f1, "HdrS" at 0x202, protocol version at 0x206 (payload fields exist since 2.08), payload_offset
 * at 0x248 (from the start of the protected-mode code, which follows the setup sectors), payload_length at 0x24c.
 */
export function bzImagePayload(bzImage: Buffer): Buffer {
  if (bzImage.length < 0x250 || bzImage.toString('latin1', 0x202, 0x206) !== 'HdrS') fail('the kernel image is not a bzImage (no "HdrS" setup header)');
  const protocol = bzImage.readUInt16LE(0x206);
  if (protocol < 0x208) fail(`the kernel image uses boot protocol ${protocol >> 8}.${protocol & 0xff}; 2.08 or later names its payload`);
  const setupSectors = bzImage[0x1f1] === 0 ? 4 : bzImage[0x1f1];
  const start = (setupSectors + 1) * 512 + bzImage.readUInt32LE(0x248);
  const end = start + bzImage.readUInt32LE(0x24c);
  if (end > bzImage.length) fail('the kernel image is truncated: its payload runs past the end of the file');
  return bzImage.subarray(start, end);
}

/**
 * vmlinux from a bzImage: its payload decompressed. Debian builds with CONFIG_KERNEL_XZ; kbuild appends the
 * uncompressed size (le32) after the xz stream, which checks the result.
 */
export async function extractVmlinux(bzImage: Buffer, scratch: string, output: string): Promise<void> {
  const payload = bzImagePayload(bzImage);
  if (!payload.subarray(0, XZ_MAGIC.length).equals(XZ_MAGIC)) fail('the kernel payload is not xz-compressed (CONFIG_KERNEL_XZ)');
  await fs.writeFile(scratch, payload);
  const res = await run('bash', ['-o', 'pipefail', '-c', 'xz -dc --single-stream < "$1" > "$2"', 'bash', scratch, output]);
  await fs.rm(scratch, { force: true });
  if (res.code !== 0) fail(`decompressing the kernel payload failed:\n${tail(res.stderr)}`);
  const size = (await fs.stat(output)).size;
  const expected = payload.readUInt32LE(payload.length - 4);
  if (size !== expected) fail(`the decompressed kernel has ${size} bytes, its image says ${expected}`);
}

/** The GNU build id in an ELF file's note sections (a vmlinux has them in .notes), hex. */
export function elfBuildId(elf: Buffer): string | undefined {
  const file = parseElf(elf);
  for (const section of file.sections.filter((s) => s.type === SHT_NOTE)) {
    const id = buildIdFromNotes(file.sectionData(section));
    if (id) return id;
  }
  return undefined;
}

/**
 * Files of a deb, streamed out in one pass (tar stops once it found each: System.map and vmlinux sit near the start of
 * the -dbg deb). `members`: member → output file; with `all: false`, members the deb lacks are left out.
 */
async function extractMembers(deb: string, members: Record<string, string>, { all = true } = {}): Promise<void> {
  const outputs = Object.values(members);
  const scratch = await fs.mkdtemp(path.join(path.dirname(outputs[0]), '.extract-'));
  try {
    const script = 'deb=$1 dir=$2; shift 2; dpkg-deb --fsys-tarfile "$deb" | tar -x --occurrence=1 -C "$dir" "$@"';
    // No pipefail: tar leaving early ends dpkg-deb with SIGPIPE; tar's status says whether the members were found.
    const res = await run('bash', ['-c', script, 'bash', deb, scratch, ...Object.keys(members)]);
    if (res.code !== 0 && all) fail(`${path.basename(deb)} lacks one of ${Object.keys(members).join(', ')}:\n${tail(res.stderr)}`, { deb, members });
    for (const [member, output] of Object.entries(members)) {
      if (all || (await exists(path.join(scratch, member)))) await fs.rename(path.join(scratch, member), output);
    }
  } finally {
    await fs.rm(scratch, { recursive: true, force: true });
  }
}

/**
 * From linux-image-<release>-dbg: System.map, and the same-named symbols of its vmlinux with their translation units
 * (the symbol table of the vmlinux with debug info; ≈ 630 MB for 6.1, read once and deleted with the deb).
 */
async function prepareDebugSymbols(tree: Tree, dir: string, step: StepListener): Promise<void> {
  const { release, debianVersion } = tree;
  step(`downloading linux-image-${release}-dbg ${debianVersion} for its System.map and symbol table (858 MB for 6.1; deleted after)`);
  const dbgDeb = await download(path.join(tree.cacheDir, 'debs'), `linux-image-${release}-dbg`, debianVersion);
  const dbgVmlinux = path.join(dir, 'vmlinux-dbg.tmp');
  await extractMembers(dbgDeb, {
    [`./usr/lib/debug/boot/System.map-${release}`]: path.join(dir, 'System.map'),
    [`./usr/lib/debug/boot/vmlinux-${release}`]: dbgVmlinux,
  });
  await fs.rm(dbgDeb);
  await fs.writeFile(`${path.join(dir, SAME_NAMED)}.tmp`, formatSameNamed(fileSymbols(await fs.readFile(dbgVmlinux), 'address')));
  await fs.rm(dbgVmlinux);
  await fs.rename(`${path.join(dir, SAME_NAMED)}.tmp`, path.join(dir, SAME_NAMED));
}

async function prepareImage(tree: Tree, dir: string, step: StepListener): Promise<ImageMarker> {
  const { release, debianVersion } = tree;
  await fs.rm(dir, { recursive: true, force: true });
  await fs.mkdir(dir, { recursive: true });
  const debs = path.join(tree.cacheDir, 'debs');
  step(`downloading linux-image-${release} ${debianVersion} (vmlinuz, modules)`);
  const imageDeb = await download(debs, `linux-image-${release}`, debianVersion);
  const bzImage = path.join(dir, 'vmlinuz');
  await extractMembers(imageDeb, { [`./boot/vmlinuz-${release}`]: bzImage });
  step(`extracting vmlinux from vmlinuz-${release}`);
  const vmlinux = path.join(dir, 'vmlinux');
  await extractVmlinux(await fs.readFile(bzImage), path.join(dir, 'payload.xz'), vmlinux);
  await fs.rm(bzImage);
  const buildId = elfBuildId(await fs.readFile(vmlinux)) ?? fail(`the vmlinux of ${release} has no GNU build id note`);

  await prepareDebugSymbols(tree, dir, step);

  const marker: ImageMarker = { release, debianVersion, buildId };
  await writeMarker(path.join(dir, MARKER), marker);
  return marker;
}

async function readImageMarker(dir: string, tree: Tree): Promise<ImageMarker | undefined> {
  try {
    const marker = JSON.parse(await fs.readFile(path.join(dir, MARKER), 'utf8')) as ImageMarker;
    return marker.release === tree.release && marker.debianVersion === tree.debianVersion ? marker : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The target kernel's vmlinux, System.map, same-named symbols and build id, prepared on first use (≈ 30 s with a local
 * mirror). An image prepared before the same-named symbols were kept gets them now.
 */
export async function targetImage(tree: Tree, step: StepListener = () => undefined): Promise<TargetImage> {
  const dir = imageDir(tree);
  const files = (marker: ImageMarker): TargetImage => ({
    vmlinux: path.join(dir, 'vmlinux'),
    systemMap: path.join(dir, 'System.map'),
    sameNamed: path.join(dir, SAME_NAMED),
    buildId: marker.buildId,
  });
  const ready = await readImageMarker(dir, tree);
  if (ready && (await exists(path.join(dir, SAME_NAMED)))) return files(ready);
  return withTreeLock(tree, async () => {
    const marker = (await readImageMarker(dir, tree)) ?? (await prepareImage(tree, dir, step));
    if (!(await exists(path.join(dir, SAME_NAMED)))) await prepareDebugSymbols(tree, dir, step);
    return files(marker);
  });
}

/** Where the image package holds these modules' .ko files: member (`./lib/modules/<release>/kernel/…/x.ko`) → module. */
async function moduleMembers(tree: Tree, modules: string[]): Promise<{ deb: string; members: Map<string, string> }> {
  const deb = await download(path.join(tree.cacheDir, 'debs'), `linux-image-${tree.release}`, tree.debianVersion);
  const listing = await run('dpkg-deb', ['-c', deb]);
  const members = new Map<string, string>();
  for (const line of listing.stdout.split('\n')) {
    const member = /(\.\/lib\/modules\/\S+\/([^/\s]+)\.ko)$/.exec(line);
    const module = member?.[2].replace(/-/g, '_');
    if (member && module && modules.includes(module)) members.set(member[1], module);
  }
  return { deb, members };
}

/**
 * The same-named symbols of these modules with the translation unit of each local (formatSameNamed()), keyed by
 * module name. Debian's .ko files carry no file symbols; their counterparts with debug info in
 * linux-image-<release>-dbg (`./usr/lib/debug/lib/modules/…`) do. Extracted once per module into
 * `image/modules/<name>.same-named.tsv` (empty when the -dbg package lacks it); the -dbg deb is read up to the last
 * one needed and deleted.
 */
export async function targetModuleSameNamed(tree: Tree, modules: string[]): Promise<Map<string, Map<string, KallsymsEntry[]>>> {
  const dir = path.join(imageDir(tree), 'modules');
  const tsv = (m: string) => path.join(dir, `${m}.same-named.tsv`);
  if (modules.length > 0) {
    await withTreeLock(tree, async () => {
      const missing = [];
      for (const m of new Set(modules)) if (!(await exists(tsv(m)))) missing.push(m);
      if (missing.length === 0) return;
      const { members } = await moduleMembers(tree, missing);
      await fs.mkdir(dir, { recursive: true });
      const dbgDeb = await download(path.join(tree.cacheDir, 'debs'), `linux-image-${tree.release}-dbg`, tree.debianVersion);
      const debug = Object.fromEntries([...members].map(([member, module]) => [`./usr/lib/debug${member.slice(1)}`, `${tsv(module)}.ko`]));
      await extractMembers(dbgDeb, debug, { all: false });
      await fs.rm(dbgDeb);
      for (const m of missing) {
        const ko = await fs.readFile(`${tsv(m)}.ko`).catch(() => undefined);
        await fs.writeFile(`${tsv(m)}.tmp`, ko ? formatSameNamed(fileSymbols(ko)) : '');
        await fs.rm(`${tsv(m)}.ko`, { force: true });
        await fs.rename(`${tsv(m)}.tmp`, tsv(m));
      }
    });
  }
  const known = new Map<string, Map<string, KallsymsEntry[]>>();
  for (const m of new Set(modules)) known.set(m, parseSameNamed(await fs.readFile(tsv(m), 'utf8')));
  return known;
}

/**
 * The .ko files of these modules from the target's image package (for a release that is not installed here), keyed
 * by module name; a module the package does not ship is left out. Extracted once into `image/modules/`.
 */
export async function targetModuleFiles(tree: Tree, modules: string[]): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  if (modules.length === 0) return files;
  const dir = path.join(imageDir(tree), 'modules');
  await withTreeLock(tree, async () => {
    const missing = [];
    for (const m of new Set(modules)) if (!(await exists(path.join(dir, `${m}.ko`)))) missing.push(m);
    if (missing.length === 0) return;
    const { deb, members } = await moduleMembers(tree, missing);
    if (members.size === 0) return;
    await fs.mkdir(dir, { recursive: true });
    await extractMembers(deb, Object.fromEntries([...members].map(([member, module]) => [member, path.join(dir, `${module}.ko`)])));
  });
  for (const m of new Set(modules)) {
    const ko = await fs.readFile(path.join(dir, `${m}.ko`)).catch(() => undefined);
    if (ko) files.set(m, ko);
  }
  return files;
}

function exists(file: string): Promise<boolean> {
  return fs.stat(file).then(
    () => true,
    () => false,
  );
}
