#!/usr/bin/env bash
# Installs everything septet needs to build and test, from Debian bookworm's
# packages only. Run as root (CI and the dev machines are root). As another
# user it prints the exact command to run instead.
#   scripts/install-deps.sh          install what is missing
#   scripts/install-deps.sh --check  exit 0 when all present, 1 otherwise (no install)
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libgtest-dev libgmock-dev googletest   # unit tests
  libbenchmark-dev                       # micro-benchmarks
  libhwy-dev                             # Highway SIMD, runtime dispatch
  libopenblas-dev                        # BLAS path for batched prefill
  nlohmann-json3-dev                     # JSON (config.json, tokenizer.json, HTTP)
  libcli11-dev                           # command line
  libcpp-httplib-dev                     # `septet serve`
  libpcre2-dev                           # Unicode regex for byte-level BPE pre-tokenizers
  coq                                    # `make proofs` (proofs/*.v)
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${1:-}" = "--check" ]; then
  [ ${#missing[@]} -eq 0 ] && exit 0
  echo "missing packages: ${missing[*]}" >&2
  exit 1
fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing ${missing[*]}" >&2
  echo "run as root:  sudo sh -c '$cmd'" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
