// Unit tests for the rules-file parser, run on files the installed ufw really wrote (tests/data/,
// see make-fixtures.sh).
#include "dockgate/ufw/rules_file.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace dockgate {
namespace {

using test::rule_builder;

struct file_entry {
    int line;
    std::string tuple;
    std::string comment;
    std::optional<owner_tag> owner;
    bool parsed;
};

const std::string web_tag = "dockgate:0123456789ab:web";

/// Every tuple of tests/data/user6.rules.sample, in file order.
std::vector<file_entry> user6_entries() {
    const owner_tag web{"0123456789ab", "web"};
    return {
        {18, "route:allow tcp 80 2001:db8::2 any ::/0 in", web_tag, web, true},
        {21, "route:allow tcp 443 2001:db8::2 any 2001:db8:1234::/48 in", web_tag, web, true},
        {24, "route:allow tcp 443 2001:db8::2 any 2001:db8:ffff::99 in", web_tag, web, true},
        {27, "route:allow udp 6000:6010 2001:db8::3 any ::/0 in", "dockgate:abcdef012345:media-1",
         owner_tag{"abcdef012345", "media-1"}, true},
        {30, "route:limit tcp 22 2001:db8::4 any ::/0 in", "dockgate:fedcba987654:git.example",
         owner_tag{"fedcba987654", "git.example"}, true},
        {35, "route:allow_log tcp 8443 2001:db8::5 any ::/0 in", "dockgate:111111111111:api_v2",
         owner_tag{"111111111111", "api_v2"}, true},
        {41, "route:limit_log tcp 2222 2001:db8::6 any 2001:db8:1234::/48 in",
         "dockgate:222222222222:office", owner_tag{"222222222222", "office"}, true},
        {49, "allow tcp 8081 ::/0 any ::/0 in", "dockgate:333333333333:pub",
         owner_tag{"333333333333", "pub"}, true},
        // The admin's own rules: no comment, or a free-text UTF-8 comment.
        {52, "allow tcp 22 ::/0 any ::/0 in", "", std::nullopt, true},
        {55, "route:allow tcp 9000 2001:db8::8 any ::/0 in",
         "Grafana f\xc3\xbcr das B\xc3\xbcro (ask J\xc3\xb6rg)", std::nullopt, true},
        // dockgate-looking tags on shapes dockgate never writes: left alone, with a warning.
        {58, "route:allow tcp 80 2001:db8::7 any ::/0 in_eth0!out_docker0",
         "dockgate:444444444444:ifaced", std::nullopt, false},
        {61, "route:allow tcp 80 2001:db8::9 any ::/0 WWW - in", "dockgate:555555555555:appy",
         std::nullopt, false},
        {64, "route:allow tcp 80,443 2001:db8::a any ::/0 in", "dockgate:666666666666:multi",
         std::nullopt, false},
        {67, "route:allow_log-all tcp 80 2001:db8::b any ::/0 in", "dockgate:777777777777:logall",
         std::nullopt, false},
        // Not a valid tag (upper-case id): simply not ours, no warning.
        {73, "route:allow tcp 80 2001:db8::c any ::/0 in", "dockgate:0123456789AB:upper",
         std::nullopt, true},
        {76, "route:allow tcp 25 2001:db8::d any ::/0 in", "", std::nullopt, true},
    };
}

void expect_entries(const rules_file_contents& contents, const std::vector<file_entry>& expected) {
    ASSERT_EQ(contents.entries.size(), expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) {
        const auto& got = contents.entries[i];
        const auto& want = expected[i];
        SCOPED_TRACE("entry " + std::to_string(i) + ": " + want.tuple);
        EXPECT_EQ(got.line, want.line);
        EXPECT_EQ(got.tuple, want.tuple);
        EXPECT_EQ(got.comment, want.comment);
        EXPECT_EQ(got.owner, want.owner);
        EXPECT_EQ(got.parsed.has_value(), want.parsed);
        if (got.parsed) {
            // The parsed rule prints back to exactly what ufw wrote.
            EXPECT_EQ(got.parsed->tuple(), got.tuple);
        }
    }
}

TEST(rules_file, real_user6_rules) {
    const auto contents = parse_rules_file(test::test_data("user6.rules.sample"));
    expect_entries(contents, user6_entries());
    const std::vector<std::string> warnings{
        "line 58: dockgate tag on a rule shape dockgate never writes; left alone",
        "line 61: dockgate tag on a rule shape dockgate never writes; left alone",
        "line 64: dockgate tag on a rule shape dockgate never writes; left alone",
        "line 67: dockgate tag on a rule shape dockgate never writes; left alone",
    };
    EXPECT_EQ(contents.warnings, warnings);
}

TEST(rules_file, real_user_rules_ipv4) {
    const auto contents = parse_rules_file(test::test_data("user.rules.sample"));
    const owner_tag web{"0123456789ab", "web"};
    expect_entries(contents,
                   {{20, "route:allow tcp 80 192.0.2.5 any 0.0.0.0/0 in", web_tag, web, true},
                    {23, "route:limit_log udp 5000:5010 192.0.2.5 any 198.51.100.0/24 in", web_tag,
                     web, true}});
    EXPECT_TRUE(contents.warnings.empty());
}

TEST(rules_file, only_tuple_lines_are_entries) {
    const auto text = test::test_data("user6.rules.sample");
    std::size_t tuples = 0;
    for (std::size_t at = text.find("\n### tuple ### "); at != std::string::npos;
         at = text.find("\n### tuple ### ", at + 1)) {
        ++tuples;
    }
    EXPECT_EQ(parse_rules_file(text).entries.size(), tuples);
    ASSERT_NE(text.find("-A ufw6-user-forward"), std::string::npos) << "fixture lost its -A lines";
    ASSERT_NE(text.find("### LOGGING ###"), std::string::npos) << "fixture lost its logging chains";
}

TEST(rules_file, crlf_file_reads_the_same) {
    auto text = test::test_data("user6.rules.sample");
    std::string crlf;
    for (const char c : text) {
        if (c == '\n') {
            crlf += '\r';
        }
        crlf += c;
    }
    const auto contents = parse_rules_file(crlf);
    expect_entries(contents, user6_entries());
    EXPECT_EQ(contents.warnings.size(), 4U);
}

TEST(rules_file, empty_and_tupleless_files) {
    EXPECT_TRUE(parse_rules_file("").entries.empty());
    const auto contents = parse_rules_file(
        "*filter\n:ufw6-user-input - [0:0]\n### RULES ###\n\n### END RULES ###\nCOMMIT\n");
    EXPECT_TRUE(contents.entries.empty());
    EXPECT_TRUE(contents.warnings.empty());
}

TEST(rules_file, a_file_cut_short_is_told_from_a_whole_one) {
    // ufw rewrites its rules files in place; a read at that moment sees a prefix of the file.
    const auto text = test::test_data("user6.rules.sample");
    EXPECT_TRUE(parse_rules_file(text).complete);
    EXPECT_TRUE(parse_rules_file(text + "\n\n").complete) << "blank lines after COMMIT";
    EXPECT_TRUE(parse_rules_file(test::test_data("user.rules.sample")).complete);
    EXPECT_FALSE(parse_rules_file("").complete);
    const auto half = text.substr(0, text.find("### END RULES ###"));
    EXPECT_FALSE(parse_rules_file(half).complete);
    EXPECT_FALSE(parse_rules_file(text.substr(0, text.rfind("COMMIT") + 3)).complete);
    // The file Debian's package installs: no END RULES marker, but whole.
    EXPECT_TRUE(parse_rules_file("*filter\n:ufw6-user-input - [0:0]\n:ufw6-user-output - [0:0]\n"
                                 ":ufw6-user-forward - [0:0]\n### RULES ###\nCOMMIT\n")
                    .complete);
}

std::string replace_once(std::string text, const std::string& from, const std::string& to) {
    const auto at = text.find(from);
    if (at == std::string::npos) {
        throw std::runtime_error("fixture does not contain " + from);
    }
    return text.replace(at, from.size(), to);
}

TEST(rules_file, bad_hex_comment_is_a_warning_and_never_ours) {
    const std::string web_hex = "comment=" + test::hex_encode(web_tag);
    auto text = test::test_data("user6.rules.sample");
    text = replace_once(text, web_hex + "\n", "comment=646f636b67617465zz\n"); // line 18: not hex
    text = replace_once(text, web_hex + "\n",
                        "comment=" + test::hex_encode(web_tag).substr(1) + "\n"); // 21: odd
    const auto contents = parse_rules_file(text);
    ASSERT_EQ(contents.entries.size(), user6_entries().size());
    for (const std::size_t i : {0U, 1U}) {
        const auto& entry = contents.entries[i];
        EXPECT_EQ(entry.comment, "");
        EXPECT_FALSE(entry.owner.has_value());
        ASSERT_TRUE(entry.parsed.has_value()) << "the tuple itself is still readable";
        EXPECT_EQ(entry.tuple, user6_entries()[i].tuple);
    }
    ASSERT_GE(contents.warnings.size(), 2U);
    EXPECT_EQ(contents.warnings[0], "line 18: comment is not valid hex; treated as not dockgate's");
    EXPECT_EQ(contents.warnings[1], "line 21: comment is not valid hex; treated as not dockgate's");
    // The untouched third rule of the same container is still ours.
    EXPECT_EQ(contents.entries[2].owner, (owner_tag{"0123456789ab", "web"}));
}

TEST(rules_file, hand_written_lines_and_numbers) {
    const std::string text =
        "# first\n"
        "### tuple ### route:allow tcp 80 2001:db8::2 any ::/0 in comment=" +
        test::hex_encode(web_tag) +
        "\n"
        "\n"
        "### tuple ###   route:allow tcp 81 2001:db8::2 any ::/0 in  \n" // stray spaces around the
                                                                         // body
        "### tuple ### route:allow tcp 82 2001:DB8::2 any ::/0 in comment=" +
        test::hex_encode(web_tag) +
        "\n"
        "#### tuple ### route:allow tcp 83 2001:db8::2 any ::/0 in\n";
    const auto contents = parse_rules_file(text);
    ASSERT_EQ(contents.entries.size(), 3U);
    EXPECT_EQ(contents.entries[0].line, 2);
    EXPECT_TRUE(contents.entries[0].owner.has_value());
    EXPECT_EQ(contents.entries[1].line, 4);
    EXPECT_EQ(contents.entries[1].tuple, "route:allow tcp 81 2001:db8::2 any ::/0 in");
    EXPECT_TRUE(contents.entries[1].parsed.has_value());
    // Not canonical, so not something dockgate wrote: never owned even with our tag.
    EXPECT_EQ(contents.entries[2].line, 5);
    EXPECT_FALSE(contents.entries[2].parsed.has_value());
    EXPECT_FALSE(contents.entries[2].owner.has_value());
    EXPECT_EQ(contents.warnings,
              std::vector<std::string>{
                  "line 5: dockgate tag on a rule shape dockgate never writes; left alone"});
    // Read for a plan: only tagged entries are parsed, and ownership and warnings are the same.
    const auto for_plan = parse_rules_file(text, false);
    ASSERT_EQ(for_plan.entries.size(), 3U);
    EXPECT_TRUE(for_plan.entries[0].owner.has_value());
    EXPECT_TRUE(for_plan.entries[0].parsed.has_value());
    EXPECT_FALSE(for_plan.entries[1].parsed.has_value()) << "an admin's rule is not parsed";
    EXPECT_FALSE(for_plan.entries[2].owner.has_value());
    EXPECT_EQ(for_plan.warnings, contents.warnings);
}

// ---------------------------------------------------------------------------------------------
// every shape dockgate emits: the tuple it computes is byte for byte what ufw wrote

struct emitted_shape {
    const char* fixture;
    rule r;
    friend void PrintTo(const emitted_shape& s, std::ostream* os) { *os << s.r.tuple(); }
};

std::vector<emitted_shape> emitted_shapes() {
    return {
        {"user6.rules.sample", rule_builder("2001:db8::2").port(80)},
        {"user6.rules.sample", rule_builder("2001:db8::2").port(443).from("2001:db8:1234::/48")},
        {"user6.rules.sample", rule_builder("2001:db8::2").port(443).from("2001:db8:ffff::99")},
        {"user6.rules.sample", rule_builder("2001:db8::3").udp().ports(6000, 6010)},
        {"user6.rules.sample", rule_builder("2001:db8::4").port(22).limit()},
        {"user6.rules.sample", rule_builder("2001:db8::5").port(8443).log()},
        {"user6.rules.sample",
         rule_builder("2001:db8::6").port(2222).limit().log().from("2001:db8:1234::/48")},
        {"user6.rules.sample", rule_builder("::/0").input().port(8081)},
        {"user.rules.sample", rule_builder("192.0.2.5").port(80)},
        {"user.rules.sample",
         rule_builder("192.0.2.5").udp().ports(5000, 5010).limit().log().from("198.51.100.0/24")},
    };
}

class rules_file_shape : public ::testing::TestWithParam<emitted_shape> {};

TEST_P(rules_file_shape, tuple_matches_what_ufw_wrote) {
    const auto& shape = GetParam();
    const auto contents = parse_rules_file(test::test_data(shape.fixture));
    const auto tuple = shape.r.tuple();
    const auto entry = std::find_if(contents.entries.begin(), contents.entries.end(),
                                    [&](const rules_file_entry& e) { return e.tuple == tuple; });
    ASSERT_NE(entry, contents.entries.end()) << tuple << " is not in " << shape.fixture;
    ASSERT_TRUE(entry->parsed.has_value());
    EXPECT_EQ(*entry->parsed, shape.r);
    EXPECT_EQ(parse_tuple(tuple), std::optional<rule>(shape.r));
}

TEST_P(rules_file_shape, was_written_by_ufw_from_dockgates_own_argv) {
    // make-fixtures.sh ran ufw with these arguments; ufw then wrote the tuple checked above.
    const auto& shape = GetParam();
    const auto script = test::test_data("make-fixtures.sh");
    const auto contents = parse_rules_file(test::test_data(shape.fixture));
    const auto entry =
        std::find_if(contents.entries.begin(), contents.entries.end(),
                     [&](const rules_file_entry& e) { return e.tuple == shape.r.tuple(); });
    ASSERT_NE(entry, contents.entries.end());
    const auto args = shape.r.ufw_add_args(entry->comment);
    std::string command;
    for (std::size_t i = 0; i < args.size(); ++i) {
        command += " ";
        command += (i + 1 == args.size()) ? "'" + args[i] + "'" : args[i];
    }
    EXPECT_NE(script.find(command + "\n"), std::string::npos)
        << "make-fixtures.sh lacks:" << command;
}

INSTANTIATE_TEST_SUITE_P(dockgate_shapes, rules_file_shape, ::testing::ValuesIn(emitted_shapes()),
                         [](const auto& p) { return "shape_" + std::to_string(p.index); });

// ---------------------------------------------------------------------------------------------
// parse_tuple on its own

class parse_tuple_refused : public ::testing::TestWithParam<const char*> {};

TEST_P(parse_tuple_refused, not_a_shape_dockgate_writes) {
    EXPECT_FALSE(parse_tuple(GetParam()).has_value()) << GetParam();
}

INSTANTIATE_TEST_SUITE_P(
    tuples, parse_tuple_refused,
    ::testing::Values(
        "", "route:allow", "route:allow tcp 80 2001:db8::2 any ::/0",
        "route:allow tcp 80 2001:db8::2 any ::/0 in extra",
        "route:allow tcp 80 2001:db8::2 any ::/0 in_eth0!out_docker0",
        "route:allow tcp 80 2001:db8::2 any ::/0 in_eth0",
        "route:allow tcp 80 2001:db8::2 any ::/0 out",
        "route:allow tcp 80 2001:db8::9 any ::/0 WWW - in",
        "route:allow tcp 80,443 2001:db8::2 any ::/0 in",
        "route:allow_log-all tcp 80 2001:db8::2 any ::/0 in",
        "route:deny tcp 80 2001:db8::2 any ::/0 in", "route:reject tcp 80 2001:db8::2 any ::/0 in",
        "route:limit_log_log tcp 80 2001:db8::2 any ::/0 in",
        "route:allow any 80 2001:db8::2 any ::/0 in", "route:allow sctp 80 2001:db8::2 any ::/0 in",
        "route:allow tcp any 2001:db8::2 any ::/0 in",
        "route:allow tcp 0080 2001:db8::2 any ::/0 in",
        "route:allow tcp 8010:8000 2001:db8::2 any ::/0 in",
        "route:allow tcp 80 2001:db8::2 53 ::/0 in",
        "route:allow tcp 80 2001:DB8::2 any ::/0 in",      // not canonical
        "route:allow tcp 80 2001:db8::2/128 any ::/0 in",  // not canonical
        "route:allow  tcp 80 2001:db8::2 any ::/0 in",     // not ufw's spacing
        "route:allow tcp 80 2001:db8::2 any 0.0.0.0/0 in", // mixed families
        "route:allow tcp 80 2001:db8::1/64 any ::/0 in", "route:allow tcp 80 banana any ::/0 in",
        "allow:route tcp 80 2001:db8::2 any ::/0 in"));

TEST(parse_tuple, reads_every_field) {
    const auto r =
        parse_tuple("route:limit_log udp 6000:6010 2001:db8::3 any 2001:db8:1234::/48 in");
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->kind, rule_kind::route);
    EXPECT_EQ(r->action, rule_action::limit);
    EXPECT_TRUE(r->log);
    EXPECT_EQ(r->proto, protocol::udp);
    EXPECT_EQ(r->port, (port_range{6000, 6010}));
    EXPECT_EQ(r->destination, test::prefix("2001:db8::3"));
    EXPECT_EQ(r->source, test::prefix("2001:db8:1234::/48"));

