// The README demo: boot Debian's 6.1.0-56-amd64 in a QEMU guest, install spliced from its Debian package with apt, and
// hand it a kernel source patch with `splicectl apply`: the daemon builds the splice for the running kernel (checked
// against its live code) and applies it without a reboot; then a reboot, after which spliced has reapplied it, and the
// revert. test/demo/entry.sh is the guest's half and checks each step's effect. The guest has no network, so the host
// builds the package and its local apt repository and prepares the kernel tree the splice is built in (a copy goes
// into the guest as a disk).
// Run: scripts/demo
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prepareTree, resolveDebianBuild } from '../../src/build/tree/tree';
import { DEFAULT_KERNEL, kernelTreeDisks, repoRoot, runGuest, stagePackage } from '../guest/harness';

const PATCH = 'test/fixtures/patches/01-string-meminfo.patch';

function say(line: string): void {
  process.stdout.write(`\n== ${line}\n`);
}

async function main(): Promise<number> {
  const workDir = mkdtempSync(join(tmpdir(), 'spliced-demo-'));
  try {
    say(`The patch (${PATCH}):`);
    process.stdout.write(readFileSync(join(repoRoot(), PATCH), 'utf8').split('\n').filter((l) => /^[-+@]/.test(l)).join('\n') + '\n');
    say(`Preparing the source tree of ${DEFAULT_KERNEL} like Debian built it (apt; cached after the first run)`);
    const tree = await prepareTree(await resolveDebianBuild({ release: DEFAULT_KERNEL }), (step) => process.stdout.write(`   ${step}\n`));
    say("Building spliced's Debian package (packaging/build-deb; cached while its inputs do not change) and a local apt repository with it and Debian's nodejs");
    await stagePackage(workDir);
    say('Booting Debian 12 with its own kernel in QEMU (about 20 s here, no KVM)');
    copyFileSync(join(repoRoot(), 'test/demo/entry.sh'), join(workDir, 'entry.sh'));
    let pending = '';
    const result = await runGuest({
      name: 'demo',
      workDir,
      entry: 'entry.sh',
      timeoutMs: 20 * 60_000,
      // Boot 1 applies and asks for the reboot; boot 2 shows the reapply and reverts.
      maxBoots: 2,
      // gcc in the guest wants the memory.
      memoryMiB: 2048,
      disks: kernelTreeDisks([tree], workDir),
      onConsole: (chunk) => {
        const lines = (pending + chunk).split('\n');
        pending = lines.pop() ?? '';
        for (const line of lines) {
          const at = line.indexOf('demo| ');
          if (at >= 0) process.stdout.write(line.slice(at + 6).replace(/\r$/, '') + '\n');
        }
      },
    });
    if (result.exitCode !== 0) {
      process.stderr.write(`demo failed in the guest (exit ${result.exitCode}); console tail:\n${result.console.slice(-3000)}\n`);
      return 1;
    }
    say('Done: the running kernel was patched live, kept its patch across a reboot, and was unpatched live.');
    return 0;
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}

main().then((code) => process.exit(code), (err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
