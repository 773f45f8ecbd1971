// Table-driven tests of make_plan: desired rules against the rules ufw has, as the minimal set of
// changes.
#include "dockgate/reconcile/plan.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test_support.hpp"

namespace dockgate {
namespace {

using test::rule_builder;

const owner_tag web{"0123456789ab", "web"};
const owner_tag api{"abcdef012345", "api"};

/// One line of user6.rules as ufw writes it.
struct file_rule {
    std::string tuple;
    std::string comment; ///< plain text; hex-encoded into the file
};

/// The rules file holding `rules`, read through the real parser.
rules_file_contents actual_of(const std::vector<file_rule>& rules) {
    std::string text = "*filter\n:ufw6-user-forward - [0:0]\n### RULES ###\n";
    for (const auto& r : rules) {
        text += "\n### tuple ### " + r.tuple;
        if (!r.comment.empty()) {
            text += " comment=" + test::hex_encode(r.comment);
        }
        text += "\n-A ufw6-user-forward -j ACCEPT\n";
    }
    text += "\n### END RULES ###\nCOMMIT\n";
    return parse_rules_file(text);
}

struct want_op {
    op_kind kind;
    std::string tuple;
    owner_tag owner;
    std::string reason;
};

struct plan_case {
    std::string name;
    std::vector<owned_rule> desired;
    std::vector<file_rule> actual;
    std::vector<want_op> ops; ///< in order
    std::vector<std::string> admin_covered;
    friend void PrintTo(const plan_case& c, std::ostream* os) { *os << c.name; }
};

const rule r80 = rule_builder("2001:db8::2").port(80);
const rule r443 = rule_builder("2001:db8::2").port(443);
const rule r53 = rule_builder("2001:db8::3").udp().port(53);
const std::string t80 = "route:allow tcp 80 2001:db8::2 any ::/0 in";
const std::string t443 = "route:allow tcp 443 2001:db8::2 any ::/0 in";
const std::string t53 = "route:allow udp 53 2001:db8::3 any ::/0 in";
const std::string web_comment = "dockgate:0123456789ab:web";
const std::string api_comment = "dockgate:abcdef012345:api";

std::vector<plan_case> cases() {
    return {
        {.name = "empty_and_empty", .desired = {}, .actual = {}, .ops = {}, .admin_covered = {}},
        {.name = "missing_is_added",
         .desired = {{r80, web}},
         .actual = {},
         .ops = {{op_kind::add, t80, web, "missing"}},
         .admin_covered = {}},
        {.name = "stale_is_removed_with_its_stored_owner",
         .desired = {},
         .actual = {{t80, web_comment}},
         .ops = {{op_kind::remove, t80, web, "stale"}},
         .admin_covered = {}},
        {.name = "in_sync_needs_nothing",
         .desired = {{r80, web}, {r443, web}, {r53, api}},
         .actual = {{t53, api_comment}, {t80, web_comment}, {t443, web_comment}},
         .ops = {},
         .admin_covered = {}},
        {.name = "identical_admin_rule_covers_the_wish",
         .desired = {{r80, web}},
         .actual = {{t80, ""}},
         .ops = {},
         .admin_covered = {t80}},
        {.name = "identical_admin_rule_with_a_comment_covers_the_wish",
         .desired = {{r80, web}},
         .actual = {{t80, "web server, ask Bob"}},
         .ops = {},
         .admin_covered = {t80}},
        // ufw's match ignores action and log: adding "limit" over an admin's "allow" (or "deny")
        // would overwrite the admin's rule in place. dockgate must leave it alone.
        {.name = "admin_rule_differing_only_in_action_is_never_overwritten",
         .desired = {{rule_builder("2001:db8::2").port(80).limit(), web}},
         .actual = {{t80, ""}},
         .ops = {},
         .admin_covered = {"route:limit tcp 80 2001:db8::2 any ::/0 in"}},
        {.name = "admin_deny_is_never_overwritten",
         .desired = {{r80, web}},
         .actual = {{"route:deny tcp 80 2001:db8::2 any ::/0 in", ""}},
         .ops = {},
         .admin_covered = {t80}},
        {.name = "admin_rule_differing_only_in_logging_is_never_overwritten",
         .desired = {{rule_builder("2001:db8::2").port(80).log(), web}},
         .actual = {{"route:allow_log-all tcp 80 2001:db8::2 any ::/0 in", "admin"}},
         .ops = {},
         .admin_covered = {"route:allow_log tcp 80 2001:db8::2 any ::/0 in"}},
        {.name = "admin_rule_on_another_interface_does_not_cover",
         .desired = {{r80, web}},
         .actual = {{"route:allow tcp 80 2001:db8::2 any ::/0 in_eth0!out_docker0", ""}},
         .ops = {{op_kind::add, t80, web, "missing"}},
         .admin_covered = {}},
        {.name = "foreign_rules_are_never_removed",
         .desired = {},
         .actual = {{t80, ""},
                    {t443, "Grafana f\xc3\xbcr das B\xc3\xbcro"},
                    {t53, "dockgate:0123456789AB:upper"},
                    {"route:allow tcp 80 2001:db8::7 any ::/0 in_eth0!out_docker0", web_comment},
                    {"route:allow tcp 80,443 2001:db8::a any ::/0 in", web_comment},
                    {"allow tcp 22 ::/0 any ::/0 in", ""}},
         .ops = {},
         .admin_covered = {}},
        {.name = "address_reused_by_another_container_is_retagged",
         .desired = {{r80, api}},
         .actual = {{t80, web_comment}},
         .ops = {{op_kind::add, t80, api, "owner changed"}},
         .admin_covered = {}},
        {.name = "same_container_renamed_is_retagged",
         .desired = {{r80, owner_tag{"0123456789ab", "web2"}}},
         .actual = {{t80, web_comment}},
         .ops = {{op_kind::add, t80, owner_tag{"0123456789ab", "web2"}, "owner changed"}},
         .admin_covered = {}},
        {.name = "owned_duplicate_is_removed_once",
         .desired = {{r80, web}},
         .actual = {{t80, web_comment}, {t80, web_comment}},
         .ops = {{op_kind::remove, t80, web, "duplicate"}},
         .admin_covered = {}},
        {.name = "owned_duplicate_with_another_owner_is_removed_by_its_own_tag",
         .desired = {{r80, web}},
         .actual = {{t80, web_comment}, {t80, api_comment}},
         .ops = {{op_kind::remove, t80, api, "duplicate"}},
         .admin_covered = {}},
        {.name = "changed_action_removes_then_adds",
         .desired = {{rule_builder("2001:db8::2").port(80).limit(), web}},
         .actual = {{t80, web_comment}},
         .ops = {{op_kind::remove, t80, web, "stale"},
                 {op_kind::add, "route:limit tcp 80 2001:db8::2 any ::/0 in", web, "missing"}},
         .admin_covered = {}},
        {.name = "removals_come_before_additions",
         .desired = {{r443, web}, {r53, api}},
         .actual = {{t80, web_comment},
                    {"route:allow tcp 8080 2001:db8::9 any ::/0 in", api_comment}},
         .ops = {{op_kind::remove, t80, web, "stale"},
                 {op_kind::remove, "route:allow tcp 8080 2001:db8::9 any ::/0 in", api, "stale"},
                 {op_kind::add, t443, web, "missing"},
                 {op_kind::add, t53, api, "missing"}},
         .admin_covered = {}},
        {.name = "two_containers_wanting_one_tuple_add_it_once",
         .desired = {{r80, web}, {r80, api}},
         .actual = {},
         .ops = {{op_kind::add, t80, web, "missing"}},
         .admin_covered = {}},
        {.name = "same_wish_twice_is_added_once",
         .desired = {{r80, web}, {r80, web}},
         .actual = {},
         .ops = {{op_kind::add, t80, web, "missing"}},
         .admin_covered = {}},
        {.name = "input_rules_are_planned_too",
         .desired = {{rule_builder("::/0").input().port(8080), web}},
         .actual = {{"allow tcp 8081 ::/0 any ::/0 in", web_comment}},
         .ops = {{op_kind::remove, "allow tcp 8081 ::/0 any ::/0 in", web, "stale"},
                 {op_kind::add, "allow tcp 8080 ::/0 any ::/0 in", web, "missing"}},
         .admin_covered = {}},
    };
}

class plan_make : public ::testing::TestWithParam<plan_case> {};

TEST_P(plan_make, minimal_ordered_changes) {
    const auto& c = GetParam();
    const auto result = make_plan(c.desired, actual_of(c.actual));

    std::vector<rule_op> expected_ops;
    for (const auto& want : c.ops) {
        const auto parsed = parse_tuple(want.tuple);
        ASSERT_TRUE(parsed.has_value()) << "bad test tuple " << want.tuple;
        expected_ops.push_back({want.kind, {*parsed, want.owner}, want.reason});
    }
    EXPECT_EQ(result.ops, expected_ops);
    EXPECT_EQ(result.empty(), c.ops.empty());

    std::vector<std::string> covered;
    for (const auto& r : result.admin_covered) {
        covered.push_back(r.what.tuple());
    }
    EXPECT_EQ(covered, c.admin_covered);
}

INSTANTIATE_TEST_SUITE_P(cases, plan_make, ::testing::ValuesIn(cases()),
                         [](const auto& p) { return p.param.name; });

TEST(plan, admin_covered_names_the_container_that_wanted_it) {
    const auto result = make_plan({{r80, web}}, actual_of({{t80, ""}}));
    ASSERT_EQ(result.admin_covered.size(), 1U);
    EXPECT_EQ(result.admin_covered.front(), (owned_rule{r80, web}));
}

TEST(plan, applying_the_plan_reaches_a_fixed_point) {
    // Simulate ufw applying the plan, then plan again: nothing is left to do.
    const std::vector<owned_rule> desired{{r80, api}, {r443, web}, {r53, web}};
    std::vector<file_rule> state{
        {t80, web_comment}, {t53, ""}, {"route:allow tcp 9 2001:db8::9 any ::/0 in", web_comment}};
    const auto first = make_plan(desired, actual_of(state));
    for (const auto& op : first.ops) {
        const auto tuple = op.target.what.tuple();
        const auto same = [&](const file_rule& f) { return f.tuple == tuple; };
        if (op.kind == op_kind::remove) {
            state.erase(std::find_if(state.begin(), state.end(), same));
        } else if (const auto it = std::find_if(state.begin(), state.end(), same);
                   it != state.end()) {
            it->comment = op.target.owner.to_comment(); // ufw: "Rule updated"
        } else {
            state.push_back({tuple, op.target.owner.to_comment()});
        }
    }
    const auto second = make_plan(desired, actual_of(state));
    EXPECT_TRUE(second.empty()) << ::testing::PrintToString(second.ops);
    ASSERT_EQ(second.admin_covered.size(), 1U);
    EXPECT_EQ(second.admin_covered.front().what, r53);
}

TEST(plan, an_admin_rule_that_goes_away_is_noticed_and_dockgate_rules_are_not_counted) {
    const auto before =
        actual_of({{"route:allow tcp 22 2001:db8::9 any ::/0 in", "ssh"},
                   {"allow tcp 443 ::/0 any ::/0 in", ""},
                   {"allow tcp 8443 ::/0 any ::/0 in", "old note"},
                   {"route:allow tcp 80 2001:db8::2 any ::/0 in", web.to_comment()}});
    EXPECT_EQ(foreign_rules(before).size(), 3U) << "dockgate's own rule is not the admin's";
    // 443 stays; 8443 stays with another comment; 22 goes; dockgate's 80 goes (not reported).
    const auto after = actual_of(
        {{"allow tcp 443 ::/0 any ::/0 in", ""}, {"allow tcp 8443 ::/0 any ::/0 in", "new note"}});
    EXPECT_EQ(vanished_rules(foreign_rules(before), after),
              (foreign_rule_set{{"route:allow tcp 22 2001:db8::9 any ::/0 in", "ssh"}}));
    EXPECT_TRUE(vanished_rules(foreign_rules(after), before).empty())
        << "a rule that appears is not reported";
}

TEST(plan, a_rule_ufw_rewrites_in_its_own_form_has_not_gone) {
    // A hand-made file with uppercase or /128 addresses, or a rule whose action or logging
    // changed: ufw's next write shows the same rules in its form. Compared as text, 5,000 such
    // rules made 5,000 "gone" warnings.
    const auto before = actual_of({{"route:allow tcp 22 2001:DB8::9/128 any ::/0 in", "ssh"},
                                   {"allow tcp 443 ::/0 any 2001:db8:0:0::/64 in", ""}});
    const auto after = actual_of({{"route:limit_log tcp 22 2001:db8::9 any ::/0 in", "ssh"},
                                  {"allow tcp 443 ::/0 any 2001:db8::/64 in", ""}});
    const auto gone = vanished_rules(foreign_rules(before), after);
    EXPECT_TRUE(gone.empty()) << (gone.empty() ? "" : gone.begin()->first);
}

TEST(plan, op_kind_names) {
    EXPECT_STREQ(to_string(op_kind::add), "add");
    EXPECT_STREQ(to_string(op_kind::remove), "remove");
}

} // namespace
} // namespace dockgate
