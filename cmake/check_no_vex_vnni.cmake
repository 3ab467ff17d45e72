# ctest Isa.NoVexVnni: the binaries must hold no VEX-encoded VNNI instruction
# ({vex} vpdpbusd, vpdpbusds, vpdpwssd, vpdpwssds: the AVX-VNNI extension).
# Highway 1.0.3 compiles its AVX3_DL pass with "avxvnni" enabled but dispatches
# AVX3_DL on AVX512_VNNI alone, so such an instruction is an illegal instruction
# on Zen 4 and Ice Lake (AVX-512 VNNI without AVX-VNNI); the kernels use the
# EVEX form (common-inl.h Dpbusd256). The check also requires some vpdpbusd in
# each binary, so a disassembly that misses the kernels cannot pass.
#   cmake -DOBJDUMP=objdump -DBINARIES="a;b" -P check_no_vex_vnni.cmake
foreach(bin IN LISTS BINARIES)
  # One disassembly per binary; only its VNNI lines are kept.
  execute_process(COMMAND ${OBJDUMP} -d --no-show-raw-insn ${bin} COMMAND grep "vpdp"
                  OUTPUT_VARIABLE lines RESULT_VARIABLE rc TIMEOUT 120)
  string(REGEX MATCHALL "vpdpbusd" all_hits "${lines}")
  list(LENGTH all_hits all)
  if(NOT all GREATER 0)
    message(FATAL_ERROR "${bin}: no vpdpbusd found in `${OBJDUMP} -d` (rc ${rc}); the AVX3_DL kernels are missing or the disassembly failed")
  endif()
  string(REGEX MATCHALL "[^\n]*\\{vex\\} *vpdp[^\n]*" vex_hits "${lines}")
  if(vex_hits)
    list(JOIN vex_hits "\n" vex)
    string(LENGTH "${vex}" len)
    if(len GREATER 2000)
      string(SUBSTRING "${vex}" 0 2000 vex)
    endif()
    message(FATAL_ERROR "${bin}: VEX-encoded VNNI (AVX-VNNI) instructions, illegal on Zen 4 / Ice Lake; "
                        "write 256-bit dots with Dpbusd256 (src/kernels/simd/common-inl.h). "
                        "First hits (addr2line -f -C -e ${bin} ADDRESS names the function):\n${vex}")
  endif()
  message(STATUS "${bin}: ${all} vpdpbusd, none VEX-encoded")
endforeach()
