// Desired-versus-actual diff for dockgate-owned ufw rules.
#include "dockgate/plan.hpp"

#include <map>
#include <set>

namespace dockgate {
namespace {

/// Adding a rule whose identity an admin rule already has would replace that rule in place.
std::string identity(std::string_view tuple) { return ufw_match_key(tuple); }

} // namespace

const char* to_string(op_kind kind) { return kind == op_kind::add ? "add" : "remove"; }

plan make_plan(const std::vector<owned_rule>& desired, const rules_file_contents& actual) {
    plan result;
    // The first desired owner of a tuple wins; a second container cannot want the same
    // destination address, so a clash only happens with stale data and is resolved next round.
    std::map<std::string, const owned_rule*> wanted;
    for (const auto& want : desired) {
        wanted.emplace(want.what.tuple(), &want);
    }
    std::set<std::string> foreign_tuples;
    std::map<std::string, const rules_file_entry*> ours;
    for (const auto& entry : actual.entries) {
        if (!entry.owner) {
            foreign_tuples.insert(identity(entry.tuple));
            continue;
        }
        const auto tuple = entry.parsed->tuple();
        const auto [unused, first] = ours.emplace(tuple, &entry);
        if (!first) {
            // ufw never stores two identical tuples itself; a hand edit could. Keep the first.
            result.ops.push_back({op_kind::remove, {*entry.parsed, *entry.owner}, "duplicate"});
            continue;
        }
        if (!wanted.contains(tuple)) {
            result.ops.push_back({op_kind::remove, {*entry.parsed, *entry.owner}, "stale"});
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
        if (foreign_tuples.contains(identity(tuple))) {
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

foreign_rule_set vanished_rules(const foreign_rule_set& before, const rules_file_contents& after) {
    std::set<std::string> present;
    for (const auto& entry : after.entries) {
        present.insert(entry.tuple);
    }
    foreign_rule_set gone;
    for (const auto& [tuple, comment] : before) {
        if (!present.contains(tuple)) {
            gone.emplace(tuple, comment);
        }
    }
    return gone;
}

} // namespace dockgate
