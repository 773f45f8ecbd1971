// Unit tests for /events decoding: real event JSON of both API generations, and hostile input that
// must never throw.
#include "dockgate/docker/docker_event.hpp"

#include <gtest/gtest.h>

#include <string>

#include "test_support.hpp"

namespace dockgate {
namespace {

constexpr const char* cid = "5f1c2b3a4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8";
constexpr const char* nid = "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d";

/// A container start event exactly as dockerd 20.10 (API 1.41) sent it, legacy fields included.
std::string legacy_event(const std::string& action, const std::string& extra_attributes = "") {
    return R"({"status":")" + action + R"(","id":")" + cid +
           R"(","from":"local/bb:1","Type":"container","Action":")" + action +
           R"(","Actor":{"ID":")" + cid +
           R"(","Attributes":{"com.docker.compose.project":"proj","com.docker.compose.service":"web",)" +
           R"("fw.allow":"http",)" + extra_attributes +
           R"("image":"local/bb:1","name":"web1"}},"scope":"local","time":1795973732,"timeNano":1795973732632824218})";
}

/// The same event as API >= 1.52 sends it: no status, id or from.
std::string modern_event(const std::string& action) {
    return R"({"Type":"container","Action":")" + action + R"(","Actor":{"ID":")" + cid +
           R"(","Attributes":{"fw.allow":"http","image":"local/bb:1","name":"web1"}},"scope":"local","time":1795973732,"timeNano":1795973732632824218})";
}

std::string network_event(const std::string& action, const std::string& container) {
    return R"({"Type":"network","Action":")" + action + R"(","Actor":{"ID":")" + nid +
           R"(","Attributes":{"container":")" + container +
           R"(","name":"v6net","type":"bridge"}},"scope":"local","time":1795973731,"timeNano":1795973731000000001})";
}

decode_result decode(const std::string& line) {
    decode_result result;
    EXPECT_NO_THROW(result = decode_event(line)) << line;
    return result;
}

TEST(docker_event, start_with_legacy_fields) {
    const auto result = decode(legacy_event("start"));
    ASSERT_EQ(result.status, decode_status::relevant) << result.reason;
    ASSERT_TRUE(result.event.has_value());
    EXPECT_EQ(result.event->kind, event_kind::container_start);
    EXPECT_EQ(result.event->container_id, cid);
    EXPECT_EQ(result.event->container_name, "web1");
    EXPECT_EQ(result.event->time_nano, 1795973732632824218LL);
}

TEST(docker_event, start_without_legacy_fields) {
    const auto result = decode(modern_event("start"));
    ASSERT_EQ(result.status, decode_status::relevant) << result.reason;
    EXPECT_EQ(result.event->kind, event_kind::container_start);
    EXPECT_EQ(result.event->container_id, cid);
    EXPECT_EQ(result.event->container_name, "web1");
    EXPECT_EQ(result.event->time_nano, 1795973732632824218LL);
}

TEST(docker_event, legacy_and_modern_forms_decode_alike) {
    for (const char* action : {"start", "die", "destroy"}) {
        const auto legacy = decode(legacy_event(action));
        const auto modern = decode(modern_event(action));
        ASSERT_TRUE(legacy.event && modern.event) << action;
        EXPECT_EQ(legacy.event->kind, modern.event->kind) << action;
        EXPECT_EQ(legacy.event->container_id, modern.event->container_id) << action;
    }
}

TEST(docker_event, die_and_destroy_stop) {
    for (const char* action : {"die", "destroy"}) {
        const auto result = decode(legacy_event(action, R"("exitCode":"137",)"));
        ASSERT_EQ(result.status, decode_status::relevant) << action << ": " << result.reason;
        EXPECT_EQ(result.event->kind, event_kind::container_stop) << action;
        EXPECT_EQ(result.event->container_id, cid);
    }
}

TEST(docker_event, network_connect_and_disconnect) {
    for (const char* action : {"connect", "disconnect"}) {
        const auto result = decode(network_event(action, cid));
        ASSERT_EQ(result.status, decode_status::relevant) << action << ": " << result.reason;
        EXPECT_EQ(result.event->kind, event_kind::network_change);
        EXPECT_EQ(result.event->container_id, cid) << "the container, not the network";
        EXPECT_EQ(result.event->network_id, nid);
        EXPECT_EQ(result.event->container_name, "") << "network events carry no container name";
        EXPECT_EQ(result.event->time_nano, 1795973731000000001LL);
    }
}

class docker_event_ignored : public ::testing::TestWithParam<std::string> {};

TEST_P(docker_event_ignored, needs_nothing) {
    const auto result = decode(GetParam());
    EXPECT_EQ(result.status, decode_status::ignored) << result.reason;
    EXPECT_FALSE(result.event.has_value());
    EXPECT_NE(result.reason.find("needs nothing"), std::string::npos) << result.reason;
}

INSTANTIATE_TEST_SUITE_P(
    actions, docker_event_ignored,
    ::testing::Values(
        legacy_event("create"), legacy_event("kill", R"("signal":"15",)"), legacy_event("stop"),
        legacy_event("restart"), legacy_event("pause"), legacy_event("unpause"),
        legacy_event("rename"), legacy_event("exec_start: sh"),
        legacy_event("health_status: healthy"), modern_event("attach"), network_event("create", ""),
        network_event("destroy", ""), network_event("remove", ""),
        R"({"Type":"image","Action":"pull","Actor":{"ID":"local/bb:1","Attributes":{"name":"local/bb"}},"time":1})",
        R"({"Type":"volume","Action":"mount","Actor":{"ID":"v1","Attributes":{"container":"x"}},"time":1})",
        R"({"Type":"daemon","Action":"reload","Actor":{"ID":"d","Attributes":{}},"time":1})"));

