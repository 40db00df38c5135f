# What `cmake --install` and CPack ship (docs/install.md):
#
#   include/zae/*.h          the public API, and the generated zae/version.h
#   lib/libzae_limiter.a     one library (shared with -DBUILD_SHARED_LIBS=ON)
#   lib/cmake/zae_limiter/   find_package(zae_limiter CONFIG) -> zae::limiter
#   lib/pkgconfig/zae-limiter.pc
#   bin/zae-limiter
#
# The library is the subsystem libraries a program needs to use the public
# headers, merged: core, store, the three backends, the DynamoDB client, the
# limiter, and OpenStore (declared in zae/store.h). Merging keeps the
# subsystem split an internal matter: consumers link one name, and no header
# from src/ is reachable from an installed one.

set(ZAE_INSTALLED_PARTS
    zae_core zae_store zae_store_memory zae_store_sqlite zae_store_dynamodb zae_aws
    zae_limiter zae_store_url zae_open_store)

set(zae_objects)
foreach(part IN LISTS ZAE_INSTALLED_PARTS)
  list(APPEND zae_objects $<TARGET_OBJECTS:${part}>)
endforeach()
# STATIC or SHARED follows BUILD_SHARED_LIBS.
add_library(zae_installed ${zae_objects})
add_library(zae::limiter ALIAS zae_installed)
set_target_properties(zae_installed PROPERTIES
  OUTPUT_NAME zae_limiter
  EXPORT_NAME limiter
  VERSION ${PROJECT_VERSION}
  SOVERSION ${PROJECT_VERSION_MAJOR})
target_include_directories(zae_installed PUBLIC
  $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
  $<BUILD_INTERFACE:${ZAE_GENERATED_INCLUDE_DIR}>
  $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
target_compile_features(zae_installed PUBLIC cxx_std_20)
# What the merged objects call. For the static library these become the
# consumer's link dependencies; cmake/zae_limiterConfig.cmake.in finds them.
target_link_libraries(zae_installed PRIVATE SQLite::SQLite3 OpenSSL::SSL OpenSSL::Crypto
                                            LibXml2::LibXml2 Threads::Threads)

install(TARGETS zae_installed EXPORT zae_limiterTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/zae
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  FILES_MATCHING PATTERN "*.h")
install(FILES ${ZAE_GENERATED_INCLUDE_DIR}/zae/version.h
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/zae)

include(CMakePackageConfigHelpers)
set(zae_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/zae_limiter)
install(EXPORT zae_limiterTargets NAMESPACE zae:: DESTINATION ${zae_cmake_dir})
configure_package_config_file(
  ${PROJECT_SOURCE_DIR}/cmake/templates/zae_limiterConfig.cmake.in
  ${PROJECT_BINARY_DIR}/zae_limiterConfig.cmake
  INSTALL_DESTINATION ${zae_cmake_dir})
# Semantic versioning: a 1.x consumer accepts any 1.y >= its request.
write_basic_package_version_file(
  ${PROJECT_BINARY_DIR}/zae_limiterConfigVersion.cmake
  COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/zae_limiterConfig.cmake
              ${PROJECT_BINARY_DIR}/zae_limiterConfigVersion.cmake
  DESTINATION ${zae_cmake_dir})

# pkg-config: a static library must name what it links in Libs/Requires;
# a shared one keeps them private.
if(BUILD_SHARED_LIBS)
  set(ZAE_PC_REQUIRES "")
  set(ZAE_PC_REQUIRES_PRIVATE "sqlite3 libssl libcrypto libxml-2.0")
  set(ZAE_PC_LIBS_PRIVATE "-pthread")
  set(ZAE_PC_LIBS_EXTRA "")
else()
  set(ZAE_PC_REQUIRES "sqlite3 libssl libcrypto libxml-2.0")
  set(ZAE_PC_REQUIRES_PRIVATE "")
  set(ZAE_PC_LIBS_PRIVATE "")
  set(ZAE_PC_LIBS_EXTRA " -pthread")
endif()
file(RELATIVE_PATH ZAE_PC_TO_PREFIX /p/${CMAKE_INSTALL_LIBDIR}/pkgconfig /p)
configure_file(${PROJECT_SOURCE_DIR}/cmake/templates/zae-limiter.pc.in
               ${PROJECT_BINARY_DIR}/zae-limiter.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/zae-limiter.pc
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# A Debian package of everything above: `cpack -G DEB` in the build
# directory writes zae-limiter_<version>_<arch>.deb. dpkg-shlibdeps computes
# the runtime dependencies of the command (libsqlite3-0, libssl3,
# libxml2, libyaml-cpp0.7, libstdc++6, ...); the -dev packages are what a program
# linking the static library needs, so they are recommended.
set(CPACK_PACKAGE_NAME zae-limiter)
set(CPACK_PACKAGE_VENDOR "zae-limiter-cpp developers")
set(CPACK_PACKAGE_CONTACT "zae-limiter-cpp developers <noreply@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "Distributed rate limiter (token buckets on SQLite, memory or DynamoDB)")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "libsqlite3-dev, libssl-dev, libxml2-dev")
set(CPACK_GENERATOR DEB)
include(CPack)
