// Unit tests for the Docker connection state machine, driven by hand with a constant jitter.
#include "dockgate/docker/connection_fsm.hpp"
#include "dockgate/model/error.hpp"

#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "test_support.hpp"

namespace dockgate {
namespace {

using namespace std::chrono_literals;
using ms = std::chrono::milliseconds;

const boost::system::error_code unreachable = errc::docker_unreachable;
const boost::system::error_code timed_out = errc::timeout;
const boost::system::error_code stream_ended = errc::events_stream_ended;

constexpr backoff_settings backoff{200ms, 30000ms};

constexpr std::array all_inputs{conn_input::start,
                                conn_input::ping_ok,
                                conn_input::ping_failed,
                                conn_input::subscribed,
                                conn_input::subscribe_failed,
                                conn_input::snapshot_ok,
                                conn_input::snapshot_failed,
                                conn_input::stream_lost,
                                conn_input::backoff_elapsed,
                                conn_input::stop};

constexpr std::array all_states{conn_state::idle,        conn_state::pinging,
                                conn_state::subscribing, conn_state::snapshotting,
                                conn_state::streaming,   conn_state::backing_off,
                                conn_state::stopped};

class connection_fsm_test : public ::testing::Test {
  protected:
    double jitter_ = 0.0;
    connection_fsm fsm_{backoff, [this] { return jitter_; }};

    conn_action expect(conn_input input, conn_action_kind kind, conn_state state,
                       boost::system::error_code ec = {}) {
        const auto action = fsm_.on(input, ec);
        EXPECT_EQ(action.kind, kind) << "after " << input;
        EXPECT_EQ(fsm_.state(), state) << "after " << input;
        return action;
    }

    void connect() {
        expect(conn_input::start, conn_action_kind::ping, conn_state::pinging);
        expect(conn_input::ping_ok, conn_action_kind::subscribe, conn_state::subscribing);
        expect(conn_input::subscribed, conn_action_kind::snapshot, conn_state::snapshotting);
        expect(conn_input::snapshot_ok, conn_action_kind::stream, conn_state::streaming);
    }

    /// From backing_off, the next attempt all the way back to streaming.
    conn_action reconnect() {
        expect(conn_input::backoff_elapsed, conn_action_kind::ping, conn_state::pinging);
        expect(conn_input::ping_ok, conn_action_kind::subscribe, conn_state::subscribing);
        expect(conn_input::subscribed, conn_action_kind::snapshot, conn_state::snapshotting);
        return expect(conn_input::snapshot_ok, conn_action_kind::stream, conn_state::streaming);
    }

