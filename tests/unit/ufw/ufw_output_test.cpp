// Unit tests for reading what a ufw run did from its exit code and output, and which outcomes
// confirm a change.
#include "dockgate/ufw/firewall.hpp"
#include "dockgate/ufw/ufw_output.hpp"

#include <gtest/gtest.h>

#include <string>

#include "test_support.hpp"

namespace dockgate {
namespace {

struct output_case {
    std::string name;
    int exit_code;
    std::string out;
    std::string err;
    ufw_outcome expected;
    std::string detail_part;
    friend void PrintTo(const output_case& c, std::ostream* os) { *os << c.name; }
};

// The usage text ufw prints before "Invalid syntax" (shortened).
const std::string usage =
    "Usage: ufw COMMAND\n\nCommands:\n enable                          enables the firewall\n"
    " app default ARG                 set default application policy\n\n";

std::vector<output_case> output_cases() {
    return {
        // Rows of the facts table (A.1), as ufw 0.36.2 prints them.
        {"rule_added", 0, "Rule added (v6)\n", "", ufw_outcome::added, "Rule added (v6)"},
        {"exact_duplicate", 0, "Skipping adding existing rule (v6)\n", "",
         ufw_outcome::already_present, "Skipping adding existing rule (v6)"},
        {"comment_replaced", 0, "Rule updated (v6)\n", "", ufw_outcome::updated,
         "Rule updated (v6)"},
        {"rule_deleted", 0, "Rule deleted (v6)\n", "", ufw_outcome::deleted, "Rule deleted (v6)"},
        {"delete_missing", 0, "Could not delete non-existent rule (v6)\n", "",
         ufw_outcome::not_found, "Could not delete non-existent rule (v6)"},
        {"ufw_inactive", 0, "Rules updated (v6)\n", "", ufw_outcome::recorded,
         "Rules updated (v6)"},
        {"ipv6_disabled", 1, "", "ERROR: IPv6 support not enabled\n", ufw_outcome::error,
         "ERROR: IPv6 support not enabled"},
        {"bad_address", 1, "", "ERROR: Bad destination address\n", ufw_outcome::error,
         "ERROR: Bad destination address"},
        {"bad_port", 1, "", "ERROR: Bad port '70000'\n", ufw_outcome::error,
         "ERROR: Bad port '70000'"},
        {"bad_protocol", 1, "", "ERROR: Unsupported protocol 'sctp'\n", ufw_outcome::error,
         "ERROR: Unsupported protocol 'sctp'"},
        {"quote_in_comment", 1, usage, "ERROR: Invalid syntax\n", ufw_outcome::error,
         "ERROR: Invalid syntax"},
        {"delete_number_out_of_range", 1, "", "ERROR: Could not find rule '5'\n",
         ufw_outcome::error, "Could not find rule '5'"},
        {"insert_bad_position", 1, "", "ERROR: Invalid position '1'\n", ufw_outcome::error,
         "Invalid position '1'"},
        // ufw stored something else than asked (2001:0DB8:0000::0001): rc 0, but never a success.
        {"normalised", 0, "Rule added (v6)\n", "WARN: Rule changed after normalization\n",
         ufw_outcome::error, "WARN: Rule changed after normalization"},
        {"normalised_inactive", 0, "Rules updated (v6)\n",
         "WARN: Rule changed after normalization\n", ufw_outcome::error,
         "Rule changed after normalization"},
        // Other ufw output.
        {"harmless_warning", 0, "Rule added (v6)\n", "WARN: /tmp is world writable!\n",
         ufw_outcome::added, "Rule added (v6)"},
        {"both_families", 0, "Rule added\nRule added (v6)\n", "", ufw_outcome::added, "Rule added"},
        {"error_wins_over_stdout", 1, "Rule added (v6)\n", "ERROR: problem running ip6tables: x\n",
         ufw_outcome::error, "ERROR: problem running ip6tables"},
        {"error_with_exit_code_zero", 0, "Rule added (v6)\n", "ERROR: something\n",
         ufw_outcome::error, "ERROR: something"},
        {"nonzero_exit_without_error_line", 2, "Rule added (v6)\n",
         "Traceback (most recent call last):\n", ufw_outcome::error, "exit code 2"},
        {"nonzero_exit_silent", 1, "", "", ufw_outcome::error, "exit code 1"},
        {"limit_unsupported", 0, "Skipping unsupported IPv6 'limit' rule\n", "", ufw_outcome::error,
         "unrecognised output"},
        {"unknown_output", 0, "Something new in ufw 0.37\n", "", ufw_outcome::error,
         "unrecognised output"},
        {"no_output", 0, "", "", ufw_outcome::error, "unrecognised output"},
        {"prompt", 0, "Proceed with operation (y|n)? Aborted\n", "", ufw_outcome::error,
         "unrecognised output"},
    };
}

class ufw_classify : public ::testing::TestWithParam<output_case> {};

TEST_P(ufw_classify, outcome_and_detail) {
    const auto& c = GetParam();
    const auto verdict = classify_ufw_output(c.exit_code, c.out, c.err);
    EXPECT_EQ(verdict.outcome, c.expected);
    EXPECT_NE(verdict.detail.find(c.detail_part), std::string::npos) << verdict.detail;
    EXPECT_EQ(verdict.detail.find('\n'), std::string::npos) << "details are single log lines";
}

INSTANTIATE_TEST_SUITE_P(outputs, ufw_classify, ::testing::ValuesIn(output_cases()),
                         [](const auto& p) { return p.param.name; });

TEST(ufw_output, unexpected_output_is_bounded_in_the_log) {
    const std::string flood(10000, 'z');
    const auto verdict = classify_ufw_output(0, flood, "");
    EXPECT_EQ(verdict.outcome, ufw_outcome::error);
    EXPECT_LT(verdict.detail.size(), 400U);
}

TEST(ufw_output, outcome_names) {
    EXPECT_STREQ(to_string(ufw_outcome::added), "added");
    EXPECT_STREQ(to_string(ufw_outcome::updated), "updated");
    EXPECT_STREQ(to_string(ufw_outcome::recorded), "recorded (ufw inactive)");
    EXPECT_STREQ(to_string(ufw_outcome::already_present), "already present");
    EXPECT_STREQ(to_string(ufw_outcome::deleted), "deleted");
    EXPECT_STREQ(to_string(ufw_outcome::not_found), "not found");
    EXPECT_STREQ(to_string(ufw_outcome::error), "error");
}

struct confirm_case {
    ufw_outcome outcome;
    bool confirms_add;
    bool confirms_remove;
    friend void PrintTo(const confirm_case& c, std::ostream* os) { *os << to_string(c.outcome); }
};

class ufw_confirms : public ::testing::TestWithParam<confirm_case> {};

TEST_P(ufw_confirms, add_and_remove) {
    const auto& c = GetParam();
    EXPECT_EQ(outcome_confirms(op_kind::add, c.outcome), c.confirms_add) << c.outcome;
    EXPECT_EQ(outcome_confirms(op_kind::remove, c.outcome), c.confirms_remove) << c.outcome;
}

INSTANTIATE_TEST_SUITE_P(outcomes, ufw_confirms,
                         ::testing::Values(confirm_case{ufw_outcome::added, true, false},
                                           confirm_case{ufw_outcome::updated, true, false},
                                           confirm_case{ufw_outcome::already_present, true, false},
                                           confirm_case{ufw_outcome::recorded, true, true},
                                           confirm_case{ufw_outcome::deleted, false, true},
                                           confirm_case{ufw_outcome::not_found, false, true},
                                           confirm_case{ufw_outcome::error, false, false}));

} // namespace
} // namespace dockgate
