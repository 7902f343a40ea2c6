// libFuzzer target for sip/sdp.h: parse_sdp() on any bytes, and the two copy-with-one-change writers checked
// against the parser (differential: what the writer claims to have changed is what a re-parse sees).
//
//   tools/fuzz builds and runs it; by hand, with a scratch corpus directory first:
//   mkdir -p /tmp/sdp_corpus && build/fuzz/tests/fuzz/sdp_fuzz -dict=tests/fuzz/sdp.dict /tmp/sdp_corpus
//   tests/fuzz/corpus/sdp
// (libFuzzer adds what it finds to the first directory: a scratch one keeps the seed corpus small.)
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string_view>

#include "sip/sdp.h"

namespace {

using parkd::sip::SdpDirection;
using parkd::sip::SdpError;
using parkd::sip::SdpView;

void check(bool condition) {
  if (!condition) std::abort();
}

bool inside(std::string_view part, std::string_view whole) {
  return part.empty() || (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

void check_views(const SdpView& view, std::string_view in) {
  for (std::string_view part :
       {view.origin.username, view.origin.session_id, view.origin.session_version_text, view.origin.net_type,
        view.origin.addr_type, view.origin.address, view.origin.raw, view.session_name, view.session_connection.address,
        view.session_connection.raw, view.audio.media, view.audio.proto, view.audio.section,
        view.audio.connection.address, view.audio.connection.raw})
    check(inside(part, in));
  check(view.audio.format_count <= parkd::sip::sdp_format_count_max);
  check(view.audio_connection().present);
  for (uint32_t i = 0; i < view.audio.format_count; ++i) check(view.audio.formats[i] <= 127);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // A heap copy of exactly `size` bytes, so ASan catches a read one past the end.
  auto copy = std::make_unique<char[]>(size == 0 ? 1 : size);
  for (size_t i = 0; i < size; ++i) copy[i] = static_cast<char>(data[i]);
  std::string_view in(copy.get(), size);

  SdpView view;
  SdpError error = parse_sdp(in, view);
  if (error != SdpError::none) {
    check(!parkd::sip::sdp_error_text(error).empty());
    return 0;
  }
  check_views(view, in);

  // Output buffers sized exactly, so an overflow is an ASan report; a size picked from the input exercises
  // the too-small path.
  size_t out_size = in.size() + 32;
  auto out = std::make_unique<char[]>(out_size);
  auto direction = static_cast<SdpDirection>(size % 4);
  auto written = parkd::sip::sdp_with_audio_direction(in, direction, {out.get(), out_size});
  check(written.ok());
  SdpView changed;
  check(parse_sdp({out.get(), *written}, changed) == SdpError::none);
  check(changed.audio_direction() == direction);
  check(changed.audio.port == view.audio.port && changed.audio.format_count == view.audio.format_count);
  check(changed.audio_connection().address == view.audio_connection().address);
  check(changed.origin.session_version == view.origin.session_version);
  check(changed.media_count == view.media_count);

  size_t small = size == 0 ? 0 : data[0] % (*written + 1);
  auto tight = std::make_unique<char[]>(small == 0 ? 1 : small);
  auto partial = parkd::sip::sdp_with_audio_direction(in, direction, {tight.get(), small});
  check(partial.ok() == (small >= *written));

  auto bumped = parkd::sip::sdp_with_version_bump(in, {out.get(), out_size});
  if (view.origin.session_version == UINT64_MAX) {
    check(!bumped.ok() && bumped.error() == SdpError::version_overflow);
  } else {
    check(bumped.ok());
    SdpView bumped_view;
    check(parse_sdp({out.get(), *bumped}, bumped_view) == SdpError::none);
    check(bumped_view.origin.session_version == view.origin.session_version + 1);
    check(bumped_view.audio_direction() == view.audio_direction());
  }
  return 0;
}
