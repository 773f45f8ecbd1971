// Unit tests for the rule-by-rule kernel edit: document changes, handles learned from the
// kernel's notifications, the plan, and the nf_tables messages behind them.
#include "dockgate/ufw/kernel_edit.hpp"
#include "dockgate/ufw/nft_messages.hpp"
#include "dockgate/ufw/rules_document.hpp"
#include "dockgate/ufw/rules_file.hpp"

#include <gtest/gtest.h>

#include <array>
#include <endian.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <optional>

#include "test_support.hpp"

namespace dockgate {
namespace {

using test::rule_builder;
using test::test_data;
using kind = monitor_line::kind;

const owner_tag web{"0123456789ab", "web"};
const owner_tag api{"ba9876543210", "api"};

rules_document lab_before() {
    // An admin rule for port 22 and one dockgate rule, with ufw's logging and rate-limit footer.
    auto doc = parse_rules_document(test_data("ufw-dry-run/user6.rules.before"));
    EXPECT_TRUE(doc.has_value());
    return doc.value_or(rules_document{});
}

monitor_line added(std::string chain, std::uint64_t handle) {
    return {kind::rule_added, std::move(chain), handle, 0};
}

/// What the kernel reports for loading the whole of `doc`: the flush, then one added rule per
/// command line in a ufw user chain, with handles from `first`.
std::vector<monitor_line> load_report(const rules_document& doc, std::uint64_t first) {
    std::vector<monitor_line> events{{kind::rule_deleted, "ufw6-user-input", 3, 0}};
    const auto text = doc.render(); // chain_lines gives views into it
    for (const auto& line : chain_lines(text)) {
        if (line.chain.starts_with(ufw_user_chain_prefix)) {
            events.push_back(added(std::string(line.chain), first++));
        }
    }
    return events;
}

document_changes edit(rules_document& doc, const std::vector<rule_op>& ops) {
    document_editor editor(doc, ops);
    for (const auto& op : ops) {
        editor.apply(op);
    }
    return editor.finish();
}

TEST(KernelEdit, ChainLinesAreTheCommandLinesInOrder) {
    const auto lines = chain_lines("*filter\n:ufw6-user-input - [0:0]\n-A ufw6-user-input -p tcp "
                                   "--dport 22 -j ACCEPT\n# x\n-I ufw6-logging-deny -j RETURN\n");
    ASSERT_EQ(lines.size(), 2U);
    EXPECT_EQ(lines[0].chain, "ufw6-user-input");
    EXPECT_EQ(lines[0].text, "-A ufw6-user-input -p tcp --dport 22 -j ACCEPT");
    EXPECT_EQ(lines[1].chain, "ufw6-logging-deny");
}

TEST(KernelEdit, LearnsTheHandlesOfDockgatesBlocksFromALoad) {
    const auto doc = lab_before();
    kernel_handles handles;
    ASSERT_TRUE(handles.learn_load(doc, load_report(doc, 100)));
    EXPECT_TRUE(handles.known());
    // Only dockgate's block is remembered: the admin's rules are never deleted by dockgate.
    EXPECT_EQ(handles.size(), 1U);
    EXPECT_EQ(handles.find(doc.blocks[0]), nullptr);
    const auto* rules = handles.find(doc.blocks[1]);
    ASSERT_NE(rules, nullptr);
    EXPECT_EQ(*rules, (std::vector<kernel_rule>{{"ufw6-user-forward", 101}}));
}

TEST(KernelEdit, AReportThatDoesNotFitTheDocumentTeachesNothing) {
    const auto doc = lab_before();
    kernel_handles handles;
    auto report = load_report(doc, 100);
    report.pop_back(); // one rule short
    EXPECT_FALSE(handles.learn_load(doc, report));
    EXPECT_FALSE(handles.known());
    report = load_report(doc, 100);
    report[2].chain = "ufw6-user-input"; // the dockgate rule reported in another chain
    EXPECT_FALSE(handles.learn_load(doc, report));
    EXPECT_FALSE(handles.known());
}

TEST(KernelEdit, AStartAndAStopBecomeAnAppendAndADeleteByHandle) {
    auto doc = lab_before();
    kernel_handles handles;
    ASSERT_TRUE(handles.learn_load(doc, load_report(doc, 100)));
    const auto old_rule = rule_builder("2001:db8:10::5").r;
    const auto new_rule = rule_builder("2001:db8:10::6").r;
    const auto changes = edit(doc, {{op_kind::remove, {old_rule, web}, "stale"},
                                    {op_kind::add, {new_rule, api}, "missing"}});
    ASSERT_EQ(changes.removed.size(), 1U);
    EXPECT_EQ(changes.first_appended, 1U);
    std::string why;
    const auto plan = plan_kernel_edit(doc, changes, handles, why);
    ASSERT_TRUE(plan.has_value()) << why;
    EXPECT_EQ(plan->deletes, (std::vector<kernel_rule>{{"ufw6-user-forward", 101}}));
    EXPECT_EQ(plan->append_script,
              "*filter\n-A ufw6-user-forward -p tcp -d 2001:db8:10::6 --dport 80 -j ACCEPT\n"
              "COMMIT\n");
    // The kernel reports the append; the new block's handle is learned, the old one's dropped.
    ASSERT_TRUE(record_kernel_edit(handles, changes, *plan, {added("ufw6-user-forward", 200)}));
    EXPECT_EQ(handles.size(), 1U);
    const auto* rules = handles.find(doc.blocks.back());
    ASSERT_NE(rules, nullptr);
    EXPECT_EQ(rules->front().handle, 200U);
}

TEST(KernelEdit, ARetagIsNoKernelChange) {
    auto doc = lab_before();
    kernel_handles handles;
    ASSERT_TRUE(handles.learn_load(doc, load_report(doc, 100)));
    const auto changes =
        edit(doc, {{op_kind::add, {rule_builder("2001:db8:10::5").r, api}, "owner changed"}});
    ASSERT_EQ(changes.replaced.size(), 1U);
    std::string why;
    const auto plan = plan_kernel_edit(doc, changes, handles, why);
    ASSERT_TRUE(plan.has_value()) << why;
    EXPECT_TRUE(plan->append_script.empty());
    EXPECT_TRUE(plan->deletes.empty());
    ASSERT_TRUE(record_kernel_edit(handles, changes, *plan, {}));
    // The rule keeps its handle under its new tag, so a later stop deletes it.
    const auto* rules = handles.find(doc.blocks[1]);
    ASSERT_NE(rules, nullptr);
    EXPECT_EQ(rules->front().handle, 101U);
}

TEST(KernelEdit, WhatARuleByRuleEditCannotDoNeedsAFullLoad) {
    std::string why;
    {
        auto doc = lab_before();
        const kernel_handles unknown;
        const auto changes =
            edit(doc, {{op_kind::add, {rule_builder("2001:db8:10::6").r, web}, "missing"}});
        EXPECT_FALSE(plan_kernel_edit(doc, changes, unknown, why));
        EXPECT_NE(why.find("not known"), std::string::npos) << why;
    }
    {
        // Logging switched on in place: the block's lines change where they stand.
        auto doc = lab_before();
        kernel_handles handles;
        ASSERT_TRUE(handles.learn_load(doc, load_report(doc, 100)));
        const auto changes =
            edit(doc, {{op_kind::add, {rule_builder("2001:db8:10::5").log().r, web}, "changed"}});
        EXPECT_FALSE(plan_kernel_edit(doc, changes, handles, why));
        EXPECT_NE(why.find("change in place"), std::string::npos) << why;
    }
    {
        // A chain with lines in the footer: an append would land after them, not where ufw
        // puts the rule.
        auto doc = lab_before();
        doc.footer.insert(doc.footer.find("### END LOGGING"), "-A ufw6-user-forward -j RETURN\n");
        kernel_handles handles;
        ASSERT_TRUE(handles.learn_load(doc, load_report(doc, 100)));
        const auto changes =
            edit(doc, {{op_kind::add, {rule_builder("2001:db8:10::6").r, web}, "missing"}});
        EXPECT_FALSE(plan_kernel_edit(doc, changes, handles, why));
        EXPECT_NE(why.find("would not land"), std::string::npos) << why;
    }
    {
        // Two identical dockgate blocks (a hand edit): which rule is whose is not known.
        auto doc = lab_before();
        doc.blocks.push_back(doc.blocks[1]);
        kernel_handles handles;
        ASSERT_TRUE(handles.learn_load(doc, load_report(doc, 100)));
        const auto changes =
            edit(doc, {{op_kind::remove, {rule_builder("2001:db8:10::5").r, web}, "stale"}});
        EXPECT_FALSE(plan_kernel_edit(doc, changes, handles, why));
        EXPECT_NE(why.find("no kernel handle"), std::string::npos) << why;
    }
}

TEST(KernelEdit, AnAddRemovedInTheSameBatchNeverReachesTheKernel) {
    auto doc = lab_before();
    kernel_handles handles;
    ASSERT_TRUE(handles.learn_load(doc, load_report(doc, 100)));
    const auto brief = rule_builder("2001:db8:10::7").r;
    const auto changes = edit(
        doc, {{op_kind::add, {brief, web}, "missing"}, {op_kind::remove, {brief, web}, "stale"}});
    EXPECT_TRUE(changes.removed.empty());
    EXPECT_EQ(changes.first_appended, doc.blocks.size());
    std::string why;
    const auto plan = plan_kernel_edit(doc, changes, handles, why);
    ASSERT_TRUE(plan.has_value()) << why;
    EXPECT_TRUE(plan->append_script.empty());
    EXPECT_TRUE(plan->deletes.empty());
}

TEST(KernelEdit, AnAppendReportThatDoesNotFitForgetsEveryHandle) {
    auto doc = lab_before();
    kernel_handles handles;
    ASSERT_TRUE(handles.learn_load(doc, load_report(doc, 100)));
    const auto changes =
        edit(doc, {{op_kind::add, {rule_builder("2001:db8:10::6").r, web}, "missing"}});
    std::string why;
    const auto plan = plan_kernel_edit(doc, changes, handles, why);
    ASSERT_TRUE(plan.has_value()) << why;
    EXPECT_FALSE(record_kernel_edit(handles, changes, *plan, {added("ufw6-user-input", 7)}));
    EXPECT_FALSE(handles.known());
}

TEST(DocumentEditor, ABatchIsLinearAndKeepsUfwsOrder) {
    // 20,000 admin rules and 200 changes: each add and remove finds its block through the index.
    auto doc = lab_before();
    for (int i = 0; i < 20000; ++i) {
        auto r = rule_builder("2001:db8:a::" + std::to_string(i % 9000 + 1))
                     .port(static_cast<std::uint16_t>(1000 + i / 9000))
                     .r;
        doc.blocks.push_back({r.tuple(), "", render_rule_block(r, "")});
    }
    std::vector<rule_op> ops;
    for (int i = 0; i < 100; ++i) {
        ops.push_back({op_kind::add,
                       {rule_builder("2001:db8:20::" + std::to_string(i + 1)).r, web},
                       "missing"});
    }
    ops.push_back({op_kind::remove, {rule_builder("2001:db8:10::5").r, web}, "stale"});
    const auto before = doc.blocks.size();
    const auto changes = edit(doc, ops);
    EXPECT_EQ(changes.removed.size(), 1U);
    EXPECT_EQ(doc.blocks.size(), before + 100 - 1);
    EXPECT_EQ(changes.first_appended, before - 1);
    EXPECT_EQ(doc.blocks.back().tuple, rule_builder("2001:db8:20::100").r.tuple());
}

// --- nf_tables messages ------------------------------------------------------------------

/// An nf_tables notification as the kernel sends it, built with libmnl (one per buffer; the
/// builder owns it, so it is neither copied nor moved).
class message_builder {
  public:
    message_builder(std::uint16_t type, std::uint8_t family, std::uint16_t flags = 0)
        : message_(mnl_nlmsg_put_header(buffer_.data())) {
        message_->nlmsg_type = static_cast<std::uint16_t>((NFNL_SUBSYS_NFTABLES << 8U) | type);
        message_->nlmsg_flags = flags;
        auto* header =
            static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(message_, sizeof(nfgenmsg)));
        header->nfgen_family = family;
    }
    message_builder(const message_builder&) = delete;
    message_builder& operator=(const message_builder&) = delete;
    message_builder& text(std::uint16_t type, const char* value) {
        mnl_attr_put_strz(message_, type, value);
        return *this;
    }
    message_builder& u64(std::uint16_t type, std::uint64_t value) {
        mnl_attr_put_u64(message_, type, htobe64(value));
        return *this;
    }
    message_builder& u32(std::uint16_t type, std::uint32_t value) {
        mnl_attr_put_u32(message_, type, htobe32(value));
        return *this;
    }
    [[nodiscard]] monitor_line decoded() const { return decode_nft_notification(message_); }
    [[nodiscard]] const nlmsghdr* message() const { return message_; }

