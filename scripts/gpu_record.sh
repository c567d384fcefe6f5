#!/usr/bin/env bash
# Record (or re-verify) every experiment of one profile on a fresh GPU machine, in one call.
#
#   bash scripts/gpu_record.sh [profile] [record|verify] [experiment ...]
#
#   profile     default gpu
#   record      (default) `repronotes record <exp> --profile <profile> --allow-dirty`, upstream first
#   verify      `repronotes run <exp> --profile <profile>`: rerun, compare with the committed record, drift report
#   experiment  only these (default: every experiment declaring the profile, in `needs` order)
#
# Run from anywhere; it works in the repo root it lives in. The machine it is written for has python3
# with torch but no Jupyter stack and no network: the wheels in .whl/ (scripts/gpu_wheels.sh) are
# installed with --target into $GPU_SITE and put on PYTHONPATH together with src/, so the CLI runs as
# `python3 -m repronotes.cli` and the notebook kernel (a child of a child) inherits both.
#
# Results: if $OUT is set, $OUT/gpu_record.log (written as it goes, so it survives a kill) and
# $OUT/gpu_results.tgz, re-packed after every experiment. Unpack it in the repo root:
#   record: experiments/<exp>/records/<profile>.json and experiments/<exp>/runs/<profile>.ipynb of each
#           experiment recorded here, plus .cache/gpu_record/ (log, drift report, environment, notebooks)
#   verify: .cache/gpu_record/ only (the committed records are left alone)
# Exit status: 0 when every experiment succeeded (and, in verify, reproduced); 1 otherwise; 2 bad usage;
# 3 when the environment is not usable (the notebook stack does not import or the kernel does not start).
#
# Environment knobs:
#   PYTHON=python3               the interpreter (tests here use .venv/bin/python)
#   GPU_SKIP_WHEELS=1            do not install .whl/ (the interpreter already has everything)
#   GPU_SITE=/tmp/site           where the wheels go
#   GPU_RECORD_BUDGET_S=0        seconds for the whole script (0: none); an experiment still running
#                                then is interrupted (SIGINT: records untouched) and the rest skipped,
#                                so the packing happens inside the device's time limit
#   GPU_PREFLIGHT_LAB=0          do not import datasets/trl/peft/bitsandbytes in the preflight
#   REPRONOTES_GIT_COMMIT        the commit the records name; default: git there, else .whl/COMMIT
set -uo pipefail

cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
PROFILE=${1:-gpu}
MODE=${2:-record}
shift $(($# < 2 ? $# : 2))
ONLY=("$@")
case "$MODE" in record | verify) ;; *)
  echo "usage: bash scripts/gpu_record.sh [profile] [record|verify] [experiment ...]" >&2
  exit 2
  ;;
