import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { loadConfig } from '../../../src/daemon/config';
import { isSplicedError } from '../../../src/errors';

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spliced-config-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function configFile(text: string): string {
  const file = path.join(tempDir(), 'spliced.conf');
  fs.writeFileSync(file, text);
  return file;
}

/** A config path that surely does not exist. */
function missingFile(): string {
  return path.join(tempDir(), 'missing.conf');
}

describe('configuration', () => {
  it('works without a file, with the documented defaults', () => {
    const config = loadConfig({ SPLICED_CONFIG: missingFile() });
    assert.equal(config.file, null);
    assert.equal(config.stateDir, '/var/lib/spliced');
    assert.equal(config.transitionTimeoutSeconds, 60);
    assert.equal(config.crashGuardSeconds, 120);
    assert.equal(config.disableFile, '/etc/spliced/disable');
    assert.equal(config.bus, 'system');
    assert.equal(config.maxInputBytes, 64 * 1024 * 1024);
    assert.deepEqual(config.warnings, []);
  });

  it('takes max_input_size in bytes or with K, M, G, and refuses anything else', () => {
    assert.equal(loadConfig({ SPLICED_CONFIG: configFile('max_input_size = 16M\n') }).maxInputBytes, 16 * 1024 * 1024);
    assert.equal(loadConfig({ SPLICED_CONFIG: missingFile(), SPLICED_MAX_INPUT_SIZE: '4096' }).maxInputBytes, 4096);
    for (const bad of ['0', '64 MB', '-1', '1.5M']) {
      assert.throws(
        () => loadConfig({ SPLICED_CONFIG: missingFile(), SPLICED_MAX_INPUT_SIZE: bad }),
        (err) => isSplicedError(err, 'InvalidArgument') && /max_input_size: .* is not a positive size/.test(err.message),
        bad,
      );
    }
  });

  it('reads key = value lines with comments, and environment variables win over the file', () => {
    const file = configFile(
      ['# spliced', 'state_dir = /srv/spliced   # moved', '', 'transition_timeout=15', 'crash_guard_window = 30', 'log_level = debug'].join(
        '\n',
      ),
    );
    const config = loadConfig({ SPLICED_CONFIG: file, SPLICED_TRANSITION_TIMEOUT: '5', SPLICED_BUS: 'none' });
    assert.equal(config.file, file);
    assert.equal(config.stateDir, '/srv/spliced');
    assert.equal(config.transitionTimeoutSeconds, 5);
    assert.equal(config.crashGuardSeconds, 30);
    assert.equal(config.logLevel, 'debug');
    assert.equal(config.bus, 'none');
  });

  it('reports unknown keys as warnings and keeps going', () => {
    const config = loadConfig({ SPLICED_CONFIG: configFile('colour = blue\n') });
    assert.deepEqual(config.warnings, [`${config.file} line 1: unknown setting "colour" ignored`]);
  });

  it('refuses bad values, naming the file, line and key', () => {
    const file = configFile('state_dir = /ok\ntransition_timeout = soon\n');
    assert.throws(
      () => loadConfig({ SPLICED_CONFIG: file }),
      (err) => isSplicedError(err, 'InvalidArgument') && err.message.includes(`${file} line 2: transition_timeout`),
    );
    assert.throws(() => loadConfig({ SPLICED_CONFIG: configFile('state_dir\n') }), /expected "key = value"/);
    assert.throws(() => loadConfig({ SPLICED_CONFIG: missingFile(), SPLICED_STATE_DIR: 'relative' }), /SPLICED_STATE_DIR/);
  });

  it('takes a signing key and certificate together, as absolute paths; none by default', () => {
    assert.equal(loadConfig({ SPLICED_CONFIG: missingFile() }).signingKey, null);
    const config = loadConfig({ SPLICED_CONFIG: configFile('signing_key = /etc/spliced/mok.key\nsigning_certificate = /etc/spliced/mok.der\n') });
    assert.deepEqual([config.signingKey, config.signingCertificate], ['/etc/spliced/mok.key', '/etc/spliced/mok.der']);
    assert.throws(
      () => loadConfig({ SPLICED_CONFIG: configFile('signing_key = /etc/spliced/mok.key\n') }),
      (err) => isSplicedError(err, 'InvalidArgument') && /set both or neither/.test(err.message),
    );
    assert.throws(() => loadConfig({ SPLICED_CONFIG: missingFile(), SPLICED_SIGNING_KEY: 'mok.key' }), /SPLICED_SIGNING_KEY/);
  });

  it('bounds the transition timeout to 1 s .. 10 min', () => {
    for (const value of ['0.5', '601', '4294967']) {
      assert.throws(
        () => loadConfig({ SPLICED_CONFIG: missingFile(), SPLICED_TRANSITION_TIMEOUT: value }),
        new RegExp(`transition_timeout: "${value.replace('.', '\\.')}" is not between 1 and 600 seconds`),
      );
    }
    assert.equal(loadConfig({ SPLICED_CONFIG: missingFile(), SPLICED_TRANSITION_TIMEOUT: '600' }).transitionTimeoutSeconds, 600);
  });

  it('has per-caller and build limits with documented defaults', () => {
    const defaults = loadConfig({ SPLICED_CONFIG: missingFile() });
    assert.equal(defaults.maxQueuedJobsPerCaller, 4);
    assert.equal(defaults.maxConcurrentBuilds, 1);
    const set = loadConfig({ SPLICED_CONFIG: configFile('max_queued_jobs_per_caller = 2\nmax_concurrent_builds = 3\n') });
    assert.equal(set.maxQueuedJobsPerCaller, 2);
    assert.equal(set.maxConcurrentBuilds, 3);
    assert.throws(() => loadConfig({ SPLICED_CONFIG: configFile('max_concurrent_builds = 0\n') }), /not a whole number from 1/);
    assert.equal(defaults.maxHeaderUnits, 200);
    assert.equal(loadConfig({ SPLICED_CONFIG: configFile('max_header_units = 5000\n') }).maxHeaderUnits, 5000);
    assert.equal(loadConfig({ SPLICED_CONFIG: missingFile(), SPLICED_MAX_HEADER_UNITS: '7' }).maxHeaderUnits, 7);
    for (const bad of ['0', '100001', '1e3', '-4']) {
      assert.throws(() => loadConfig({ SPLICED_CONFIG: configFile(`max_header_units = ${bad}\n`) }), /max_header_units.*not a whole number from 1 to 100000/);
    }
  });
  it('reads the feed settings, notify by default, and refuses bad ones naming the key', () => {
    const defaults = loadConfig({ SPLICED_CONFIG: missingFile() });
    assert.equal(defaults.feedPolicy, 'notify');
    assert.equal(defaults.feedPinVersion, null);
    assert.equal(defaults.feedDelaySeconds, 0);
    assert.equal(defaults.feedApplyWindow, null);
    assert.equal(defaults.clearRebootRequired, true);
    assert.equal(defaults.rebootRequiredFile, '/run/reboot-required');
    assert.equal(loadConfig({ SPLICED_CONFIG: configFile('clear_reboot_required = no\n') }).clearRebootRequired, false);
    const file = configFile('feed_policy = auto\nfeed_pin_version = 6.1.192-2\nfeed_delay = 86400\nfeed_apply_window = 22:00-04:00\n');
    const config = loadConfig({ SPLICED_CONFIG: file });
    assert.equal(config.feedPolicy, 'auto');
    assert.equal(config.feedPinVersion, '6.1.192-2');
    assert.equal(config.feedDelaySeconds, 86400);
    assert.deepEqual(config.feedApplyWindow, { start: 22 * 60, end: 4 * 60, text: '22:00-04:00' });
    for (const [key, bad, message] of [
      ['feed_policy', 'yes', /feed_policy: "yes" is not auto, build, notify, off/],
      ['feed_pin_version', 'latest', /feed_pin_version: "latest" is not a Debian package version/],
      ['feed_delay', '-5', /feed_delay: "-5" is not a positive number of seconds/],
      ['feed_delay', '40000000', /feed_delay: "40000000" is not between 0 and 31536000 seconds/],
      ['feed_apply_window', '25:00-01:00', /feed_apply_window: "25:00-01:00" is not a daily window/],
      ['clear_reboot_required', 'true', /clear_reboot_required: "true" is not yes or no/],
      ['reboot_required_file', 'run/reboot-required', /reboot_required_file: "run\/reboot-required" is not an absolute path/],
    ] as const) {
      assert.throws(
        () => loadConfig({ SPLICED_CONFIG: configFile(`${key} = ${bad}\n`) }),
        (err) => isSplicedError(err, 'InvalidArgument') && message.test(err.message),
        key,
      );
    }
  });
});
