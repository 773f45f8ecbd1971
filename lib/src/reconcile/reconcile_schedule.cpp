// The reconcile schedule: dirty rounds, coalescing, retries with backoff, re-checks and drift.
#include "dockgate/reconcile/reconcile_schedule.hpp"

#include <algorithm>

namespace dockgate {

reconcile_schedule::reconcile_schedule(schedule_settings settings, mono_time start)
    : settings_(settings), next_drift_(start + settings.drift_interval) {}

schedule_step reconcile_schedule::next(mono_time now) {
    schedule_step step;
    const bool drift_enabled = settings_.drift_interval.count() > 0;
    if (drift_enabled && now >= next_drift_) {
        next_drift_ = now + settings_.drift_interval;
        step.drift_tick = true;
    }
    if (!snapshot_valid_) {
        // Without a current view of Docker, changing rules would act on stale data. The
        // snapshot after the reconnect makes a full round, which covers any pending retry or
        // re-read, so those are dropped rather than left due: a due time that stays due would
        // spin the loop and starve the reconnect itself.
        dirty_ = false;
        retry_at_.reset();
        recheck_at_.reset();
        step.what = schedule_step::kind::wait_for_snapshot;
        return step;
    }
    const bool retry_due = retry_at_ && now >= *retry_at_;
    const bool recheck_due = recheck_at_ && now >= *recheck_at_;
    if (!dirty_ && !step.drift_tick && !retry_due && !recheck_due) {
        auto wake = drift_enabled ? next_drift_ : now + std::chrono::hours(24);
        for (const auto& due : {retry_at_, recheck_at_}) {
            if (due) {
                wake = std::min(wake, *due);
            }
        }
        step.what = schedule_step::kind::wait_until;
        step.until = wake;
        return step;
    }
    step.what = schedule_step::kind::run_round;
    step.coalesce_first = dirty_ && settings_.coalesce_window.count() > 0;
    // A round that only the drift timer asked for finds hand edits: report them as drift.
    step.drift_only = (step.drift_tick || recheck_due) && !dirty_ && !retry_due;
    return step;
}

void reconcile_schedule::round_started() {
    dirty_ = false;
    retry_at_.reset();
    recheck_at_.reset();
}

void reconcile_schedule::ufw_verifying(mono_time now) {
    if (!retry_at_) {
        retry_at_ = now + settings_.verify_poll;
    }
}

void reconcile_schedule::round_wrote(mono_time now) {
    if (settings_.recheck_after_write.count() > 0) {
        recheck_at_ = now + settings_.recheck_after_write;
    }
}

std::chrono::milliseconds reconcile_schedule::round_failed(mono_time now) {
    retry_delay_ =
        std::min(std::max(retry_delay_ * 2, settings_.retry_initial), settings_.retry_max);
    retry_at_ = now + retry_delay_;
    return retry_delay_;
}

} // namespace dockgate
