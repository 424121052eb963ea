import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { intIn, loadSettings, oneOf, type SettingSpec } from '@ballast/runtime';

const spec = {
  port: {
    flag: 'http-port',
    env: 'BALLAST_HTTP_PORT',
    description: 'port',
    parse: intIn(1, 65535),
    default: 8080,
  } as SettingSpec<number>,
  level: {
    flag: 'log-level',
    env: 'BALLAST_LOG_LEVEL',
    description: 'level',
    parse: oneOf('info', 'debug'),
    default: 'info',
  } as SettingSpec<string>,
  dev: {
    flag: 'dev',
    env: 'BALLAST_DEV',
    description: 'dev',
    boolean: true,
    parse: () => true,
    default: false,
  } as SettingSpec<boolean>,
};

describe('settings', () => {
  it('takes defaults, then environment variables, then flags', () => {
    assert.deepEqual(loadSettings(spec, [], {}), { port: 8080, level: 'info', dev: false });
    assert.equal(loadSettings(spec, [], { BALLAST_HTTP_PORT: '9000' }).port, 9000);
    assert.equal(loadSettings(spec, ['--http-port', '9001'], { BALLAST_HTTP_PORT: '9000' }).port, 9001);
    assert.equal(loadSettings(spec, ['--http-port=9002'], {}).port, 9002);
    assert.equal(loadSettings(spec, ['--dev'], {}).dev, true);
    assert.equal(loadSettings(spec, [], { BALLAST_DEV: 'false' }).dev, false);
  });

  it('names the setting when a value is invalid', () => {
    assert.throws(() => loadSettings(spec, ['--http-port', '70000'], {}), {
      code: 'CONFIG_INVALID',
      message: /--http-port="70000".*1 to 65535/,
    });
    assert.throws(() => loadSettings(spec, [], { BALLAST_LOG_LEVEL: 'loud' }), /BALLAST_LOG_LEVEL="loud".*info, debug/);
  });

  it('refuses unknown flags, unknown BALLAST_ variables and stray arguments', () => {
    assert.throws(() => loadSettings(spec, ['--htp-port', '1'], {}), /unknown flag --htp-port/);
    assert.throws(
      () => loadSettings(spec, [], { BALLAST_HTTP_PROT: '1' }),
      /unknown environment variable BALLAST_HTTP_PROT/,
    );
    assert.throws(() => loadSettings(spec, ['start'], {}), /unexpected argument "start"/);
    assert.throws(() => loadSettings(spec, ['--http-port'], {}), /needs a value/);
    assert.doesNotThrow(() => loadSettings(spec, [], { BALLAST_REQUIRE_SERVICES: '1', OTHER: 'x' }));
  });
});
