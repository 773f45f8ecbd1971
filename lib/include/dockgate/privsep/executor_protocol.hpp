// The privileged executor's request language: a few typed, canonical, single-line messages.
#pragma once

#include "dockgate/model/rule.hpp"
#include "dockgate/ufw/firewall.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace dockgate {

/// Longest request the executor accepts; anything longer is refused unread.
inline constexpr std::size_t max_request_bytes = 512;

/// Most operations one batch request carries; longer plans are sent as several batches.
inline constexpr std::size_t max_batch_ops = 256;

/// `batch N` announces N add/delete messages that follow it and are applied together.
/// `kernel` reads the kernel's IPv6 tables (kernel_facts); `hostrules B E G` sets dockgate's
/// host rules (bridge rules, egress, guard; 0 or 1 each).
enum class request_kind { add, remove, list, probe, batch, kernel, host_rules };

struct executor_request {
    request_kind kind = request_kind::probe;
    std::optional<owned_rule> target; ///< for add and remove
    std::size_t batch_size = 0;       ///< for batch: 1..max_batch_ops
    host_rules_request host_rules{};  ///< for host_rules
    /// for list: the version of the rules the asker already has ("list V", 16 hex digits);
    /// the executor answers "ok same" when they are still what it reads.
    std::uint64_t known_version = 0;
};

struct request_parse {
    std::optional<executor_request> request;
    std::string reason; ///< why a message was refused
};

/// Parses and re-validates one request. Only the exact canonical text that
/// format_request() produces is accepted: every field is parsed, re-serialised and compared,
/// so quotes, newlines, ';', option-like values ("--force") and non-canonical numbers or
/// addresses never reach the ufw argv.
request_parse parse_request(std::string_view message);

/// A rules version as 16 lowercase hex digits, and back (nullopt for any other text).
std::string version_text(std::uint64_t version);
std::optional<std::uint64_t> parse_version_text(std::string_view text);

/// Canonical text of a request, e.g.
/// "add route allow nolog tcp 80 2001:db8::2 ::/0 dockgate:0123456789ab:web".
std::string format_request(const executor_request& request);

/// Responses. apply: "ok OUTCOME MS" or "error CODE OUTCOME MS DETAIL".
std::string format_apply_response(const apply_result& result);
std::optional<apply_result> parse_apply_response(std::string_view message);
/// probe: "ok probe FOUND IPV6 ACTIVE PATH" with 0/1 values and PATH one of per-rule,
/// verifying, batched.
std::string format_probe_response(const firewall_state& state);
std::optional<firewall_state> parse_probe_response(std::string_view message);

const char* outcome_token(ufw_outcome outcome);
std::optional<ufw_outcome> parse_outcome_token(std::string_view token);

} // namespace dockgate
