// Privilege separation: the executor that alone runs ufw, and the watcher's client for it.
#pragma once

#include "dockgate/ufw/firewall.hpp"

#include <spdlog/logger.h>

#include <chrono>
#include <string>
#include <sys/types.h>

namespace dockgate {

/// The executor's deadlines (see serve_executor).
struct executor_deadlines {
    /// Bounds one request: past it SIGALRM kills the executor and the supervisor restarts it.
    std::chrono::seconds watchdog{40};
    /// Every member of a batch must have arrived this long after its header: the watcher sends
    /// them right after it, and a peer that trickles them must not hold the one-at-a-time
    /// executor.
    std::chrono::milliseconds batch_arrival{5000};
};

/// Serves requests on a listening SOCK_SEQPACKET unix socket (up to 8 connections), one
/// request at a time (which also serialises every ufw run). Peers whose uid is neither 0 nor
/// `allowed_uid` are refused. Each request is re-validated (parse_request) before the ufw
/// argv is built; a refused request is logged with its reason and the executor keeps serving.
/// `watchdog` bounds one request: past it the process is killed by SIGALRM so that its
/// supervisor restarts it. Every add is checked against the policy the executor loads itself
/// from `policy_path` (built-in when the file does not exist; reloaded on SIGHUP, a bad file
/// keeping the previous one) and against its rule caps (rule_guard.hpp): the watcher that sends
/// it is assumed compromised. A batch's members must all arrive within one deadline.
/// Returns when the listening socket fails.
/// `builtin_allowed`: the daemon started without a policy file, so the built-in policy may
/// stand in for it (never when it started with one: see executor_policy).
void serve_executor(int listen_fd, firewall& fw, uid_t allowed_uid, spdlog::logger& log,
                    const executor_deadlines& deadlines, const std::string& policy_path,
                    bool builtin_allowed = true);

/// The watcher's side: a `firewall` whose every call is a request to the executor. A broken
/// or silent connection is replaced once per call; after that the call fails with
/// errc::executor_unavailable and the reconciler retries later, so nothing is lost.
class remote_firewall final : public firewall {
  public:
    remote_firewall(std::string socket_path, std::chrono::milliseconds timeout)
        : socket_path_(std::move(socket_path)), timeout_(timeout) {}
    ~remote_firewall() override;
    remote_firewall(const remote_firewall&) = delete;
    remote_firewall& operator=(const remote_firewall&) = delete;

    firewall_state probe() override;
    rules_file_contents read_rules(boost::system::error_code& ec) override;
    rules_file_contents read_rules_since(std::uint64_t known_version,
                                         boost::system::error_code& ec) override;
    apply_result apply(const rule_op& op) override;
    kernel_facts read_kernel(boost::system::error_code& ec) override;
    apply_result apply_host_rules(const host_rules_request& request) override;
    /// Sends the operations as `batch N` requests; answers arrive one per operation.
    void apply_batch(const std::vector<rule_op>& ops, const batch_progress& progress) override;

  private:
    bool connect_once();
    /// Sends `request`; fills `replies` with every message up to and including the final one.
    boost::system::error_code exchange(const std::string& request,
                                       std::vector<std::string>& replies);
    boost::system::error_code exchange_once(const std::string& request,
                                            std::vector<std::string>& replies);
    void disconnect();

    std::string socket_path_;
    std::chrono::milliseconds timeout_;
    int fd_ = -1;
};

} // namespace dockgate
