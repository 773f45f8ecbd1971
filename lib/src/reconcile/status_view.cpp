// Renders the status view as JSON, Prometheus text and systemd's STATUS= line.
#include "dockgate/reconcile/status_view.hpp"

#include <algorithm>
#include <charconv>

namespace dockgate {
namespace {

/// Shortest text that reads back as the same double ("0.05", "31.5", "30").
std::string shortest(double value) {
    std::array<char, 32> buffer{};
    const auto [end, ec] = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
    return ec == std::errc{} ? std::string(buffer.data(), end) : std::to_string(value);
}

nlohmann::json container_json(const container_view& c) {
    using json = nlohmann::json;
    json states = json::array();
    for (const auto& a : c.rule_states) {
        states.push_back({{"rule", a.rule}, {"state", a.state}, {"why", a.why}, {"fix", a.fix}});
    }
    json rejected = json::array();
    for (const auto& r : c.rejected) {
        rejected.push_back({{"label", r.label}, {"value", r.value}, {"reason", r.reason}});
    }
    json entry{{"id", c.short_id},     {"name", c.name},
               {"rules", c.rules},     {"rule_states", states},
               {"rejected", rejected}, {"rejected_total", c.rejected_total}};
    if (c.why_no_rules) {
        entry["why_no_rules"] = *c.why_no_rules;
    }
    return entry;
}

nlohmann::json setup_json(const status_view& view) {
    if (!view.setup) {
        return nullptr;
    }
    const auto& s = *view.setup;
    return {{"engine", s.engine},
            {"firewall_backend", s.firewall_backend},
            {"docker_ip6_filtering", s.docker_ip6_filtering},
            {"docker_user_guard", s.docker_user_guard},
            {"bridge_rules", s.bridge_rules},
            {"egress", s.egress},
            {"rules_effective", view.gauges.effective},
            {"rules_dead", view.gauges.dead},
            {"published_open_past_ufw", view.gauges.published_open_past_ufw},
            {"summary", s.summary}};
}

} // namespace

void daemon_counters::record_ufw_latency(std::chrono::milliseconds took) {
    const double seconds = static_cast<double>(took.count()) / 1000.0;
    std::size_t bucket = 0;
    while (bucket < ufw_latency_bounds.size() && seconds > ufw_latency_bounds[bucket]) {
        ++bucket;
    }
    ++ufw_latency_buckets[bucket];
    ufw_latency_sum += seconds;
    ++ufw_calls;
}

std::optional<container_view> container_view_of(const container_info& info,
                                                const evaluation& result,
                                                const std::vector<rule_state_row>* assessed,
                                                const policy& pol) {
    const bool labelled = std::any_of(info.labels.begin(), info.labels.end(), [&](const auto& l) {
        return l.first.starts_with(pol.label_prefix);
    });
    if (!result.wants_anything() && assessed == nullptr && !labelled) {
        return std::nullopt;
    }
    container_view row;
    row.short_id = info.id.substr(0, 12);
    row.name = info.name;
    for (const auto& r : result.rules) {
        row.rules.push_back(r.what.describe());
    }
    if (assessed != nullptr) {
        row.rule_states = *assessed;
    }
    for (const auto& r : result.rejected) {
        if (row.rejected.size() == max_rejections_shown) {
            break;
        }
        row.rejected.push_back({r.label, r.value, r.reason});
    }
    row.rejected_total = result.rejected.size();
    if (result.rules.empty() && result.rejected.empty()) {
        row.why_no_rules = why_no_rules(info, pol);
    }
    return row;
}

nlohmann::json to_json(const status_view& view) {
    using json = nlohmann::json;
    json containers = json::array();
    for (const auto& c : view.containers) {
        containers.push_back(container_json(c));
    }
    json failed = json::array();
    for (const auto& f : view.failed) {
        failed.push_back({{"container", f.container},
                          {"id", f.short_id},
                          {"action", f.action},
                          {"rule", f.rule},
                          {"error", f.error}});
    }
    const auto& n = view.counters;
    return {{"docker",
             {{"state", view.docker_state},
              {"socket", view.docker_socket},
              {"api_version", view.api_version},
              {"connections", view.connections}}},
            {"in_sync", view.in_sync},
            {"last_sync_unix", view.last_sync_unix ? json(*view.last_sync_unix) : json(nullptr)},
            {"dry_run", view.dry_run},
            {"ufw_write_path", view.write_path},
            {"docker_setup", setup_json(view)},
            {"containers", containers},
            {"owned_rules", view.gauges.owned},
            {"pending_operations", view.pending_operations},
            {"failed_operations", failed},
            {"counters",
             {{"events", n.events},
              {"reconciles", n.reconciles},
              {"rules_added", n.rules_added},
              {"rules_removed", n.rules_removed},
              {"failures", n.failures},
              {"drift_corrections", n.drift_corrections}}}};
}

std::string to_metrics(const status_view& view) {
    const auto& n = view.counters;
    std::string out;
    auto metric = [&out](const char* name, const char* type, const char* help,
                         const std::string& value) {
        out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" +
               name + " " + value + "\n";
    };
    metric("dockgate_events_total", "counter", "Docker events acted on.", std::to_string(n.events));
    metric("dockgate_reconciles_total", "counter", "Reconcile rounds run.",
           std::to_string(n.reconciles));
    metric("dockgate_rules_added_total", "counter", "ufw rules added.",
           std::to_string(n.rules_added));
    metric("dockgate_rules_removed_total", "counter", "ufw rules removed.",
           std::to_string(n.rules_removed));
    metric("dockgate_failures_total", "counter", "Failed ufw or rules-file operations.",
           std::to_string(n.failures));
    metric("dockgate_drift_corrections_total", "counter", "Rules repaired after hand edits.",
           std::to_string(n.drift_corrections));
    metric("dockgate_owned_rules", "gauge", "ufw rules carrying a dockgate tag.",
           std::to_string(view.gauges.owned));
    out += "# HELP dockgate_rules Route rules wanted by running containers, by what Docker does "
           "to their traffic (dead: Docker drops it before ufw).\n# TYPE dockgate_rules gauge\n"
           "dockgate_rules{state=\"effective\"} " +
           std::to_string(view.gauges.effective) + "\ndockgate_rules{state=\"dead\"} " +
           std::to_string(view.gauges.dead) + "\n";
    metric("dockgate_published_ports_open_past_ufw", "gauge",
           "Published container ports Docker accepts before ufw with no label asking for them.",
           std::to_string(view.gauges.published_open_past_ufw));
    metric("dockgate_docker_connected", "gauge", "1 while the Docker event stream is followed.",
           view.docker_streaming ? "1" : "0");
    if (view.last_sync_unix) {
        metric("dockgate_last_sync_timestamp_seconds", "gauge",
               "Unix time of the last successful reconcile.", std::to_string(*view.last_sync_unix));
    }
    out += "# HELP dockgate_ufw_call_duration_seconds Duration of ufw runs.\n"
           "# TYPE dockgate_ufw_call_duration_seconds histogram\n";
    unsigned long cumulative = 0;
    for (std::size_t i = 0; i < n.ufw_latency_buckets.size(); ++i) {
        cumulative += n.ufw_latency_buckets[i];
        const auto bound = i < ufw_latency_bounds.size() ? shortest(ufw_latency_bounds[i]) : "+Inf";
        out += "dockgate_ufw_call_duration_seconds_bucket{le=\"" + bound + "\"} " +
               std::to_string(cumulative) + "\n";
    }
    out += "dockgate_ufw_call_duration_seconds_sum " + shortest(n.ufw_latency_sum) + "\n";
    out += "dockgate_ufw_call_duration_seconds_count " + std::to_string(n.ufw_calls) + "\n";
    return out;
}

std::string to_status_line(const status_view& view) {
    std::string line = "STATUS=";
    line += view.healthy ? "in sync" : "degraded";
    line += "; Docker " + view.docker_state;
    line += "; " + std::to_string(view.containers.size()) + " labelled container(s), " +
            std::to_string(view.gauges.owned) + " rule(s)";
    if (!view.failed.empty()) {
        line += ", " + std::to_string(view.failed.size()) + " failed operation(s)";
    }
    return line;
}

} // namespace dockgate
