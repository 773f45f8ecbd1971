// Desired-versus-actual diff for dockgate-owned ufw rules.
#include "dockgate/reconcile/plan.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace dockgate {
namespace {

/// Adding a rule whose identity an admin rule already has would replace that rule in place.
std::string identity(std::string_view tuple) {
    return ufw_match_key(tuple);
}

} // namespace

const char* to_string(op_kind kind) {
    return kind == op_kind::add ? "add" : "remove";
}

rules_index index_rules(const rules_file_contents& actual) {
    rules_index index;
    index.foreign_matches.reserve(actual.entries.size());
    for (const auto& entry : actual.entries) {
        if (entry.owner) {
            index.owned.push_back(&entry);
        } else {
            index.foreign_matches.insert(identity(entry.tuple));
        }
    }
    return index;
}

plan make_plan(const std::vector<owned_rule>& desired, const rules_file_contents& actual) {
    return make_plan(desired, index_rules(actual));
}

plan make_plan(const std::vector<owned_rule>& desired, const rules_index& actual) {
    plan result;
    // The first desired owner of a tuple wins; a second container cannot want the same
    // destination address, so a clash only happens with stale data and is resolved next round.
    std::map<std::string, const owned_rule*> wanted;
    for (const auto& want : desired) {
        wanted.emplace(want.what.tuple(), &want);
    }
    std::map<std::string, const rules_file_entry*> ours;
    for (const auto* entry : actual.owned) {
        const auto tuple = entry->parsed->tuple();
        const auto [unused, first] = ours.emplace(tuple, entry);
        if (!first) {
            // ufw never stores two identical tuples itself; a hand edit could. Keep the first.
            result.ops.push_back({op_kind::remove, {*entry->parsed, *entry->owner}, "duplicate"});
            continue;
        }
        if (!wanted.contains(tuple)) {
            result.ops.push_back({op_kind::remove, {*entry->parsed, *entry->owner}, "stale"});
        }
    }
    for (const auto& [tuple, want] : wanted) {
        const auto existing = ours.find(tuple);
        if (existing != ours.end()) {
            if (!(existing->second->owner == want->owner)) {
                // Same address and port, new container: re-tag in place (ufw updates the comment
                // without a gap) instead of delete+add.
                result.ops.push_back({op_kind::add, *want, "owner changed"});
            }
            continue;
        }
        if (actual.foreign_matches.contains(identity(tuple))) {
            result.admin_covered.push_back(*want);
            continue;
        }
        result.ops.push_back({op_kind::add, *want, "missing"});
    }
    return result;
}

foreign_rule_set foreign_rules(const rules_file_contents& contents) {
    foreign_rule_set found;
    for (const auto& entry : contents.entries) {
        if (!entry.owner) {
            found.emplace(entry.tuple, entry.comment);
        }
    }
    return found;
}

namespace {

std::vector<std::string_view> split_words(std::string_view text) {
    std::vector<std::string_view> words;
    for (std::size_t at = 0; at < text.size();) {
        const auto end = std::min(text.find(' ', at), text.size());
        if (end > at) {
            words.push_back(text.substr(at, end - at));
        }
        at = end + 1;
    }
    return words;
}

/// A tuple as a rule rather than as text: what ufw matches on (no action, logging or comment),
/// with every address in canonical form, so that ufw rewriting a hand-made file in its own
/// form (2001:DB8::1 as 2001:db8::1, a /128 dropped) is not taken for rules going away.
std::string canonical_rule(std::string_view tuple) {
    std::string out;
    const auto key = ufw_match_key(tuple); // outlives the views split_words returns
    for (const auto& word : split_words(key)) {
        const auto address =
            word.find(':') != std::string_view::npos || word.find('.') != std::string_view::npos
                ? parse_prefix(word)
                : std::nullopt;
        out += (out.empty() ? "" : " ") + (address ? address->to_string() : std::string(word));
    }
    return out;
}

} // namespace

foreign_rule_set vanished_rules(const foreign_rule_set& before, const rules_file_contents& after) {
    // Most rules are still there word for word: only the others are put in canonical form,
    // so a reading costs a lookup per rule, not an address parse.
    std::unordered_set<std::string_view> verbatim;
    verbatim.reserve(after.entries.size());
    for (const auto& entry : after.entries) {
        verbatim.insert(entry.tuple);
    }
    std::vector<const std::pair<const std::string, std::string>*> unsure;
    for (const auto& rule : before) {
        if (!verbatim.contains(rule.first)) {
            unsure.push_back(&rule);
        }
    }
    foreign_rule_set gone;
    if (unsure.empty()) {
        return gone;
    }
    std::set<std::string> present;
    for (const auto& entry : after.entries) {
        present.insert(canonical_rule(entry.tuple));
    }
    for (const auto* rule : unsure) {
        if (!present.contains(canonical_rule(rule->first))) {
            gone.emplace(rule->first, rule->second);
        }
    }
    return gone;
}

} // namespace dockgate
