#!/usr/bin/env bash
# Installs the Debian packages listed in scripts/deps.txt that are missing.
# Idempotent: when everything is present it touches nothing (no apt-get update).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

missing=()
while read -r pkg version; do
  [[ -z "$pkg" || "$pkg" == \#* ]] && continue
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  else
    have=$(dpkg-query -W -f='${Version}' "$pkg")
    [[ "$have" == "$version" ]] || echo "deps: $pkg is $have (tested with $version)" >&2
  fi
done < "$here/deps.txt"

if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}" >&2
  sudo=""; [[ $(id -u) -ne 0 ]] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

for tool in java node npm; do
  command -v "$tool" >/dev/null || { echo "deps: '$tool' is required (DynamoDB Local runs on Java, installs via npm)" >&2; exit 1; }
done
