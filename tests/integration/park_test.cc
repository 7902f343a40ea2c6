// Call park through the real parkd (issue 7, SPEC section 6): park by REFER to the park code, park-info NOTIFYs
// to every device of the target extension (read back with a real XML parser, expat), retrieve with the retrieve
// code, abandon, isolation between tenants, limits and recall. Test phones on UDP loopback play every party;
// every wait is bounded and nothing sleeps to synchronise.
#include <expat.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "support/parkd.h"
#include "support/phone.h"

namespace parkd::test {
namespace {

using namespace std::chrono_literals;

constexpr const char* retriever_sdp =
    "v=0\r\no=- 7 7 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7000 RTP/AVP 0\r\n";
constexpr const char* acme = "acme.example.com";

// A park-info body as an XML parser sees it: each element with its attributes, in document order, and the
// text of each <uri>.
struct Element {
  std::string name;
  std::map<std::string, std::string> attributes;
  std::string text;
};
struct ParkInfo {
  bool well_formed = false;
  std::vector<Element> elements;
  std::vector<size_t> open;  // while parsing: the elements not closed yet
  const Element* find(const std::string& name, size_t nth = 0) const {
    for (const Element& e : elements)
      if (e.name == name && nth-- == 0) return &e;
    return nullptr;
  }
  size_t count(const std::string& name) const {
    size_t n = 0;
    for (const Element& e : elements) n += e.name == name ? 1 : 0;
    return n;
  }
  std::string attribute(const std::string& element, const std::string& name, size_t nth = 0) const {
    const Element* e = find(element, nth);
    if (e == nullptr) return "<no " + element + ">";
    auto it = e->attributes.find(name);
    return it == e->attributes.end() ? "<no " + name + ">" : it->second;
  }
};

ParkInfo parse_park_info(const std::string& body) {
  ParkInfo info;
  XML_Parser parser = XML_ParserCreateNS(nullptr, '|');
  XML_SetUserData(parser, &info);
  XML_SetElementHandler(
      parser,
      [](void* data, const XML_Char* name, const XML_Char** attributes) {
        auto* out = static_cast<ParkInfo*>(data);
        Element e;
        e.name = name;
        const size_t bar = e.name.find('|');
        if (bar != std::string::npos) e.name = e.name.substr(bar + 1) + "@" + e.name.substr(0, bar);
        for (size_t i = 0; attributes[i] != nullptr; i += 2) e.attributes[attributes[i]] = attributes[i + 1];
        out->open.push_back(out->elements.size());
        out->elements.push_back(std::move(e));
      },
      [](void* data, const XML_Char*) { static_cast<ParkInfo*>(data)->open.pop_back(); });
  XML_SetCharacterDataHandler(parser, [](void* data, const XML_Char* s, int len) {
    auto* out = static_cast<ParkInfo*>(data);
    if (!out->open.empty()) out->elements[out->open.back()].text.append(s, static_cast<size_t>(len));
  });
  info.well_formed = XML_Parse(parser, body.data(), static_cast<int>(body.size()), 1) == XML_STATUS_OK;
  XML_ParserFree(parser);
  return info;
}

const std::string ns = "@urn:parkd:params:xml:ns:park-info";

// Reads the next park-info NOTIFY of `phone`, answers it 200 and returns its parsed body.
ParkInfo next_park_info(Phone& phone, Parsed* raw = nullptr) {
  Parsed notify = phone.wait_request("NOTIFY");
  EXPECT_TRUE(notify.ok) << "no park-info NOTIFY reached " << phone.aor();
  if (!notify.ok) return {};
  EXPECT_NE(notify.bytes.find("Event: park-info"), std::string::npos) << notify.bytes;
  EXPECT_NE(notify.bytes.find("Subscription-State: active"), std::string::npos) << notify.bytes;
  EXPECT_NE(notify.bytes.find("Content-Type: application/park-info+xml"), std::string::npos) << notify.bytes;
  EXPECT_TRUE(notify->to.tag.empty()) << "out of dialog: no To tag";
  phone.reply(notify, 200);
  ParkInfo info = parse_park_info(std::string(notify->body));
  EXPECT_TRUE(info.well_formed) << notify->body;
  if (raw != nullptr) *raw = std::move(notify);
  return info;
}

std::string refer_to(const std::string& user, const std::string& domain = acme) {
  return "Refer-To: <sip:" + user + "@" + domain + ">\r\n";
}

// The parker REFERs the other party to `code`; the call is parked: 202, sipfrag 100, the parked party's hold
// re-INVITE answered, sipfrag 200, the parker hangs up.
void park(Phone& parker, Phone& parked, const std::string& code, const std::string& domain = acme) {
  parker.send_in_dialog("REFER", "", refer_to(code, domain));
  Parsed accepted = parker.wait_response("REFER");
  ASSERT_TRUE(accepted.ok);
  ASSERT_EQ(accepted->status_code, 202) << accepted.bytes;
  Parsed trying = parker.wait_request("NOTIFY");
  ASSERT_TRUE(trying.ok);
  EXPECT_EQ(trying->body, "SIP/2.0 100 Trying\r\n");
  parker.reply(trying, 200);
  Parsed hold = parked.wait_request("INVITE");
  ASSERT_TRUE(hold.ok) << "the parked party is re-INVITEd onto hold";
  EXPECT_EQ(hold->call_id, parked.dialog().call_id);
  EXPECT_NE(hold.bytes.find("a=inactive"), std::string::npos) << hold.bytes;
  parked.reply(hold, 200, answer_sdp);
  EXPECT_TRUE(parked.wait_request("ACK").ok);
  Parsed done = parker.wait_request("NOTIFY");
  ASSERT_TRUE(done.ok);
  EXPECT_EQ(done->body, "SIP/2.0 200 OK\r\n");
  parker.reply(done, 200);
  parker.send_in_dialog("BYE");
  Parsed bye_ok = parker.wait_response("BYE");
  ASSERT_TRUE(bye_ok.ok);
  EXPECT_EQ(bye_ok->status_code, 200);
}

// `retriever` dials `uri_user` (a retrieve code); the parked party gets the retriever's offer and answers;
// the retriever is connected. Returns the retriever's final answer.
uint16_t retrieve(Phone& retriever, Phone& parked, const std::string& uri_user) {
  EXPECT_TRUE(retriever.invite(uri_user, retriever_sdp));
  Parsed reinvite = parked.wait_request("INVITE", 2s);
  if (reinvite.ok) {
    EXPECT_EQ(reinvite->body, retriever_sdp) << "the retriever's SDP reaches the parked party";
    parked.reply(reinvite, 200, answer_sdp);
    EXPECT_TRUE(parked.wait_request("ACK").ok);
  }
  Parsed answer = retriever.wait_response("INVITE");
  EXPECT_TRUE(answer.ok);
  if (!answer.ok) return 0;
  if (answer->status_code == 200) {
    EXPECT_EQ(answer->body, answer_sdp) << "the parked party's SDP reaches the retriever";
    retriever.ack(answer);
  }
  return answer->status_code;
}

struct Acme {
  explicit Acme(const Endpoint& at)
      : alice(at, "101", acme, "acme101-secret"),
        bob(at, "102", acme, "acme102-secret"),
        carol(at, "103", acme, "acme103-secret"),
        carol_desk(at, "103", acme, "acme103-secret"),
        dave(at, "104", acme, "acme104-secret") {}
  Phone alice;
  Phone bob;
  Phone carol;
  Phone carol_desk;
  Phone dave;
};

TEST(Park, ParkNotifyEveryDeviceAndRetrieveFromAnotherExtension) {
  Parkd parkd({"--shards", "2"});
  ASSERT_TRUE(parkd.ready());
  Acme x(parkd.at());
  ASSERT_TRUE(x.carol.register_device());
  ASSERT_TRUE(x.carol_desk.register_device());
  ASSERT_TRUE(establish_call(x.alice, x.bob, "102"));
  ASSERT_NO_FATAL_FAILURE(park(x.alice, x.bob, "*68103"));
  // Both of Carol's devices are told, with the same state.
  Parsed raw;
  ParkInfo info = next_park_info(x.carol, &raw);
  ParkInfo desk = next_park_info(x.carol_desk);
  EXPECT_EQ(raw->from.uri, "sip:park@acme.example.com");
  EXPECT_EQ(raw->to.uri, "sip:103@acme.example.com");
  ASSERT_NE(info.find("park-info" + ns), nullptr) << "root element in the park-info namespace";
  EXPECT_EQ(info.attribute("park-info" + ns, "entity"), "sip:103@acme.example.com");
  EXPECT_EQ(info.count("parked-call" + ns), 1u);
  EXPECT_EQ(info.attribute("parked-call" + ns, "state"), "parked");
  EXPECT_EQ(info.attribute("parked" + ns, "display"), "Bob");
  EXPECT_EQ(info.find("uri" + ns, 0)->text, "sip:102@acme.example.com");
  EXPECT_EQ(info.attribute("parker" + ns, "display"), "Alice");
  EXPECT_EQ(info.find("uri" + ns, 1)->text, "sip:101@acme.example.com");
  const std::string id = info.attribute("parked-call" + ns, "id");
  EXPECT_EQ(info.attribute("retrieve" + ns, "uri"), "sip:*88103@acme.example.com;park-id=" + id);
  EXPECT_EQ(info.attribute("dialog" + ns, "call-id"), x.bob.dialog().call_id);
  EXPECT_EQ(info.attribute("park-info" + ns, "version"), desk.attribute("park-info" + ns, "version"));
  const uint64_t parked_version = std::stoull(info.attribute("park-info" + ns, "version"));
  // Dave (104) retrieves the call parked at 103.
  ASSERT_EQ(retrieve(x.dave, x.bob, "*88103"), 200);
  ParkInfo after = next_park_info(x.carol);
  (void)next_park_info(x.carol_desk);
  EXPECT_EQ(after.attribute("parked-call" + ns, "state"), "retrieved");
  EXPECT_EQ(after.attribute("parked-call" + ns, "id"), id);
  EXPECT_GT(std::stoull(after.attribute("park-info" + ns, "version")), parked_version) << "versions only grow";
  EXPECT_EQ(after.find("retrieve" + ns), nullptr) << "a retrieved call cannot be retrieved";
  // Dave and Bob are bridged: Dave's BYE reaches Bob.
  x.dave.send_in_dialog("BYE");
  Parsed bye_ok = x.dave.wait_response("BYE");
  ASSERT_TRUE(bye_ok.ok);
  EXPECT_EQ(bye_ok->status_code, 200);
  Parsed bye = x.bob.wait_request("BYE");
  ASSERT_TRUE(bye.ok);
  x.bob.reply(bye, 200);
  // Nothing parked any more: a second retrieve finds nothing.
  EXPECT_TRUE(x.alice.invite("*88103"));
  Parsed nothing = x.alice.wait_response("INVITE");
  ASSERT_TRUE(nothing.ok);
  EXPECT_EQ(nothing->status_code, 404);
}

TEST(Park, OwnExtensionFormsAndAbandon) {
  Parkd parkd({"--shards", "2"});
  ASSERT_TRUE(parkd.ready());
  Acme x(parkd.at());
  ASSERT_TRUE(x.alice.register_device());
  ASSERT_TRUE(establish_call(x.alice, x.bob, "102"));
  // "*68%23": the code alone with '#' escaped as phones send it: park at Alice's own extension.
  ASSERT_NO_FATAL_FAILURE(park(x.alice, x.bob, "*68%23"));
  ParkInfo info = next_park_info(x.alice);
  EXPECT_EQ(info.attribute("park-info" + ns, "entity"), "sip:101@acme.example.com");
  EXPECT_EQ(info.attribute("parked-call" + ns, "state"), "parked");
  // Bob hangs up while parked: abandoned, then the call is gone.
  x.bob.send_in_dialog("BYE");
  Parsed bye_ok = x.bob.wait_response("BYE");
  ASSERT_TRUE(bye_ok.ok);
  EXPECT_EQ(bye_ok->status_code, 200);
  ParkInfo gone = next_park_info(x.alice);
  EXPECT_EQ(gone.attribute("parked-call" + ns, "state"), "abandoned");
  EXPECT_TRUE(x.alice.invite("*88"));
  Parsed nothing = x.alice.wait_response("INVITE");
  ASSERT_TRUE(nothing.ok);
  EXPECT_EQ(nothing->status_code, 404) << "*88 alone: own extension, nothing parked";
}

TEST(Park, TargetCheckedBeforeTheReferIsAccepted) {
  Parkd parkd({"--shards", "2"});
  ASSERT_TRUE(parkd.ready());
  Acme x(parkd.at());
  ASSERT_TRUE(establish_call(x.alice, x.bob, "102"));
  x.alice.send_in_dialog("REFER", "", refer_to("*68999"));
  Parsed unknown = x.alice.wait_response("REFER");
  ASSERT_TRUE(unknown.ok);
  EXPECT_EQ(unknown->status_code, 404) << unknown.bytes;
  // The call is untouched: a re-INVITE still crosses.
  x.alice.send_in_dialog("INVITE", answer_sdp);
  Parsed reinvite = x.bob.wait_request("INVITE");
  ASSERT_TRUE(reinvite.ok);
  x.bob.reply(reinvite, 200, answer_sdp);
  Parsed ok = x.alice.wait_response("INVITE");
  ASSERT_TRUE(ok.ok);
  EXPECT_EQ(ok->status_code, 200);
}

TEST(Park, ParkIdRetrievesExactlyThatCallAndRacingRetrieversOneWins) {
  Parkd parkd({"--shards", "2"});
  ASSERT_TRUE(parkd.ready());
  Acme x(parkd.at());
  Phone erin(parkd.at(), "102", acme, "acme102-secret");  // a second device of Bob's, in a second call
  ASSERT_TRUE(x.carol.register_device());
  ASSERT_TRUE(establish_call(x.alice, x.bob, "102"));
  ASSERT_NO_FATAL_FAILURE(park(x.alice, x.bob, "*68103"));
  ParkInfo first = next_park_info(x.carol);
  const std::string first_id = first.attribute("parked-call" + ns, "id");
  // Dave calls Bob again (Erin's device answers: Bob's first device is busy in the parked call and silent).
  ASSERT_TRUE(erin.register_device());
  ASSERT_TRUE(x.dave.invite("102"));
  Parsed to_bob = x.bob.wait_request("INVITE", 2s);
  if (to_bob.ok) x.bob.reply(to_bob, 486);
  Parsed invite = erin.wait_request("INVITE");
  ASSERT_TRUE(invite.ok);
  erin.reply(invite, 200, answer_sdp);
  Parsed ok = x.dave.wait_response("INVITE");
  ASSERT_TRUE(ok.ok);
  ASSERT_EQ(ok->status_code, 200);
  x.dave.ack(ok);
  ASSERT_TRUE(erin.wait_request("ACK").ok);
  ASSERT_NO_FATAL_FAILURE(park(x.dave, erin, "*68103"));
  ParkInfo both = next_park_info(x.carol);
  ASSERT_EQ(both.count("parked-call" + ns), 2u) << "the full state of the extension, oldest first";
  EXPECT_EQ(both.attribute("parked-call" + ns, "id", 0), first_id);
  const std::string second_id = both.attribute("parked-call" + ns, "id", 1);
  EXPECT_NE(second_id, first_id);
  // Retrieve exactly the second (newer) call by its id.
  ASSERT_EQ(retrieve(x.carol, erin, "*88103;park-id=" + second_id), 200);
  ParkInfo left = next_park_info(x.carol);
  EXPECT_EQ(left.attribute("parked-call" + ns, "id", 0), first_id);
  EXPECT_EQ(left.attribute("parked-call" + ns, "state", 0), "parked");
  EXPECT_EQ(left.attribute("parked-call" + ns, "state", 1), "retrieved");
  // Two retrievers race for the first call: both INVITEs are out before either is answered.
  ASSERT_TRUE(x.alice.invite("*88103;park-id=" + first_id, retriever_sdp));
  ASSERT_TRUE(x.dave.invite("*88103;park-id=" + first_id, retriever_sdp));
  Parsed reinvite = x.bob.wait_request("INVITE");
  ASSERT_TRUE(reinvite.ok);
  x.bob.reply(reinvite, 200, answer_sdp);
  Parsed alice_answer = x.alice.wait_response("INVITE");
  Parsed dave_answer = x.dave.wait_response("INVITE");
  ASSERT_TRUE(alice_answer.ok && dave_answer.ok);
  const int winners = (alice_answer->status_code == 200) + (dave_answer->status_code == 200);
  const int losers = (alice_answer->status_code == 404) + (dave_answer->status_code == 404);
  EXPECT_EQ(winners, 1) << alice_answer->status_code << " " << dave_answer->status_code;
  EXPECT_EQ(losers, 1);
}

TEST(Park, TenantsAreIsolated) {
  Parkd parkd({"--shards", "2"});
  ASSERT_TRUE(parkd.ready());
  Acme x(parkd.at());
  Phone mindy(parkd.at(), "103", "globex.example.com", "globex103-secret");
  Phone homer(parkd.at(), "102", "globex.example.com", "globex102-secret");
  ASSERT_TRUE(mindy.register_device());
  ASSERT_TRUE(x.carol.register_device());
  ASSERT_TRUE(establish_call(x.alice, x.bob, "102"));
  // A park code pointing at another tenant's domain is refused; the call stays.
  x.alice.send_in_dialog("REFER", "", refer_to("*68103", "globex.example.com"));
  Parsed refused = x.alice.wait_response("REFER");
  ASSERT_TRUE(refused.ok);
  EXPECT_EQ(refused->status_code, 404);
  ASSERT_NO_FATAL_FAILURE(park(x.alice, x.bob, "*68103"));
  (void)next_park_info(x.carol);
  EXPECT_TRUE(mindy.silent(300ms)) << "globex's 103 hears nothing of acme's park";
  // globex's *88103 finds nothing: acme's call is not globex's.
  ASSERT_TRUE(homer.invite("*88103"));
  Parsed nothing = homer.wait_response("INVITE");
  ASSERT_TRUE(nothing.ok);
  EXPECT_EQ(nothing->status_code, 404);
}

TEST(Park, DeviceRegisteringWhileParkedIsToldAtOnce) {
  Parkd parkd({"--shards", "2"});
  ASSERT_TRUE(parkd.ready());
  Acme x(parkd.at());
  ASSERT_TRUE(x.carol.register_device());
  ASSERT_TRUE(establish_call(x.alice, x.bob, "102"));
  ASSERT_NO_FATAL_FAILURE(park(x.alice, x.bob, "*68103"));
  ParkInfo info = next_park_info(x.carol);
  ASSERT_TRUE(x.carol_desk.register_device());
  ParkInfo late = next_park_info(x.carol_desk);
  EXPECT_EQ(late.attribute("parked-call" + ns, "id"), info.attribute("parked-call" + ns, "id"));
  EXPECT_EQ(late.attribute("parked-call" + ns, "state"), "parked");
  EXPECT_TRUE(x.carol.silent(300ms)) << "only the new device is told";
}

// A tenants file of the test's own: acme with its own feature codes and short park timers, globex with the
// defaults.
class ShortParkTenants {
 public:
  ShortParkTenants() {
    std::string pattern = ::testing::TempDir() + "parkd-park-XXXXXX";
    dir_ = mkdtemp(pattern.data()) != nullptr ? pattern : "";
    path_ = dir_ + "/tenants.json";
    std::ofstream(path_) << R"({"tenants": [
      {"name": "acme", "domain": "acme.example.com",
       "feature_codes": {"park": "*70", "retrieve": "*71"},
       "park": {"recall_after_s": 1, "recall_ring_s": 1, "max_park_s": 4, "max_parked_per_extension": 1},
       "extensions": [
         {"number": "101", "password": "acme101-secret", "display_name": "Alice"},
         {"number": "102", "password": "acme102-secret", "display_name": "Bob"},
         {"number": "103", "password": "acme103-secret", "display_name": "Carol"},
         {"number": "104", "password": "acme104-secret", "display_name": "Dave"}]},
      {"name": "globex", "domain": "globex.example.com",
       "extensions": [{"number": "101", "password": "globex101-secret"}]}]})";
  }
  ~ShortParkTenants() {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  std::string dir_;
  std::string path_;
};

