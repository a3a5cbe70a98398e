# The lwd:: wrappers of the distribution libraries the project links
# (CMakeLists.txt, "how the executables link"): lwd::blas, lwd::lapack
# (LAPACK with LAPACKE), and outside LW_KERNELS_ONLY lwd::hdf5, lwd::sqlite,
# lwd::yaml. A target whose LW_LINK_STATIC_DEPS property is true links the
# static archives (when LW_STATIC_DEPS is on and the archive is installed);
# every other target the shared libraries.

set(_lw_static "$<BOOL:$<TARGET_PROPERTY:LW_LINK_STATIC_DEPS>>")

# The static archive beside a shared library path (libX.so -> libX.a), or "".
function(lwd_static_archive out shared_path)
  set(${out} "" PARENT_SCOPE)
  if(shared_path MATCHES "\\.so(\\.[0-9.]+)?$")
    string(REGEX REPLACE "\\.so(\\.[0-9.]+)?$" ".a" archive "${shared_path}")
    if(EXISTS "${archive}")
      set(${out} "${archive}" PARENT_SCOPE)
    endif()
  endif()
endfunction()

# lwd_dependency(NAME SHARED items... STATIC items...): STATIC's first item is
# the archive ("" when there is none: then every target links SHARED).
function(lwd_dependency name)
  cmake_parse_arguments(ARG "" "" "SHARED;STATIC" ${ARGN})
  add_library(lwd_dep_${name} INTERFACE)
  add_library(lwd::${name} ALIAS lwd_dep_${name})
  list(GET ARG_STATIC 0 archive)
  if(NOT LW_STATIC_DEPS OR archive STREQUAL "")
    if(LW_STATIC_DEPS)
      message(STATUS "LW_STATIC_DEPS: no static archive for ${name}; lwdock links the shared library")
    endif()
    target_link_libraries(lwd_dep_${name} INTERFACE ${ARG_SHARED})
    return()
  endif()
  foreach(item IN LISTS ARG_SHARED)
    target_link_libraries(lwd_dep_${name} INTERFACE "$<$<NOT:${_lw_static}>:${item}>")
  endforeach()
  foreach(item IN LISTS ARG_STATIC)
    target_link_libraries(lwd_dep_${name} INTERFACE "$<${_lw_static}:${item}>")
  endforeach()
endfunction()

# OpenBLAS's archive holds LAPACK too; its Fortran parts need libgfortran.
list(GET BLAS_LIBRARIES 0 _lw_blas_shared)
lwd_static_archive(_lw_blas_archive "${_lw_blas_shared}")
lwd_dependency(blas SHARED BLAS::BLAS STATIC "${_lw_blas_archive}" gfortran OpenMP::OpenMP_CXX pthread m)
lwd_static_archive(_lw_lapacke_archive "${LW_LAPACKE_LIBRARY}")
if(_lw_blas_archive STREQUAL "")
  set(_lw_lapacke_archive "")  # a static LAPACKE needs the static LAPACK
endif()
lwd_dependency(lapack SHARED ${LW_LAPACKE_LIBRARY} LAPACK::LAPACK BLAS::BLAS
               STATIC "${_lw_lapacke_archive}" "${_lw_blas_archive}" gfortran OpenMP::OpenMP_CXX pthread m)

if(NOT LW_KERNELS_ONLY)
  # HDF5's archive needs szip (libaec) and zlib, which stay shared.
  set(_lw_hdf5_shared "")
  foreach(lib IN LISTS HDF5_C_LIBRARIES)
    if(lib MATCHES "/libhdf5(_serial)?\\.so")
      set(_lw_hdf5_shared "${lib}")
    endif()
  endforeach()
  lwd_static_archive(_lw_hdf5_archive "${_lw_hdf5_shared}")
  lwd_dependency(hdf5 SHARED hdf5::hdf5 STATIC "${_lw_hdf5_archive}" sz z dl m)
  target_include_directories(lwd_dep_hdf5 INTERFACE ${HDF5_INCLUDE_DIRS})
  lwd_static_archive(_lw_sqlite_archive "${SQLite3_LIBRARIES}")
  lwd_dependency(sqlite SHARED SQLite::SQLite3 STATIC "${_lw_sqlite_archive}" dl pthread m)
  target_include_directories(lwd_dep_sqlite INTERFACE ${SQLite3_INCLUDE_DIRS})
  find_library(LW_YAML_CPP_ARCHIVE NAMES libyaml-cpp.a)
  if(NOT LW_YAML_CPP_ARCHIVE)
    set(LW_YAML_CPP_ARCHIVE "")
  endif()
  lwd_dependency(yaml SHARED yaml-cpp STATIC "${LW_YAML_CPP_ARCHIVE}")
  get_target_property(_lw_yaml_includes yaml-cpp INTERFACE_INCLUDE_DIRECTORIES)
  if(_lw_yaml_includes)
    target_include_directories(lwd_dep_yaml INTERFACE ${_lw_yaml_includes})
  endif()
endif()

# jemalloc for lwdock (LW_JEMALLOC): the PIC archive, since lwdock is a
# position-independent executable; a missing archive is an error, not a
# silent fallback to glibc's allocator.
if(LW_JEMALLOC AND NOT LW_KERNELS_ONLY)
  find_library(LW_JEMALLOC_ARCHIVE NAMES libjemalloc_pic.a)
  find_path(LW_JEMALLOC_INCLUDE_DIR NAMES jemalloc/jemalloc.h)
  if(NOT LW_JEMALLOC_ARCHIVE OR NOT LW_JEMALLOC_INCLUDE_DIR)
    message(FATAL_ERROR "LW_JEMALLOC: libjemalloc_pic.a or jemalloc/jemalloc.h not found "
                        "(install libjemalloc-dev, or configure with -DLW_JEMALLOC=OFF)")
  endif()
  add_library(lwd_dep_jemalloc INTERFACE)
  add_library(lwd::jemalloc ALIAS lwd_dep_jemalloc)
  target_link_libraries(lwd_dep_jemalloc INTERFACE "${LW_JEMALLOC_ARCHIVE}" pthread dl m)
  target_include_directories(lwd_dep_jemalloc INTERFACE "${LW_JEMALLOC_INCLUDE_DIR}")
  target_compile_definitions(lwd_dep_jemalloc INTERFACE LWD_JEMALLOC=1)
endif()
