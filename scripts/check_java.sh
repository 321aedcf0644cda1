#!/usr/bin/env bash
# TorchServe's frontend needs Java >= 11. Installs OpenJDK 17 when root and apt-get exist
# (CI, fresh machines); otherwise says how.
set -euo pipefail
version() { java -version 2>&1 | awk -F'"' '/version/ {split($2, v, "."); print (v[1] == "1" ? v[2] : v[1])}'; }
if command -v java >/dev/null && [ "$(version)" -ge 11 ]; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "Java >= 11 not found: installing openjdk-17-jre-headless" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null
  exit 0
fi
echo "TorchServe needs Java >= 11. Install it, e.g.: sudo apt-get install openjdk-17-jre-headless" >&2
exit 1
