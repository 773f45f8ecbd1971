// libFuzzer target: ufw rules files (user6.rules, user.rules) through parse_rules_file, and
// the same bytes as a single tuple, a hex comment and an owner tag.
//
// Ownership is what makes dockgate delete a rule, so the invariants are strict: an owned
// entry always has a parsed rule whose canonical tuple is exactly the text ufw stored.
#include "dockgate/rule.hpp"
#include "dockgate/rules_file.hpp"

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"

namespace {

using namespace dockgate;

std::string lower(std::string_view text) {
    std::string out(text);
    for (auto& c : out) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return out;
}

void check_tuple(std::string_view text) {
    const auto r = parse_tuple(text);
    if (!r) {
        return;
    }
    FUZZ_CHECK(r->tuple() == text && parse_tuple(r->tuple()) == r);
    FUZZ_CHECK(r->port.first >= 1 && r->port.first <= r->port.last);
    FUZZ_CHECK(r->destination.v6 == r->source.v6);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);

    const auto contents = parse_rules_file(text);
    int last_line = 0;
    for (const auto& entry : contents.entries) {
        FUZZ_CHECK(entry.line > last_line);
        last_line = entry.line;
        FUZZ_CHECK(!entry.owner || entry.parsed);
        FUZZ_CHECK(!entry.parsed || entry.parsed->tuple() == entry.tuple);
        FUZZ_CHECK(!entry.owner || (owner_tag::parse(entry.comment) == entry.owner &&
                                    entry.owner->to_comment() == entry.comment));
    }

    check_tuple(text);

    if (const auto decoded = decode_hex_comment(text)) {
        FUZZ_CHECK(encode_hex_comment(*decoded) == lower(text));
    }
    if (const auto tag = owner_tag::parse(text)) {
        FUZZ_CHECK(tag->to_comment() == text);
    }
    return 0;
}
