// Table-driven tests of the network's pure parts: SHA-256, API keys (constant-time lookup by digest,
// the keys file and its mode check), address parsing (loopback by address, not by prefix), the
// Host/Origin policy, and the Outbox bound. Built as pronto-net-test;
// test/integration/engine.net-units.test.ts runs it. Exit code = number of failures.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "net/access.h"
#include "net/outbox.h"
#include "net/sha256.h"

using namespace pronto;
using namespace pronto::net;

static int failures = 0;
static void expect(bool ok, const std::string& what) {
  std::printf("%s: %s\n", ok ? "ok" : "FAIL", what.c_str());
  if (!ok) failures++;
}

static std::string hex(const Digest& d) {
  std::string out;
  char b[3];
  for (uint8_t x : d) {
    std::snprintf(b, sizeof b, "%02x", x);
    out += b;
  }
  return out;
}

template <class F>
static std::string error_of(F f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

static std::string write_temp(const std::string& text, mode_t mode) {
  char path[] = "/tmp/pronto-net-test-XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) std::abort();
  if (write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) std::abort();
  close(fd);
  chmod(path, mode);
  return path;
}

int main() {
  // --- SHA-256 (FIPS 180-4 vectors, and the padding boundaries 55/56/63/64/119 bytes) ---
  struct ShaCase {
    std::string msg, digest;
  };
  std::vector<ShaCase> sha = {
      {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
      {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
      {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
      {std::string(55, 'a'), "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
      {std::string(56, 'a'), "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
      {std::string(63, 'a'), "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
      {std::string(64, 'a'), "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
      {std::string(119, 'a'), "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb"},
      {std::string(1000000, 'a'), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"},
  };
  for (auto& c : sha) expect(hex(sha256(c.msg)) == c.digest, "sha256 of " + std::to_string(c.msg.size()) + " bytes");
  expect(digests_equal(sha256("x"), sha256("x")), "equal digests compare equal");
  expect(!digests_equal(sha256("x"), sha256("y")), "different digests compare different");

  // --- API keys: right key, wrong key, wrong length, empty; tenants ---
  ApiKeys keys;
  keys.add("default", "s3cret");
  keys.add("alice", "alice-key-0123456789");
  keys.add("bob", "bob-key-0123456789ab");
  struct KeyCase {
    const char* name;
    std::string presented;
    std::optional<std::string> tenant;
  };
  std::vector<KeyCase> key_cases = {
      {"right key", "s3cret", "default"},
      {"right key of another tenant", "alice-key-0123456789", "alice"},
      {"third tenant", "bob-key-0123456789ab", "bob"},
      {"wrong key of the same length", "s3cres", std::nullopt},
      {"a prefix of the key (shorter)", "s3cre", std::nullopt},
      {"the key plus a byte (longer)", "s3cret!", std::nullopt},
      {"empty", "", std::nullopt},
      {"a 1 MiB guess", std::string(1 << 20, 's'), std::nullopt},
      {"case matters", "S3CRET", std::nullopt},
  };
  for (auto& c : key_cases) expect(keys.tenant_for(c.presented) == c.tenant, std::string("key: ") + c.name);
  expect(error_of([&] { keys.add("carol", "s3cret"); }).find("also the key of tenant \"default\"") != std::string::npos,
         "key: a duplicate key is refused, naming the tenant that has it");
  expect(error_of([&] { keys.add("bad name", "k"); }).find("tenant name") != std::string::npos,
         "key: a tenant name with a space is refused");
  expect(error_of([&] { keys.add("x", "has space"); }).find("space") != std::string::npos,
         "key: a key with a space is refused");
  expect(error_of([&] { keys.add("x", ""); }).find("empty") != std::string::npos, "key: an empty key is refused");

  // --- The keys file ---
  {
    const std::string good = write_temp(
        "# team keys\n\nalice  0123456789abcdef0123\nbob\tfedcba9876543210fedc\nalice 1111111111111111xx\n", 0600);
    ApiKeys k;
    expect(error_of([&] { k.load_file(good); }).empty() && k.size() == 3, "keys file: comments, blanks, tabs, 3 keys");
    expect(k.tenant_for("1111111111111111xx") == std::optional<std::string>("alice"),
           "keys file: a tenant may have two keys (rotation)");
    chmod(good.c_str(), 0644);
    ApiKeys k2;
    const std::string e = error_of([&] { k2.load_file(good); });
    expect(e.find("mode 644") != std::string::npos && e.find("chmod 600") != std::string::npos,
           "keys file: world-readable file refused with the fix (" + e + ")");
    unlink(good.c_str());
    const std::string short_key = write_temp("alice short\n", 0600);
    expect(error_of([&] { ApiKeys().load_file(short_key); }).find("at least 16") != std::string::npos,
           "keys file: a short key is refused");
    unlink(short_key.c_str());
    const std::string one_word = write_temp("justakeywithoutatenant\n", 0600);
    expect(
        error_of([&] { ApiKeys().load_file(one_word); }).find("line 1: expected \"TENANT KEY\"") != std::string::npos,
        "keys file: a line without a tenant names the line");
    unlink(one_word.c_str());
    const std::string empty = write_temp("# nothing\n", 0600);
    expect(error_of([&] { ApiKeys().load_file(empty); }).find("holds no keys") != std::string::npos,
           "keys file: no keys is an error");
    unlink(empty.c_str());
    expect(error_of([&] { ApiKeys().load_file("/nonexistent/keys"); }).find("No such file") != std::string::npos,
           "keys file: a missing file names the error");
  }

  // --- Loopback by address, not by prefix ---
  struct LoopCase {
    const char* host;
    bool loopback;
  };
  std::vector<LoopCase> loop = {
      {"127.0.0.1", true},
      {"127.8.9.10", true},
      {"localhost", true},
      {"LocalHost", true},
      {"::1", true},
      {"::ffff:127.0.0.1", true},
      {"0:0:0:0:0:0:0:1", true},
      {"127.0.0.1.example.com", false},
      {"127.evil.com", false},
      {"128.0.0.1", false},
      {"0.0.0.0", false},
      {"::", false},
      {"localhost.example.com", false},
      {"127.0.0.1 ", false},
      {"", false},
      {"10.0.0.1", false},
      {"::ffff:10.0.0.1", false},
      {"0177.0.0.1", false},  // octal forms are not addresses to inet_pton (nor to us)
  };
  for (auto& c : loop) expect(is_loopback_host(c.host) == c.loopback, std::string("loopback: \"") + c.host + "\"");

  // --- Host header / authority parsing ---
  struct AuthCase {
    const char* text;
    bool ok;
    const char* host;
    int port;
  };
  std::vector<AuthCase> auth = {
      {"localhost", true, "localhost", -1},
      {"LOCALHOST:8080", true, "localhost", 8080},
      {"127.0.0.1:1", true, "127.0.0.1", 1},
      {"[::1]:65535", true, "::1", 65535},
      {"[::1]", true, "::1", -1},
      {"localhost.:80", true, "localhost", 80},
      {"example.com:0", false, "", 0},
      {"example.com:65536", false, "", 0},
      {"example.com:", false, "", 0},
      {"example.com:8a", false, "", 0},
      {"::1", false, "", 0},  // IPv6 needs brackets
      {"[::1", false, "", 0},
      {"[nope]:80", false, "", 0},
      {"a b", false, "", 0},
      {"evil.com@127.0.0.1", false, "", 0},
      {"", false, "", 0},
  };
  for (auto& c : auth) {
    auto r = parse_authority(c.text);
    bool pass = c.ok ? (r && r->host == c.host && r->port == c.port) : !r;
    expect(pass, std::string("authority: \"") + c.text + "\"");
  }

  // --- Origin normalization ---
  struct OriginCase {
    const char* in;
    std::optional<std::string> out;
  };
  std::vector<OriginCase> origins = {
      {"http://localhost:3000", "http://localhost:3000"},
      {"HTTPS://Example.COM:443", "https://example.com"},
      {"http://example.com:80", "http://example.com"},
      {"vscode-webview://abc123", "vscode-webview://abc123"},
      {"http://[::1]:8080", "http://[::1]:8080"},
      {"null", std::nullopt},
      {"http://example.com/path", std::nullopt},
      {"http://user@example.com", std::nullopt},
      {"example.com", std::nullopt},
      {"", std::nullopt},
  };
  for (auto& c : origins) expect(normalize_origin(c.in) == c.out, std::string("origin: \"") + c.in + "\"");

  // --- Site policy: Host and Origin ---
  using V = SitePolicy::Verdict;
  struct SiteCase {
    const char* name;
    std::string bound;
    std::vector<std::string> allow_origins, allow_hosts;
    std::string host;
    std::optional<std::string> origin;
    std::string fetch_site;
    V verdict;
  };
  std::vector<SiteCase> site = {
      {"curl to 127.0.0.1", "127.0.0.1", {}, {}, "127.0.0.1:8080", std::nullopt, "", V::kAllowed},
      {"sidecar via localhost", "127.0.0.1", {}, {}, "localhost:8080", std::nullopt, "", V::kAllowed},
      {"no Host at all (HTTP/1.0)", "127.0.0.1", {}, {}, "", std::nullopt, "", V::kAllowed},
      {"DNS rebinding: a page's own name", "127.0.0.1", {}, {}, "attacker.example:8080", std::nullopt, "", V::kBadHost},
      {"rebinding through a 127.-prefixed name",
       "127.0.0.1",
       {},
       {},
       "127.0.0.1.example.com:8080",
       std::nullopt,
       "",
       V::kBadHost},
      {"foreign Origin on loopback", "127.0.0.1", {}, {}, "127.0.0.1:8080", "https://evil.example", "", V::kBadOrigin},
      {"Origin null (sandboxed page)", "127.0.0.1", {}, {}, "127.0.0.1:8080", "null", "", V::kBadOrigin},
      {"allowed Origin",
       "127.0.0.1",
       {"http://localhost:3000"},
       {},
       "127.0.0.1:8080",
       "http://LOCALHOST:3000",
       "",
       V::kAllowed},
      {"another port of an allowed host is another origin",
       "127.0.0.1",
       {"http://localhost:3000"},
       {},
       "127.0.0.1:8080",
       "http://localhost:3001",
       "",
       V::kBadOrigin},
      {"any origin with *", "127.0.0.1", {"*"}, {}, "127.0.0.1:8080", "https://evil.example", "", V::kAllowed},
      {"cross-site GET without Origin (img tag)",
       "127.0.0.1",
       {},
       {},
       "127.0.0.1:8080",
       std::nullopt,
       "cross-site",
       V::kBadOrigin},
      {"typed into the address bar", "127.0.0.1", {}, {}, "127.0.0.1:8080", std::nullopt, "none", V::kAllowed},
      {"bound address as Host", "192.168.1.5", {}, {}, "192.168.1.5:8080", std::nullopt, "", V::kAllowed},
      {"another address when bound to one", "192.168.1.5", {}, {}, "192.168.1.6:8080", std::nullopt, "", V::kBadHost},
      {"wildcard bind: any IP literal", "0.0.0.0", {}, {}, "10.1.2.3:8080", std::nullopt, "", V::kAllowed},
      {"wildcard bind: IPv6 literal", "::", {}, {}, "[fd00::5]:8080", std::nullopt, "", V::kAllowed},
      {"wildcard bind: a name still refused", "0.0.0.0", {}, {}, "pronto.team.example", std::nullopt, "", V::kBadHost},
      {"--allowed-hosts names a proxy's host",
       "0.0.0.0",
       {},
       {"pronto.team.example"},
       "pronto.team.example:443",
       std::nullopt,
       "",
       V::kAllowed},
      {"--allowed-hosts *", "0.0.0.0", {}, {"*"}, "anything.example", std::nullopt, "", V::kAllowed},
      {"malformed Host", "127.0.0.1", {}, {}, "127.0.0.1:99999", std::nullopt, "", V::kBadHost},
      {"bad Host wins over a good Origin",
       "127.0.0.1",
       {"http://a.example"},
       {},
       "evil.example",
       "http://a.example",
       "",
       V::kBadHost},
  };
  for (auto& c : site) {
    SitePolicy p(c.bound, c.allow_origins, c.allow_hosts);
    std::optional<std::string_view> o;
    if (c.origin) o = *c.origin;
    expect(p.check(c.host, o, c.fetch_site) == c.verdict, std::string("site: ") + c.name);
  }
  expect(error_of([] { SitePolicy("127.0.0.1", {"not an origin"}, {}); }).find("is not an origin") != std::string::npos,
         "site: a bad --allowed-origins entry is refused");
  expect(error_of([] { SitePolicy("127.0.0.1", {}, {"host:80"}); }).find("not a host name") != std::string::npos,
         "site: an --allowed-hosts entry with a port is refused");

  // --- Outbox: one wake per batch, the bound drops, release frees ---
  {
    int wakes = 0, overflows = 0;
    OutEvent tok;
    tok.id = "r";
    tok.text = std::string(100, 'x');
    const size_t cost = tok.cost();
    Outbox box(
        cost * 3, [&] { wakes++; }, [&] { overflows++; });
    box.push(tok);
    box.push(tok);
    expect(wakes == 1, "outbox: two pushes before a take wake the I/O side once");
    auto got = box.take();
    expect(got.size() == 2 && box.pending_bytes() == 2 * cost, "outbox: taken bytes stay pending until written");
    box.push(tok);
    expect(wakes == 2, "outbox: a push after a take wakes again");
    box.release(2 * cost);
    box.push(tok);
    box.push(tok);
    expect(overflows == 0 && box.pending_bytes() == 3 * cost, "outbox: released bytes make room");
    box.push(tok);
    expect(overflows == 1, "outbox: over the limit calls overflow once");
    box.push(tok);
    expect(overflows == 1 && box.take().empty(), "outbox: after an overflow nothing is queued");
  }

  std::printf("%d failure(s)\n", failures);
  return failures;
}
