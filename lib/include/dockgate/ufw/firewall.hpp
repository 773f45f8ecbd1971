// The firewall port: what the reconciler needs from ufw (the ufw adapter is in ufw_firewall.hpp).
#pragma once

#include "dockgate/docker/docker_setup.hpp"
#include "dockgate/model/error.hpp"
#include "dockgate/reconcile/plan.hpp"
#include "dockgate/ufw/rules_file.hpp"
#include "dockgate/ufw/ufw_output.hpp"

#include <boost/system/error_code.hpp>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

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
    /// The same, or only `unchanged` (and the version) when the files are still at
    /// `known_version` (0: no reading yet), so that an unchanged reading is neither sent nor
    /// parsed again. The default reads in full.
    virtual rules_file_contents read_rules_since(std::uint64_t known_version,
                                                 boost::system::error_code& ec) {
        (void)known_version;
        return read_rules(ec);
    }
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

/// True when the outcome confirms that `kind` now holds in ufw.
bool outcome_confirms(op_kind kind, ufw_outcome outcome);

} // namespace dockgate
