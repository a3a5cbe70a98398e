#include "engine/store/index_url.h"

#include <cctype>
#include <charconv>
#include <vector>

#include "engine/error.h"

namespace lwd {
namespace {

constexpr const char* kForms = "use sqlite:PATH or postgresql://user[:password]@host[:port]/dbname[?param=value&...]";

[[noreturn]] void malformed(std::string_view url, const std::string& problem) {
  throw Error("database URL \"" + redact_index_url(url) + "\": " + problem);
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decodes one part of the URL; `what` names the part for the error.
std::string decode(std::string_view url, std::string_view part, const char* what) {
  std::string out;
  for (std::size_t i = 0; i < part.size(); ++i) {
    const auto c = static_cast<unsigned char>(part[i]);
    if (c <= ' ' || c == 0x7f) malformed(url, std::string("the ") + what + " holds a space or control character");
    if (c != '%') {
      out += static_cast<char>(c);
      continue;
    }
    const int high = i + 2 < part.size() ? hex_digit(part[i + 1]) : -1;
    const int low = i + 2 < part.size() ? hex_digit(part[i + 2]) : -1;
    if (high < 0 || low < 0) malformed(url, std::string("the ") + what + " has a '%' not followed by two hex digits");
    out += static_cast<char>(high * 16 + low);
    i += 2;
  }
  return out;
}

void check_host_and_port(std::string_view url, std::string_view hostport) {
  std::string_view host = hostport;
  std::string_view port;
  if (!hostport.empty() && hostport.front() == '[') {
    const auto close = hostport.find(']');
    if (close == std::string_view::npos) malformed(url, "an IPv6 host lacks its closing ']'");
    host = hostport.substr(1, close - 1);
    const auto rest = hostport.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') malformed(url, "unexpected text after the IPv6 host");
      port = rest.substr(1);
      if (port.empty()) malformed(url, "the port after ':' is empty");
    }
  } else if (const auto colon = hostport.find(':'); colon != std::string_view::npos) {
    host = hostport.substr(0, colon);
    port = hostport.substr(colon + 1);
    if (port.empty()) malformed(url, "the port after ':' is empty");
  }
  if (host.empty()) malformed(url, "names no host (postgresql://user@HOST/dbname)");
  decode(url, host, "host");
  if (!port.empty()) {
    int value = 0;
    const auto res = std::from_chars(port.data(), port.data() + port.size(), value);
    if (res.ec != std::errc() || res.ptr != port.data() + port.size() || value < 1 || value > 65535) {
      malformed(url, "port \"" + std::string(port) + "\" is not a number from 1 to 65535");
    }
  }
}

ParsedIndexUrl parse_postgres(std::string_view url, std::size_t scheme_length) {
  ParsedIndexUrl parsed;
  parsed.backend = ParsedIndexUrl::Backend::postgresql;
  std::string_view rest = url.substr(scheme_length);
  std::string_view query;
  if (const auto q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  const auto slash = rest.find('/');
  if (slash == std::string_view::npos || slash + 1 == rest.size()) {
    malformed(url, "names no database (postgresql://user@host/DBNAME)");
  }
  const std::string_view authority = rest.substr(0, slash);
  const std::string_view dbname = rest.substr(slash + 1);
  if (dbname.find('/') != std::string_view::npos) malformed(url, "the database name holds a '/'");
  decode(url, dbname, "database name");

  // The first '@' ends the user and password, as libpq reads it.
  const auto at = authority.find('@');
  if (at == std::string_view::npos) malformed(url, "names no user (postgresql://USER[:password]@host/dbname)");
  const std::string_view userinfo = authority.substr(0, at);
  const std::string_view hosts = authority.substr(at + 1);
  if (hosts.find('@') != std::string_view::npos) {
    malformed(url, "an '@' in the user or password must be written %40");
  }
  const auto colon = userinfo.find(':');
  const std::string_view user = userinfo.substr(0, colon);
  if (user.empty()) malformed(url, "names no user (postgresql://USER[:password]@host/dbname)");
  decode(url, user, "user");
  if (colon != std::string_view::npos) parsed.password = decode(url, userinfo.substr(colon + 1), "password");

  if (hosts.empty()) malformed(url, "names no host (postgresql://user@HOST/dbname)");
  std::size_t start = 0;
  for (;;) {
    const auto comma = hosts.find(',', start);
    check_host_and_port(url, hosts.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }

  if (!query.empty() || url.find('?') != std::string_view::npos) {
    std::size_t begin = 0;
    for (;;) {
      const auto amp = query.find('&', begin);
      const std::string_view pair = query.substr(begin, amp == std::string_view::npos ? std::string_view::npos : amp - begin);
      const auto eq = pair.find('=');
      if (eq == std::string_view::npos || eq == 0) {
        malformed(url, "parameter \"" + std::string(pair.substr(0, eq)) + "\" is not written name=value");
      }
      for (char c : pair.substr(0, eq)) {
        if (!(std::islower(static_cast<unsigned char>(c)) || c == '_')) {
          malformed(url, "parameter name \"" + std::string(pair.substr(0, eq)) + "\" is not a libpq parameter name");
        }
      }
      const std::string value = decode(url, pair.substr(eq + 1), "parameter value");
      if (pair.substr(0, eq) == "password") parsed.password = value;
      if (amp == std::string_view::npos) break;
      begin = amp + 1;
    }
  }

  parsed.conninfo = std::string(url);
  parsed.display = std::string(url.substr(0, scheme_length)) + std::string(user) + "@" + std::string(hosts) + "/" +
                   std::string(dbname);
  return parsed;
}

}  // namespace

std::string redact_index_url(std::string_view url) {
  std::string out(url);
  const auto scheme_end = out.find("://");
  if (scheme_end == std::string::npos) return out;
  const std::size_t start = scheme_end + 3;
  const auto authority_end = out.find_first_of("/?", start);
  const auto at = out.rfind('@', authority_end == std::string::npos ? std::string::npos : authority_end);
  if (at != std::string::npos && at >= start) {
    const auto colon = out.find(':', start);
    if (colon < at) out.replace(colon + 1, at - colon - 1, "***");
  }
  // libpq also takes the password as a parameter.
  for (std::size_t pos = out.find("password="); pos != std::string::npos; pos = out.find("password=", pos + 1)) {
    if (pos > 0 && out[pos - 1] != '?' && out[pos - 1] != '&') continue;
    const std::size_t value = pos + 9;
    const auto end = out.find('&', value);
    out.replace(value, (end == std::string::npos ? out.size() : end) - value, "***");
  }
  return out;
}

ParsedIndexUrl parse_index_url(std::string_view url) {
  if (url.empty()) malformed(url, std::string("is empty; ") + kForms);
  for (const char* scheme : {"postgresql://", "postgres://"}) {
    const std::string_view prefix(scheme);
    if (url.substr(0, prefix.size()) == prefix) return parse_postgres(url, prefix.size());
  }
  const std::string_view sqlite = "sqlite:";
  if (url.substr(0, sqlite.size()) == sqlite) {
    const std::string_view path = url.substr(sqlite.size());
    if (path.empty()) malformed(url, "names no file (sqlite:PATH)");
    if (path.substr(0, 2) == "//") malformed(url, "write sqlite:PATH (sqlite:/abs/index.sqlite or sqlite:rel/index.sqlite)");
    ParsedIndexUrl parsed;
    parsed.sqlite_path = std::filesystem::path(std::string(path));
    parsed.display = parsed.sqlite_path.string();
    return parsed;
  }
  malformed(url, std::string("unknown kind of database; ") + kForms);
}

}  // namespace lwd
