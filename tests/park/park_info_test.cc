// park-info bodies (park/park_info.h): the exact text of SPEC section 6's example, and every body read back
// with a real XML parser (Expat, with namespace processing), as a phone would: namespace, attributes, order,
// states, escaping round trips for any display name, buffer bounds, timestamps, no allocation.
#include "park/park_info.h"

#include <expat.h>
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "support/allocation_counter.h"

namespace parkd::park {
namespace {

constexpr std::string_view acme = "acme.example.com";
constexpr std::string_view ns = "urn:parkd:params:xml:ns:park-info";

// --- a tiny DOM filled by Expat

struct Node {
  std::string name;  // "namespace local-name" (Expat's namespace separator is a space)
  std::map<std::string, std::string> attributes;
  std::string text;
  std::vector<std::unique_ptr<Node>> children;

  const Node* child(std::string_view local) const {
    for (const auto& c : children)
      if (c->name == std::string(ns) + " " + std::string(local)) return c.get();
    return nullptr;
  }
  std::vector<const Node*> all(std::string_view local) const {
    std::vector<const Node*> out;
    for (const auto& c : children)
      if (c->name == std::string(ns) + " " + std::string(local)) out.push_back(c.get());
    return out;
  }
  std::string attribute(const std::string& key) const {
    const auto it = attributes.find(key);
    return it == attributes.end() ? "<absent>" : it->second;
  }
};

struct Parsed {
  std::unique_ptr<Node> root;
  std::string error;  // empty when well-formed
};

Parsed parse_xml(std::string_view body) {
  struct State {
    std::unique_ptr<Node> root;
    std::vector<Node*> stack;
  } state;
  XML_Parser parser = XML_ParserCreateNS("UTF-8", ' ');
  XML_SetUserData(parser, &state);
  XML_SetElementHandler(
      parser,
      [](void* data, const XML_Char* name, const XML_Char** attributes) {
        auto* s = static_cast<State*>(data);
        auto node = std::make_unique<Node>();
        node->name = name;
        for (size_t i = 0; attributes[i] != nullptr; i += 2) node->attributes[attributes[i]] = attributes[i + 1];
        Node* raw = node.get();
        if (s->stack.empty())
          s->root = std::move(node);
        else
          s->stack.back()->children.push_back(std::move(node));
        s->stack.push_back(raw);
      },
      [](void* data, const XML_Char*) { static_cast<State*>(data)->stack.pop_back(); });
  XML_SetCharacterDataHandler(parser, [](void* data, const XML_Char* text, int length) {
    auto* s = static_cast<State*>(data);
    if (!s->stack.empty()) s->stack.back()->text.append(text, static_cast<size_t>(length));
  });
  Parsed out;
  if (XML_Parse(parser, body.data(), static_cast<int>(body.size()), 1) == XML_STATUS_ERROR)
    out.error = std::string(XML_ErrorString(XML_GetErrorCode(parser))) + " at line " +
                std::to_string(XML_GetCurrentLineNumber(parser));
  XML_ParserFree(parser);
  out.root = std::move(state.root);
  return out;
}

// --- tables to write from

ParkTableConfig config(uint64_t seed = 6) {
  ParkTableConfig c;
  c.capacity = 16;
  c.version_seed = seed;
  c.id_key = {11, 22};
  return c;
}

struct Call {
  std::string parked_display = "Bob";
  std::string parked_uri = "sip:102@acme.example.com";
  std::string parker_display = "Alice";
  std::string parker_uri = "sip:101@acme.example.com";
  std::string call_id = "a84b4c76e66710@pc33.atlanta.example.com";
  std::string local_tag = "parkd-4f2a";
  std::string remote_tag = "1928301774";
  int64_t parked_at = 1795688102;  // 2026-11-26T10:15:02Z
  uint64_t recall_at_ms = 145'000;
  uint64_t handle = 0;
};

CallRef park(ParkTable& table, const Call& c, std::string_view extension = "103", std::string_view domain = acme) {
  ParkRequest q;
  q.domain = domain;
  q.extension = extension;
  q.parked = {c.parked_display, c.parked_uri};
  q.parker = {c.parker_display, c.parker_uri};
  q.parker_extension = "101";
  q.call_id = c.call_id;
  q.local_tag = c.local_tag;
  q.remote_tag = c.remote_tag;
  q.parked_at_unix_s = c.parked_at;
  q.recall_at_ms = c.recall_at_ms;
  q.max_park_at_ms = c.recall_at_ms + 600'000;
  q.handle = c.handle;
  auto r = table.park(q, ParkLimits{10, 0});
  EXPECT_TRUE(r.ok());
  return r.ok() ? *r : CallRef{};
}

std::string body(const ParkTable& table, std::string_view extension = "103", uint64_t now_ms = 100'000,
                 std::string_view retrieve_code = "*88", std::string_view domain = acme) {
  const auto e = table.find_extension(domain, extension);
  EXPECT_TRUE(e);
  if (!e) return {};
  std::string out(park_info_size_max(*e, retrieve_code), '\0');
  auto n = write_park_info(*e, retrieve_code, now_ms, out);
  EXPECT_TRUE(n.ok());
  out.resize(n.ok() ? *n : 0);
  return out;
}

TEST(ParkInfo, TheSpecExampleExactly) {
  ParkTable table(config(6));
  const CallRef ref = park(table, Call{});
  const std::string id(table.get(ref)->id().view());
  const std::string expected =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<park-info xmlns=\"urn:parkd:params:xml:ns:park-info\" version=\"7\" entity=\"sip:103@acme.example.com\">\n"
      "  <parked-call id=\"" +
      id +
      "\" state=\"parked\" parked-at=\"2026-11-26T10:15:02Z\" recall-in=\"45\">\n"
      "    <parked display=\"Bob\"><uri>sip:102@acme.example.com</uri></parked>\n"
      "    <parker display=\"Alice\"><uri>sip:101@acme.example.com</uri></parker>\n"
      "    <retrieve uri=\"sip:*88103@acme.example.com;park-id=" +
      id +
      "\"/>\n"
      "    <dialog call-id=\"a84b4c76e66710@pc33.atlanta.example.com\" local-tag=\"parkd-4f2a\" "
      "remote-tag=\"1928301774\"/>\n"
      "  </parked-call>\n"
      "</park-info>\n";
  EXPECT_EQ(body(table), expected);
}

TEST(ParkInfo, AParserSeesTheNamespaceAndEveryAttribute) {
  ParkTable table(config(41));
  const CallRef ref = park(table, Call{});
  const Parsed p = parse_xml(body(table, "103", 100'001));
  ASSERT_TRUE(p.error.empty()) << p.error;
  const Node& root = *p.root;
  EXPECT_EQ(root.name, std::string(ns) + " park-info");
  EXPECT_EQ(root.attribute("version"), "42");
  EXPECT_EQ(root.attribute("entity"), "sip:103@acme.example.com");
  const auto calls = root.all("parked-call");
  ASSERT_EQ(calls.size(), 1U);
  const Node& c = *calls[0];
  const std::string id(table.get(ref)->id().view());
  EXPECT_EQ(c.attribute("id"), id);
  EXPECT_EQ(c.attribute("state"), "parked");
  EXPECT_EQ(c.attribute("parked-at"), "2026-11-26T10:15:02Z");
  EXPECT_EQ(c.attribute("recall-in"), "45");  // 44.999 s rounds up
  EXPECT_EQ(c.child("parked")->attribute("display"), "Bob");
  EXPECT_EQ(c.child("parked")->child("uri")->text, "sip:102@acme.example.com");
  EXPECT_EQ(c.child("parker")->attribute("display"), "Alice");
  EXPECT_EQ(c.child("parker")->child("uri")->text, "sip:101@acme.example.com");
  EXPECT_EQ(c.child("retrieve")->attribute("uri"), "sip:*88103@acme.example.com;park-id=" + id);
  EXPECT_EQ(c.child("dialog")->attribute("call-id"), "a84b4c76e66710@pc33.atlanta.example.com");
  EXPECT_EQ(c.child("dialog")->attribute("local-tag"), "parkd-4f2a");
  EXPECT_EQ(c.child("dialog")->attribute("remote-tag"), "1928301774");
  EXPECT_EQ(c.child("retriever"), nullptr);
}

TEST(ParkInfo, EveryCallOfTheExtensionInOrderWithItsState) {
  ParkTable table(config());
  Call first;
  first.handle = 1;
  first.parked_display = "First";
  Call second = first;
  second.handle = 2;
  second.parked_display = "Second";
  second.parked_at += 60;
  Call third = first;
  third.handle = 3;
  third.parked_display = "Third";
  third.parked_at += 120;
  third.recall_at_ms = 50'000;  // already due: recall-in 0
  const CallRef a = park(table, first);
  const CallRef b = park(table, second);
  const CallRef c = park(table, third);
  park(table, first, "104");  // another extension: not in 103's body
  ASSERT_TRUE(table.start_recall(b));
  ASSERT_TRUE(table.finish(a, ParkState::retrieved, "Dave & Co", "104"));

  const Parsed p = parse_xml(body(table));
  ASSERT_TRUE(p.error.empty()) << p.error;
  const auto calls = p.root->all("parked-call");
  ASSERT_EQ(calls.size(), 3U);
  // Live calls oldest first, then the departed one.
  EXPECT_EQ(calls[0]->child("parked")->attribute("display"), "Second");
  EXPECT_EQ(calls[0]->attribute("state"), "recalling");
  EXPECT_EQ(calls[0]->attribute("recall-in"), "<absent>");
  EXPECT_EQ(calls[0]->child("retrieve"), nullptr);  // the parker's while the recall rings
  EXPECT_EQ(calls[1]->child("parked")->attribute("display"), "Third");
  EXPECT_EQ(calls[1]->attribute("state"), "parked");
  EXPECT_EQ(calls[1]->attribute("recall-in"), "0");
  EXPECT_NE(calls[1]->child("retrieve"), nullptr);
  EXPECT_EQ(calls[1]->attribute("parked-at"), "2026-11-26T10:17:02Z");
  EXPECT_EQ(calls[1]->attribute("id"), std::string(table.get(c)->id().view()));
  EXPECT_EQ(calls[2]->child("parked")->attribute("display"), "First");
  EXPECT_EQ(calls[2]->attribute("state"), "retrieved");
  EXPECT_EQ(calls[2]->attribute("recall-in"), "<absent>");
  EXPECT_EQ(calls[2]->child("retrieve"), nullptr);
  ASSERT_NE(calls[2]->child("retriever"), nullptr);
  EXPECT_EQ(calls[2]->child("retriever")->attribute("display"), "Dave & Co");
  EXPECT_EQ(calls[2]->child("retriever")->child("uri")->text, "sip:104@acme.example.com");
  EXPECT_NE(calls[2]->child("dialog"), nullptr);

  // Reported: the departed call is gone from the next body, whose version is higher.
  const uint64_t version = std::stoull(p.root->attribute("version"));
  while (const auto e = table.next_changed()) table.reported(*e);
  ASSERT_TRUE(table.finish(c, ParkState::abandoned));
  const Parsed next = parse_xml(body(table));
  ASSERT_TRUE(next.error.empty()) << next.error;
  EXPECT_GT(std::stoull(next.root->attribute("version")), version);
  const auto remaining = next.root->all("parked-call");
  ASSERT_EQ(remaining.size(), 2U);
  EXPECT_EQ(remaining[0]->attribute("state"), "recalling");
  EXPECT_EQ(remaining[1]->attribute("state"), "abandoned");
  EXPECT_EQ(remaining[1]->child("retriever"), nullptr);
}

TEST(ParkInfo, EveryFinalStateIsNamed) {
  for (const ParkState final_state :
       {ParkState::retrieved, ParkState::recalled, ParkState::abandoned, ParkState::expired}) {
    ParkTable table(config());
    ASSERT_TRUE(table.finish(park(table, Call{}), final_state));
    const Parsed p = parse_xml(body(table));
    ASSERT_TRUE(p.error.empty()) << p.error;
    EXPECT_EQ(p.root->child("parked-call")->attribute("state"), park_state_name(final_state));
    // A retrieved call whose retriever is unknown has no <retriever>.
    EXPECT_EQ(p.root->child("parked-call")->child("retriever"), nullptr);
  }
}

TEST(ParkInfo, TextRoundTripsThroughEscaping) {
  const std::vector<std::string> names = {
      "Bob & Alice <Sales> \"the\" 'best'",
      "&amp; is not decoded twice",
      "]]> <!-- --> <![CDATA[x]]>",
      "tab\there, line\nbreak, return\rend",
      "Zoë Müller, 東京, \xF0\x9F\x93\x9E",  // 2-, 3- and 4-byte UTF-8 sequences pass unchanged
      "",
  };
  for (const std::string& name : names) {
    ParkTable table(config());
    Call c;
    c.parked_display = name;
    c.parker_display = name;
    c.parked_uri = "sip:a&b@acme.example.com";  // '&' is legal in a SIP user part
    c.call_id = name.empty() ? "x" : name;
    c.local_tag = "<tag>";
    park(table, c);
    const Parsed p = parse_xml(body(table));
    ASSERT_TRUE(p.error.empty()) << p.error << "\n" << body(table);
    const Node& call = *p.root->child("parked-call");
    EXPECT_EQ(call.child("parked")->attribute("display"), name);
    EXPECT_EQ(call.child("parker")->attribute("display"), name);
    EXPECT_EQ(call.child("parked")->child("uri")->text, "sip:a&b@acme.example.com");
    EXPECT_EQ(call.child("dialog")->attribute("call-id"), c.call_id);
    EXPECT_EQ(call.child("dialog")->attribute("local-tag"), "<tag>");
  }
}

TEST(ParkInfo, BytesXmlCannotCarryBecomeReplacementCharacters) {
  const std::string fffd = "\xEF\xBF\xBD";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {std::string("a\x01z", 3), "a" + fffd + "z"},                   // C0 control
      {std::string("a\0z", 3), "a" + fffd + "z"},                     // NUL
      {"a\x80z", "a" + fffd + "z"},                                   // stray continuation byte
      {"a\xC3", "a" + fffd},                                          // truncated sequence at the end
      {"a\xC0\xAFz", "a" + fffd + fffd + "z"},                        // overlong '/'
      {"a\xED\xA0\x80z", "a" + fffd + fffd + fffd + "z"},             // UTF-16 surrogate
      {"a\xEF\xBF\xBEz", "a" + fffd + fffd + fffd + "z"},             // U+FFFE
      {"a\xF4\x90\x80\x80z", "a" + fffd + fffd + fffd + fffd + "z"},  // above U+10FFFF
      {"a\x7Fz", "a\x7Fz"},                                           // DEL is allowed in XML 1.0
  };
  for (const auto& [input, expected] : cases) {
    ParkTable table(config());
    Call c;
    c.parked_display = input;
    park(table, c);
    const Parsed p = parse_xml(body(table));
    ASSERT_TRUE(p.error.empty()) << p.error;
    EXPECT_EQ(p.root->child("parked-call")->child("parked")->attribute("display"), expected);
  }
}

TEST(ParkInfo, AnyDisplayNameGivesAWellFormedBody) {
  std::mt19937 random(7);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<int> length(0, 200);
  for (int round = 0; round < 500; ++round) {
    std::string name(static_cast<size_t>(length(random)), '\0');
    for (char& ch : name) ch = static_cast<char>(byte(random));
    ParkTable table(config());
    Call c;
    c.parked_display = name;
    c.remote_tag = name.substr(0, 40);
    park(table, c);
    const Parsed p = parse_xml(body(table));
    ASSERT_TRUE(p.error.empty()) << p.error << " round " << round;
  }
}

TEST(ParkInfo, RetrieveCodesAreEscapedInTheUri) {
  ParkTable table(config());
  const CallRef ref = park(table, Call{}, "103", "globex.example.com");
  const Parsed p = parse_xml(body(table, "103", 0, "*71#", "globex.example.com"));
  ASSERT_TRUE(p.error.empty()) << p.error;
  EXPECT_EQ(p.root->attribute("entity"), "sip:103@globex.example.com");
  EXPECT_EQ(p.root->child("parked-call")->child("retrieve")->attribute("uri"),
            "sip:*71%23103@globex.example.com;park-id=" + std::string(table.get(ref)->id().view()));
}

TEST(ParkInfo, ABufferTooSmallIsAnError) {
  ParkTable table(config());
  park(table, Call{});
  Call other;
  other.parked_display = "<&>";
  park(table, other);
  const auto e = table.find_extension(acme, "103");
  const std::string full = body(table);
  ASSERT_LE(full.size(), park_info_size_max(*e, "*88"));
  std::vector<char> buffer(full.size());
  for (size_t size = 0; size < full.size(); ++size) {
    auto r = write_park_info(*e, "*88", 100'000, std::span<char>(buffer.data(), size));
    ASSERT_FALSE(r.ok()) << size;
    EXPECT_EQ(r.error(), ParkInfoError::buffer_too_small);
  }
  auto r = write_park_info(*e, "*88", 100'000, buffer);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(std::string(buffer.data(), *r), full);
}

TEST(ParkInfo, SizeBoundHoldsAtTheWorst) {
  // Every text at its longest and escaped at its worst (each '"' becomes 6 bytes).
  ParkTable table(config());
  Call c;
  const size_t each = (park_text_bytes - retriever_text_reserve) / 8;
  c.parked_display = std::string(each, '"');
  c.parked_uri = std::string(each, '&');
  c.parker_display = std::string(each, '\'');
  c.parker_uri = std::string(each, '<');
  c.call_id = std::string(each, '"');
  c.local_tag = std::string(each, '"');
  c.remote_tag = std::string(each, '"');
  const CallRef ref = park(table, c, std::string(32, '9'));
  ASSERT_TRUE(table.finish(ref, ParkState::retrieved, std::string(128, '"'), std::string(32, '1')));
  const auto e = table.find_extension(acme, std::string(32, '9'));
  std::vector<char> buffer(park_info_size_max(*e, "*88######"));
  auto r = write_park_info(*e, "*88######", 0, buffer);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(parse_xml(std::string_view(buffer.data(), *r)).error.empty());
}

TEST(ParkInfo, UtcTimestamps) {
  auto text = [](int64_t t) {
    char out[20];
    write_utc_timestamp(t, out);
    return std::string(out, sizeof out);
  };
  EXPECT_EQ(text(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(text(1795688102), "2026-11-26T10:15:02Z");
  EXPECT_EQ(text(951782400), "2000-02-29T00:00:00Z");
  EXPECT_EQ(text(946684799), "1999-12-31T23:59:59Z");
  EXPECT_EQ(text(4107628799), "2100-03-01T23:59:59Z");  // 2100 is not a leap year
  EXPECT_EQ(text(-5), "1970-01-01T00:00:00Z");
  EXPECT_EQ(text(INT64_MAX), "9999-12-31T23:59:59Z");
  // Every day for 400 years against the C library.
  for (int64_t t = 0; t < int64_t{146097} * 86400; t += 86400 + 3601) {
    const time_t tt = static_cast<time_t>(t);
    tm utc{};
    gmtime_r(&tt, &utc);
    char expected[32];
    std::strftime(expected, sizeof expected, "%Y-%m-%dT%H:%M:%SZ", &utc);
    ASSERT_EQ(text(t), expected) << t;
  }
}

TEST(ParkInfo, WritingAllocatesNothing) {
  ParkTable table(config());
  for (uint64_t h = 0; h < 4; ++h) park(table, Call{});
  table.finish(*table.oldest(acme, "103"), ParkState::retrieved, "Dave", "104");
  const auto e = table.find_extension(acme, "103");
  std::array<char, 8192> buffer;
  const uint64_t before = test::allocation_count();
  size_t total = 0;
  for (int i = 0; i < 100; ++i) {
    auto r = write_park_info(*e, "*88", 1000, buffer);
    total += r.ok() ? *r : 0;
  }
  EXPECT_EQ(test::allocation_count(), before);
  EXPECT_GT(total, 100U * 1000);
}

}  // namespace
}  // namespace parkd::park
