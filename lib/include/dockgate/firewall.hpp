// The firewall port: what the reconciler needs from ufw, and the ufw CLI adapter behind it.
#pragma once

#include "dockgate/docker_setup.hpp"
#include "dockgate/error.hpp"
#include "dockgate/plan.hpp"
#include "dockgate/rules_file.hpp"
#include "dockgate/ufw_output.hpp"

#include <boost/system/error_code.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace spdlog {
class logger;
}

namespace dockgate {

/// How rule changes reach ufw.
enum class write_path {
    per_rule,  ///< one ufw command per rule
    verifying, ///< the batched path is being checked against `ufw --dry-run`
    batched,   ///< rules-file edit plus one `ip6tables-restore -n`, verified
};
const char* to_string(write_path path);

struct firewall_state {
    bool ufw_found = false;
    bool ipv6_enabled = false;
    bool active = false;
    write_path path = write_path::per_rule;
};

struct apply_result {
    ufw_verdict verdict;
    boost::system::error_code ec; ///< set when the change cannot be confirmed
    std::chrono::milliseconds took{0};
};

/// Blocking interface; the daemon calls it from its single worker thread only, which is what
/// serialises every ufw call (concurrent ufw runs lose rules, LP #2126805).
class firewall {
  public:
    firewall() = default;
    firewall(const firewall&) = delete;
    firewall& operator=(const firewall&) = delete;
    virtual ~firewall() = default;
    virtual firewall_state probe() = 0;
    /// All tuples of the rules files (both families when IPv4 is managed).
    virtual rules_file_contents read_rules(boost::system::error_code& ec) = 0;
    virtual apply_result apply(const rule_op& op) = 0;
    /// What the kernel's IPv6 tables say about Docker and dockgate's host rules.
    virtual kernel_facts read_kernel(boost::system::error_code& ec) {
        ec = errc::ufw_failed;
        return {};
    }
    /// Makes after6.rules and the kernel hold exactly the host rules `request` asks for.
    virtual apply_result apply_host_rules(const host_rules_request& /*request*/) {
        return {{ufw_outcome::error, "host rules are not supported here"}, errc::ufw_failed, {}};
    }
    /// Called with each operation's index and result, in order; returning false stops the batch.
    using batch_progress = std::function<bool(std::size_t, const apply_result&)>;
    /// Applies `ops` in order. The default runs apply() for each.
    virtual void apply_batch(const std::vector<rule_op>& ops, const batch_progress& progress) {
        for (std::size_t i = 0; i < ops.size(); ++i) {
            if (!progress(i, apply(ops[i]))) {
                return;
            }
        }
    }
};

struct ufw_settings {
    std::string ufw_path = "/usr/sbin/ufw";
    std::string config_dir = "/etc/ufw";            ///< holds user6.rules, user.rules, ufw.conf
    std::string defaults_file = "/etc/default/ufw"; ///< holds IPV6=
    std::chrono::milliseconds timeout{30000};
    bool include_ipv4 = false;
    /// Batched path: edit user6.rules under ufw's lock and load it with one ip6tables-restore -n.
    bool batch = true;
    std::string ip6tables_restore = "/usr/sbin/ip6tables-restore";
    std::string ip6tables_save = "/usr/sbin/ip6tables-save";
    std::string nft = "/usr/sbin/nft"; ///< only asked whether Docker 29's table exists
    std::string lock_file = "/run/ufw.lock";
    /// Where the dry-run verification makes its private (0700) scratch directories.
    std::string state_dir = "/run/dockgate";
};

/// Runs /usr/sbin/ufw per operation (argv only, LC_ALL=C) and reads its rules files. With
/// `batch`, IPv6 allow rules instead go in batches through the rules file and one
/// `ip6tables-restore -n` under ufw's lock, once the generator has matched the installed ufw's
/// `--dry-run` output for every rule shape (start_verification); otherwise, and for every
/// other rule, per-rule ufw commands.
class ufw_firewall final : public firewall {
  public:
    explicit ufw_firewall(ufw_settings settings, std::shared_ptr<spdlog::logger> log = nullptr);
    ~ufw_firewall() override;
    ufw_firewall(const ufw_firewall&) = delete;
    ufw_firewall& operator=(const ufw_firewall&) = delete;

    /// Checks the batched path in the background (no effect without `batch`).
    void start_verification();
    firewall_state probe() override;
    rules_file_contents read_rules(boost::system::error_code& ec) override;
    apply_result apply(const rule_op& op) override;
    void apply_batch(const std::vector<rule_op>& ops, const batch_progress& progress) override;
    kernel_facts read_kernel(boost::system::error_code& ec) override;
    apply_result apply_host_rules(const host_rules_request& request) override;

  private:
    struct batch_outcome {
        std::vector<apply_result> results; ///< one per operation, when the batch ran
        std::string fallback;              ///< otherwise why per-rule ufw must do it
    };
    void verify_in_background();
    /// nullopt when ufw's dry runs of every shape match the generator, from `current` onwards.
    std::optional<std::string> verify_generator(const std::string& current, bool all_shapes);
    batch_outcome run_batch(const std::vector<rule_op>& ops);
    std::string rules6_path() const { return settings_.config_dir + "/user6.rules"; }

    ufw_settings settings_;
    std::shared_ptr<spdlog::logger> log_;
    std::timed_mutex batch_mutex_; ///< held by the verification and by each batch
    std::atomic<write_path> path_{write_path::per_rule};
    std::string known_rules6_; ///< user6.rules as last verified or written by us
    std::thread verifier_;
};

/// True when the outcome confirms that `kind` now holds in ufw.
bool outcome_confirms(op_kind kind, ufw_outcome outcome);

} // namespace dockgate
