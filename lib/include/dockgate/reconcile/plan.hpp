// The reconciler's pure core: desired rules versus rules found in ufw, as a minimal plan.
#pragma once

#include "dockgate/model/rule.hpp"
#include "dockgate/ufw/rules_file.hpp"

#include <map>
#include <string>
#include <unordered_set>
#include <vector>

namespace dockgate {

enum class op_kind {
    remove, ///< delete a dockgate rule that no running container wants
    add,    ///< add a missing rule, or re-tag a rule now wanted by another container
};
const char* to_string(op_kind kind);

struct rule_op {
    op_kind kind = op_kind::add;
    owned_rule target;
    std::string reason; ///< "missing", "stale", "owner changed", "duplicate"
    friend bool operator==(const rule_op&, const rule_op&) = default;
};

struct plan {
    std::vector<rule_op> ops;              ///< removals first: stale access closes first
    std::vector<owned_rule> admin_covered; ///< wanted, but an admin rule for the same tuple exists
    [[nodiscard]] bool empty() const { return ops.empty(); }
};

/// What a plan needs of one reading of ufw's rules, built once per reading: the match keys of
/// the rules dockgate does not own, and dockgate's own entries (pointers into the reading,
/// which must outlive the index).
struct rules_index {
    std::unordered_set<std::string> foreign_matches;
    std::vector<const rules_file_entry*> owned;
};
rules_index index_rules(const rules_file_contents& actual);

/// make_plan on an index: time linear in desired and dockgate's own rules, whatever the number
/// of the admin's.
plan make_plan(const std::vector<owned_rule>& desired, const rules_index& actual);

/// Computes the operations that turn `actual` into `desired`. Entries without a valid dockgate
/// tag are never removed or re-tagged; a desired rule that ufw would match with one of them (the
/// same tuple, whatever the action or logging) is not added, since ufw would overwrite it.
plan make_plan(const std::vector<owned_rule>& desired, const rules_file_contents& actual);

/// The rules dockgate does not own (the admin's), tuple to comment: kept from one read of
/// ufw's rules to compare the next one with.
using foreign_rule_set = std::map<std::string, std::string>;
foreign_rule_set foreign_rules(const rules_file_contents& contents);

/// The rules of `before` whose tuple `after` no longer holds at all. A rule whose comment
/// changed, or that now carries any other comment, is still there.
foreign_rule_set vanished_rules(const foreign_rule_set& before, const rules_file_contents& after);

} // namespace dockgate
