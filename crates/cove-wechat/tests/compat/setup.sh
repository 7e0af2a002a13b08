#!/usr/bin/env bash
# Installs the independent peers used by tests/compat.rs:
#   - a Python venv with wechatpy, cryptography and wechatpayv3 (default: target/py at the repo root)
#   - @wecom/crypto under crates/cove-wechat/tests/compat/node_modules
# Then run:  COVE_PYTHON="$VENV/bin/python" cargo test -p cove-wechat --test compat
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$HERE/../../../.." && pwd)"
VENV="${VENV:-$REPO_ROOT/target/py}"
PYTHON="${PYTHON:-python3}"

"$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check \
  "wechatpy==2.0.0a26" "cryptography==50.0.2" "wechatpayv3==2.0.4" "xmltodict==1.0.4"

(cd "$HERE" && npm install --no-audit --no-fund --silent)

echo "peers installed:"
echo "  COVE_PYTHON=$VENV/bin/python"
echo "  COVE_NODE_MODULES=$HERE/node_modules"
