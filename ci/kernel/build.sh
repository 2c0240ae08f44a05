#!/usr/bin/env bash
# Build the small kernel the real-kernel oracle boots, once per config and
# source version. Prints the path of the cached bzImage on its last line.
#
#   ci/kernel/build.sh            # Debian's linux-source-6.12: install packages if missing, build or reuse
#   ci/kernel/build.sh 6.1        # the same from Debian's linux-source-6.1
#   ci/kernel/build.sh 6.12 docs/findings/patches/*.patch   # the same source with patches applied
#   ci/kernel/build.sh --kcsan 6.12   # with the Kernel Concurrency Sanitizer (ci/kernel/kcsan.fragment)
#
# Cache: $WQSIM_KERNEL_CACHE (default ~/.cache/wqsim/kernel)/<key>/bzImage,
# where <key> hashes this fragment and the linux-source package version,
# and the patches' contents when there are any (applied in the order given,
# with `patch -p1`; one that does not apply stops the build), and
# kcsan.fragment with --kcsan.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache_root="${WQSIM_KERNEL_CACHE:-$HOME/.cache/wqsim/kernel}"
kcsan=0
if [ "${1:-}" = --kcsan ]; then
  kcsan=1
  shift
fi
series="${1:-6.12}"
shift || true
patches=()
for p in "$@"; do
  [ -f "$p" ] || { echo "kernel: no patch file '$p'" >&2; exit 2; }
  patches+=("$(realpath "$p")")
done
case "$series" in
  6.12 | 6.1) ;;
  *) echo "kernel: no kernel series '$series' (accepted: 6.12, 6.1)" >&2; exit 2 ;;
esac
src="linux-source-$series"
pkgs=("$src" bc bison flex libelf-dev cpio xz-utils qemu-system-x86 build-essential patch)

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

version="$(dpkg-query -W -f='${Version}' "$src")"
# The 6.12 key hashes the fragment and the version alone, as before the
# second series existed, so its cache stays valid.
if [ "$series" = 6.12 ]; then
  key="$( (cat "$here/config.fragment"; echo "$version") | sha256sum | cut -c1-16)"
else
  key="$( (cat "$here/config.fragment"; echo "$src $version") | sha256sum | cut -c1-16)"
fi
if [ "$kcsan" = 1 ]; then
  key="$( (echo "$key"; cat "$here/kcsan.fragment") | sha256sum | cut -c1-16)"
fi
if ((${#patches[@]})); then
  key="$( (echo "$key"; cat "${patches[@]}") | sha256sum | cut -c1-16)"
fi
dir="$cache_root/$key"
if [ -s "$dir/bzImage" ]; then
  echo "kernel: cached $dir/bzImage ($src $version)" >&2
  echo "$dir/bzImage"
  exit 0
fi

mkdir -p "$dir"
work="$dir/src"
rm -rf "$work"
mkdir -p "$work"
tarball="$(ls /usr/src/"$src".tar.* | head -1)"
echo "kernel: unpacking $tarball" >&2
tar -xf "$tarball" -C "$work" --strip-components=1
for p in "${patches[@]}"; do
  echo "kernel: applying $(basename "$p")" >&2
  patch -s -p1 -d "$work" < "$p" >&2
done
cd "$work"
echo "kernel: configuring (tinyconfig + ci/kernel/config.fragment)" >&2
make -s tinyconfig >&2
fragments=("$here/config.fragment")
[ "$kcsan" = 1 ] && fragments+=("$here/kcsan.fragment")
scripts/kconfig/merge_config.sh -m .config "${fragments[@]}" >/dev/null
make -s olddefconfig >&2
required=(WATCH_QUEUE KEY_NOTIFICATIONS KEYS SMP)
[ "$kcsan" = 1 ] && required+=(KCSAN UNWINDER_ORC)
for opt in "${required[@]}"; do
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
