// Debian's chromium driven by playwright-core, as every browser test here launches it: the test
// tool's own browser download does not work on these machines, and nothing may reach the network.
export const CHROMIUM = '/usr/bin/chromium';

export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export const CHROMIUM_MISSING = `${CHROMIUM} is missing: ci/setup.sh installs Debian's chromium`;
