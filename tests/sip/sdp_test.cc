#include "sip/sdp.h"

#include <gtest/gtest.h>

#include <sys/mman.h>
#include <unistd.h>
#include "support/guard_page.h"

#include <array>
#include <cstring>
#include <string>
#include <string_view>

namespace parkd::sip {
namespace {

using ::parkd::test::GuardedBuffer;

// A typical offer from a desk phone.
constexpr std::string_view phone_offer =
    "v=0\r\n"
    "o=alice 2890844526 2890844527 IN IP4 192.0.2.10\r\n"
    "s=-\r\n"
    "c=IN IP4 192.0.2.10\r\n"
    "t=0 0\r\n"
    "m=audio 49170 RTP/AVP 0 8 101\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-16\r\n";

SdpView parse_ok(std::string_view body) {
  SdpView view;
  SdpError error = parse_sdp(body, view);
  EXPECT_EQ(error, SdpError::none) << sdp_error_text(error) << "\n" << body;
  return view;
}

SdpError parse_error(std::string_view body) {
  SdpView view;
  return parse_sdp(body, view);
}

std::string with_direction(std::string_view body, SdpDirection direction) {
  std::array<char, 4096> buffer{};
  auto written = sdp_with_audio_direction(body, direction, buffer);
  if (!written) {
    ADD_FAILURE() << sdp_error_text(written.error());
    return {};
  }
  return std::string(buffer.data(), *written);
}

TEST(SdpParse, PhoneOffer) {
  SdpView view = parse_ok(phone_offer);
  EXPECT_EQ(view.origin.username, "alice");
  EXPECT_EQ(view.origin.session_id, "2890844526");
  EXPECT_EQ(view.origin.session_version, 2890844527U);
  EXPECT_EQ(view.origin.net_type, "IN");
  EXPECT_EQ(view.origin.addr_type, "IP4");
  EXPECT_EQ(view.origin.address, "192.0.2.10");
  EXPECT_EQ(view.session_name, "-");
  EXPECT_TRUE(view.session_connection.present);
  EXPECT_FALSE(view.audio.connection.present);
  EXPECT_EQ(view.audio_connection().address, "192.0.2.10");
  EXPECT_FALSE(view.audio_connection().ipv6);
  EXPECT_EQ(view.audio.media, "audio");
  EXPECT_EQ(view.audio.port, 49170);
  EXPECT_EQ(view.audio.port_count, 1);
  EXPECT_EQ(view.audio.proto, "RTP/AVP");
  ASSERT_EQ(view.audio.format_count, 3U);
  EXPECT_EQ(view.audio.formats[0], 0);
  EXPECT_EQ(view.audio.formats[1], 8);
  EXPECT_EQ(view.audio.formats[2], 101);
  EXPECT_FALSE(view.audio.formats_truncated);
  EXPECT_EQ(view.audio_direction(), SdpDirection::sendrecv);
  EXPECT_EQ(view.media_count, 1U);
  EXPECT_TRUE(view.audio.section.starts_with("m=audio 49170"));
  EXPECT_TRUE(view.audio.section.ends_with("a=fmtp:101 0-16\r\n"));
}

TEST(SdpParse, BareLineFeedsAndNoFinalLineEnding) {
  SdpView view = parse_ok("v=0\no=- 1 2 IN IP4 10.0.0.1\ns=-\nc=IN IP4 10.0.0.1\nt=0 0\nm=audio 4000 RTP/AVP 8");
  EXPECT_EQ(view.audio.port, 4000);
  ASSERT_EQ(view.audio.format_count, 1U);
  EXPECT_EQ(view.audio.formats[0], 8);
}

TEST(SdpParse, VideoFirstThenAudioWithItsOwnConnectionAndDirection) {
  SdpView view = parse_ok(
      "v=0\r\n"
      "o=- 7 7 IN IP4 198.51.100.1\r\n"
      "s=call\r\n"
      "c=IN IP4 198.51.100.1\r\n"
      "t=0 0\r\n"
      "a=recvonly\r\n"
      "m=video 51372 RTP/AVP 96 97\r\n"
      "c=IN IP4 198.51.100.2\r\n"
      "a=sendrecv\r\n"
      "m=audio 49172 RTP/SAVP 0\r\n"
      "c=IN IP4 198.51.100.3\r\n"
      "a=inactive\r\n"
      "m=audio 49174 RTP/AVP 8\r\n"
      "a=sendonly\r\n");
  EXPECT_EQ(view.media_count, 3U);
  EXPECT_EQ(view.audio.index, 1U);
  EXPECT_EQ(view.audio.port, 49172);
  EXPECT_EQ(view.audio.proto, "RTP/SAVP");
  EXPECT_EQ(view.audio_connection().address, "198.51.100.3");
  EXPECT_EQ(view.session_connection.address, "198.51.100.1");
  EXPECT_EQ(view.audio_direction(), SdpDirection::inactive);
  EXPECT_TRUE(view.has_session_direction);
  EXPECT_EQ(view.session_direction, SdpDirection::recvonly);
  EXPECT_TRUE(view.audio.section.starts_with("m=audio 49172"));
  EXPECT_TRUE(view.audio.section.ends_with("a=inactive\r\n"));
}

TEST(SdpParse, SessionDirectionAppliesWhenTheMediaHasNone) {
  SdpView view = parse_ok(
      "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\na=sendonly\r\n"
      "m=audio 5004 RTP/AVP 0\r\n");
  EXPECT_FALSE(view.audio.has_direction);
  EXPECT_EQ(view.audio_direction(), SdpDirection::sendonly);
}

TEST(SdpParse, Ipv6) {
  SdpView view = parse_ok(
      "v=0\r\no=bob 1 1 IN IP6 2001:db8::1\r\ns=-\r\nc=IN IP6 2001:db8::2\r\nt=0 0\r\n"
      "m=audio 5004 RTP/AVP 0\r\n");
  EXPECT_EQ(view.origin.addr_type, "IP6");
  EXPECT_EQ(view.origin.address, "2001:db8::1");
  EXPECT_TRUE(view.audio_connection().ipv6);
  EXPECT_EQ(view.audio_connection().addr_type, "IP6");
  EXPECT_EQ(view.audio_connection().address, "2001:db8::2");
}

TEST(SdpParse, MulticastSuffixIsNotPartOfTheAddress) {
  SdpView view = parse_ok(
      "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 5004 RTP/AVP 0\r\nc=IN IP4 233.252.0.1/127/3\r\n");
  EXPECT_EQ(view.audio_connection().address, "233.252.0.1");
  EXPECT_EQ(view.audio_connection().raw, "IN IP4 233.252.0.1/127/3");
}

TEST(SdpParse, MissingMediaLevelConnectionFallsBackToSession) {
  SdpView view = parse_ok(
      "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.9\r\nt=0 0\r\n"
      "m=video 5006 RTP/AVP 96\r\nc=IN IP4 10.0.0.7\r\nm=audio 5004 RTP/AVP 0\r\n");
  EXPECT_FALSE(view.audio.connection.present);
  EXPECT_EQ(view.audio_connection().address, "10.0.0.9");
}

TEST(SdpParse, NoConnectionAnywhereForAudio) {
  // The video stream's c= does not count for the audio stream.
  EXPECT_EQ(parse_error("v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nt=0 0\r\n"
                        "m=video 5006 RTP/AVP 96\r\nc=IN IP4 10.0.0.7\r\nm=audio 5004 RTP/AVP 0\r\n"),
            SdpError::missing_connection);
}

TEST(SdpParse, PortCountAndDisabledStream) {
  SdpView view = parse_ok("v=0\r\no=- 1 1 IN IP4 h\r\nc=IN IP4 h\r\nm=audio 0/2 RTP/AVP 0\r\n");
  EXPECT_EQ(view.audio.port, 0);
  EXPECT_EQ(view.audio.port_count, 2);
}

TEST(SdpParse, MoreFormatsThanKeptAreTruncatedNotRefused) {
  std::string body = "v=0\r\no=- 1 1 IN IP4 h\r\nc=IN IP4 h\r\nm=audio 5004 RTP/AVP";
  for (int pt = 0; pt < 40; ++pt) {
    body += ' ';
    body += std::to_string(pt + 60);
  }
  body += "\r\n";
  SdpView view = parse_ok(body);
  EXPECT_EQ(view.audio.format_count, sdp_format_count_max);
  EXPECT_TRUE(view.audio.formats_truncated);
  EXPECT_EQ(view.audio.formats[31], 91);
}

TEST(SdpParse, NonRtpFormatsOfOtherStreamsPass) {
  SdpView view = parse_ok(
      "v=0\r\no=- 1 1 IN IP4 h\r\nc=IN IP4 h\r\nm=application 5000 UDP/BFCP *\r\nm=image 5002 udptl t38\r\n"
      "m=audio 5004 RTP/AVP 0\r\n");
  EXPECT_EQ(view.audio.index, 2U);
}

TEST(SdpParse, BlankLinesAndTrailingSpacesTolerated) {
  SdpView view = parse_ok("v=0 \r\no=- 1 1 IN IP4 h\r\nc=IN IP4 h\r\nm=audio 5004 RTP/AVP 0\r\na=sendonly \r\n\r\n");
  EXPECT_EQ(view.audio_direction(), SdpDirection::sendonly);
}

struct BadCase {
  const char* name;
  std::string_view body;
  SdpError error;
};

class SdpMalformed : public testing::TestWithParam<BadCase> {};

TEST_P(SdpMalformed, IsRefusedWithTheRightError) {
  SdpView view;
  EXPECT_EQ(parse_sdp(GetParam().body, view), GetParam().error) << GetParam().body;
}

constexpr std::string_view ok_head = "v=0\r\no=- 1 1 IN IP4 h\r\nc=IN IP4 h\r\n";

INSTANTIATE_TEST_SUITE_P(
    Lines, SdpMalformed,
    testing::Values(
        BadCase{"empty", "", SdpError::empty}, BadCase{"only_blank", "\r\n\n", SdpError::empty},
        BadCase{"no_version", "o=- 1 1 IN IP4 h\r\nm=audio 1 RTP/AVP 0\r\n", SdpError::missing_version},
        BadCase{"version_1", "v=1\r\no=- 1 1 IN IP4 h\r\n", SdpError::bad_version},
        BadCase{"no_origin", "v=0\r\nc=IN IP4 h\r\nm=audio 1 RTP/AVP 0\r\n", SdpError::missing_origin},
        BadCase{"two_origins", "v=0\r\no=- 1 1 IN IP4 h\r\no=- 1 1 IN IP4 h\r\n", SdpError::duplicate_origin},
        BadCase{"origin_five_fields", "v=0\r\no=- 1 1 IN IP4\r\n", SdpError::bad_origin},
        BadCase{"origin_seven_fields", "v=0\r\no=- 1 1 IN IP4 h x\r\n", SdpError::bad_origin},
        BadCase{"origin_version_not_number", "v=0\r\no=- 1 x1 IN IP4 h\r\n", SdpError::bad_origin},
        BadCase{"origin_version_overflow", "v=0\r\no=- 1 18446744073709551616 IN IP4 h\r\n", SdpError::bad_origin},
        BadCase{"origin_id_not_number", "v=0\r\no=- a 1 IN IP4 h\r\n", SdpError::bad_origin},
        BadCase{"no_equals", "v=0\r\nox- 1 1 IN IP4 h\r\n", SdpError::bad_line},
        BadCase{"upper_case_type", "v=0\r\nO=- 1 1 IN IP4 h\r\n", SdpError::bad_line},
        BadCase{"one_char_line", "v=0\r\no\r\n", SdpError::bad_line},
        BadCase{"bare_cr_inside", "v=0\r\no=- 1 1 IN\rIP4 h\r\n", SdpError::bad_line},
        BadCase{"trailing_cr_without_lf", "v=0\r\no=- 1 1 IN IP4 h\r\nc=IN IP4 h\r\nm=audio 1 RTP/AVP 0\r",
                SdpError::bad_line},
        BadCase{"nul_inside", std::string_view("v=0\r\ns=a\0b\r\n", 12), SdpError::bad_line},
        BadCase{"second_version", "v=0\r\no=- 1 1 IN IP4 h\r\nv=0\r\n", SdpError::bad_line},
        BadCase{"connection_two_fields", "v=0\r\no=- 1 1 IN IP4 h\r\nc=IN IP4\r\n", SdpError::bad_connection},
        BadCase{"connection_net_type", "v=0\r\no=- 1 1 IN IP4 h\r\nc=ATM NSAP h\r\n", SdpError::bad_connection},
        BadCase{"connection_addr_type", "v=0\r\no=- 1 1 IN IP4 h\r\nc=IN IPX h\r\n", SdpError::bad_connection},
        BadCase{"connection_empty_address", "v=0\r\no=- 1 1 IN IP4 h\r\nc=IN IP4 /127\r\n", SdpError::bad_connection},
        BadCase{"two_session_connections", "v=0\r\no=- 1 1 IN IP4 h\r\nc=IN IP4 h\r\nc=IN IP4 h\r\n",
                SdpError::duplicate_connection},
        BadCase{"no_media", "v=0\r\no=- 1 1 IN IP4 h\r\nc=IN IP4 h\r\n", SdpError::no_audio},
        BadCase{"video_only", "v=0\r\no=- 1 1 IN IP4 h\r\nc=IN IP4 h\r\nm=video 1 RTP/AVP 96\r\n", SdpError::no_audio},
        BadCase{"media_no_format", "v=0\r\no=- 1 1 IN IP4 h\r\nc=IN IP4 h\r\nm=audio 1 RTP/AVP\r\n",
                SdpError::bad_media},
        BadCase{"media_port_text", "v=0\r\no=- 1 1 IN IP4 h\r\nm=audio x RTP/AVP 0\r\n", SdpError::bad_media},
        BadCase{"media_port_too_big", "v=0\r\no=- 1 1 IN IP4 h\r\nm=audio 65536 RTP/AVP 0\r\n", SdpError::bad_media},
        BadCase{"media_port_count_zero", "v=0\r\no=- 1 1 IN IP4 h\r\nm=audio 1/0 RTP/AVP 0\r\n", SdpError::bad_media},
        BadCase{"media_payload_128", "v=0\r\no=- 1 1 IN IP4 h\r\nm=audio 1 RTP/AVP 0 128\r\n", SdpError::bad_media},
        BadCase{"media_payload_text", "v=0\r\no=- 1 1 IN IP4 h\r\nm=audio 1 RTP/AVP PCMU\r\n", SdpError::bad_media},
        BadCase{"media_tab", "v=0\r\no=- 1 1 IN IP4 h\r\nm=audio 1\tRTP/AVP 0\r\n", SdpError::bad_media},
        BadCase{"video_bad_port", "v=0\r\no=- 1 1 IN IP4 h\r\nm=video -1 RTP/AVP 96\r\n", SdpError::bad_media},
        BadCase{"audio_two_connections",
                "v=0\r\no=- 1 1 IN IP4 h\r\nm=audio 1 RTP/AVP 0\r\nc=IN IP4 h\r\nc=IN IP4 h\r\n",
                SdpError::duplicate_connection}),
    [](const testing::TestParamInfo<BadCase>& test) { return std::string(test.param.name); });

TEST(SdpErrors, EveryErrorHasText) {
  EXPECT_EQ(sdp_error_text(SdpError::none), "OK");
  EXPECT_EQ(sdp_error_text(SdpError::bad_media), "Malformed SDP m= line");
  EXPECT_EQ(sdp_error_text(SdpError::output_too_small), "SDP output buffer too small");
  EXPECT_EQ(sdp_error_text(static_cast<SdpError>(200)), "Unknown SDP error");
}

TEST(SdpDirectionWriter, AddsSendonlyAtTheEndOfTheAudioSection) {
  std::string held = with_direction(phone_offer, SdpDirection::sendonly);
  EXPECT_EQ(held, std::string(phone_offer) + "a=sendonly\r\n");
  EXPECT_EQ(parse_ok(held).audio_direction(), SdpDirection::sendonly);
}

TEST(SdpDirectionWriter, ReplacesTheExistingAttributesInPlace) {
  std::string body =
      "v=0\r\no=- 1 1 IN IP4 h\r\nc=IN IP4 h\r\nm=audio 1 RTP/AVP 0\r\na=sendrecv\r\na=ptime:20\r\na=recvonly\r\n"
      "m=video 2 RTP/AVP 96\r\na=sendrecv\r\n";
  EXPECT_EQ(with_direction(body, SdpDirection::inactive),
            "v=0\r\no=- 1 1 IN IP4 h\r\nc=IN IP4 h\r\nm=audio 1 RTP/AVP 0\r\na=inactive\r\na=ptime:20\r\n"
            "m=video 2 RTP/AVP 96\r\na=sendrecv\r\n");
}

TEST(SdpDirectionWriter, AudioBeforeVideoGetsTheLineInItsOwnSection) {
  std::string body = "v=0\r\no=- 1 1 IN IP4 h\r\nc=IN IP4 h\r\nm=audio 1 RTP/AVP 0\r\nm=video 2 RTP/AVP 96\r\n";
  EXPECT_EQ(with_direction(body, SdpDirection::sendonly),
            "v=0\r\no=- 1 1 IN IP4 h\r\nc=IN IP4 h\r\nm=audio 1 RTP/AVP 0\r\na=sendonly\r\nm=video 2 RTP/AVP 96\r\n");
}

TEST(SdpDirectionWriter, KeepsBareLineFeedsAndEndsAnUnterminatedLastLine) {
  EXPECT_EQ(with_direction("v=0\no=- 1 1 IN IP4 h\nc=IN IP4 h\nm=audio 1 RTP/AVP 0\n", SdpDirection::sendonly),
            "v=0\no=- 1 1 IN IP4 h\nc=IN IP4 h\nm=audio 1 RTP/AVP 0\na=sendonly\n");
  EXPECT_EQ(with_direction("v=0\no=- 1 1 IN IP4 h\nc=IN IP4 h\nm=audio 1 RTP/AVP 0\na=x", SdpDirection::inactive),
            "v=0\no=- 1 1 IN IP4 h\nc=IN IP4 h\nm=audio 1 RTP/AVP 0\na=x\na=inactive\n");
  EXPECT_EQ(
      with_direction("v=0\no=- 1 1 IN IP4 h\nc=IN IP4 h\nm=audio 1 RTP/AVP 0\na=sendrecv", SdpDirection::inactive),
      "v=0\no=- 1 1 IN IP4 h\nc=IN IP4 h\nm=audio 1 RTP/AVP 0\na=inactive");
}

TEST(SdpDirectionWriter, LeavesTheSessionLevelAttributeAndOverridesIt) {
  std::string body = "v=0\r\no=- 1 1 IN IP4 h\r\nc=IN IP4 h\r\na=sendrecv\r\nm=audio 1 RTP/AVP 0\r\n";
  std::string held = with_direction(body, SdpDirection::sendonly);
  EXPECT_EQ(held, body + "a=sendonly\r\n");
  SdpView view = parse_ok(held);
  EXPECT_EQ(view.session_direction, SdpDirection::sendrecv);
  EXPECT_EQ(view.audio_direction(), SdpDirection::sendonly);
}

TEST(SdpDirectionWriter, RefusesBadSdpAndSmallBuffers) {
  std::array<char, 16> small{};
  auto result = sdp_with_audio_direction(phone_offer, SdpDirection::sendonly, small);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error(), SdpError::output_too_small);
  auto bad = sdp_with_audio_direction("v=0\r\n", SdpDirection::sendonly, small);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error(), SdpError::missing_origin);
}

