#!/usr/bin/env bash
# Installs the Debian 12 packages corral builds and tests with, and any
# extra ones named as arguments, if any is missing. Idempotent: with
# everything present it changes nothing and needs no network.
set -euo pipefail
PKGS=(build-essential cmake pkg-config libzmq3-dev libczmq-dev libxml2-dev libssl-dev
      libmsgpack-dev python3 openssl "$@")
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi
