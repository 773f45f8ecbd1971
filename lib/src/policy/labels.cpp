// Label grammar and policy checks: every label item becomes rules or a stated rejection.
#include "dockgate/policy/labels.hpp"

#include "dockgate/model/text.hpp"

#include <algorithm>
#include <optional>
#include <set>

namespace dockgate {
namespace {

std::vector<std::string> split_list(std::string_view text) {
    std::vector<std::string> items;
    while (true) {
        const auto comma = text.find(',');
        const auto item = trim(text.substr(0, comma));
        if (!item.empty()) {
            items.emplace_back(item);
        }
        if (comma == std::string_view::npos) {
            return items;
        }
        text.remove_prefix(comma + 1);
    }
}

std::optional<bool> parse_flag(std::string_view text) {
    if (text == "true" || text == "yes" || text == "1" || text == "on") {
        return true;
    }
    if (text == "false" || text == "no" || text == "0" || text == "off") {
        return false;
    }
    return std::nullopt;
}

/// What one item of fw.allow asks for, after service/profile expansion.
struct grant {
    port_spec ports;
    const profile* from_profile = nullptr;
};

class evaluator {
  public:
    evaluator(const container_info& c, const policy& p, publish_target t)
        : container_(c), pol_(p), publish_(t) {}

    evaluation run() {
        const auto tag = owner_tag::from_container(container_.id, container_.name);
        if (!tag) {
            return std::move(result_);
        }
        tag_ = *tag;
        const auto grants = read_allow();
        const auto sources = read_sources();
        read_flags();
        const auto destinations = read_destinations();
        for (const auto& g : grants) {
            const auto& srcs = (g.from_profile != nullptr && !g.from_profile->sources.empty())
                                   ? g.from_profile->sources
                                   : sources;
            const bool limit = limit_ || (g.from_profile != nullptr && g.from_profile->limit);
            const bool log = log_ || (g.from_profile != nullptr && g.from_profile->log);
            for (const auto& dst : destinations) {
                for (const auto& src : srcs) {
                    if (full_) {
                        break;
                    }
                    if (src.v6 != dst.v6 && !src.is_any()) {
                        continue;
                    }
                    add(make_rule(rule_kind::route, limit, log, g.ports.proto, g.ports.ports, dst,
                                  src.is_any() ? any_of(dst.v6) : src),
                        "allow");
                }
            }
        }
        read_publish(sources, destinations);
        return std::move(result_);
    }

  private:
    static rule make_rule(rule_kind kind, bool limit, bool log, protocol proto, port_range ports,
                          const ip_prefix& destination, const ip_prefix& source) {
        rule r;
        r.kind = kind;
        r.action = limit ? rule_action::limit : rule_action::allow;
        r.log = log;
        r.proto = proto;
        r.port = ports;
        r.destination = destination;
        r.source = source;
        return r;
    }

    static ip_prefix any_of(bool v6) {
        ip_prefix any;
        any.v6 = v6;
        any.length = 0;
        return any;
    }

    const std::string* label(const char* suffix) const {
        const auto it = container_.labels.find(pol_.label_prefix + suffix);
        return it == container_.labels.end() ? nullptr : &it->second;
    }

    void reject(const char* suffix, std::string_view value, std::string reason) {
        result_.rejected.push_back(
            {pol_.label_prefix + suffix, printable(value), std::move(reason)});
    }

    std::optional<std::string> port_refusal(const port_spec& spec) const {
        for (const auto& denied : pol_.denied_ports) {
            if (denied.proto == spec.proto && denied.ports.overlaps(spec.ports)) {
                return "denied by policy (" + denied.to_string() + ")";
            }
        }
        if (!pol_.allowed_ports.empty() &&
            std::none_of(pol_.allowed_ports.begin(), pol_.allowed_ports.end(),
                         [&spec](const port_spec& allowed) {
                             return allowed.proto == spec.proto &&
                                    allowed.ports.contains(spec.ports);
                         })) {
            return "not within the policy's allowed_ports";
        }
        return std::nullopt;
    }

