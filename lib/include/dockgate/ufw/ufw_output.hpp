// What a ufw run actually did, read from its output (its exit code alone does not tell).
#pragma once

#include <string>
#include <string_view>

namespace dockgate {

enum class ufw_outcome {
    added,           ///< "Rule added"
    updated,         ///< "Rule updated": same tuple, comment replaced
    recorded,        ///< "Rules updated": ufw inactive, written to the file only
    already_present, ///< "Skipping adding existing rule"
    deleted,         ///< "Rule deleted"
    not_found,       ///< "Could not delete non-existent rule"
    error,           ///< non-zero exit, "ERROR:", or output that confirms nothing
};
const char* to_string(ufw_outcome outcome);

struct ufw_verdict {
    ufw_outcome outcome = ufw_outcome::error;
    std::string detail; ///< the ERROR/WARN line or unexpected output, for logs
};

/// Classifies one ufw add/delete run from its exit code and output.
ufw_verdict classify_ufw_output(int exit_code, std::string_view out, std::string_view err);

} // namespace dockgate
