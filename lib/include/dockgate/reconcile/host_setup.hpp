// Docker's IPv6 setup as read from the Engine and the kernel, and dockgate's host rules for it.
#pragma once

#include "dockgate/asio.hpp"
#include "dockgate/docker/docker_client.hpp"
#include "dockgate/docker/docker_setup.hpp"
#include "dockgate/policy/labels.hpp"
#include "dockgate/policy/policy.hpp"
#include "dockgate/reconcile/assessment.hpp"
#include "dockgate/reconcile/status_view.hpp"
#include "dockgate/ufw/firewall.hpp"

#include <spdlog/logger.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace dockgate {

class host_setup {
  public:
    /// `fw`, `worker` and `log` must outlive it.
    host_setup(firewall& fw, asio::thread_pool& worker, std::shared_ptr<spdlog::logger> log)
        : firewall_(fw), worker_(worker), log_(std::move(log)) {}

    /// Re-read before the next round: a new snapshot, network event, drift tick or policy.
    void mark_stale() { stale_ = true; }
    [[nodiscard]] bool stale() const { return stale_; }
    /// Reads Docker's setup and the kernel's tables; logs the posture when it changed.
    asio::awaitable<void> refresh(docker_client& docker, const policy& pol);
    /// Makes after6.rules and the kernel hold the host rules the posture wants; false (and
    /// counted as a failure) when they cannot be written.
    asio::awaitable<bool> ensure_host_rules(bool ufw_active, bool dry_run,
                                            daemon_counters& counters);
    /// Logs each change of a rule's or published port's state once.
    void log_changes(const containers_assessment& assessed) const;

    [[nodiscard]] bool known() const { return engine_.has_value(); }
    /// Whether the last refresh saw this network: a container joining or leaving a known
    /// network changes nothing of the setup (networks' settings are fixed at creation).
    [[nodiscard]] bool knows_network(std::string_view id) const;
    [[nodiscard]] const host_posture& posture() const { return posture_; }
    [[nodiscard]] const kernel_facts& kernel() const { return kernel_; }
    /// Where fw.publish opens a published port under this setup.
    [[nodiscard]] publish_target publish_mode() const;
    [[nodiscard]] std::optional<setup_view> view() const;

  private:
    void log_posture();

    firewall& firewall_;
    asio::thread_pool& worker_;
    std::shared_ptr<spdlog::logger> log_;
    bool stale_ = true;
    std::optional<engine_facts> engine_;
    kernel_facts kernel_;
    host_posture posture_;
    std::vector<std::string> network_ids_; ///< of the last refresh
    std::optional<host_rules_request> written_;
    std::vector<std::string> reported_posture_;
};

} // namespace dockgate