TEST(SdpDirectionWriter, NeverWritesPastTheBufferAtAnySize) {
  std::string expected = std::string(phone_offer) + "a=inactive\r\n";
  GuardedBuffer guard;
  for (size_t capacity = 0; capacity <= expected.size(); ++capacity) {
    auto result = sdp_with_audio_direction(phone_offer, SdpDirection::inactive, guard.tail(capacity));
    if (capacity < expected.size()) {
      ASSERT_FALSE(result) << capacity;
      EXPECT_EQ(result.error(), SdpError::output_too_small);
    } else {
      ASSERT_TRUE(result);
      EXPECT_EQ(std::string_view(guard.tail(capacity).data(), *result), expected);
    }
  }
}

TEST(SdpVersionBump, IncrementsOnlyTheVersion) {
  std::array<char, 1024> buffer{};
  auto result = sdp_with_version_bump(phone_offer, buffer);
  ASSERT_TRUE(result);
  std::string expected(phone_offer);
  expected.replace(expected.find("2890844527"), 10, "2890844528");
  EXPECT_EQ(std::string_view(buffer.data(), *result), expected);

  auto carry = sdp_with_version_bump("v=0\r\no=- 5 99 IN IP4 h\r\nc=IN IP4 h\r\nm=audio 1 RTP/AVP 0\r\n", buffer);
  ASSERT_TRUE(carry);
  EXPECT_EQ(std::string_view(buffer.data(), *carry),
            "v=0\r\no=- 5 100 IN IP4 h\r\nc=IN IP4 h\r\nm=audio 1 RTP/AVP 0\r\n");
}

