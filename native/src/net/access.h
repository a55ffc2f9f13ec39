// Who may talk to the engine: API keys (each naming a tenant) and the site policy that keeps web pages
// out (Host and Origin checks against DNS rebinding and cross-site requests). Pure logic, no sockets:
// tested table-driven by native/tests/net_test.cpp.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/sha256.h"

namespace pronto::net {

// True for an IP literal in 127.0.0.0/8, ::1 or ::ffff:127.0.0.0/104, and for the name "localhost".
// Decided on the parsed address, never on a string prefix: "127.0.0.1.example.com" is a name.
bool is_loopback_host(std::string_view host);
bool is_ip_literal(std::string_view host);        // IPv4 or IPv6 (without brackets)
bool is_wildcard_address(std::string_view host);  // 0.0.0.0 or ::

// A Host header or URL authority: "name", "name:port", "1.2.3.4:port", "[::1]", "[::1]:port".
// The host comes back lowercased, without brackets and without a trailing dot.
struct HostPort {
  std::string host;
  int port = -1;  // -1: none given
};
std::optional<HostPort> parse_authority(std::string_view text);

// "scheme://host[:port]" of an Origin header, lowercased, the scheme's default port dropped.
// nullopt for "null" and anything that is not an origin (paths, user info, bad ports).
std::optional<std::string> normalize_origin(std::string_view origin);

// API keys, each naming a tenant. Keys are kept as SHA-256 digests only; a presented key is hashed and
// compared with EVERY stored digest in constant time, so neither which key nor how much of one
// matched, nor the key's length, shows in the timing.
class ApiKeys {
 public:
  // Throws std::invalid_argument naming the problem (bad tenant name, key with spaces, duplicate key).
  void add(const std::string& tenant, std::string_view key);
  // Reads "TENANT KEY" lines ('#' comments and blank lines ignored). Refuses a file that group or
  // others can read or write (chmod 600), keys shorter than 16 characters, and malformed lines.
  // Throws std::runtime_error naming the file, the line and the fix.
  void load_file(const std::string& path);
  bool empty() const { return entries_.empty(); }
  size_t size() const { return entries_.size(); }
  // The tenant of the presented key, or nullopt.
  std::optional<std::string> tenant_for(std::string_view presented) const;

  static bool valid_tenant_name(std::string_view name);

 private:
  struct Entry {
    std::string tenant;
    Digest digest;
  };
  std::vector<Entry> entries_;
};

// Which Host and Origin headers a request may carry. Browsers attach Origin to cross-site POSTs and
// WebSocket upgrades (WebSockets have no same-origin protection), and a DNS-rebinding page reaches
// 127.0.0.1 under its own host name, so its Host header gives it away. Clients that are not browsers
// (the sidecar, curl, OpenAI SDKs) send no Origin and a Host of the address they dialled.
class SitePolicy {
 public:
  enum class Verdict { kAllowed, kBadHost, kBadOrigin };

  // bound_host: --host as given. origins/hosts: --allowed-origins / --allowed-hosts entries ("*" = any).
  // Throws std::invalid_argument for an entry that is not an origin / a host name.
  SitePolicy(std::string bound_host, const std::vector<std::string>& origins, const std::vector<std::string>& hosts);
  SitePolicy() : SitePolicy("127.0.0.1", {}, {}) {}

  // host: the Host header ("" when absent); origin: the Origin header if present; sec_fetch_site: the
  // Sec-Fetch-Site header ("" when absent; browsers send it even where they omit Origin).
  Verdict check(std::string_view host, std::optional<std::string_view> origin, std::string_view sec_fetch_site) const;
  // Whether a (present) Origin header is allowed; CORS replies echo it only then.
  bool origin_allowed(std::string_view origin) const;
  // A message for a refusal: what was refused and which flag allows it.
  std::string explain(Verdict v, std::string_view host, std::optional<std::string_view> origin) const;

 private:
  bool host_allowed(std::string_view host) const;
  std::string bound_host_;
  bool bound_wildcard_ = false;
  bool any_origin_ = false, any_host_ = false;
  std::vector<std::string> origins_, hosts_;
};

// "a, b,c" -> {"a","b","c"} (empty items dropped).
std::vector<std::string> split_list(std::string_view text);

}  // namespace pronto::net