    /// Drives a fresh machine into `state`.
    void drive_to(conn_state state) {
        switch (state) {
        case conn_state::idle:
            return;
        case conn_state::pinging:
            fsm_.on(conn_input::start);
            return;
        case conn_state::subscribing:
            drive_to(conn_state::pinging);
            fsm_.on(conn_input::ping_ok);
            return;
        case conn_state::snapshotting:
            drive_to(conn_state::subscribing);
            fsm_.on(conn_input::subscribed);
            return;
        case conn_state::streaming:
            drive_to(conn_state::snapshotting);
            fsm_.on(conn_input::snapshot_ok);
            return;
        case conn_state::backing_off:
            drive_to(conn_state::pinging);
            fsm_.on(conn_input::ping_failed, unreachable);
            return;
        case conn_state::stopped:
            fsm_.on(conn_input::stop);
            return;
        }
    }
};

TEST_F(connection_fsm_test, starts_idle) {
    EXPECT_EQ(fsm_.state(), conn_state::idle);
    EXPECT_EQ(fsm_.failures_in_a_row(), 0U);
    EXPECT_EQ(fsm_.connections(), 0UL);
}

TEST_F(connection_fsm_test, ping_subscribe_snapshot_stream) {
    expect(conn_input::start, conn_action_kind::ping, conn_state::pinging);
    expect(conn_input::ping_ok, conn_action_kind::subscribe, conn_state::subscribing);
    expect(conn_input::subscribed, conn_action_kind::snapshot, conn_state::snapshotting);
    const auto streaming =
        expect(conn_input::snapshot_ok, conn_action_kind::stream, conn_state::streaming);
    EXPECT_FALSE(streaming.report_recovery) << "nothing failed, nothing recovered";
    EXPECT_FALSE(streaming.report_failure);
    EXPECT_EQ(fsm_.connections(), 1UL);
    EXPECT_EQ(fsm_.failures_in_a_row(), 0U);
}

TEST_F(connection_fsm_test, every_failure_backs_off) {
    struct step {
        conn_state from;
        conn_input failure;
    };
    for (const auto& [from, failure] : {step{conn_state::pinging, conn_input::ping_failed},
                                        step{conn_state::subscribing, conn_input::subscribe_failed},
                                        step{conn_state::snapshotting, conn_input::snapshot_failed},
                                        step{conn_state::streaming, conn_input::stream_lost}}) {
        connection_fsm fsm{backoff, [] { return 0.0; }};
        fsm_ = std::move(fsm);
        drive_to(from);
        ASSERT_EQ(fsm_.state(), from);
        const auto action = fsm_.on(failure, unreachable);
        EXPECT_EQ(action.kind, conn_action_kind::wait) << failure;
        EXPECT_EQ(action.wait, 100ms) << failure;
        EXPECT_TRUE(action.report_failure) << failure;
        EXPECT_EQ(fsm_.state(), conn_state::backing_off) << failure;
        EXPECT_EQ(fsm_.failures_in_a_row(), 1U) << failure;
        expect(conn_input::backoff_elapsed, conn_action_kind::ping, conn_state::pinging);
    }
}

/// The waits of `count` consecutive ping failures with a given jitter.
std::vector<ms> waits(double jitter, int count, backoff_settings settings = backoff) {
    connection_fsm fsm{settings, [jitter] { return jitter; }};
    fsm.on(conn_input::start);
    std::vector<ms> out;
    for (int i = 0; i < count; ++i) {
        const auto action = fsm.on(conn_input::ping_failed, unreachable);
        EXPECT_EQ(action.kind, conn_action_kind::wait);
        out.push_back(action.wait);
        fsm.on(conn_input::backoff_elapsed);
    }
    return out;
}

TEST(connection_fsm_backoff, doubles_from_initial_and_caps_at_max_lower_bound) {
    // Jitter 0 gives the lower bound: half of each step.
    const std::vector<ms> expected{100ms,  200ms,   400ms,   800ms,   1600ms,  3200ms,
                                   6400ms, 12800ms, 15000ms, 15000ms, 15000ms, 15000ms};
    EXPECT_EQ(waits(0.0, 12), expected);
}

TEST(connection_fsm_backoff, jitter_in_the_middle) {
    const std::vector<ms> expected{150ms,  300ms,  600ms,   1200ms, 2400ms,
                                   4800ms, 9600ms, 19200ms, 22500ms};
    EXPECT_EQ(waits(0.5, 9), expected);
}

TEST(connection_fsm_backoff, jitter_upper_bound_stays_below_the_step_and_the_max) {
    const auto got = waits(0.999999, 12);
    for (std::size_t i = 0; i < got.size(); ++i) {
        const auto step = std::min<ms>(30000ms, 200ms * (1LL << i));
        EXPECT_LT(got[i], step) << "failure " << i;
        EXPECT_GE(got[i], step * 99 / 100) << "failure " << i;
        EXPECT_LE(got[i], 30000ms);
    }
}

TEST(connection_fsm_backoff, every_wait_is_within_the_jitter_bounds) {
    for (const double jitter : {0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.999}) {
        const auto got = waits(jitter, 10);
        for (std::size_t i = 0; i < got.size(); ++i) {
            const auto step = std::min<ms>(30000ms, 200ms * (1LL << i));
            EXPECT_GE(got[i], step / 2) << "jitter " << jitter << " failure " << i;
            EXPECT_LT(got[i], step) << "jitter " << jitter << " failure " << i;
        }
    }
}

TEST(connection_fsm_backoff, many_failures_never_overflow) {
    const auto got = waits(0.0, 200);
    EXPECT_EQ(got.back(), 15000ms);
    for (const auto w : got) {
        EXPECT_GT(w, 0ms);
        EXPECT_LE(w, 30000ms);
    }
}

TEST(connection_fsm_backoff, large_settings) {
    const auto got = waits(0.0, 40, backoff_settings{5000ms, std::chrono::hours(1)});
    EXPECT_EQ(got.front(), 2500ms);
    EXPECT_EQ(got.back(), ms(std::chrono::hours(1)) / 2);
}

TEST_F(connection_fsm_test, repeated_identical_failure_is_reported_once) {
    expect(conn_input::start, conn_action_kind::ping, conn_state::pinging);
    EXPECT_TRUE(fsm_.on(conn_input::ping_failed, unreachable).report_failure);
    for (int i = 0; i < 5; ++i) {
        expect(conn_input::backoff_elapsed, conn_action_kind::ping, conn_state::pinging);
        EXPECT_FALSE(fsm_.on(conn_input::ping_failed, unreachable).report_failure)
            << "repeat " << i;
    }
    EXPECT_EQ(fsm_.failures_in_a_row(), 6U);
}

TEST_F(connection_fsm_test, a_changed_failure_is_reported_again) {
    fsm_.on(conn_input::start);
    EXPECT_TRUE(fsm_.on(conn_input::ping_failed, unreachable).report_failure);
    fsm_.on(conn_input::backoff_elapsed);
    EXPECT_FALSE(fsm_.on(conn_input::ping_failed, unreachable).report_failure)
        << "same step, same error";
    fsm_.on(conn_input::backoff_elapsed);
    EXPECT_TRUE(fsm_.on(conn_input::ping_failed, timed_out).report_failure)
        << "same step, new error";
    fsm_.on(conn_input::backoff_elapsed);
    EXPECT_FALSE(fsm_.on(conn_input::ping_failed, timed_out).report_failure);
    fsm_.on(conn_input::backoff_elapsed);
    EXPECT_TRUE(fsm_.on(conn_input::ping_failed, unreachable).report_failure)
        << "back to the first error";
}

TEST_F(connection_fsm_test, a_failure_at_another_step_is_reported_again) {
    // The header: a failure is reported when its step or its error differs from the last one.
    fsm_.on(conn_input::start);
    fsm_.on(conn_input::ping_ok);
    EXPECT_TRUE(fsm_.on(conn_input::subscribe_failed, timed_out).report_failure);
    fsm_.on(conn_input::backoff_elapsed);
    fsm_.on(conn_input::ping_ok);
    EXPECT_FALSE(fsm_.on(conn_input::subscribe_failed, timed_out).report_failure)
        << "same step, same error";
    fsm_.on(conn_input::backoff_elapsed);
    EXPECT_TRUE(fsm_.on(conn_input::ping_failed, timed_out).report_failure)
        << "same error, other step";
    fsm_.on(conn_input::backoff_elapsed);
    EXPECT_FALSE(fsm_.on(conn_input::ping_failed, timed_out).report_failure);
    fsm_.on(conn_input::backoff_elapsed);
    fsm_.on(conn_input::ping_ok);
    fsm_.on(conn_input::subscribed);
    EXPECT_TRUE(fsm_.on(conn_input::snapshot_failed, timed_out).report_failure)
        << "same error, other step";
    EXPECT_EQ(fsm_.failures_in_a_row(), 5U);
}

TEST_F(connection_fsm_test, recovery_is_reported_after_a_failure_and_resets_the_backoff) {
    connect();
    const auto lost = fsm_.on(conn_input::stream_lost, stream_ended);
    EXPECT_EQ(lost.kind, conn_action_kind::wait);
    EXPECT_EQ(lost.wait, 100ms);
    EXPECT_TRUE(lost.report_failure);
    // The daemon is down for a while: the same error, growing waits, reported once.
    expect(conn_input::backoff_elapsed, conn_action_kind::ping, conn_state::pinging);
    const auto second = fsm_.on(conn_input::ping_failed, unreachable);
    EXPECT_EQ(second.wait, 200ms);
    EXPECT_TRUE(second.report_failure);
    expect(conn_input::backoff_elapsed, conn_action_kind::ping, conn_state::pinging);
    const auto third = fsm_.on(conn_input::ping_failed, unreachable);
    EXPECT_EQ(third.wait, 400ms);
    EXPECT_FALSE(third.report_failure);

    const auto back = reconnect();
    EXPECT_TRUE(back.report_recovery);
    EXPECT_EQ(fsm_.failures_in_a_row(), 0U);
    EXPECT_EQ(fsm_.connections(), 2UL);

    // A new outage starts again from the initial wait and is reported even with the same error.
    const auto again = fsm_.on(conn_input::stream_lost, unreachable);
    EXPECT_EQ(again.wait, 100ms);
    EXPECT_TRUE(again.report_failure);
    // Every outage ends with its own recovery report.
    EXPECT_TRUE(reconnect().report_recovery);
    fsm_.on(conn_input::stream_lost, unreachable);
    fsm_.on(conn_input::backoff_elapsed);
    fsm_.on(conn_input::ping_ok);
    fsm_.on(conn_input::subscribed);
    EXPECT_TRUE(fsm_.on(conn_input::snapshot_ok).report_recovery);
}

TEST_F(connection_fsm_test, recovery_after_a_failed_first_attempt) {
    // Failing in the middle of the very first attempt and then succeeding is a recovery too.
    connection_fsm fresh{backoff, [] { return 0.0; }};
    fresh.on(conn_input::start);
    fresh.on(conn_input::ping_ok);
    fresh.on(conn_input::subscribed);
    fresh.on(conn_input::snapshot_failed, errc::docker_bad_reply);
    fresh.on(conn_input::backoff_elapsed);
    fresh.on(conn_input::ping_ok);
    fresh.on(conn_input::subscribed);
    EXPECT_TRUE(fresh.on(conn_input::snapshot_ok).report_recovery);
}

TEST_F(connection_fsm_test, stop_from_every_state_closes_then_nothing) {
    for (const auto state : all_states) {
        connection_fsm fresh{backoff, [] { return 0.0; }};
        fsm_ = std::move(fresh);
        drive_to(state);
        ASSERT_EQ(fsm_.state(), state);
        const auto action = fsm_.on(conn_input::stop);
        if (state == conn_state::stopped) {
            EXPECT_EQ(action.kind, conn_action_kind::none) << "already stopped";
        } else {
            EXPECT_EQ(action.kind, conn_action_kind::close) << "from " << state;
        }
        EXPECT_EQ(fsm_.state(), conn_state::stopped) << "from " << state;
        for (const auto input : all_inputs) {
            const auto after = fsm_.on(input, unreachable);
            EXPECT_EQ(after.kind, conn_action_kind::none) << input << " after stop from " << state;
            EXPECT_FALSE(after.report_failure);
            EXPECT_FALSE(after.report_recovery);
            EXPECT_EQ(fsm_.state(), conn_state::stopped);
        }
    }
}

bool applies(conn_state state, conn_input input) {
    if (input == conn_input::stop) {
        return state != conn_state::stopped;
    }
    switch (state) {
    case conn_state::idle:
        return input == conn_input::start;
    case conn_state::pinging:
        return input == conn_input::ping_ok || input == conn_input::ping_failed;
    case conn_state::subscribing:
        return input == conn_input::subscribed || input == conn_input::subscribe_failed;
    case conn_state::snapshotting:
        return input == conn_input::snapshot_ok || input == conn_input::snapshot_failed;
    case conn_state::streaming:
        return input == conn_input::stream_lost;
    case conn_state::backing_off:
        return input == conn_input::backoff_elapsed;
    case conn_state::stopped:
        return false;
    }
    return false;
}

TEST_F(connection_fsm_test, inputs_that_do_not_apply_change_nothing) {
    for (const auto state : all_states) {
        for (const auto input : all_inputs) {
            if (applies(state, input)) {
                continue;
            }
            connection_fsm fresh{backoff, [] { return 0.0; }};
            fsm_ = std::move(fresh);
            drive_to(state);
            const auto failures = fsm_.failures_in_a_row();
            const auto connections = fsm_.connections();
            const auto action = fsm_.on(input, timed_out);
            EXPECT_EQ(action.kind, conn_action_kind::none) << input << " in " << state;
            EXPECT_EQ(action.wait, 0ms);
            EXPECT_FALSE(action.report_failure) << input << " in " << state;
            EXPECT_FALSE(action.report_recovery) << input << " in " << state;
            EXPECT_EQ(fsm_.state(), state) << input << " in " << state;
            EXPECT_EQ(fsm_.failures_in_a_row(), failures);
            EXPECT_EQ(fsm_.connections(), connections);
            if (state == conn_state::backing_off) {
                // The ignored input did not count as a failure or swallow the next report.
                fsm_.on(conn_input::backoff_elapsed);
                const auto next = fsm_.on(conn_input::ping_failed, timed_out);
                EXPECT_TRUE(next.report_failure) << input << " in " << state;
                EXPECT_EQ(next.wait, 200ms) << input << " in " << state;
            }
        }
    }
}

TEST(connection_fsm_names, readable) {
    EXPECT_STREQ(to_string(conn_state::backing_off), "backing-off");
    EXPECT_STREQ(to_string(conn_input::backoff_elapsed), "backoff-elapsed");
    EXPECT_STREQ(to_string(conn_action_kind::wait), "wait");
    for (const auto state : all_states) {
        EXPECT_STRNE(to_string(state), "unknown");
    }
    for (const auto input : all_inputs) {
        EXPECT_STRNE(to_string(input), "unknown");
    }
    std::ostringstream out;
    out << conn_state::streaming << " " << conn_action_kind::close << " " << conn_input::stop;
    EXPECT_EQ(out.str(), "streaming close stop");
}

} // namespace
} // namespace dockgate