    std::vector<grant> read_allow() {
        std::vector<grant> grants;
        const auto items = bounded_items("allow");
        for (const auto& item : items.value_or(std::vector<std::string>{})) {
            std::vector<grant> asked;
            if (const auto prof = pol_.profiles.find(item); prof != pol_.profiles.end()) {
                for (const auto& spec : prof->second.ports) {
                    asked.push_back({spec, &prof->second}); // the admin wrote it: no port checks
                }
                grants.insert(grants.end(), asked.begin(), asked.end());
                continue;
            }
            if (pol_.mode == label_mode::strict) {
                reject("allow", item, "strict policy: labels may only name profiles");
                continue;
            }
            if (const auto svc = pol_.services.find(item); svc != pol_.services.end()) {
                for (const auto& spec : svc->second) {
                    asked.push_back({spec, nullptr});
                }
            } else {
                std::string why;
                const auto spec = parse_port_spec(item, &why);
                if (!spec) {
                    const bool looks_numeric = !item.empty() && item[0] >= '0' && item[0] <= '9';
                    reject("allow", item, looks_numeric ? why : "unknown service or profile name");
                    continue;
                }
                asked.push_back({*spec, nullptr});
            }
            for (const auto& g : asked) {
                if (const auto refusal = port_refusal(g.ports)) {
                    reject("allow", item, g.ports.to_string() + " " + *refusal);
                } else {
                    grants.push_back(g);
                }
            }
        }
        return grants;
    }

    std::vector<ip_prefix> read_sources() {
        const auto* text = label("allow.from");
        if (text == nullptr) {
            // No label: anyone the policy lets labels name (any, by default).
            return pol_.sources;
        }
        std::vector<ip_prefix> sources;
        const auto bounded = bounded_items("allow.from");
        if (!bounded) {
            return sources; // over a limit: no source, never "any"
        }
        const auto& items = *bounded;
        if (items.empty()) {
            // Say so: otherwise the container silently gets no rule at all.
            reject("allow.from", *text, "no source given; the container's fw.allow opens nothing");
        }
        for (const auto& item : items) {
            std::string why;
            const auto prefix = parse_prefix(item == "any" ? "::/0" : item, &why);
            if (!prefix) {
                reject("allow.from", item, why);
                continue;
            }
            const bool permitted =
                std::any_of(pol_.sources.begin(), pol_.sources.end(),
                            [&](const ip_prefix& p) { return prefix->within(p); });
            if (!permitted) {
                reject("allow.from", item, "source not within the policy's sources");
                continue;
            }
            sources.push_back(*prefix);
        }
        // An unusable from-list never falls back to "any": that would widen access.
        return sources;
    }

    void read_flags() {
        for (const auto& [suffix, flag] : {std::pair{"limit", &limit_}, std::pair{"log", &log_}}) {
            if (const auto* text = label(suffix)) {
                const auto value = parse_flag(trim(*text));
                if (value) {
                    *flag = *value;
                } else {
                    reject(suffix, *text, "must be true or false");
                }
            }
        }
    }

    std::vector<ip_prefix> read_destinations() {
        std::set<std::string> wanted_networks;
        if (label("networks") != nullptr) {
            const auto names = bounded_items("networks");
            if (!names) {
                return {}; // over a limit: no network, never "all of them"
            }
            wanted_networks.insert(names->begin(), names->end());
        }
        std::vector<ip_prefix> out;
        for (const auto& net : container_.networks) {
            if (!wanted_networks.empty() && !wanted_networks.contains(net.network)) {
                continue;
            }
            if (!pol_.networks.empty() && std::find(pol_.networks.begin(), pol_.networks.end(),
                                                    net.network) == pol_.networks.end()) {
                continue;
            }
            for (const auto* address : {&net.global_ipv6, &net.ipv4}) {
                if (address->empty() || (address == &net.ipv4 && !pol_.manage_ipv4)) {
                    continue;
                }
                const auto parsed = parse_prefix(*address);
                // The family must match the field: an IPv4 text in GlobalIPv6Address would
                // otherwise skip both manage_ipv4 and the prefixes check.
                if (!parsed || !parsed->is_host() || parsed->v6 != (address == &net.global_ipv6)) {
                    continue;
                }
                const auto scope = scope_of(*parsed);
                // IPv4 addresses need no prefix unless the policy lists IPv4 prefixes; the
                // executor checks the same (rule_guard.cpp).
                const bool v4_unrestricted =
                    !parsed->v6 && std::none_of(pol_.prefixes.begin(), pol_.prefixes.end(),
                                                [](const ip_prefix& p) { return !p.v6; });
                static const auto ipv4_mapped = *parse_prefix("::ffff:0:0/96");
                const bool eligible =
                    scope != address_scope::link_local && !parsed->within(ipv4_mapped) &&
                    (v4_unrestricted ||
                     std::any_of(pol_.prefixes.begin(), pol_.prefixes.end(),
                                 [&](const ip_prefix& p) { return parsed->within(p); }));
                if (eligible && std::find(out.begin(), out.end(), *parsed) == out.end()) {
                    out.push_back(*parsed);
                }
            }
        }
        return out;
    }

