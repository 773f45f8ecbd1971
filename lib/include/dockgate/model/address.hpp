// Canonical IPv6/IPv4 addresses and prefixes: the only address forms that ever reach ufw.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace dockgate {

/// An address or prefix in canonical text form (inet_ntop output, prefix length without
/// a redundant /128 or /32), as ufw itself stores it in user6.rules.
struct ip_prefix {
    bool v6 = true;
    std::array<std::uint8_t, 16> bytes{};
    unsigned length = 128;

    /// Canonical text: "2001:db8::1", "2001:db8::/64", "::/0", "192.0.2.1".
    [[nodiscard]] std::string to_string() const;
    [[nodiscard]] bool is_host() const { return length == (v6 ? 128U : 32U); }
    [[nodiscard]] bool is_any() const { return length == 0; }
    /// True when this prefix lies inside `outer` (same family).
    [[nodiscard]] bool within(const ip_prefix& outer) const;
    friend bool operator==(const ip_prefix&, const ip_prefix&) = default;
};

/// Parses "ADDR" or "ADDR/LEN" (IPv6 or IPv4). Host bits beyond the prefix must be zero,
/// so "2001:db8::1/64" is refused rather than silently widened. Returns nullopt with `why` set.
std::optional<ip_prefix> parse_prefix(std::string_view text, std::string* why = nullptr);

/// Address scope as far as dockgate cares: only `global` addresses get rules by default.
enum class address_scope {
    global,
    unique_local,
    link_local,
    loopback,
    multicast,
    unspecified,
    other
};
address_scope scope_of(const ip_prefix& address);
const char* to_string(address_scope scope);

} // namespace dockgate
