// The status view rendered as Prometheus text, the status JSON document and systemd's STATUS=.
#include "dockgate/reconcile/status_view.hpp"

#include <gtest/gtest.h>

namespace dockgate {
namespace {

status_view sample() {
    status_view view;
    view.docker_state = "streaming";
    view.docker_socket = "/run/docker.sock";
    view.api_version = "1.41";
    view.connections = 2;
    view.docker_streaming = true;
    view.healthy = true;
    view.in_sync = true;
    view.write_path = "batched";
    view.gauges = {2, 1, 1, 0};
    container_view web{
        "0123456789ab", "web", {"route allow tcp from any to 2001:db8::2 port 80"}, {}, {}, 0,
        std::nullopt};
    web.rule_states.push_back({"route allow tcp ...", "dead", "Docker drops it", "use routed"});
    view.containers.push_back(web);
    return view;
}

TEST(status_view, metrics_counters_gauges_and_the_ufw_latency_histogram) {
    auto view = sample();
    auto& n = view.counters;
    n.events = 7;
    n.rules_added = 3;
    n.rules_removed = 1;
    n.failures = 2;
    n.drift_corrections = 1;
    n.ufw_latency_buckets = {0, 1, 2, 0, 0, 0, 0, 0, 0, 1};
    n.ufw_latency_sum = 31.5;
    n.ufw_calls = 4;
    view.last_sync_unix = 1795973732;
    const auto text = to_metrics(view);
    for (const char* line :
         {"# TYPE dockgate_events_total counter\ndockgate_events_total 7\n",
          "dockgate_rules_added_total 3\n", "dockgate_rules_removed_total 1\n",
          "dockgate_failures_total 2\n", "dockgate_drift_corrections_total 1\n",
          "# TYPE dockgate_owned_rules gauge\ndockgate_owned_rules 2\n",
          "dockgate_rules{state=\"effective\"} 1\n", "dockgate_rules{state=\"dead\"} 1\n",
          "dockgate_docker_connected 1\n", "dockgate_last_sync_timestamp_seconds 1795973732\n",
          "# TYPE dockgate_ufw_call_duration_seconds histogram\n",
          "dockgate_ufw_call_duration_seconds_bucket{le=\"0.05\"} 0\n",
          "dockgate_ufw_call_duration_seconds_bucket{le=\"0.1\"} 1\n",
          "dockgate_ufw_call_duration_seconds_bucket{le=\"0.25\"} 3\n",
          "dockgate_ufw_call_duration_seconds_bucket{le=\"2.5\"} 3\n",
          "dockgate_ufw_call_duration_seconds_bucket{le=\"30\"} 3\n",
          "dockgate_ufw_call_duration_seconds_bucket{le=\"+Inf\"} 4\n",
          "dockgate_ufw_call_duration_seconds_sum 31.5\n",
          "dockgate_ufw_call_duration_seconds_count 4\n"}) {
        EXPECT_NE(text.find(line), std::string::npos) << "missing: " << line << "\nin:\n" << text;
    }
    EXPECT_EQ(to_metrics(status_view{}).find("last_sync"), std::string::npos)
        << "no timestamp before the first sync";
    EXPECT_NE(to_metrics(status_view{}).find("dockgate_docker_connected 0\n"), std::string::npos);
}

TEST(status_view, ufw_latency_lands_in_the_first_bucket_that_holds_it) {
    daemon_counters n;
    n.record_ufw_latency(std::chrono::milliseconds(50));    // 0.05: on the bound
    n.record_ufw_latency(std::chrono::milliseconds(51));    // 0.1
    n.record_ufw_latency(std::chrono::milliseconds(40000)); // +Inf
    EXPECT_EQ(n.ufw_latency_buckets[0], 1U);
    EXPECT_EQ(n.ufw_latency_buckets[1], 1U);
    EXPECT_EQ(n.ufw_latency_buckets.back(), 1U);
    EXPECT_EQ(n.ufw_calls, 3U);
    EXPECT_DOUBLE_EQ(n.ufw_latency_sum, 40.101);
}

TEST(status_view, json_document_has_every_section_the_cli_reads) {
    auto view = sample();
    view.setup = setup_view{"28.5.2", "iptables", "iptables", true, false, false, {"a line"}};
    view.failed.push_back({"db", "abcdefabcdef", "add", "route allow ...", "ufw failed"});
    const auto doc = to_json(view);
    EXPECT_EQ(doc["docker"]["state"], "streaming");
    EXPECT_EQ(doc["docker"]["api_version"], "1.41");
    EXPECT_EQ(doc["docker"]["connections"], 2);
    EXPECT_TRUE(doc["in_sync"].get<bool>());
    EXPECT_TRUE(doc["last_sync_unix"].is_null());
    EXPECT_EQ(doc["ufw_write_path"], "batched");
    EXPECT_EQ(doc["owned_rules"], 2);
    EXPECT_EQ(doc["docker_setup"]["rules_dead"], 1);
    EXPECT_EQ(doc["docker_setup"]["summary"][0], "a line");
    ASSERT_EQ(doc["containers"].size(), 1U);
    EXPECT_EQ(doc["containers"][0]["rule_states"][0]["state"], "dead");
    EXPECT_FALSE(doc["containers"][0].contains("why_no_rules"));
    EXPECT_EQ(doc["failed_operations"][0]["id"], "abcdefabcdef");
    EXPECT_TRUE(doc["counters"].contains("drift_corrections"));
    EXPECT_TRUE(to_json(status_view{})["docker_setup"].is_null())
        << "before Docker's setup is read";
}

TEST(status_view, status_line_says_health_docker_and_counts) {
    auto view = sample();
    EXPECT_EQ(to_status_line(view),
              "STATUS=in sync; Docker streaming; 1 labelled container(s), 2 rule(s)");
    view.healthy = false;
    view.failed.push_back({});
    EXPECT_EQ(to_status_line(view), "STATUS=degraded; Docker streaming; 1 labelled container(s), "
                                    "2 rule(s), 1 failed operation(s)");
}

} // namespace
} // namespace dockgate
