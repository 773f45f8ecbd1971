// Unit tests for the executor's policy check: each attack of issue 15 is refused, labels' rules
// pass.
#include "dockgate/policy/labels.hpp"
#include "dockgate/policy/policy.hpp"
#include "dockgate/policy/rule_guard.hpp"
#include "dockgate/privsep/executor_protocol.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test_support.hpp"

namespace dockgate {
namespace {

using test::prefix;

/// The rule of an executor request, parsed exactly as the executor parses it.
owned_rule requested(const std::string& message) {
    const auto parsed = parse_request(message);
    if (!parsed.request || !parsed.request->target) {
        ADD_FAILURE() << message << ": " << parsed.reason;
        return {};
    }
    return *parsed.request->target;
}

policy example_policy() {
    policy_error error;
    auto pol =
        load_policy_file(std::string(DOCKGATE_TEST_DATA) + "/../../config/policy.json", &error);
    EXPECT_TRUE(pol.has_value()) << error.to_string();
    return pol.value_or(builtin_policy());
}

/// Expects a refusal whose reason mentions `because`.
void expect_refused(const std::string& message, const policy& pol, const std::string& because) {
    const auto why = refuse_rule(requested(message), pol);
    ASSERT_TRUE(why.has_value()) << message << " was not refused";
    EXPECT_NE(why->find(because), std::string::npos) << message << ": " << *why;
}

TEST(RuleGuard, EveryHostPortOpenIsRefused) {
    expect_refused("add in allow nolog tcp 1:65535 ::/0 ::/0 dockgate:000000000000:x",
                   builtin_policy(), "allow_publish is false");
    expect_refused("add in allow nolog udp 1:65535 0.0.0.0/0 0.0.0.0/0 dockgate:000000000000:x",
                   builtin_policy(), "manage_ipv4 is false");
    auto publishing = builtin_policy();
    publishing.allow_publish = true;
    expect_refused("add in allow nolog tcp 1:65535 ::/0 ::/0 dockgate:000000000000:x", publishing,
                   "one host port");
    publishing.manage_ipv4 = true;
    expect_refused("add in allow nolog udp 1:65535 0.0.0.0/0 0.0.0.0/0 dockgate:000000000000:x",
                   publishing, "::/0");
    // fw.publish only opens ::/0: a single IPv4 host port is refused too (found in review).
    expect_refused("add in allow nolog tcp 8080 0.0.0.0/0 0.0.0.0/0 dockgate:000000000000:x",
                   publishing, "::/0");
}

TEST(RuleGuard, TheLimitRuleThatTookOverSshIsRefused) {
    expect_refused("add in limit nolog tcp 22 ::/0 ::/0 dockgate:000000000000:x", builtin_policy(),
                   "allow_publish is false");
    expect_refused("add in limit nolog tcp 22 ::/0 ::/0 dockgate:000000000000:x", example_policy(),
                   "allow_publish is false");
}

TEST(RuleGuard, DestinationsOutsideThePrefixesAreRefused) {
    for (const auto& pol : {builtin_policy(), example_policy()}) {
        expect_refused("add route allow nolog tcp 80 fd00::1 ::/0 dockgate:000000000000:x", pol,
                       "outside the policy's prefixes");
        expect_refused("add route allow nolog tcp 80 10.0.0.1 0.0.0.0/0 dockgate:000000000000:x",
                       pol, "manage_ipv4 is false");
        expect_refused("add route allow nolog tcp 80 ::ffff:10.1.2.3 ::/0 dockgate:000000000000:x",
                       pol, "IPv4-mapped");
    }
    // IPv4-mapped addresses are refused even when the admin's prefixes take in everything.
    auto everything = builtin_policy();
    everything.prefixes = {prefix("::/0")};
    everything.manage_ipv4 = true;
    expect_refused("add route allow nolog tcp 80 ::ffff:10.1.2.3 ::/0 dockgate:000000000000:x",
                   everything, "IPv4-mapped");
    // With manage_ipv4 and IPv4 prefixes listed, an IPv4 destination must lie in one of them.
    everything.prefixes.push_back(prefix("172.16.0.0/12"));
    expect_refused("add route allow nolog tcp 80 10.0.0.1 0.0.0.0/0 dockgate:000000000000:x",
                   everything, "outside the policy's prefixes");
    EXPECT_FALSE(refuse_rule(
        requested("add route allow nolog tcp 80 172.17.0.2 0.0.0.0/0 dockgate:000000000000:x"),
        everything));
}

TEST(RuleGuard, DeniedAndUnallowedPortsAreRefused) {
    expect_refused("add route allow nolog tcp 2375 2001:db8::5 ::/0 dockgate:000000000000:x",
                   example_policy(), "denied by the policy (2375-2376/tcp)");
    expect_refused("add route allow nolog tcp 2300:2400 2001:db8::5 ::/0 dockgate:000000000000:x",
                   example_policy(), "denied by the policy");
    auto narrow = builtin_policy();
    narrow.allowed_ports = {{{80, 80}, protocol::tcp}};
    expect_refused("add route allow nolog tcp 81 2001:db8::5 ::/0 dockgate:000000000000:x", narrow,
                   "not within the policy's allowed_ports");
    expect_refused("add route allow nolog udp 80 2001:db8::5 ::/0 dockgate:000000000000:x", narrow,
                   "not within the policy's allowed_ports");
    EXPECT_FALSE(refuse_rule(
        requested("add route allow nolog tcp 80 2001:db8::5 ::/0 dockgate:000000000000:x"),
        narrow));
}

TEST(RuleGuard, ProfilesAreTheAdminsOwnWordsWithTheirOwnSources) {
    auto strict = example_policy();
    strict.mode = label_mode::strict;
    strict.denied_ports.push_back({{22, 22}, protocol::tcp});
    // office-ssh: 22/tcp from 2001:db8:1234::/48 only, although 22 is denied to labels.
    EXPECT_FALSE(refuse_rule(
        requested(
            "add route limit log tcp 22 2001:db8::5 2001:db8:1234::/48 dockgate:000000000000:x"),
        strict));
    EXPECT_FALSE(refuse_rule(
        requested(
            "add route limit log tcp 22 2001:db8::5 2001:db8:1234:5::/64 dockgate:000000000000:x"),
        strict));
    expect_refused("add route allow nolog tcp 22 2001:db8::5 ::/0 dockgate:000000000000:x", strict,
                   "no profile's port");
    // public-web: 80/tcp from anyone; 8080 is no profile's port in strict mode.
    EXPECT_FALSE(refuse_rule(
        requested("add route allow nolog tcp 80 2001:db8::5 ::/0 dockgate:000000000000:x"),
        strict));
    expect_refused("add route allow nolog tcp 8080 2001:db8::5 ::/0 dockgate:000000000000:x",
                   strict, "no profile's port");
    // A profile's port range must be exactly its spec: 80:443 is not "80/tcp".
    expect_refused("add route allow nolog tcp 80:443 2001:db8::5 ::/0 dockgate:000000000000:x",
                   strict, "no profile's port");
}

TEST(RuleGuard, SourcesMustBeThePolicysOrAProfiles) {
    auto office = builtin_policy();
    office.sources = {prefix("2001:db8:1234::/48")};
    expect_refused("add route allow nolog tcp 80 2001:db8::5 ::/0 dockgate:000000000000:x", office,
                   "source ::/0 is not within the policy's sources");
    expect_refused(
        "add route allow nolog tcp 80 2001:db8::5 2001:db8:9999::/48 dockgate:000000000000:x",
        office, "not within the policy's sources");
    EXPECT_FALSE(refuse_rule(requested("add route allow nolog tcp 80 2001:db8::5 "
                                       "2001:db8:1234:1::/64 dockgate:000000000000:x"),
                             office));
}

TEST(RuleGuard, CapsCountFromTheRulesFile) {
    auto pol = builtin_policy();
    pol.max_rules_per_container = 2;
    pol.max_rules_total = 3;
    const std::string text = "### tuple ### route:allow tcp 80 2001:db8::1 any ::/0 in comment=" +
                             test::hex_encode("dockgate:aaaaaaaaaaaa:a") + "\n" +
                             "### tuple ### route:allow tcp 81 2001:db8::1 any ::/0 in comment=" +
                             test::hex_encode("dockgate:aaaaaaaaaaaa:a") + "\n" +
                             "### tuple ### allow tcp 22 ::/0 any ::/0 in\nCOMMIT\n";
    rule_budget budget(parse_rules_file(text));
    EXPECT_EQ(budget.total(), 2U); // the admin's rule is not counted
    const auto third =
        requested("add route allow nolog tcp 82 2001:db8::1 ::/0 dockgate:aaaaaaaaaaaa:a");
    const auto why = budget.admit(third, pol);
    ASSERT_TRUE(why.has_value());
    EXPECT_NE(why->find("max_rules_per_container"), std::string::npos) << *why;
    // The same rule again, or with logging now, is not a new rule.
    EXPECT_FALSE(budget.admit(
        requested("add route allow log tcp 80 2001:db8::1 ::/0 dockgate:aaaaaaaaaaaa:a"), pol));
    EXPECT_FALSE(budget.admit(
        requested("add route allow nolog tcp 90 2001:db8::2 ::/0 dockgate:bbbbbbbbbbbb:b"), pol));
    const auto over_total = budget.admit(
        requested("add route allow nolog tcp 91 2001:db8::2 ::/0 dockgate:bbbbbbbbbbbb:b"), pol);
    ASSERT_TRUE(over_total.has_value());
    EXPECT_NE(over_total->find("max_rules_total"), std::string::npos) << *over_total;
    // A remove frees its place.
    budget.release(
        requested("delete route allow nolog tcp 81 2001:db8::1 ::/0 dockgate:aaaaaaaaaaaa:a"));
    EXPECT_FALSE(budget.admit(third, pol));
}

TEST(RuleGuard, ManyRulesForOneOwnerAreCapped) {
    auto pol = builtin_policy();
    rule_budget budget(rules_file_contents{});
    std::size_t admitted = 0;
    for (std::uint16_t port = 1; port <= 200; ++port) {
        const auto candidate = requested("add route allow nolog tcp " + std::to_string(port) +
                                         " 2001:db8::7 ::/0 dockgate:000000000000:x");
        if (!refuse_rule(candidate, pol) && !budget.admit(candidate, pol)) {
            ++admitted;
        }
    }
    EXPECT_EQ(admitted, pol.max_rules_per_container);
}

/// Containers with a spread of labels: whatever evaluate() makes of them must pass the guard.
std::vector<container_info> sample_containers() {
    auto make = [](std::string id_digit, std::map<std::string, std::string> labels,
                   std::vector<port_binding> published = {}) {
        container_info c;
        c.id = std::string(64, id_digit[0]);
        c.name = "c" + id_digit;
        c.running = true;
        c.labels = std::move(labels);
        c.networks = {{"web", "2001:db8:42::" + id_digit, "172.18.0." + id_digit},
                      {"ula", "fd00:1::" + id_digit, ""}};
        c.published = std::move(published);
        return c;
    };
    return {
        make("1", {{"fw.allow", "http,https,ssh,dns,ntp"}}),
        make("2",
             {{"fw.allow", "8000-8010/tcp,6000-6010/udp,grafana,syncthing"}, {"fw.log", "true"}}),
        make("3", {{"fw.allow", "public-web,office-ssh"}, {"fw.limit", "true"}}),
        make("4",
             {{"fw.allow", "http,2375,2376/tcp"}, {"fw.allow.from", "2001:db8:1234::/48,any"}}),
        make("5", {{"fw.allow", "office-ssh,mysql"}, {"fw.allow.from", "2001:db8:77::/64"}}),
        make("6", {{"fw.allow", "http"}, {"fw.publish", "auto"}},
             {{80, "tcp", 8080}, {53, "udp", 5353}, {2375, "tcp", 9999}}),
        make("7", {{"fw.publish", "8080,2375"}, {"fw.limit", "yes"}, {"fw.networks", "web"}},
             {{80, "tcp", 8080}, {2375, "tcp", 2375}}),
    };
}

std::vector<policy> sample_policies() {
    std::vector<policy> all{builtin_policy(), example_policy()};
    for (std::size_t i = 0, n = all.size(); i < n; ++i) {
        auto wide = all[i];
        wide.allow_publish = true;
        wide.manage_ipv4 = true;
        all.push_back(wide);
        auto strict = wide;
        strict.mode = label_mode::strict;
        all.push_back(strict);
        auto office = all[i];
        office.sources = {prefix("2001:db8:1234::/48"), prefix("2001:db8:77::/64")};
        office.allowed_ports = {{{1, 9000}, protocol::tcp}, {{1, 9000}, protocol::udp}};
        all.push_back(office);
    }
    return all;
}

TEST(RuleGuard, EveryRuleLabelsGetUnderThePolicyPasses) {
    std::size_t checked = 0;
    for (const auto& pol : sample_policies()) {
        for (const auto target : {publish_target::host_port, publish_target::container_port}) {
            for (const auto& container : sample_containers()) {
                const auto result = evaluate(container, pol, target);
                rule_budget budget(rules_file_contents{});
                for (const auto& r : result.rules) {
                    EXPECT_EQ(refuse_rule(r, pol), std::nullopt) << r;
                    EXPECT_EQ(budget.admit(r, pol), std::nullopt) << r;
                    // The executor parses the watcher's text of it: the same rule must pass too.
                    EXPECT_EQ(refuse_rule(requested(format_request({request_kind::add, r})), pol),
                              std::nullopt)
                        << r;
                    ++checked;
                }
            }
        }
    }
    EXPECT_GT(checked, 100U);
}

} // namespace
} // namespace dockgate
