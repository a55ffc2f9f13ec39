// The sampler (sampler.h) on synthetic logits: greedy, masks, non-finite logits, filters, frequencies.
#include <cmath>
#include <map>
#include <vector>

#include "errors.h"
#include "sampler.h"
#include "unit.h"

using namespace pronto;

namespace {
SamplingParams params(float temperature, int top_k = 0, float top_p = 1.0f, float min_p = 0.0f) {
  SamplingParams p;
  p.temperature = temperature;
  p.top_k = top_k;
  p.top_p = top_p;
  p.min_p = min_p;
  p.seed = 42;
  p.has_seed = true;
  return p;
}
const std::vector<float> kLogits = {0.0f, 2.0f, 1.0f, 3.0f, -1.0f, 2.5f};
}  // namespace

TEST("greedy takes the argmax; a masked token is skipped") {
  Sampler s(params(0.0f), nullptr, 6);
  CHECK(s.greedy() && s.sample(kLogits.data()) == 3);
  const std::vector<llama_token> masked = {3};
  Sampler m(params(0.0f), &masked, 6);
  CHECK(m.sample(kLogits.data()) == 5);
}

TEST("a temperature below 1e-4 (1e-40) is greedy") {
  Sampler s(params(1e-40f), nullptr, 6);
  CHECK(s.greedy());
  for (int i = 0; i < 20; i++) CHECK(s.sample(kLogits.data()) == 3);
}

TEST("NaN or +infinity logits throw EngineError, greedy or not") {
  std::vector<float> bad = kLogits;
  bad[2] = NAN;
  for (float t : {0.0f, 0.8f}) {
    Sampler s(params(t), nullptr, 6);
    bool thrown = false;
    try {
      s.sample(bad.data());
    } catch (const EngineError& e) {
      thrown = e.code == "internal";
    }
    CHECK(thrown);
  }
}

TEST("top_k 1 and a tiny top_p reduce sampling to the argmax") {
  Sampler k(params(1.0f, 1), nullptr, 6), p(params(1.0f, 0, 0.01f), nullptr, 6);
  for (int i = 0; i < 20; i++) CHECK(k.sample(kLogits.data()) == 3 && p.sample(kLogits.data()) == 3);
}

TEST("the distribution handed out sums to 1 and min_p drops the unlikely tokens") {
  Sampler s(params(1.0f, 0, 1.0f, 0.3f), nullptr, 6);
  Dist d;
  s.sample(kLogits.data(), &d);
  double sum = 0;
  for (auto& [t, p] : d) sum += p;
  CHECK(std::fabs(sum - 1.0) < 1e-5);
  for (auto& [t, p] : d) CHECK(t == 1 || t == 3 || t == 5);  // p >= 0.3 p_max: logits >= 3 + ln 0.3
}

TEST("sampling frequencies follow the softmax (20,000 draws, within 2%)") {
  Sampler s(params(1.0f), nullptr, 6);
  std::map<llama_token, int> count;
  const int n = 20000;
  for (int i = 0; i < n; i++) count[s.sample(kLogits.data())]++;
  double z = 0;
  for (float l : kLogits) z += std::exp(l);
  for (int t = 0; t < 6; t++) {
    const double want = std::exp(kLogits[t]) / z, got = static_cast<double>(count[t]) / n;
    CHECK_MSG(std::fabs(want - got) < 0.02,
              std::to_string(t) + ": " + std::to_string(got) + " vs " + std::to_string(want));
  }
}
