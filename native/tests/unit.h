// A minimal test harness for the engine's C++ tests: each case is registered by name and reported on
// its own line ("ok - name" / "FAIL - name: why"), so the Node test runner counts every case
// (test/support/nativeTests.ts). `--list` prints the names; `--only NAME` runs one case.
// Exit code: the number of failed cases.
#pragma once
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace unit {

struct Failure {
  std::string what;
};

inline std::vector<std::pair<std::string, std::function<void()>>>& cases() {
  static std::vector<std::pair<std::string, std::function<void()>>> all;
  return all;
}

inline void add(std::string name, std::function<void()> fn) { cases().emplace_back(std::move(name), std::move(fn)); }

struct Register {
  Register(const char* name, void (*fn)()) { add(name, fn); }
};
// Registers table-driven cases: `static unit::Table t([] { for (...) unit::add(name, fn); });`
struct Table {
  explicit Table(void (*fn)()) { fn(); }
};

inline std::string where(const char* file, int line) {
  const char* base = std::strrchr(file, '/');
  return std::string(base ? base + 1 : file) + ":" + std::to_string(line);
}

inline int run(int argc, char** argv) {
  std::string only;
  for (int i = 1; i < argc; i++) {
    if (std::strcmp(argv[i], "--list") == 0) {
      for (auto& c : cases()) std::printf("%s\n", c.first.c_str());
      return 0;
    }
    if (std::strcmp(argv[i], "--only") == 0 && i + 1 < argc) only = argv[++i];
  }
  int failed = 0, ran = 0;
  for (auto& [name, fn] : cases()) {
    if (!only.empty() && name != only) continue;
    ran++;
    std::string why;
    try {
      fn();
    } catch (const Failure& f) {
      why = f.what;
    } catch (const std::exception& e) {
      why = std::string("exception: ") + e.what();
    }
    if (why.empty()) {
      std::printf("ok - %s\n", name.c_str());
    } else {
      failed++;
      for (auto& ch : why)
        if (ch == '\n') ch = ' ';
      std::printf("FAIL - %s: %s\n", name.c_str(), why.c_str());
    }
    std::fflush(stdout);
  }
  std::printf("%d of %d case(s) failed\n", failed, ran);
  return failed;
}

}  // namespace unit

#define UNIT_CAT2(a, b) a##b
#define UNIT_CAT(a, b) UNIT_CAT2(a, b)
// TEST("what it proves") { ... CHECK(...); }
#define TEST(name)                                                                                   \
  static void UNIT_CAT(unit_case_, __LINE__)();                                                      \
  static const ::unit::Register UNIT_CAT(unit_reg_, __LINE__)(name, UNIT_CAT(unit_case_, __LINE__)); \
  static void UNIT_CAT(unit_case_, __LINE__)()
#define CHECK(cond)                                  \
  if (!(cond)) throw ::unit::Failure {               \
      ::unit::where(__FILE__, __LINE__) + ": " #cond \
    }
// CHECK with the values that explain a failure: CHECK_MSG(a == b, "a=" + std::to_string(a)).
#define CHECK_MSG(cond, msg)                                                       \
  if (!(cond)) throw ::unit::Failure {                                             \
      ::unit::where(__FILE__, __LINE__) + ": " #cond " (" + std::string(msg) + ")" \
    }
#define UNIT_MAIN \
  int main(int argc, char** argv) { return ::unit::run(argc, argv); }
