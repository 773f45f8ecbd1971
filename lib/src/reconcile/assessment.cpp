// Per-container assessment of wanted route rules and published ports against Docker's setup.
#include "dockgate/reconcile/assessment.hpp"

#include <algorithm>

namespace dockgate {
namespace {

bool covers(const rule& r, const port_binding& b) {
    return r.kind == rule_kind::route && to_string(r.proto) == b.proto &&
           r.port.first <= b.container_port && b.container_port <= r.port.last;
}

void assess_routes(const container_info& info, const evaluation& result,
                   const host_posture& posture, const kernel_facts& kernel,
                   const std::map<std::string, std::string>& reported, containers_assessment& out) {
    auto& rows = out.rows[info.id];
    for (const auto& wanted : result.rules) {
        const auto& r = wanted.what;
        if (r.kind != rule_kind::route) {
            continue;
        }
        const auto address = r.destination.to_string();
        const auto on = std::find_if(info.networks.begin(), info.networks.end(),
                                     [&](const auto& n) { return n.global_ipv6 == address; });
        const bool published = std::any_of(info.published.begin(), info.published.end(),
                                           [&](const auto& b) { return covers(r, b); });
        const auto verdict = assess_route(
            posture, kernel, on == info.networks.end() ? "" : on->network, address, published);
        const std::string state = to_string(verdict.state);
        rows.push_back({r.describe(), state, verdict.why, verdict.fix});
        out.effective += verdict.state == rule_state::effective ? 1U : 0U;
        out.dead += verdict.state == rule_state::dead ? 1U : 0U;
        const auto key = info.id + " " + r.tuple();
        out.states[key] = state;
        const auto before = reported.find(key);
        if (before != reported.end() && before->second == state) {
            continue;
        }
        if (verdict.state == rule_state::dead) {
            out.changes.push_back({assessment_change::kind::dead, info.id, info.name, r.describe(),
                                   state, verdict.why, verdict.fix});
        } else if (before != reported.end() && before->second == "dead") {
            out.changes.push_back({assessment_change::kind::now_opens,
                                   info.id,
                                   info.name,
                                   r.describe(),
                                   state,
                                   {},
                                   {}});
        }
    }
}

/// Published ports that Docker accepts before ufw, unless a rule of this container's asks for
/// that port anyway.
void assess_published(const container_info& info, const evaluation& result,
                      const host_posture& posture,
                      const std::map<std::string, std::string>& reported,
                      containers_assessment& out) {
    auto& rows = out.rows[info.id];
    for (const auto& b : info.published) {
        if (b.loopback_only) {
            continue; // Docker keeps it on the host's loopback
        }
        const network_posture* bypass = nullptr;
        for (const auto& n : info.networks) {
            if (const auto* net = posture.find(n.network); net && net->published_bypass) {
                bypass = net;
            }
        }
        const bool asked = std::any_of(result.rules.begin(), result.rules.end(),
                                       [&](const auto& w) { return covers(w.what, b); });
        if (bypass == nullptr || asked) {
            continue;
        }
        ++out.published_open_past_ufw;
        const auto port =
            std::to_string(b.host_port) + "->" + std::to_string(b.container_port) + "/" + b.proto;
        rows.push_back({"published port " + port, "open past ufw", bypass->why, bypass->fix});
        const auto key = info.id + " publish " + port;
        out.states[key] = "bypass";
        if (!reported.contains(key)) {
            out.changes.push_back({assessment_change::kind::open_bypass, info.id, info.name, port,
                                   "bypass", bypass->why, bypass->fix});
        }
    }
}

} // namespace

containers_assessment assess_containers(const std::map<std::string, container_info>& containers,
                                        const evaluation_lookup& evaluation_of,
                                        const host_posture& posture, const kernel_facts& kernel,
                                        const std::map<std::string, std::string>& reported) {
    containers_assessment out;
    for (const auto& [id, info] : containers) {
        const auto& result = evaluation_of(info);
        assess_routes(info, result, posture, kernel, reported, out);
        assess_published(info, result, posture, reported, out);
        if (out.rows[id].empty()) {
            out.rows.erase(id);
        }
    }
    return out;
}

} // namespace dockgate
