// Where a market keeps its learnware index, given as a URL:
//
//   sqlite:PATH                                           a SQLite file (sqlite_index.h)
//   postgresql://user[:password]@host[:port]/dbname[?k=v&...]
//   postgres://...                                        a PostgreSQL database (postgres_index.h)
//
// The PostgreSQL form is libpq's own connection URI, restricted to what a
// market needs: a user, one or more host[:port] (comma-separated; libpq tries
// them in turn), a database name, and libpq parameters after '?' (sslmode,
// connect_timeout, options=-csearch_path%3Dmarket_a for a schema of its own...).
// Reserved characters in the password or names are percent-encoded ("%40" for '@').
// A URL is checked whole before anything connects, so a typo is one error
// line, never a connection attempt somewhere unexpected; no message ever
// shows a password (redact_index_url).
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "engine/store/learnware_index.h"
#include "engine/store/sql_index.h"

namespace lwd {

// The databases of a market: `db` takes every change and id reservation,
// `read_db` (a replica of it, say) answers the loads of the learnware table.
// Empty db: the market directory's own index.sqlite; empty read_db: reads go
// to db too. docs/DESIGN.md "Storage backends" says what is read where.
struct IndexUrls {
  std::string db;
  std::string read_db;
};

struct ParsedIndexUrl {
  enum class Backend { sqlite, postgresql };
  Backend backend = Backend::sqlite;
  std::filesystem::path sqlite_path;  // sqlite: the file
  std::string conninfo;               // postgresql: the URL as libpq reads it
  std::string display;                // the database as messages name it: no password, no parameters
  std::string password;               // postgresql: decoded, to keep it out of server messages ("" if none)
};

// Throws lwd::Error (one line, the URL redacted) for a malformed URL.
ParsedIndexUrl parse_index_url(std::string_view url);

// The URL with any password replaced by "***", also for malformed URLs.
std::string redact_index_url(std::string_view url);

// The index the URL names; an empty URL is `default_sqlite_path`.
std::unique_ptr<LearnwareIndex> open_learnware_index(std::string_view url,
                                                     const std::filesystem::path& default_sqlite_path,
                                                     IndexAccess access = IndexAccess::read_write);

}  // namespace lwd
