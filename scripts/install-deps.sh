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
  gfortran gnat python3 python3-pip      # C API bindings: Fortran, Ada, Python (bindings/)
  chromium                               # test: the `septet serve` chat page in a real browser
  coq                                    # `make proofs` (proofs/*.v)
)

# Test tooling from PyPI (each test skips without its module): pytest for the Python
# binding (ctest Python.Binding), the official OpenAI client for `septet serve`
# (tests/serve_openai_client_test.py). Debian's own python3 refuses pip installs
# (PEP 668) unless told; a failure only warns.
install_python_tools() {
  local mod
  for mod in pytest openai; do
    python3 -c "import $mod" >/dev/null 2>&1 && continue
    echo "install-deps: installing $mod (PyPI) for the tests"
    python3 -m pip install --quiet "$mod" 2>/dev/null ||
      python3 -m pip install --quiet --break-system-packages "$mod" ||
      echo "install-deps: warning: could not install the Python module $mod (its tests will be skipped)" >&2
  done
}

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
  install_python_tools
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
install_python_tools
