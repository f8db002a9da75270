// The bad-input classes of docs/errors.md ("Bad inputs"), each through every door it can take on the host against the
// real spliced (real engine, store, builder worker and drop directory, on a private bus): the drop directory,
// `Apply` (through splicectl), `ApplyFd`, and `spliced build`. Each must end in its named error, with the daemon
// still the same process and answering, and nothing else changed: nothing recorded as applied, the drop directory
// empty, the quarantine holding only the files that were dropped. Classes that need the real kernel (NoChange,
// BuildFailed, RunPreMismatch, SignatureRequired, a damaged stored module) are checked in the guest suites.

import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { release, tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Message, type MessageBus } from 'dbus-next';
import { connectBus } from '../../../src/bus/connect';
import type { ErrorKind } from '../../../src/errors';
import { EXIT_BY_KIND } from '../../../src/cli/exit-codes';
import { shippedPolicy, startPrivateBus, type PrivateBus } from '../../support/private-bus';
import { splicectlMain } from '../../support/repo';
import { eventually, REPO, run } from '../bus/harness';
import { livepatchFile, moduleFile } from '../kernel/module-file';

type Door = 'drop' | 'Apply' | 'ApplyFd' | 'build';

interface BadInput {
  /** The class, as docs/errors.md names it. */
  name: string;
  /** Makes the input at `at` (a path that does not exist yet). */
  make(at: string): void;
  /** The file name it is dropped under (its extension decides how the drop directory takes it). */
  file: string;
  doors: Door[];
  kind: ErrorKind;
  message: RegExp;
}

const MAX_INPUT = 1024 * 1024;
const UNSIGNED_RELEASE = release();

const write = (text: string | Buffer, mode = 0o644) => (at: string) => fs.writeFileSync(at, text, { mode });
const copyOf = (file: string, edit: (b: Buffer) => Buffer = (b) => b) => (at: string) => fs.writeFileSync(at, edit(fs.readFileSync(file)), { mode: 0o644 });

/** A one-file diff, with whatever headers and body the class needs. */
function diff(file: string, body = '@@ -1,3 +1,3 @@\n a\n-b\n+c\n d\n', header = ''): string {
  return `${header}--- a/${file}\n+++ b/${file}\n${body}`;
}

function gitDiff(file: string, extended: string): string {
  return `diff --git a/${file} b/${file}\n${extended}\n`;
}

const PATCH_DOORS: Door[] = ['drop', 'Apply', 'ApplyFd', 'build'];
const MODULE_DOORS: Door[] = ['drop', 'Apply', 'ApplyFd'];

