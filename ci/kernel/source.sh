#!/usr/bin/env bash
# Unpack the parts of Debian's linux-source-SERIES the kernel map mirrors
# (the top Makefile, fs/, kernel/, mm/, security/keys/, include/) once, and
# print the tree's path on the last line. `wqsim drift` and the map's tests
# read it.
#
#   ci/kernel/source.sh          # 6.12
#   ci/kernel/source.sh 6.1
#
# Cache: $WQSIM_KERNEL_CACHE (default ~/.cache/wqsim/kernel)/source-<series>-<version>.
set -euo pipefail
series="${1:-6.12}"
case "$series" in
  6.12 | 6.1) ;;
  *) echo "source: no kernel series '$series' (accepted: 6.12, 6.1)" >&2; exit 2 ;;
esac
src="linux-source-$series"
if ! dpkg-query -W -f='${Status}' "$src" 2>/dev/null | grep -q "install ok installed"; then
  echo "source: installing $src" >&2
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "$src" xz-utils >&2
fi
version="$(dpkg-query -W -f='${Version}' "$src")"
cache_root="${WQSIM_KERNEL_CACHE:-$HOME/.cache/wqsim/kernel}"
dir="$cache_root/source-$series-$version"
if [ -f "$dir/.complete" ]; then
  echo "source: cached $dir ($src $version)" >&2
  echo "$dir"
  exit 0
fi
tarball="$(ls /usr/src/"$src".tar.* | head -1)"
top="$( (tar -tf "$tarball" 2>/dev/null || true) | head -1 | cut -d/ -f1)"
rm -rf "$dir"
mkdir -p "$dir"
echo "source: unpacking the mirrored parts of $tarball" >&2
tar -xf "$tarball" -C "$dir" --strip-components=1 \
  "$top/Makefile" "$top/fs" "$top/kernel" "$top/mm" "$top/security/keys" "$top/include"
touch "$dir/.complete"
echo "$dir"
