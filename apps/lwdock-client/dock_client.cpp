#include "apps/lwdock-client/dock_client.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <httplib.h>

#include "engine/io/sha256.h"

namespace lwdock::client {
namespace {

using nlohmann::json;

std::string one_line(std::string text) {
  for (char& c : text)
    if (c == '\n' || c == '\r') c = ' ';
  while (!text.empty() && text.back() == ' ') text.pop_back();
  return text;
}

// A closed file descriptor whatever happens.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

}  // namespace

ServerUrl parse_server_url(const std::string& text) {
  std::string url = text;
  while (!url.empty() && url.back() == '/') url.pop_back();
  const auto scheme_end = url.find("://");
  const std::string scheme = scheme_end == std::string::npos ? "" : url.substr(0, scheme_end);
  if (scheme != "http" && scheme != "https") {
    throw ClientError(Failure::usage, "--server \"" + text + "\": give the dock's URL, http://HOST:PORT or https://");
  }
  const auto path_start = url.find('/', scheme_end + 3);
  ServerUrl out;
  out.origin = url.substr(0, path_start);
  out.prefix = path_start == std::string::npos ? "" : url.substr(path_start);
  out.text = url;
  if (out.origin.size() <= scheme_end + 3 || out.origin.find_first_of("?#@ ") != std::string::npos ||
      out.prefix.find_first_of("?# ") != std::string::npos) {
    throw ClientError(Failure::usage, "--server \"" + text + "\": give the dock's URL, http://HOST:PORT or https://");
  }
  return out;
}

struct DockClient::Impl {
  httplib::Client http;
  explicit Impl(const std::string& origin) : http(origin) {}
};

DockClient::DockClient(ServerUrl server, std::string token, TokenSource source, std::chrono::seconds timeout)
    : server_(std::move(server)), token_(std::move(token)), source_(source), timeout_(timeout) {
  try {
    impl_ = std::make_unique<Impl>(server_.origin);
  } catch (const std::exception& e) {
    throw ClientError(Failure::usage, "--server \"" + server_.text + "\": " + e.what());
  }
  auto& http = impl_->http;
  http.set_connection_timeout(std::min<std::chrono::seconds>(timeout, std::chrono::seconds(30)));
  http.set_read_timeout(timeout);
  http.set_write_timeout(timeout);
  // Chunks of one upload go over one connection.
  http.set_keep_alive(true);
  if (!token_.empty()) http.set_bearer_token_auth(token_);
}

DockClient::~DockClient() = default;

void DockClient::require_token() const {
  if (!token_.empty()) return;
  throw ClientError(Failure::unauthenticated, "not logged in to " + server_.text +
                                                  ": run 'lwdock client login --server " + server_.text +
                                                  "' or set LWDOCK_TOKEN");
}

namespace {

// The request could not be made or its reply not read: why, in words.
[[noreturn]] void throw_transport(const ServerUrl& server, httplib::Error error, std::chrono::seconds timeout) {
  switch (error) {
    case httplib::Error::Connection:
      throw ClientError(Failure::unreachable, "cannot connect to " + server.text +
                                                  ": connection refused, or the host is unknown or unreachable "
                                                  "(is the dock server running there?)");
    case httplib::Error::ConnectionTimeout:
      throw ClientError(Failure::unreachable, "cannot connect to " + server.text + ": no answer within the timeout");
    case httplib::Error::Read:
      throw ClientError(Failure::unreachable, "the connection to " + server.text +
                                                  " broke or no reply came within " +
                                                  std::to_string(timeout.count()) + " s (--timeout)");
    case httplib::Error::Write:
      throw ClientError(Failure::unreachable, "the connection to " + server.text + " broke while sending");
    default:
      throw ClientError(Failure::unreachable, server.text + ": " + httplib::to_string(error));
  }
}

// The envelope's data of a successful reply, or the ClientError of a failed
// one, its message the server's.
json envelope_data(const ServerUrl& server, TokenSource source, int status, const std::string& body) {
  json doc;
  try {
    doc = json::parse(body);
  } catch (const json::exception&) {
    doc = nullptr;
  }
  const bool enveloped = doc.is_object() && doc.contains("code") && doc.contains("msg");
  if (status >= 200 && status < 300) {
    if (!enveloped) throw ClientError(Failure::server, server.text + " answered HTTP " + std::to_string(status) +
                                                           " with something other than the dock's JSON");
    return doc.contains("data") ? doc["data"] : json(nullptr);
  }
  const std::string message =
      enveloped && doc["msg"].is_string() ? one_line(doc["msg"].get<std::string>()) : "no message";
  const std::string http = " (HTTP " + std::to_string(status) + ")";
  if (status == 401) {
    switch (source) {
      case TokenSource::none:
        throw ClientError(Failure::unauthenticated,
                          "not logged in to " + server.text + ": run 'lwdock client login --server " + server.text +
                              "' or set LWDOCK_TOKEN (server: " + message + ")",
                          status);
      case TokenSource::environment:
        throw ClientError(Failure::unauthenticated,
                          server.text + " refused the token in LWDOCK_TOKEN: " + message, status);
      case TokenSource::credentials:
        throw ClientError(Failure::unauthenticated,
                          server.text + " refused the stored token: " + message + " ('lwdock client login --server " +
                              server.text + "')",
                          status);
      case TokenSource::command_line:
        throw ClientError(Failure::unauthenticated, server.text + " refused the token: " + message, status);
      case TokenSource::password:
        throw ClientError(Failure::unauthenticated, server.text + " refused the login: " + message, status);
    }
  }
  if (!enveloped) {
    throw ClientError(status >= 500 ? Failure::server : Failure::refused,
                      server.text + " answered HTTP " + std::to_string(status) + " (not the dock's JSON: is " +
                          server.text + " a dock server?)",
                      status);
  }
  if (status >= 500) {
    if (status == 503) throw ClientError(Failure::server, "the server is not available: " + message + http, status);
    throw ClientError(Failure::server, "the server failed: " + message + http, status);
  }
  throw ClientError(Failure::refused, message + http, status);
}

json answer(const ServerUrl& server, TokenSource source, httplib::Result& result, std::chrono::seconds timeout) {
  if (!result) throw_transport(server, result.error(), timeout);
  return envelope_data(server, source, result->status, result->body);
}

}  // namespace

json DockClient::get(const std::string& path) {
  auto result = impl_->http.Get(server_.prefix + path);
  return answer(server_, source_, result, timeout_);
}

json DockClient::post_json(const std::string& path, const json& body) {
  auto result = impl_->http.Post(server_.prefix + path, body.dump(), "application/json");
  return answer(server_, source_, result, timeout_);
}

json DockClient::put_json(const std::string& path, const json& body) {
  auto result = impl_->http.Put(server_.prefix + path, body.dump(), "application/json");
  return answer(server_, source_, result, timeout_);
}

json DockClient::del(const std::string& path) {
  auto result = impl_->http.Delete(server_.prefix + path);
  return answer(server_, source_, result, timeout_);
}

json DockClient::post_form(const std::string& path, const std::vector<FormPart>& parts) {
  httplib::MultipartFormDataItems items;
  for (const FormPart& p : parts) items.push_back({p.name, p.content, p.filename, p.content_type});
  auto result = impl_->http.Post(server_.prefix + path, items);
  return answer(server_, source_, result, timeout_);
}

json DockClient::put_file_range(const std::string& path, const std::filesystem::path& file, std::uint64_t offset,
                                std::uint64_t length, const ProgressFn& progress) {
  Fd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.fd < 0) throw ClientError(Failure::local, file.string() + ": cannot read: " + std::strerror(errno));
  std::string read_error;
  std::vector<char> buffer(std::size_t{1} << 16);
  auto provider = [&](std::size_t at, std::size_t want, httplib::DataSink& sink) {
    const std::size_t n = std::min(want, buffer.size());
    const ssize_t got = ::pread(fd.fd, buffer.data(), n, static_cast<off_t>(offset + at));
    if (got <= 0) {
      read_error = got == 0 ? "the file became shorter" : std::strerror(errno);
      return false;
    }
    if (!sink.write(buffer.data(), static_cast<std::size_t>(got))) return false;
    if (progress) progress(offset + at + static_cast<std::uint64_t>(got), 0);
    return true;
  };
  auto result = impl_->http.Put(server_.prefix + path, static_cast<std::size_t>(length), provider,
                                "application/octet-stream");
  if (!read_error.empty()) throw ClientError(Failure::local, file.string() + ": cannot read: " + read_error);
  return answer(server_, source_, result, timeout_);
}

