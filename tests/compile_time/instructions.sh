#!/bin/bash
# Instructions (billions, valgrind's cachegrind) that nvcc's three front ends execute on one file:
# cudafe++ (host), cicc (device) and the host g++ (cc1plus, -fsyntax-only on cudafe++'s output,
# preprocessed). A count, not a time: the same on a busy box, so two trees can be compared one
# compile each (a 1,024-node graph takes about 2 minutes under valgrind). Prints one JSON object.
#   instructions.sh INCLUDE_DIR FILE.cpp   (e.g. a file from gen_graph.py --value [--proof])
set -euo pipefail
inc=$(realpath "$1"); src=$(realpath "$2")
cuda=$(dirname "$(dirname "$(command -v nvcc)")")
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
base=$(basename "$src" .cpp)
nvcc -std=c++20 -x cu -I "$inc" -c "$src" -o "$work/o.o" --keep --keep-dir "$work" > /dev/null
count() { valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null "$@" 2>&1 >/dev/null |
          awk '/I *refs/ {gsub(",", "", $4); printf "%.3f", $4 / 1e9}'; }
common=(--c++20 --static-host-stub --device-hidden-visibility --gnu_version="$(gcc -dumpfullversion | awk -F. '{printf "%d%02d%02d", $1, $2, $3}')"
        --display_error_number --orig_src_file_name "$src" --orig_src_path_name "$src" --allow_managed --m64)
host=$(count "$cuda/bin/cudafe++" "${common[@]}" --parse_templates --gen_c_file_name "$work/h.cudafe1.cpp" --stub_file_name h.stub.c \
             --gen_module_id_file --module_id_file_name "$work/h.module_id" "$work/$base.cpp4.ii")
device=$(count "$cuda/nvvm/bin/cicc" "${common[@]}" -arch compute_75 --no-version-ident -ftz=0 -prec_div=1 -prec_sqrt=1 -fmad=1 \
               --include_file_name d.fatbin.c -tused --module_id_file_name "$work/$base.module_id" --gen_c_file_name "$work/d.cudafe1.c" \
               --stub_file_name "$work/d.stub.c" --gen_device_file_name "$work/d.gpu" "$work/$base.cpp1.ii" -o "$work/d.ptx")
g++ -std=c++20 -E -x c++ -D__CUDA_ARCH__=750 -D__CUDA_ARCH_LIST__=750 -DCUDA_DOUBLE_MATH_FUNCTIONS -I "$inc" -I "$cuda/targets/x86_64-linux/include" -isystem "$cuda/targets/x86_64-linux/include/cccl" \
    "$work/$base.cudafe1.cpp" -o "$work/host.ii"
gxx=$(count "$(g++ -print-prog-name=cc1plus)" -fpreprocessed -quiet -std=c++20 -fsyntax-only "$work/host.ii")
echo "{\"file\": \"$(basename "$src")\", \"cudafe++\": $host, \"cicc\": $device, \"host_gxx\": $gxx, \"sum\": $(awk "BEGIN {printf \"%.3f\", $host + $device + $gxx}"), \"unit\": \"G instructions\"}"
