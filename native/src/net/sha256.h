// SHA-256 (FIPS 180-4), for comparing API keys in constant time: the engine compares digests of the
// presented and the stored keys, so neither the content nor the length of a key shows in the timing.
// Not a general crypto library; no OpenSSL dependency for one hash.
#pragma once
#include <array>
#include <cstdint>
#include <string_view>

namespace pronto::net {

using Digest = std::array<uint8_t, 32>;

Digest sha256(std::string_view data);

// True when a and b are equal; the time taken does not depend on where they differ.
bool digests_equal(const Digest& a, const Digest& b);

}  // namespace pronto::net
