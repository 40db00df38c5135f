# zae_test(NAME SOURCES ... LIBS ...): one GoogleTest binary per subsystem,
# registered with CTest test-by-test. Tests find shared data through
# ZAE_SOURCE_DIR.
function(zae_test name)
  if(NOT ZAE_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(T "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} GTest::gtest GTest::gtest_main Threads::Threads)
  target_compile_definitions(${name} PRIVATE ZAE_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
                                             ZAE_BINARY_DIR="${PROJECT_BINARY_DIR}")
  gtest_discover_tests(${name} DISCOVERY_MODE PRE_TEST DISCOVERY_TIMEOUT 60
                       PROPERTIES ENVIRONMENT_MODIFICATION "ZAE_SOURCE_DIR=set:${PROJECT_SOURCE_DIR}")
endfunction()

# zae_library(NAME SOURCES ... DEPS ...): a static library of one subsystem.
function(zae_library name)
  cmake_parse_arguments(L "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${L_SOURCES})
  if(ZAE_COVERAGE)
    # Atomic counters: several tests run threads, and their counts must add up.
    target_compile_options(${name} PRIVATE --coverage -fprofile-update=atomic)
  endif()
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR}/include ${ZAE_GENERATED_INCLUDE_DIR}
                                                 ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(${name} PUBLIC ${L_DEPS})
endfunction()
