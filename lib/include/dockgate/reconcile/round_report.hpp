// The journal lines of a reconcile round: label rejections, vanished admin rules, covered
// rules and each operation's result; every list bounded.
#pragma once

#include "dockgate/model/container.hpp"
#include "dockgate/policy/labels.hpp"
#include "dockgate/reconcile/plan.hpp"
#include "dockgate/ufw/firewall.hpp"

#include <spdlog/logger.h>

#include <exception>
#include <set>
#include <string>
#include <vector>

namespace dockgate {

/// A container's evaluation: at most `max_rejections` rejected items (a label of thousands of
/// bad items makes a few lines, not thousands, so journald's rate limit hides nothing real),
/// then how many rules it wants and `why` ("started", "policy reloaded").
void log_evaluation(spdlog::logger& log, const container_info& info, const evaluation& result,
                    const char* why, std::size_t max_rejections);

/// Admin rules that went away since the last read: deleted by hand or lost to ufw's own race
/// between two ufw commands. dockgate never removes them, so the admin may not know.
void log_vanished(spdlog::logger& log, const foreign_rule_set& gone, std::size_t max_lines);

/// Wanted rules an admin rule already covers, once per rule; `reported` carries over rounds.
void log_covered(spdlog::logger& log, const plan& todo, std::set<std::string>& reported);

/// One line per answered operation of `todo`.
void log_results(spdlog::logger& log, const plan& todo, const std::vector<apply_result>& results,
                 std::size_t answered, bool drift_only);

/// What a dry run would do, one line per operation.
void log_dry_run(spdlog::logger& log, const plan& todo);

/// The first time dockgate is in sync (or has logged its dry-run plan).
void log_first_sync(spdlog::logger& log, bool dry_run, std::size_t containers, std::size_t owned);

/// What an exception that ended a loop says ("unknown exception" when it is not a std one).
std::string exception_text(const std::exception_ptr& error);

} // namespace dockgate
