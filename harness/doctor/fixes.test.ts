// The fix texts name U-Boot's location exactly as a bring-up engineer has to type it.
import test from 'ava';
import { parseFwEnvConfig } from '../../bootenv/fw-env-config.js';
import { envLocationFix, fwEnvLines } from './fixes.js';

const env = { offsets: [0x800000, 0x1000000] as [number, number], size: 0x4000, device: '/dev/mmcblk0' };

test('fw_env.config lines for the board file env', (t) => {
  t.deepEqual(fwEnvLines(env), ['/dev/mmcblk0 0x800000 0x4000', '/dev/mmcblk0 0x1000000 0x4000']);
});

test('a wrong device and a missing second copy are both named', (t) => {
  const fix = envLocationFix(env, parseFwEnvConfig('/dev/mmcblk1 0x800000 0x4000\n'));
  t.regex(fix, /\(device, number of copies\)/);
  t.regex(fix, /set \/etc\/fw_env.config to\n {4}\/dev\/mmcblk0 0x800000 0x4000\n {4}\/dev\/mmcblk0 0x1000000 0x4000$/);
  t.notRegex(fix, /CONFIG_ENV_OFFSET/, 'no Kconfig advice from a single-copy config');
});

test('a wrong size is named, and no fw_env.config at all gives the whole file', (t) => {
  t.regex(envLocationFix(env, parseFwEnvConfig('/dev/mmcblk0 0x800000 0x2000\n/dev/mmcblk0 0x1000000 0x2000\n')), /\(size\)/);
  t.regex(envLocationFix(env, undefined), /Linux has no \/etc\/fw_env.config: set \/etc\/fw_env.config to/);
});
