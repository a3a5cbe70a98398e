// Tables of the dock service beside the learnware index, in the same
// database (so server replicas and workers share them): each component
// (accounts, the job queue, ...) declares its migrations here and is brought
// to its latest version on open, in one transaction, under the database's
// schema lock. A database whose component is newer than this program is
// refused untouched, as the learnware index is.
//
// Versions are kept per component in service_schema(component, version);
// a migration's statements run in order and must work on SQLite and on
// PostgreSQL alike (TEXT, BIGINT, $1 parameters).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "engine/store/sql_index.h"

namespace lwd::service {

struct ServiceMigration {
  int version;                          // 1, 2, ... in order
  std::vector<std::string> statements;  // run in order in one transaction
};

// The version of `component` in the database: 0 when it has none yet.
int service_schema_version(SqlConnection& db, std::string_view component);

// Applies the migrations of `component` above its stored version, all in one
// transaction. Throws lwd::Error, changing nothing, when the stored version is
// above the last migration's (a newer program wrote it).
void migrate_service_schema(SqlConnection& db, std::string_view component,
                            const std::vector<ServiceMigration>& migrations);

}  // namespace lwd::service