    void read_publish(const std::vector<ip_prefix>& sources,
                      const std::vector<ip_prefix>& destinations) {
        const auto* text = label("publish");
        if (text == nullptr) {
            return;
        }
        if (!pol_.allow_publish) {
            reject("publish", *text, "policy does not allow opening published host ports");
            return;
        }
        std::vector<port_binding> chosen;
        const auto items = bounded_items("publish").value_or(std::vector<std::string>{});
        for (const auto& item : items) {
            if (item == "auto") {
                chosen.insert(chosen.end(), container_.published.begin(),
                              container_.published.end());
                continue;
            }
            std::string why;
            const auto spec = parse_port_spec(item, &why);
            if (!spec || spec->ports.first != spec->ports.last) {
                reject("publish", item, spec ? "a single host port is expected" : why);
                continue;
            }
            const auto binding =
                std::find_if(container_.published.begin(), container_.published.end(),
                             [&](const port_binding& b) {
                                 return b.host_port == spec->ports.first &&
                                        (item.find('/') == std::string::npos ||
                                         b.proto == to_string(spec->proto));
                             });
            if (binding == container_.published.end()) {
                reject("publish", item, "not a published host port of this container");
                continue;
            }
            chosen.push_back(*binding);
        }
        // fw.publish=8080 without a protocol means every protocol 8080 is published with.
        for (const auto& item : items) {
            if (item == "auto" || item.find('/') != std::string::npos) {
                continue;
            }
            for (const auto& b : container_.published) {
                if (std::to_string(b.host_port) == item &&
                    std::find(chosen.begin(), chosen.end(), b) == chosen.end()) {
                    chosen.push_back(b);
                }
            }
        }
        for (const auto& b : chosen) {
            if (b.loopback_only) {
                // Published on 127.0.0.1/::1 only: opening ::/0 port P would open what Docker
                // kept local (and whatever else listens on P).
                reject("publish", std::to_string(b.host_port) + "/" + b.proto,
                       "published on a loopback address only: nothing to open");
                continue;
            }
            const auto proto = parse_protocol(b.proto);
            if (!proto) {
                reject("publish", std::to_string(b.host_port) + "/" + b.proto,
                       "protocol not supported");
                continue;
            }
            const port_spec spec{{b.host_port, b.host_port}, *proto};
            if (const auto refusal = port_refusal(spec)) {
                reject("publish", spec.to_string(), *refusal);
                continue;
            }
            if (publish_ == publish_target::container_port) {
                // Docker forwards the host port to the container port (DNAT): the container
                // port's route rule is what lets it in, so that port is checked as well.
                const port_spec target{{b.container_port, b.container_port}, *proto};
                if (const auto refusal = port_refusal(target)) {
                    reject("publish", spec.to_string(),
                           "container port " + target.to_string() + " " + *refusal);
                    continue;
                }
                for (const auto& dst : destinations) {
                    for (const auto& src : sources) {
                        if (!dst.v6 || (!src.v6 && !src.is_any())) {
                            continue;
                        }
                        add(make_rule(rule_kind::route, limit_, log_, *proto,
                                      {b.container_port, b.container_port}, dst,
                                      src.is_any() ? any_of(true) : src),
                            "publish");
                    }
                }
                continue;
            }
            // The same sources as fw.allow: a published port is not a way around fw.allow.from.
            for (const auto& src : sources) {
                if (!src.v6) {
                    continue;
                }
                add(make_rule(rule_kind::input, limit_, log_, *proto, spec.ports, any_of(true),
                              src),
                    "publish");
            }
        }
    }