TEST(SdpVersionBump, RefusesOverflowAndSmallBuffers) {
  std::array<char, 1024> buffer{};
  auto overflow = sdp_with_version_bump(
      "v=0\r\no=- 5 18446744073709551615 IN IP4 h\r\nc=IN IP4 h\r\nm=audio 1 RTP/AVP 0\r\n", buffer);
  ASSERT_FALSE(overflow);
  EXPECT_EQ(overflow.error(), SdpError::version_overflow);
  GuardedBuffer guard;
  for (size_t capacity = 0; capacity < phone_offer.size(); ++capacity) {
    auto result = sdp_with_version_bump(phone_offer, guard.tail(capacity));
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error(), SdpError::output_too_small);
  }
}

TEST(SdpHold, WritesParkdsOwnSdp) {
  std::array<char, 1024> buffer{};
  auto result = write_hold_sdp({.session_id = 42,
                                .session_version = 7,
                                .address = "203.0.113.5",
                                .port = 30000,
                                .direction = SdpDirection::sendonly},
                               buffer);
  ASSERT_TRUE(result);
  std::string_view text(buffer.data(), *result);
  EXPECT_EQ(text,
            "v=0\r\n"
            "o=parkd 42 7 IN IP4 203.0.113.5\r\n"
            "s=parkd\r\n"
            "c=IN IP4 203.0.113.5\r\n"
            "t=0 0\r\n"
            "m=audio 30000 RTP/AVP 0 8 101\r\n"
            "a=rtpmap:0 PCMU/8000\r\n"
            "a=rtpmap:8 PCMA/8000\r\n"
            "a=rtpmap:101 telephone-event/8000\r\n"
            "a=fmtp:101 0-16\r\n"
            "a=ptime:20\r\n"
            "a=sendonly\r\n");
  SdpView view = parse_ok(text);
  EXPECT_EQ(view.origin.session_version, 7U);
  EXPECT_EQ(view.audio_direction(), SdpDirection::sendonly);
  EXPECT_EQ(view.audio.format_count, 3U);
}

