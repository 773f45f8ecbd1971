// Transitions of the Docker connection lifecycle, with backoff and quiet repeated failures.
#include "dockgate/docker/connection_fsm.hpp"

#include <algorithm>

namespace dockgate {

const char* to_string(conn_state state) {
    switch (state) {
    case conn_state::idle:
        return "idle";
    case conn_state::pinging:
        return "pinging";
    case conn_state::subscribing:
        return "subscribing";
    case conn_state::snapshotting:
        return "snapshotting";
    case conn_state::streaming:
        return "streaming";
    case conn_state::backing_off:
        return "backing-off";
    case conn_state::stopped:
        return "stopped";
    }
    return "unknown";
}

const char* to_string(conn_input input) {
    switch (input) {
    case conn_input::start:
        return "start";
    case conn_input::ping_ok:
        return "ping-ok";
    case conn_input::ping_failed:
        return "ping-failed";
    case conn_input::subscribed:
        return "subscribed";
    case conn_input::subscribe_failed:
        return "subscribe-failed";
    case conn_input::snapshot_ok:
        return "snapshot-ok";
    case conn_input::snapshot_failed:
        return "snapshot-failed";
    case conn_input::stream_lost:
        return "stream-lost";
    case conn_input::backoff_elapsed:
        return "backoff-elapsed";
    case conn_input::stop:
        return "stop";
    }
    return "unknown";
}

const char* to_string(conn_action_kind kind) {
    switch (kind) {
    case conn_action_kind::ping:
        return "ping";
    case conn_action_kind::subscribe:
        return "subscribe";
    case conn_action_kind::snapshot:
        return "snapshot";
    case conn_action_kind::stream:
        return "stream";
    case conn_action_kind::wait:
        return "wait";
    case conn_action_kind::close:
        return "close";
    case conn_action_kind::none:
        return "none";
    }
    return "unknown";
}

std::chrono::milliseconds connection_fsm::next_delay() {
    const auto exponent = std::min(attempt_, 20U);
    const auto base =
        std::min<std::chrono::milliseconds>(backoff_.max, backoff_.initial * (1LL << exponent));
    // Jitter in [50 %, 100 %) of the step, so many hosts restarting together spread out.
    const auto jittered = static_cast<double>(base.count()) * (0.5 + 0.5 * jitter_());
    return std::chrono::milliseconds(static_cast<long long>(jittered));
}

conn_action connection_fsm::fail(boost::system::error_code ec) {
    // Report when the failing step or the error changes, not on every retry of the same one.
    const bool changed = ec != last_reported_ || state_ != last_failed_state_;
    conn_action action{conn_action_kind::wait, next_delay(), changed, false};
    last_reported_ = ec;
    last_failed_state_ = state_;
    ++attempt_;
    failed_since_streaming_ = true;
    state_ = conn_state::backing_off;
    return action;
}

conn_action connection_fsm::on(conn_input input, boost::system::error_code ec) {
    if (state_ == conn_state::stopped) {
        return {};
    }
    if (input == conn_input::stop) {
        state_ = conn_state::stopped;
        return {conn_action_kind::close};
    }
    switch (state_) {
    case conn_state::idle:
        if (input == conn_input::start) {
            state_ = conn_state::pinging;
            return {conn_action_kind::ping};
        }
        break;
    case conn_state::pinging:
        if (input == conn_input::ping_ok) {
            state_ = conn_state::subscribing;
            return {conn_action_kind::subscribe};
        }
        if (input == conn_input::ping_failed) {
            return fail(ec);
        }
        break;
    case conn_state::subscribing:
        if (input == conn_input::subscribed) {
            state_ = conn_state::snapshotting;
            return {conn_action_kind::snapshot};
        }
        if (input == conn_input::subscribe_failed) {
            return fail(ec);
        }
        break;
    case conn_state::snapshotting:
        if (input == conn_input::snapshot_ok) {
            state_ = conn_state::streaming;
            ++connections_;
            conn_action action{conn_action_kind::stream};
            action.report_recovery = failed_since_streaming_;
            attempt_ = 0;
            last_reported_ = {};
            last_failed_state_ = conn_state::idle;
            failed_since_streaming_ = false;
            return action;
        }
        if (input == conn_input::snapshot_failed) {
            return fail(ec);
        }
        break;
    case conn_state::streaming:
        if (input == conn_input::stream_lost) {
            return fail(ec);
        }
        break;
    case conn_state::backing_off:
        if (input == conn_input::backoff_elapsed) {
            state_ = conn_state::pinging;
            return {conn_action_kind::ping};
        }
        break;
    case conn_state::stopped:
        break;
    }
    return {}; // an input that does not apply in this state changes nothing
}

} // namespace dockgate
