#!/usr/bin/env bash
# Several seeds at once on a GPU machine lent by the workplace's `device` tool
# (JAX backend: that machine has JAX but no TensorFlow). Each seed is one
# `reproduce` process writing under $W; $OUT/r.tgz is refreshed every 45 s, so
# a command stopped at its time limit still returns the results that landed.
#
#   bash benchmarks/device_seeds.sh DATASET SECONDS "SEEDS:METHODS" [...]   (SECONDS: when all stop)
#   e.g. bash benchmarks/device_seeds.sh mnist 500 "0 1 2:ae_kmeans dec" "3 4:ae_kmeans vade"
#
# Prepared here, before the call: the MNIST .gz files in .devdata/ and the
# wheels of keras, namex and optree for Python 3.12 in .whl/ (both ignored by
# git and named in `carry`); the command installs the wheels into /tmp/site and
# puts it first on PYTHONPATH. $EXTRA adds arguments to every `reproduce`.
#
# First try (session 22, one H200, 16 cores): ten processes at once, each with
# the libraries' default thread pools, kept the load average near 150 and the
# GPU idle for six of eight minutes, and no seed finished its pretraining. So
# this runs at most $NPROC processes (default 4) with one CPU thread each for
# XLA, OpenMP and BLAS, without XLA's GEMM autotuning, and logs progress
# every 10 epochs (no --quiet). Not yet run on a GPU in this form.
set -uo pipefail
DATASET=$1; LIMIT=$2; shift 2
NPROC=${NPROC:-4}
export KERAS_BACKEND=jax JAX_DEFAULT_MATMUL_PRECISION=highest XLA_PYTHON_CLIENT_PREALLOCATE=false
export XLA_FLAGS="--xla_gpu_autotune_level=0 --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONUNBUFFERED=1
W=${W:-/tmp/w}; OUT=${OUT:-$W/out}; mkdir -p "$W" "$OUT"
python3 -c "import jax, keras, sklearn, deepcluster_keras; print(jax.devices(), jax.__version__, keras.__version__, sklearn.__version__)" || exit 3
date
pack() { (cd "$W" && tar czf "$OUT/r.tgz.tmp" out_* log_* 2>/dev/null; mv "$OUT/r.tgz.tmp" "$OUT/r.tgz"); }
(while true; do
   sleep 45; pack; date +%T; uptime
   nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader 2>/dev/null
   for log in "$W"/log_*; do echo "$log: $(tail -n 1 "$log" | cut -c1-100)"; done
 done) &
MONITOR=$!
END=$(( $(date +%s) + LIMIT ))  # every process stops by then
PIDS=()
running() { local n=0 p; for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && n=$((n + 1)); done; echo $n; }
for group in "$@"; do
  methods=${group#*:}
  for s in ${group%%:*}; do
    while [ "$(running)" -ge "$NPROC" ]; do sleep 5; done
    left=$(( END - $(date +%s) )); [ "$left" -gt 60 ] || { echo "no time left for seed $s"; continue; }
    timeout "$left" python3 -m deepcluster_keras reproduce --dataset "$DATASET" --data-dir .devdata \
      --seeds "$s" --methods $methods --out "$W/out_$s" --work-dir "$W/work_$s" ${EXTRA:-} \
      > "$W/log_$s" 2>&1 &
    PIDS+=($!)
  done
done
wait "${PIDS[@]}"
kill "$MONITOR"; pack; date
