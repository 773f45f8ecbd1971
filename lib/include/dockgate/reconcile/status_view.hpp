// What `dockgated status`, the metrics endpoint and systemd's STATUS= line show: one struct,
// three renderings.
#pragma once

#include "dockgate/model/container.hpp"
#include "dockgate/policy/labels.hpp"
#include "dockgate/policy/policy.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace dockgate {

/// Upper bounds (seconds) of the ufw latency histogram; the last bucket is +Inf.
inline constexpr std::array<double, 9> ufw_latency_bounds{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};

/// Counters since start, for logs, status and metrics.
struct daemon_counters {
    unsigned long events = 0;
    unsigned long reconciles = 0;
    unsigned long rules_added = 0;
    unsigned long rules_removed = 0;
    unsigned long failures = 0;
    unsigned long drift_corrections = 0;
    /// ufw call latency: counts per upper bound of ufw_latency_bounds (last: +Inf), plus sum.
    std::array<unsigned long, ufw_latency_bounds.size() + 1> ufw_latency_buckets{};
    double ufw_latency_sum = 0;
    unsigned long ufw_calls = 0;

    void record_ufw_latency(std::chrono::milliseconds took);
};

/// What Docker does to one wanted rule or published port (see docker_setup.hpp).
struct rule_state_row {
    std::string rule, state, why, fix;
};

/// A failed ufw operation of the last round, shown until a later round does it.
struct failed_operation {
    std::string container, short_id, action, rule, error;
};

struct rejected_view {
    std::string label, value, reason;
};

/// One container that has labels, rules or an assessment worth showing.
struct container_view {
    std::string short_id;
    std::string name;
    std::vector<std::string> rules;
    std::vector<rule_state_row> rule_states;
    /// At most max_rejections_shown of them; rejected_total counts all.
    std::vector<rejected_view> rejected;
    std::size_t rejected_total = 0;
    std::optional<std::string> why_no_rules;
};

/// Rejections listed per container: a label of thousands of bad items must not make a document
/// of megabytes; the total is given.
inline constexpr std::size_t max_rejections_shown = 20;

/// Docker's IPv6 setup as dockgate read it, and what it means for the wanted rules.
struct setup_view {
    std::string engine;
    std::string firewall_backend;
    std::string docker_ip6_filtering;
    bool docker_user_guard = false;
    bool bridge_rules = false;
    bool egress = false;
    std::vector<std::string> summary;
};

/// Gauges of the rules wanted by running containers, by what Docker does to their traffic.
struct rule_gauges {
    std::size_t owned = 0;     ///< ufw rules carrying dockgate's tag
    std::size_t effective = 0; ///< route rules whose traffic reaches ufw
    std::size_t dead = 0;      ///< route rules whose traffic Docker drops before ufw
    /// Published ports Docker accepts before ufw, with no rule of dockgate's asking for them.
    std::size_t published_open_past_ufw = 0;
};

struct status_view {
    std::string docker_state;
    std::string docker_socket;
    std::string api_version;
    unsigned long connections = 0;
    bool docker_streaming = false;
    bool healthy = false; ///< what WATCHDOG=1 vouches for
    bool in_sync = false;
    std::optional<std::int64_t> last_sync_unix;
    bool dry_run = false;
    std::string write_path;
    std::optional<setup_view> setup;
    std::vector<container_view> containers;
    rule_gauges gauges;
    std::size_t pending_operations = 0;
    std::vector<failed_operation> failed;
    daemon_counters counters;
};

/// The container's row in the status view: nullopt for a container with no label of the
/// policy's prefix, no rule, no rejection and no assessment (nothing worth showing).
std::optional<container_view> container_view_of(const container_info& info,
                                                const evaluation& result,
                                                const std::vector<rule_state_row>* assessed,
                                                const policy& pol);

/// The `dockgated status --json` document.
nlohmann::json to_json(const status_view& view);
/// Prometheus text exposition (version 0.0.4).
std::string to_metrics(const status_view& view);
/// systemd's `STATUS=` line.
std::string to_status_line(const status_view& view);

} // namespace dockgate
