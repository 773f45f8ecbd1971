// The executor's own check of every add: only rules some container's labels could get under the
// policy.
#pragma once

#include "dockgate/model/rule.hpp"
#include "dockgate/policy/policy.hpp"
#include "dockgate/ufw/rules_file.hpp"

#include <cstddef>
#include <map>
#include <optional>
#include <string>

namespace dockgate {

/// Why `candidate` could not have come from `pol` through any container's labels (see
/// labels.cpp), or nullopt when it could. Pure. The watcher is assumed compromised, so the
/// executor asks this of every add it is sent:
/// * a route rule's destination is one address within the policy's `prefixes` (IPv4 only with
///   `manage_ipv4`, and then within its IPv4 prefixes when it lists any); IPv4-mapped IPv6
///   addresses never;
/// * an input (published-port) rule only with `allow_publish`, to ::/0 (0.0.0.0/0 only with
///   `manage_ipv4`), for one port;
/// * port and protocol exactly one of a profile's port specs (route rules), or what a label may
///   name: open mode (or a published port), within `allowed_ports` when that is not empty and
///   clear of `denied_ports`;
/// * the source any, or within the policy's `sources`, or the profile's `from` for a profile's
///   port; "any" only when one of those lists holds any;
/// * rate limiting and logging are label flags (fw.limit, fw.log) any container may set, so
///   they never make a rule refusable by themselves.
std::optional<std::string> refuse_rule(const owned_rule& candidate, const policy& pol);

/// The caps on how many rules carrying dockgate's tag ufw holds: per owner (container short id)
/// `max_rules_per_container`, in all `max_rules_total`. Counted from ufw's rules files as read
/// before a request, then kept up to date with what that request admits and removes.
class rule_budget {
  public:
    explicit rule_budget(const rules_file_contents& current);
    /// Why adding `candidate` would go over a cap; otherwise counts it and returns nullopt. An
    /// add that replaces one of dockgate's rules of the same match (a re-tag) adds nothing to
    /// the total.
    std::optional<std::string> admit(const owned_rule& candidate, const policy& pol);
    /// A remove of one of dockgate's rules frees its place.
    void release(const owned_rule& removed);
    [[nodiscard]] std::size_t total() const { return owner_of_match_.size(); }

  private:
    std::map<std::string, std::string> owner_of_match_; ///< ufw_match_key -> owner short id
    std::map<std::string, std::size_t> count_of_owner_;
};

} // namespace dockgate