    /// The items of a list label, de-duplicated, or nullopt (with one rejection) when the label
    /// is over the policy's max_label_bytes or max_label_items: anyone who can start a container
    /// writes labels, and their cost must stay bounded.
    std::optional<std::vector<std::string>> bounded_items(const char* suffix) {
        const auto* text = label(suffix);
        if (text == nullptr) {
            return std::vector<std::string>{};
        }
        if (text->size() > pol_.max_label_bytes) {
            reject(suffix, *text,
                   "label of " + std::to_string(text->size()) +
                       " bytes, over the policy's "
                       "max_label_bytes of " +
                       std::to_string(pol_.max_label_bytes) + "; ignored");
            return std::nullopt;
        }
        std::vector<std::string> items;
        std::set<std::string> seen;
        for (auto& item : split_list(*text)) {
            if (seen.insert(item).second) {
                items.push_back(std::move(item));
            }
        }
        if (items.size() > pol_.max_label_items) {
            reject(suffix, *text,
                   std::to_string(items.size()) + " items, over the policy's max_label_items of " +
                       std::to_string(pol_.max_label_items) + "; ignored");
            return std::nullopt;
        }
        return items;
    }

    void add(const rule& r, const char* suffix) {
        if (full_) {
            return; // past the cap: nothing more is kept, so nothing more is compared
        }
        for (auto& existing : result_.rules) {
            auto& e = existing.what;
            // ufw matches rules without their action and logging ("Rule updated" replaces one
            // with the other), so two such wishes would flip on every reconcile: merge them,
            // keeping the rate limit and the logging that either one asked for.
            if (e.kind == r.kind && e.proto == r.proto && e.port == r.port &&
                e.destination == r.destination && e.source == r.source) {
                e.action = r.action == rule_action::limit ? rule_action::limit : e.action;
                e.log = e.log || r.log;
                return;
            }
        }
        if (result_.rules.size() >= pol_.max_rules_per_container) {
            if (!cap_reported_) {
                reject(suffix, r.describe(),
                       "over the policy's limit of " +
                           std::to_string(pol_.max_rules_per_container) +
                           " rules per container; further rules dropped");
                cap_reported_ = true;
            }
            full_ = true;
            return;
        }
        result_.rules.push_back({r, tag_});
    }

    const container_info& container_;
    const policy& pol_;
    publish_target publish_;
    evaluation result_;
    owner_tag tag_;
    bool limit_ = false;
    bool log_ = false;
    bool cap_reported_ = false;
    bool full_ = false; ///< max_rules_per_container reached
};

} // namespace

evaluation evaluate(const container_info& container, const policy& pol, publish_target publish) {
    return evaluator(container, pol, publish).run();
}

std::string why_no_rules(const container_info& container, const policy& pol) {
    const auto networks = container.labels.find(pol.label_prefix + "networks");
    std::string on;
    for (const auto& n : container.networks) {
        on += (on.empty() ? "" : ", ") + n.network +
              (n.global_ipv6.empty() ? " (no global IPv6 address)" : " " + n.global_ipv6);
    }
    if (on.empty()) {
        return "the container is on no network with an address";
    }
    std::string why = "no address of the container qualifies (it is on " + on + ")";
    if (networks != container.labels.end()) {
        why += "; " + pol.label_prefix + "networks=\"" + printable(networks->second) +
               "\" must name one of those networks";
    }
    if (!pol.networks.empty()) {
        why += "; the policy's \"networks\" allows only some networks";
    }
    why += "; the address must lie within the policy's \"prefixes\"";
    return why;
}

} // namespace dockgate
