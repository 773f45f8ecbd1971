// The daemon's driver: runs the reconcile core (cache, schedule, plan, accounting) on the
// io_context, with the Docker watch feeding it and the worker thread running ufw.
#pragma once

#include "dockgate/asio.hpp"
#include "dockgate/docker/docker_watch.hpp"
#include "dockgate/policy/labels.hpp"
#include "dockgate/policy/policy.hpp"
#include "dockgate/reconcile/container_cache.hpp"
#include "dockgate/reconcile/host_setup.hpp"
#include "dockgate/reconcile/plan.hpp"
#include "dockgate/reconcile/reconcile_schedule.hpp"
#include "dockgate/reconcile/status_view.hpp"
#include "dockgate/ufw/firewall.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/logger.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

namespace dockgate {

/// Every deadline and interval of the daemon, each with its default.
struct controller_settings {
    docker_settings docker;
    backoff_settings backoff;
    /// How often /_ping checks the event stream; a failed ping reconnects. 0 (the default):
    /// ping on each drift tick, so that an idle daemon wakes only for the drift timer.
    std::chrono::milliseconds health_interval{0};
    /// When rounds run: coalescing, drift, re-check after a write, retries (reconcile_schedule).
    schedule_settings schedule;
    /// Longest event line accepted from the stream.
    std::size_t max_event_line = 1U << 20U;
    /// Containers inspected before a round writes rules (see container_cache).
    std::size_t max_inspects_per_round = 32;
    /// Rejected label items logged per container and evaluation; the rest are counted.
    std::size_t max_rejections_logged = 5;
    bool dry_run = false;
};

class controller {
  public:
    /// `fw` and `log` must outlive the controller.
    controller(asio::io_context& ioc, controller_settings settings, policy pol, firewall& fw,
               std::shared_ptr<spdlog::logger> log);
    controller(const controller&) = delete;
    controller& operator=(const controller&) = delete;
    ~controller();

    /// Starts the Docker watch and the reconcile loops on the io_context.
    void start();
    /// Cancels everything; the loops unwind and io_context::run returns. Rules stay in place.
    void stop();
    /// Replaces the policy and reconciles (the caller validated it).
    void replace_policy(policy pol);
    /// Called after each reconcile that left ufw in sync (used for READY=1 later).
    void on_synced(std::function<void()> callback) { synced_callback_ = std::move(callback); }

    [[nodiscard]] const daemon_counters& counters() const { return counters_; }
    [[nodiscard]] const policy& current_policy() const { return policy_; }
    [[nodiscard]] conn_state connection() const { return watch_.state(); }
    /// Docker stream up and the firewall side answering: what WATCHDOG=1 vouches for.
    [[nodiscard]] bool healthy() const;
    /// Everything `dockgated status`, the metrics and STATUS= show.
    [[nodiscard]] status_view view() const;
    /// view() as the status JSON document.
    [[nodiscard]] nlohmann::json status() const { return to_json(view()); }
    /// Completion handler for a long-lived loop (this controller's or a server's): an
    /// exception is logged, makes the daemon unhealthy and stops it (exit status 1).
    std::function<void(std::exception_ptr)> loop_ended(const char* loop);
    /// True when a loop ended with an exception: the daemon must exit non-zero.
    [[nodiscard]] bool failed() const { return failed_; }
    /// Called once when a loop ends with an exception (after stop()).
    void on_fatal(std::function<void()> callback) { fatal_callback_ = std::move(callback); }
    /// True once stop() was called and every loop of the controller has returned.
    [[nodiscard]] bool finished() const { return stopping_ && running_loops_ == 0; }

  private:
    asio::awaitable<void> reconcile_loop();
    asio::awaitable<void> reconcile_once(bool drift_only);
    asio::awaitable<void> refresh_changed_containers();
    /// Applies the plan through the firewall; returns how many operations were answered.
    /// Keeps a reading of ufw's rules (logging the admin's rules that went away) unless it is
    /// the same version as the last.
    void take_reading(rules_file_contents actual);
    asio::awaitable<std::size_t> apply_plan(const plan& todo, std::vector<apply_result>& results);
    void finish_round(const plan& todo, const std::vector<apply_result>& results,
                      std::size_t answered, std::size_t owned_before, bool drift_only,
                      bool host_rules_ok);
    void handle_line(std::string_view line);
    void take_snapshot(std::vector<container_info> running);
    void note_container(const container_info& info, const char* why);
    void mark_dirty();
    std::vector<owned_rule> desired_rules();
    const evaluation& evaluation_of(const container_info& info) const;
    static mono_time now();

    asio::io_context& ioc_;
    controller_settings settings_;
    policy policy_;
    unsigned long policy_generation_ = 0;
    firewall& firewall_;
    std::shared_ptr<spdlog::logger> log_;
    int running_loops_ = 0;
    docker_watch watch_;
    container_cache cache_;
    reconcile_schedule schedule_;
    asio::steady_timer dirty_signal_; ///< timer used as a condition variable
    asio::thread_pool worker_{1};     ///< the single thread that runs ufw
    host_setup setup_;
    std::set<std::string> reported_covered_; ///< tuples already reported as admin-covered
    /// The last reading of ufw's rules and its index: a reading of the same version reuses
    /// both, so a round costs nothing per rule the admin holds. The next new reading is
    /// compared with it to notice an admin's rule going away.
    rules_file_contents actual_;
    rules_index actual_index_;
    bool stopping_ = false;
    std::atomic<bool> stop_requested_{false}; ///< stopping_, for the worker thread
    bool failed_ = false;
    bool firewall_healthy_ = true;
    write_path write_path_ = write_path::per_rule; ///< as the last probe reported it
    std::size_t pending_ops_ = 0;
    std::vector<failed_operation> failed_ops_; ///< failures of the last round, retried
    daemon_counters counters_;
    rule_gauges gauges_;
    bool synced_once_ = false;
    std::optional<std::int64_t> last_sync_unix_;
    containers_assessment assessed_;
    std::function<void()> synced_callback_;
    std::function<void()> fatal_callback_;
};

} // namespace dockgate
