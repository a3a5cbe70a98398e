# Module libraries whose headers only their dependents can include.
#
# Sources keep their place in the tree and are included by their path from the
# repository root ("engine/store/market_store.h"), but the root itself is no
# include directory. Each target instead gets a folder of its own in the build
# tree that holds a symbolic link to each of its source folders only
# (build/include/lwd_engine_store/engine/store -> engine/store), and that folder
# is its PUBLIC include directory. A file can therefore include the headers of
# its own target and of the targets it links, directly or transitively, and an
# #include of any other module's header fails to compile.

# lwd_target_headers(<target> <PUBLIC|PRIVATE|INTERFACE> <path>...)
#   Makes the headers under each <path> (a folder or a file, relative to the
#   repository root) includable by that path, for <target> and, with PUBLIC or
#   INTERFACE, for whatever links it.
function(lwd_target_headers target scope)
  set(dir ${CMAKE_BINARY_DIR}/include/${target})
  # Links dropped from the list since the last configure go too (REMOVE_RECURSE
  # removes a link to a folder, not what it points to).
  file(REMOVE_RECURSE ${dir})
  foreach(path IN LISTS ARGN)
    if(NOT EXISTS ${PROJECT_SOURCE_DIR}/${path})
      message(FATAL_ERROR "lwd_target_headers(${target}): ${path} does not exist")
    endif()
    cmake_path(GET path PARENT_PATH parent)
    file(MAKE_DIRECTORY ${dir}/${parent})
    file(CREATE_LINK ${PROJECT_SOURCE_DIR}/${path} ${dir}/${path} SYMBOLIC)
  endforeach()
  target_include_directories(${target} ${scope} ${dir})
endfunction()

# lwd_add_library(lwd_<name>
#                 [SOURCES <file>...]
#                 [HEADERS <path>...]
#                 [PUBLIC <target>...] [PRIVATE <target>...])
#   Adds library lwd_<name> and its alias lwd::<name> (link the alias). With no
#   SOURCES it is an INTERFACE library and PUBLIC means INTERFACE. HEADERS are
#   the folders / files (relative to the repository root) whose headers the
#   library owns; a library with SOURCES owns the folder of the calling
#   CMakeLists.txt unless HEADERS says otherwise, one without owns none.
function(lwd_add_library name)
  cmake_parse_arguments(PARSE_ARGV 1 ARG "" "" "SOURCES;HEADERS;PUBLIC;PRIVATE")
  if(ARG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "lwd_add_library(${name}): unexpected arguments ${ARG_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT name MATCHES "^lwd_(.+)$")
    message(FATAL_ERROR "lwd_add_library(${name}): library names start with lwd_")
  endif()
  set(alias lwd::${CMAKE_MATCH_1})
  if(ARG_SOURCES)
    add_library(${name} ${ARG_SOURCES})
    set(scope PUBLIC)
    if(NOT DEFINED ARG_HEADERS AND NOT "HEADERS" IN_LIST ARG_KEYWORDS_MISSING_VALUES)
      cmake_path(RELATIVE_PATH CMAKE_CURRENT_SOURCE_DIR BASE_DIRECTORY ${PROJECT_SOURCE_DIR}
                 OUTPUT_VARIABLE ARG_HEADERS)
    endif()
  else()
    add_library(${name} INTERFACE)
    set(scope INTERFACE)
    if(ARG_PRIVATE)
      message(FATAL_ERROR "lwd_add_library(${name}): a library without SOURCES has no PRIVATE links")
    endif()
  endif()
  add_library(${alias} ALIAS ${name})
  if(ARG_HEADERS)
    lwd_target_headers(${name} ${scope} ${ARG_HEADERS})
  endif()
  target_link_libraries(${name} ${scope} ${ARG_PUBLIC})
  if(ARG_PRIVATE)
    target_link_libraries(${name} PRIVATE ${ARG_PRIVATE})
  endif()
endfunction()
