#!/usr/bin/env bash
# nginx fronts the replicas of `make serve REPLICAS=N` (N > 1). Installs Debian's nginx when
# root and apt-get exist (CI, fresh machines); otherwise says how.
set -euo pipefail
if command -v nginx >/dev/null || [ -x /usr/sbin/nginx ]; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "nginx not found: installing it (Debian package)" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null
  exit 0
fi
echo "make serve REPLICAS=N needs nginx. Install it, e.g.: sudo apt-get install nginx" >&2
exit 1
