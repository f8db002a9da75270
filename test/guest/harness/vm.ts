// Boots the guest image under QEMU and runs a test entry script in it, across as many boots as the script asks for.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_KERNEL, ensureImage, GuestImage, repoRoot } from './image';

/** An extra disk of one run, attached read-write; the guest finds it as /dev/disk/by-id/virtio-<serial>. */
export interface GuestDisk {
  /** At most 20 characters (virtio-blk's serial field). */
  serial: string;
  /** Writes the raw image to `path`; runGuest calls it before the first boot and deletes the image with the run. */
  create(path: string): Promise<void>;
}

export interface GuestRun {
  /** Names the run in logs. */
  name: string;
  /** Host folder shared read-write at /mnt/work; holds the entry script and fixtures, receives results. */
  workDir: string;
  /** Script (bash, relative to workDir) run as root at every boot. Exit 0–98 ends the run; 99 asks for a reboot. */
  entry: string;
  /** Kernel release for each boot; the last one repeats. */
  kernels?: string[];
  timeoutMs: number;
  /** A boot that has not started the entry script after this long is stuck (BOOT_STALL_MS unless given). */
  bootStallMs?: number;
  /** Boots allowed before the run is failed (reboots asked for, or resets from a crash). */
  maxBoots?: number;
  memoryMiB?: number;
  /** Extra kernel command line words, e.g. "spliced.disable=1". */
  kernelArgs?: string[];
  /** More words for single boots (index 0 = boot 1), after kernelArgs; boots past the end get none. */
  bootKernelArgs?: string[][];
  /** Extra disks, made for this run only (see trees.ts). */
  disks?: GuestDisk[];
  /** Receives the guest console as it comes (the whole console is also in the result). */
  onConsole?: (chunk: string) => void;
}

export interface GuestResult {
  /** The entry's exit status on the last boot; null when the run ended without one (timeout, too many boots). */
  exitCode: number | null;
  boots: number;
  /** Everything the guest printed on its console, all boots. */
  console: string;
  timedOut: boolean;
}

export const REBOOT_EXIT_CODE = 99;

/** KVM only where it really accelerates a stock kernel (kvm_intel/kvm_amd); elsewhere TCG. */
function accelerator(): string[] {
  const realKvm = existsSync('/dev/kvm') && (existsSync('/sys/module/kvm_intel') || existsSync('/sys/module/kvm_amd'));
  return realKvm ? ['-accel', 'kvm', '-cpu', 'host'] : ['-accel', 'tcg,thread=multi,tb-size=256', '-cpu', 'max'];
}

const diskImage = (scratch: string, index: number): string => join(scratch, `disk${index}.img`);

function qemuArgs(image: GuestImage, scratch: string, run: GuestRun, kernel: string, boot: number): string[] {
  const { vmlinuz, initrd } = image.kernel(kernel);
  const append = [
    'root=/dev/vda', 'ro', 'console=ttyS0', 'panic=-1', 'loglevel=4',
    'systemd.mask=serial-getty@ttyS0.service', 'systemd.show_status=false', ...(run.kernelArgs ?? []),
    ...(run.bootKernelArgs?.[boot - 1] ?? []),
  ].join(' ');
  const share = (path: string, tag: string, readonly: boolean): string[] => [
    '-virtfs', `local,path=${path},mount_tag=${tag},security_model=none,id=${tag}${readonly ? ',readonly=on' : ''}`,
  ];
  return [
    ...accelerator(),
    '-smp', '2', '-m', String(run.memoryMiB ?? 1024),
    '-nographic', '-no-reboot', '-nodefaults', '-serial', 'stdio',
    '-kernel', vmlinuz, '-initrd', initrd, '-append', append,
    // Every disk as an explicit device, root first: devices get PCI slots (and vdX names) in command-line order,
    // while an if=virtio drive would be placed after them.
    '-drive', `file=${join(scratch, 'run.qcow2')},format=qcow2,if=none,id=root`,
    '-device', 'virtio-blk-pci,drive=root',
    ...share(repoRoot(), 'spliced', true),
    ...share(run.workDir, 'work', false),
    ...(run.disks ?? []).flatMap((d, i) => [
      '-drive', `file=${diskImage(scratch, i)},format=raw,if=none,id=disk${i}`,
      '-device', `virtio-blk-pci,drive=disk${i},serial=${d.serial}`,
    ]),
    '-device', 'virtio-rng-pci',
  ];
}

/**
 * A boot that has not reached the entry script after this long is stuck, not slow: under TCG on a loaded host a boot
 * reaches it in 15–90 s. Seen once (docs/testing.md): a guest that hung early in a boot, one core busy, not a byte
 * written to its disk, until the suite's deadline.
 */
