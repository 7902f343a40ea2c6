// The scenario pack of tools/sipp/ (tools/sipp/README.md): every scenario run with real SIPp at a low rate,
// so none of them rots. Each flow runs against a real parkd (register with generated users, hold and
// resume, blind transfer, park and retrieve in two tenants, recall, tools/sipp/park-demo). Each
// scenario of the transfer and park flows also runs against a stand-in that plays the other side of its SIP
// (tests/data/sipp/: a REFER peer, a park-info NOTIFY sender, a caller whose callee hangs up) and must fail
// when that side misbehaves: its checks can fail.
// tools/sipp/options.xml, register.xml with the demo users, uac.xml and uas.xml: tests/integration/sipp_test.cc.
#include <gtest/gtest.h>

#include <csignal>
#include <string>

#include "support/parkd.h"
#include "support/process.h"
#include "support/sipp.h"

namespace parkd::test {
namespace {

using namespace std::chrono_literals;

std::string pack(const std::string& file) { return std::string(PARKD_SOURCE_DIR) + "/tools/sipp/" + file; }
std::string stand_in(const std::string& file) { return std::string(PARKD_TEST_DATA) + "/sipp/" + file; }

constexpr auto sipp_wait = 40s;  // longer than any scenario's -timeout: SIPp fails before the test gives up

// parkd for SIPp: SIPp 3.6 answers only MD5 digest and reads only the first challenge.
std::vector<std::string> parkd_args(std::vector<std::string> more = {}) {
  more.insert(more.end(), {"--digest-prefer", "md5", "--shards", "2"});
  return more;
}

// The demo users (tools/sipp/demo-users.csv), one line each, in the layout of tools/sipp/ (see its README).
std::string user(const std::string& number, const std::string& domain, const std::string& password,
                 const std::string& rest = "") {
  return "SEQUENTIAL\n" + number + ";[authentication username=" + number + " password=" + password + "];" + domain +
         rest + "\n";
}

// Registers the users of `csv` (one per line, `count` of them) from `port`, where a scenario answers next.
void register_from(const TempDir& dir, const std::string& name, const std::string& target, const std::string& csv,
                   uint16_t port, int count = 1) {
  Sipp reg(dir, name, SippOptions(pack("register.xml"), target).injection(csv).port(port).calls(count).rate(10));
  ASSERT_EQ(reg.run(sipp_wait), 0) << reg.diagnostics();
}

// The sum of one counter over parkd's shards, from the counters it logs when it stops.
long counter_sum(const std::string& log, const std::string& name) {
  long sum = 0;
  const std::string key = " " + name + "=";
  for (size_t at = log.find(key); at != std::string::npos; at = log.find(key, at + 1))
    sum += std::stol(log.substr(at + key.size()));
  return sum;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

#define PARKD_REQUIRE_SIPP()                                                                   \
  if (!sipp_installed()) GTEST_SKIP() << "SIPp is not installed (apt-get install sip-tester)"; \
  TempDir dir;                                                                                 \
  ASSERT_FALSE(dir.path().empty())

// tools/sipp/make-users writes a tenants file and injection files that agree: every generated user of every
// tenant registers with digest (401, then 200).
TEST(SippPack, RegisterGeneratedUsers) {
  PARKD_REQUIRE_SIPP();
  RunResult made = run("/usr/bin/python3",
                       {pack("make-users"), "--tenants", "3", "--extensions", "4", "--json", dir.path() + "/t.json",
                        "--csv", dir.path() + "/users.csv", "--roles", dir.path() + "/load", "--mixed-codes"},
                       20s);
  ASSERT_EQ(made.status, 0) << made.out << made.err;
  Parkd parkd(parkd_args({"--tenants", dir.path() + "/t.json"}));
  ASSERT_TRUE(parkd.ready()) << parkd.process().stderr_text();
  Sipp reg(dir, "register",
           SippOptions(pack("register.xml"), parkd.at().to_string())
               .injection(dir.path() + "/users.csv")
               .calls(12)
               .rate(10));
  EXPECT_EQ(reg.run(sipp_wait), 0) << reg.diagnostics();
  parkd.process().send_signal(SIGTERM);
  ASSERT_EQ(parkd.process().wait_exit(10s), 0);
  EXPECT_EQ(counter_sum(parkd.process().stderr_text(), "registered"), 12) << parkd.process().stderr_text();
}

// register.xml against a registrar that looks like a slow parkd: a late 401 to a copy of the first REGISTER
// (CSeq 1) is ignored; a 401 to the authenticated REGISTER (CSeq 2) fails it.
TEST(SippPack, RegisterIgnoresALateChallengeButNotARefusal) {
  PARKD_REQUIRE_SIPP();
  for (const char* late_cseq : {"1", "2"}) {
    SCOPED_TRACE(std::string("401 for CSeq ") + late_cseq);
    const uint16_t phone_port = free_udp_port();
    Sipp registrar(dir, std::string("registrar-") + late_cseq,
                   SippOptions(stand_in("slow-registrar.xml"), "127.0.0.1:" + std::to_string(phone_port))
                       .injection(dir.write("late.csv", std::string("SEQUENTIAL\n") + late_cseq + "\n"))
                       .timeout(10s));
    registrar.start();
    Sipp phone(dir, std::string("phone-") + late_cseq,
               SippOptions(pack("register.xml"), "127.0.0.1:" + std::to_string(registrar.port()))
                   .injection(pack("callee-102.csv"))
                   .port(phone_port)
                   .timeout(10s));
    const int status = phone.run(sipp_wait);
    if (std::string(late_cseq) == "1") {
      EXPECT_EQ(status, 0) << phone.diagnostics() << registrar.diagnostics();
    } else {
      EXPECT_NE(status, 0) << phone.diagnostics();
    }
    EXPECT_EQ(registrar.wait(sipp_wait), 0) << registrar.diagnostics();
  }
}

// hold.xml puts the call on hold and resumes it; parkd relays both re-INVITEs to uas.xml and the answers back
// (hold.xml checks a=recvonly, then a=sendrecv, from the callee's port 6200).
TEST(SippPack, HoldAndResume) {
  PARKD_REQUIRE_SIPP();
  Parkd parkd(parkd_args());
  ASSERT_TRUE(parkd.ready()) << parkd.process().stderr_text();
  const std::string at = parkd.at().to_string();
  Sipp callee(dir, "callee", SippOptions(pack("uas.xml"), at));
  register_from(dir, "register-callee", at, pack("callee-102.csv"), callee.port());
  callee.start();
  Sipp caller(dir, "caller", SippOptions(pack("hold.xml"), at).injection(pack("call-users.csv")));
  EXPECT_EQ(caller.run(sipp_wait), 0) << caller.diagnostics() << callee.diagnostics();
  ASSERT_EQ(callee.wait(sipp_wait), 0) << callee.diagnostics();
  const std::string log = callee.log();
  EXPECT_TRUE(contains(log, "uas: INVITE from \"Alice\" <sip:101@acme.example.com>")) << log;
  const size_t hold = log.find("answered a=recvonly");
  const size_t resume = log.find("answered a=sendrecv");
  EXPECT_NE(hold, std::string::npos) << log;
  EXPECT_NE(resume, std::string::npos) << log;
  EXPECT_LT(hold, resume) << log;
}

// parked.xml as the callee of hold.xml: today's stand-in for parkd's hold and unhold re-INVITEs. It takes the
// hold (a=sendonly, answered a=recvonly), then a second re-INVITE, then the BYE.
TEST(SippPack, ParkedPartyTakesHoldThenSecondReinvite) {
  PARKD_REQUIRE_SIPP();
  Parkd parkd(parkd_args());
  ASSERT_TRUE(parkd.ready()) << parkd.process().stderr_text();
  const std::string at = parkd.at().to_string();
  Sipp parked(dir, "parked", SippOptions(pack("parked.xml"), at));
  register_from(dir, "register-parked", at, pack("callee-102.csv"), parked.port());
  parked.start();
  Sipp caller(dir, "caller", SippOptions(pack("hold.xml"), at).injection(pack("call-users.csv")));
  EXPECT_EQ(caller.run(sipp_wait), 0) << caller.diagnostics() << parked.diagnostics();
  ASSERT_EQ(parked.wait(sipp_wait), 0) << parked.diagnostics();
  const std::string log = parked.log();
  EXPECT_TRUE(contains(log, "parked: hold re-INVITE offer m=audio 6100 RTP/AVP 0 answered a=recvonly")) << log;
  EXPECT_TRUE(contains(log, "parked: unpark re-INVITE offer m=audio 6100 RTP/AVP 0 answered a=sendrecv")) << log;
  EXPECT_TRUE(contains(log, "parked: BYE")) << log;
}

// parked.xml fails when the first re-INVITE is not a hold: the check can fail.
TEST(SippPack, ParkedPartyFailsWithoutHold) {
  PARKD_REQUIRE_SIPP();
  Parkd parkd(parkd_args());
  ASSERT_TRUE(parkd.ready()) << parkd.process().stderr_text();
  const std::string at = parkd.at().to_string();
  Sipp parked(dir, "parked", SippOptions(pack("parked.xml"), at).timeout(10s));
  register_from(dir, "register-parked", at, pack("callee-102.csv"), parked.port());
  parked.start();
  // hold.xml's first re-INVITE is a=sendonly; a plain uac.xml call sends none and hangs up: parked.xml
  // gets a BYE where it wants the hold re-INVITE.
  Sipp caller(dir, "caller", SippOptions(pack("uac.xml"), at).injection(pack("call-users.csv")));
  EXPECT_EQ(caller.run(sipp_wait), 0) << caller.diagnostics();
  EXPECT_NE(parked.wait(sipp_wait), 0) << parked.diagnostics();
}

// target.xml (transfer target) and recall.xml (the parker's device on recall) answer and then hang up
// themselves; here the call comes from a plain caller through parkd.
TEST(SippPack, TargetAndRecallDevicesAnswerThenHangUp) {
  PARKD_REQUIRE_SIPP();
  Parkd parkd(parkd_args());
  ASSERT_TRUE(parkd.ready()) << parkd.process().stderr_text();
  const std::string at = parkd.at().to_string();
  for (const char* scenario : {"target.xml", "recall.xml"}) {
    SCOPED_TRACE(scenario);
    const std::string name = std::string(scenario).substr(0, std::string(scenario).find('.'));
    Sipp device(dir, name, SippOptions(pack(scenario), at));
    register_from(dir, "register-" + name, at, pack("callee-102.csv"), device.port());
    device.start();
    Sipp caller(dir, name + "-caller",
                SippOptions(stand_in("caller-waits-bye.xml"), at).injection(pack("call-users.csv")));
    EXPECT_EQ(caller.run(sipp_wait), 0) << caller.diagnostics() << device.diagnostics();
    ASSERT_EQ(device.wait(sipp_wait), 0) << device.diagnostics();
    const std::string log = device.log();
    EXPECT_TRUE(contains(log, name + ": INVITE from \"Alice\" <sip:101@acme.example.com>")) << log;
    EXPECT_TRUE(contains(log, name + ": hung up")) << log;
  }
}

// retrieve.xml's SIP (407, authenticated INVITE, the answer checked, BYE) through today's parkd: with an empty
// retrieve code it calls the extension itself, and uas.xml answers port 6200 a=sendrecv like parked.xml does.
TEST(SippPack, RetrieveScenarioCallsThroughParkd) {
  PARKD_REQUIRE_SIPP();
  Parkd parkd(parkd_args());
  ASSERT_TRUE(parkd.ready()) << parkd.process().stderr_text();
  const std::string at = parkd.at().to_string();
  Sipp callee(dir, "callee", SippOptions(pack("uas.xml"), at));
  register_from(dir, "register-callee", at, pack("callee-102.csv"), callee.port());
  callee.start();
  const std::string csv = dir.write("retriever.csv", user("103", "acme.example.com", "acme103-secret", ";102;102;;"));
  Sipp retriever(dir, "retriever", SippOptions(pack("retrieve.xml"), at).injection(csv));
  EXPECT_EQ(retriever.run(sipp_wait), 0) << retriever.diagnostics() << callee.diagnostics();
  ASSERT_EQ(callee.wait(sipp_wait), 0) << callee.diagnostics();
  EXPECT_TRUE(contains(callee.log(), "offer m=audio 6300")) << callee.log();
  EXPECT_TRUE(contains(retriever.log(), "answer m=audio 6200 a=sendrecv")) << retriever.log();
}

// park.xml and transfer.xml against a stand-in for parkd's REFER handling (after a late 407 to a copy of the
// first INVITE, which they must ignore): 202, sipfrag 100, then the final status. A final 200 passes; a final
// 486 must fail the scenario.
TEST(SippPack, ParkAndTransferScenariosAgainstReferPeer) {
  PARKD_REQUIRE_SIPP();
  const std::string ok = dir.write("ok.csv", "SEQUENTIAL\nSIP/2.0 200 OK\n");
  const std::string busy = dir.write("busy.csv", "SEQUENTIAL\nSIP/2.0 486 Busy Here\n");
  struct Case {
    const char* scenario;
    const char* refer_to;
  };
  for (const Case& c :
       {Case{"park.xml", "<sip:*68103@acme.example.com>"}, Case{"transfer.xml", "<sip:103@acme.example.com>"}}) {
    for (const std::string& final_status : {ok, busy}) {
      const bool succeeds = final_status == ok;
      SCOPED_TRACE(std::string(c.scenario) + (succeeds ? " 200" : " 486"));
      const uint16_t referrer_port = free_udp_port();
      Sipp peer(dir, "peer",
                SippOptions(stand_in("refer-peer.xml"), "127.0.0.1:" + std::to_string(referrer_port))
                    .injection(final_status));
      peer.start();
      Sipp referrer(dir, "referrer",
                    SippOptions(pack(c.scenario), "127.0.0.1:" + std::to_string(peer.port()))
                        .injection(pack("call-users.csv"))
                        .port(referrer_port));
      const int status = referrer.run(sipp_wait);
      if (succeeds) {
        EXPECT_EQ(status, 0) << referrer.diagnostics() << peer.diagnostics();
        EXPECT_TRUE(contains(referrer.log(), "NOTIFY SIP/2.0 200 OK")) << referrer.log();
      } else {
        EXPECT_NE(status, 0) << referrer.diagnostics();
      }
      EXPECT_EQ(peer.wait(sipp_wait), 0) << peer.diagnostics();
      EXPECT_TRUE(contains(peer.log(), std::string("Refer-To: ") + c.refer_to)) << peer.log();
    }
  }
}

// park-info.xml passes a NOTIFY as SPEC section 6 has it and logs its body; with another Event, or with a To
// tag (a NOTIFY in a dialog), it fails.
TEST(SippPack, ParkInfoReceiverChecksTheNotify) {
  PARKD_REQUIRE_SIPP();
  struct Case {
    const char* name;
    const char* line;  // Event;state;To parameter
    bool passes;
  };
  for (const Case& c :
       {Case{"good", "park-info;parked;x-test=1", true}, Case{"dialog", "dialog;parked;x-test=1", false},
        Case{"to-tag", "park-info;parked;tag=abc", false}}) {
    SCOPED_TRACE(c.name);
    const uint16_t sender_port = free_udp_port();
    Sipp receiver(dir, std::string("park-info-") + c.name,
                  SippOptions(pack("park-info.xml"), "127.0.0.1:" + std::to_string(sender_port)).timeout(10s));
    receiver.start();
    const std::string csv = dir.write("events.csv", std::string("SEQUENTIAL\n") + c.line + "\n");
    Sipp sender(dir, std::string("sender-") + c.name,
                SippOptions(stand_in("send-park-info.xml"), "127.0.0.1:" + std::to_string(receiver.port()))
                    .injection(csv)
                    .port(sender_port));
    EXPECT_EQ(sender.run(sipp_wait), 0) << sender.diagnostics() << receiver.diagnostics();
    const int status = receiver.wait(sipp_wait);
    if (c.passes) {
      EXPECT_EQ(status, 0) << receiver.diagnostics();
      const std::string log = receiver.log();
      EXPECT_TRUE(contains(log, "park-info NOTIFY 1:")) << log;
      EXPECT_TRUE(contains(log, "<parked-call id=\"p4f2a\" state=\"parked\"")) << log;
      EXPECT_TRUE(contains(log, "park-info end")) << log;
    } else {
      EXPECT_NE(status, 0) << receiver.diagnostics();
    }
  }
}

// ---- The flows against parkd. ----

// Blind transfer: 101 calls 102 (uas.xml), then REFERs it to 103 (target.xml). 202, sipfrag NOTIFYs to a
// final 200; the target sees the transferee as caller, the transferee gets the target's media (port 6400).
TEST(SippPack, BlindTransfer) {
  PARKD_REQUIRE_SIPP();
  Parkd parkd(parkd_args());
  ASSERT_TRUE(parkd.ready()) << parkd.process().stderr_text();
  const std::string at = parkd.at().to_string();
  Sipp transferee(dir, "transferee", SippOptions(pack("uas.xml"), at));
  Sipp target(dir, "target", SippOptions(pack("target.xml"), at));
  register_from(dir, "register-transferee", at, pack("callee-102.csv"), transferee.port());
  register_from(dir, "register-target", at, pack("target-103.csv"), target.port());
  transferee.start();
  target.start();
  Sipp transferor(dir, "transferor", SippOptions(pack("transfer.xml"), at).injection(pack("call-users.csv")));
  EXPECT_EQ(transferor.run(sipp_wait), 0) << transferor.diagnostics();
  EXPECT_EQ(target.wait(sipp_wait), 0) << target.diagnostics();
  EXPECT_EQ(transferee.wait(sipp_wait), 0) << transferee.diagnostics();
  EXPECT_TRUE(contains(transferor.log(), "transferor: NOTIFY SIP/2.0 200 OK")) << transferor.log();
  EXPECT_TRUE(contains(target.log(), "target: INVITE from \"Bob\" <sip:102@acme.example.com>")) << target.log();
  EXPECT_TRUE(contains(transferee.log(), "m=audio 6400")) << transferee.log();
}

struct ParkCase {
  std::string domain;
  std::string parker;     // caller-side line: parker;auth;domain;parked;park extension;park code;retrieve code
  std::string parked;     // register line of the parked party
  std::string device;     // register line of a device of the park extension
  std::string retriever;  // caller-side line of the retriever
  std::string parked_number;
  std::string park_extension;
  // The retriever is the park extension's device itself, as a phone does it (tools/sipp/park-demo): it
  // retrieves from the port it registered, and the park-info NOTIFY that arrives meanwhile is answered by
  // park-info.xml as SIPp's out-of-call scenario (-oocsf).
  bool retrieve_from_device = false;
};

// Park and retrieve: the parker calls, the callee answers (parked.xml), the parker REFERs to the park code
// (park.xml: 202, sipfrag 100 then 200, BYE); the park extension's device gets park-info "parked"
// (park-info.xml); the retriever calls the retrieve code (retrieve.xml), gets the parked party's answer, and
// the parked party gets the retriever's SDP (port 6300); the device then gets park-info "retrieved".
void park_and_retrieve(const ParkCase& c) {
  PARKD_REQUIRE_SIPP();
  Parkd parkd(parkd_args());
  ASSERT_TRUE(parkd.ready()) << parkd.process().stderr_text();
  const std::string at = parkd.at().to_string();
  Sipp parked(dir, "parked", SippOptions(pack("parked.xml"), at));
  const uint16_t device_port = free_udp_port();
  register_from(dir, "register-parked", at, dir.write("parked.csv", c.parked), parked.port());
  register_from(dir, "register-device", at, dir.write("device.csv", c.device), device_port);
  Sipp parked_info(dir, "park-info-parked", SippOptions(pack("park-info.xml"), at).port(device_port));
  parked_info.start();
  parked.start();
  Sipp parker(dir, "parker", SippOptions(pack("park.xml"), at).injection(dir.write("parker.csv", c.parker)));
  ASSERT_EQ(parker.run(sipp_wait), 0) << parker.diagnostics() << parked.diagnostics();
  ASSERT_EQ(parked_info.wait(sipp_wait), 0) << parked_info.diagnostics();
  const std::string parked_body = parked_info.log();
  EXPECT_TRUE(contains(parked_body, "entity=\"sip:" + c.park_extension + "@" + c.domain + "\"")) << parked_body;
  EXPECT_TRUE(contains(parked_body, "state=\"parked\"")) << parked_body;
  EXPECT_TRUE(contains(parked_body, "<uri>sip:" + c.parked_number + "@" + c.domain + "</uri>")) << parked_body;
  if (c.retrieve_from_device) {
    Sipp retriever(dir, "retriever",
                   SippOptions(pack("retrieve.xml"), at)
                       .injection(dir.write("retriever.csv", c.retriever))
                       .port(device_port)
                       .args({"-oocsf", pack("park-info.xml")}));
    EXPECT_EQ(retriever.run(sipp_wait), 0) << retriever.diagnostics() << parked.diagnostics();
    EXPECT_TRUE(contains(retriever.log(), "state=\"retrieved\"")) << retriever.log();
  } else {
    // The next park-info ("retrieved") comes after the retrieve; one that arrives before this SIPp listens is
    // retransmitted by parkd.
    Sipp retrieved_info(dir, "park-info-retrieved", SippOptions(pack("park-info.xml"), at).port(device_port));
    retrieved_info.start();
    Sipp retriever(dir, "retriever",
                   SippOptions(pack("retrieve.xml"), at).injection(dir.write("retriever.csv", c.retriever)));
    EXPECT_EQ(retriever.run(sipp_wait), 0) << retriever.diagnostics() << parked.diagnostics();
    ASSERT_EQ(retrieved_info.wait(sipp_wait), 0) << retrieved_info.diagnostics();
    EXPECT_TRUE(contains(retrieved_info.log(), "state=\"retrieved\"")) << retrieved_info.log();
  }
  EXPECT_EQ(parked.wait(sipp_wait), 0) << parked.diagnostics();
  EXPECT_TRUE(contains(parked.log(), "parked: unpark re-INVITE offer m=audio 6300")) << parked.log();
}

TEST(SippPack, ParkAndRetrieve) {
  const std::string acme = "acme.example.com";
  park_and_retrieve({.domain = acme,
                     .parker = user("101", acme, "acme101-secret", ";102;103;*68;*88"),
                     .parked = user("102", acme, "acme102-secret"),
                     .device = user("103", acme, "acme103-secret"),
                     .retriever = user("104", acme, "acme104-secret", ";102;103;*68;*88"),
                     .parked_number = "102",
                     .park_extension = "103",
                     .retrieve_from_device = false});
}

// The demo's globex parks with *70 and retrieves with *71 (its feature_codes); its numbers are acme's. Mindy
// (103) retrieves from the phone that got the park-info NOTIFY.
TEST(SippPack, ParkAndRetrieveWithTheTenantsOwnCodes) {
  const std::string globex = "globex.example.com";
  park_and_retrieve({.domain = globex,
                     .parker = user("101", globex, "globex101-secret", ";102;103;*70;*71"),
                     .parked = user("102", globex, "globex102-secret"),
                     .device = user("103", globex, "globex103-secret"),
                     .retriever = user("103", globex, "globex103-secret", ";102;103;*70;*71"),
                     .parked_number = "102",
                     .park_extension = "103",
                     .retrieve_from_device = true});
}

// Recall: nobody retrieves; after recall_after_s (2 s, from make-users) parkd rings the parker's device
// (recall.xml on the parker's port), which answers: the parked party gets its media (port 6400) and the park
// extension's device gets park-info "recalling", then "recalled".
TEST(SippPack, ParkAndRecall) {
  PARKD_REQUIRE_SIPP();
  const std::string roles = dir.path() + "/roles";
  RunResult made = run("/usr/bin/python3",
                       {pack("make-users"), "--tenants", "1", "--extensions", "4", "--json", dir.path() + "/t.json",
                        "--roles", roles, "--recall-after-s", "2"},
                       20s);
  ASSERT_EQ(made.status, 0) << made.out << made.err;
  Parkd parkd(parkd_args({"--tenants", dir.path() + "/t.json"}));
  ASSERT_TRUE(parkd.ready()) << parkd.process().stderr_text();
  const std::string at = parkd.at().to_string();
  // 1000 parks 1001 at 1002 (make-users --roles).
  const uint16_t parker_port = free_udp_port();
  const uint16_t device_port = free_udp_port();
  Sipp parked(dir, "parked", SippOptions(pack("parked.xml"), at));
  register_from(dir, "register-parker", at, roles + "-callers.csv", parker_port);
  register_from(dir, "register-parked", at, roles + "-callees.csv", parked.port());
  register_from(dir, "register-device", at, roles + "-targets.csv", device_port);
  Sipp parked_info(dir, "park-info-parked", SippOptions(pack("park-info.xml"), at).port(device_port));
  parked_info.start();
  parked.start();
  Sipp parker(dir, "parker", SippOptions(pack("park.xml"), at).injection(roles + "-callers.csv").port(parker_port));
  ASSERT_EQ(parker.run(sipp_wait), 0) << parker.diagnostics() << parked.diagnostics();
  // The parker's phone hung up; the same device now takes the recall.
  Sipp recall(dir, "recall", SippOptions(pack("recall.xml"), at).port(parker_port));
  recall.start();
  ASSERT_EQ(parked_info.wait(sipp_wait), 0) << parked_info.diagnostics();
  EXPECT_TRUE(contains(parked_info.log(), "state=\"parked\"")) << parked_info.log();
  Sipp recall_info(dir, "park-info-recall", SippOptions(pack("park-info.xml"), at).port(device_port).calls(2));
  recall_info.start();
  EXPECT_EQ(recall.wait(sipp_wait), 0) << recall.diagnostics();
  EXPECT_TRUE(contains(recall.log(), "recall: INVITE from")) << recall.log();
  EXPECT_TRUE(contains(recall.log(), "<sip:1001@t0.example.com>")) << recall.log();
  EXPECT_EQ(parked.wait(sipp_wait), 0) << parked.diagnostics();
  EXPECT_TRUE(contains(parked.log(), "m=audio 6400")) << parked.log();
  ASSERT_EQ(recall_info.wait(sipp_wait), 0) << recall_info.diagnostics();
  EXPECT_TRUE(contains(recall_info.log(), "state=\"recalling\"")) << recall_info.log();
  EXPECT_TRUE(contains(recall_info.log(), "state=\"recalled\"")) << recall_info.log();
}

// tools/sipp/park-demo, the script the README's first command runs once park works, against the demo.
TEST(SippPack, ParkDemoScript) {
  PARKD_REQUIRE_SIPP();
  Parkd parkd(parkd_args());
  ASSERT_TRUE(parkd.ready()) << parkd.process().stderr_text();
  RunResult demo = run(pack("park-demo"), {parkd.at().to_string()}, 120s);
  EXPECT_EQ(demo.status, 0) << demo.out << demo.err;
  EXPECT_TRUE(contains(demo.out, "state=\"parked\"")) << demo.out;
  EXPECT_TRUE(contains(demo.out, "park-demo: park and retrieve worked")) << demo.out;
}

TEST(SippPack, ParkDemoScriptRefusesABadAddress) {
  RunResult demo = run(pack("park-demo"), {"parkd.example.com"}, 10s);
  EXPECT_EQ(demo.status, 2) << demo.out << demo.err;
  EXPECT_TRUE(contains(demo.err, "usage: tools/sipp/park-demo HOST:PORT")) << demo.err;
}

}  // namespace
}  // namespace parkd::test
