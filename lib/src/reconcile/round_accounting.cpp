// Round accounting: counters, the owned-rule count and failed operations from ufw's answers.
#include "dockgate/reconcile/round_accounting.hpp"

#include "dockgate/model/error.hpp"

namespace dockgate {

bool firewall_answering(const boost::system::error_code& ec) {
    return ec != errc::executor_unavailable && ec != errc::ufw_timeout;
}

round_outcome account_round(const plan& todo, const std::vector<apply_result>& results,
                            std::size_t answered, std::size_t owned_before, bool drift_only,
                            daemon_counters& counters) {
    round_outcome out;
    out.owned_rules = owned_before;
    for (std::size_t i = 0; i < answered && i < results.size() && i < todo.ops.size(); ++i) {
        const auto& op = todo.ops[i];
        const auto& result = results[i];
        counters.record_ufw_latency(result.took);
        out.firewall_answering = firewall_answering(result.ec);
        if (result.ec) {
            ++counters.failures;
            const auto& detail = result.verdict.detail;
            out.failures.push_back({op.target.owner.name, op.target.owner.short_id,
                                    to_string(op.kind), op.target.what.describe(),
                                    result.ec.message() + (detail.empty() ? "" : ": " + detail)});
            continue;
        }
        if (op.kind == op_kind::add) {
            ++counters.rules_added;
            // A re-tag ("owner changed": updated in place) or a rule already there was counted
            // from the file; only a new rule adds one.
            if (result.verdict.outcome != ufw_outcome::updated &&
                result.verdict.outcome != ufw_outcome::already_present) {
                ++out.owned_rules;
            }
        } else {
            ++counters.rules_removed;
            if (out.owned_rules > 0) {
                --out.owned_rules;
            }
        }
        if (drift_only) {
            ++counters.drift_corrections;
        }
    }
    return out;
}

} // namespace dockgate
