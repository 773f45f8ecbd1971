// The executor's request language: only canonical requests pass; everything else is refused.
#include "dockgate/model/error.hpp"
#include "dockgate/privsep/executor_protocol.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace dockgate {
namespace {

constexpr const char* valid_add =
    "add route allow nolog tcp 80 2001:db8::2 ::/0 dockgate:0123456789ab:web";

TEST(executor_protocol, canonical_requests_round_trip) {
    for (const std::string& message :
         {std::string(valid_add),
          std::string("delete route limit log udp 6000:6010 2001:db8::2 2001:db8:1::/48 "
                      "dockgate:0123456789ab:web"),
          std::string("add in allow nolog tcp 8081 ::/0 ::/0 dockgate:0123456789ab:web.1_x-y"),
          std::string("list"), std::string("list 00c0ffee12345678"), std::string("probe")}) {
        const auto parsed = parse_request(message);
        ASSERT_TRUE(parsed.request) << message << ": " << parsed.reason;
        EXPECT_EQ(format_request(*parsed.request), message);
    }
}

TEST(executor_protocol, a_list_carries_the_version_the_asker_has) {
    const auto parsed = parse_request("list 00c0ffee12345678");
    ASSERT_TRUE(parsed.request) << parsed.reason;
    EXPECT_EQ(parsed.request->known_version, 0x00c0ffee12345678ULL);
    for (const char* bad : {"list 00C0FFEE12345678", "list c0ffee", "list 0000000000000000",
                            "list 00c0ffee123456789", "list -0c0ffee1234567"}) {
        EXPECT_FALSE(parse_request(bad).request) << bad;
    }
    EXPECT_EQ(version_text(1), "0000000000000001");
    EXPECT_EQ(parse_version_text("ffffffffffffffff"), 0xffffffffffffffffULL);
}

struct refusal_case {
    const char* name;
    std::string message;
    const char* reason_part;
};

class executor_refusal : public ::testing::TestWithParam<refusal_case> {};

TEST_P(executor_refusal, is_refused_with_a_reason) {
    const auto& c = GetParam();
    const auto parsed = parse_request(c.message);
    EXPECT_FALSE(parsed.request) << c.message;
    EXPECT_NE(parsed.reason.find(c.reason_part), std::string::npos) << parsed.reason;
}

const std::string base = "add route allow nolog tcp 80 2001:db8::2 ::/0 ";

INSTANTIATE_TEST_SUITE_P(
    malformed, executor_refusal,
    ::testing::Values(
        refusal_case{"empty", "", "expected 9 fields"},
        refusal_case{"semicolon", base + "dockgate:0123456789ab:web;reboot", "character outside"},
        refusal_case{"quote", base + "'dockgate:0123456789ab:web'", "character outside"},
        refusal_case{"newline", base + "dockgate:0123456789ab:web\nallow", "character outside"},
        refusal_case{"option_like", base + "dockgate:0123456789ab:web --force",
                     "expected 9 fields"},
        refusal_case{"option_as_field",
                     "add route allow nolog --force 80 2001:db8::2 ::/0 dockgate:0123456789ab:web",
                     "protocol"},
        refusal_case{"double_space",
                     "add route  allow nolog tcp 80 2001:db8::2 ::/0 dockgate:0123456789ab:web",
                     "expected 9 fields"},
        refusal_case{"trailing_space", base + "dockgate:0123456789ab:web ", "canonical"},
        refusal_case{"leading_zero_port",
                     "add route allow nolog tcp 0080 2001:db8::2 ::/0 dockgate:0123456789ab:web",
                     "leading zeros"},
        refusal_case{"port_zero",
                     "add route allow nolog tcp 0 2001:db8::2 ::/0 dockgate:0123456789ab:web",
                     "port"},
        refusal_case{"port_too_big",
                     "add route allow nolog tcp 65536 2001:db8::2 ::/0 dockgate:0123456789ab:web",
                     "port"},
        refusal_case{"reversed_range",
                     "add route allow nolog tcp 90:80 2001:db8::2 ::/0 dockgate:0123456789ab:web",
                     "port"},
        refusal_case{"sctp",
                     "add route allow nolog sctp 80 2001:db8::2 ::/0 dockgate:0123456789ab:web",
                     "protocol"},
        refusal_case{"upper_case_address",
                     "add route allow nolog tcp 80 2001:DB8::2 ::/0 dockgate:0123456789ab:web",
                     "canonical"},
        refusal_case{"uncompressed_address",
                     "add route allow nolog tcp 80 2001:db8:0:0::2 ::/0 dockgate:0123456789ab:web",
                     "canonical"},
        refusal_case{"host_slash_128",
                     "add route allow nolog tcp 80 2001:db8::2/128 ::/0 dockgate:0123456789ab:web",
                     "canonical"},
        refusal_case{"route_to_prefix",
                     "add route allow nolog tcp 80 2001:db8::/64 ::/0 dockgate:0123456789ab:web",
                     "one container address"},
        refusal_case{"route_to_link_local",
                     "add route allow nolog tcp 80 fe80::1 ::/0 dockgate:0123456789ab:web",
                     "scope"},
        refusal_case{"in_rule_to_address",
                     "add in allow nolog tcp 80 2001:db8::2 ::/0 dockgate:0123456789ab:web",
                     "::/0"},
        refusal_case{"mixed_families",
                     "add route allow nolog tcp 80 2001:db8::2 0.0.0.0/0 dockgate:0123456789ab:web",
                     "families"},
        refusal_case{"not_our_tag", base + "admin:0123456789ab:web", "dockgate tag"},
        refusal_case{"short_id", base + "dockgate:0123:web", "dockgate tag"},
        refusal_case{"unknown_op", "reload", "expected 9 fields"},
        refusal_case{"unknown_op_9",
                     "flush route allow nolog tcp 80 2001:db8::2 ::/0 dockgate:0123456789ab:web",
                     "unknown operation"},
        refusal_case{"deny_action",
                     "add route deny nolog tcp 80 2001:db8::2 ::/0 dockgate:0123456789ab:web",
                     "action"},
        refusal_case{"oversized", std::string(600, 'a'), "longer than"}),
    [](const auto& param) { return std::string(param.param.name); });

TEST(executor_protocol, apply_responses_round_trip) {
    apply_result ok;
    ok.verdict.outcome = ufw_outcome::added;
    ok.took = std::chrono::milliseconds(127);
    const auto ok_back = parse_apply_response(format_apply_response(ok));
    ASSERT_TRUE(ok_back);
    EXPECT_FALSE(ok_back->ec);
    EXPECT_EQ(ok_back->verdict.outcome, ufw_outcome::added);
    EXPECT_EQ(ok_back->took.count(), 127);

    apply_result failed;
    failed.ec = errc::ufw_timeout;
    failed.verdict = {ufw_outcome::error, "killed after 30000 ms\nwith\tcontrol chars"};
    failed.took = std::chrono::milliseconds(30001);
    const auto text = format_apply_response(failed);
    EXPECT_EQ(text.find('\n'), std::string::npos);
    const auto back = parse_apply_response(text);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->ec, make_error_code(errc::ufw_timeout));
    EXPECT_EQ(back->verdict.detail, "killed after 30000 ms with control chars");