  private:
    std::array<char, 4096> buffer_{};
    nlmsghdr* message_;
};

/// A rule notification for `chain` of `table`.
monitor_line rule_event(std::uint16_t type, std::uint8_t family, const char* table,
                        const char* chain, std::optional<std::uint64_t> handle,
                        std::uint16_t flags = 0) {
    message_builder message(type, family, flags);
    message.text(NFTA_RULE_TABLE, table).text(NFTA_RULE_CHAIN, chain);
    if (handle) {
        message.u64(NFTA_RULE_HANDLE, *handle);
    }
    return message.decoded();
}

TEST(NftMessages, DecodesRuleChangesInUfwsUserChains) {
    auto event = rule_event(NFT_MSG_NEWRULE, NFPROTO_IPV6, "filter", "ufw6-user-forward", 4242);
    EXPECT_EQ(event.what, kind::rule_added);
    EXPECT_EQ(event.chain, "ufw6-user-forward");
    EXPECT_EQ(event.handle, 4242U);

    event = rule_event(NFT_MSG_DELRULE, NFPROTO_IPV6, "filter", "ufw6-user-input", 7);
    EXPECT_EQ(event.what, kind::rule_deleted);
    EXPECT_EQ(event.handle, 7U);

    message_builder gen(NFT_MSG_NEWGEN, AF_UNSPEC);
    gen.u32(NFTA_GEN_ID, 12).u32(NFTA_GEN_PROC_PID, 31337).text(NFTA_GEN_PROC_NAME, "restore");
    event = gen.decoded();
    EXPECT_EQ(event.what, kind::generation);
    EXPECT_EQ(event.pid, 31337);
}

TEST(NftMessages, WhatIsNotOursIsIgnoredAndWholesaleChangesReset) {
    // Docker's chains, IPv4, another table: not ours.
    EXPECT_EQ(rule_event(NFT_MSG_NEWRULE, NFPROTO_IPV6, "filter", "DOCKER-USER", 1).what,
              kind::ignored);
    EXPECT_EQ(rule_event(NFT_MSG_NEWRULE, NFPROTO_IPV4, "filter", "ufw-user-input", 1).what,
              kind::ignored);
    EXPECT_EQ(rule_event(NFT_MSG_NEWRULE, NFPROTO_IPV6, "nat", "ufw6-user-forward", 1).what,
              kind::ignored);
    // A chain flushed (a delete without a handle), a rule replaced in place, a chain or the
    // table deleted: the handles known before can no longer be trusted.
    EXPECT_EQ(
        rule_event(NFT_MSG_DELRULE, NFPROTO_IPV6, "filter", "ufw6-user-forward", std::nullopt).what,
        kind::reset);
    EXPECT_EQ(
        rule_event(NFT_MSG_NEWRULE, NFPROTO_IPV6, "filter", "ufw6-user-forward", 9, NLM_F_REPLACE)
            .what,
        kind::reset);
    message_builder chain_gone(NFT_MSG_DELCHAIN, NFPROTO_IPV6);
    chain_gone.text(NFTA_CHAIN_TABLE, "filter").text(NFTA_CHAIN_NAME, "ufw6-user-input");
    EXPECT_EQ(chain_gone.decoded().what, kind::reset);
    message_builder table_gone(NFT_MSG_DELTABLE, NFPROTO_IPV6);
    table_gone.text(NFTA_TABLE_NAME, "filter");
    EXPECT_EQ(table_gone.decoded().what, kind::reset);
    // A handle of the wrong size is not read as a handle.
    message_builder bad(NFT_MSG_NEWRULE, NFPROTO_IPV6);
    bad.text(NFTA_RULE_TABLE, "filter").text(NFTA_RULE_CHAIN, "ufw6-user-forward");
    bad.u32(NFTA_RULE_HANDLE, 5);
    EXPECT_EQ(bad.decoded().what, kind::reset);
}

TEST(NftMessages, TheDeleteBatchIsBeginDeletesEnd) {
    const auto batch =
        encode_delete_batch({{"ufw6-user-forward", 101}, {"ufw6-user-logging-forward", 102}}, 1000);
    std::vector<std::pair<std::uint16_t, std::uint32_t>> seen;
    std::vector<monitor_line> deletes;
    int left = static_cast<int>(batch.size());
    for (const auto* message = reinterpret_cast<const nlmsghdr*>(batch.data());
         mnl_nlmsg_ok(message, left); message = mnl_nlmsg_next(message, &left)) {
        seen.emplace_back(message->nlmsg_type, message->nlmsg_seq);
        if (NFNL_MSG_TYPE(message->nlmsg_type) == NFT_MSG_DELRULE) {
            EXPECT_NE(message->nlmsg_flags & NLM_F_ACK, 0);
            deletes.push_back(decode_nft_notification(message));
        }
    }
    EXPECT_EQ(left, 0);
    ASSERT_EQ(seen.size(), 4U);
    EXPECT_EQ(seen.front().first, NFNL_MSG_BATCH_BEGIN);
    EXPECT_EQ(seen.back().first, NFNL_MSG_BATCH_END);
    EXPECT_EQ(seen.back().second, 1003U);
    ASSERT_EQ(deletes.size(), 2U);
    EXPECT_EQ(deletes[0].what, kind::rule_deleted);
    EXPECT_EQ(deletes[0].chain, "ufw6-user-forward");
    EXPECT_EQ(deletes[0].handle, 101U);
    EXPECT_EQ(deletes[1].chain, "ufw6-user-logging-forward");
    EXPECT_EQ(deletes[1].handle, 102U);
}

TEST(NftMessages, TheChainListIsOneDumpAndKeepsOnlyTheTablesChains) {
    const auto request = encode_get_chains("filter", 77);
    const auto* message = reinterpret_cast<const nlmsghdr*>(request.data());
    ASSERT_EQ(request.size(), message->nlmsg_len);
    EXPECT_EQ(NFNL_MSG_TYPE(message->nlmsg_type), NFT_MSG_GETCHAIN);
    EXPECT_EQ(message->nlmsg_flags, NLM_F_REQUEST | NLM_F_DUMP);
    EXPECT_EQ(message->nlmsg_seq, 77U);

    message_builder forward(NFT_MSG_NEWCHAIN, NFPROTO_IPV6, NLM_F_MULTI);
    forward.text(NFTA_CHAIN_TABLE, "filter").text(NFTA_CHAIN_NAME, "DOCKER-USER");
    EXPECT_EQ(decode_chain_name(forward.message(), "filter"), "DOCKER-USER");
    EXPECT_FALSE(decode_chain_name(forward.message(), "raw"));
    // Another family's chain, a rule, or a chain without a name: not a chain of this table.
    message_builder ipv4(NFT_MSG_NEWCHAIN, NFPROTO_IPV4, NLM_F_MULTI);
    ipv4.text(NFTA_CHAIN_TABLE, "filter").text(NFTA_CHAIN_NAME, "FORWARD");
    EXPECT_FALSE(decode_chain_name(ipv4.message(), "filter"));
    message_builder rule(NFT_MSG_NEWRULE, NFPROTO_IPV6, NLM_F_MULTI);
    rule.text(NFTA_RULE_TABLE, "filter").text(NFTA_RULE_CHAIN, "FORWARD");
    EXPECT_FALSE(decode_chain_name(rule.message(), "filter"));
    message_builder nameless(NFT_MSG_NEWCHAIN, NFPROTO_IPV6, NLM_F_MULTI);
    nameless.text(NFTA_CHAIN_TABLE, "filter");
    EXPECT_FALSE(decode_chain_name(nameless.message(), "filter"));
}

} // namespace
} // namespace dockgate
