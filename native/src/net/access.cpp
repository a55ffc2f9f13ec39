#include "net/access.h"

#include <arpa/inet.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>
#include <stdexcept>

namespace pronto::net {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool parse_v4(std::string_view host, in_addr& out) {
  if (host.size() >= INET_ADDRSTRLEN) return false;
  std::string s(host);
  return inet_pton(AF_INET, s.c_str(), &out) == 1;
}

bool parse_v6(std::string_view host, in6_addr& out) {
  if (host.size() >= INET6_ADDRSTRLEN) return false;
  std::string s(host);
  return inet_pton(AF_INET6, s.c_str(), &out) == 1;
}

bool parse_port(std::string_view digits, int& port) {
  if (digits.empty() || digits.size() > 5) return false;
  int p = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
    p = p * 10 + (c - '0');
  }
  if (p < 1 || p > 65535) return false;
  port = p;
  return true;
}

// Host names as in RFC 1123: letters, digits, '-', '.', and '_' (seen in the wild).
bool valid_host_name(std::string_view h) {
  if (h.empty() || h.size() > 253) return false;
  return std::all_of(h.begin(), h.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
  });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

}  // namespace

bool is_ip_literal(std::string_view host) {
  in_addr a4;
  in6_addr a6;
  return parse_v4(host, a4) || parse_v6(host, a6);
}

bool is_loopback_host(std::string_view host) {
  if (lower(host) == "localhost") return true;
  in_addr a4;
  if (parse_v4(host, a4)) return (ntohl(a4.s_addr) >> 24) == 127;
  in6_addr a6;
  if (parse_v6(host, a6)) {
    if (IN6_IS_ADDR_LOOPBACK(&a6)) return true;
    if (IN6_IS_ADDR_V4MAPPED(&a6)) return a6.s6_addr[12] == 127;
  }
  return false;
}

bool is_wildcard_address(std::string_view host) {
  in_addr a4;
  if (parse_v4(host, a4)) return a4.s_addr == INADDR_ANY;
  in6_addr a6;
  if (parse_v6(host, a6)) return IN6_IS_ADDR_UNSPECIFIED(&a6);
  return false;
}

std::optional<HostPort> parse_authority(std::string_view text) {
  HostPort out;
  std::string_view host;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = text.substr(1, close - 1);
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':' || !parse_port(rest.substr(1), out.port)) return std::nullopt;
    }
    in6_addr a6;
    if (!parse_v6(host, a6)) return std::nullopt;
    out.host = lower(host);
    return out;
  }
  size_t colon = text.rfind(':');
  if (colon != std::string_view::npos) {
    // A bare IPv6 address has several colons and no brackets: not a valid authority.
    if (text.find(':') != colon) return std::nullopt;
    if (!parse_port(text.substr(colon + 1), out.port)) return std::nullopt;
    host = text.substr(0, colon);
  } else {
    host = text;
  }
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);  // "localhost." is localhost
  if (!valid_host_name(host)) return std::nullopt;
  out.host = lower(host);
  return out;
}

std::optional<std::string> normalize_origin(std::string_view origin) {
  size_t sep = origin.find("://");
  if (sep == std::string_view::npos || sep == 0) return std::nullopt;
  std::string scheme = lower(origin.substr(0, sep));
  if (!std::all_of(scheme.begin(), scheme.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.';
      }))
    return std::nullopt;
  std::string_view authority = origin.substr(sep + 3);
  if (authority.find_first_of("/?#@") != std::string_view::npos) return std::nullopt;
  auto hp = parse_authority(authority);
  if (!hp) return std::nullopt;
  if ((scheme == "http" && hp->port == 80) || (scheme == "https" && hp->port == 443)) hp->port = -1;
  std::string host = hp->host.find(':') != std::string::npos ? "[" + hp->host + "]" : hp->host;
  return scheme + "://" + host + (hp->port > 0 ? ":" + std::to_string(hp->port) : "");
}

std::vector<std::string> split_list(std::string_view text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    std::string_view item = trim(text.substr(start, comma - start));
    if (!item.empty()) out.emplace_back(item);
    start = comma + 1;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// API keys
// ---------------------------------------------------------------------------------------------

bool ApiKeys::valid_tenant_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

void ApiKeys::add(const std::string& tenant, std::string_view key) {
  if (!valid_tenant_name(tenant))
    throw std::invalid_argument("tenant name \"" + tenant + "\" must be 1-64 letters, digits, '-', '_' or '.'");
  if (key.empty()) throw std::invalid_argument("the API key of tenant \"" + tenant + "\" is empty");
  for (char c : key)
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) == 0x7f)
      throw std::invalid_argument("the API key of tenant \"" + tenant +
                                  "\" contains a space or a control character (keys are sent as an HTTP header)");
  Digest d = sha256(key);
  for (const Entry& e : entries_)
    if (digests_equal(e.digest, d))
      throw std::invalid_argument("the API key of tenant \"" + tenant + "\" is also the key of tenant \"" + e.tenant +
                                  "\": every key must be unique");
  entries_.push_back({tenant, d});
}

