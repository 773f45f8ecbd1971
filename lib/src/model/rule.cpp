// Canonical rule forms: ufw's tuple text, CLI arguments, and the ownership tag.
#include "dockgate/model/rule.hpp"

#include <algorithm>
#include <charconv>

namespace dockgate {

const char* to_string(protocol p) {
    return p == protocol::udp ? "udp" : "tcp";
}

std::optional<protocol> parse_protocol(std::string_view text) {
    if (text == "tcp") {
        return protocol::tcp;
    }
    if (text == "udp") {
        return protocol::udp;
    }
    return std::nullopt;
}

std::string port_range::to_string() const {
    if (first == last) {
        return std::to_string(first);
    }
    return std::to_string(first) + ":" + std::to_string(last);
}

std::optional<std::uint16_t> parse_port(std::string_view text, std::string* why) {
    auto fail = [why](const char* reason) -> std::optional<std::uint16_t> {
        if (why != nullptr) {
            *why = reason;
        }
        return std::nullopt;
    };
    if (text.empty() || text.size() > 5 ||
        !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return fail("port is not a decimal number");
    }
    if (text[0] == '0' && text.size() > 1) {
        return fail("port has a leading zero");
    }
    unsigned value = 0;
    std::from_chars(text.data(), text.data() + text.size(), value);
    if (value < 1 || value > 65535) {
        return fail("port is outside 1-65535");
    }
    return static_cast<std::uint16_t>(value);
}

std::optional<port_range> parse_port_range(std::string_view text) {
    const auto colon = text.find(':');
    const auto first = parse_port(text.substr(0, colon));
    if (!first) {
        return std::nullopt;
    }
    if (colon == std::string_view::npos) {
        return port_range{*first, *first};
    }
    const auto last = parse_port(text.substr(colon + 1));
    if (!last || *last <= *first) {
        return std::nullopt;
    }
    return port_range{*first, *last};
}

namespace {

bool is_hex_id(std::string_view s) {
    return std::all_of(s.begin(), s.end(),
                       [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
}

constexpr std::string_view tag_prefix = "dockgate:";
constexpr std::size_t short_id_length = 12;
constexpr std::size_t max_name_length = 64;

} // namespace

std::string owner_tag::to_comment() const {
    return std::string(tag_prefix) + short_id + ":" + name;
}

std::optional<owner_tag> owner_tag::parse(std::string_view comment) {
    if (!comment.starts_with(tag_prefix)) {
        return std::nullopt;
    }
    comment.remove_prefix(tag_prefix.size());
    if (comment.size() < short_id_length + 2 || comment[short_id_length] != ':') {
        return std::nullopt;
    }
    const std::string_view id = comment.substr(0, short_id_length);
    const std::string_view name = comment.substr(short_id_length + 1);
    if (!is_hex_id(id) || name.size() > max_name_length ||
        !std::all_of(name.begin(), name.end(), is_name_char)) {
        return std::nullopt;
    }
    return owner_tag{std::string(id), std::string(name)};
}

std::optional<owner_tag> owner_tag::from_container(std::string_view id, std::string_view name) {
    if (id.size() < short_id_length || !is_hex_id(id)) {
        return std::nullopt;
    }
    if (name.starts_with('/')) {
        name.remove_prefix(1);
    }
    std::string clean;
    for (const char c : name.substr(0, max_name_length)) {
        clean += is_name_char(c) ? c : '_';
    }
    if (clean.empty()) {
        clean = "_";
    }
    return owner_tag{std::string(id.substr(0, short_id_length)), clean};
}

std::string rule::tuple() const {
    std::string action_text = action == rule_action::limit ? "limit" : "allow";
    if (log) {
        action_text += "_log";
    }
    if (kind == rule_kind::route) {
        action_text = "route:" + action_text;
    }
    return action_text + " " + to_string(proto) + " " + port.to_string() + " " +
           destination.to_string() + " any " + source.to_string() + " in";
}

std::string rule::describe() const {
    std::string out = kind == rule_kind::route ? "route " : "in ";
    out += action == rule_action::limit ? "limit" : "allow";
    if (log) {
        out += " log";
    }
    out += std::string(" ") + to_string(proto) + " from " +
           (source.is_any() ? std::string("any") : source.to_string()) + " to " +
           destination.to_string() + " port " + port.to_string();
    return out;
}

namespace {

std::vector<std::string> rule_body(const rule& r) {
    std::vector<std::string> args;
    if (r.kind == rule_kind::route) {
        args.emplace_back("route");
    }
    return args;
}

void append_match(std::vector<std::string>& args, const rule& r, const std::string& comment) {
    args.emplace_back(r.action == rule_action::limit ? "limit" : "allow");
    if (r.log) {
        args.emplace_back("log");
    }
    args.insert(args.end(),
                {"proto", to_string(r.proto), "from",
                 r.source.is_any() ? std::string("any") : r.source.to_string(), "to",
                 r.destination.to_string(), "port", r.port.to_string(), "comment", comment});
}

} // namespace

std::vector<std::string> rule::ufw_add_args(const std::string& comment) const {
    auto args = rule_body(*this);
    append_match(args, *this, comment);
    return args;
}

std::vector<std::string> rule::ufw_delete_args(const std::string& comment) const {
    auto args = rule_body(*this);
    args.emplace_back("delete");
    append_match(args, *this, comment);
    return args;
}

} // namespace dockgate
