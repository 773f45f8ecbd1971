// nf_tables netlink messages: the kernel's notifications of rule changes in ufw's chains, decoded,
// and the batch that deletes rules by handle (pure: bytes in, bytes out).
#pragma once

#include "dockgate/ufw/kernel_edit.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct nlmsghdr;

namespace dockgate {

/// What one nf_tables notification (NFNLGRP_NFTABLES) says about ufw's user chains in the IPv6
/// filter table: a rule added or deleted (with its handle), a chain or the table gone, the end
/// of a transaction (NEWGEN, with the id of the thread that committed it), or nothing of ours.
monitor_line decode_nft_notification(const nlmsghdr* message);

/// One all-or-nothing batch (begin, one DELRULE per rule asking for an ack, end) that deletes
/// `rules` from the IPv6 filter table; sequence numbers start at `first_seq`.
std::string encode_delete_batch(const std::vector<kernel_rule>& rules, std::uint32_t first_seq);

/// A dump request for the chains of the IPv6 table `table`: their names, none of their rules.
std::string encode_get_chains(const std::string& table, std::uint32_t seq);
/// The name of the chain a NEWCHAIN message (an answer to that dump) gives, when it is one of
/// the IPv6 table `table`'s; nullopt for anything else.
std::optional<std::string> decode_chain_name(const nlmsghdr* message, std::string_view table);

/// A GETTABLE request for the IPv6 table `name` (the answer is the table, or ENOENT).
std::string encode_get_table(const std::string& name, std::uint32_t seq);

} // namespace dockgate