TEST(SdpHold, Ipv6AndInactive) {
  std::array<char, 1024> buffer{};
  auto result = write_hold_sdp({.session_id = 1,
                                .session_version = 2,
                                .address = "2001:db8::5",
                                .port = 4000,
                                .direction = SdpDirection::inactive},
                               buffer);
  ASSERT_TRUE(result);
  SdpView view = parse_ok(std::string_view(buffer.data(), *result));
  EXPECT_TRUE(view.audio_connection().ipv6);
  EXPECT_EQ(view.origin.addr_type, "IP6");
  EXPECT_EQ(view.audio_direction(), SdpDirection::inactive);
}

TEST(SdpHold, RefusesBadAddressAndSmallBuffers) {
  std::array<char, 1024> buffer{};
  auto empty = write_hold_sdp({.address = ""}, buffer);
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error(), SdpError::bad_argument);
  auto injected = write_hold_sdp({.address = "1.2.3.4\r\na=evil"}, buffer);
  ASSERT_FALSE(injected);
  EXPECT_EQ(injected.error(), SdpError::bad_argument);
  GuardedBuffer guard;
  auto full = write_hold_sdp({.address = "203.0.113.5", .port = 30000}, buffer);
  ASSERT_TRUE(full);
  for (size_t capacity = 0; capacity <= *full; ++capacity) {
    auto result = write_hold_sdp({.address = "203.0.113.5", .port = 30000}, guard.tail(capacity));
    EXPECT_EQ(result.ok(), capacity == *full) << capacity;
  }
}

