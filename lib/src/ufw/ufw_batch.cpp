// The batched write path: user6.rules edited under ufw's lock, loaded by one ip6tables-restore.
#include "dockgate/model/error.hpp"
#include "dockgate/privsep/process.hpp"
#include "dockgate/ufw/rules_document.hpp"
#include "dockgate/ufw/ufw_firewall.hpp"

#include <spdlog/logger.h>

#include <algorithm>
#include <functional>
#include <malloc.h>
#include <unistd.h>

#include "nft_monitor.hpp"
#include "ufw_files.hpp"

namespace dockgate {
namespace {

using clock = std::chrono::steady_clock;

/// One failed result per operation of a batch that could not start.
std::vector<apply_result> all_failed(std::size_t count, errc code, const std::string& detail) {
    return std::vector<apply_result>(count, apply_result{{ufw_outcome::error, detail}, code, {}});
}

/// Each operation's verdict on the document; `doc` changed by all of them, as `changes` says.
std::vector<apply_result> apply_all(rules_document& doc, const std::vector<rule_op>& ops,
                                    document_changes& changes) {
    document_editor editor(doc, ops);
    std::vector<apply_result> results;
    results.reserve(ops.size());
    for (const auto& op : ops) {
        apply_result result;
        result.verdict = editor.apply(op);
        if (!outcome_confirms(op.kind, result.verdict.outcome)) {
            result.ec = errc::ufw_failed;
        }
        results.push_back(std::move(result));
    }
    changes = editor.finish();
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

/// How the kernel follows a new rules file.
struct kernel_step {
    /// The kernel already holds the new rules (changed rule by rule before the write): if the
    /// file cannot follow, the kernel is put back to the old file.
    bool changed_already = false;
    /// Otherwise, when ufw is active: puts the kernel to the rules in the written file it is
    /// given before the rename; nullopt, or why not (the kernel then as it was).
    std::function<std::optional<std::string>(const std::string&)> load;
};

/// Replaces `path`, read as `old_text`, with `new_text`, and has the kernel follow as `kernel`
/// says. True when both changed; otherwise both are as they were and the results that wanted a
/// change have failed.
bool write_and_load(const ufw_settings& settings, const std::string& path,
                    const std::string& old_text, const std::string& new_text,
                    const kernel_step& kernel, std::vector<apply_result>& results) {
    bool kernel_changed = kernel.changed_already;
    // Every way out without the rename leaves the file as it was: the kernel goes back to it.
    auto give_up = [&](errc code, const std::string& detail) {
        if (kernel_changed) {
            restore_rules(settings, path);
        }
        fail_changes(results, code, detail);
        return false;
    };
    std::string error;
    // Synced after the load, before the rename: the kernel's change does not wait for the disk.
    const auto temp = write_beside(path, new_text, error, false);
    if (!temp) {
        return give_up(errc::rules_file_unwritable, error + "; " + path + " left as it was");
    }
    if (auto failure = kernel.load ? kernel.load(*temp) : std::nullopt) {
        ::unlink(temp->c_str());
        return give_up(errc::ufw_failed, *failure);
    }
    kernel_changed = kernel_changed || kernel.load;
    if (!sync_file(*temp, error)) {
        ::unlink(temp->c_str());
        return give_up(errc::rules_file_unwritable, error + "; " + path + " left as it was");
    }
    if (read_text(path) != old_text) {
        // Edited by hand (an editor takes no ufw lock) since we read it, as late as during
        // the load: the rename would silently replace that edit. Keep the edit, put the
        // kernel back to what we read, and let the retry start from the new text.
        ::unlink(temp->c_str());
        if (kernel_changed) {
            reload_old_rules(settings, path, old_text);
        }
        fail_changes(results, errc::rules_file_unwritable,
                     path + " changed while dockgate was writing it; not replaced, retried");
        return false;
    }
    if (!replace_with(*temp, path, error)) {
        return give_up(errc::rules_file_unwritable, error);
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
    // The file as we last wrote or read it while its stamp holds: a stat, not a megabyte read.
    // A write by hand that the stamp cannot show (in place, same size, in the clock tick of
    // our own rename) is caught by the read just before the next rename, or by the read below
    // when a batch has nothing to write; either forgets the stamp.
    const auto stamp = stamp_of(path);
    if (!stamp || !known_stamp_ || !(*stamp == *known_stamp_)) {
        known_stamp_.reset();
        read_stamps stamps;
        auto text = read_text(path, &stamps);
        if (!text) {
            return fail_all(errc::rules_file_unreadable, errno_text("cannot read " + path));
        }
        if (*text != known_rules6_) {
            // Changed by ufw or by hand since we last looked: carrying its blocks over
            // verbatim is exact only if they are in ufw's own form, which one more dry run
            // confirms.
            known_doc_.reset();
            if (auto why = verify_generator(*text, false)) {
                outcome.fallback =
                    path + " changed outside dockgate and is not in ufw's own form (" + *why + ")";
                return outcome;
            }
            known_rules6_ = std::move(*text);
        }
        remember_stamp(stamps);
    }
    const std::string& text = known_rules6_;
    // The document as we last wrote it, unless the file changed since: parsed once.
    std::optional<rules_document> doc;
    std::swap(doc, known_doc_);
    std::string why;
    if (!doc && !(doc = parse_rules_document(text, &why))) {
        outcome.fallback = path + ": " + why;
        return outcome;
    }
    document_changes changes;
    outcome.results = apply_all(*doc, ops, changes);
    if (std::none_of(outcome.results.begin(), outcome.results.end(), changes_the_file)) {
        // Every rule already as asked: nothing to write, so no read before a rename checks
        // the text these answers come from. Read it once when its stamp is not settled.
        if (!known_stamp_settled_) {
            read_stamps stamps;
            if (read_text(path, &stamps) != text) {
                known_stamp_.reset();
                return fail_all(errc::rules_file_unreadable,
                                path + " changed while dockgate was reading it; retried");
            }
            remember_stamp(stamps);
        }
        known_doc_ = std::move(doc);
        stamp_took(outcome.results, started);
        return outcome;
    }
    kernel_step kernel;
    const bool active = probe().active;
    if (active) {
        // Rule by rule, the kernel changes before the file is rendered and written: those
        // milliseconds at 10,000 rules are not between Docker's event and the rule.
        auto full_load = edit_kernel(*doc, changes);
        // Also when an edit got part way: if the file cannot follow, the kernel goes back.
        kernel.changed_already = !full_load || full_load->half_done;
        if (full_load) {
            kernel.load = [this, &doc, full_load](const std::string& new_file) {
                return load_kernel(new_file, *doc, *full_load);
            };
        }
    }
    auto new_text = doc->render();
    if (write_and_load(settings_, path, text, new_text, kernel, outcome.results)) {
        // Taken under ufw's lock just after our rename, so in the tick of that change: not
        // settled (see above). A size other than ours means a hand edit already.
        known_stamp_ = stamp_of(path);
        known_stamp_settled_ = false;
        if (known_stamp_ && known_stamp_->size != static_cast<std::int64_t>(new_text.size())) {
            known_stamp_.reset();
        }
        known_rules6_ = std::move(new_text);
        known_doc_ = std::move(doc);
        if (!active) {
            mark_recorded(outcome.results);
            handles_.forget(); // the kernel was not loaded with this file
        }
    } else {
        known_stamp_.reset(); // the file may hold a hand edit: read it next time
        handles_.forget();    // the kernel may have been reloaded from the old file
    }
    stamp_took(outcome.results, started);
    return outcome;
}

void ufw_firewall::remember_stamp(const read_stamps& stamps) {
    known_stamp_.reset();
    if (stamps.before == stamps.after) {
        known_stamp_ = stamps.after;
        known_stamp_settled_ = stamp_settled(stamps.after, stamps.taken_ns, file_clock_tick_ns());
    }
}

std::optional<ufw_firewall::full_load_reason>
ufw_firewall::edit_kernel(const rules_document& now, const document_changes& changes) {
    const bool incremental = monitor_ready();
    if (incremental && monitor_->take_others()) {
        handles_.forget(); // someone else changed ufw's chains: reload them all
    }
    full_load_reason reason;
    reason.incremental = incremental;
    if (const auto edit =
            incremental ? plan_kernel_edit(now, changes, handles_, reason.why) : std::nullopt) {
        const auto failure = apply_kernel_edit(*edit, changes);
        if (!failure) {
            return std::nullopt;
        }
        reason.why = *failure;
        reason.half_done = true;
    }
    return reason;
}

std::optional<std::string> ufw_firewall::load_kernel(const std::string& new_file,
                                                     const rules_document& now,
                                                     const full_load_reason& reason) {
    if (reason.incremental && log_) {
        log_->debug("loading all of ufw's IPv6 user chains: {}", reason.why);
    }
    handles_.forget();
    const auto restore = restore_rules(settings_, new_file);
    if (restore.exit_code != 0) {
        // All or nothing: the kernel is as it was (after a rule-by-rule edit that got part
        // way, write_and_load puts it back to the old file).
        return "ip6tables-restore -n: " + failure_text(restore);
    }
    if (reason.incremental) {
        // Changes by others before this load do not matter: it rewrote all of ufw's chains.
        bool others = false;
        auto events = monitor_->take(restore.pid, settings_.kernel_report_wait, others);
        const bool learned = events && handles_.learn_load(now, *events);
        if (log_) {
            log_->debug("kernel report of the load (process {}): {} event(s), handles {}",
                        restore.pid, events ? events->size() : 0, learned ? "known" : "not known");
        }
        // A report of every rule ufw holds, and what the load read: give the memory back.
        events.reset();
        ::malloc_trim(0);
    }
    return std::nullopt;
}

std::optional<std::vector<monitor_line>>
ufw_firewall::run_reported(const std::vector<std::string>& argv, const std::string& script,
                           std::string& failure) {
    const auto file = write_scratch(settings_.state_dir, script, failure);
    if (!file) {
        return std::nullopt;
    }
    auto full_argv = argv;
    full_argv.push_back(*file);
    const auto run = run_process(full_argv, tool_env, settings_.timeout);
    ::unlink(file->c_str());
    if (run.exit_code != 0) {
        failure = argv.front() + ": " + failure_text(run);
        return std::nullopt;
    }
    bool others = false;
    auto events = monitor_->take(run.pid, settings_.kernel_report_wait, others);
    if (others) {
        handles_.forget();
    }
    return events;
}

std::optional<std::string> ufw_firewall::apply_kernel_edit(const kernel_edit& edit,
                                                           const document_changes& changes) {
    const auto started = clock::now();
    std::string failure;
    std::optional<std::vector<monitor_line>> appended;
    if (!edit.append_script.empty()) {
        appended = run_reported({settings_.ip6tables_restore, "-n"}, edit.append_script, failure);
        if (!failure.empty()) {
            return failure; // all or nothing: nothing changed
        }
        if (!handles_.known()) {
            // Another program changed ufw's chains meanwhile: handles may be stale.
            return "ufw's chains changed during the edit";
        }
    }
    if (!edit.deletes.empty()) {
        if (auto failed = delete_kernel_rules(edit.deletes, settings_.timeout)) {
            return failed;
        }
        // This thread committed it, so its id names the transaction in the report.
        bool others = false;
        const auto deleted =
            monitor_->take(static_cast<long>(::gettid()), settings_.kernel_report_wait, others);
        if (!deleted || others) {
            handles_.forget(); // done, but not confirmed: reload at the next change
        }
    }
    if (!edit.appended.empty() && !appended) {
        handles_.forget(); // the appends' handles did not come
    }
    if (handles_.known()) {
        record_kernel_edit(handles_, changes, edit, appended.value_or(std::vector<monitor_line>{}));
    }
    if (log_) {
        log_->debug(
            "kernel edit: {} rule line(s) appended, {} deleted by handle in {} ms; "
            "handles {}",
            edit.appended.size(), edit.deletes.size(),
            std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - started).count(),
            handles_.known() ? "known" : "forgotten (the next change loads in full)");
    }
    return std::nullopt;
}

bool ufw_firewall::monitor_ready() {
    if (!settings_.incremental || !monitor_) {
        return false;
    }
    if (monitor_->running()) {
        return true;
    }
    // Restarted at most this often; whatever happened meanwhile is unknown (take_others).
    constexpr std::chrono::seconds restart_pause{10};
    if (clock::now() - monitor_started_ >= restart_pause) {
        start_monitor();
    }
    return false;
}

void ufw_firewall::start_monitor() {
    monitor_started_ = clock::now();
    std::string why;
    if (!monitor_->start(why) && log_) {
        log_->warn("cannot follow the kernel's rule changes ({}); every change reloads all of "
                   "ufw's IPv6 user chains, which costs more the more rules ufw holds",
                   why);
    }
}

} // namespace dockgate
