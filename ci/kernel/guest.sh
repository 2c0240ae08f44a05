#!/usr/bin/env bash
# Build the guest runner (wqsim-guest) as a static binary; prints its path.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
triple="$(rustc -vV | sed -n 's/^host: //p')"
cd "$root"
RUSTFLAGS="-C target-feature=+crt-static" CARGO_TARGET_DIR="$root/target/guest" \
  cargo build --release --locked -q -p wqsim --bin wqsim-guest --target "$triple" >&2
echo "$root/target/guest/$triple/release/wqsim-guest"
