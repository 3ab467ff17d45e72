# ctest CApi.InstallAndConsume: `cmake --install` into a fresh prefix, then build
# tests/capi/consumer/consumer.c against the installed tree twice (pkg-config,
# and find_package(septet) in a separate CMake project) and run both; each must
# print the stories260K oracle's first four greedy ids. Every step has a timeout.
#   cmake -DBUILD_DIR= -DSOURCE_DIR= -DWORK_DIR= -DMODEL= -DCMAKE_EXE= -DGENERATOR= -DCC= [-DSANITIZE=ON] -P install_test.cmake
set(expect "ids: 432 383 286 261")  # tests/model_oracle_test.cc kGreedy[0..3]

function(run step)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 240)
  if(NOT rc EQUAL 0)
    string(REPLACE ";" " " cmd "${ARGN}")
    message(FATAL_ERROR "${step} failed (${rc}): ${cmd}\n${out}\n${err}")
  endif()
  set(last_out "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)
run("install" ${CMAKE_EXE} --install ${BUILD_DIR} --prefix ${prefix})
foreach(f include/septet/septet_c.h)
  if(NOT EXISTS ${prefix}/${f})
    message(FATAL_ERROR "install: ${prefix}/${f} missing")
  endif()
endforeach()
if(EXISTS ${prefix}/include/septet/septet.h)
  message(FATAL_ERROR "install: the C++ header was installed, but libseptet.so exports no C++ symbol")
endif()
file(GLOB_RECURSE pcs ${prefix}/*/septet.pc)
file(GLOB_RECURSE libs ${prefix}/*/libseptet.so)
if(NOT pcs OR NOT libs)
  message(FATAL_ERROR "install: septet.pc (${pcs}) or libseptet.so (${libs}) missing under ${prefix}")
endif()
get_filename_component(pcdir ${pcs} DIRECTORY)
get_filename_component(libdir ${libs} DIRECTORY)

set(flags "")
if(SANITIZE)
  set(flags -fsanitize=address,undefined)
endif()

# 1. pkg-config
find_program(PKG_CONFIG pkg-config REQUIRED)
set(ENV{PKG_CONFIG_PATH} ${pcdir})
run("pkg-config --cflags" ${PKG_CONFIG} --cflags septet)
string(STRIP "${last_out}" cflags)
run("pkg-config --libs" ${PKG_CONFIG} --libs septet)
string(STRIP "${last_out}" libflags)
separate_arguments(cflags UNIX_COMMAND "${cflags}")
separate_arguments(libflags UNIX_COMMAND "${libflags}")
run("cc (pkg-config)" ${CC} -std=c11 -Wall -Wextra -Werror ${flags} ${cflags} ${SOURCE_DIR}/tests/capi/consumer/consumer.c
    ${libflags} -Wl,-rpath,${libdir} -o ${WORK_DIR}/consumer_pc)
run("consumer (pkg-config)" ${WORK_DIR}/consumer_pc ${MODEL})
if(NOT last_out MATCHES "${expect}")
  message(FATAL_ERROR "consumer (pkg-config) printed '${last_out}', expected '${expect}'")
endif()
message(STATUS "pkg-config consumer: ${last_out}")

# 2. find_package(septet)
run("configure (find_package)" ${CMAKE_EXE} -S ${SOURCE_DIR}/tests/capi/consumer -B ${WORK_DIR}/consumer_build
    -G ${GENERATOR} -DCMAKE_C_COMPILER=${CC} -DCMAKE_PREFIX_PATH=${prefix} "-DCONSUMER_FLAGS=${flags}")
run("build (find_package)" ${CMAKE_EXE} --build ${WORK_DIR}/consumer_build)
run("consumer (find_package)" ${WORK_DIR}/consumer_build/consumer ${MODEL})
if(NOT last_out MATCHES "${expect}")
  message(FATAL_ERROR "consumer (find_package) printed '${last_out}', expected '${expect}'")
endif()
message(STATUS "find_package consumer: ${last_out}")