const BOOT_STALL_MS = 6 * 60_000;
/** What guest-runner prints as it starts the entry script. */
const ENTRY_STARTED = /guest-runner: boot \d+, running /;

/**
 * One QEMU process until the guest powers off, resets, or the deadline passes, or (stalled) it has not started the
 * entry script within BOOT_STALL_MS; always leaves no qemu behind.
 */
function boot(
  args: string[],
  deadline: number,
  stallMs: number,
  onOutput: (chunk: string) => void,
): Promise<{ timedOut: boolean; stalled: boolean }> {
  return new Promise((resolve, reject) => {
    const qemu = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => qemu.kill('SIGKILL'), Math.max(0, deadline - Date.now()));
    let started = false;
    let stalled = false;
    const stallTimer = setTimeout(() => {
      stalled = true;
      qemu.kill('SIGKILL');
    }, Math.min(stallMs, Math.max(0, deadline - Date.now())));
    const killOnExit = (): void => void qemu.kill('SIGKILL');
    process.once('exit', killOnExit);
    let recent = '';
    const output = (chunk: string): void => {
      if (!started) {
        recent = (recent + chunk).slice(-400);
        if (ENTRY_STARTED.test(recent)) {
          started = true;
          clearTimeout(stallTimer);
        }
      }
      onOutput(chunk);
    };
    qemu.stdout.setEncoding('utf8').on('data', output);
    qemu.stderr.setEncoding('utf8').on('data', output);
    qemu.on('error', (err) => {
      clearTimeout(timer);
      clearTimeout(stallTimer);
      reject(err);
    });
    qemu.on('close', () => {
      clearTimeout(timer);
      clearTimeout(stallTimer);
      process.removeListener('exit', killOnExit);
      resolve({ timedOut: Date.now() >= deadline, stalled: stalled && Date.now() < deadline });
    });
  });
}

/** Boot the guest, run `entry` at every boot, and report how it ended. A fresh overlay per run keeps the image pristine. */
export async function runGuest(run: GuestRun): Promise<GuestResult> {
  const image = await ensureImage();
  const scratch = mkdtempSync(join(tmpdir(), `spliced-guest-${run.name}-`));
  const control = join(run.workDir, '.guest');
  rmSync(control, { recursive: true, force: true });
  mkdirSync(control, { recursive: true });
  writeFileSync(join(control, 'entry'), run.entry);
  const kernels = run.kernels ?? [DEFAULT_KERNEL];
  const maxBoots = run.maxBoots ?? 1;
  let consoleLog = '';
  let boots = 0;
  let stallsLeft = 1;
  try {
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', image.rootImage, '-F', 'raw', join(scratch, 'run.qcow2')]);
    for (const [i, disk] of (run.disks ?? []).entries()) await disk.create(diskImage(scratch, i));
    // The deadline is the guest's: making the disks does not count.
    const deadline = Date.now() + run.timeoutMs;
    while (boots < maxBoots) {
      const kernel = kernels[Math.min(boots, kernels.length - 1)];
      boots++;
      consoleLog += `\n=== ${run.name}: boot ${boots} (${kernel}) ===\n`;
      const stallMs = run.bootStallMs ?? BOOT_STALL_MS;
      const { timedOut, stalled } = await boot(qemuArgs(image, scratch, run, kernel, boots), deadline, stallMs, (chunk) => {
        consoleLog += chunk;
        run.onConsole?.(chunk);
        if (process.env.SPLICED_GUEST_VERBOSE) process.stderr.write(chunk);
      });
      if (stalled) {
        // Said in the console the suite prints; booted again on the same disk once per run, then a hang like any other.
        const again = stallsLeft-- > 0;
        consoleLog += `\n=== ${run.name}: boot ${boots} had not started the entry script after ${stallMs / 1000} s: stopped${again ? ', booted again' : ''} ===\n`;
        if (!again) return { exitCode: null, boots, console: consoleLog, timedOut: true };
        boots--;
        continue;
      }
      const exitFile = join(control, 'exit');
      if (existsSync(exitFile)) {
        return { exitCode: Number(readFileSync(exitFile, 'utf8').trim()), boots, console: consoleLog, timedOut: false };
      }
      if (timedOut) return { exitCode: null, boots, console: consoleLog, timedOut: true };
      // No exit status: the guest rebooted (asked for, or a crash/reset); boot again on the same disk.
    }
    return { exitCode: null, boots, console: consoleLog, timedOut: false };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
