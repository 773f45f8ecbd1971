// Unit tests for the rule model: ports, the ownership tag, ufw tuples and the exact ufw argv.
#include "dockgate/model/rule.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test_support.hpp"

namespace dockgate {
namespace {

using test::rule_builder;
using strings = std::vector<std::string>;

// ---------------------------------------------------------------------------------------------
// parse_port

struct port_case {
    const char* text;
    std::optional<std::uint16_t> expected;
    const char* reason_part; ///< for refusals
    friend void PrintTo(const port_case& c, std::ostream* os) { *os << "\"" << c.text << "\""; }
};

class rule_parse_port : public ::testing::TestWithParam<port_case> {};

TEST_P(rule_parse_port, accepts_only_canonical_decimal_ports) {
    const auto& c = GetParam();
    std::string why;
    const auto port = parse_port(c.text, &why);
    EXPECT_EQ(port, c.expected) << "text: \"" << c.text << "\"";
    if (!c.expected) {
        EXPECT_NE(why.find(c.reason_part), std::string::npos)
            << "text: \"" << c.text << "\", reason: " << why;
    }
}

INSTANTIATE_TEST_SUITE_P(
    forms, rule_parse_port,
    ::testing::Values(
        port_case{"80", 80, ""}, port_case{"1", 1, ""}, port_case{"443", 443, ""},
        port_case{"65535", 65535, ""},
        // ufw stores "0080" verbatim and ip6tables-restore then fails for the whole file.
        port_case{"0080", std::nullopt, "leading zero"},
        port_case{"01", std::nullopt, "leading zero"},
        port_case{"00", std::nullopt, "leading zero"},
        port_case{"0", std::nullopt, "outside 1-65535"},
        port_case{"65536", std::nullopt, "outside 1-65535"},
        port_case{"99999", std::nullopt, "outside 1-65535"},
        port_case{"100000", std::nullopt, "not a decimal"},
        port_case{"", std::nullopt, "not a decimal"},
        port_case{"+80", std::nullopt, "not a decimal"},
        port_case{"-80", std::nullopt, "not a decimal"},
        port_case{" 80", std::nullopt, "not a decimal"},
        port_case{"80 ", std::nullopt, "not a decimal"},
        port_case{"8 0", std::nullopt, "not a decimal"},
        port_case{"80a", std::nullopt, "not a decimal"},
        port_case{"0x50", std::nullopt, "not a decimal"},
        port_case{"8e1", std::nullopt, "not a decimal"},
        port_case{"\xef\xbc\x98\xef\xbc\x90", std::nullopt, "not a decimal"})); // full-width "80"

TEST(rule, parse_port_without_reason_pointer) {
    EXPECT_EQ(parse_port("8080"), std::optional<std::uint16_t>(8080));
    EXPECT_FALSE(parse_port("0080").has_value());
}

TEST(rule, port_range_text_is_ufws) {
    EXPECT_EQ((port_range{80, 80}.to_string()), "80");
    EXPECT_EQ((port_range{8000, 8010}.to_string()), "8000:8010");
    EXPECT_EQ((port_range{1, 65535}.to_string()), "1:65535");
}

TEST(rule, port_range_contains_and_overlaps) {
    const port_range web{80, 90};
    EXPECT_TRUE(web.contains({80, 80}));
    EXPECT_TRUE(web.contains({80, 90}));
    EXPECT_FALSE(web.contains({79, 80}));
    EXPECT_FALSE(web.contains({90, 91}));
    EXPECT_TRUE(web.overlaps({90, 100}));
    EXPECT_TRUE(web.overlaps({1, 80}));
    EXPECT_TRUE(web.overlaps({85, 85}));
    EXPECT_FALSE(web.overlaps({91, 100}));
    EXPECT_FALSE(web.overlaps({1, 79}));
}

TEST(rule, protocols) {
    EXPECT_EQ(parse_protocol("tcp"), std::optional<protocol>(protocol::tcp));
    EXPECT_EQ(parse_protocol("udp"), std::optional<protocol>(protocol::udp));
    EXPECT_FALSE(parse_protocol("TCP").has_value());
    EXPECT_FALSE(parse_protocol("sctp").has_value());
    EXPECT_FALSE(parse_protocol("any").has_value());
    EXPECT_FALSE(parse_protocol("").has_value());
    EXPECT_STREQ(to_string(protocol::tcp), "tcp");
    EXPECT_STREQ(to_string(protocol::udp), "udp");
}

// ---------------------------------------------------------------------------------------------
// owner_tag

TEST(owner_tag, comment_form) {
    const owner_tag tag{"0123456789ab", "web"};
    EXPECT_EQ(tag.to_comment(), "dockgate:0123456789ab:web");
}

class owner_tag_round_trip : public ::testing::TestWithParam<const char*> {};

TEST_P(owner_tag_round_trip, parse_of_to_comment_is_identity) {
    const owner_tag tag{"0123456789ab", GetParam()};
    const auto parsed = owner_tag::parse(tag.to_comment());
    ASSERT_TRUE(parsed.has_value()) << tag.to_comment();
    EXPECT_EQ(*parsed, tag);
}

INSTANTIATE_TEST_SUITE_P(
    names, owner_tag_round_trip,
    ::testing::Values("web", "a", "_", "web-1", "my_app.v2", "Web_Server", "proj_web_1",
                      // exactly 64 characters
                      "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij1234"));

class owner_tag_refused : public ::testing::TestWithParam<const char*> {};

TEST_P(owner_tag_refused, is_not_ours) {
    EXPECT_FALSE(owner_tag::parse(GetParam()).has_value()) << "comment: \"" << GetParam() << "\"";
}

INSTANTIATE_TEST_SUITE_P(
    comments, owner_tag_refused,
    ::testing::Values(
        "", "dockgate:", "dockgate:0123456789ab", "dockgate:0123456789ab:",
        // wrong prefix
        "Dockgate:0123456789ab:web", "DOCKGATE:0123456789ab:web", "dockgate-0123456789ab:web",
        "dockgate 0123456789ab web", " dockgate:0123456789ab:web", "xdockgate:0123456789ab:web",
        "allow web 80/tcp", // ufw-docker's comment style
        "web:0123456789ab", // ufw-docker-automated's
        // id: too short, too long, not lower-case hex
        "dockgate:0123456789a:web", "dockgate:0123456789abc:web", "dockgate:0123456789AB:web",
        "dockgate:0123456789ag:web", "dockgate:01234567-9ab:web", "dockgate::0123456789a:web",
        // name: characters a Docker name never has, or that break ufw's comment quoting
        "dockgate:0123456789ab:web app", "dockgate:0123456789ab:web/1",
        "dockgate:0123456789ab:web:1", "dockgate:0123456789ab:it's",
        "dockgate:0123456789ab:w\xc3\xa9"
        "b",
        "dockgate:0123456789ab:web\n", "dockgate:0123456789ab:web ",
        // 65 characters
        "dockgate:0123456789ab:abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij12345"));

constexpr const char* full_id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

struct from_container_case {
    const char* id;
    std::string name;
    std::optional<owner_tag> expected;
    friend void PrintTo(const from_container_case& c, std::ostream* os) {
        *os << c.id << " " << c.name;
    }
};

class owner_tag_from_container : public ::testing::TestWithParam<from_container_case> {};

TEST_P(owner_tag_from_container, sanitises_into_a_parseable_tag) {
    const auto& c = GetParam();
    const auto tag = owner_tag::from_container(c.id, c.name);
    EXPECT_EQ(tag, c.expected) << "id " << c.id << " name \"" << c.name << "\"";
    if (tag) {
        // Whatever Docker calls the container, the comment dockgate writes must read back as ours.
        EXPECT_EQ(owner_tag::parse(tag->to_comment()), tag) << tag->to_comment();
    }
}

INSTANTIATE_TEST_SUITE_P(
    forms, owner_tag_from_container,
    ::testing::Values(
        from_container_case{full_id, "/web", owner_tag{"0123456789ab", "web"}},
        from_container_case{full_id, "web", owner_tag{"0123456789ab", "web"}},
        from_container_case{full_id, "/proj_web_1", owner_tag{"0123456789ab", "proj_web_1"}},
        from_container_case{full_id, "/my app!", owner_tag{"0123456789ab", "my_app_"}},
        from_container_case{full_id, "/it's", owner_tag{"0123456789ab", "it_s"}},
        from_container_case{full_id, "/a:b", owner_tag{"0123456789ab", "a_b"}},
        from_container_case{full_id,
                            "/w\xc3\xa9"
                            "b",
                            owner_tag{"0123456789ab", "w__b"}},
        from_container_case{full_id, "//web", owner_tag{"0123456789ab", "_web"}},
        from_container_case{full_id, "", owner_tag{"0123456789ab", "_"}},
        from_container_case{full_id, "/", owner_tag{"0123456789ab", "_"}},
        from_container_case{full_id, "/" + std::string(100, 'n'),
                            owner_tag{"0123456789ab", std::string(64, 'n')}},
        from_container_case{"0123456789ab", "/web", owner_tag{"0123456789ab", "web"}},
        // ids dockgate cannot tag
        from_container_case{"0123456789a", "/web", std::nullopt},
        from_container_case{"", "/web", std::nullopt},
        from_container_case{"0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
                            "/web", std::nullopt},
        from_container_case{"0123456789abcdeg0123456789abcdef0123456789abcdef0123456789abcdef",
                            "/web", std::nullopt}));

// ---------------------------------------------------------------------------------------------
// rule forms

struct shape_case {
    const char* name;
    rule r;
    const char* tuple; ///< as ufw writes it in user6.rules / user.rules (see rules_file_test)
    const char* describe;
    strings add_args;
    strings delete_args;
    friend void PrintTo(const shape_case& c, std::ostream* os) { *os << c.name; }
};

constexpr const char* comment = "dockgate:0123456789ab:web";

std::vector<shape_case> shapes() {
    return {
        {"route_allow",
         rule_builder("2001:db8::2").port(80),
         "route:allow tcp 80 2001:db8::2 any ::/0 in",
         "route allow tcp from any to 2001:db8::2 port 80",
         {"route", "allow", "proto", "tcp", "from", "any", "to", "2001:db8::2", "port", "80",
          "comment", comment},
         {"route", "delete", "allow", "proto", "tcp", "from", "any", "to", "2001:db8::2", "port",
          "80", "comment", comment}},
        {"route_allow_source",
         rule_builder("2001:db8::2").port(443).from("2001:db8:1234::/48"),
         "route:allow tcp 443 2001:db8::2 any 2001:db8:1234::/48 in",
         "route allow tcp from 2001:db8:1234::/48 to 2001:db8::2 port 443",
         {"route", "allow", "proto", "tcp", "from", "2001:db8:1234::/48", "to", "2001:db8::2",
          "port", "443", "comment", comment},
         {"route", "delete", "allow", "proto", "tcp", "from", "2001:db8:1234::/48", "to",
          "2001:db8::2", "port", "443", "comment", comment}},
        {"route_allow_host_source",
         rule_builder("2001:db8::2").port(443).from("2001:db8:ffff::99/128"),
         "route:allow tcp 443 2001:db8::2 any 2001:db8:ffff::99 in",
         "route allow tcp from 2001:db8:ffff::99 to 2001:db8::2 port 443",
         {"route", "allow", "proto", "tcp", "from", "2001:db8:ffff::99", "to", "2001:db8::2",
          "port", "443", "comment", comment},
         {"route", "delete", "allow", "proto", "tcp", "from", "2001:db8:ffff::99", "to",
          "2001:db8::2", "port", "443", "comment", comment}},
        {"route_range_udp",
         rule_builder("2001:db8::3").udp().ports(6000, 6010),
         "route:allow udp 6000:6010 2001:db8::3 any ::/0 in",
         "route allow udp from any to 2001:db8::3 port 6000:6010",
         {"route", "allow", "proto", "udp", "from", "any", "to", "2001:db8::3", "port", "6000:6010",
          "comment", comment},
         {"route", "delete", "allow", "proto", "udp", "from", "any", "to", "2001:db8::3", "port",
          "6000:6010", "comment", comment}},
        {"route_limit",
         rule_builder("2001:db8::4").port(22).limit(),
         "route:limit tcp 22 2001:db8::4 any ::/0 in",
         "route limit tcp from any to 2001:db8::4 port 22",
         {"route", "limit", "proto", "tcp", "from", "any", "to", "2001:db8::4", "port", "22",
          "comment", comment},
         {"route", "delete", "limit", "proto", "tcp", "from", "any", "to", "2001:db8::4", "port",
          "22", "comment", comment}},
        {"route_log",
         rule_builder("2001:db8::5").port(8443).log(),
         "route:allow_log tcp 8443 2001:db8::5 any ::/0 in",
         "route allow log tcp from any to 2001:db8::5 port 8443",
         {"route", "allow", "log", "proto", "tcp", "from", "any", "to", "2001:db8::5", "port",
          "8443", "comment", comment},
         {"route", "delete", "allow", "log", "proto", "tcp", "from", "any", "to", "2001:db8::5",
          "port", "8443", "comment", comment}},
        {"route_limit_log_source",
         rule_builder("2001:db8::6").port(2222).limit().log().from("2001:db8:1234::/48"),
         "route:limit_log tcp 2222 2001:db8::6 any 2001:db8:1234::/48 in",
         "route limit log tcp from 2001:db8:1234::/48 to 2001:db8::6 port 2222",
         {"route", "limit", "log", "proto", "tcp", "from", "2001:db8:1234::/48", "to",
          "2001:db8::6", "port", "2222", "comment", comment},
         {"route", "delete", "limit", "log", "proto", "tcp", "from", "2001:db8:1234::/48", "to",
          "2001:db8::6", "port", "2222", "comment", comment}},
        {"input_any",
         rule_builder("::/0").input().port(8081),
         "allow tcp 8081 ::/0 any ::/0 in",
         "in allow tcp from any to ::/0 port 8081",
         {"allow", "proto", "tcp", "from", "any", "to", "::/0", "port", "8081", "comment", comment},
         {"delete", "allow", "proto", "tcp", "from", "any", "to", "::/0", "port", "8081", "comment",
          comment}},
        {"route_v4",
         rule_builder("192.0.2.5").port(80),
         "route:allow tcp 80 192.0.2.5 any 0.0.0.0/0 in",
         "route allow tcp from any to 192.0.2.5 port 80",
         {"route", "allow", "proto", "tcp", "from", "any", "to", "192.0.2.5", "port", "80",
          "comment", comment},
         {"route", "delete", "allow", "proto", "tcp", "from", "any", "to", "192.0.2.5", "port",
          "80", "comment", comment}},
        {"route_v4_limit_log_range_source",
         rule_builder("192.0.2.5").udp().ports(5000, 5010).limit().log().from("198.51.100.0/24"),
         "route:limit_log udp 5000:5010 192.0.2.5 any 198.51.100.0/24 in",
         "route limit log udp from 198.51.100.0/24 to 192.0.2.5 port 5000:5010",
         {"route", "limit", "log", "proto", "udp", "from", "198.51.100.0/24", "to", "192.0.2.5",
          "port", "5000:5010", "comment", comment},
         {"route", "delete", "limit", "log", "proto", "udp", "from", "198.51.100.0/24", "to",
          "192.0.2.5", "port", "5000:5010", "comment", comment}},
    };
}

class rule_shape : public ::testing::TestWithParam<shape_case> {};

TEST_P(rule_shape, tuple_is_ufws_text) {
    EXPECT_EQ(GetParam().r.tuple(), GetParam().tuple);
}

TEST_P(rule_shape, describe_reads_like_ufw) {
    EXPECT_EQ(GetParam().r.describe(), GetParam().describe);
}

TEST_P(rule_shape, add_argv_is_exact) {
    EXPECT_EQ(GetParam().r.ufw_add_args(comment), GetParam().add_args);
}

TEST_P(rule_shape, delete_argv_is_exact) {
    EXPECT_EQ(GetParam().r.ufw_delete_args(comment), GetParam().delete_args);
}

INSTANTIATE_TEST_SUITE_P(shapes, rule_shape, ::testing::ValuesIn(shapes()),
                         [](const auto& p) { return std::string(p.param.name); });

TEST(rule, argv_carries_only_canonical_addresses) {
    // Even if a caller built the prefix from sloppy text, ufw only ever sees the canonical form.
    const rule r = rule_builder("2001:0DB8:0000::0002").port(80).from("2001:DB8:1234:0::/48");
    const auto args = r.ufw_add_args(comment);
    EXPECT_EQ(args, (strings{"route", "allow", "proto", "tcp", "from", "2001:db8:1234::/48", "to",
                             "2001:db8::2", "port", "80", "comment", comment}));
}

TEST(rule, comment_is_one_argument) {
    // No shell: the comment is a single argv element, never split or quoted.
    const rule r = rule_builder("2001:db8::2");
    const auto args = r.ufw_add_args("dockgate:0123456789ab:my_app.v2");
    ASSERT_GE(args.size(), 2U);
    EXPECT_EQ(args[args.size() - 2], "comment");
    EXPECT_EQ(args.back(), "dockgate:0123456789ab:my_app.v2");
}

TEST(rule, equality_covers_every_field) {
    const rule base = rule_builder("2001:db8::2");
    EXPECT_EQ(base, rule(rule_builder("2001:db8::2")));
    EXPECT_NE(base, rule(rule_builder("2001:db8::3")));
    EXPECT_NE(base, rule(rule_builder("2001:db8::2").port(81)));
    EXPECT_NE(base, rule(rule_builder("2001:db8::2").udp()));
    EXPECT_NE(base, rule(rule_builder("2001:db8::2").limit()));
    EXPECT_NE(base, rule(rule_builder("2001:db8::2").log()));
    EXPECT_NE(base, rule(rule_builder("2001:db8::2").from("2001:db8:1::/48")));
    EXPECT_NE(base, rule(rule_builder("2001:db8::2").input()));
}

} // namespace
} // namespace dockgate
