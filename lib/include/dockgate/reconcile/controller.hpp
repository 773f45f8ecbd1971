// The daemon's core loop: follows Docker, keeps a container cache, and reconciles ufw to it.
#pragma once

#include "dockgate/asio.hpp"
#include "dockgate/docker/connection_fsm.hpp"
#include "dockgate/model/container.hpp"
#include "dockgate/docker/docker_client.hpp"
#include "dockgate/docker/docker_event.hpp"
#include "dockgate/ufw/firewall.hpp"
#include "dockgate/policy/labels.hpp"
#include "dockgate/reconcile/plan.hpp"
#include "dockgate/policy/policy.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/logger.h>

#include <array>
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
    /// Events within this window are applied together (start/die flapping collapses).
    std::chrono::milliseconds coalesce_window{10};
    /// Full re-read of ufw's rules to catch hand edits (drift); 0 disables.
    std::chrono::milliseconds drift_interval{60000};
    /// After a round that changed ufw, read its rules once more this much later: a ufw command
    /// an admin started before that write can save its older copy over it (ufw's own
    /// read-modify-write race), and this catches that long before the drift timer; 0 disables.
    std::chrono::milliseconds recheck_after_write{2000};
    /// First and longest wait before failed ufw operations are tried again.
    std::chrono::milliseconds retry_initial{1000};
    std::chrono::milliseconds retry_max{60000};
    /// Longest event line accepted from the stream.
    std::size_t max_event_line = 1U << 20U;
    /// Rejected label items logged per container and evaluation; the rest are counted.
    std::size_t max_rejections_logged = 5;
    bool dry_run = false;
};

/// Counters and state for logs and the status view.
struct controller_stats {
    unsigned long events = 0;
    unsigned long reconciles = 0;
    unsigned long rules_added = 0;
    unsigned long rules_removed = 0;
    unsigned long failures = 0;
    unsigned long drift_corrections = 0;
    std::size_t owned_rules = 0;
    /// Route rules wanted by running containers, by what Docker does to their packets.
    std::size_t rules_effective = 0;
    std::size_t rules_dead = 0;
    /// Published ports that Docker accepts before ufw, with no rule of dockgate's asking for it.
    std::size_t published_open_past_ufw = 0;
    bool synced_once = false;
    /// ufw call latency: counts per upper bound (seconds) of ufw_latency_bounds, plus sum.
    std::array<unsigned long, 10> ufw_latency_buckets{};
    double ufw_latency_sum = 0;
    unsigned long ufw_calls = 0;
    std::optional<std::chrono::system_clock::time_point> last_sync;
};

/// Upper bounds (seconds) of the ufw latency histogram; the last bucket is +Inf.
inline constexpr std::array<double, 9> ufw_latency_bounds{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};

