// Editing ufw's user6.rules the way ufw's _write_rules() writes it, and checking that against ufw.
#include "dockgate/ufw/rules_document.hpp"

#include "dockgate/ufw/rules_file.hpp"

#include <algorithm>
#include <sstream>
#include <unordered_set>

namespace dockgate {
namespace {

constexpr std::string_view rules_begin = "### RULES ###\n";
constexpr std::string_view rules_end = "\n### END RULES ###\n";
constexpr std::string_view tuple_start = "\n### tuple ### ";
constexpr std::string_view comment_field = " comment=";

int line_of(std::string_view text, std::size_t offset) {
    return 1 + static_cast<int>(
                   std::count(text.begin(), text.begin() + static_cast<long>(offset), '\n'));
}

rules_block make_block(std::string text) {
    rules_block block;
    const auto line_end = text.find('\n', tuple_start.size());
    std::string tuple_line = text.substr(tuple_start.size(), line_end - tuple_start.size());
    if (const auto at = tuple_line.find(comment_field); at != std::string::npos) {
        block.comment_hex = tuple_line.substr(at + comment_field.size());
        tuple_line.resize(at);
    }
    block.tuple = std::move(tuple_line);
    block.text = std::move(text);
    return block;
}

/// ufw decodes the hex comment case-insensitively, so `3A` and `3a` are the same comment.
bool same_comment(const rules_block& block, std::string_view comment) {
    return decode_hex_comment(block.comment_hex) == comment;
}

/// Header or footer without the rate-limit chains a dry run never writes.
std::string without_limit_parts(std::string text) {
    for (const std::string_view line :
         {":ufw6-user-limit - [0:0]\n", ":ufw6-user-limit-accept - [0:0]\n"}) {
        if (const auto at = text.find(line); at != std::string::npos) {
            text.erase(at, line.size());
        }
    }
    constexpr std::string_view section = "\n### RATE LIMITING ###\n";
    constexpr std::string_view section_end = "### END RATE LIMITING ###\n";
    if (const auto at = text.find(section); at != std::string::npos) {
        if (const auto end = text.find(section_end, at); end != std::string::npos) {
            text.erase(at, end + section_end.size() - at);
        }
    }
    return text;
}

std::string first_difference(std::string_view what, std::string_view ours,
                             std::string_view theirs) {
    std::istringstream a{std::string(ours)};
    std::istringstream b{std::string(theirs)};
    std::string line_a;
    std::string line_b;
    for (int line = 1;; ++line) {
        const bool more_a = static_cast<bool>(std::getline(a, line_a));
        const bool more_b = static_cast<bool>(std::getline(b, line_b));
        if (!more_a && !more_b) {
            return std::string(what) + " differ in line endings";
        }
        if (!more_a || !more_b || line_a != line_b) {
            return std::string(what) + " line " + std::to_string(line) + ": dockgate '" +
                   (more_a ? line_a : "<end>") + "', ufw '" + (more_b ? line_b : "<end>") + "'";
        }
    }
}

} // namespace

std::string rules_document::render_rules() const {
    std::string out;
    std::size_t size = 0;
    for (const auto& block : blocks) {
        size += block.text.size();
    }
    out.reserve(size);
    for (const auto& block : blocks) {
        out += block.text;
    }
    return out;
}

std::string rules_document::render() const {
    // Sized first: one allocation of the file's size rather than a doubling string.
    std::size_t size = header.size() + footer.size();
    for (const auto& block : blocks) {
        size += block.text.size();
    }
    std::string out;
    out.reserve(size);
    out += header;
    for (const auto& block : blocks) {
        out += block.text;
    }
    out += footer;
    return out;
}

std::optional<rules_document> parse_rules_document(std::string_view text, std::string* why) {
    auto fail = [why](std::string reason) -> std::optional<rules_document> {
        if (why != nullptr) {
            *why = std::move(reason);
        }
        return std::nullopt;
    };
    const auto begin = text.find(rules_begin);
    if (begin == std::string_view::npos || (begin != 0 && text[begin - 1] != '\n')) {
        return fail("no '### RULES ###' line");
    }
    const auto body_start = begin + rules_begin.size();
    const auto end = text.find(rules_end, body_start);
    if (end == std::string_view::npos) {
        return fail("no blank line and '### END RULES ###' line after '### RULES ###'");
    }
    rules_document doc;
    doc.header = std::string(text.substr(0, body_start));
    doc.footer = std::string(text.substr(end));
    if (end == body_start) {
        return doc;
    }
    const std::string_view body = text.substr(body_start, end - body_start);
    if (!body.starts_with(tuple_start)) {
        return fail("line " + std::to_string(line_of(text, body_start)) +
                    ": expected a blank line and a '### tuple ###' line");
    }
    std::size_t at = 0;
    while (at < body.size()) {
        auto next = body.find(tuple_start, at + 1);
        if (next == std::string_view::npos) {
            next = body.size();
        }
        std::string block_text(body.substr(at, next - at));
        if (block_text.find('\n', tuple_start.size()) == std::string::npos) {
            return fail("line " + std::to_string(line_of(text, body_start + at) + 1) +
                        ": tuple line without its rule lines");
        }
        doc.blocks.push_back(make_block(std::move(block_text)));
        at = next;
    }
    return doc;
}

bool batchable(const rule& r) {
    return r.action == rule_action::allow && r.destination.v6 && r.source.v6;
}

std::string render_rule_block(const rule& r, std::string_view comment) {
    std::string out = std::string(tuple_start) + r.tuple();
    if (!comment.empty()) {
        out += std::string(comment_field) + encode_hex_comment(comment);
    }
    out += '\n';
    const std::string suffix = r.kind == rule_kind::route ? "forward" : "input";
    const std::string chain = "ufw6-user-" + suffix;
    const std::string log_chain = "ufw6-user-logging-" + suffix;
    // The order of the matches is format_rule()'s: protocol, multiport, -d, --dport, -s.
    std::string match = std::string("-p ") + to_string(r.proto);
    const bool multiport = r.port.first != r.port.last;
    if (multiport) {
        match += " -m multiport --dports " + r.port.to_string();
    }
    if (!r.destination.is_any()) {
        match += " -d " + r.destination.to_string();
    }
    if (!multiport) {
        match += " --dport " + r.port.to_string();
    }
    if (!r.source.is_any()) {
        match += " -s " + r.source.to_string();
    }
    if (r.log) {
        out += "-A " + log_chain + " " + match +
               " -m conntrack --ctstate NEW -m limit --limit 3/min --limit-burst 10 -j LOG "
               "--log-prefix \"[UFW ALLOW] \"\n";
        out += "-A " + log_chain + " " + match + " -j RETURN\n";
        out += "-A " + chain + " " + match + " -j " + log_chain + "\n";
    }
    out += "-A " + chain + " " + match + " -j ACCEPT\n";
    return out;
}

bool owned_by_dockgate(const rules_block& block) {
    const auto comment = decode_hex_comment(block.comment_hex);
    return comment && owner_tag::parse(*comment).has_value() &&
           parse_tuple(block.tuple).has_value();
}

document_editor::document_editor(rules_document& doc, const std::vector<rule_op>& ops)
    : doc_(doc), slots_(doc.blocks.size()) {
    // Only blocks that one of the operations can touch are indexed: one pass that allocates
    // nothing for the others, so the admin's thousands of rules cost a comparison each.
    std::vector<std::string> tuples;
    tuples.reserve(ops.size());
    for (const auto& op : ops) {
        tuples.push_back(op.target.what.tuple());
    }
    auto tail = [](std::string_view tuple) {
        const auto space = tuple.find(' ');
        return space == std::string_view::npos ? std::string_view{} : tuple.substr(space);
    };
    std::unordered_set<std::string_view> wanted_tuples;
    std::unordered_set<std::string_view> wanted_tails; // ufw_match_key without the class
    for (const auto& tuple : tuples) {
        wanted_tuples.insert(tuple);
        wanted_tails.insert(tail(tuple));
    }
    for (std::size_t at = 0; at < doc.blocks.size(); ++at) {
        const auto& tuple = doc.blocks[at].tuple;
        if (wanted_tails.contains(tail(tuple)) || wanted_tuples.contains(tuple)) {
            index_block(at);
        }
    }
}

void document_editor::index_block(std::size_t at) {
    // Matched the way ufw matches (ufw_match_key): every tuple, also shapes dockgate never
    // writes (logging "log-all", say), so that no rule without dockgate's tag is ever replaced.
    by_match_.emplace(ufw_match_key(doc_.blocks[at].tuple), at);
    by_tuple_.emplace(doc_.blocks[at].tuple, at);
}

template <typename Accept>
std::optional<std::size_t>
document_editor::first(const std::unordered_multimap<std::string, std::size_t>& index,
                       const std::string& key, Accept accept) const {
    // An index entry may be stale (its block replaced or removed since): `accept` checks the
    // block as it is now. The lowest position wins, as ufw walks the list in order.
    std::optional<std::size_t> found;
    const auto [begin, end] = index.equal_range(key);
    for (auto it = begin; it != end; ++it) {
        const auto at = it->second;
        if (slots_[at].alive && (!found || at < *found) && accept(doc_.blocks[at])) {
            found = at;
        }
    }
    return found;
}

ufw_verdict document_editor::apply(const rule_op& op) {
    const auto& wanted = op.target.what;
    const auto tuple = wanted.tuple();
    const auto comment = op.target.owner.to_comment();
    if (op.kind == op_kind::remove) {
        const auto found = first(by_tuple_, tuple, [&](const rules_block& b) {
            return b.tuple == tuple && same_comment(b, comment);
        });
        if (!found) {
            return {ufw_outcome::not_found, {}};
        }
        slots_[*found].alive = false;
        return {ufw_outcome::deleted, {}};
    }
    if (!batchable(wanted)) {
        return {ufw_outcome::error, "not a rule the generator writes: " + wanted.describe()};
    }
    const auto wanted_match = ufw_match_key(tuple);
    const auto found = first(by_match_, wanted_match, [&](const rules_block& b) {
        return ufw_match_key(b.tuple) == wanted_match;
    });
    if (found) {
        auto& block = doc_.blocks[*found];
        if (block.tuple == tuple && same_comment(block, comment)) {
            return {ufw_outcome::already_present, {}};
        }
        if (!owned_by_dockgate(block)) {
            return {ufw_outcome::error,
                    "a rule that is not dockgate's has the same match: " + block.tuple};
        }
        auto& state = slots_[*found];
        if (!state.appended && !state.original) {
            state.original = block;
        }
        block = make_block(render_rule_block(wanted, comment));
        by_tuple_.emplace(block.tuple, *found);
        return {ufw_outcome::updated, {}};
    }
    doc_.blocks.push_back(make_block(render_rule_block(wanted, comment)));
    slots_.push_back({true, true, std::nullopt});
    index_block(doc_.blocks.size() - 1);
    return {ufw_outcome::added, {}};
}

document_changes document_editor::finish() {
    document_changes changes;
    // Compacted in place: blocks before the first removed one are not touched at all.
    std::size_t kept = 0;
    for (std::size_t at = 0; at < doc_.blocks.size(); ++at) {
        auto& state = slots_[at];
        auto& block = doc_.blocks[at];
        if (!state.alive) {
            if (!state.appended) {
                changes.removed.push_back(state.original ? std::move(*state.original)
                                                         : std::move(block));
            }
            continue;
        }
        if (!state.appended) {
            if (state.original && state.original->text != block.text) {
                changes.replaced.emplace_back(std::move(*state.original), block);
            }
            ++changes.first_appended;
        }
        if (kept != at) {
            doc_.blocks[kept] = std::move(block);
        }
        ++kept;
    }
    doc_.blocks.resize(kept);
    slots_.clear();
    by_match_.clear();
    by_tuple_.clear();
    return changes;
}

ufw_verdict apply_to_document(rules_document& doc, const rule_op& op) {
    document_editor editor(doc, {op});
    auto verdict = editor.apply(op);
    editor.finish();
    return verdict;
}

std::optional<std::string> compare_with_dry_run(const rules_document& ours,
                                                std::string_view dry_run_output) {
    constexpr std::string_view commit = "\nCOMMIT\n";
    const auto commit_at = dry_run_output.find(commit);
    if (!dry_run_output.starts_with("*filter\n") || commit_at == std::string_view::npos) {
        const auto first_line = dry_run_output.substr(0, dry_run_output.find('\n'));
        return "ufw --dry-run printed no rules file (first line: '" + std::string(first_line) +
               "')";
    }
    std::string why;
    const auto theirs =
        parse_rules_document(dry_run_output.substr(0, commit_at + commit.size()), &why);
    if (!theirs) {
        return "ufw --dry-run output: " + why;
    }
    if (ours.render_rules() != theirs->render_rules()) {
        return first_difference("rules", ours.render_rules(), theirs->render_rules());
    }
    if (without_limit_parts(ours.header) != without_limit_parts(theirs->header)) {
        return first_difference("header", without_limit_parts(ours.header),
                                without_limit_parts(theirs->header));
    }
    if (without_limit_parts(ours.footer) != without_limit_parts(theirs->footer)) {
        return first_difference("footer", without_limit_parts(ours.footer),
                                without_limit_parts(theirs->footer));
    }
    return std::nullopt;
}

} // namespace dockgate
