// The learnware index in a PostgreSQL database (libpqxx). The connection is
// built in a module of its own, loaded on first use (postgres_module.h); the
// functions below load it and throw lwd::Error when it cannot be found.
//
// The same tables and statements as the SQLite index (sql_index.h); what the
// server adds is that processes on several machines can share one index, and
// a read-only replica can answer the reads (index_url.h, IndexUrls). Each
// change runs in a READ COMMITTED transaction; the counters are bumped by
// single UPDATE ... RETURNING statements, whose row lock serialises
// concurrent reservations, so ids stay unique and increasing across
// processes. Migrations take a transaction-scoped advisory lock, so two
// processes opening a fresh database at once do not both create the tables.
// Every change sends a NOTIFY on the channel lwdock_index_change as it
// commits, which a connection waiting for changes (wait_for_change) LISTENs to.
//
// Text goes to the server as UTF-8. Bytes of a name or owner that are not
// UTF-8 (a package's manifest is not checked for it) are stored as U+FFFD,
// which is how every listing prints them anyway; SQLite keeps them as given.
#pragma once

#include <memory>
#include <string_view>

#include "engine/store/learnware_index.h"
#include "engine/store/sql_index.h"

namespace lwd {

// `url`: postgresql://... or postgres://... (index_url.h). Throws lwd::Error
// naming the database (without password) when the URL is malformed, the
// server cannot be reached or refuses the login, or the schema is newer.
std::unique_ptr<LearnwareIndex> open_postgres_index(std::string_view url, IndexAccess access = IndexAccess::read_write);

// The bare connection (no schema check), for tests that build databases of
// earlier schema versions.
std::unique_ptr<SqlConnection> open_postgres_connection(std::string_view url, IndexAccess access);

}  // namespace lwd
