#!/usr/bin/env bash
# The measurements behind the floors of the slow tests (tests/test_reproduction.py;
# the digits line was tests/test_end_to_end.py's, whose checks that test took over
# in 2026-12): the same commands the tests run for seed 0, here for seeds 0-4, on
# one CPU thread as the tests pin them (results on a CPU depend on the number of
# threads).
#
#   bash benchmarks/calibrate.sh        (about 40 minutes on one core)
#
# Resumable, like every `reproduce`; MNIST-test needs the MNIST files
# (--data-dir or DEEPCLUSTER_DATA_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
export TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 OMP_NUM_THREADS=1
run() { python -m deepcluster_keras reproduce --seeds 0 1 2 3 4 "$@"; }

run --dataset digits --pretrain-epochs 100 --maxiter 2000 --methods ae_kmeans dec \
    --out results/calibration/digits_100epochs
run --dataset mnist_test --pretrain-epochs 30 --maxiter 2000 --methods ae_kmeans dec \
    --out results/calibration/mnist_test_30epochs
