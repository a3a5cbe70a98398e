#include "service/service_schema.h"

#include <string>

#include "engine/error.h"

namespace lwd::service {
namespace {

constexpr const char* kCreateTable =
    "CREATE TABLE IF NOT EXISTS service_schema (component TEXT PRIMARY KEY, version BIGINT NOT NULL)";

std::string newer_message(SqlConnection& db, std::string_view component, int found, int known) {
  return db.name() + ": the service's " + std::string(component) + " tables have schema version " +
         std::to_string(found) + ", newer than this program's (" + std::to_string(known) +
         "); use a newer lwdock";
}

}  // namespace

int service_schema_version(SqlConnection& db, std::string_view component) {
  if (!db.has_table("service_schema")) return 0;
  const SqlResult r = db.run("SELECT version FROM service_schema WHERE component = $1", {std::string(component)});
  if (r.rows.empty()) return 0;
  return std::stoi(r.rows.front().front());
}

void migrate_service_schema(SqlConnection& db, std::string_view component,
                            const std::vector<ServiceMigration>& migrations) {
  const int known = migrations.empty() ? 0 : migrations.back().version;
  for (std::size_t i = 0; i < migrations.size(); ++i) {
    if (migrations[i].version != static_cast<int>(i) + 1) {
      throw Error("internal error: the " + std::string(component) + " migrations are not numbered 1, 2, ...");
    }
  }
  // A look before any write: the usual open finds the tables current and takes no lock.
  int found = service_schema_version(db, component);
  if (found > known) throw Error(newer_message(db, component, found, known));
  if (found == known) return;
  db.begin();
  try {
    db.lock_schema();
    db.run(kCreateTable);
    found = service_schema_version(db, component);  // another process may have migrated meanwhile
    if (found > known) throw Error(newer_message(db, component, found, known));
    for (const ServiceMigration& migration : migrations) {
      if (migration.version <= found) continue;
      for (const std::string& sql : migration.statements) db.run(sql);
    }
    if (found < known) {
      db.run("DELETE FROM service_schema WHERE component = $1", {std::string(component)});
      db.run("INSERT INTO service_schema (component, version) VALUES ($1, $2)",
             {std::string(component), std::int64_t{known}});
    }
    db.commit();
  } catch (...) {
    db.rollback();
    throw;
  }
}

}  // namespace lwd::service
