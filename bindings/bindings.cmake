# Bindings of the C API (libseptet.so) and their ctest tests; included from
# cmake/capi.cmake when tests are on. Each part is skipped, with a message,
# when its compiler is missing (scripts/install-deps.sh installs them).
#   bindings/fortran: module `septet` (Fortran 2008, iso_c_binding), example, tests
#   bindings/python:  package `septet` (ctypes), pytest suite
#   bindings/ada:     package Septet_Q3P5 (contracts, built with -gnata), test
set(SEPTET_BINDINGS_DIR ${PROJECT_SOURCE_DIR}/bindings)

# Under SEPTET_SANITIZE, programs not built with the sanitizers (python3, the Ada
# test linked by gnatmake) must load the ASan runtime first.
set(SEPTET_BINDING_ENV "")
if(SEPTET_SANITIZE)
  execute_process(COMMAND ${CMAKE_CXX_COMPILER} -print-file-name=libasan.so OUTPUT_VARIABLE asan_lib
    OUTPUT_STRIP_TRAILING_WHITESPACE TIMEOUT 30)
  set(SEPTET_BINDING_ENV LD_PRELOAD=${asan_lib} ASAN_OPTIONS=detect_leaks=0)
endif()

# ---- Fortran ----
include(CheckLanguage)
check_language(Fortran)
if(CMAKE_Fortran_COMPILER)
  enable_language(Fortran)
  add_library(septet_fortran STATIC ${SEPTET_BINDINGS_DIR}/fortran/septet.f90)
  set_target_properties(septet_fortran PROPERTIES Fortran_MODULE_DIRECTORY ${PROJECT_BINARY_DIR}/fortran)
  target_include_directories(septet_fortran PUBLIC ${PROJECT_BINARY_DIR}/fortran)
  target_compile_options(septet_fortran PUBLIC -std=f2008 ${SEPTET_WARNINGS})
  target_link_libraries(septet_fortran PUBLIC septet_shared)
  foreach(prog generate oracle_test q3p5_test)
    add_executable(septet_fortran_${prog} ${SEPTET_BINDINGS_DIR}/fortran/${prog}.f90)
    target_link_libraries(septet_fortran_${prog} PRIVATE septet_fortran)
    set_target_properties(septet_fortran_${prog} PROPERTIES Fortran_MODULE_DIRECTORY ${PROJECT_BINARY_DIR}/fortran/${prog})
  endforeach()
  add_test(NAME Fortran.Oracle COMMAND septet_fortran_oracle_test ${SEPTET_STORIES})
  add_test(NAME Fortran.Q3P5Matvec COMMAND septet_fortran_q3p5_test)
  add_test(NAME Fortran.GenerateExample COMMAND ${CMAKE_COMMAND}
    "-DEXPECT=there was a little girl.*ids: 432 383 286 261 376 298 315 421"
    -P ${PROJECT_SOURCE_DIR}/cmake/capi/run_expect.cmake -- $<TARGET_FILE:septet_fortran_generate> ${SEPTET_STORIES}
    "Once upon a time" 8)
  set_tests_properties(Fortran.Oracle Fortran.Q3P5Matvec Fortran.GenerateExample PROPERTIES TIMEOUT 120)
else()
  message(STATUS "septet: no Fortran compiler (gfortran); bindings/fortran not built")
endif()

# ---- Python ----
find_package(Python3 COMPONENTS Interpreter)
if(Python3_Interpreter_FOUND)
  add_test(NAME Python.Binding COMMAND ${CMAKE_COMMAND} -E env SEPTET_LIB=$<TARGET_FILE:septet_shared>
    SEPTET_STORIES=${SEPTET_STORIES} ${SEPTET_BINDING_ENV}
    ${Python3_EXECUTABLE} ${SEPTET_BINDINGS_DIR}/python/run_tests.py)
  set_tests_properties(Python.Binding PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77)
else()
  message(STATUS "septet: no python3; bindings/python not tested")
endif()

# ---- Ada (GNAT) ----
find_program(SEPTET_GNATMAKE gnatmake)
if(SEPTET_GNATMAKE)
  set(ada_dir ${PROJECT_BINARY_DIR}/ada)
  set(ada_exe ${ada_dir}/septet_ada_test)
  file(GLOB ada_srcs CONFIGURE_DEPENDS ${SEPTET_BINDINGS_DIR}/ada/*.ad[sb])
  set(ada_link_flags "")
  if(SEPTET_SANITIZE)
    set(ada_link_flags -fsanitize=address,undefined)  # link the runtimes libseptet.so was built with
  endif()
  # -gnata: contracts (Pre/Post, Loop_Invariant, Assert) are checked at run time.
  add_custom_command(OUTPUT ${ada_exe}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${ada_dir}
    COMMAND ${SEPTET_GNATMAKE} -q -gnat2012 -gnata -gnatwa -gnatwe -D ${ada_dir} -aI${SEPTET_BINDINGS_DIR}/ada
      ${SEPTET_BINDINGS_DIR}/ada/septet_ada_test.adb -o ${ada_exe}
      -largs ${ada_link_flags} -L$<TARGET_FILE_DIR:septet_shared> -lseptet
      -Wl,-rpath,$<TARGET_FILE_DIR:septet_shared>
    DEPENDS ${ada_srcs} septet_shared
    WORKING_DIRECTORY ${PROJECT_BINARY_DIR}
    COMMENT "gnatmake bindings/ada (-gnata)" VERBATIM)
  add_custom_target(septet_ada_test ALL DEPENDS ${ada_exe})
  add_test(NAME Ada.Q3P5Contracts COMMAND ${CMAKE_COMMAND} -E env ${SEPTET_BINDING_ENV} ${CMAKE_COMMAND}
    "-DEXPECT=violated preconditions raise Assertion_Error" -P ${PROJECT_SOURCE_DIR}/cmake/capi/run_expect.cmake
    -- ${ada_exe})
  set_tests_properties(Ada.Q3P5Contracts PROPERTIES TIMEOUT 120)
else()
  message(STATUS "septet: no GNAT (gnatmake); bindings/ada not built")
endif()
