// The PostgreSQL backend is a module of its own (liblwd_postgres.so, built
// from postgres_index.cpp), loaded with dlopen by the first open of a
// postgresql:// URL (index_open.cpp). libpq brings 23 shared libraries with it
// (Kerberos, LDAP, GnuTLS, ...): linked into lwdock they cost every command
// about 9 ms of process start, also the great majority that never speak to
// PostgreSQL (bench/README.md, "Whole commands").
//
// The module exports one C function, LWD_POSTGRES_MODULE_ENTRY; the loader and
// the module are built together from one tree, and the entry's name carries
// the interface's version, so a module from another build is refused by name
// rather than misread. The connection it returns is an lwd::SqlConnection
// whose methods throw lwd::Error like any other; the loader owns it.
#pragma once

#include <string>

#include "engine/store/sql_index.h"

// Bump the suffix whenever SqlConnection or the entry's signature changes.
#define LWD_POSTGRES_MODULE_ENTRY lwd_postgres_open_connection_v1
#define LWD_POSTGRES_MODULE_ENTRY_NAME "lwd_postgres_open_connection_v1"
#define LWD_POSTGRES_MODULE_EXPORT __attribute__((visibility("default")))

// access: 0 read-write, 1 read-only (IndexAccess). Returns a connection the
// caller deletes, or nullptr with the reason (naming the database, never its
// password) in *error.
extern "C" lwd::SqlConnection* LWD_POSTGRES_MODULE_ENTRY(const char* url, int access, std::string* error) noexcept;
