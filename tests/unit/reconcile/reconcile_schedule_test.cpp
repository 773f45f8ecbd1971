// The reconcile schedule on fake time: coalescing, retries, re-check after a write, drift-only
// rounds and the reconnect with a pending re-read, without a real timer.
#include "dockgate/reconcile/reconcile_schedule.hpp"

#include <gtest/gtest.h>

namespace dockgate {
namespace {

using namespace std::chrono_literals;
using kind = schedule_step::kind;

constexpr mono_time t0{std::chrono::hours(1000)};

schedule_settings settings() {
    schedule_settings s;
    s.drift_interval = 60s;
    s.coalesce_window = 10ms;
    s.recheck_after_write = 2s;
    s.retry_initial = 1s;
    s.retry_max = 8s;
    s.verify_poll = 1s;
    return s;
}

/// A schedule whose first round (the snapshot's) has begun at t0.
reconcile_schedule after_first_round(const schedule_settings& config = settings()) {
    reconcile_schedule s(config, t0);
    s.snapshot_taken();
    s.next(t0);
    s.round_started();
    return s;
}

TEST(reconcile_schedule, no_round_before_the_first_snapshot) {
    reconcile_schedule s(settings(), t0);
    s.mark_dirty();
    EXPECT_EQ(s.next(t0).what, kind::wait_for_snapshot);
    EXPECT_FALSE(s.dirty()) << "the snapshot's own round covers it";
}

TEST(reconcile_schedule, a_snapshot_makes_a_coalesced_full_round_then_sleeps_until_drift) {
    reconcile_schedule s(settings(), t0);
    s.snapshot_taken();
    auto step = s.next(t0);
    EXPECT_EQ(step.what, kind::run_round);
    EXPECT_TRUE(step.coalesce_first);
    EXPECT_FALSE(step.drift_only);
    s.round_started();
    s.round_succeeded();
    step = s.next(t0 + 1ms);
    EXPECT_EQ(step.what, kind::wait_until);
    EXPECT_EQ(step.until, t0 + 60s);
}

TEST(reconcile_schedule, the_drift_tick_makes_a_drift_only_round_once_per_interval) {
    auto s = after_first_round();
    auto step = s.next(t0 + 60s);
    EXPECT_TRUE(step.drift_tick);
    EXPECT_EQ(step.what, kind::run_round);
    EXPECT_TRUE(step.drift_only) << "what it repairs is drift (hand edits)";
    EXPECT_FALSE(step.coalesce_first);
    s.round_started();
    step = s.next(t0 + 61s);
    EXPECT_FALSE(step.drift_tick);
    EXPECT_EQ(step.until, t0 + 120s);
}

TEST(reconcile_schedule, an_event_during_a_drift_tick_makes_it_a_full_round) {
    auto s = after_first_round();
    s.mark_dirty();
    const auto step = s.next(t0 + 60s);
    EXPECT_TRUE(step.drift_tick);
    EXPECT_FALSE(step.drift_only);
}

TEST(reconcile_schedule, a_write_is_rechecked_after_the_recheck_delay_as_drift) {
    auto s = after_first_round();
    s.round_wrote(t0);
    s.round_succeeded();
    auto step = s.next(t0 + 1s);
    EXPECT_EQ(step.what, kind::wait_until);
    EXPECT_EQ(step.until, t0 + 2s);
    step = s.next(t0 + 2s);
    EXPECT_EQ(step.what, kind::run_round);
    EXPECT_TRUE(step.drift_only) << "a write lost to a concurrent ufw is restored as drift";
    s.round_started();
    EXPECT_EQ(s.next(t0 + 2s).what, kind::wait_until) << "one re-check, not a loop";
}

TEST(reconcile_schedule, failures_retry_with_doubling_delay_up_to_the_maximum) {
    auto s = after_first_round();
    auto now = t0;
    std::vector<std::chrono::milliseconds> delays;
    for (int i = 0; i < 6; ++i) {
        delays.push_back(s.round_failed(now));
        const auto step = s.next(now + 1ms);
        EXPECT_EQ(step.until, now + delays.back());
        now += delays.back();
        const auto due = s.next(now);
        EXPECT_EQ(due.what, kind::run_round);
        EXPECT_FALSE(due.drift_only) << "a retry is not drift";
        s.round_started();
    }
    EXPECT_EQ(delays, (std::vector<std::chrono::milliseconds>{1s, 2s, 4s, 8s, 8s, 8s}));
    s.round_succeeded();
    EXPECT_EQ(s.round_failed(now), 1s) << "success starts the backoff over";
}

TEST(reconcile_schedule, a_reconnect_drops_a_pending_recheck_and_retry_instead_of_spinning) {
    // A due time that stays due while there is no snapshot would spin the loop and starve the
    // reconnect (the fault test's "reconnect with a pending re-read").
    auto s = after_first_round();
    s.round_wrote(t0);
    s.round_failed(t0);
    s.snapshot_lost();
    EXPECT_EQ(s.next(t0 + 5s).what, kind::wait_for_snapshot);
    EXPECT_FALSE(s.retry_pending());
    s.snapshot_taken();
    auto step = s.next(t0 + 6s);
    EXPECT_EQ(step.what, kind::run_round);
    s.round_started();
    s.round_succeeded();
    step = s.next(t0 + 6s);
    EXPECT_EQ(step.what, kind::wait_until) << "nothing left due from before the reconnect";
    EXPECT_EQ(step.until, t0 + 60s);
}

TEST(reconcile_schedule, verifying_ufw_looks_again_soon_unless_a_retry_is_due_earlier) {
    auto s = after_first_round();
    s.ufw_verifying(t0);
    EXPECT_EQ(s.next(t0).until, t0 + 1s);
    s.round_started();
    s.round_failed(t0);
    s.ufw_verifying(t0 + 500ms);
    EXPECT_EQ(s.next(t0 + 600ms).until, t0 + 1s) << "the retry's time stands";
}

TEST(reconcile_schedule, drift_disabled_sleeps_a_day_at_most) {
    auto config = settings();
    config.drift_interval = 0s;
    auto s = after_first_round(config);
    const auto step = s.next(t0 + 100h);
    EXPECT_FALSE(step.drift_tick);
    EXPECT_EQ(step.until, t0 + 124h);
}

} // namespace
} // namespace dockgate