// The next park-info whose (first) call is in `state`, skipping the intermediate ones.
ParkInfo park_info_in_state(Phone& phone, const std::string& state) {
  for (int i = 0; i < 12; ++i) {
    ParkInfo info = next_park_info(phone);
    if (info.elements.empty()) return info;
    if (info.attribute("parked-call" + ns, "state") == state) return info;
  }
  return {};
}

TEST(Park, TenantCodesRecallUnansweredThenAnswered) {
  ShortParkTenants tenants;
  Parkd parkd({"--shards", "2", "--tenants", tenants.path()});
  ASSERT_TRUE(parkd.ready());
  Acme x(parkd.at());
  ASSERT_TRUE(x.carol.register_device());
  ASSERT_TRUE(establish_call(x.alice, x.bob, "102"));
  // acme changed its codes: *68 is nothing there now.
  x.alice.send_in_dialog("REFER", "", refer_to("*68103"));
  Parsed old_code = x.alice.wait_response("REFER");
  ASSERT_TRUE(old_code.ok);
  EXPECT_EQ(old_code->status_code, 404);
  ASSERT_NO_FATAL_FAILURE(park(x.alice, x.bob, "*70103"));
  ParkInfo parked = next_park_info(x.carol);
  EXPECT_EQ(parked.attribute("parked-call" + ns, "state"), "parked");
  EXPECT_EQ(parked.attribute("retrieve" + ns, "uri").rfind("sip:*71103@acme.example.com;park-id=", 0), 0u)
      << parked.attribute("retrieve" + ns, "uri");
  ASSERT_TRUE(x.alice.register_device());
  // First recall: Alice's device rings with Bob as the caller and nobody answers.
  Parsed recall = x.alice.wait_request("INVITE");
  ASSERT_TRUE(recall.ok) << "the parker is rung back after recall_after_s";
  EXPECT_EQ(recall->from.uri, "sip:102@acme.example.com");
  EXPECT_EQ(recall->from.display_name, "Bob");
  x.alice.reply(recall, 180);
  EXPECT_EQ(park_info_in_state(x.carol, "recalling").attribute("parked-call" + ns, "state"), "recalling");
  Parsed cancel = x.alice.wait_request("CANCEL");
  ASSERT_TRUE(cancel.ok) << "an unanswered recall is cancelled after recall_ring_s";
  x.alice.reply(cancel, 200);
  x.alice.reply(recall, 487);
  EXPECT_EQ(park_info_in_state(x.carol, "parked").attribute("parked-call" + ns, "state"), "parked");
  // The recall repeats; this time Alice answers and is bridged with Bob.
  Parsed again = x.alice.wait_request("INVITE");
  ASSERT_TRUE(again.ok);
  EXPECT_TRUE(again->body.empty()) << "a delayed offer: the answering device offers";
  x.alice.reply(again, 200, retriever_sdp);
  Parsed reinvite = x.bob.wait_request("INVITE");
  ASSERT_TRUE(reinvite.ok);
  EXPECT_EQ(reinvite->body, retriever_sdp);
  x.bob.reply(reinvite, 200, answer_sdp);
  EXPECT_TRUE(x.bob.wait_request("ACK").ok);
  Parsed ack = x.alice.wait_request("ACK");
  ASSERT_TRUE(ack.ok);
  EXPECT_EQ(ack->body, answer_sdp);
  EXPECT_EQ(park_info_in_state(x.carol, "recalled").attribute("parked-call" + ns, "state"), "recalled");
}