/// The counters in Prometheus text exposition format (version 0.0.4).
std::string render_metrics(const controller_stats& stats, bool docker_connected);

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

    [[nodiscard]] const controller_stats& stats() const { return stats_; }
    [[nodiscard]] const policy& current_policy() const { return policy_; }
    [[nodiscard]] conn_state connection() const { return fsm_.state(); }
    /// Docker stream up and the firewall side answering: what WATCHDOG=1 vouches for.
    [[nodiscard]] bool healthy() const;
    /// Everything `dockgated status` shows, as JSON.
    [[nodiscard]] nlohmann::json status() const;
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
    asio::awaitable<void> watch_docker();
    asio::awaitable<void> reconcile_loop();
    asio::awaitable<void> health_check(std::shared_ptr<bool> active);
    asio::awaitable<void> ping_docker();
    asio::awaitable<error_code> take_snapshot();
    asio::awaitable<error_code> list_containers(std::string id_prefix,
                                                std::vector<nlohmann::json>& items);
    void request_resync();
    asio::awaitable<void> refresh_changed_containers();
    void note_container(const container_info& info, const char* why);
    asio::awaitable<void> reconcile_once(bool drift_only);
    void handle_line(std::string_view line);
    void mark_dirty();
    void schedule_retry();
    void record_ufw_latency(std::chrono::milliseconds took);
    std::vector<owned_rule> desired_rules();
    /// evaluate() of the container, cached per container, policy and publish mode.
    const evaluation& evaluation_of(const container_info& info) const;
    asio::awaitable<void> refresh_docker_setup();
    asio::awaitable<bool> ensure_host_rules(bool ufw_active);
    /// Each container's rules with what Docker does to them; logs changes of state once.
    void assess_rules();
    [[nodiscard]] publish_target publish_mode() const;
    [[nodiscard]] nlohmann::json setup_status() const;

    template <class Work> auto off_loop(Work work) -> asio::awaitable<decltype(work())>;

    asio::io_context& ioc_;
    controller_settings settings_;
    policy policy_;
    firewall& firewall_;
    std::shared_ptr<spdlog::logger> log_;
    docker_client docker_;
    connection_fsm fsm_;
    std::unique_ptr<event_stream> stream_;
    asio::steady_timer backoff_timer_;
    asio::steady_timer dirty_signal_; ///< timer used as a condition variable
    asio::thread_pool worker_{1};     ///< the single thread that runs ufw
    std::map<std::string, container_info> containers_;
    /// Containers whose state must be re-read before the next reconcile (coalesced events).
    std::set<std::string> to_inspect_;
    /// The container whose inspect is awaited, and whether a stop event for it arrived
    /// meanwhile (the reply may predate the stop; the stop wins).
    std::string inspecting_;
    bool stopped_while_inspecting_ = false;
    std::set<std::string> reported_covered_; ///< tuples already reported as admin-covered
    /// The admin's rules as last read from ufw (see foreign_rules), to notice one going away.
    std::optional<foreign_rule_set> foreign_seen_;
    asio::steady_timer health_timer_;
    std::optional<std::chrono::steady_clock::time_point> retry_at_;
    std::optional<std::chrono::steady_clock::time_point> recheck_at_; ///< see recheck_after_write
    std::chrono::milliseconds retry_delay_{0};
    bool snapshot_valid_ = false;
    bool dirty_ = false;
    bool stopping_ = false;
    std::atomic<bool> stop_requested_{false}; ///< stopping_, for the worker thread
    bool firewall_healthy_ = true;
    write_path write_path_ = write_path::per_rule; ///< as the last probe reported it
    std::size_t pending_ops_ = 0;
    struct failed_op {
        std::string container, short_id, action, rule, error;
    };
    std::vector<failed_op> failed_ops_; ///< failures of the last reconcile, retried with backoff
    int running_loops_ = 0;
    controller_stats stats_;
    std::function<void()> synced_callback_;
    std::function<void()> fatal_callback_;
    struct cached_evaluation {
        container_info info;
        unsigned long policy_generation = 0;
        publish_target mode = publish_target::host_port;
        std::optional<evaluation> result;
    };
    mutable std::map<std::string, cached_evaluation> evaluations_;
    unsigned long policy_generation_ = 0;
    bool failed_ = false;
    std::chrono::steady_clock::time_point next_drift_check_;
    /// What Docker does to IPv6 here (docker_setup.hpp), re-read on every snapshot, drift
    /// tick, network event and policy reload.
    std::optional<engine_facts> engine_;
    kernel_facts kernel_;
    host_posture posture_;
    bool setup_stale_ = true;
    std::optional<host_rules_request> host_rules_written_;
    std::vector<std::string> reported_posture_;
    /// Rule or published port to its last logged state, so each change is logged once.
    std::map<std::string, std::string> reported_states_;
    struct assessed_rule {
        std::string rule, state, why, fix;
    };
    /// Per container id, filled by assess_rules() for status().
    std::map<std::string, std::vector<assessed_rule>> assessments_;
};

} // namespace dockgate
