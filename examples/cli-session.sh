#!/bin/sh
# A whole rescale-run session on the local platform, detached and re-attached (docs/cli.md explains each step).
# Run from the repository after `npx -y pnpm@9 install && npx -y pnpm@9 -r build`.
# Against Rescale instead: `rescale-run config set` once, then add `--profile default` to every command
# (and drop the `local start/stop` lines).
set -eu
rr() { node "$(dirname "$0")/../packages/cli/dist/bin.js" "$@"; }

rr local start                                   # background platform: jobs outlive the commands below
rr coretypes compare --cores 2 --walltime 1h     # what a 2-core, 1-hour job costs (0 locally)
job=$(rr submit --cores 2 --walltime 1h --epochs 5 --yes --detach --json | node -e \
  'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => console.log(JSON.parse(s).jobId))')
echo "submitted job $job (SYNTHETIC demo data)"
rr logs "$job" --follow                          # stream the training log until the job ends
rr status "$job"                                 # the status timeline and outcome
rr download "$job" --out "./rescale-run-$job"    # metrics.json, history, plots, predictions, artifacts.zip
rr local stop
