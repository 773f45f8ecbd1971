// The firewall rule model: canonical rules, dockgate's ownership tag, and their ufw forms.
#pragma once

#include "dockgate/model/address.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dockgate {

enum class protocol { tcp, udp };
const char* to_string(protocol p);
std::optional<protocol> parse_protocol(std::string_view text);

/// A port or an inclusive port range; `first == last` for a single port.
struct port_range {
    std::uint16_t first = 0;
    std::uint16_t last = 0;
    /// ufw's form: "80" or "8000:8010".
    [[nodiscard]] std::string to_string() const;
    [[nodiscard]] bool contains(const port_range& inner) const {
        return first <= inner.first && inner.last <= last;
    }
    [[nodiscard]] bool overlaps(const port_range& other) const {
        return first <= other.last && other.first <= last;
    }
    friend auto operator<=>(const port_range&, const port_range&) = default;
};

/// Parses a decimal port 1..65535 without sign or leading zeros (ufw would store "0080" verbatim
/// and poison user6.rules). Returns nullopt with `why` set.
std::optional<std::uint16_t> parse_port(std::string_view text, std::string* why = nullptr);

/// Parses ufw's port form, "80" or "8000:8010" (canonical ports, start below end).
std::optional<port_range> parse_port_range(std::string_view text);

/// `route` rules forward traffic to a container address; `input` rules open a published host port.
enum class rule_kind { route, input };
enum class rule_action { allow, limit };

/// Identifies the container a dockgate rule belongs to. Its comment form is
/// "dockgate:<12 hex id>:<name>"; anything else is not ours and is never touched.
struct owner_tag {
    std::string short_id;
    std::string name;
    [[nodiscard]] std::string to_comment() const;
    static std::optional<owner_tag> parse(std::string_view comment);
    /// Builds a tag from a full container id and a Docker name ("/web" or "web").
    static std::optional<owner_tag> from_container(std::string_view id, std::string_view name);
    friend bool operator==(const owner_tag&, const owner_tag&) = default;
};

/// One ufw rule in canonical form.
struct rule {
    rule_kind kind = rule_kind::route;
    rule_action action = rule_action::allow;
    bool log = false;
    protocol proto = protocol::tcp;
    port_range port;
    ip_prefix destination;
    ip_prefix source; // length 0 means any

    /// The rule exactly as ufw writes it after "### tuple ###" in user6.rules, without comment.
    [[nodiscard]] std::string tuple() const;
    /// Human-readable form for logs: "route allow tcp from any to 2001:db8::2 port 80".
    [[nodiscard]] std::string describe() const;
    /// ufw arguments (after the ufw binary) that add this rule with `comment`.
    [[nodiscard]] std::vector<std::string> ufw_add_args(const std::string& comment) const;
    /// ufw arguments that delete exactly this rule carrying exactly `comment`.
    [[nodiscard]] std::vector<std::string> ufw_delete_args(const std::string& comment) const;
    friend bool operator==(const rule&, const rule&) = default;
};

/// A rule together with the container that wants it.
struct owned_rule {
    rule what;
    owner_tag owner;
    friend bool operator==(const owned_rule&, const owned_rule&) = default;
};

} // namespace dockgate
