// nf_tables netlink messages: the kernel's notifications of rule changes in ufw's chains, decoded,
// and the batch that deletes rules by handle (pure: bytes in, bytes out).
#include "dockgate/ufw/nft_messages.hpp"

#include <array>
#include <endian.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <string_view>

namespace dockgate {
namespace {

constexpr std::string_view ufw_table = "filter";

/// The attributes of an nf_tables message, by type (nullptr when absent or malformed).
struct attributes {
    static constexpr std::size_t Count = 32;
    static_assert(NFTA_RULE_MAX < Count && NFTA_CHAIN_MAX < Count && NFTA_TABLE_MAX < Count &&
                  NFTA_GEN_MAX < Count);
    std::array<const nlattr*, Count> by_type{};

    explicit attributes(const nlmsghdr* message) {
        mnl_attr_parse(message, sizeof(nfgenmsg), &attributes::keep, this);
    }
    static int keep(const nlattr* attr, void* data) {
        auto& self = *static_cast<attributes*>(data);
        if (const auto type = mnl_attr_get_type(attr); type < Count) {
            self.by_type.at(type) = attr;
        }
        return MNL_CB_OK;
    }
    [[nodiscard]] std::string_view text(unsigned type) const {
        const auto* attr = type < Count ? by_type.at(type) : nullptr;
        if (attr == nullptr || mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) < 0) {
            return {};
        }
        return mnl_attr_get_str(attr);
    }
    [[nodiscard]] std::optional<std::uint64_t> u64(unsigned type) const {
        const auto* attr = type < Count ? by_type.at(type) : nullptr;
        if (attr == nullptr || mnl_attr_validate(attr, MNL_TYPE_U64) < 0) {
            return std::nullopt;
        }
        return be64toh(mnl_attr_get_u64(attr));
    }
    [[nodiscard]] std::optional<std::uint32_t> u32(unsigned type) const {
        const auto* attr = type < Count ? by_type.at(type) : nullptr;
        if (attr == nullptr || mnl_attr_validate(attr, MNL_TYPE_U32) < 0) {
            return std::nullopt;
        }
        return be32toh(mnl_attr_get_u32(attr));
    }
};

bool ours(std::string_view table, std::string_view chain) {
    return table == ufw_table && chain.starts_with(ufw_user_chain_prefix);
}

monitor_line rule_change(const nlmsghdr* message, bool added) {
    monitor_line out;
    const attributes attrs(message);
    const auto chain = attrs.text(NFTA_RULE_CHAIN);
    if (!ours(attrs.text(NFTA_RULE_TABLE), chain)) {
        return out;
    }
    out.chain = std::string(chain);
    const auto handle = attrs.u64(NFTA_RULE_HANDLE);
    if (added) {
        // A replaced rule (iptables -R) changes a rule in place: handles stay, contents not.
        const bool replaced = (message->nlmsg_flags & NLM_F_REPLACE) != 0;
        out.what = handle && !replaced ? monitor_line::kind::rule_added : monitor_line::kind::reset;
    } else {
        // A delete without a handle is a whole chain flushed.
        out.what = handle ? monitor_line::kind::rule_deleted : monitor_line::kind::reset;
    }
    out.handle = handle.value_or(0);
    return out;
}

} // namespace

monitor_line decode_nft_notification(const nlmsghdr* message) {
    monitor_line out;
    if (NFNL_SUBSYS_ID(message->nlmsg_type) != NFNL_SUBSYS_NFTABLES ||
        mnl_nlmsg_get_payload_len(message) < sizeof(nfgenmsg)) {
        return out;
    }
    const auto* header = static_cast<const nfgenmsg*>(mnl_nlmsg_get_payload(message));
    const auto type = NFNL_MSG_TYPE(message->nlmsg_type);
    if (type == NFT_MSG_NEWGEN) {
        const attributes attrs(message);
        out.what = monitor_line::kind::generation;
        out.pid = static_cast<long>(attrs.u32(NFTA_GEN_PROC_PID).value_or(0));
        return out;
    }
    if (header->nfgen_family != NFPROTO_IPV6) {
        return out;
    }
    switch (type) {
    case NFT_MSG_NEWRULE:
        return rule_change(message, true);
    case NFT_MSG_DELRULE:
        return rule_change(message, false);
    case NFT_MSG_DELCHAIN: {
        const attributes attrs(message);
        if (ours(attrs.text(NFTA_CHAIN_TABLE), attrs.text(NFTA_CHAIN_NAME))) {
            out.what = monitor_line::kind::reset;
        }
        return out;
    }
    case NFT_MSG_DELTABLE: {
        const attributes attrs(message);
        if (attrs.text(NFTA_TABLE_NAME) == ufw_table) {
            out.what = monitor_line::kind::reset;
        }
        return out;
    }
    default:
        return out;
    }
}

