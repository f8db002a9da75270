// The spliced binary on the host: the real kernel backend reads the host's sysfs (no livepatch support here, no
// module is ever loaded), D-Bus is off (SPLICED_BUS=none), state and boot id come from a temp dir.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { PERMISSIVE_POLICY, startPrivateBus } from '../../support/private-bus';

const MAIN = path.resolve(__dirname, '../../../src/daemon/main.js');

function environment(): NodeJS.ProcessEnv {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spliced-daemon-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'boot_id'), 'test-boot\n');
  return {
    ...process.env,
    SPLICED_CONFIG: path.join(dir, 'none.conf'),
    SPLICED_STATE_DIR: path.join(dir, 'state'),
    SPLICED_REBOOT_REQUIRED_FILE: path.join(dir, 'reboot-required'),
    SPLICED_BOOT_ID_FILE: path.join(dir, 'boot_id'),
    SPLICED_DISABLE_FILE: path.join(dir, 'disable'),
    SPLICED_BUS: 'none',
    NOTIFY_SOCKET: '',
  };
}

async function untilOutput(child: ReturnType<typeof spawn>, pattern: RegExp): Promise<string> {
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${pattern}; got:\n${out}`)), 10_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (pattern.test(out)) {
        clearTimeout(timer);
        resolve(out);
      }
    });
  });
}

describe('spliced daemon', () => {
  it('starts, logs ready with journald prefixes, stops cleanly on SIGTERM and records the clean stop', async () => {
    const env = environment();
    const child = spawn(process.execPath, [MAIN], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    const started = await untilOutput(child, /"msg":"ready"/);
    for (const line of started.trim().split('\n')) assert.match(line, /^<[0-7]>\{/);

    const tool = spawnSync(process.execPath, [MAIN, 'tool', 'status'], { env, encoding: 'utf8' });
    assert.equal(tool.status, 1, 'the tool refuses while the daemon holds the state dir');
    assert.match(tool.stderr, new RegExp(`another spliced \\(pid ${child.pid}\\)`));

    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    const db = new Database(path.join(env.SPLICED_STATE_DIR!, 'spliced.db'), { readonly: true });
    after(() => db.close());
    const session = db.prepare('SELECT boot_id, clean_stop_at FROM sessions').get() as {
      boot_id: string;
      clean_stop_at: string | null;
    };
    assert.equal(session.boot_id, 'test-boot');
    assert.notEqual(session.clean_stop_at, null);
    assert.equal(fs.existsSync(path.join(env.SPLICED_STATE_DIR!, 'spliced.lock')), false);
  });

  it('stopped during start-up (here: waiting for a bus that never answers), exits 0 with a clean-stop record', async () => {
    const env = environment();
    const socket = path.join(path.dirname(env.SPLICED_STATE_DIR!), 'silent-bus');
    const silent = net.createServer(() => undefined).listen(socket);
    after(() => silent.close());
    const child = spawn(process.execPath, [MAIN], {
      env: { ...env, SPLICED_BUS: `unix:path=${socket}` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    const out = await untilOutput(child, /start-up done/);
    child.kill('SIGTERM');
    assert.equal(await exited, 0, out);
    const db = new Database(path.join(env.SPLICED_STATE_DIR!, 'spliced.db'), { readonly: true });
    after(() => db.close());
    const { clean } = db.prepare('SELECT clean_stop_at IS NOT NULL AS clean FROM sessions').get() as { clean: number };
    assert.equal(clean, 1);
  });

  it('when dbus-daemon goes away, stops in order (exit 1 for a restart) with a clean-stop record', async () => {
    const env = environment();
    const bus = await startPrivateBus(PERMISSIVE_POLICY);
    after(() => bus.stop());
    const { address } = bus;
    const child = spawn(process.execPath, [MAIN], { env: { ...env, SPLICED_BUS: address }, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    await untilOutput(child, /"msg":"ready"/);
    await bus.stop();
    assert.equal(await exited, 1);
    const db = new Database(path.join(env.SPLICED_STATE_DIR!, 'spliced.db'), { readonly: true });
    after(() => db.close());
    const { clean } = db.prepare('SELECT clean_stop_at IS NOT NULL AS clean FROM sessions').get() as { clean: number };
    assert.equal(clean, 1);
  });

  it('reports the kill switch in status, in tool mode', () => {
    const env = environment();
    fs.writeFileSync(env.SPLICED_DISABLE_FILE!, '');
    const tool = spawnSync(process.execPath, [MAIN, 'tool', 'status', '--json'], { env, encoding: 'utf8' });
    assert.equal(tool.status, 0, tool.stderr);
    const status = JSON.parse(tool.stdout);
    assert.equal(status.state, 'disabled');
    assert.equal(status.disabledReason, `${env.SPLICED_DISABLE_FILE} exists`);
  });

  it('answers usage errors with exit status 2', () => {
    const env = environment();
    assert.equal(spawnSync(process.execPath, [MAIN, 'frobnicate'], { env }).status, 2);
    assert.equal(spawnSync(process.execPath, [MAIN, 'tool', 'revert'], { env }).status, 2);
  });
});
