// The executor's policy check of every add, and the per-owner and total rule caps.
#include "dockgate/policy/rule_guard.hpp"

#include <algorithm>

namespace dockgate {
namespace {

bool any_is_any(const std::vector<ip_prefix>& prefixes) {
    return std::any_of(prefixes.begin(), prefixes.end(),
                       [](const ip_prefix& p) { return p.is_any(); });
}

/// A source that a list of prefixes lets through, the way labels.cpp uses them: "any" comes
/// only from an "any" in the list (of either family: labels.cpp turns it into the
/// destination's family), anything else must lie within one of them.
bool source_within(const ip_prefix& source, const std::vector<ip_prefix>& allowed) {
    if (source.is_any()) {
        return any_is_any(allowed);
    }
    return std::any_of(allowed.begin(), allowed.end(),
                       [&](const ip_prefix& p) { return source.within(p); });
}

bool ipv4_mapped(const ip_prefix& address) {
    static const auto mapped = *parse_prefix("::ffff:0:0/96");
    return address.v6 && address.within(mapped);
}

std::string list_of(const std::vector<ip_prefix>& prefixes) {
    std::string out;
    for (const auto& p : prefixes) {
        out += (out.empty() ? "" : ", ") + p.to_string();
    }
    return out.empty() ? "none" : out;
}

std::optional<std::string> refuse_destination(const rule& r, const policy& pol) {
    const auto& dst = r.destination;
    if (ipv4_mapped(dst)) {
        return "IPv4-mapped destination " + dst.to_string() + " is never a container address";
    }
    if (!dst.v6 && !pol.manage_ipv4) {
        return "IPv4 rule, but the policy's manage_ipv4 is false";
    }
    if (r.kind == rule_kind::input) {
        if (!pol.allow_publish) {
            return "published-port rule, but the policy's allow_publish is false";
        }
        if (!dst.is_any() || !dst.v6) {
            // fw.publish only ever opens ::/0 (IPv6): an IPv4 one no label can ask for.
            return "a published-port rule's destination must be ::/0";
        }
        return std::nullopt;
    }
    if (!dst.is_host()) {
        return "a route rule's destination must be one container address";
    }
    const auto scope = scope_of(dst);
    if (scope == address_scope::link_local || scope == address_scope::loopback ||
        scope == address_scope::multicast || scope == address_scope::unspecified) {
        return "destination " + dst.to_string() + " is " + to_string(scope);
    }
    std::vector<ip_prefix> same_family;
    std::copy_if(pol.prefixes.begin(), pol.prefixes.end(), std::back_inserter(same_family),
                 [&](const ip_prefix& p) { return p.v6 == dst.v6; });
    // IPv4 addresses qualify without an IPv4 prefix in the policy (labels.cpp does the same).
    if ((dst.v6 || !same_family.empty()) &&
        std::none_of(same_family.begin(), same_family.end(),
                     [&](const ip_prefix& p) { return dst.within(p); })) {
        return "destination " + dst.to_string() + " is outside the policy's prefixes (" +
               list_of(pol.prefixes) + ")";
    }
    return std::nullopt;
}

/// labels.cpp's port_refusal(): what a label may name directly.
std::optional<std::string> refuse_label_port(const port_spec& spec, const policy& pol) {
    for (const auto& denied : pol.denied_ports) {
        if (denied.proto == spec.proto && denied.ports.overlaps(spec.ports)) {
            return spec.to_string() + " is denied by the policy (" + denied.to_string() + ")";
        }
    }
    if (!pol.allowed_ports.empty() &&
        std::none_of(pol.allowed_ports.begin(), pol.allowed_ports.end(),
                     [&spec](const port_spec& allowed) {
                         return allowed.proto == spec.proto && allowed.ports.contains(spec.ports);
                     })) {
        return spec.to_string() + " is not within the policy's allowed_ports";
    }
    return std::nullopt;
}

/// A profile's port spec with a source the profile (or, without its own "from", the labels)
/// may give it.
bool from_a_profile(const rule& r, const port_spec& spec, const policy& pol) {
    return std::any_of(pol.profiles.begin(), pol.profiles.end(), [&](const auto& named) {
        const auto& prof = named.second;
        const bool has_port =
            std::find(prof.ports.begin(), prof.ports.end(), spec) != prof.ports.end();
        return has_port &&
               source_within(r.source, prof.sources.empty() ? pol.sources : prof.sources);
    });
}

} // namespace

std::optional<std::string> refuse_rule(const owned_rule& candidate, const policy& pol) {
    const rule& r = candidate.what;
    if (auto why = refuse_destination(r, pol)) {
        return why;
    }
    const port_spec spec{r.port, r.proto};
    if (r.kind == rule_kind::route && from_a_profile(r, spec, pol)) {
        return std::nullopt;
    }
    if (r.kind == rule_kind::input && r.port.first != r.port.last) {
        return "a published-port rule opens one host port, not " + spec.to_string();
    }
    // Route rules of other ports come from fw.allow in open mode, or from fw.publish when
    // Docker forwards a published port to the container (publish_target::container_port).
    if (r.kind == rule_kind::route && pol.mode == label_mode::strict && !pol.allow_publish) {
        return spec.to_string() +
               " is no profile's port (strict policy: labels may only name profiles)";
    }
    if (auto why = refuse_label_port(spec, pol)) {
        return *why + (pol.profiles.empty() ? "" : " and no profile's port with this source");
    }
    if (!source_within(r.source, pol.sources)) {
        return "source " + r.source.to_string() + " is not within the policy's sources (" +
               list_of(pol.sources) + ")";
    }
    return std::nullopt;
}

rule_budget::rule_budget(const rules_file_contents& current) {
    for (const auto& entry : current.entries) {
        if (entry.owner &&
            owner_of_match_.emplace(ufw_match_key(entry.tuple), entry.owner->short_id).second) {
            ++count_of_owner_[entry.owner->short_id];
        }
    }
}

std::optional<std::string> rule_budget::admit(const owned_rule& candidate, const policy& pol) {
    const auto key = ufw_match_key(candidate.what.tuple());
    const auto& owner = candidate.owner.short_id;
    const auto existing = owner_of_match_.find(key);
    if (existing != owner_of_match_.end() && existing->second == owner) {
        return std::nullopt; // the same rule again, or its action or logging changed
    }
    if (count_of_owner_[owner] >= pol.max_rules_per_container) {
        return "container " + owner + " already has " + std::to_string(count_of_owner_[owner]) +
               " rules (the policy's max_rules_per_container)";
    }
    if (existing == owner_of_match_.end() && owner_of_match_.size() >= pol.max_rules_total) {
        return "ufw already holds " + std::to_string(owner_of_match_.size()) +
               " dockgate rules (the policy's max_rules_total)";
    }
    if (existing != owner_of_match_.end()) {
        --count_of_owner_[existing->second]; // re-tagged to the new owner
        existing->second = owner;
    } else {
        owner_of_match_.emplace(key, owner);
    }
    ++count_of_owner_[owner];
    return std::nullopt;
}

void rule_budget::release(const owned_rule& removed) {
    const auto found = owner_of_match_.find(ufw_match_key(removed.what.tuple()));
    if (found != owner_of_match_.end() && found->second == removed.owner.short_id) {
        --count_of_owner_[found->second];
        owner_of_match_.erase(found);
    }
}

} // namespace dockgate