void ApiKeys::load_file(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) throw std::runtime_error("--api-keys-file " + path + ": " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) throw std::runtime_error("--api-keys-file " + path + " is not a regular file");
  if (st.st_mode & 077) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%03o", static_cast<unsigned>(st.st_mode & 0777));
    throw std::runtime_error("--api-keys-file " + path + " is readable or writable by other users (mode " + mode +
                             "): run chmod 600 " + path);
  }
  std::ifstream in(path);
  if (!in) throw std::runtime_error("--api-keys-file " + path + ": cannot be read");
  std::string line;
  int lineno = 0, keys = 0;
  while (std::getline(in, line)) {
    lineno++;
    std::string_view l = trim(line);
    if (l.empty() || l.front() == '#') continue;
    const std::string where = "--api-keys-file " + path + " line " + std::to_string(lineno) + ": ";
    size_t sp = l.find_first_of(" \t");
    if (sp == std::string_view::npos) throw std::runtime_error(where + "expected \"TENANT KEY\"");
    std::string tenant(l.substr(0, sp));
    std::string_view key = trim(l.substr(sp));
    if (key.find_first_of(" \t") != std::string_view::npos)
      throw std::runtime_error(where + "expected \"TENANT KEY\" (the key must not contain spaces)");
    if (key.size() < 16)
      throw std::runtime_error(where + "the key of tenant \"" + tenant + "\" is " + std::to_string(key.size()) +
                               " characters; use at least 16 (e.g. openssl rand -hex 32)");
    try {
      add(tenant, key);
    } catch (const std::invalid_argument& e) {
      throw std::runtime_error(where + e.what());
    }
    keys++;
  }
  if (keys == 0) throw std::runtime_error("--api-keys-file " + path + " holds no keys (lines \"TENANT KEY\")");
}

std::optional<std::string> ApiKeys::tenant_for(std::string_view presented) const {
  const Digest d = sha256(presented);
  const Entry* match = nullptr;
  for (const Entry& e : entries_)
    if (digests_equal(e.digest, d)) match = &e;  // no early exit: every key is compared
  if (!match) return std::nullopt;
  return match->tenant;
}

// ---------------------------------------------------------------------------------------------
// Site policy
// ---------------------------------------------------------------------------------------------

SitePolicy::SitePolicy(std::string bound_host, const std::vector<std::string>& origins,
                       const std::vector<std::string>& hosts) {
  auto hp = parse_authority(bound_host);
  bound_host_ = hp ? hp->host : lower(bound_host);
  bound_wildcard_ = is_wildcard_address(bound_host_);
  for (const std::string& o : origins) {
    if (o == "*") {
      any_origin_ = true;
      continue;
    }
    auto n = normalize_origin(o);
    if (!n) throw std::invalid_argument("\"" + o + "\" is not an origin (expected scheme://host[:port], or *)");
    origins_.push_back(*n);
  }
  for (const std::string& h : hosts) {
    if (h == "*") {
      any_host_ = true;
      continue;
    }
    auto p = parse_authority(h);
    if (!p || p->port != -1) throw std::invalid_argument("\"" + h + "\" is not a host name (no port, or *)");
    hosts_.push_back(p->host);
  }
}

bool SitePolicy::host_allowed(std::string_view host) const {
  if (host.empty() || any_host_) return true;  // no Host: an HTTP/1.0 client, not a browser
  auto hp = parse_authority(host);
  if (!hp) return false;
  if (is_loopback_host(hp->host) || hp->host == bound_host_) return true;
  // Bound to every interface: the engine is reached by whatever address the caller dialled. A
  // rebinding page always shows up under a NAME, so any IP literal is fine.
  if (bound_wildcard_ && is_ip_literal(hp->host)) return true;
  return std::find(hosts_.begin(), hosts_.end(), hp->host) != hosts_.end();
}

bool SitePolicy::origin_allowed(std::string_view origin) const {
  if (any_origin_) return true;
  auto n = normalize_origin(origin);
  return n && std::find(origins_.begin(), origins_.end(), *n) != origins_.end();
}

SitePolicy::Verdict SitePolicy::check(std::string_view host, std::optional<std::string_view> origin,
                                      std::string_view sec_fetch_site) const {
  if (!host_allowed(host)) return Verdict::kBadHost;
  if (origin) return origin_allowed(*origin) ? Verdict::kAllowed : Verdict::kBadOrigin;
  // No Origin, but a browser says the request comes from another site (a GET from an <img> or
  // <script> tag): refuse it too. Requests the user typed ("none") and same-origin ones pass.
  const std::string fetch_site = lower(sec_fetch_site);
  if (!any_origin_ && (fetch_site == "cross-site" || fetch_site == "same-site")) return Verdict::kBadOrigin;
  return Verdict::kAllowed;
}

std::string SitePolicy::explain(Verdict v, std::string_view host, std::optional<std::string_view> origin) const {
  if (v == Verdict::kBadHost)
    return "Host \"" + std::string(host) +
           "\" is not this engine's address or a loopback name (a web page reaching the engine through DNS "
           "rebinding looks like this); an operator can allow a name with --allowed-hosts";
  if (origin)
    return "Origin \"" + std::string(*origin) +
           "\" is not allowed to use this engine (web pages are refused unless the operator allows their origin "
           "with --allowed-origins)";
  return "cross-site browser requests are refused (Sec-Fetch-Site); an operator can allow origins with "
         "--allowed-origins";
}

}  // namespace pronto::net
