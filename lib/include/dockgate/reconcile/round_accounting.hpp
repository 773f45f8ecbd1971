// What one reconcile round did: its plan and ufw's answers in; counters, owned rules and failures
// out.
#pragma once

#include "dockgate/reconcile/plan.hpp"
#include "dockgate/reconcile/status_view.hpp"
#include "dockgate/ufw/firewall.hpp"
#include "dockgate/ufw/rules_file.hpp"

#include <cstddef>
#include <vector>

namespace dockgate {

struct round_outcome {
    /// dockgate's rules in ufw after the round: counted from the file read before it, plus
    /// each confirmed add of a new rule, minus each confirmed removal.
    std::size_t owned_rules = 0;
    /// The operations that failed, shown until a later round does them.
    std::vector<failed_operation> failures;
    /// False when the last answer says the firewall side itself is gone (executor down, ufw
    /// hung): what WATCHDOG=1 must not vouch for.
    bool firewall_answering = true;
    [[nodiscard]] bool failed() const { return !failures.empty(); }
};

/// Accounts for the first `answered` operations of `todo` (a batch stopped by shutdown answers
/// fewer than it holds) and their `results`, adding to `counters`.
round_outcome account_round(const plan& todo, const std::vector<apply_result>& results,
                            std::size_t answered, std::size_t owned_before, bool drift_only,
                            daemon_counters& counters);

/// False when `ec` says the firewall side is not answering at all.
bool firewall_answering(const boost::system::error_code& ec);

} // namespace dockgate
