#!/usr/bin/env bash
# The main job (`npm run lab`): sets the machine up, builds the device client and the board's
# images, then runs the scenario suite on the default QEMU board (qemu-aarch64) against the
# bundled server. Ends with the report path and "N passed, N failed"; exits non-zero on a failure.
# Extra arguments go to `flipside-lab run` (e.g. --board host-sim, --seed 42, happy-path).
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/setup.sh
npm run -s build:device
args=("$@")
case " ${args[*]-} " in *" --board "*) ;; *) args=(--board qemu-aarch64 "${args[@]}") ;; esac
exec node bin/flipside-lab.js run "${args[@]}"
