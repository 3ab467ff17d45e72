# The C API (include/septet/septet_c.h, src/capi/) as libseptet.so, its install
# rules (headers, pkg-config, CMake package) and the tests of it and of the
# bindings (bindings/: Fortran, Python, Ada). Included from CMakeLists.txt.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# ---- libseptet.so: src/capi over the static modules; exports only septet_* ----
file(GLOB SEPTET_CAPI_SOURCES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/capi/*.cc)
add_library(septet_shared SHARED ${SEPTET_CAPI_SOURCES})
set(SEPTET_CAPI_MAP ${PROJECT_SOURCE_DIR}/cmake/capi/septet.map)
set_target_properties(septet_shared PROPERTIES
  OUTPUT_NAME septet EXPORT_NAME septet
  VERSION 1.0.0 SOVERSION 1   # 1 = SEPTET_C_ABI_VERSION (septet_c.h); bump both together
  LINK_DEPENDS ${SEPTET_CAPI_MAP})
target_compile_options(septet_shared PRIVATE ${SEPTET_WARNINGS})
target_compile_definitions(septet_shared PRIVATE SEPTET_VERSION="${PROJECT_VERSION}")
target_include_directories(septet_shared
  PUBLIC $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include> $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>
  PRIVATE ${PROJECT_SOURCE_DIR}/src)
target_link_libraries(septet_shared PRIVATE septet_runtime)
target_link_options(septet_shared PRIVATE "LINKER:--version-script=${SEPTET_CAPI_MAP}" "LINKER:--no-undefined")

# ---- install: cmake --install <build> --prefix P ----
# The C++ header (septet.h) is not installed: libseptet.so exports no C++ symbol.
install(TARGETS septet_shared EXPORT septetTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${PROJECT_SOURCE_DIR}/include/septet/septet_c.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/septet)
install(EXPORT septetTargets NAMESPACE septet:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/septet)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/capi/septetConfig.cmake.in
  ${PROJECT_BINARY_DIR}/capi/septetConfig.cmake INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/septet)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/capi/septetConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/capi/septetConfig.cmake ${PROJECT_BINARY_DIR}/capi/septetConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/septet)
# pkg-config: prefix relative to the .pc file, so the installed tree can move.
file(RELATIVE_PATH SEPTET_PC_TO_PREFIX /p/${CMAKE_INSTALL_LIBDIR}/pkgconfig /p)
string(REGEX REPLACE "/$" "" SEPTET_PC_TO_PREFIX "${SEPTET_PC_TO_PREFIX}")
configure_file(${PROJECT_SOURCE_DIR}/cmake/capi/septet.pc.in ${PROJECT_BINARY_DIR}/capi/septet.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/capi/septet.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# ---- tests ----
if(SEPTET_BUILD_TESTS)
  if(DEFINED ENV{SEPTET_SHARED})
    set(SEPTET_SHARED_DIR_DEFAULT $ENV{SEPTET_SHARED})
  else()
    get_filename_component(SEPTET_SHARED_DIR_DEFAULT ${PROJECT_SOURCE_DIR}/../shared ABSOLUTE)
  endif()
  set(SEPTET_SHARED_DIR ${SEPTET_SHARED_DIR_DEFAULT} CACHE PATH "shared assets (models) the C API tests read")
  set(SEPTET_STORIES ${SEPTET_SHARED_DIR}/models/stories260K/stories260K.bin)

  # The C API from a C11 program (oracle ids, misuse, buffer sizes).
  add_executable(septet_capi_c_test ${PROJECT_SOURCE_DIR}/tests/capi/capi_test.c)
  set_target_properties(septet_capi_c_test PROPERTIES C_STANDARD 11 C_STANDARD_REQUIRED ON C_EXTENSIONS OFF)
  target_compile_options(septet_capi_c_test PRIVATE ${SEPTET_WARNINGS} -pedantic)
  target_link_libraries(septet_capi_c_test PRIVATE septet_shared Threads::Threads m)
  add_test(NAME CApi.C11Program COMMAND septet_capi_c_test ${SEPTET_STORIES})
  set_tests_properties(CApi.C11Program PROPERTIES TIMEOUT 120)

  # Only septet_* symbols leave libseptet.so.
  add_test(NAME CApi.ExportsOnlySeptetSymbols
    COMMAND ${CMAKE_COMMAND} -DLIB=$<TARGET_FILE:septet_shared> -DHEADER=${PROJECT_SOURCE_DIR}/include/septet/septet_c.h -P ${PROJECT_SOURCE_DIR}/cmake/capi/check_exports.cmake)
  set_tests_properties(CApi.ExportsOnlySeptetSymbols PROPERTIES TIMEOUT 60)

  # Install into a temp prefix, build a C consumer with pkg-config and with find_package, run both.
  add_test(NAME CApi.InstallAndConsume
    COMMAND ${CMAKE_COMMAND} -DBUILD_DIR=${PROJECT_BINARY_DIR} -DSOURCE_DIR=${PROJECT_SOURCE_DIR}
      -DWORK_DIR=${PROJECT_BINARY_DIR}/capi/install-test -DMODEL=${SEPTET_STORIES}
      -DCMAKE_EXE=${CMAKE_COMMAND} -DGENERATOR=${CMAKE_GENERATOR} -DCC=${CMAKE_C_COMPILER} -DSANITIZE=${SEPTET_SANITIZE}
      -P ${PROJECT_SOURCE_DIR}/cmake/capi/install_test.cmake)
  set_tests_properties(CApi.InstallAndConsume PROPERTIES TIMEOUT 300)

  include(${PROJECT_SOURCE_DIR}/bindings/bindings.cmake OPTIONAL)
endif()
