// Reads Docker's IPv6 setup, keeps dockgate's host rules in after6.rules, logs what it means.
#include "dockgate/reconcile/host_setup.hpp"

#include "dockgate/reconcile/off_loop.hpp"
#include "dockgate/service/log_fields.hpp"

#include <algorithm>
#include <net/if.h>

namespace dockgate {
namespace {

/// The names of this network namespace's interfaces (no privilege needed).
std::vector<std::string> host_interfaces() {
    std::vector<std::string> names;
    if (auto* list = ::if_nameindex()) {
        for (const auto* entry = list; entry->if_index != 0 && entry->if_name != nullptr; ++entry) {
            names.emplace_back(entry->if_name);
        }
        ::if_freenameindex(list);
    }
    return names;
}

} // namespace

publish_target host_setup::publish_mode() const {
    // With Docker's ip6tables on, a published port reaches the container by DNAT through
    // FORWARD, where the container port's route rule decides; otherwise docker-proxy answers
    // on the host, where an IN rule for the host port does.
    return posture_.mode == docker_ip6_mode::iptables || posture_.mode == docker_ip6_mode::nftables
               ? publish_target::container_port
               : publish_target::host_port;
}

asio::awaitable<void> host_setup::refresh(docker_client& docker, const policy& pol) {
    stale_ = false;
    std::string why;
    const auto reading = co_await read_docker_setup(docker, &why);
    if (!reading) {
        log_->warn("cannot read Docker's setup ({}); rules are written but whether Docker lets "
                   "their traffic reach ufw is not known",
                   why);
        co_return;
    }
    for (const auto& warning : reading->warnings) {
        log_->warn("Docker's setup: {}", warning);
    }
    error_code ec;
    auto read_kernel_work = [this, &ec] { return firewall_.read_kernel(ec); };
    auto kernel = co_await off_loop(worker_, std::move(read_kernel_work));
    if (ec) {
        log_->warn("cannot read the kernel's IPv6 tables ({}); whether Docker's rules come before "
                   "ufw's is not known",
                   ec.message());
        co_return;
    }
    engine_ = reading->engine;
    kernel_ = std::move(kernel);
    network_ids_.clear();
    for (const auto& network : reading->networks) {
        network_ids_.push_back(network.id);
    }
    posture_ = assess_host(*engine_, reading->networks, kernel_,
                           pol.docker_user_guard ? guard_setting::automatic : guard_setting::off,
                           pol.egress);
    posture_.stray_bridges = bridges_not_docker(host_interfaces(), reading->networks);
    log_posture();
}

bool host_setup::knows_network(std::string_view id) const {
    return !id.empty() &&
           std::find(network_ids_.begin(), network_ids_.end(), id) != network_ids_.end();
}

void host_setup::log_posture() {
    auto summary = posture_.summary();
    if (summary == reported_posture_) {
        return;
    }
    log_->info("Docker {} ({} backend), IPv6 filtering by Docker: {}", engine_->version,
               engine_->nftables() ? "nftables" : "iptables", to_string(posture_.mode));
    for (const auto& line : summary) {
        const bool bad = line.find("NOT") != std::string::npos ||
                         line.find("OPEN") != std::string::npos ||
                         line.find("cannot") != std::string::npos;
        const log_scope fields({{"POSTURE", line}});
        if (bad) {
            log_->warn("{}", line);
        } else {
            log_->info("{}", line);
        }
    }
    reported_posture_ = std::move(summary);
}

asio::awaitable<bool> host_setup::ensure_host_rules(bool ufw_active, bool dry_run,
                                                    daemon_counters& counters) {
    if (!engine_ || dry_run) {
        co_return true;
    }
    // Not while ufw is disabled: the guard would send every new connection into an emptied
    // ufw6-before-forward and drop it, closing what the admin just opened.
    const host_rules_request want{posture_.bridge_rules_wanted, posture_.egress,
                                  posture_.guard_wanted && ufw_active};
    const bool kernel_matches = !kernel_.ufw_chains || (kernel_.bridge_rules == want.bridge_rules &&
                                                        kernel_.guard == want.guard);
    if (written_ == want && kernel_matches) {
        co_return true;
    }
    auto work = [this, want] { return firewall_.apply_host_rules(want); };
    const auto result = co_await off_loop(worker_, std::move(work));
    if (result.ec) {
        ++counters.failures;
        log_->error("cannot write dockgate's host rules to ufw's after6.rules: {} ({})",
                    result.ec.message(), result.verdict.detail);
        co_return false;
    }
    written_ = want;
    if (kernel_.ufw_chains) {
        kernel_.bridge_rules = want.bridge_rules;
        kernel_.guard = want.guard;
    }
    if (result.verdict.outcome != ufw_outcome::already_present) {
        log_->info("host rules in ufw's after6.rules: bridge traffic{} {}, DOCKER-USER guard {}",
                   want.egress ? " and egress" : "",
                   want.bridge_rules ? "allowed" : "left to Docker", want.guard ? "on" : "off");
    }
    co_return true;
}

void host_setup::log_changes(const containers_assessment& assessed) const {
    for (const auto& change : assessed.changes) {
        const log_scope container_fields({{"CONTAINER_ID", change.container_id.substr(0, 12)},
                                          {"CONTAINER_NAME", change.container_name}});
        switch (change.what) {
        case assessment_change::kind::dead: {
            const log_scope fields({{"RULE", change.subject}, {"STATE", change.state}});
            log_->warn("container {}: {} does NOT open it: {}; fix: {}", change.container_name,
                       change.subject, change.why, change.fix);
            break;
        }
        case assessment_change::kind::now_opens: {
            const log_scope fields({{"RULE", change.subject}, {"STATE", change.state}});
            log_->info("container {}: {} now opens it", change.container_name, change.subject);
            break;
        }
        case assessment_change::kind::open_bypass: {
            const log_scope fields({{"PORT", change.subject}, {"STATE", change.state}});
            log_->warn("container {}: published port {} is OPEN to everyone past ufw, with no "
                       "label asking for it: {}; fix: {}",
                       change.container_name, change.subject, change.why, change.fix);
            break;
        }
        }
    }
}

std::optional<setup_view> host_setup::view() const {
    if (!engine_) {
        return std::nullopt;
    }
    return setup_view{engine_->version,
                      engine_->nftables() ? "nftables" : "iptables",
                      to_string(posture_.mode),
                      posture_.guard_wanted,
                      posture_.bridge_rules_wanted,
                      posture_.egress,
                      posture_.summary()};
}

} // namespace dockgate