// Every prefix of a valid body, placed right before a PROT_NONE page: an over-read crashes the test.
TEST(SdpGuardPage, EveryPrefixParsesWithoutOverRead) {
  GuardedBuffer guard;
  std::array<char, 2048> out{};
  std::string bodies[] = {
      std::string(phone_offer),
      "v=0\no=- 1 1 IN IP6 ::1\ns=-\nm=video 1 RTP/AVP 96\nc=IN IP6 ::2\nm=audio 1/2 RTP/SAVP 0 8\nc=IN IP6 "
      "::3\na=recvonly",
  };
  for (const std::string& body : bodies) {
    for (size_t size = 0; size <= body.size(); ++size) {
      std::string_view placed = guard.place(std::string_view(body).substr(0, size));
      SdpView view;
      SdpError error = parse_sdp(placed, view);
      if (error == SdpError::none) {
        (void)sdp_with_audio_direction(placed, SdpDirection::sendonly, out);
        (void)sdp_with_version_bump(placed, out);
      }
    }
  }
  // The whole last body parses.
  SdpView view = parse_ok(guard.place(bodies[1]));
  EXPECT_EQ(view.audio_direction(), SdpDirection::recvonly);
  EXPECT_EQ(view.audio_connection().address, "::3");
  EXPECT_EQ(view.audio.port_count, 2);
}

}  // namespace
}  // namespace parkd::sip
