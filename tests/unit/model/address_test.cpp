// Unit tests for address parsing: the canonical text ufw stores, refusals, scopes and containment.
#include "dockgate/model/address.hpp"

#include <gtest/gtest.h>

#include <string>

#include "test_support.hpp"

namespace dockgate {
namespace {

using test::prefix;

/// The canonical text, or "refused: <why>" so one comparison shows both outcomes.
std::string canonical(std::string_view text) {
    std::string why;
    const auto parsed = parse_prefix(text, &why);
    return parsed ? parsed->to_string() : "refused: " + why;
}

struct canonical_case {
    const char* input;
    const char* expected;
    friend void PrintTo(const canonical_case& c, std::ostream* os) { *os << c.input; }
};

class address_canonical : public ::testing::TestWithParam<canonical_case> {};

TEST_P(address_canonical, is_the_text_ufw_stores) {
    EXPECT_EQ(canonical(GetParam().input), GetParam().expected) << "input: " << GetParam().input;
}

INSTANTIATE_TEST_SUITE_P(
    forms, address_canonical,
    ::testing::Values(
        canonical_case{"2001:db8::1", "2001:db8::1"},
        // ufw warns "Rule changed after normalization" for these; dockgate must never send them.
        canonical_case{"2001:DB8::1", "2001:db8::1"},
        canonical_case{"2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1"},
        canonical_case{"2001:0db8:0:0:0:0:0:0002", "2001:db8::2"},
        // RFC 5952: the longest zero run is compressed, the first of two equal runs wins.
        canonical_case{"2001:db8:0:1:0:0:0:1", "2001:db8:0:1::1"},
        canonical_case{"2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"},
        // A single zero group is not compressed.
        canonical_case{"2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"},
        canonical_case{"2001:db8::1/128", "2001:db8::1"},
        canonical_case{"2001:DB8::/32", "2001:db8::/32"},
        canonical_case{"2001:db8:1234:0::/48", "2001:db8:1234::/48"},
        canonical_case{"2000::/3", "2000::/3"}, canonical_case{"::/0", "::/0"},
        canonical_case{"::", "::"}, canonical_case{"::ffff:192.0.2.1", "::ffff:192.0.2.1"},
        canonical_case{"192.0.2.1", "192.0.2.1"}, canonical_case{"192.0.2.1/32", "192.0.2.1"},
        canonical_case{"198.51.100.0/24", "198.51.100.0/24"},
        canonical_case{"0.0.0.0/0", "0.0.0.0/0"}));

struct refusal_case {
    const char* input;
    const char* reason_part;
    friend void PrintTo(const refusal_case& c, std::ostream* os) { *os << "\"" << c.input << "\""; }
};

class address_refused : public ::testing::TestWithParam<refusal_case> {};

TEST_P(address_refused, with_a_reason) {
    std::string why;
    const auto parsed = parse_prefix(GetParam().input, &why);
    EXPECT_FALSE(parsed.has_value()) << GetParam().input << " parsed as " << parsed->to_string();
    EXPECT_NE(why.find(GetParam().reason_part), std::string::npos)
        << "input: \"" << GetParam().input << "\", reason: " << why;
}

INSTANTIATE_TEST_SUITE_P(
    forms, address_refused,
    ::testing::Values(
        refusal_case{"", "empty"},
        refusal_case{"2001:0db8:0000:0000:0000:0000:0000:0001/128/128/128/128/128/128/128",
                     "overlong"},
        // Host bits beyond the prefix would silently widen a rule: refused, never masked.
        refusal_case{"2001:db8::1/64", "bits set beyond the prefix"},
        refusal_case{"2001:db8:8000::/32", "bits set beyond the prefix"},
        refusal_case{"192.0.2.1/24", "bits set beyond the prefix"},
        refusal_case{"2001:db8::/0129", "plain decimal"},
        refusal_case{"2001:db8::/064", "plain decimal"},
        refusal_case{"2001:db8::/00", "plain decimal"},
        refusal_case{"2001:db8::/", "plain decimal"},
        refusal_case{"2001:db8::/+64", "plain decimal"},
        refusal_case{"2001:db8::/-1", "plain decimal"},
        refusal_case{"2001:db8::/ 64", "plain decimal"},
        refusal_case{"2001:db8::/64 ", "plain decimal"},
        refusal_case{"2001:db8::/6x", "plain decimal"},
        refusal_case{"2001:db8::/64/64", "plain decimal"},
        refusal_case{"2001:db8::/129", "too large"},
        refusal_case{"2001:db8::/4294967296", "plain decimal"},
        refusal_case{"192.0.2.0/33", "too large"},
        refusal_case{"2001:db8::g", "not an IPv6 or IPv4"},
        refusal_case{"2001:db8:::1", "not an IPv6 or IPv4"},
        refusal_case{"fe80::1%eth0", "not an IPv6 or IPv4"},
        refusal_case{" 2001:db8::1", "not an IPv6 or IPv4"},
        refusal_case{"2001:db8::1 ", "not an IPv6 or IPv4"},
        refusal_case{"[2001:db8::1]", "not an IPv6 or IPv4"},
        refusal_case{"192.0.2", "not an IPv6 or IPv4"},
        refusal_case{"192.0.2.256", "not an IPv6 or IPv4"},
        refusal_case{"any", "not an IPv6 or IPv4"}, refusal_case{"/64", "not an IPv6 or IPv4"}));

TEST(address, refusal_without_a_reason_pointer_is_safe) {
    EXPECT_FALSE(parse_prefix("2001:db8::1/64").has_value());
    EXPECT_FALSE(parse_prefix("nonsense").has_value());
}

TEST(address, family_length_host_and_any) {
    const auto host = prefix("2001:db8::1");
    EXPECT_TRUE(host.v6);
    EXPECT_EQ(host.length, 128U);
    EXPECT_TRUE(host.is_host());
    EXPECT_FALSE(host.is_any());

    const auto net = prefix("2001:db8::/32");
    EXPECT_EQ(net.length, 32U);
    EXPECT_FALSE(net.is_host());

    const auto v4 = prefix("192.0.2.1");
    EXPECT_FALSE(v4.v6);
    EXPECT_EQ(v4.length, 32U);
    EXPECT_TRUE(v4.is_host());

    EXPECT_TRUE(prefix("::/0").is_any());
    EXPECT_TRUE(prefix("0.0.0.0/0").is_any());
    EXPECT_FALSE(prefix("::/0") == prefix("0.0.0.0/0")) << "any of v6 and any of v4 differ";
}

TEST(address, equal_after_canonicalisation) {
    EXPECT_EQ(prefix("2001:DB8:0::1"), prefix("2001:db8::1/128"));
    EXPECT_FALSE(prefix("2001:db8::1") == prefix("2001:db8::2"));
    EXPECT_FALSE(prefix("2001:db8::/32") == prefix("2001:db8::/33"));
}

struct scope_case {
    const char* address;
    address_scope expected;
    friend void PrintTo(const scope_case& c, std::ostream* os) { *os << c.address; }
};

class address_scope_of : public ::testing::TestWithParam<scope_case> {};

TEST_P(address_scope_of, classifies) {
    EXPECT_EQ(scope_of(prefix(GetParam().address)), GetParam().expected) << GetParam().address;
}

INSTANTIATE_TEST_SUITE_P(
    forms, address_scope_of,
    ::testing::Values(
        scope_case{"2001:db8::1", address_scope::global},
        scope_case{"2a00:1450:4001::1", address_scope::global},
        scope_case{"3fff:ffff::1", address_scope::global},
        scope_case{"fd00::1", address_scope::unique_local},
        scope_case{"fd12:3456:789a::2", address_scope::unique_local},
        scope_case{"fc00::1", address_scope::unique_local},
        scope_case{"fe80::1", address_scope::link_local},
        scope_case{"fe80::42:acff:fe11:2", address_scope::link_local},
        scope_case{"febf:ffff::1", address_scope::link_local}, // still inside fe80::/10
        scope_case{"fec0::1", address_scope::other}, // deprecated site-local, not fe80::/10
        scope_case{"::1", address_scope::loopback}, scope_case{"::", address_scope::unspecified},
        scope_case{"ff02::1", address_scope::multicast},
        scope_case{"ff05::1:3", address_scope::multicast},
        scope_case{"::ffff:192.0.2.1", address_scope::other},
        scope_case{"64:ff9b::c000:201", address_scope::other},
        scope_case{"100::1", address_scope::other}, scope_case{"4000::1", address_scope::other},
        scope_case{"127.0.0.1", address_scope::loopback},
        scope_case{"169.254.10.1", address_scope::link_local},
        scope_case{"224.0.0.1", address_scope::multicast},
        scope_case{"239.255.255.250", address_scope::multicast},
        scope_case{"0.0.0.0", address_scope::unspecified},
        scope_case{"192.0.2.1", address_scope::global},
        // Docker's IPv4 bridges use private space; with manage_ipv4 those must qualify.
        scope_case{"172.17.0.2", address_scope::global}));

TEST(address, scope_names) {
    EXPECT_STREQ(to_string(address_scope::global), "global");
    EXPECT_STREQ(to_string(address_scope::unique_local), "unique-local");
    EXPECT_STREQ(to_string(address_scope::link_local), "link-local");
    EXPECT_STREQ(to_string(address_scope::loopback), "loopback");
    EXPECT_STREQ(to_string(address_scope::multicast), "multicast");
    EXPECT_STREQ(to_string(address_scope::unspecified), "unspecified");
    EXPECT_STREQ(to_string(address_scope::other), "other");
}

struct within_case {
    const char* inner;
    const char* outer;
    bool expected;
    friend void PrintTo(const within_case& c, std::ostream* os) {
        *os << c.inner << " in " << c.outer;
    }
};

class address_within : public ::testing::TestWithParam<within_case> {};

TEST_P(address_within, containment) {
    EXPECT_EQ(prefix(GetParam().inner).within(prefix(GetParam().outer)), GetParam().expected)
        << GetParam().inner << " within " << GetParam().outer;
}

INSTANTIATE_TEST_SUITE_P(
    forms, address_within,
    ::testing::Values(
        within_case{"2001:db8::1", "2001:db8::/32", true},
        within_case{"2001:db8:ffff:ffff::1", "2001:db8::/32", true},
        within_case{"2001:db9::1", "2001:db8::/32", false},
        within_case{"2001:db8::/48", "2001:db8::/32", true},
        within_case{"2001:db8::/32", "2001:db8::/32", true},
        within_case{"2001:db8::/32", "2001:db8::/48", false}, // wider is never within narrower
        within_case{"2001:db8::1", "2001:db8::1", true},
        within_case{"2001:db8::1", "2001:db8::2", false},
        // Boundaries inside a byte.
        within_case{"2001:db8:7fff::1", "2001:db8::/33", true},
        within_case{"2001:db8:8000::1", "2001:db8::/33", false},
        within_case{"3fff::1", "2000::/3", true}, within_case{"4000::1", "2000::/3", false},
        within_case{"1fff::1", "2000::/3", false}, within_case{"fd00::1", "fc00::/7", true},
        within_case{"fe80::1", "fc00::/7", false}, within_case{"2001:db8::1", "::/0", true},
        within_case{"::/0", "::/0", true}, within_case{"::/0", "2001:db8::/32", false},
        // Families never mix: ::/0 is not "any" for IPv4 and vice versa.
        within_case{"192.0.2.1", "::/0", false}, within_case{"2001:db8::1", "0.0.0.0/0", false},
        within_case{"::ffff:192.0.2.1", "192.0.2.0/24", false},
        within_case{"192.0.2.1", "0.0.0.0/0", true}, within_case{"192.0.2.1", "192.0.2.0/24", true},
        within_case{"192.0.3.1", "192.0.2.0/24", false},
        within_case{"192.0.2.0/24", "192.0.2.0/25", false}));

} // namespace
} // namespace dockgate
