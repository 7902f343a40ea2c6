// parse_uri() on the URIs a PBX sees on every message: Request-URI, From/To, Contact, Route, Refer-To.
// Baseline beside it: a memchr scan for '@' over the same bytes, the least any URI parser must read.
#include <benchmark/benchmark.h>

#include <array>
#include <cstring>
#include <string_view>

#include "sip/uri.h"

namespace {

constexpr std::array<std::string_view, 5> kUris = {
    "sip:201@pbx.example.com",                                            // Request-URI of a call
    "sip:alice@atlanta.example.com;transport=tcp",                        // From / To
    "sip:201@192.0.2.10:50612;transport=udp;rinstance=6f8d0b1f9e4c2a3d",  // Contact of a phone
    "sip:proxy1.example.com;lr",                                          // Record-Route / Route
    "sip:202@[2001:db8::20]:5060;transport=tcp?Replaces=7a2c%40192.0.2.10%3Bto-tag%3D1234%3Bfrom-tag%3D5678",
};

void BM_ParseUri(benchmark::State& state) {
  const std::string_view text = kUris[static_cast<size_t>(state.range(0))];
  parkd::sip::UriView uri;
  for (auto _ : state) {
    std::string_view input = text;
    benchmark::DoNotOptimize(input);
    benchmark::DoNotOptimize(parkd::sip::parse_uri(input, uri));
    benchmark::DoNotOptimize(uri);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(text.size()));
  state.SetLabel(std::string(text.substr(0, 40)));
}
BENCHMARK(BM_ParseUri)->DenseRange(0, kUris.size() - 1);

// All five in a row, so ns per URI is the time divided by 5.
void BM_ParseUriMix(benchmark::State& state) {
  parkd::sip::UriView uri;
  for (auto _ : state) {
    for (std::string_view text : kUris) {
      benchmark::DoNotOptimize(text);
      benchmark::DoNotOptimize(parkd::sip::parse_uri(text, uri));
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(kUris.size()));
}
BENCHMARK(BM_ParseUriMix);

void BM_BaselineMemchr(benchmark::State& state) {
  for (auto _ : state) {
    for (std::string_view text : kUris) {
      benchmark::DoNotOptimize(text);
      benchmark::DoNotOptimize(std::memchr(text.data(), '@', text.size()));
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(kUris.size()));
}
BENCHMARK(BM_BaselineMemchr);

void BM_UriEqual(benchmark::State& state) {
  parkd::sip::UriView a;
  parkd::sip::UriView b;
  parkd::sip::parse_uri("sip:%61lice@atlanta.com;transport=TCP", a);
  parkd::sip::parse_uri("sip:alice@AtLanTa.CoM;Transport=tcp", b);
  for (auto _ : state) benchmark::DoNotOptimize(parkd::sip::uri_equal(a, b));
}
BENCHMARK(BM_UriEqual);

}  // namespace

BENCHMARK_MAIN();
