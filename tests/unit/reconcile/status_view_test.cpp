// Prometheus text exposition of the daemon's counters.
#include "dockgate/reconcile/controller.hpp"

#include <gtest/gtest.h>

namespace dockgate {
namespace {

TEST(metrics, counters_gauges_and_the_ufw_latency_histogram) {
    controller_stats stats;
    stats.events = 7;
    stats.rules_added = 3;
    stats.rules_removed = 1;
    stats.failures = 2;
    stats.drift_corrections = 1;
    stats.owned_rules = 2;
    stats.ufw_latency_buckets = {0, 1, 2, 0, 0, 0, 0, 0, 0, 1};
    stats.ufw_latency_sum = 31.5;
    stats.ufw_calls = 4;
    stats.last_sync = std::chrono::system_clock::time_point(std::chrono::seconds(1795973732));
    const auto text = render_metrics(stats, true);
    for (const char* line :
         {"# TYPE dockgate_events_total counter\ndockgate_events_total 7\n",
          "dockgate_rules_added_total 3\n", "dockgate_rules_removed_total 1\n",
          "dockgate_failures_total 2\n", "dockgate_drift_corrections_total 1\n",
          "# TYPE dockgate_owned_rules gauge\ndockgate_owned_rules 2\n",
          "dockgate_docker_connected 1\n", "dockgate_last_sync_timestamp_seconds 1795973732\n",
          "# TYPE dockgate_ufw_call_duration_seconds histogram\n",
          "dockgate_ufw_call_duration_seconds_bucket{le=\"0.05\"} 0\n",
          "dockgate_ufw_call_duration_seconds_bucket{le=\"0.1\"} 1\n",
          "dockgate_ufw_call_duration_seconds_bucket{le=\"0.25\"} 3\n",
          "dockgate_ufw_call_duration_seconds_bucket{le=\"30\"} 3\n",
          "dockgate_ufw_call_duration_seconds_bucket{le=\"+Inf\"} 4\n",
          "dockgate_ufw_call_duration_seconds_sum 31.5\n",
          "dockgate_ufw_call_duration_seconds_count 4\n"}) {
        EXPECT_NE(text.find(line), std::string::npos) << "missing: " << line << "\nin:\n" << text;
    }
    EXPECT_EQ(render_metrics(controller_stats{}, false).find("last_sync"), std::string::npos)
        << "no timestamp before the first sync";
}

} // namespace
} // namespace dockgate
