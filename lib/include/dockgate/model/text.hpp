// Small text helpers shared by the parsers of untrusted input (labels, HTTP heads).
#pragma once

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

} // namespace dockgate