    const auto in = parse_tuple("allow tcp 8081 ::/0 any ::/0 in");
    ASSERT_TRUE(in.has_value());
    EXPECT_EQ(in->kind, rule_kind::input);
    EXPECT_TRUE(in->destination.is_any());
}

// ---------------------------------------------------------------------------------------------
// decode_hex_comment

TEST(decode_hex_comment, decodes_ufws_encoding) {
    EXPECT_EQ(decode_hex_comment(""), std::optional<std::string>(""));
    EXPECT_EQ(decode_hex_comment("6869"), std::optional<std::string>("hi"));
    EXPECT_EQ(decode_hex_comment("4A4b"), std::optional<std::string>("JK"));
    EXPECT_EQ(decode_hex_comment(test::hex_encode(web_tag)), std::optional<std::string>(web_tag));
    EXPECT_EQ(decode_hex_comment("c3bc"), std::optional<std::string>("\xc3\xbc"));
    EXPECT_EQ(decode_hex_comment("00ff"), std::optional<std::string>(std::string("\0\xff", 2)));
}

TEST(decode_hex_comment, refuses_non_hex) {
    EXPECT_FALSE(decode_hex_comment("6").has_value());
    EXPECT_FALSE(decode_hex_comment("686").has_value());
    EXPECT_FALSE(decode_hex_comment("6g").has_value());
    EXPECT_FALSE(decode_hex_comment("zz").has_value());
    EXPECT_FALSE(decode_hex_comment("68 69").has_value());
    EXPECT_FALSE(decode_hex_comment("0x68").has_value());
}

} // namespace
} // namespace dockgate