TEST(Park, FullExtensionIs486AndAnUnrecalledCallExpires) {
  ShortParkTenants tenants;
  Parkd parkd({"--shards", "2", "--tenants", tenants.path()});
  ASSERT_TRUE(parkd.ready());
  Acme x(parkd.at());
  ASSERT_TRUE(x.carol.register_device());
  ASSERT_TRUE(establish_call(x.alice, x.bob, "102"));
  ASSERT_NO_FATAL_FAILURE(park(x.alice, x.bob, "*70103"));
  (void)next_park_info(x.carol);
  // max_parked_per_extension is 1: a second park at 103 is refused and that call stays as it was.
  Phone erin(parkd.at(), "104", acme, "acme104-secret");
  ASSERT_TRUE(establish_call(x.dave, erin, "104"));
  x.dave.send_in_dialog("REFER", "", refer_to("*70103"));
  Parsed full = x.dave.wait_response("REFER");
  ASSERT_TRUE(full.ok);
  EXPECT_EQ(full->status_code, 486) << full.bytes;
  // Alice has no device registered: the recall cannot ring, and after max_park_s the call is ended.
  Parsed bye = x.bob.wait_request("BYE", std::chrono::seconds(8));
  ASSERT_TRUE(bye.ok) << "an expired park ends the parked party's call";
  x.bob.reply(bye, 200);
  EXPECT_EQ(park_info_in_state(x.carol, "expired").attribute("parked-call" + ns, "state"), "expired");
}

}  // namespace
}  // namespace parkd::test
