#include "core/endpoint.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <string>

namespace parkd {
namespace {

TEST(Endpoint, Ipv4TextMatchesInetNtopForEveryOctetValue) {
  for (unsigned v = 0; v < 256; ++v) {
    Endpoint e;
    e.address[10] = e.address[11] = 0xff;
    e.address[12] = static_cast<uint8_t>(v);
    e.address[13] = static_cast<uint8_t>(255 - v);
    e.address[14] = static_cast<uint8_t>(v / 2);
    e.address[15] = static_cast<uint8_t>(v % 10);
    char expected[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, e.address + 12, expected, sizeof expected);
    char got[64];
    EXPECT_EQ(std::string(got, e.host_text(got, sizeof got)), expected);
  }
}

TEST(Endpoint, RoundTripsThroughTextAndSockaddr) {
  for (const char* text : {"127.0.0.1:5060", "[::1]:5070", "[2001:db8::7]:0", "10.200.3.4:65535"}) {
    Endpoint e;
    ASSERT_TRUE(parse_endpoint(text, e)) << text;
    EXPECT_EQ(e.to_string(), text);
    sockaddr_storage sa{};
    socklen_t len = e.to_sockaddr(sa);
    EXPECT_EQ(Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&sa), len), e) << text;
  }
  Endpoint e;
  EXPECT_FALSE(parse_endpoint("localhost:5060", e));
  EXPECT_FALSE(parse_endpoint("1.2.3.4:99999", e));
  EXPECT_FALSE(parse_endpoint("[::1]5060", e));
}

TEST(Endpoint, TruncatesToTheGivenSize) {
  Endpoint e;
  ASSERT_TRUE(parse_endpoint("192.168.100.200:1", e));
  char small[5];
  EXPECT_EQ(std::string(small, e.host_text(small, sizeof small)), "192.1");
}

}  // namespace
}  // namespace parkd
