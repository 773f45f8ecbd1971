// The --user daemon: a root supervisor forking the executor, the Docker API filter, the watcher.
#pragma once

#include "dockgate/policy/policy.hpp"
#include "dockgate/ufw/firewall.hpp"

#include <spdlog/logger.h>

#include <memory>

#include "options.hpp"

namespace dockgate::daemon {

/// What the watcher child runs: the daemon's reconcile loop against `fw` (here the executor's
/// client). main.cpp's run_watcher; a parameter so that the supervisor holds no io_context.
using watcher_main = int (*)(options& opt, policy pol, firewall& fw,
                             const std::shared_ptr<spdlog::logger>& log);

/// Root supervisor: the executor (uid 0, only CAP_NET_ADMIN and CAP_NET_RAW) runs ufw; the
/// Docker API filter (uid 0, no capabilities) passes the watcher's read-only Docker requests;
/// the watcher (opt.run_as, no capabilities) reads Docker through it and runs `run_watcher`. A
/// dead executor or filter is restarted; the watcher's exit ends the service with its status.
/// Returns the exit status: the watcher's, EX_CONFIG when the executor cannot run, 2 when
/// the supervisor cannot start (not root, unknown user, a socket it cannot create).
int run_privilege_separated(options& opt, policy pol, const std::shared_ptr<spdlog::logger>& log,
                            watcher_main run_watcher);

} // namespace dockgate::daemon
