// Parser for ufw's own rules files (user6.rules, user.rules): the inventory of what exists.
#pragma once

#include "dockgate/model/rule.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dockgate {

/// One "### tuple ###" line of a ufw rules file.
struct rules_file_entry {
    int line = 0;
    std::string tuple;              ///< the tuple text without " comment=..."
    std::string comment;            ///< decoded comment text (empty when none or undecodable)
    std::optional<owner_tag> owner; ///< set only when the comment is a valid dockgate tag
    std::optional<rule> parsed;     ///< set only for tuple shapes dockgate itself writes (and,
                                    ///< unless parsed in full, only with a dockgate tag)
};

struct rules_file_contents {
    std::vector<rules_file_entry> entries;
    std::vector<std::string> warnings; ///< "line N: reason" for lines that could not be read
    /// The last line that is not blank is COMMIT. ufw rewrites its rules files in place
    /// (truncate, then write), so a read at that moment sees a file cut short.
    bool complete = false;
    /// A fingerprint of the files' text it was read from: equal versions, equal contents.
    /// 0 when not known (every reading then counts as new).
    std::uint64_t version = 0;
    /// Set by firewall::read_rules_since when the files are still at the version the caller
    /// has: then nothing else is filled in.
    bool unchanged = false;
};

/// Whether the last line of `text` that is not blank is COMMIT (a file ufw finished writing).
bool rules_text_complete(std::string_view text);

/// Parses a rules file. Lines that are not tuples are ignored; malformed tuples become warnings
/// and are never treated as dockgate's.
/// `parse_all` false: `parsed` is filled in only for entries with a dockgate tag (the only
/// ones a plan uses), which keeps reading 10,000 admin rules cheap.
rules_file_contents parse_rules_file(std::string_view text, bool parse_all = true);

/// Parses a tuple ("route:allow tcp 80 2001:db8::1 any ::/0 in") of a shape dockgate writes.
std::optional<rule> parse_tuple(std::string_view tuple);

/// What ufw compares when it matches rules (UFWRule.match): the tuple without action, logging
/// and comment, e.g. "route tcp 80 2001:db8::1 any ::/0 in". Adding a rule whose key a rule
/// already has makes ufw replace that rule in place ("Rule updated"), whoever it belongs to.
std::string ufw_match_key(std::string_view tuple);

/// ufw's comment encoding (util.hex_encode): lower-case hex of the UTF-8 bytes.
std::string encode_hex_comment(std::string_view text);

/// Decodes ufw's hex comment encoding; nullopt when the text is not valid hex.
std::optional<std::string> decode_hex_comment(std::string_view hex);

} // namespace dockgate