function classes(): BadInput[] {
  const livepatch = livepatchFile('bad_inputs_lp', UNSIGNED_RELEASE);
  const plain = moduleFile('bad_inputs_plain', { name: 'bad_inputs_plain', vermagic: `${UNSIGNED_RELEASE} SMP preempt mod_unload modversions ` });
  const other = livepatchFile('bad_inputs_other', '6.1.0-55-amd64');
  const noVermagic = moduleFile('bad_inputs_novermagic', { name: 'x', livepatch: 'Y' });
  const object = path.join(path.dirname(noVermagic), 'plain.o');
  fs.writeFileSync(path.join(path.dirname(object), 'plain.c'), 'int f(void) { return 1; }\n');
  execFileSync('gcc', ['-c', 'plain.c', '-o', 'plain.o'], { cwd: path.dirname(object) });
  const headersAt = (b: Buffer, value: bigint) => {
    const c = Buffer.from(b);
    c.writeBigUInt64LE(value, 40);
    return c;
  };
  return [
    // What a file is
    { name: 'neither a module nor a patch (text)', file: 'notes.ko', make: write('just some notes\n'), doors: MODULE_DOORS, kind: 'CorruptModule', message: /not a valid kernel module/ },
    { name: 'an empty file', file: 'empty.ko', make: write(''), doors: MODULE_DOORS, kind: 'CorruptModule', message: /shorter than an ELF header/ },
    { name: 'a truncated module', file: 'half.ko', make: copyOf(livepatch, (b) => b.subarray(0, b.length >> 1)), doors: MODULE_DOORS, kind: 'CorruptModule', message: /not a valid kernel module/ },
    { name: 'section headers beyond the end of the file', file: 'shoff.ko', make: copyOf(livepatch, (b) => headersAt(b, 0xffffffffn)), doors: MODULE_DOORS, kind: 'CorruptModule', message: /beyond the end of the file/ },
    { name: 'a 32-bit ELF file', file: 'elf32.ko', make: copyOf(livepatch, (b) => Buffer.concat([b.subarray(0, 4), Buffer.from([1]), b.subarray(5)])), doors: MODULE_DOORS, kind: 'CorruptModule', message: /not a 64-bit ELF/ },
    { name: 'an object without .modinfo', file: 'plain-object.ko', make: copyOf(object), doors: MODULE_DOORS, kind: 'CorruptModule', message: /no \.modinfo section/ },
    { name: 'a .modinfo without vermagic', file: 'novermagic.ko', make: copyOf(noVermagic), doors: MODULE_DOORS, kind: 'CorruptModule', message: /has no vermagic/ },
    { name: 'a module that is not a livepatch', file: 'plain.ko', make: copyOf(plain), doors: MODULE_DOORS, kind: 'NotLivepatchModule', message: /not a livepatch/ },
    { name: 'a livepatch for another kernel', file: 'other.ko', make: copyOf(other), doors: MODULE_DOORS, kind: 'WrongKernel', message: /6\.1\.0-55-amd64/ },
    { name: 'a file over max_input_size (sparse)', file: 'huge.ko', make: (at) => fs.writeFileSync(at, '', { mode: 0o644 }) === undefined && fs.truncateSync(at, 3 * 1024 ** 3), doors: MODULE_DOORS, kind: 'InvalidArgument', message: /max_input_size|larger than/ },
    { name: 'a file name that is neither .ko, .patch nor .diff', file: 'fix.txt', make: copyOf(livepatch), doors: ['drop'], kind: 'InvalidArgument', message: /neither a livepatch module/ },
    // What a file is not: special files and unsafe owners
    { name: 'a symbolic link', file: 'link.ko', make: (at) => fs.symlinkSync(livepatch, at), doors: ['drop'], kind: 'InvalidArgument', message: /symbolic link/ },
    { name: 'a FIFO', file: 'fifo.ko', make: (at) => execFileSync('mkfifo', ['-m', '644', at]), doors: MODULE_DOORS, kind: 'InvalidArgument', message: /not a regular file \(a FIFO\)/ },
    // A directory in incoming/ is not a dropped file: the watcher (depth 0) leaves it alone.
    { name: 'a directory (in `incoming/` one is not a dropped file: left alone)', file: 'dir.ko', make: (at) => fs.mkdirSync(at, { mode: 0o755 }), doors: ['Apply', 'ApplyFd'], kind: 'InvalidArgument', message: /not a regular file \(a directory\)/ },
    { name: 'a character device', file: 'zero.ko', make: (at) => execFileSync('mknod', ['-m', '644', at, 'c', '1', '5']), doors: MODULE_DOORS, kind: 'InvalidArgument', message: /not a regular file \(a character device\)/ },
    { name: 'a socket', file: 'socket.ko', make: makeSocket, doors: ['drop', 'Apply'], kind: 'InvalidArgument', message: /not a regular file \(a socket\)/ },
    { name: 'a file not owned by root', file: 'nobody.ko', make: (at) => (copyOf(livepatch)(at), fs.chownSync(at, 65534, 65534)), doors: ['drop'], kind: 'InvalidArgument', message: /owned by/ },
    { name: 'a file writable by group or others', file: 'writable.ko', make: (at) => (copyOf(livepatch)(at), fs.chmodSync(at, 0o666)), doors: ['drop'], kind: 'InvalidArgument', message: /writable/ },
    // Patches
    { name: 'a patch whose hunk is cut short', file: 'short.patch', make: write(diff('fs/proc/meminfo.c', '@@ -1,3 +1,3 @@\n a\n')), doors: PATCH_DOORS, kind: 'InvalidArgument', message: /cut short/ },
    { name: 'a patch climbing out of the tree (..)', file: 'climb.patch', make: write(diff('../../etc/passwd')), doors: PATCH_DOORS, kind: 'InvalidArgument', message: /outside the kernel source tree/ },
    { name: 'a patch of an absolute path', file: 'absolute.patch', make: write('--- /etc/shadow\n+++ /etc/shadow\n@@ -1,3 +1,3 @@\n a\n-b\n+c\n d\n'), doors: PATCH_DOORS, kind: 'InvalidArgument', message: /outside the kernel source tree/ },
    { name: 'a diff of /dev/null against /dev/null', file: 'devnull.patch', make: write('--- /dev/null\n+++ /dev/null\n@@ -0,0 +1 @@\n+x\n'), doors: PATCH_DOORS, kind: 'InvalidArgument', message: /\/dev\/null against \/dev\/null/ },
    { name: 'a patch that changes one file twice', file: 'twice.patch', make: write(diff('fs/proc/meminfo.c') + diff('fs/proc/meminfo.c')), doors: PATCH_DOORS, kind: 'InvalidArgument', message: /twice/ },
    { name: 'a quoted file name', file: 'quoted.patch', make: write('--- "a/fs/x y.c"\n+++ "b/fs/x y.c"\n@@ -1 +1 @@\n-a\n+b\n'), doors: PATCH_DOORS, kind: 'InvalidArgument', message: /unusual characters/ },
    { name: 'a Spliced-Version that is not a Debian version', file: 'version.patch', make: write(diff('fs/proc/meminfo.c', undefined, 'Spliced-Version: $(reboot)\n\n')), doors: PATCH_DOORS, kind: 'InvalidArgument', message: /Spliced-Version/ },
    { name: 'an assembly file', file: 'asm.patch', make: write(diff('arch/x86/lib/memcpy_64.S')), doors: PATCH_DOORS, kind: 'UnsafePatch', message: /assembly/ },
    { name: 'a build-system file', file: 'kconfig.patch', make: write(diff('mm/Kconfig')), doors: PATCH_DOORS, kind: 'UnsafePatch', message: /build system/ },
    { name: 'a symbolic link entry (mode 120000)', file: 'symlink-entry.patch', make: write(gitDiff('fs/proc/link', 'new file mode 120000\nindex 0000000..1111111\n--- /dev/null\n+++ b/fs/proc/link\n@@ -0,0 +1 @@\n+/etc/shadow')), doors: PATCH_DOORS, kind: 'UnsafePatch', message: /symbolic link/ },
    { name: 'a file mode change', file: 'mode.patch', make: write(gitDiff('fs/proc/meminfo.c', 'old mode 100644\nnew mode 100755')), doors: PATCH_DOORS, kind: 'UnsafePatch', message: /file mode/ },
    { name: 'a binary patch', file: 'binary.patch', make: write(gitDiff('fs/proc/blob.bin', 'index 1111111..2222222\nGIT binary patch\nliteral 1\nIcmZp00000\n')), doors: PATCH_DOORS, kind: 'UnsafePatch', message: /binary/ },
    { name: 'a rename', file: 'rename.patch', make: write(gitDiff('fs/proc/meminfo.c', 'similarity index 100%\nrename from fs/proc/meminfo.c\nrename to fs/proc/meminfo2.c')), doors: PATCH_DOORS, kind: 'UnsafePatch', message: /renames/ },
  ];
}

