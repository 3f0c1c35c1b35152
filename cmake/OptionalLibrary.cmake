# Optional comparison libraries (OpenBLAS, oneDNN) must never break the configure. A package's own
# CMake files can abort it even under QUIET: Debian's oneDNN config calls find_package(OpenCL
# REQUIRED), and libdnnl-dev only recommends the OpenCL headers. So each library is first found and
# linked by a throw-away project (cmake/probe) in a separate CMake process; only when that succeeds
# is it found here. A failure turns the library's comparison off with one line saying why.
#   infercost_probe_library(<name> <result-var>)   name: openblas | dnnl
function(infercost_probe_library name result)
  set(dir ${CMAKE_BINARY_DIR}/probe-${name})
  execute_process(COMMAND ${CMAKE_COMMAND} -S ${PROJECT_SOURCE_DIR}/cmake/probe -B ${dir}
                          -DPROBE_LIBRARY=${name} -DCMAKE_CXX_COMPILER=${CMAKE_CXX_COMPILER}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE log ERROR_VARIABLE log)
  if(rc EQUAL 0)
    execute_process(COMMAND ${CMAKE_COMMAND} --build ${dir}
                    RESULT_VARIABLE rc OUTPUT_VARIABLE log ERROR_VARIABLE log)
  endif()
  if(rc EQUAL 0)
    set(${result} TRUE PARENT_SCOPE)
    return()
  endif()
  string(REGEX MATCH "Could NOT find [^\n]*|fatal error: [^\n]*|undefined reference [^\n]*" why "${log}")
  if(NOT why)
    set(why "its probe failed, see ${dir}")
  endif()
  message(STATUS "infercost: ${name} comparison off: ${why}")
  set(${result} FALSE PARENT_SCOPE)
endfunction()
