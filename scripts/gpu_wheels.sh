#!/usr/bin/env bash
# Download, here, the wheels the lent GPU machine lacks to run `repronotes record --profile gpu`.
#
#   bash scripts/gpu_wheels.sh            # fills .whl/ (git-ignored), prints sizes, writes .whl/COMMIT
#
# The GPU image (Python 3.12, torch 2.11+cu130, transformers 5.17, accelerate, numpy, pandas, pyarrow,
# psutil, pyyaml, click, jinja2, requests, tqdm, aiohttp, ... see the device KINDS.md list) has no
# Jupyter stack, no papermill, no trl/datasets and no bitsandbytes, and it cannot reach a package index.
# So everything below travels as cp312 manylinux x86_64 wheels, `--no-deps`, versions from
# requirements.lock. transformers and peft are carried at the lock's versions (5.24.0 / 0.21.2) so the GPU
# runs the same library code as the CPU records (trl 1.16 takes another loss-scaling path below
# transformers 5.19); GPU_WHEELS_LOCK_HF=0 skips them and uses the image's transformers 5.17.
# bitsandbytes is repacked without the CUDA 11/12, ROCm and XPU libraries (torch there is cu130), which
# takes it from 41 MiB to about 3 MiB; the budget for everything that travels is 64 MiB.
set -euo pipefail

cd "$(dirname "$0")/.."
DEST=${WHEEL_DIR:-.whl}
PY=${PYTHON:-}
if [[ -z "$PY" ]]; then
  if [[ -x .venv/bin/python ]]; then PY=.venv/bin/python; else PY=python3; fi
fi
BUDGET_MIB=${GPU_WHEELS_BUDGET_MIB:-52}
BNB_KEEP=${GPU_WHEELS_BNB_CUDA:-130}   # CUDA builds of bitsandbytes to keep (torch there: 2.11+cu130)

WHEELS=(
  # notebook execution: papermill -> nbclient -> jupyter_client -> ipykernel (the `python3` kernel)
  papermill==2.7.0 entrypoints==0.4.2 tenacity==9.2.1
  nbformat==5.11.1 fastjsonschema==2.22.3 jsonschema==4.26.0 jsonschema-specifications==2025.9.1
  referencing==0.37.0 rpds-py==2026.9.1
  nbclient==0.11.0 jupyter_client==8.10.0 jupyter_core==5.9.1 platformdirs==4.14.8 traitlets==5.16.1
  pyzmq==27.3.0 tornado==6.6.1
  ipykernel==7.4.0 comm==0.2.3 nest-asyncio2==1.7.4 matplotlib-inline==0.2.2
  # debugpy and jedi are optional at import time (ipykernel and IPython guard them), but they are
  # declared requirements; 9 MiB together, kept so the installed set is consistent.
  debugpy==1.8.22
  ipython==9.18.1 ipython_pygments_lexers==1.1.1 jedi==0.20.1 parso==0.8.7 prompt_toolkit==3.0.53
  wcwidth==0.9.4 stack-data==0.6.3 executing==2.3.0 asttokens==3.0.2 pure_eval==0.2.4
  pexpect==4.9.0 ptyprocess==0.7.0
  # the lab: trl (GRPO), datasets (its prompt datasets) and their closure, bitsandbytes (QDoRA 4-bit)
  trl==1.16.0 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19
  fsspec==2026.9.0   # datasets needs fsspec<=2026.9.0; the image's may be newer
  bitsandbytes==0.50.2
)
if [[ "${GPU_WHEELS_LOCK_HF:-1}" == 1 ]]; then
  WHEELS+=(transformers==5.24.0 peft==0.21.2)
fi

PLATFORM=(--only-binary=:all: --python-version 3.12 --implementation cp)
for n in 1 2014 2_5 2_17 2_24 2_26 2_27 2_28 2_31 2_34 2_35; do
  case $n in 1|2014) PLATFORM+=(--platform "manylinux${n}_x86_64") ;; *) PLATFORM+=(--platform "manylinux_${n}_x86_64") ;; esac
done

