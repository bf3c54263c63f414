#!/usr/bin/env bash
# Usage: bash .ci/provide-node.sh MAJOR
# Installs the latest Node.js MAJOR.x from the npm registry's `node` package into
# .ci/tools/node-MAJOR (once) and prints the folder of that Node.js distribution: its bin/node is
# the binary, its include/node the headers that node-gyp builds native modules against.
set -euo pipefail
major="${1:?usage: provide-node.sh MAJOR}"
tools="$(cd "$(dirname "$0")" && pwd)/tools/node-$major"

dist_dir() {
  local dir
  for dir in "$tools"/node_modules/node/node_modules/node-*/; do
    [ -x "${dir}bin/node" ] && [ -d "${dir}include/node" ] && { echo "${dir%/}"; return 0; }
  done
  return 1
}

if ! dir="$(dist_dir)" || [[ "$("$dir/bin/node" --version)" != "v$major."* ]]; then
  rm -rf "$tools"
  mkdir -p "$tools"
  # The package's preinstall fetches the platform's binary package: allow exactly that script.
  printf '{ "private": true, "allowScripts": { "node": true } }\n' > "$tools/package.json"
  npm install --prefix "$tools" --no-audit --no-fund --strict-allow-scripts "node@$major" >&2
  dir="$(dist_dir)"
fi
echo "$dir"
