// A connection to a market's database for the layers above the engine that
// keep tables of their own beside the learnware index (the dock service's
// accounts and job queue): the same URL forms as index_url.h, the same
// backends, the same SqlConnection (sql_index.h) with its $1 parameters.
#pragma once

#include <filesystem>
#include <memory>
#include <string_view>

#include "engine/store/index_url.h"
#include "engine/store/sql_index.h"

namespace lwd {

// The database `url` names; an empty URL is the SQLite file
// `default_sqlite_path` (a market's own index.sqlite). Throws lwd::Error,
// the URL redacted, when it is malformed or cannot be reached.
std::unique_ptr<SqlConnection> open_database_connection(std::string_view url,
                                                        const std::filesystem::path& default_sqlite_path,
                                                        IndexAccess access = IndexAccess::read_write);

}  // namespace lwd
