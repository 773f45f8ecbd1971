// dockgated's one-shot commands: status, --check-policy, --explain and --remove-all-rules.
#pragma once

#include "dockgate/docker/docker_client.hpp"
#include "dockgate/policy/policy.hpp"
#include "dockgate/ufw/firewall.hpp"

#include <spdlog/logger.h>

#include <chrono>
#include <string>

namespace dockgate::daemon {

/// `dockgated status`: reads the running daemon's status socket and prints it (raw JSON with
/// `raw_json`). Gives up after `timeout`. Returns the exit status: 0, or 1 with a message.
int show_status(const std::string& path, bool raw_json, std::chrono::milliseconds timeout);

/// --check-policy: 0 and "FILE: OK" for a valid policy file, 1 and the error otherwise.
int check_policy(const std::string& path);

/// --explain: what rules `container` gets under `pol` and why, and what ufw holds now. Asks
/// Docker at `docker`'s socket. Returns 0, or 1 when Docker or the container cannot be read.
int explain(const docker_settings& docker, const std::string& container, const policy& pol,
            firewall& fw);

/// --remove-all-rules: deletes every dockgate-owned ufw rule and dockgate's host rules (the
/// uninstall). Returns 0, or 1 when something could not be read or removed.
int remove_all_rules(firewall& fw, spdlog::logger& log);

} // namespace dockgate::daemon