function makeSocket(at: string): void {
  // A listening socket leaves its node behind when the server closes without unlinking (node unlinks on close): bind in a child.
  spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(at)}, () => process.exit(0))`]);
  assert.ok(fs.lstatSync(at).isSocket());
}

describe('bad inputs through every door of the real daemon', () => {
  let bus: PrivateBus;
  let daemon: ChildProcess;
  let client: MessageBus;
  let stateDir: string;
  let scratch: string;
  let log = '';
  let pid = 0;
  const incoming = () => path.join(stateDir, 'incoming');
  const quarantine = () => path.join(stateDir, 'quarantine');

  before(async () => {
    bus = await startPrivateBus(shippedPolicy());
    stateDir = fs.mkdtempSync(path.join(tmpdir(), 'spliced-bad-inputs-'));
    scratch = path.join(stateDir, 'scratch');
    fs.mkdirSync(scratch);
    fs.writeFileSync(path.join(stateDir, 'spliced.conf'), `max_input_size = ${MAX_INPUT}\n`);
    daemon = spawn(process.execPath, [path.join(REPO, 'dist/src/daemon/main.js')], {
      env: {
        ...process.env,
        SPLICED_CONFIG: path.join(stateDir, 'spliced.conf'),
        SPLICED_STATE_DIR: stateDir,
        SPLICED_REBOOT_REQUIRED_FILE: path.join(stateDir, '..', 'reboot-required'),
        SPLICED_DISABLE_FILE: path.join(stateDir, 'disable'),
        SPLICED_BUS: bus.address,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    pid = daemon.pid!;
    daemon.stdout!.on('data', (d) => (log += d));
    daemon.stderr!.on('data', (d) => (log += d));
    await eventually(() => (log.includes('"msg":"ready"') ? true : undefined), 20_000).catch(() => {
      throw new Error(`spliced did not get ready:\n${log}`);
    });
    client = await connectBus(bus.address);
  });
  after(async () => {
    client?.disconnect();
    if (daemon.exitCode === null) {
      const exited = new Promise((r) => daemon.once('exit', r));
      daemon.kill('SIGTERM');
      await exited;
    }
    await bus.stop();
    fs.rmSync(stateDir, { recursive: true, force: true });
  });

  const splicectl = (args: string[]) => run(process.execPath, [splicectlMain(), ...args], { env: { SPLICED_BUS_ADDRESS: bus.address } });

  async function managerCall(member: string, signature: string, body: unknown[]): Promise<unknown[]> {
    const reply = await client.call(new Message({
      destination: 'org.spliced.Spliced1', path: '/org/spliced/Spliced1', interface: 'org.spliced.Spliced1.Manager', member, signature, body,
    }));
    return reply!.body as unknown[];
  }

  async function jobError(job: string): Promise<{ kind: string; message: string }> {
    const property = async (name: string) => {
      const reply = await client.call(new Message({
        destination: 'org.spliced.Spliced1', path: job, interface: 'org.freedesktop.DBus.Properties', member: 'Get', signature: 'ss',
        body: ['org.spliced.Spliced1.Job', name],
      }));
      return (reply!.body[0] as { value: string }).value;
    };
    await eventually(async () => ((await property('State')) === 'failed' ? true : undefined), 30_000);
    return { kind: (await property('ErrorName')).replace('org.spliced.Spliced1.Error.', ''), message: await property('ErrorMessage') };
  }

  /** The named error (kind, message) and exit code, where the door has one, of `input` taken through `door`. */
  async function through(door: Door, input: BadInput): Promise<{ kind: string; message: string; exit?: number }> {
    const at = path.join(scratch, `${door}-${input.file}`);
    input.make(at);
    try {
      switch (door) {
        case 'drop': {
          const dropped = path.join(incoming(), input.file);
          fs.renameSync(at, dropped);
          const reasonFile = path.join(quarantine(), `${input.file}.reason.json`);
          await eventually(() => (fs.existsSync(reasonFile) ? true : undefined), 30_000);
          const reason = JSON.parse(fs.readFileSync(reasonFile, 'utf8')) as { error: { kind: string; message: string } };
          return reason.error;
        }
        case 'Apply': {
          const r = await splicectl(['apply', at]);
          const named = /splicectl: ([\s\S]*) \((\w+)\)\n$/.exec(r.stderr);
          assert.ok(named, `splicectl apply: ${JSON.stringify(r)}`);
          return { kind: named[2], message: named[1], exit: r.code };
        }
        case 'ApplyFd': {
          const fd = fs.openSync(at, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
          try {
            const [job] = await managerCall('ApplyFd', 'ha{sv}', [fd, {}]);
            return await jobError(job as string);
          } catch (err) {
            const e = err as { type?: string; text?: string };
            if (!e.type) throw err;
            return { kind: e.type.replace('org.spliced.Spliced1.Error.', ''), message: String(e.text) };
          } finally {
            fs.closeSync(fd);
          }
        }
        case 'build': {
          const r = await run(process.execPath, [path.join(REPO, 'dist/src/daemon/main.js'), 'build', at, '-o', `${at}.ko`]);
          const named = /^spliced build: (\w+): (.*)$/m.exec(r.stderr);
          assert.ok(named, `spliced build: ${JSON.stringify(r)}`);
          assert.equal(fs.existsSync(`${at}.ko`), false, 'no module written');
          return { kind: named[1], message: named[2], exit: r.code };
        }
      }
    } finally {
      fs.rmSync(at, { recursive: true, force: true });
    }
  }

  const all = classes();

  it(`has at least 25 classes (${all.length}), each named once, each a row of docs/errors.md with its doors and error`, () => {
    assert.ok(all.length >= 25);
    assert.equal(new Set(all.map((c) => c.name)).size, all.length);
    const doc = fs.readFileSync(path.join(REPO, 'docs/errors.md'), 'utf8');
    const rows = new Map([...doc.matchAll(/^\| (.+?) \| ([^|]+) \| `(\w+)` \| [^|]+ \| host \|$/gm)].map((m) => [m[1], { doors: m[2], kind: m[3] }]));
    const doors = (c: BadInput) => c.doors.map((d) => (d === 'build' ? 'spliced build' : d)).join(', ');
    assert.deepEqual(rows, new Map(all.map((c) => [c.name, { doors: doors(c), kind: c.kind }])));
  });

  for (const input of all) {
    it(`${input.name}: ${input.kind} through ${input.doors.join(', ')}`, async () => {
      // The doors side by side: each has its own copy of the input, and none may disturb another.
      const results = await Promise.all(input.doors.map(async (door) => ({ door, got: await through(door, input) })));
      for (const { door, got } of results) {
        assert.equal(got.kind, input.kind, `${door}: ${got.message}`);
        assert.match(got.message, input.message, door);
        if (got.exit !== undefined) assert.equal(got.exit, door === 'build' ? 1 : EXIT_BY_KIND[input.kind], `${door} exit code`);
      }
      // Nothing else changed: the same daemon answers, nothing is applied, nothing waits in incoming/.
      assert.equal(daemon.exitCode, null, `spliced exited:\n${log}`);
      assert.equal(daemon.pid, pid);
      const list = await splicectl(['list', '--json']);
      assert.equal(list.code, 0, list.stderr);
      assert.deepEqual((JSON.parse(list.stdout) as { state: string }[]).filter((p) => p.state === 'applied'), []);
      assert.deepEqual(fs.readdirSync(incoming()), []);
    });
  }

  it('the quarantine holds exactly the dropped files, each with its reason', () => {
    const dropped = all.filter((c) => c.doors.includes('drop')).map((c) => c.file);
    const expected = dropped.flatMap((f) => [f, `${f}.reason.json`]).sort();
    assert.deepEqual(fs.readdirSync(quarantine()).sort(), expected);
  });
});