mkdir -p "$DEST"
# One version of each: a stale wheel of another version stops the whole install there.
wanted_names=$(printf '%s\n' "${WHEELS[@]}" | sed 's/==.*//' | tr 'A-Z-' 'a-z_' | sort -u)
for f in "$DEST"/*.whl; do
  [[ -e "$f" ]] || continue
  base=$(basename "$f"); name=$(echo "${base%%-*}" | tr 'A-Z-' 'a-z_'); version=$(echo "$base" | cut -d- -f2)
  keep=0
  for spec in "${WHEELS[@]}"; do
    sname=$(echo "${spec%%==*}" | tr 'A-Z-' 'a-z_'); sver=${spec##*==}
    [[ "$sname" == "$name" && "$sver" == "$version" ]] && keep=1
  done
  if [[ $keep == 0 ]]; then echo "removing stale $base"; rm -f "$f"; fi
done

missing=()
for spec in "${WHEELS[@]}"; do
  name=$(echo "${spec%%==*}" | tr 'A-Z-' 'a-z_'); version=${spec##*==}
  compgen -G "$DEST/${name}-${version}-*.whl" >/dev/null || compgen -G "$DEST/${spec%%==*}-${version}-*.whl" >/dev/null \
    || missing+=("$spec")
done
if ((${#missing[@]})); then
  echo "downloading ${#missing[@]} wheel(s): ${missing[*]}"
  "$PY" -m pip download -q --no-deps "${PLATFORM[@]}" -d "$DEST" "${missing[@]}" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
fi

# Slim bitsandbytes: keep the CPU library and the CUDA builds in $BNB_KEEP; rewrite RECORD to match.
"$PY" - "$DEST" "$BNB_KEEP" <<'PY'
import re, sys, zipfile
from pathlib import Path
dest, keep = Path(sys.argv[1]), {f"libbitsandbytes_cuda{v}.so" for v in sys.argv[2].split()} | {"libbitsandbytes_cpu.so"}
for wheel in dest.glob("bitsandbytes-*.whl"):
    with zipfile.ZipFile(wheel) as zin:
        names = zin.namelist()
        drop = {n for n in names if re.fullmatch(r"bitsandbytes/libbitsandbytes_\w+\.so", n) and n.split("/")[-1] not in keep}
        if not drop:
            continue
        tmp = wheel.with_suffix(".tmp")
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zout:
            for info in zin.infolist():
                if info.filename in drop:
                    continue
                data = zin.read(info.filename)
                if info.filename.endswith(".dist-info/RECORD"):
                    lines = data.decode().splitlines(keepends=True)
                    data = "".join(l for l in lines if l.split(",", 1)[0] not in drop).encode()
                zout.writestr(info, data)
    tmp.replace(wheel)
    print(f"slimmed {wheel.name}: dropped {len(drop)} libraries, kept {sorted(keep)}")
PY

# Each declared requirement of a carried wheel: carried too, or assumed in the image (listed for review).
"$PY" - "$DEST" <<'PY'
import re, sys, zipfile
from pathlib import Path
wheels = sorted(Path(sys.argv[1]).glob("*.whl"))
carried = {re.sub(r"[-_.]+", "-", w.name.split("-")[0]).lower() for w in wheels}
assumed = {}
for w in wheels:
    with zipfile.ZipFile(w) as z:
        meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        for line in z.read(meta).decode().splitlines():
            if not line.startswith("Requires-Dist:") or "extra ==" in line:
                continue
            req = line.split(":", 1)[1].strip()
            if re.search(r"sys_platform\s*==\s*.win32|platform_system\s*==\s*.Darwin|implementation_name\s*==\s*.pypy|python_version\s*<\s*.3\.12", req):
                continue
            name = re.sub(r"[-_.]+", "-", re.split(r"[\s<>=!~;\[(]", req, maxsplit=1)[0]).lower()
            if name not in carried:
                assumed.setdefault(name, set()).add(f"{req}  <- {w.name.split('-')[0]}")
print("requirements left to the GPU image:")
for name in sorted(assumed):
    print(f"  {name}: " + "; ".join(sorted(assumed[name])))
PY

echo
echo "wheels in $DEST:"
total=0
for f in "$DEST"/*.whl; do
  size=$(stat -c %s "$f"); total=$((total + size))
  awk -v s="$size" -v n="$(basename "$f")" 'BEGIN { printf "  %8.2f MiB  %s\n", s / 1048576, n }'
done
count=$(ls "$DEST"/*.whl | wc -l)
awk -v c="$count" -v s="$total" -v b="$BUDGET_MIB" 'BEGIN { printf "total: %d wheels, %.2f MiB (budget %s MiB)\n", c, s / 1048576, b }'
if ((total > BUDGET_MIB * 1048576)); then
  echo "error: over the ${BUDGET_MIB} MiB budget" >&2
  exit 1
fi

# The commit the GPU records will name: the copy that travels has no .git.
if commit=$(git rev-parse HEAD 2>/dev/null); then
  echo "$commit" >"$DEST/COMMIT"
  if [[ -n "$(git status --porcelain 2>/dev/null)" ]]; then
    echo dirty >>"$DEST/COMMIT"
    echo "note: the git tree has uncommitted changes (stamped 'dirty'); commit first for a clean record"
  fi
  echo "wrote $DEST/COMMIT: $(tr '\n' ' ' <"$DEST/COMMIT")"
fi
