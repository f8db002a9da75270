// What apt knows about the running kernel's feed: its image package, the linux-source versions of the same series
// the archive offers that are newer than the running source, and the image packages built for the flavour.
// All through apt's tools (their runner is injected: unit tests replay recorded outputs).

import { run, RunResult } from '../../build/process';
import { SplicedError } from '../../errors';
import { builtFromLinux, DPKG_QUERY_FORMAT, parseInstalled, parseMadison, parseStanzas, Stanza } from './apt-output';
import { compareVersions } from './debian-version';
import { abiOfImagePackage, imagePackage, imagePackagePrefix, KernelRelease, parseRelease, sourcePackage } from './kernel-release';

/** Runs one of apt's or dpkg's tools. */
export type ToolRunner = (program: string, args: string[]) => Promise<RunResult>;

export const runTool: ToolRunner = (program, args) => run(program, args);

export interface RunningKernel extends KernelRelease {
  /** The Debian source version it was built from ("6.1.192-1", from /proc/version). */
  sourceVersion: string;
  imagePackage: string;
  /** Installed version of the image package, if dpkg has it installed. */
  imageInstalledVersion?: string;
}

export interface ImageOffer {
  package: string;
  abi: number;
  version: string;
  /** The linux source version it was built from (Built-Using). */
  builtFrom?: string;
}

export interface FeedView {
  running: RunningKernel;
  sourcePackage: string;
  /** Every source version the archive offers that is newer than the running one, oldest first. */
  newerSourceVersions: string[];
  /** The newest of them; absent when the running kernel's source is the newest. */
  targetSourceVersion?: string;
  /** The image packages of the series and flavour apt knows (newest version of each), newest ABI first. */
  images: ImageOffer[];
}

async function mustRun(runner: ToolRunner, program: string, args: string[]): Promise<string> {
  const res = await runner(program, args);
  if (res.code !== 0) {
    // The feed's only purpose is a splice to build: apt failing to answer fails that build.
    throw new SplicedError('BuildFailed', `${program} ${args.join(' ')} failed: ${res.stderr.trim()}`, { program, args });
  }
  return res.stdout;
}

async function imagesOf(k: KernelRelease, runner: ToolRunner): Promise<ImageOffer[]> {
  const names = (await mustRun(runner, 'apt-cache', ['pkgnames', imagePackagePrefix(k)])).split('\n').map((l) => l.trim());
  const abis = new Map(names.flatMap((n) => (abiOfImagePackage(k, n) === undefined ? [] : [[n, abiOfImagePackage(k, n)!] as const])));
  const byAbi = [...abis.keys()].sort((a, b) => abis.get(b)! - abis.get(a)!);
  if (byAbi.length === 0) return [];
  // One show for all of them; a listed name without a stanza (virtual) is no offer.
  const stanzas = parseStanzas(await mustRun(runner, 'apt-cache', ['show', ...byAbi]));
  return byAbi.flatMap((name) => {
    const newest: Stanza | undefined = stanzas.filter((s) => s.Package === name).sort((a, b) => compareVersions(b.Version, a.Version))[0];
    if (!newest) return [];
    const builtFrom = builtFromLinux(newest);
    return [{ package: name, abi: abis.get(name)!, version: newest.Version, ...(builtFrom && { builtFrom }) }];
  });
}

/** The newest image package built from a source version (the feed's target image for that version). */
export function imageBuiltFrom(view: FeedView, sourceVersion: string): ImageOffer | undefined {
  return view.images.find((image) => (image.builtFrom ?? image.version) === sourceVersion);
}

/** apt's view of the feed for a running kernel given by its release and source version. */
export async function aptView(running: { release: string; sourceVersion: string }, runner: ToolRunner = runTool): Promise<FeedView> {
  const k = parseRelease(running.release);
  const image = imagePackage(k, k.abi);
  const installed = await runner('dpkg-query', ['-W', DPKG_QUERY_FORMAT, image]);
  const imageInstalledVersion = parseInstalled(installed.stdout).get(image)?.version;
  const source = sourcePackage(k);
  const versions = parseMadison(await mustRun(runner, 'apt-cache', ['madison', source]), source);
  const newerSourceVersions = versions.filter((v) => compareVersions(v, running.sourceVersion) > 0).sort(compareVersions);
  const images = await imagesOf(k, runner);
  return {
    running: { ...k, sourceVersion: running.sourceVersion, imagePackage: image, ...(imageInstalledVersion && { imageInstalledVersion }) },
    sourcePackage: source,
    newerSourceVersions,
    ...(newerSourceVersions.length > 0 && { targetSourceVersion: newerSourceVersions.at(-1) }),
    images,
  };
}
