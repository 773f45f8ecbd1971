// dockgated's command line: the options struct and the one function that parses and checks argv.
#pragma once

#include "dockgate/reconcile/controller.hpp"
#include "dockgate/ufw/ufw_firewall.hpp"

#include <chrono>
#include <string>

namespace dockgate::daemon {

/// Everything the command line sets, already checked and converted (see parse_options).
struct options {
    std::string docker_host = "unix:///var/run/docker.sock";
    std::string policy_path = "/etc/dockgate/policy.json";
    std::string check_policy;
    std::string explain;
    std::string log_level = "info";
    ufw_settings ufw;
    controller_settings controller; ///< docker.socket_path is derived from docker_host
    bool remove_all = false;
    std::string run_as;
    std::string executor_socket = "/run/dockgate/executor.sock";
    std::string status_socket = "/run/dockgate/status.sock";
    std::chrono::milliseconds status_timeout{5000};
    /// --user: the watcher waits this much past ufw.timeout for the executor's reply, so that a
    /// slow but working ufw run is not taken for a lost executor.
    std::chrono::milliseconds executor_reply_margin{15000};
    /// --user: the executor's watchdog (SIGALRM) fires this long past ufw.timeout (in whole
    /// seconds, alarm's unit), so that a hung executor is killed and restarted.
    std::chrono::seconds executor_watchdog_margin{10};
    /// --user: every operation of a batch must reach the executor this long after the batch's
    /// header, so that a peer trickling them cannot hold the one-at-a-time executor.
    std::chrono::milliseconds executor_batch_arrival{5000};
    /// --user: an executor or Docker API filter that exits sooner than this after its start is
    /// started again only after this pause, so that a crash loop does not spin.
    std::chrono::milliseconds child_restart_pause{1000};
    bool policy_was_builtin = false; ///< no policy file at start (see serve_executor)
    std::string docker_filter_socket = "/run/dockgate/docker.sock"; ///< the watcher's Docker
    int status_fd = -1; ///< inherited from the supervisor when privilege-separated
    std::string command;
    std::string metrics_listen; ///< empty: metrics off
    bool json = false;
};

enum class parse_status {
    run,         ///< `opt` is complete: go on
    help,        ///< print `text` (the --help text) and exit 0
    version,     ///< print `text` (the version line) and exit 0
    usage_error, ///< print `text` (one line naming the option) and exit EX_USAGE
};

struct parse_result {
    parse_status status = parse_status::run;
    std::string text;
};

/// Parses argv into `opt` and checks every value (ranges, --ufw-batch, --docker-host, the
/// command). Never throws for bad input: that is a usage_error.
parse_result parse_options(int argc, const char* const* argv, options& opt);

} // namespace dockgate::daemon
