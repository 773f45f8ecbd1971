// Small text helpers shared by the parsers of untrusted input (labels, HTTP heads) and its logging.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace dockgate {

/// `text` without leading and trailing spaces and tabs.
constexpr std::string_view trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
        text.remove_prefix(1);
    }
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
        text.remove_suffix(1);
    }
    return text;
}

/// The most bytes of untrusted text that printable() keeps.
inline constexpr std::size_t printable_max = 128;

/// Whether printable() says that it cut the text: "..." after the kept bytes, or nothing (a
/// name that is also matched against the policy keeps its first bytes only).
enum class cut_mark { ellipsis, none };

/// Untrusted text made safe to show in a log line, status or the terminal: at most
/// printable_max bytes, control and non-ASCII bytes as '?' (a newline cannot forge a log line,
/// an ESC cannot drive the terminal), so a huge or binary value stays readable.
std::string printable(std::string_view text, cut_mark mark = cut_mark::ellipsis);

} // namespace dockgate
