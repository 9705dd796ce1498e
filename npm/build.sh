#!/usr/bin/env bash
# Builds the npm packages of vestis-mock-server from a compiled binary:
#   npm/build.sh [--binary PATH] [--out DIR]
# PATH defaults to the static release binary, built with
#   RUSTFLAGS='-C target-feature=+crt-static' cargo build --release \
#     --target x86_64-unknown-linux-gnu -p vestis-mock-server
# DIR defaults to target/npm. Leaves DIR/vestis-mock-server-VERSION.tgz and
# DIR/vestis-mock-server-linux-x64-VERSION.tgz (`npm publish` either), and
# prints their paths, one a line, on stdout.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
binary="$root/target/x86_64-unknown-linux-gnu/release/vestis-mock-server"
out="$root/target/npm"
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "npm/build.sh: unknown argument $1 (usage: npm/build.sh [--binary PATH] [--out DIR])" >&2; exit 2 ;;
  esac
done
if [ ! -x "$binary" ]; then
  echo "npm/build.sh: no binary at $binary; build it first (see the top of this script) or pass --binary" >&2
  exit 1
fi
if ldd "$binary" >/dev/null 2>&1; then
  echo "npm/build.sh: warning: $binary is dynamically linked; the published package must hold the static build" >&2
fi

# One version everywhere: the workspace's.
version="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$root/Cargo.toml" | head -n 1)"
mkdir -p "$out"
rm -rf "$out/vestis-mock-server" "$out/linux-x64"
cp -R "$root/npm/vestis-mock-server" "$out/vestis-mock-server"
cp -R "$root/npm/platforms/linux-x64" "$out/linux-x64"
mkdir -p "$out/linux-x64/bin"
cp "$binary" "$out/linux-x64/bin/vestis-mock-server"
chmod 755 "$out/linux-x64/bin/vestis-mock-server"
for pkg in "$out/vestis-mock-server" "$out/linux-x64"; do
  VERSION="$version" node -e '
    const fs = require("node:fs");
    const file = process.argv[1];
    const pkg = JSON.parse(fs.readFileSync(file, "utf8"));
    pkg.version = process.env.VERSION;
    for (const name of Object.keys(pkg.optionalDependencies ?? {})) pkg.optionalDependencies[name] = process.env.VERSION;
    fs.writeFileSync(file, JSON.stringify(pkg, null, 2) + "\n");
  ' "$pkg/package.json"
  (cd "$pkg" && npm pack --silent --pack-destination "$out" | sed "s|^|$out/|")
done
