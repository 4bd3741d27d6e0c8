#!/bin/bash
# Single-node preflight for Slurm at --level quick: the node checks itself (GPUs, system)
# before it takes work, in seconds (Slurm gives a prolog or health check 60 s).
#
# As a Prolog (slurm.conf: Prolog=/etc/slurm/preflight-healthcheck.sh, with
# PrologFlags=Alloc so it runs when the job is allocated, not inside the first step's
# launch): a non-zero exit makes slurmd drain the node and requeue the job, so NO-GO exits 1.
# As the HealthCheckProgram (HealthCheckProgram=/etc/slurm/preflight-healthcheck.sh,
# HealthCheckInterval=300): Slurm ignores its exit code, so on NO-GO it drains the node
# itself, with the first failure as the reason. An admin resumes it once fixed:
#   scontrol update nodename=NODE state=resume
#
# Expectations (GPU count and model, ...) come from /etc/preflight/preflight.toml, e.g.
#   [expect]
#   gpus_per_node = 8
set -uo pipefail

PREFLIGHT=${PREFLIGHT:-/opt/preflight/bin/preflight}
CONFIG=${PREFLIGHT_CONFIG:-/etc/preflight/preflight.toml}
STATE_DIR=${PREFLIGHT_OUT:-/var/lib/preflight/healthcheck}
RUN_DIR=$STATE_DIR/last  # replaced whole by each check (--overwrite)
NODE=${SLURMD_NODENAME:-$(hostname -s)}

config=()
[[ -f $CONFIG ]] && config=(--config "$CONFIG")
mkdir -p "$STATE_DIR"
"$PREFLIGHT" run --local --level quick -k 'gpu or system' "${config[@]}" --out "$RUN_DIR" --overwrite \
    >"$STATE_DIR/summary.txt" 2>&1
status=$?
[[ $status -eq 0 ]] && exit 0

# The first gating result, one line, for `sinfo -R`.
reason=$(python3 - "$RUN_DIR/results.json" <<'PY' 2>/dev/null
import json, sys
gate = {"fail", "error", "blocked"}
results = json.load(open(sys.argv[1]))["results"]
bad = [r for r in results if r["status"] in gate]
print(f"preflight: {bad[0]['check']}: {bad[0]['message']}"[:200] if bad else "preflight: NO-GO")
PY
) || reason="preflight: could not run (exit $status)"

if [[ -n ${SLURM_JOB_ID:-} ]]; then  # Prolog: slurmd drains the node on our exit code
  echo "$reason" >&2
  exit 1
fi
scontrol update nodename="$NODE" state=drain reason="$reason"
exit 0
