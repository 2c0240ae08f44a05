#!/usr/bin/env bash
# Build the small kernel the real-kernel oracle boots, once per config and
# source version. Prints the path of the cached bzImage on its last line.
#
#   ci/kernel/build.sh            # install packages if missing, build or reuse
#
# Cache: $WQSIM_KERNEL_CACHE (default ~/.cache/wqsim/kernel)/<key>/bzImage,
# where <key> hashes this fragment and the linux-source package version.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache_root="${WQSIM_KERNEL_CACHE:-$HOME/.cache/wqsim/kernel}"
pkgs=(linux-source-6.12 bc bison flex libelf-dev cpio xz-utils qemu-system-x86 build-essential)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "kernel: installing ${missing[*]}" >&2
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

version="$(dpkg-query -W -f='${Version}' linux-source-6.12)"
key="$( (cat "$here/config.fragment"; echo "$version") | sha256sum | cut -c1-16)"
dir="$cache_root/$key"
if [ -s "$dir/bzImage" ]; then
  echo "kernel: cached $dir/bzImage (linux-source-6.12 $version)" >&2
  echo "$dir/bzImage"
  exit 0
fi

mkdir -p "$dir"
work="$dir/src"
rm -rf "$work"
mkdir -p "$work"
tarball="$(ls /usr/src/linux-source-6.12.tar.* | head -1)"
echo "kernel: unpacking $tarball" >&2
tar -xf "$tarball" -C "$work" --strip-components=1
cd "$work"
echo "kernel: configuring (tinyconfig + ci/kernel/config.fragment)" >&2
make -s tinyconfig >&2
scripts/kconfig/merge_config.sh -m .config "$here/config.fragment" >/dev/null
make -s olddefconfig >&2
for opt in WATCH_QUEUE KEY_NOTIFICATIONS KEYS SMP; do
  grep -q "^CONFIG_$opt=y" .config || { echo "kernel: CONFIG_$opt did not survive olddefconfig" >&2; exit 1; }
done
echo "kernel: building bzImage with $(nproc) jobs" >&2
make -s -j"$(nproc)" bzImage >&2
cp arch/x86/boot/bzImage "$dir/bzImage.tmp"
cp .config "$dir/config"
mv "$dir/bzImage.tmp" "$dir/bzImage"
cd /
rm -rf "$work"
echo "kernel: built $dir/bzImage" >&2
echo "$dir/bzImage"
