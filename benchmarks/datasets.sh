#!/usr/bin/env bash
# The datasets table of the README (issue 5): DEC, IDEC, AE + K-means / GMM
# and raw K-means on several datasets and seeds, dense and convolutional.
#
#   bash benchmarks/datasets.sh [SEEDS...]     (default seeds: 0 1 2)
#
# Every command is `python -m deepcluster_keras reproduce`, so the whole
# script is resumable: rerunning it skips the seeds and methods already in
# results/datasets/*/seed_N.json (weights stay in the ignored work/ folders).
# Shorter pretraining than the tutorial's 300 epochs for the 10,000- and
# 70,000-image sets, to fit a 2-core CPU; each folder's summary.md states its
# recipe. Seeds are fixed in advance: run 0 1 2 first, then 0 1 2 3 4.
set -euo pipefail
cd "$(dirname "$0")/.."
SEEDS=("${@:-0 1 2}")
SEEDS=(${SEEDS[@]})
run() { python -m deepcluster_keras reproduce --seeds "${SEEDS[@]}" "$@"; }
ALL=(kmeans_raw ae_kmeans ae_gmm dec idec)
SELF=(ae_kmeans ae_gmm dec idec)

run --dataset mnist_test --pretrain-epochs 30 --methods "${ALL[@]}" --out results/datasets/mnist_test_dense
run --dataset digits --methods "${ALL[@]}" --out results/datasets/digits_dense
run --dataset fashion_mnist --pretrain-epochs 30 --methods "${ALL[@]}" --out results/datasets/fashion_mnist_dense
# The tutorial's full 300 epochs, comparable with the port's Fashion-MNIST
# figures (about an hour a seed alone on 2 cores).
run --dataset fashion_mnist --methods "${ALL[@]}" --out results/datasets/fashion_mnist_dense_300
# DEC as the port's results ran it: DEC.fit's default maxiter=20000, not the
# tutorial's 8000 (where Fashion-MNIST stops unconverged), same autoencoders.
run --dataset fashion_mnist --maxiter 20000 --methods ae_kmeans dec \
    --work-dir results/datasets/fashion_mnist_dense_300/work \
    --out results/datasets/fashion_mnist_dense_300_maxiter20000
run --dataset digits --autoencoder conv --pretrain-epochs 200 --methods "${SELF[@]}" \
    --out results/datasets/digits_conv
run --dataset mnist_test --autoencoder conv --pretrain-epochs 30 --methods "${SELF[@]}" \
    --out results/datasets/mnist_test_conv

# Self-training with Adam (the IDEC code's optimizer for MNIST) instead of the
# tutorial's SGD(0.01, 0.9), from the same pretrained autoencoders (--work-dir).
ADAM=(--optimizer adam --methods ae_kmeans dec idec)
run --dataset digits "${ADAM[@]}" --work-dir results/datasets/digits_dense/work \
    --out results/datasets/digits_dense_adam
run --dataset mnist_test --pretrain-epochs 30 "${ADAM[@]}" \
    --work-dir results/datasets/mnist_test_dense/work --out results/datasets/mnist_test_dense_adam
# ... and on MNIST-70k, from the autoencoders of results/mnist (run that first).
run --dataset mnist "${ADAM[@]}" --work-dir results/mnist/work --out results/mnist_adam

# Convolutional DEC / IDEC on MNIST-70k with DCEC's 200 pretraining epochs
# and the tutorial's self-training. About 1.5 hours of pretraining a seed alone on 2 cores
# (measured: ~27 s an epoch with TensorFlow; JAX on CPU was 5x slower),
# then ~45 min of DEC and IDEC; checkpoints every 10 epochs, so it resumes
# across sessions.
run --dataset mnist --autoencoder conv --pretrain-epochs 200 --methods "${SELF[@]}" \
    --out results/datasets/mnist_conv
# DCEC's own recipe from the same autoencoders: convolutional IDEC (gamma 0.1)
# with Adam self-training and its code's maxiter 20000; its paper's 0.890.
run --dataset mnist --autoencoder conv --pretrain-epochs 200 --optimizer adam --maxiter 20000 \
    --methods ae_kmeans idec --work-dir results/datasets/mnist_conv/work \
    --out results/datasets/mnist_conv_dcec
# Convolutional DEC / IDEC on Fashion-MNIST, the same recipe as mnist_conv
# (seeds 0 and 1, 2026-11-30 and 2026-12-01: 67 and 79 min of pretraining alone on
# 2 cores, then 21 min of DEC and IDEC a seed).
run --dataset fashion_mnist --autoencoder conv --pretrain-epochs 200 --methods "${SELF[@]}" \
    --out results/datasets/fashion_mnist_conv

# The README's table (paste it between its datasets-table markers):
python -m deepcluster_keras table results/mnist results/mnist_adam results/datasets/*/
