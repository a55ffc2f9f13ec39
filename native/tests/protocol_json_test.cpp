// The JSON edge without an engine: limits, sampling and the field named in errors.
#include <string>

#include "protocol_json.h"
#include "unit.h"

using namespace pronto;

namespace {
template <class F>
std::string bad_request_message(F f) {
  try {
    f();
  } catch (const BadRequest& e) {
    return e.code + ": " + e.message;
  }
  return "";
}
}  // namespace

TEST("n_predict sets the token count and keeps time_budget_ms, stop_at_eol, ignore_eos, stop") {
  Limits l;
  parse_openai_limits(json::parse(R"({"n_predict": 7, "time_budget_ms": 50, "stop_at_eol": true,
                                       "ignore_eos": true, "stop": ["END"]})"),
                      l, "completions");
  CHECK(l.max_tokens == 7);
  CHECK(l.time_budget_ms == 50);
  CHECK(l.stop_at_eol && l.ignore_eos);
  CHECK(l.stop.size() == 1 && l.stop[0] == "END");
}

TEST("max_tokens wins over n_predict; a bad n_predict is named") {
  Limits l;
  parse_openai_limits(json::parse(R"({"max_tokens": 3, "n_predict": 9})"), l, "completions");
  CHECK(l.max_tokens == 3);
  Limits m;
  const auto msg =
      bad_request_message([&] { parse_openai_limits(json::parse(R"({"n_predict": 0})"), m, "completions"); });
  CHECK_MSG(msg.find("completions.n_predict must be between 1 and 4096") != std::string::npos, msg);
}

TEST("a stop string is checked like the strings of a stop array") {
  Limits l;
  const auto msg = bad_request_message([&] { parse_limits(json::parse(R"({"stop": ""})"), l, "limits"); });
  CHECK_MSG(msg.find("limits.stop strings must be 1 to 256 bytes long") != std::string::npos, msg);
}

TEST("numbers beyond a double name their field, nested ones by path") {
  auto msg = bad_request_message([] { parse_json_object(R"({"limits": {"max_tokens": 1e400}})"); });
  CHECK_MSG(msg.rfind("bad_request: limits.max_tokens is a number out of range", 0) == 0, msg);
  msg = bad_request_message([] { parse_json_object(R"({"a": [0, {"b": [1, -1e999]}]})"); });
  CHECK_MSG(msg.rfind("bad_request: a[1].b[1] is a number out of range", 0) == 0, msg);
  msg = bad_request_message([] { parse_json_object("1e400"); });
  CHECK_MSG(msg.rfind("bad_request: request is a number out of range", 0) == 0, msg);
}
