// Classification of ufw's add/delete output.
#include "dockgate/ufw/ufw_output.hpp"

#include <array>
#include <utility>

namespace dockgate {

const char* to_string(ufw_outcome outcome) {
    switch (outcome) {
    case ufw_outcome::added:
        return "added";
    case ufw_outcome::updated:
        return "updated";
    case ufw_outcome::recorded:
        return "recorded (ufw inactive)";
    case ufw_outcome::already_present:
        return "already present";
    case ufw_outcome::deleted:
        return "deleted";
    case ufw_outcome::not_found:
        return "not found";
    case ufw_outcome::error:
        return "error";
    }
    return "error";
}

namespace {

std::string first_line_with(std::string_view text, std::string_view needle) {
    const auto at = text.find(needle);
    if (at == std::string_view::npos) {
        return {};
    }
    const auto end = text.find('\n', at);
    return std::string(
        text.substr(at, end == std::string_view::npos ? text.size() - at : end - at));
}

std::string bounded(std::string_view text) {
    std::string out(text.substr(0, 300));
    for (auto& c : out) {
        if (c == '\n') {
            c = ' ';
        }
    }
    return out;
}

} // namespace

ufw_verdict classify_ufw_output(int exit_code, std::string_view out, std::string_view err) {
    if (auto error_line = first_line_with(err, "ERROR:"); !error_line.empty()) {
        return {ufw_outcome::error, error_line};
    }
    if (exit_code != 0) {
        return {ufw_outcome::error,
                "exit code " + std::to_string(exit_code) + ": " + bounded(err.empty() ? out : err)};
    }
    // A normalisation warning means ufw stored something other than what was asked:
    // dockgate only sends canonical values, so this is a bug worth failing loudly on.
    if (auto warn_line = first_line_with(err, "WARN: Rule changed"); !warn_line.empty()) {
        return {ufw_outcome::error, warn_line};
    }
    static constexpr std::array<std::pair<std::string_view, ufw_outcome>, 6> known{{
        {"Skipping adding existing rule", ufw_outcome::already_present},
        {"Could not delete non-existent rule", ufw_outcome::not_found},
        {"Rule added", ufw_outcome::added},
        {"Rule updated", ufw_outcome::updated},
        {"Rules updated", ufw_outcome::recorded},
        {"Rule deleted", ufw_outcome::deleted},
    }};
    for (const auto& [text, outcome] : known) {
        if (out.find(text) != std::string_view::npos) {
            return {outcome, first_line_with(out, text)};
        }
    }
    return {ufw_outcome::error, "unrecognised output: " + bounded(out)};
}

} // namespace dockgate
