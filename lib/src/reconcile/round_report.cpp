// Journal lines of a reconcile round, with the structured fields journalctl filters on.
#include "dockgate/reconcile/round_report.hpp"

#include "dockgate/service/log_fields.hpp"

namespace dockgate {

void log_evaluation(spdlog::logger& log, const container_info& info, const evaluation& result,
                    const char* why, std::size_t max_rejections) {
    const auto short_id = info.id.substr(0, 12);
    const log_scope container_fields({{"CONTAINER_ID", short_id}, {"CONTAINER_NAME", info.name}});
    for (std::size_t i = 0; i < result.rejected.size() && i < max_rejections; ++i) {
        const auto& r = result.rejected[i];
        const log_scope rejection_fields({{"LABEL", r.label}, {"REASON", r.reason}});
        log.warn("container {} ({}): label {}=\"{}\" rejected: {}", printable(info.name), short_id,
                 r.label, r.value, r.reason);
    }
    if (result.rejected.size() > max_rejections) {
        log.warn("container {} ({}): and {} more rejected label item(s) (see dockgated status)",
                 printable(info.name), short_id, result.rejected.size() - max_rejections);
    }
    if (result.wants_anything()) {
        log.info("container {} ({}) {}: {} rule(s) wanted", info.name, short_id, why,
                 result.rules.size());
    }
}

void log_vanished(spdlog::logger& log, const foreign_rule_set& gone, std::size_t max_lines) {
    std::size_t logged = 0;
    for (const auto& [tuple, comment] : gone) {
        if (logged++ == max_lines) {
            break; // bounded, like rejections: the rest is one line
        }
        const auto shown =
            comment.empty() ? tuple : tuple + " comment '" + printable(comment) + "'";
        const log_scope fields({{"RULE", shown}});
        log.warn("a rule dockgate does not own is gone from ufw: {} (deleted by hand, or lost to "
                 "ufw commands that ran at the same time)",
                 shown);
    }
    if (gone.size() > max_lines) {
        log.warn("and {} more rules dockgate does not own are gone from ufw",
                 gone.size() - max_lines);
    }
}

void log_covered(spdlog::logger& log, const plan& todo, std::set<std::string>& reported) {
    std::set<std::string> covered_now;
    for (const auto& covered : todo.admin_covered) {
        covered_now.insert(covered.what.tuple());
        if (reported.contains(covered.what.tuple())) {
            continue;
        }
        log.info("container {}: {} already covered by an admin rule (same address, port and "
                 "source); not adding one",
                 covered.owner.name, covered.what.describe());
    }
    reported = std::move(covered_now);
}

void log_results(spdlog::logger& log, const plan& todo, const std::vector<apply_result>& results,
                 std::size_t answered, bool drift_only) {
    for (std::size_t i = 0; i < answered && i < results.size(); ++i) {
        const auto& op = todo.ops[i];
        const auto& result = results[i];
        const log_scope op_fields({{"CONTAINER_ID", op.target.owner.short_id},
                                   {"CONTAINER_NAME", op.target.owner.name},
                                   {"RULE", op.target.what.describe()},
                                   {"ACTION", to_string(op.kind)},
                                   {"REASON", op.reason}});
        if (result.ec) {
            log.error("container {}: {} {} failed after {} ms: {} ({})", op.target.owner.name,
                      to_string(op.kind), op.target.what.describe(), result.took.count(),
                      result.ec.message(), result.verdict.detail);
            continue;
        }
        log.info("container {} ({}): {} {} [{}{}; {}] in {} ms", op.target.owner.name,
                 op.target.owner.short_id, op.kind == op_kind::add ? "allowed" : "removed",
                 op.target.what.describe(), drift_only ? "drift: " : "", op.reason,
                 to_string(result.verdict.outcome), result.took.count());
    }
}

void log_dry_run(spdlog::logger& log, const plan& todo) {
    for (const auto& op : todo.ops) {
        log.info("dry run: would {} {} ({}) for {}", to_string(op.kind), op.target.what.describe(),
                 op.reason, op.target.owner.name);
    }
}

void log_first_sync(spdlog::logger& log, bool dry_run, std::size_t containers, std::size_t owned) {
    if (dry_run) {
        log.info("dry run: plan logged for {} container(s); ufw left as it is", containers);
    } else {
        log.info("in sync: {} container(s), {} dockgate rule(s)", containers, owned);
    }
}

std::string exception_text(const std::exception_ptr& error) {
    try {
        std::rethrow_exception(error);
    } catch (const std::exception& e) {
        return e.what();
    } catch (...) {
    }
    return "unknown exception";
}

} // namespace dockgate
