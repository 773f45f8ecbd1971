// Address parsing through inet_pton/inet_ntop, so the text ufw sees is always canonical.
#include "dockgate/model/address.hpp"

#include <arpa/inet.h>
#include <charconv>
#include <cstring>

namespace dockgate {

std::string ip_prefix::to_string() const {
    std::array<char, INET6_ADDRSTRLEN> text{};
    inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), text.data(), text.size());
    std::string out = text.data();
    if (!is_host()) {
        out += '/';
        out += std::to_string(length);
    }
    return out;
}

bool ip_prefix::within(const ip_prefix& outer) const {
    if (v6 != outer.v6 || length < outer.length) {
        return false;
    }
    for (unsigned bit = 0; bit < outer.length; ++bit) {
        const auto mask = static_cast<std::uint8_t>(0x80U >> (bit % 8));
        if ((bytes[bit / 8] & mask) != (outer.bytes[bit / 8] & mask)) {
            return false;
        }
    }
    return true;
}

std::optional<ip_prefix> parse_prefix(std::string_view text, std::string* why) {
    auto fail = [why](const char* reason) -> std::optional<ip_prefix> {
        if (why != nullptr) {
            *why = reason;
        }
        return std::nullopt;
    };
    if (text.empty() || text.size() > 64) {
        return fail("empty or overlong address");
    }
    std::string_view address_part = text;
    std::optional<unsigned> length;
    if (const auto slash = text.find('/'); slash != std::string_view::npos) {
        address_part = text.substr(0, slash);
        const std::string_view len_text = text.substr(slash + 1);
        unsigned value = 0;
        const auto* end = len_text.data() + len_text.size();
        const auto [ptr, ec] = std::from_chars(len_text.data(), end, value);
        if (ec != std::errc{} || ptr != end || len_text.empty() ||
            (len_text.size() > 1 && len_text[0] == '0')) {
            return fail("prefix length is not a plain decimal number");
        }
        length = value;
    }
    ip_prefix result;
    const std::string address(address_part);
    if (inet_pton(AF_INET6, address.c_str(), result.bytes.data()) == 1) {
        result.v6 = true;
    } else if (inet_pton(AF_INET, address.c_str(), result.bytes.data()) == 1) {
        result.v6 = false;
    } else {
        return fail("not an IPv6 or IPv4 address");
    }
    const unsigned max_length = result.v6 ? 128U : 32U;
    result.length = length.value_or(max_length);
    if (result.length > max_length) {
        return fail("prefix length too large");
    }
    for (unsigned bit = result.length; bit < max_length; ++bit) {
        if ((result.bytes[bit / 8] & (0x80U >> (bit % 8))) != 0) {
            return fail("address has bits set beyond the prefix length");
        }
    }
    return result;
}

address_scope scope_of(const ip_prefix& address) {
    const auto& b = address.bytes;
    if (!address.v6) {
        if (b[0] == 127) {
            return address_scope::loopback;
        }
        if (b[0] == 169 && b[1] == 254) {
            return address_scope::link_local;
        }
        if (b[0] >= 224 && b[0] <= 239) {
            return address_scope::multicast;
        }
        if (b[0] == 0) {
            return address_scope::unspecified;
        }
        return address_scope::global;
    }
    static constexpr std::array<std::uint8_t, 16> zero{};
    std::array<std::uint8_t, 16> loop{};
    loop[15] = 1;
    if (std::memcmp(b.data(), zero.data(), 16) == 0) {
        return address_scope::unspecified;
    }
    if (std::memcmp(b.data(), loop.data(), 16) == 0) {
        return address_scope::loopback;
    }
    if (b[0] == 0xfe && (b[1] & 0xc0U) == 0x80) {
        return address_scope::link_local;
    }
    if ((b[0] & 0xfeU) == 0xfc) {
        return address_scope::unique_local;
    }
    if (b[0] == 0xff) {
        return address_scope::multicast;
    }
    if ((b[0] & 0xe0U) == 0x20) {
        return address_scope::global;
    }
    return address_scope::other;
}

const char* to_string(address_scope scope) {
    switch (scope) {
    case address_scope::global:
        return "global";
    case address_scope::unique_local:
        return "unique-local";
    case address_scope::link_local:
        return "link-local";
    case address_scope::loopback:
        return "loopback";
    case address_scope::multicast:
        return "multicast";
    case address_scope::unspecified:
        return "unspecified";
    case address_scope::other:
        return "other";
    }
    return "other";
}

} // namespace dockgate