    EXPECT_FALSE(parse_apply_response("ok"));
    EXPECT_FALSE(parse_apply_response("ok bogus 1"));
    EXPECT_FALSE(parse_apply_response("maybe added 1"));
}

TEST(executor_protocol, probe_responses_round_trip) {
    const firewall_state state{true, false, true};
    const auto back = parse_probe_response(format_probe_response(state));
    ASSERT_TRUE(back);
    EXPECT_TRUE(back->ufw_found);
    EXPECT_FALSE(back->ipv6_enabled);
    EXPECT_TRUE(back->active);
    EXPECT_FALSE(parse_probe_response("ok probe 1 1"));
}

TEST(executor_protocol, probe_responses_carry_the_write_path) {
    for (const auto path : {write_path::per_rule, write_path::verifying, write_path::batched}) {
        const auto back = parse_probe_response(format_probe_response({true, true, true, path}));
        ASSERT_TRUE(back) << to_string(path);
        EXPECT_EQ(back->path, path);
    }
    EXPECT_EQ(format_probe_response({true, true, false, write_path::batched}),
              "ok probe 1 1 0 batched");
    EXPECT_FALSE(parse_probe_response("ok probe 1 1 1 sideways"));
    EXPECT_FALSE(parse_probe_response("ok probe 1 2 1 batched"));
    EXPECT_FALSE(parse_probe_response("ok probe 1 1 1"));
}

TEST(executor_protocol, batch_headers_are_canonical_and_bounded) {
    const auto three = parse_request("batch 3");
    ASSERT_TRUE(three.request) << three.reason;
    EXPECT_EQ(three.request->kind, request_kind::batch);
    EXPECT_EQ(three.request->batch_size, 3U);
    EXPECT_EQ(format_request(*three.request), "batch 3");
    const auto largest = "batch " + std::to_string(max_batch_ops);
    EXPECT_TRUE(parse_request(largest).request);
    for (const std::string& bad : std::vector<std::string>{
             "batch 0", "batch 03", "batch -1", "batch +3", "batch 3 ", "batch ", "batch 3x",
             "batch " + std::to_string(max_batch_ops + 1), "batch 99999999999999999999"}) {
        const auto parsed = parse_request(bad);
        EXPECT_FALSE(parsed.request) << bad;
    }
}

} // namespace
} // namespace dockgate
