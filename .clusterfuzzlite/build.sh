#!/bin/bash -eu
# Builds every fuzz target for ClusterFuzzLite / OSS-Fuzz: the builder
# image sets the sanitizer flags; cargo fuzz builds with them. Each target
# ships with its committed seeds as a seed corpus; `schedule` also needs
# the scenarios, which it finds beside its binary.
cd "$SRC/wqsim/fuzz"
cargo fuzz build -O
release=${CARGO_TARGET_DIR:-target}/x86_64-unknown-linux-gnu/release
for t in parser frontend filter trace schedule reader; do
  cp "$release/$t" "$OUT/"
  (cd "seeds/$t" && zip -q -r "$OUT/${t}_seed_corpus.zip" .)
done
rm -rf "$OUT/scenarios"
cp -r "$SRC/wqsim/scenarios" "$OUT/scenarios"
