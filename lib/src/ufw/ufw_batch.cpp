// The batched write path: user6.rules edited under ufw's lock, loaded by one ip6tables-restore.
#include "dockgate/model/error.hpp"
#include "dockgate/privsep/process.hpp"
#include "dockgate/ufw/rules_document.hpp"
#include "dockgate/ufw/ufw_firewall.hpp"

#include <spdlog/logger.h>

#include <unistd.h>

#include "ufw_files.hpp"

namespace dockgate {
namespace {

using clock = std::chrono::steady_clock;

/// One failed result per operation of a batch that could not start.
std::vector<apply_result> all_failed(std::size_t count, errc code, const std::string& detail) {
    return std::vector<apply_result>(count, apply_result{{ufw_outcome::error, detail}, code, {}});
}

/// Each operation's verdict on the document, `doc` changed by all of them.
std::vector<apply_result> apply_all(rules_document& doc, const std::vector<rule_op>& ops) {
    std::vector<apply_result> results;
    for (const auto& op : ops) {
        apply_result result;
        result.verdict = apply_to_document(doc, op);
        if (!outcome_confirms(op.kind, result.verdict.outcome)) {
            result.ec = errc::ufw_failed;
        }
        results.push_back(std::move(result));
    }
    return results;
}

/// Whether `result` stands for a change of the file (not refused, not already so).
bool changes_the_file(const apply_result& result) {
    return !result.ec && result.verdict.outcome != ufw_outcome::already_present &&
           result.verdict.outcome != ufw_outcome::not_found;
}

/// The file was not replaced: every result that would have changed it failed with `detail`.
void fail_changes(std::vector<apply_result>& results, errc code, const std::string& detail) {
    for (auto& result : results) {
        if (changes_the_file(result)) {
            result.verdict = {ufw_outcome::error, detail};
            result.ec = code;
        }
    }
}

/// Puts the kernel back to `text`, what the file said when we read it.
void reload_old_rules(const ufw_settings& settings, const std::string& path,
                      const std::string& text) {
    std::string ignored;
    if (const auto old_rules = write_beside(path, text, ignored)) {
        restore_rules(settings, *old_rules);
        ::unlink(old_rules->c_str());
    }
}

/// Replaces `path`, read as `old_text`, with `new_text`, loading it into the kernel first when
/// ufw is `active` (ip6tables-restore applies all or nothing). True when both changed;
/// otherwise both are as they were and the results that wanted a change have failed.
bool write_and_load(const ufw_settings& settings, const std::string& path,
                    const std::string& old_text, const std::string& new_text, bool active,
                    std::vector<apply_result>& results) {
    std::string error;
    const auto temp = write_beside(path, new_text, error);
    if (!temp) {
        fail_changes(results, errc::rules_file_unwritable, error + "; " + path + " left as it was");
        return false;
    }
    if (const auto restore = active ? restore_rules(settings, *temp) : process_result{};
        active && restore.exit_code != 0) {
        // The kernel still has the old rules.
        ::unlink(temp->c_str());
        fail_changes(results, errc::ufw_failed, "ip6tables-restore -n: " + failure_text(restore));
        return false;
    }
    if (read_text(path) != old_text) {
        // Edited by hand (an editor takes no ufw lock) since we read it, as late as during
        // the load: the rename would silently replace that edit. Keep the edit, put the
        // kernel back to what we read, and let the retry start from the new text.
        ::unlink(temp->c_str());
        if (active) {
            reload_old_rules(settings, path, old_text);
        }
        fail_changes(results, errc::rules_file_unwritable,
                     path + " changed while dockgate was writing it; not replaced, retried");
        return false;
    }
    if (!replace_with(*temp, path, error)) {
        // Put the kernel back to what the file (unchanged) says.
        if (active) {
            restore_rules(settings, path);
        }
        fail_changes(results, errc::rules_file_unwritable, error);
        return false;
    }
    return true;
}

/// With ufw inactive the kernel was left alone: the changes are only recorded in the file.
void mark_recorded(std::vector<apply_result>& results) {
    for (auto& result : results) {
        if (changes_the_file(result)) {
            result.verdict.outcome = ufw_outcome::recorded;
        }
    }
}

void stamp_took(std::vector<apply_result>& results, clock::time_point started) {
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - started);
    for (auto& result : results) {
        result.took = took;
    }
}

} // namespace

void ufw_firewall::apply_batch(const std::vector<rule_op>& ops, const batch_progress& progress) {
    std::size_t next = 0;
    while (next < ops.size()) {
        if (!settings_.batch || !batchable(ops[next].target.what)) {
            if (!progress(next, apply(ops[next]))) {
                return;
            }
            ++next;
            continue;
        }
        // The longest run of batchable operations, so that the plan's order is kept.
        auto end = next;
        while (end < ops.size() && batchable(ops[end].target.what)) {
            ++end;
        }
        const std::vector<rule_op> run(ops.begin() + static_cast<long>(next),
                                       ops.begin() + static_cast<long>(end));
        batch_outcome outcome;
        {
            // A verification in progress holds the mutex: wait for it as long as for one ufw
            // run, then do this batch with ufw commands rather than wait longer.
            std::unique_lock guard(batch_mutex_, std::defer_lock);
            if (!guard.try_lock_for(settings_.timeout)) {
                outcome.fallback = "the start-up verification is still running";
            } else if (path_ == write_path::batched) {
                outcome = run_batch(run);
            }
        }
        if (outcome.results.empty()) {
            if (!outcome.fallback.empty() && log_) {
                log_->warn(
                    "batched ufw path skipped for {} rule(s): {}; using one ufw command per rule",
                    run.size(), outcome.fallback);
            }
            for (; next < end; ++next) {
                if (!progress(next, apply(ops[next]))) {
                    return;
                }
            }
            continue;
        }
        for (const auto& result : outcome.results) {
            if (!progress(next++, result)) {
                return;
            }
        }
    }
}

ufw_firewall::batch_outcome ufw_firewall::run_batch(const std::vector<rule_op>& ops) {
    const auto started = clock::now();
    batch_outcome outcome;
    auto fail_all = [&](errc code, const std::string& detail) {
        outcome.results = all_failed(ops.size(), code, detail);
        stamp_took(outcome.results, started);
        return outcome;
    };
    const ufw_lock lock(settings_.lock_file, settings_.timeout);
    if (!lock.held()) {
        return fail_all(errc::ufw_lock_timeout, lock.error());
    }
    const auto path = rules6_path();
    const auto text = read_text(path);
    if (!text) {
        return fail_all(errc::rules_file_unreadable, errno_text("cannot read " + path));
    }
    if (*text != known_rules6_) {
        // Changed by ufw or by hand since we last looked: carrying its blocks over verbatim is
        // exact only if they are in ufw's own form, which one more dry run confirms.
        if (auto why = verify_generator(*text, false)) {
            outcome.fallback =
                path + " changed outside dockgate and is not in ufw's own form (" + *why + ")";
            return outcome;
        }
        known_rules6_ = *text;
    }
    std::string why;
    auto doc = parse_rules_document(*text, &why);
    if (!doc) {
        outcome.fallback = path + ": " + why;
        return outcome;
    }
    outcome.results = apply_all(*doc, ops);
    if (const auto new_text = doc->render(); new_text != *text) {
        const bool active = probe().active;
        if (write_and_load(settings_, path, *text, new_text, active, outcome.results)) {
            known_rules6_ = new_text;
            if (!active) {
                mark_recorded(outcome.results);
            }
        }
    }
    stamp_took(outcome.results, started);
    return outcome;
}

} // namespace dockgate
