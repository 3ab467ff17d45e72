#!/usr/bin/env bash
# Packs what scripts/gpu-validate.sh needs on a GPU machine that has the CUDA runtime
# but none of septet's Debian libraries: the CUDA build's septet and septet_cuda_tests,
# the shared libraries they load that are not glibc's or CUDA's (ldd), and the test
# models (stories260K, the SmolLM2 oracle). The SmolLM2 GGUF itself (94 MiB) is cut in
# two, the first FIRST_MIB, so that a transfer limit (the device tool's 64 MiB) can take
# it in two trips, the first beside the package; gpu-validate.sh joins the pieces and
# checks the SHA-256.
#
# usage: scripts/gpu-package.sh BUILD_DIR DEST_DIR   (env: SEPTET_SHARED, FIRST_MIB=40)
# writes DEST_DIR/pkg.tar.xz, DEST_DIR/smollm2.sha256, DEST_DIR/smollm2.part00 and part01
set -euo pipefail
build=${1:?usage: gpu-package.sh BUILD_DIR DEST_DIR}
dest=${2:?usage: gpu-package.sh BUILD_DIR DEST_DIR}
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${SEPTET_SHARED:-$root/../shared}
first_mib=${FIRST_MIB:-40}
for b in septet septet_cuda_tests; do
  [ -x "$build/$b" ] || { echo "gpu-package: $build/$b missing (build it with -DSEPTET_CUDA=ON)" >&2; exit 1; }
done
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/lib" "$stage/shared/models/smollm2-135m-instruct" "$dest"
cp "$build/septet" "$build/septet_cuda_tests" "$stage/bin/"
strip "$stage/bin/"*
# Libraries outside glibc, the compiler runtime and CUDA: the device image has those.
ldd "$build/septet" "$build/septet_cuda_tests" | awk '/=> \//{print $3}' | sort -u |
  grep -v -E '/(libc|libm|libdl|librt|libpthread|ld-linux[^/]*|libstdc\+\+|libgcc_s|libcuda|libcudart|libcublas[^/]*)\.so' |
  while read -r lib; do cp -L "$lib" "$stage/lib/"; done
cp -r "$shared/models/stories260K" "$stage/shared/models/"
cp -r "$shared/models/smollm2-135m-instruct/oracle" "$stage/shared/models/smollm2-135m-instruct/"
chmod -R u+w "$stage"
tar -C "$stage" -cf - . | xz -T2 -6 > "$dest/pkg.tar.xz"
gguf="$shared/models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"
(cd "$(dirname "$gguf")" && sha256sum "$(basename "$gguf")") > "$dest/smollm2.sha256"
rm -f "$dest"/smollm2.part*
head -c "$((first_mib << 20))" "$gguf" > "$dest/smollm2.part00"
tail -c "+$(((first_mib << 20) + 1))" "$gguf" > "$dest/smollm2.part01"
ls -l "$dest"