std::string encode_delete_batch(const std::vector<kernel_rule>& rules, std::uint32_t first_seq) {
    // Room for the begin and end messages and each DELRULE (header, table, chain, handle).
    std::string buffer((rules.size() + 2) * 256, '\0');
    auto* batch = mnl_nlmsg_batch_start(buffer.data(), buffer.size());
    auto seq = first_seq;
    auto put = [&](std::uint16_t type, std::uint16_t flags, std::uint8_t family,
                   std::uint16_t res_id) {
        auto* message = mnl_nlmsg_put_header(mnl_nlmsg_batch_current(batch));
        message->nlmsg_type = type;
        message->nlmsg_flags = NLM_F_REQUEST | flags;
        message->nlmsg_seq = seq++;
        auto* header =
            static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(message, sizeof(nfgenmsg)));
        header->nfgen_family = family;
        header->version = NFNETLINK_V0;
        header->res_id = htobe16(res_id);
        return message;
    };
    put(NFNL_MSG_BATCH_BEGIN, 0, AF_UNSPEC, NFNL_SUBSYS_NFTABLES);
    mnl_nlmsg_batch_next(batch);
    for (const auto& rule : rules) {
        auto* message =
            put((NFNL_SUBSYS_NFTABLES << 8U) | NFT_MSG_DELRULE, NLM_F_ACK, NFPROTO_IPV6, 0);
        mnl_attr_put_strz(message, NFTA_RULE_TABLE, std::string(ufw_table).c_str());
        mnl_attr_put_strz(message, NFTA_RULE_CHAIN, rule.chain.c_str());
        mnl_attr_put_u64(message, NFTA_RULE_HANDLE, htobe64(rule.handle));
        mnl_nlmsg_batch_next(batch);
    }
    put(NFNL_MSG_BATCH_END, 0, AF_UNSPEC, NFNL_SUBSYS_NFTABLES);
    mnl_nlmsg_batch_next(batch);
    buffer.resize(mnl_nlmsg_batch_size(batch));
    mnl_nlmsg_batch_stop(batch);
    return buffer;
}

namespace {

/// One IPv6 nf_tables request of `type` whose only attribute is the string `value` at
/// `attribute`: a header, the nfgenmsg and one short name fit the buffer well.
std::string encode_named_request(std::uint16_t type, std::uint16_t flags, std::uint32_t seq,
                                 std::uint16_t attribute, const std::string& value) {
    std::string buffer(256 + value.size(), '\0');
    auto* message = mnl_nlmsg_put_header(buffer.data());
    message->nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8U) | type;
    message->nlmsg_flags = flags;
    message->nlmsg_seq = seq;
    auto* header = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(message, sizeof(nfgenmsg)));
    header->nfgen_family = NFPROTO_IPV6;
    header->version = NFNETLINK_V0;
    mnl_attr_put_strz(message, attribute, value.c_str());
    buffer.resize(message->nlmsg_len);
    return buffer;
}

} // namespace

std::string encode_get_chains(const std::string& table, std::uint32_t seq) {
    // Kernels may answer with every IPv6 table's chains: decode_chain_name keeps this table's.
    return encode_named_request(NFT_MSG_GETCHAIN, NLM_F_REQUEST | NLM_F_DUMP, seq, NFTA_CHAIN_TABLE,
                                table);
}

std::optional<std::string> decode_chain_name(const nlmsghdr* message, std::string_view table) {
    if (message->nlmsg_type != ((NFNL_SUBSYS_NFTABLES << 8U) | NFT_MSG_NEWCHAIN) ||
        message->nlmsg_len < mnl_nlmsg_size(sizeof(nfgenmsg))) {
        return std::nullopt;
    }
    const auto* header = static_cast<const nfgenmsg*>(mnl_nlmsg_get_payload(message));
    const attributes attrs(message);
    const auto name = attrs.text(NFTA_CHAIN_NAME);
    if (header->nfgen_family != NFPROTO_IPV6 || attrs.text(NFTA_CHAIN_TABLE) != table ||
        name.empty()) {
        return std::nullopt;
    }
    return std::string(name);
}

std::string encode_get_table(const std::string& name, std::uint32_t seq) {
    return encode_named_request(NFT_MSG_GETTABLE, NLM_F_REQUEST | NLM_F_ACK, seq, NFTA_TABLE_NAME,
                                name);
}

} // namespace dockgate
