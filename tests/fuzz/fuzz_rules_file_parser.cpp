// libFuzzer target: ufw rules files (user6.rules, user.rules) through parse_rules_file and the
// batched path's document editor, and the same bytes as a single tuple, a hex comment and an
// owner tag.
//
// Ownership is what makes dockgate delete a rule, so the invariants are strict: an owned
// entry always has a parsed rule whose canonical tuple is exactly the text ufw stored.
#include "dockgate/model/rule.hpp"
#include "dockgate/ufw/rules_document.hpp"
#include "dockgate/ufw/rules_file.hpp"

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

/// The batched path rewrites user6.rules from this document: an unedited document must give the
/// input back byte for byte, and an edit must touch exactly one block and keep the file splittable.
void check_document(std::string_view text) {
    auto doc = parse_rules_document(text);
    if (!doc) {
        return;
    }
    FUZZ_CHECK(doc->render() == text);
    const auto blocks = doc->blocks.size();
    for (const auto& block : doc->blocks) {
        const auto parsed = parse_tuple(block.tuple);
        const auto comment = decode_hex_comment(block.comment_hex);
        const auto owner = comment ? owner_tag::parse(*comment) : std::nullopt;
        if (!parsed || !owner) {
            continue;
        }
        auto edited = *doc;
        const auto verdict =
            apply_to_document(edited, {op_kind::remove, {*parsed, *owner}, "fuzz"});
        FUZZ_CHECK(verdict.outcome == ufw_outcome::deleted && edited.blocks.size() == blocks - 1);
        const auto reparsed = parse_rules_document(edited.render());
        FUZZ_CHECK(reparsed && reparsed->blocks.size() == blocks - 1);
        break;
    }
    rule r;
    r.destination = *parse_prefix("2001:db8:f00::1");
    r.source = *parse_prefix("::/0");
    r.port = {80, 80};
    const auto verdict =
        apply_to_document(*doc, {op_kind::add, {r, {"0123456789ab", "fuzz"}}, "fuzz"});
    const auto reparsed = parse_rules_document(doc->render());
    FUZZ_CHECK(reparsed.has_value());
    FUZZ_CHECK(verdict.outcome != ufw_outcome::added || reparsed->blocks.size() == blocks + 1);
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
    check_document(text);

    if (const auto decoded = decode_hex_comment(text)) {
        FUZZ_CHECK(encode_hex_comment(*decoded) == lower(text));
    }
    if (const auto tag = owner_tag::parse(text)) {
        FUZZ_CHECK(tag->to_comment() == text);
    }
    return 0;
}
