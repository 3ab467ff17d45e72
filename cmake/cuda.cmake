# Optional CUDA backend: src/backends/cuda -> septet_cuda (+ septet_cuda_tests).
#
# Included from the top-level CMakeLists.txt after every module is defined.
#   SEPTET_CUDA        default ON when check_language(CUDA) finds nvcc (PATH, $CUDACXX,
#                      or /usr/local/cuda/bin/nvcc), OFF otherwise. A build with it ON
#                      compiles and links on a machine without a GPU; the backend then
#                      reports kUnsupported ("no CUDA device: ...") at context creation
#                      and the GPU tests skip.
#   SEPTET_SANITIZE=ON leaves CUDA OFF (default OFF, and an explicit ON is overridden with
#                      a warning): ASan's shadow memory and the CUDA driver's address-space
#                      reservations do not mix, and nvcc-compiled objects are not
#                      instrumented anyway. The sanitizer build tests the CPU paths.
#   CMAKE_CUDA_ARCHITECTURES  default "80;90" (A100, H100); override with -D.
#
# Build cost is kept small on purpose (CI: 2 cores): two .cu files, each kernel family a
# handful of template instantiations, no CUTLASS/CUB-heavy headers. The host-side code
# (context, cuBLAS calls, tests) is plain C++ built by the host compiler.
include(CheckLanguage)

set(_septet_cuda_default OFF)
if(NOT SEPTET_SANITIZE)
  if(NOT CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX} AND EXISTS /usr/local/cuda/bin/nvcc)
    set(ENV{CUDACXX} /usr/local/cuda/bin/nvcc)  # check_language and enable_language honour it
  endif()
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    set(_septet_cuda_default ON)
  endif()
endif()
option(SEPTET_CUDA "Build the CUDA backend (src/backends/cuda)" ${_septet_cuda_default})

if(SEPTET_CUDA AND SEPTET_SANITIZE)
  message(WARNING "septet: SEPTET_SANITIZE=ON turns SEPTET_CUDA off (ASan and the CUDA runtime do not mix)")
  set(SEPTET_CUDA OFF CACHE BOOL "Build the CUDA backend (src/backends/cuda)" FORCE)
endif()
if(SEPTET_CUDA AND NOT CMAKE_CUDA_COMPILER)
  message(FATAL_ERROR "septet: SEPTET_CUDA=ON but no CUDA compiler was found "
                      "(put nvcc on PATH, set CUDACXX, or configure with -DSEPTET_CUDA=OFF)")
endif()

if(NOT SEPTET_CUDA)
  message(STATUS "septet: CUDA backend OFF")
  return()
endif()

if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES OR CMAKE_CUDA_ARCHITECTURES STREQUAL "")
  set(CMAKE_CUDA_ARCHITECTURES "80;90" CACHE STRING "CUDA architectures septet's kernels are built for" FORCE)
endif()
enable_language(CUDA)
find_package(CUDAToolkit REQUIRED)
message(STATUS "septet: CUDA backend ON (nvcc ${CMAKE_CUDA_COMPILER_VERSION}, "
               "architectures ${CMAKE_CUDA_ARCHITECTURES})")

# Warnings: host code gets the project's -Wall -Wextra [-Werror]; nvcc gets the same for
# the host compiler it drives, and -Werror=all-warnings for its own diagnostics.
set(_septet_cuda_flags -Xcompiler=-Wall,-Wextra)
if(SEPTET_WERROR)
  list(APPEND _septet_cuda_flags -Xcompiler=-Werror -Werror=all-warnings)
endif()

file(GLOB SEPTET_CUDA_SOURCES CONFIGURE_DEPENDS
     ${PROJECT_SOURCE_DIR}/src/backends/cuda/*.cu ${PROJECT_SOURCE_DIR}/src/backends/cuda/*.cc)
list(FILTER SEPTET_CUDA_SOURCES EXCLUDE REGEX "_test\\.cc$")
add_library(septet_cuda STATIC ${SEPTET_CUDA_SOURCES})
target_include_directories(septet_cuda PUBLIC ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/include)
target_compile_options(septet_cuda PRIVATE $<$<COMPILE_LANGUAGE:CXX>:${SEPTET_WARNINGS}>
                                           $<$<COMPILE_LANGUAGE:CUDA>:${_septet_cuda_flags}>)
set_target_properties(septet_cuda PROPERTIES CUDA_STANDARD 17 CUDA_STANDARD_REQUIRED ON)
target_link_libraries(septet_cuda PUBLIC septet_model CUDA::cudart CUDA::cublas)

# The factory (runtime/backend.cc) offers backend "cuda" when SEPTET_HAVE_CUDA is set.
target_link_libraries(septet_runtime PUBLIC septet_cuda)
target_compile_definitions(septet_runtime PRIVATE SEPTET_HAVE_CUDA)

if(SEPTET_BUILD_TESTS)
  file(GLOB SEPTET_CUDA_TESTS CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/backends/cuda/*_test.cc)
  if(SEPTET_CUDA_TESTS)
    add_executable(septet_cuda_tests ${SEPTET_CUDA_TESTS})
    target_compile_options(septet_cuda_tests PRIVATE ${SEPTET_WARNINGS})
    target_include_directories(septet_cuda_tests PRIVATE ${PROJECT_SOURCE_DIR}/tests)
    # septet_runtime (which links septet_cuda): the factory path is tested too.
    target_link_libraries(septet_cuda_tests PRIVATE septet_runtime septet_testutil GTest::gtest_main)
    gtest_discover_tests(septet_cuda_tests DISCOVERY_TIMEOUT 60)
  endif()
endif()
