// Reading ufw's tuple lines, including hex comments and the tuple fields dockgate writes.
#include "dockgate/ufw/rules_file.hpp"

#include <algorithm>

namespace dockgate {

std::string ufw_match_key(std::string_view tuple) {
    const auto space = tuple.find(' ');
    return (tuple.starts_with("route:") ? "route" : "in") +
           std::string(tuple.substr(space == std::string_view::npos ? tuple.size() : space));
}

std::string encode_hex_comment(std::string_view text) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        out += digits[byte >> 4U];
        out += digits[byte & 0x0fU];
    }
    return out;
}

std::optional<std::string> decode_hex_comment(std::string_view hex) {
    if (hex.size() % 2 != 0) {
        return std::nullopt;
    }
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') {
            return c - '0';
        }
        if (c >= 'a' && c <= 'f') {
            return c - 'a' + 10;
        }
        if (c >= 'A' && c <= 'F') {
            return c - 'A' + 10;
        }
        return -1;
    };
    std::string out;
    for (std::size_t i = 0; i < hex.size(); i += 2) {
        const int hi = nibble(hex[i]);
        const int lo = nibble(hex[i + 1]);
        if (hi < 0 || lo < 0) {
            return std::nullopt;
        }
        out += static_cast<char>(hi * 16 + lo);
    }
    return out;
}

namespace {

std::vector<std::string_view> fields_of(std::string_view text) {
    std::vector<std::string_view> fields;
    std::size_t pos = 0;
    while (pos < text.size()) {
        while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\t')) {
            ++pos;
        }
        const auto start = pos;
        while (pos < text.size() && text[pos] != ' ' && text[pos] != '\t') {
            ++pos;
        }
        if (pos > start) {
            fields.push_back(text.substr(start, pos - start));
        }
    }
    return fields;
}

} // namespace

std::optional<rule> parse_tuple(std::string_view tuple) {
    const auto f = fields_of(tuple);
    // action proto dport dst sport src dir: the 7-field form without apps or interfaces.
    if (f.size() != 7 || f[4] != "any" || f[6] != "in") {
        return std::nullopt;
    }
    rule r;
    std::string_view action = f[0];
    if (action.starts_with("route:")) {
        r.kind = rule_kind::route;
        action.remove_prefix(6);
    } else {
        r.kind = rule_kind::input;
    }
    if (action.ends_with("_log")) {
        r.log = true;
        action.remove_suffix(4);
    }
    if (action == "allow") {
        r.action = rule_action::allow;
    } else if (action == "limit") {
        r.action = rule_action::limit;
    } else {
        return std::nullopt;
    }
    const auto proto = parse_protocol(f[1]);
    const auto port = parse_port_range(f[2]);
    const auto dst = parse_prefix(f[3]);
    const auto src = parse_prefix(f[5]);
    if (!proto || !port || !dst || !src || dst->v6 != src->v6) {
        return std::nullopt;
    }
    r.proto = *proto;
    r.port = *port;
    r.destination = *dst;
    r.source = *src;
    // Only canonical text round-trips; anything else is not a rule dockgate wrote.
    if (r.tuple() != std::string(tuple)) {
        return std::nullopt;
    }
    return r;
}

bool rules_text_complete(std::string_view text) {
    const auto last = text.find_last_not_of(" \t\r\n");
    if (last == std::string_view::npos) {
        return false;
    }
    const auto line_start = text.rfind('\n', last);
    auto line = text.substr(line_start == std::string_view::npos ? 0 : line_start + 1);
    line = line.substr(0, line.find('\n'));
    return line == "COMMIT" || line == "COMMIT\r";
}

rules_file_contents parse_rules_file(std::string_view text, bool parse_all) {
    constexpr std::string_view marker = "### tuple ###";
    rules_file_contents out;
    out.complete = rules_text_complete(text);
    int number = 0;
    for (std::size_t next = 0; next < text.size();) {
        const auto end = std::min(text.find('\n', next), text.size());
        const auto line = text.substr(next, end - next);
        next = end + 1;
        ++number;
        if (!line.starts_with(marker)) {
            continue;
        }
        std::string_view body = line;
        body.remove_prefix(marker.size());
        while (!body.empty() && body.front() == ' ') {
            body.remove_prefix(1);
        }
        while (!body.empty() && (body.back() == ' ' || body.back() == '\r')) {
            body.remove_suffix(1);
        }
        rules_file_entry entry;
        entry.line = number;
        if (const auto at = body.find(" comment="); at != std::string_view::npos) {
            const auto decoded = decode_hex_comment(body.substr(at + 9));
            if (decoded) {
                entry.comment = *decoded;
            } else {
                out.warnings.push_back("line " + std::to_string(number) +
                                       ": comment is not valid hex; treated as not dockgate's");
            }
            body = body.substr(0, at);
        }
        entry.tuple = std::string(body);
        const auto tag = owner_tag::parse(entry.comment);
        if (parse_all || tag) {
            entry.parsed = parse_tuple(body);
        }
        if (tag) {
            if (entry.parsed) {
                entry.owner = tag;
            } else {
                out.warnings.push_back("line " + std::to_string(number) +
                                       ": dockgate tag on a rule shape dockgate never writes; "
                                       "left alone");
            }
        }
        out.entries.push_back(std::move(entry));
    }
    return out;
}

} // namespace dockgate
