// The dock server's API as the client calls it: one object per server URL
// and token, over cpp-httplib (the only file of the client that includes it).
// Every reply is the server's envelope {"code", "msg", "data"}; a call
// returns the data, or throws ClientError whose kind says whose fault it was
// (the client's exit status, main.cpp) and whose message is one line a
// person can act on: the server's own message for a refused request.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace lwdock::client {

// The exit statuses, documented in `lwdock client --help`.
enum class Failure : int {
  local = 1,            // a file cannot be read or written, a checksum differs, a wait ran out
  usage = 2,            // an unknown option, a missing argument, no --server
  unreachable = 3,      // no connection to the server, or it broke, or it timed out
  unauthenticated = 4,  // no token, or the server refused it (401: unknown, expired or revoked)
  refused = 5,          // the server refused the request (any other 4xx), with its message
  server = 6,           // the server failed (5xx), with its message
};

class ClientError : public std::runtime_error {
 public:
  ClientError(Failure kind, const std::string& message, int http_status = 0)
      : std::runtime_error(message), kind_(kind), http_status_(http_status) {}
  Failure kind() const { return kind_; }
  // The server's HTTP status when it answered with an error; 0 otherwise.
  int http_status() const { return http_status_; }

 private:
  Failure kind_;
  int http_status_;
};

// "http://host:port[/prefix]" (or https): `origin` is scheme://host:port,
// `prefix` the path the API hangs under ("" for the root), `text` the URL as
// written without a trailing '/', the key of the stored credentials.
struct ServerUrl {
  std::string origin;
  std::string prefix;
  std::string text;
};
// ClientError(usage) for anything but an http(s) URL with a host.
ServerUrl parse_server_url(const std::string& text);

// Where a token came from, for the message of a 401 (`password`: none, the
// request is a password login).
enum class TokenSource { none, environment, credentials, command_line, password };

// Bytes done of a total, as a transfer goes.
using ProgressFn = std::function<void(std::uint64_t done, std::uint64_t total)>;

struct DownloadResult {
  std::uint64_t bytes = 0;
  std::string sha256;                        // of the bytes written
  std::optional<std::uint64_t> announced;    // the reply's Content-Length
  std::string filename;                      // from Content-Disposition, when given
};

struct FormPart {
  std::string name;
  std::string content;
  std::string filename;      // "" for a plain field
  std::string content_type;
};

class DockClient {
 public:
  DockClient(ServerUrl server, std::string token, TokenSource source, std::chrono::seconds timeout);
  ~DockClient();
  DockClient(const DockClient&) = delete;
  DockClient& operator=(const DockClient&) = delete;

  const ServerUrl& server() const { return server_; }
  bool has_token() const { return !token_.empty(); }
  // ClientError(unauthenticated) unless a token is at hand: routes for users
  // fail here, before any request, with what to do about it.
  void require_token() const;

  nlohmann::json get(const std::string& path);
  nlohmann::json post_json(const std::string& path, const nlohmann::json& body);
  nlohmann::json put_json(const std::string& path, const nlohmann::json& body);
  nlohmann::json del(const std::string& path);
  nlohmann::json post_form(const std::string& path, const std::vector<FormPart>& parts);
  // PUT `length` bytes of `file` from `offset`, read in pieces as they are sent
  // (never the whole range in memory), as application/octet-stream.
  nlohmann::json put_file_range(const std::string& path, const std::filesystem::path& file, std::uint64_t offset,
                                std::uint64_t length, const ProgressFn& progress);
  // GET a file reply into `out` (created or truncated), hashing the bytes as
  // they arrive. A JSON error reply throws as any other call.
  DownloadResult download(const std::string& path, const std::filesystem::path& out, const ProgressFn& progress);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  ServerUrl server_;
  std::string token_;
  TokenSource source_;
  std::chrono::seconds timeout_;
};

}  // namespace lwdock::client