esac
PY=${PYTHON:-python3}
PY=$(command -v "$PY" || echo "$PY")
# absolute, so the kernelspec works from any cwd; not realpath: a venv's python is a symlink to keep
if [[ "$PY" == */* && "$PY" != /* ]]; then PY="$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY")"; fi
SITE=${GPU_SITE:-/tmp/site}
BUDGET=${GPU_RECORD_BUDGET_S:-0}
WORK=$ROOT/.cache/gpu_record # git-ignored (.cache/); packed into the tgz
START=$(date +%s)

rm -rf "$WORK"
mkdir -p "$WORK/drift" "$WORK/notebooks"
if [[ -n "${OUT:-}" ]]; then
  mkdir -p "$OUT"
  LOG=$OUT/gpu_record.log
else
  LOG=$WORK/gpu_record.log
fi
: >"$LOG"
exec 3>&1 4>&2
exec > >(tee -a "$LOG") 2>&1
TEE_PID=$!

say() { printf '[%s +%4ss] %s\n' "$(date -u +%H:%M:%S)" "$(($(date +%s) - START))" "$*"; }

RECORDED=() # experiments recorded in this session (their records travel back)
pack() {
  [[ -n "${OUT:-}" ]] || return 0
  # executed (or partial) notebooks from this session's runs, for inspection
  for nb in "$ROOT"/.cache/repronotes/runs/*/"$PROFILE"/*/executed.ipynb; do
    [[ -f "$nb" ]] || continue
    local exp # runs/<experiment>/<profile>/<input hash>/executed.ipynb
    exp=$(basename "$(dirname "$(dirname "$(dirname "$nb")")")")
    if (($(stat -c %s "$nb") < 8 * 1048576)); then cp -f "$nb" "$WORK/notebooks/$exp.ipynb"; fi
  done
  cp -f "$LOG" "$WORK/gpu_record.log" 2>/dev/null
  local paths=(.cache/gpu_record)
  if [[ "$MODE" == record ]]; then
    for exp in "${RECORDED[@]}"; do
      for f in "experiments/$exp/records/$PROFILE.json" "experiments/$exp/runs/$PROFILE.ipynb"; do
        [[ -f "$f" ]] && paths+=("$f")
      done
    done
  fi
  tar czf "$OUT/gpu_results.tgz.tmp" --exclude=.cache/gpu_record/jupyter -C "$ROOT" "${paths[@]}" && mv -f "$OUT/gpu_results.tgz.tmp" "$OUT/gpu_results.tgz"
}

finish() { # pack, let tee write the last lines, exit with $1
  pack
  exec 1>&3 2>&4
  wait "$TEE_PID" 2>/dev/null
  exit "$1"
}

say "gpu_record: profile=$PROFILE mode=$MODE root=$ROOT python=$PY"

# --- 1. the carried wheels, PYTHONPATH, offline switches, the git commit ---------------------------
if [[ "${GPU_SKIP_WHEELS:-0}" != 1 ]] && compgen -G ".whl/*.whl" >/dev/null; then
  say "installing $(ls .whl/*.whl | wc -l) wheels into $SITE"
  pip_install=("$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE")
  if ! "${pip_install[@]}" .whl/*.whl; then
    # One wheel pip refuses (a platform tag, say) must not cost the rest: install one by one, and let
    # the preflight below decide whether what is missing matters.
    say "WARNING: installing the wheels together failed; leaving out those this interpreter does not support"
    mapfile -t supported < <("$PY" - .whl/*.whl <<'PY'
import sys
from packaging.tags import sys_tags
from packaging.utils import parse_wheel_filename
here = set(sys_tags())
for path in sys.argv[1:]:
    if here & set(parse_wheel_filename(path.rsplit("/", 1)[-1])[3]):
        print(path)
    else:
        print(f"WARNING: {path} is not a supported wheel here: left out", file=sys.stderr)
PY
    )
    if ! "${pip_install[@]}" "${supported[@]}"; then
      say "WARNING: still failing; installing them one by one"
      for wheel in "${supported[@]}"; do
        "${pip_install[@]}" "$wheel" || say "WARNING: could not install $(basename "$wheel")"
      done
    fi
  fi
  export PYTHONPATH=$SITE:$ROOT/src${PYTHONPATH:+:$PYTHONPATH}
else
  say "not installing wheels (GPU_SKIP_WHEELS=${GPU_SKIP_WHEELS:-0}; .whl/*.whl: $(compgen -G '.whl/*.whl' | wc -l))"
  export PYTHONPATH=$ROOT/src${PYTHONPATH:+:$PYTHONPATH}
fi
# repronotes itself is not pip-installed there: give importlib.metadata its name and version, so the
# fingerprint's package list reads as it does in the .venv (repronotes 0.1.0) instead of null.
if ! "$PY" -c 'import importlib.metadata as m; m.version("repronotes")' 2>/dev/null; then
  version=$(sed -n 's/^version *= *"\(.*\)"/\1/p' pyproject.toml | head -1)
  mkdir -p "$SITE/repronotes-$version.dist-info"
  printf 'Metadata-Version: 2.1\nName: repronotes\nVersion: %s\n' "$version" >"$SITE/repronotes-$version.dist-info/METADATA"
  case ":$PYTHONPATH:" in *":$SITE:"*) ;; *) export PYTHONPATH=$SITE:$PYTHONPATH ;; esac
fi
# The `python3` kernel: an explicit kernelspec first on JUPYTER_PATH, pinned to this interpreter
# (a stale system-wide python3 spec could name another python); it inherits PYTHONPATH from us.
export JUPYTER_PATH=$WORK/jupyter${JUPYTER_PATH:+:$JUPYTER_PATH}
export JUPYTER_PLATFORM_DIRS=1
mkdir -p "$WORK/jupyter/kernels/python3"
cat >"$WORK/jupyter/kernels/python3/kernel.json" <<EOF
{"argv": ["$PY", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
 "display_name": "Python 3 (ipykernel)", "language": "python", "metadata": {"debugger": false}}
EOF
# Nothing outside the machine can be reached: keep the HF libraries from trying (telemetry, hub).
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1
export PYTHONUNBUFFERED=1 MPLBACKEND=${MPLBACKEND:-Agg}
if [[ -z "${REPRONOTES_GIT_COMMIT:-}" ]] && ! git -C "$ROOT" rev-parse HEAD >/dev/null 2>&1; then
  if [[ -s .whl/COMMIT ]]; then
    REPRONOTES_GIT_COMMIT=$(head -1 .whl/COMMIT)
    export REPRONOTES_GIT_COMMIT
    # line 2 "dirty": the tree had uncommitted changes when stamped (read by the engine once it knows
    # REPRONOTES_GIT_DIRTY; until then records say git_dirty false)
    if [[ "$(sed -n 2p .whl/COMMIT)" == dirty ]]; then export REPRONOTES_GIT_DIRTY=1; fi
  else
    say "WARNING: no .git, no REPRONOTES_GIT_COMMIT and no .whl/COMMIT: records will name no commit"
  fi
fi
say "PYTHONPATH=$PYTHONPATH  REPRONOTES_GIT_COMMIT=${REPRONOTES_GIT_COMMIT:-<from git>} REPRONOTES_GIT_DIRTY=${REPRONOTES_GIT_DIRTY:-}"

# --- 2. preflight: the stack imports, requirements hold, the kernel is this python with our path ---
"$PY" - "$SITE" <<'PY' 2>&1 | tee "$WORK/preflight.txt"
import importlib, importlib.metadata as md, json, os, sys
from pathlib import Path
print(f"python {sys.version.split()[0]} at {sys.executable}")
fatal = []
for mod in ("repronotes.cli", "papermill", "nbformat", "nbclient", "jupyter_client", "ipykernel", "IPython", "zmq"):
    try:
        importlib.import_module(mod)
    except Exception as exc:  # noqa: BLE001
        fatal.append(f"{mod}: {type(exc).__name__}: {exc}")
versions = {}
for name in ("torch", "transformers", "peft", "trl", "datasets", "bitsandbytes", "accelerate", "tokenizers",
             "safetensors", "huggingface_hub", "numpy", "pyarrow", "fsspec", "pandas", "matplotlib",
             "papermill", "nbclient", "ipykernel", "jupyter_client", "repronotes"):
    try:
        versions[name] = md.version(name)
    except md.PackageNotFoundError:
        versions[name] = None
print("versions:", json.dumps(versions))
lab = () if os.environ.get("GPU_PREFLIGHT_LAB") == "0" else ("datasets", "trl", "peft", "bitsandbytes")
for mod in lab:  # the lab's stack: a warning here (the run says more); also warms the bytecode cache
    try:
        importlib.import_module(mod)
    except Exception as exc:  # noqa: BLE001
        print(f"WARNING: import {mod} failed: {type(exc).__name__}: {exc}")
# Every declared requirement of a carried distribution holds in this environment (a targeted pip check).
try:
    from packaging.requirements import Requirement
    site = Path(sys.argv[1])
    bad = []
    for dist_info in sorted(site.glob("*.dist-info")) if site.is_dir() else []:
        dist = md.PathDistribution(dist_info)
        for raw in dist.requires or []:
            req = Requirement(raw)
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            try:
                have = md.version(req.name)
            except md.PackageNotFoundError:
                bad.append(f"{dist.metadata['Name']} needs {req}: not installed")
                continue
            if req.specifier and not req.specifier.contains(have, prereleases=True):
                bad.append(f"{dist.metadata['Name']} needs {req}: have {have}")
    print("requirements of the carried wheels:", "all met" if not bad else "")
    for line in bad:
        print("  WARNING:", line)
except Exception as exc:  # noqa: BLE001
    print(f"WARNING: requirement check skipped: {exc}")
# The kernel papermill asks for ("python3") and what it really runs.
try:
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import start_new_kernel
    spec = KernelSpecManager().get_kernel_spec("python3")
    print(f"kernelspec python3: {spec.argv} from {spec.resource_dir}")
    km, kc = start_new_kernel(kernel_name="python3")
    try:
        code = ("import sys, os, repronotes, importlib.util as u; print(sys.executable, repronotes.__file__, "
                "bool(u.find_spec('papermill')), os.environ.get('PYTHONPATH'))")
        out = []
        reply = kc.execute_interactive(code, timeout=60, output_hook=lambda m: out.append(m["content"].get("text", "")))
        line = "".join(out).strip()
        print(f"kernel says: {line} ({reply['content']['status']})")
        exe, where = line.split()[:2]
        if os.path.realpath(exe) != os.path.realpath(sys.executable):
            fatal.append(f"kernel runs {exe}, not {sys.executable}")
        repo_src = os.path.realpath(os.path.join(os.getcwd(), "src"))
        if not os.path.realpath(where).startswith(repo_src):
            fatal.append(f"kernel imports repronotes from {where}, not from {repo_src}")
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
except Exception as exc:  # noqa: BLE001
    fatal.append(f"kernel check: {type(exc).__name__}: {exc}")
for line in fatal:
    print("FATAL:", line)
sys.exit(3 if fatal else 0)
PY
if ((${PIPESTATUS[0]} != 0)); then
  say "FATAL: the environment is not usable (see above)"
  finish 3
fi

# --- 3. the environment ---------------------------------------------------------------------------
say "environment"
"$PY" -m repronotes.cli env | tee "$WORK/env.json"
if command -v nvidia-smi >/dev/null; then nvidia-smi | tee "$WORK/nvidia-smi.txt"; else say "no nvidia-smi here"; fi

# --- 4. the experiments, upstream first -------------------------------------------------------------
if [[ "$MODE" == verify ]]; then
  # A warm machine keeps .cache/ between calls: drop this profile's cached runs so each experiment
  # really executes (once: what needs it reuses that run within this call).
  rm -rf "$ROOT"/.cache/repronotes/runs/*/"$PROFILE"
fi
# One line per experiment: name, then the experiments it needs (only those declaring the profile).
if ! PLAN=$("$PY" - "$PROFILE" "${ONLY[@]}" <<'PY'
import sys
from pathlib import Path
from repronotes.spec import discover, topological_order
profile, only = sys.argv[1], sys.argv[2:]
experiments = discover(Path.cwd())
declaring = [name for name, exp in experiments.items() if profile in exp.profiles]
unknown = [name for name in only if name not in declaring]
if unknown:
    sys.exit(f"not experiments declaring profile {profile!r}: {unknown} (those that do: {declaring})")
wanted = only or declaring
for name in topological_order(experiments, wanted):
    if name in wanted:
        print(name, *[u for u in experiments[name].needs if profile in experiments[u].profiles])
PY
); then
  say "FATAL: could not plan the experiments"
  finish 2
fi
if [[ -z "$PLAN" ]]; then
  say "no experiment declares profile $PROFILE"
  finish 1
fi
say "order: $(echo "$PLAN" | cut -d' ' -f1 | tr '\n' ' ')"
((${#ONLY[@]})) && say "note: only the named experiments run here; the engine still runs (not records) what they need"

declare -A STATUS SECONDS_TAKEN
FAILED=0
echo "$PLAN" >"$WORK/plan.txt"
while read -r exp needs; do
  broken=""
  for upstream in $needs; do
    case "${STATUS[$upstream]:-}" in ok | DRIFTED* | "") ;; *) broken+="$upstream " ;; esac
  done
  if [[ -n "$broken" ]]; then
    STATUS[$exp]="skipped (needs ${broken% } which did not succeed)"
    FAILED=1
    say "$exp: ${STATUS[$exp]}"
    continue
  fi
  limit=()
  if ((BUDGET > 0)); then
    left=$((BUDGET - ($(date +%s) - START)))
    if ((left < 30)); then
      STATUS[$exp]="not started (budget of ${BUDGET}s spent)"
      FAILED=1
      say "$exp: ${STATUS[$exp]}"
      continue
    fi
    limit=(timeout -s INT -k 30 "$left")
  fi
  if [[ "$MODE" == record ]]; then
    command=("$PY" -m repronotes.cli record "$exp" --profile "$PROFILE" --allow-dirty)
  else
    command=("$PY" -m repronotes.cli run "$exp" --profile "$PROFILE")
  fi
  say "=== $exp: ${command[*]:1}"
  t0=$(date +%s.%N)
  "${limit[@]}" "${command[@]}" </dev/null
  rc=$?
  SECONDS_TAKEN[$exp]=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  if ((rc == 0)); then
    STATUS[$exp]=ok
    [[ "$MODE" == record ]] && RECORDED+=("$exp")
  else
    case $rc in 124 | 130 | 137) STATUS[$exp]="FAILED (rc $rc: interrupted, budget)" ;; *) STATUS[$exp]="FAILED (rc $rc)" ;; esac
    FAILED=1
  fi
  if [[ "$MODE" == verify ]]; then
    for ext in md json; do
      cp -f .cache/repronotes/reports/drift_report.$ext "$WORK/drift/$exp.drift_report.$ext" 2>/dev/null
    done
    # It ran but did not reproduce (drifted, stale, broken record): what needs it can still be checked.
    if ((rc == 1)) && "$PY" -c 'import json, sys; o = json.load(open(sys.argv[1]))["outcomes"]; sys.exit(not o or any(x["status"] == "error" for x in o))' \
      "$WORK/drift/$exp.drift_report.json" 2>/dev/null; then
      STATUS[$exp]="DRIFTED (rc 1: ran, did not reproduce; see the drift report)"
    fi
  fi
  say "=== $exp: ${STATUS[$exp]} in ${SECONDS_TAKEN[$exp]} s"
  pack
done <<<"$PLAN"

# --- 5. the drift report and the summary -------------------------------------------------------------
if [[ "$MODE" == record ]]; then
  # Verify (never execute) what is recorded now: each record's notebook digest and input hash.
  say "drift report of the records as they stand (verify only, no execution)"
  "$PY" - "$PROFILE" "$WORK" $(echo "$PLAN" | cut -d' ' -f1) <<'PY'
import sys
from pathlib import Path
from repronotes import report
from repronotes.pipeline import Engine
from repronotes.project import load_settings
profile, folder, names = sys.argv[1], Path(sys.argv[2]), sys.argv[3:]
engine = Engine(load_settings(Path.cwd(), {"execute": "off"}))
outcomes = engine.check_all(names, [profile])
report.write_reports(folder, outcomes, engine.redactor)
print(report.text_table(report.summary_rows(outcomes)))
for finding in (f for o in outcomes for f in o.findings):
    print("  -", report.finding_line(finding))
PY
else
  # One report out of the per-experiment ones.
  {
    echo "# repronotes drift report: profile $PROFILE, re-verified on the GPU machine"
    for md in "$WORK"/drift/*.drift_report.md; do
      [[ -f "$md" ]] || continue
      echo
      echo "<!-- $(basename "$md") -->"
      sed '1s/^# .*//' "$md"
    done
  } >"$WORK/drift_report.md"
fi

{
  printf 'experiment\tstatus\tseconds\n'
  while read -r exp _; do printf '%s\t%s\t%s\n' "$exp" "${STATUS[$exp]:-not run}" "${SECONDS_TAKEN[$exp]:--}"; done <<<"$PLAN"
} >"$WORK/summary.tsv"
say "summary ($MODE, profile $PROFILE, $(($(date +%s) - START)) s in all):"
column -t -s $'\t' "$WORK/summary.tsv" 2>/dev/null || cat "$WORK/summary.tsv"
pack
[[ -n "${OUT:-}" ]] && say "packed $OUT/gpu_results.tgz: $(tar tzf "$OUT/gpu_results.tgz" | grep -v '/$' | wc -l) files"
finish $FAILED
