// Round accounting: counters, the owned-rule count and failed operations from ufw's answers.
#include "dockgate/model/error.hpp"
#include "dockgate/reconcile/round_accounting.hpp"

#include <gtest/gtest.h>

#include "test_support.hpp"

namespace dockgate {
namespace {

rule_op op(op_kind kind, std::uint16_t port) {
    rule r;
    r.kind = rule_kind::route;
    r.destination = test::prefix("2001:db8::2");
    r.port = {port, port};
    return {kind, {r, *owner_tag::from_container(std::string(64, 'a'), "/web")}, "missing"};
}

apply_result answer(ufw_outcome outcome, boost::system::error_code ec = {}) {
    return {{outcome, ec ? "ERROR: injected" : ""}, ec, std::chrono::milliseconds(30)};
}

TEST(round_accounting, confirmed_adds_and_removes_move_the_owned_count_and_counters) {
    plan todo{{op(op_kind::remove, 81), op(op_kind::add, 80), op(op_kind::add, 443)}, {}};
    daemon_counters counters;
    const auto out = account_round(todo,
                                   {answer(ufw_outcome::deleted), answer(ufw_outcome::added),
                                    answer(ufw_outcome::already_present)},
                                   3, 5, false, counters);
    EXPECT_EQ(out.owned_rules, 5U) << "-1 removed, +1 added, already present was counted";
    EXPECT_FALSE(out.failed());
    EXPECT_EQ(counters.rules_added, 2U);
    EXPECT_EQ(counters.rules_removed, 1U);
    EXPECT_EQ(counters.ufw_calls, 3U);
    EXPECT_EQ(counters.drift_corrections, 0U);
}

TEST(round_accounting, failures_are_listed_with_their_error_and_drift_rounds_count_repairs) {
    plan todo{{op(op_kind::add, 80), op(op_kind::add, 443)}, {}};
    daemon_counters counters;
    const auto out = account_round(todo,
                                   {answer(ufw_outcome::error, make_error_code(errc::ufw_timeout)),
                                    answer(ufw_outcome::added)},
                                   2, 0, true, counters);
    ASSERT_TRUE(out.failed());
    ASSERT_EQ(out.failures.size(), 1U);
    EXPECT_EQ(out.failures[0].action, "add");
    EXPECT_EQ(out.failures[0].container, "web");
    EXPECT_NE(out.failures[0].error.find("ERROR: injected"), std::string::npos);
    EXPECT_TRUE(out.firewall_answering) << "the last answer came from a working ufw";
    EXPECT_EQ(out.owned_rules, 1U);
    EXPECT_EQ(counters.failures, 1U);
    EXPECT_EQ(counters.drift_corrections, 1U);
}

TEST(round_accounting, only_answered_operations_count_when_a_batch_stops_early) {
    plan todo{{op(op_kind::add, 80), op(op_kind::add, 443)}, {}};
    daemon_counters counters;
    const auto out =
        account_round(todo, {answer(ufw_outcome::added), apply_result{}}, 1, 0, false, counters);
    EXPECT_EQ(out.owned_rules, 1U);
    EXPECT_FALSE(out.failed()) << "an unanswered operation is not a failure";
    EXPECT_EQ(counters.ufw_calls, 1U);
}

TEST(round_accounting, a_hung_ufw_or_gone_executor_means_the_firewall_is_not_answering) {
    EXPECT_FALSE(firewall_answering(make_error_code(errc::ufw_timeout)));
    EXPECT_FALSE(firewall_answering(make_error_code(errc::executor_unavailable)));
    EXPECT_TRUE(firewall_answering(make_error_code(errc::ufw_failed)));
    EXPECT_TRUE(firewall_answering({}));
}

} // namespace
} // namespace dockgate