DownloadResult DockClient::download(const std::string& path, const std::filesystem::path& out,
                                    const ProgressFn& progress) {
  std::ofstream file;
  std::string error_body;
  bool is_file = false;
  bool write_failed = false;
  int status = 0;
  DownloadResult got;
  lwd::io::Sha256 hash;
  auto on_response = [&](const httplib::Response& response) {
    status = response.status;
    const std::string type = response.get_header_value("Content-Type");
    is_file = status == 200 && type.rfind("application/json", 0) != 0;
    if (is_file) {
      if (response.has_header("Content-Length")) {
        try {
          got.announced = std::stoull(response.get_header_value("Content-Length"));
        } catch (const std::exception&) {
        }
      }
      const std::string disposition = response.get_header_value("Content-Disposition");
      if (const auto at = disposition.find("filename=\""); at != std::string::npos) {
        const auto end = disposition.find('"', at + 10);
        if (end != std::string::npos) got.filename = disposition.substr(at + 10, end - at - 10);
      }
      file.open(out, std::ios::binary | std::ios::trunc);
      if (!file) {
        write_failed = true;
        return false;
      }
    }
    return true;
  };
  auto on_data = [&](const char* data, std::size_t n) {
    if (!is_file) {
      if (error_body.size() < (std::size_t{1} << 20)) error_body.append(data, n);
      return true;
    }
    file.write(data, static_cast<std::streamsize>(n));
    if (!file) {
      write_failed = true;
      return false;
    }
    hash.update(data, n);
    got.bytes += n;
    return true;
  };
  auto on_progress = [&](std::uint64_t done, std::uint64_t total) {
    if (is_file && progress) progress(done, total);
    return true;
  };
  auto result = impl_->http.Get(server_.prefix + path, httplib::Headers{}, on_response, on_data, on_progress);
  if (write_failed) throw ClientError(Failure::local, out.string() + ": cannot write: " + std::strerror(errno));
  if (!result) throw_transport(server_, result.error(), timeout_);
  if (!is_file) {
    envelope_data(server_, source_, status, error_body);
    throw ClientError(Failure::server, server_.text + " answered JSON where a file was expected");
  }
  file.close();
  if (!file) throw ClientError(Failure::local, out.string() + ": cannot write: " + std::strerror(errno));
  got.sha256 = hash.hex_digest();
  return got;
}

}  // namespace lwdock::client