struct malformed_case {
    std::string name;
    std::string line;
    std::string reason_part;
    friend void PrintTo(const malformed_case& c, std::ostream* os) { *os << c.name; }
};

class docker_event_malformed : public ::testing::TestWithParam<malformed_case> {};

TEST_P(docker_event_malformed, is_reported_never_thrown) {
    const auto result = decode(GetParam().line);
    EXPECT_EQ(result.status, decode_status::malformed) << GetParam().line;
    EXPECT_FALSE(result.event.has_value());
    EXPECT_NE(result.reason.find(GetParam().reason_part), std::string::npos) << result.reason;
}

std::string replace(std::string text, const std::string& from, const std::string& to) {
    const auto at = text.find(from);
    if (at == std::string::npos) {
        throw std::runtime_error("no " + from + " in " + text);
    }
    return text.replace(at, from.size(), to);
}

std::vector<malformed_case> malformed_cases() {
    const std::string start = modern_event("start");
    const std::string quoted_cid = std::string("\"") + cid + "\"";
    return {
        {"not_json", "this is not json", "not a JSON object"},
        {"empty", "", "not a JSON object"},
        {"truncated", start.substr(0, start.size() / 2), "not a JSON object"},
        {"array", "[1,2,3]", "not a JSON object"},
        {"string", "\"start\"", "not a JSON object"},
        {"null", "null", "not a JSON object"},
        {"missing_actor",
         R"({"Type":"container","Action":"start","id":")" + std::string(cid) + "\"}",
         "missing Type, Action or Actor"},
        {"actor_not_object", R"({"Type":"container","Action":"start","Actor":"x"})",
         "missing Type, Action or Actor"},
        {"missing_type", replace(start, R"("Type":"container",)", ""),
         "missing Type, Action or Actor"},
        {"missing_action", replace(start, R"("Action":"start",)", ""),
         "missing Type, Action or Actor"},
        {"short_id", replace(start, quoted_cid, "\"5f1c2b3a4d5e\""), "64 lowercase hex digits"},
        {"long_id", replace(start, quoted_cid, std::string("\"") + cid + "0\""),
         "64 lowercase hex digits"},
        {"missing_id", replace(start, "\"ID\":" + quoted_cid + ",", ""), "64 lowercase hex digits"},
        // The id goes into a request path: a path in disguise or uppercase is not Docker's id.
        {"id_with_a_path",
         replace(start, quoted_cid,
                 "\"../../../../images/create?fromImage=x&tag=yyyyyyyyyyyyyyyyyyyyyy\""),
         "64 lowercase hex digits"},
        {"uppercase_id", replace(start, quoted_cid, "\"" + std::string(64, 'A') + "\""),
         "64 lowercase hex digits"},
        {"network_event_without_container", network_event("connect", ""),
         "64 lowercase hex digits"},
        // wrong JSON types: reported, never an exception out of the event loop
        {"type_is_a_number", replace(start, R"("Type":"container")", R"("Type":5)"), "Type"},
        {"action_is_null", replace(start, R"("Action":"start")", R"("Action":null)"), "Action"},
        {"id_is_a_number", replace(start, "\"ID\":" + quoted_cid, R"("ID":5)"), "ID"},
        {"time_nano_is_a_string",
         replace(start, R"("timeNano":1795973732632824218)", R"("timeNano":"x")"), "timeNano"},
        {"time_nano_is_an_object",
         replace(start, R"("timeNano":1795973732632824218)", R"("timeNano":{})"), "timeNano"},
        {"name_is_a_number", replace(start, R"("name":"web1")", R"("name":5)"), "name"},
        {"network_container_is_a_list",
         replace(network_event("connect", cid), quoted_cid, std::string("[") + quoted_cid + "]"),
         "container"},
    };
}

INSTANTIATE_TEST_SUITE_P(lines, docker_event_malformed, ::testing::ValuesIn(malformed_cases()),
                         [](const auto& p) { return p.param.name; });

TEST(docker_event, attributes_of_the_wrong_type_are_no_name) {
    const auto line =
        replace(modern_event("start"),
                R"("Attributes":{"fw.allow":"http","image":"local/bb:1","name":"web1"})",
                R"("Attributes":"none")");
    const auto result = decode(line);
    ASSERT_EQ(result.status, decode_status::relevant) << result.reason;
    EXPECT_EQ(result.event->container_name, "");
}

TEST(docker_event, missing_time_is_zero) {
    const auto line = replace(modern_event("die"), R"(,"timeNano":1795973732632824218)", "");
    const auto result = decode(line);
    ASSERT_EQ(result.status, decode_status::relevant) << result.reason;
    EXPECT_EQ(result.event->time_nano, 0);
}

TEST(docker_event, unrelated_attribute_types_do_not_matter) {
    // Attributes hold every label; dockgate reads only "name" (and "container" on networks).
    const auto result = decode(legacy_event("start", R"("weird":5,"list":[1],)"));
    ASSERT_EQ(result.status, decode_status::relevant) << result.reason;
    EXPECT_EQ(result.event->container_name, "web1");
}

TEST(docker_event, kind_names) {
    EXPECT_STREQ(to_string(event_kind::container_start), "start");
    EXPECT_STREQ(to_string(event_kind::container_stop), "stop");
    EXPECT_STREQ(to_string(event_kind::network_change), "network-change");
}

} // namespace
} // namespace dockgate
