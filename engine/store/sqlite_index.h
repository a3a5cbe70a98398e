// The learnware index in a SQLite file (the dock's default backend).
//
// The database runs in WAL mode, so readers in other processes keep reading
// while one writer commits, with a busy timeout instead of immediate
// "database is locked" failures. A `schema_version` table records the layout
// (sql_index.h migrates it on open); a file written by a newer program is
// refused instead of misread.
#pragma once

#include <filesystem>
#include <memory>

#include "engine/store/learnware_index.h"
#include "engine/store/sql_index.h"

namespace lwd {

// Opens (creating if absent, with read_write) the index at `path`. Throws
// lwd::Error naming the file if it is not a SQLite database, is damaged, or
// has a newer schema.
std::unique_ptr<LearnwareIndex> open_sqlite_index(const std::filesystem::path& path,
                                                  IndexAccess access = IndexAccess::read_write);

// The bare connection (no schema check), for building databases of earlier
// schema versions in tests.
std::unique_ptr<SqlConnection> open_sqlite_connection(const std::filesystem::path& path, IndexAccess access);

}  // namespace lwd
