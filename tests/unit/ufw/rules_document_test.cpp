// Unit tests for the rules-file generator, checked against files and dry runs of the real ufw
// (tests/data/).
#include "dockgate/ufw/rules_document.hpp"
#include "dockgate/ufw/rules_file.hpp"

#include <gtest/gtest.h>

#include <cctype>
#include <string>

#include "test_support.hpp"

namespace dockgate {
namespace {

using test::rule_builder;
using test::test_data;

const owner_tag web{"0123456789ab", "web"};

rules_document parse_or_fail(const std::string& text) {
    std::string why;
    auto doc = parse_rules_document(text, &why);
    EXPECT_TRUE(doc.has_value()) << why;
    return doc.value_or(rules_document{});
}

/// The state the dry runs in tests/data/ufw-dry-run/ started from: an admin rule for port 22
/// and one dockgate rule, written by a real `ufw` in the lab (with the kernel's rate-limit chains).
rules_document lab_before() {
    return parse_or_fail(test_data("ufw-dry-run/user6.rules.before"));
}

TEST(RulesDocument, RenderingAnUneditedDocumentGivesTheFileBack) {
    for (const auto* name : {"user6.rules.sample", "ufw-dry-run/user6.rules.before"}) {
        const auto text = test_data(name);
        EXPECT_EQ(parse_or_fail(text).render(), text) << name;
    }
}

TEST(RulesDocument, ParsesEveryBlockWithTupleAndComment) {
    const auto doc = lab_before();
    ASSERT_EQ(doc.blocks.size(), 2U);
    EXPECT_EQ(doc.blocks[0].tuple, "allow tcp 22 ::/0 any ::/0 in");
    EXPECT_EQ(doc.blocks[0].comment_hex, "");
    EXPECT_EQ(doc.blocks[1].tuple, "route:allow tcp 80 2001:db8:10::5 any ::/0 in");
    EXPECT_EQ(decode_hex_comment(doc.blocks[1].comment_hex), web.to_comment());
}

TEST(RulesDocument, AnEmptyRuleSectionHasNoBlocks) {
    const std::string text = "*filter\n### RULES ###\n\n### END RULES ###\nCOMMIT\n";
    const auto doc = parse_or_fail(text);
    EXPECT_TRUE(doc.blocks.empty());
    EXPECT_EQ(doc.render(), text);
}

TEST(RulesDocument, RefusesFilesItCannotSplit) {
    std::string why;
    EXPECT_FALSE(parse_rules_document("*filter\nCOMMIT\n", &why));
    EXPECT_NE(why.find("RULES"), std::string::npos) << why;
    EXPECT_FALSE(parse_rules_document(
        "*filter\n### RULES ###\n-A x -j ACCEPT\n\n### END RULES ###\n", &why));
    EXPECT_NE(why.find("line 3"), std::string::npos) << why;
    EXPECT_FALSE(
        parse_rules_document("### RULES ###\n\n### tuple ### allow tcp 22 ::/0 any ::/0 in", &why));
}

// Every IPv6 allow rule of a file the real ufw wrote, rendered by the generator from its tuple
// and comment alone, comes out byte for byte as ufw wrote it.
TEST(RulesDocument, GeneratorReproducesEveryAllowBlockUfwWrote) {
    const auto doc = parse_or_fail(test_data("user6.rules.sample"));
    int checked = 0;
    for (const auto& block : doc.blocks) {
        const auto parsed = parse_tuple(block.tuple);
        if (!parsed || !batchable(*parsed)) {
            continue;
        }
        const auto comment = decode_hex_comment(block.comment_hex).value_or("");
        EXPECT_EQ(render_rule_block(*parsed, comment), block.text) << block.tuple;
        ++checked;
    }
    EXPECT_GE(checked, 7); // single port, range, sources, logging, input rules, no comment
}

TEST(RulesDocument, LimitAndIpv4RulesAreNotBatchable) {
    EXPECT_TRUE(batchable(rule_builder("2001:db8::2").log().ports(80, 90).from("2001:db8::/32")));
    EXPECT_FALSE(batchable(rule_builder("2001:db8::2").limit()));
    EXPECT_FALSE(batchable(rule_builder("192.0.2.5")));
}

TEST(RulesDocument, AddMatchesUfwDryRunOfARouteRuleWithSource) {
    auto doc = lab_before();
    const rule r = rule_builder("2001:db8:10::6").udp().port(5353).from("2001:db8:ffff::100");
    EXPECT_EQ(apply_to_document(doc, {op_kind::add, {r, web}, "missing"}).outcome,
              ufw_outcome::added);
    EXPECT_EQ(compare_with_dry_run(doc, test_data("ufw-dry-run/add-route-udp-from.out")),
              std::nullopt);
}

TEST(RulesDocument, AddMatchesUfwDryRunOfALoggedPortRange) {
    auto doc = lab_before();
    const rule r = rule_builder("2001:db8:10::6").log().ports(8000, 8010);
    doc = parse_or_fail(doc.header + doc.render_rules() + render_rule_block(r, "x") + doc.footer);
    EXPECT_EQ(compare_with_dry_run(doc, test_data("ufw-dry-run/add-route-log-range.out")),
              std::nullopt);
}

TEST(RulesDocument, AddMatchesUfwDryRunOfAnInputRule) {
    auto doc = lab_before();
    const rule r = rule_builder("2001:db8:ffff::1").input().port(8081);
    doc = parse_or_fail(doc.header + doc.render_rules() + render_rule_block(r, "x") + doc.footer);
    EXPECT_EQ(compare_with_dry_run(doc, test_data("ufw-dry-run/add-input-tcp.out")), std::nullopt);
}

TEST(RulesDocument, RemoveMatchesUfwDryRunOfADelete) {
    auto doc = lab_before();
    const rule r = rule_builder("2001:db8:10::5");
    EXPECT_EQ(apply_to_document(doc, {op_kind::remove, {r, web}, "stale"}).outcome,
              ufw_outcome::deleted);
    EXPECT_EQ(compare_with_dry_run(doc, test_data("ufw-dry-run/delete-route-tcp.out")),
              std::nullopt);
}

TEST(RulesDocument, ADifferenceIsReportedWithItsLine) {
    auto doc = lab_before();
    const rule r = rule_builder("2001:db8:10::6").udp().port(5353); // the dry run had a source
    apply_to_document(doc, {op_kind::add, {r, web}, "missing"});
    const auto diff = compare_with_dry_run(doc, test_data("ufw-dry-run/add-route-udp-from.out"));
    ASSERT_TRUE(diff.has_value());
    EXPECT_NE(diff->find("rules line 8"), std::string::npos) << *diff;
    EXPECT_NE(compare_with_dry_run(doc, "Skipping adding existing rule\n"), std::nullopt);
}

TEST(RulesDocument, HeaderDifferencesOtherThanRateLimitingCount) {
    auto doc = lab_before();
    apply_to_document(doc, {op_kind::remove, {rule_builder("2001:db8:10::5"), web}, "stale"});
    doc.header.insert(doc.header.find("### RULES"), ":ufw6-something - [0:0]\n");
    const auto diff = compare_with_dry_run(doc, test_data("ufw-dry-run/delete-route-tcp.out"));
    ASSERT_TRUE(diff.has_value());
    EXPECT_NE(diff->find("header"), std::string::npos) << *diff;
}

TEST(RulesDocument, AddOfAnIdenticalRuleIsSkipped) {
    auto doc = lab_before();
    const auto before = doc.render();
    EXPECT_EQ(
        apply_to_document(doc, {op_kind::add, {rule_builder("2001:db8:10::5"), web}, "missing"})
            .outcome,
        ufw_outcome::already_present);
    EXPECT_EQ(doc.render(), before);
}

TEST(RulesDocument, OwnerChangeReplacesTheBlockInPlace) {
    auto doc = lab_before();
    const owner_tag other{"abcdefabcdef", "other"};
    doc.blocks.push_back(parse_or_fail(doc.header +
                                       render_rule_block(rule_builder("2001:db8:10::7"), "z") +
                                       doc.footer)
                             .blocks[0]);
    EXPECT_EQ(apply_to_document(
                  doc, {op_kind::add, {rule_builder("2001:db8:10::5"), other}, "owner changed"})
                  .outcome,
              ufw_outcome::updated);
    ASSERT_EQ(doc.blocks.size(), 3U);
    EXPECT_EQ(decode_hex_comment(doc.blocks[1].comment_hex), other.to_comment());
    EXPECT_EQ(doc.blocks[2].tuple, "route:allow tcp 80 2001:db8:10::7 any ::/0 in");
}

TEST(RulesDocument, AnAdminRuleWithTheSameMatchIsNeverOverwritten) {
    auto doc = lab_before();
    const auto before = doc.render();
    const rule ssh = rule_builder("::/0").input().port(22).log();
    const auto verdict = apply_to_document(doc, {op_kind::add, {ssh, web}, "missing"});
    EXPECT_EQ(verdict.outcome, ufw_outcome::error);
    EXPECT_NE(verdict.detail.find("not dockgate's"), std::string::npos);
    EXPECT_EQ(doc.render(), before);
}

TEST(RulesDocument, NoRuleWithoutAValidTagIsRetaggedWhateverItsShapeOrComment) {
    // ufw matches without action, logging and comment, so each of these admin rules is what
    // `ufw allow ... comment dockgate:...` would replace ("Rule updated"). The batched path
    // refuses instead, and an admin's delete-by-comment can never reach them either.
    const std::string admin_blocks[] = {
        // a logging shape dockgate never writes
        "\n### tuple ### allow_log-all tcp 22 ::/0 any ::/0 in\n-A ufw6-user-input -p tcp --dport "
        "22 -j ACCEPT\n",
        // a comment that is not a dockgate tag
        "\n### tuple ### allow tcp 22 ::/0 any ::/0 in comment=" +
            test::hex_encode("ssh for the admins") +
            "\n-A ufw6-user-input -p tcp --dport 22 -j ACCEPT\n",
        // a comment that looks like dockgate's but is not a valid tag
        "\n### tuple ### allow tcp 22 ::/0 any ::/0 in comment=" +
            test::hex_encode("dockgate:xyz:web") +
            "\n-A ufw6-user-input -p tcp --dport 22 -j ACCEPT\n",
        // a comment whose hex does not decode
        "\n### tuple ### allow tcp 22 ::/0 any ::/0 in comment=zz\n-A ufw6-user-input -p tcp "
        "--dport 22 -j ACCEPT\n",
    };
    for (const auto& block : admin_blocks) {
        auto doc =
            parse_or_fail("*filter\n### RULES ###\n" + block + "\n### END RULES ###\nCOMMIT\n");
        const auto before = doc.render();
        for (const rule& ssh : {rule(rule_builder("::/0").input().port(22)),
                                rule(rule_builder("::/0").input().port(22).log())}) {
            const auto verdict = apply_to_document(doc, {op_kind::add, {ssh, web}, "missing"});
            EXPECT_EQ(verdict.outcome, ufw_outcome::error) << block;
            EXPECT_EQ(doc.render(), before) << block;
            EXPECT_EQ(apply_to_document(doc, {op_kind::remove, {ssh, web}, "stale"}).outcome,
                      ufw_outcome::not_found)
                << block;
        }
    }
}

TEST(RulesDocument, RemoveNeedsTupleAndCommentToMatch) {
    auto doc = lab_before();
    const auto before = doc.render();
    const owner_tag stranger{"ffffffffffff", "web"};
    EXPECT_EQ(apply_to_document(
                  doc, {op_kind::remove, {rule_builder("2001:db8:10::5"), stranger}, "stale"})
                  .outcome,
              ufw_outcome::not_found);
    EXPECT_EQ(apply_to_document(
                  doc, {op_kind::remove, {rule_builder("::/0").input().port(22), web}, "stale"})
                  .outcome,
              ufw_outcome::not_found);
    EXPECT_EQ(doc.render(), before);
}

TEST(RulesDocument, AnUppercaseHexCommentIsTheSameOwner) {
    // Found by fuzz_rules_file_parser: the file reader decodes `3A` as ':' and so reports the
    // block as dockgate's; the editor must then be able to find it to remove it.
    auto doc = lab_before();
    auto& block = doc.blocks.back();
    ASSERT_EQ(decode_hex_comment(block.comment_hex), web.to_comment());
    const auto upper_at = block.text.find(block.comment_hex);
    for (auto& c : block.comment_hex) {
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    block.text.replace(upper_at, block.comment_hex.size(), block.comment_hex);
    const auto blocks = doc.blocks.size();
    EXPECT_EQ(
        apply_to_document(doc, {op_kind::add, {rule_builder("2001:db8:10::5"), web}, "missing"})
            .outcome,
        ufw_outcome::already_present);
    EXPECT_EQ(
        apply_to_document(doc, {op_kind::remove, {rule_builder("2001:db8:10::5"), web}, "stale"})
            .outcome,
        ufw_outcome::deleted);
    EXPECT_EQ(doc.blocks.size(), blocks - 1);
}

} // namespace
} // namespace dockgate
