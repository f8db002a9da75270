// The guest image: built once by image/build-image.sh, cached under a key that hashes everything that goes into it.
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const GUEST_KERNELS = ['6.1.0-56-amd64', '6.1.0-55-amd64', '6.1.0-53-amd64'] as const;
export const DEFAULT_KERNEL = GUEST_KERNELS[0];

export interface GuestImage {
  dir: string;
  rootImage: string;
  kernel(release: string): { vmlinuz: string; initrd: string };
}

/** Root of everything the tests cache between runs (downloads, images, built fixtures). */
export function testCacheRoot(): string {
  return process.env.SPLICED_TEST_CACHE ?? '/var/cache/spliced-test';
}

/** The repository root, from this file's place in dist/test/guest/harness or test/guest/harness. */
export function repoRoot(): string {
  let dir = __dirname;
  while (!existsSync(join(dir, 'package.json'))) dir = resolve(dir, '..');
  return dir;
}

const recipeDir = (): string => join(repoRoot(), 'test/guest/harness/image');

/** The Debian mirror the host's apt uses, read at run time so no host name is written into the repository. */
export function debianMirror(): string {
  const files = ['/etc/apt/sources.list', ...listDir('/etc/apt/sources.list.d').map((f) => join('/etc/apt/sources.list.d', f))];
  for (const file of files.filter(existsSync)) {
    const text = readFileSync(file, 'utf8');
    for (const stanza of text.split(/\n\s*\n/)) {
      const uris = /^URIs:\s*(\S+)/m.exec(stanza);
      const suites = /^Suites:\s*(.+)$/m.exec(stanza);
      if (uris && suites?.[1].split(/\s+/).includes('bookworm')) return uris[1];
    }
    const oneLine = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\s/m.exec(text);
    if (oneLine) return oneLine[1];
  }
  throw new Error('no bookworm apt source on this host: the guest image is built from Debian bookworm');
}

function listDir(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir) : [];
}

function candidateVersion(pkg: string): string {
  const out = execFileSync('apt-cache', ['policy', pkg], { encoding: 'utf8' });
  const version = /Candidate:\s*(\S+)/.exec(out)?.[1];
  if (!version || version === '(none)') throw new Error(`apt has no ${pkg}: run scripts/setup-host (apt-get update)`);
  return version;
}

function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Everything that shapes the image; any change gives another key and so a rebuild. */
function imageKey(nodeBinary: string): string {
  const recipe = listDir(recipeDir())
    .sort()
    .map((name) => `${name}:${sha256(readFileSync(join(recipeDir(), name)))}`);
  const kernels = GUEST_KERNELS.map((release) => `${release}=${candidateVersion(`linux-image-${release}`)}`);
  return sha256(JSON.stringify({ recipe, kernels, node: sha256(readFileSync(nodeBinary)) })).slice(0, 16);
}

function open(dir: string): GuestImage {
  return {
    dir,
    rootImage: join(dir, 'root.img'),
    kernel: (release) => {
      const vmlinuz = join(dir, `vmlinuz-${release}`);
      if (!existsSync(vmlinuz)) throw new Error(`kernel ${release} is not in the guest image (have: ${GUEST_KERNELS.join(', ')})`);
      return { vmlinuz, initrd: join(dir, `initrd.img-${release}`) };
    },
  };
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv, logFile: string): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const log: Buffer[] = [];
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (chunk: Buffer) => log.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => log.push(chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      writeFileSync(logFile, Buffer.concat(log));
      if (code === 0) resolvePromise();
      else reject(new Error(`${command} failed (exit ${code}); log: ${logFile}\n${Buffer.concat(log).toString().slice(-3000)}`));
    });
  });
}

const imagesInProcess = new Map<string, Promise<GuestImage>>();

/** The cached image for the current recipe, building it first if needed (2–4 min cold). */
export function ensureImage(): Promise<GuestImage> {
  const key = process.execPath;
  let image = imagesInProcess.get(key);
  if (!image) {
    image = findOrBuildImage();
    imagesInProcess.set(key, image);
    image.catch(() => imagesInProcess.delete(key));
  }
  return image;
}

async function findOrBuildImage(): Promise<GuestImage> {
  const nodeBinary = process.execPath;
  const imagesDir = join(testCacheRoot(), 'images');
  const dir = join(imagesDir, imageKey(nodeBinary));
  if (existsSync(join(dir, 'root.img'))) return open(dir);
  mkdirSync(imagesDir, { recursive: true });
  return withBuildLock(join(imagesDir, 'build.lock'), async () => {
    if (existsSync(join(dir, 'root.img'))) return open(dir); // built by whoever held the lock before us
    await buildImage(dir, nodeBinary);
    pruneImages(imagesDir, dir);
    return open(dir);
  });
}

/** One image build at a time on this machine: builds share the download cache. A dead holder's lock is taken over. */
async function withBuildLock<T>(lockDir: string, body: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      mkdirSync(lockDir);
      writeFileSync(join(lockDir, 'pid'), String(process.pid));
      break;
    } catch {
      const holder = Number(readFileSync(join(lockDir, 'pid'), { encoding: 'utf8', flag: 'a+' }) || 0);
      if (holder && !processAlive(holder)) rmSync(lockDir, { recursive: true, force: true });
      else await new Promise((r) => setTimeout(r, 1000));
    }
  }
  try {
    return await body();
  } finally {
    rmSync(lockDir, { recursive: true, force: true });
  }
}

/** Images of older recipes are 1 GB each: keep the newest other one (another checkout may still use it), drop the rest. */
function pruneImages(imagesDir: string, current: string): void {
  const others = listDir(imagesDir)
    .map((name) => join(imagesDir, name))
    .filter((path) => path !== current && existsSync(join(path, 'root.img')))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  for (const stale of others.slice(1)) rmSync(stale, { recursive: true, force: true });
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function buildImage(dir: string, nodeBinary: string): Promise<void> {
  // Build beside the final place and rename: a crashed build never leaves a half image under the key.
  const building = `${dir}.building-${process.pid}`;
  rmSync(building, { recursive: true, force: true });
  mkdirSync(building, { recursive: true });
  const logFile = `${dir}.build.log`;
  const started = Date.now();
  try {
    await run('bash', [join(recipeDir(), 'build-image.sh')], {
      ...process.env,
      OUT: building,
      MIRROR: debianMirror(),
      CACHE: join(testCacheRoot(), 'downloads'),
      KERNELS: GUEST_KERNELS.join(' '),
      NODE_BIN: nodeBinary,
      HERE: recipeDir(),
      DEBIAN_FRONTEND: 'noninteractive',
    }, logFile);
    writeFileSync(join(building, 'manifest.json'), JSON.stringify({ kernels: GUEST_KERNELS, builtInMs: Date.now() - started }, null, 2));
    try {
      renameSync(building, dir);
    } catch (err) {
      if (!existsSync(join(dir, 'root.img'))) throw err;
      rmSync(building, { recursive: true, force: true }); // another run finished first: use its image
    }
  } catch (err) {
    rmSync(building, { recursive: true, force: true });
    throw err;
  }
}
