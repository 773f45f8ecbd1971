// The Docker connection lifecycle as a pure state machine: inputs in, actions out.
#pragma once

#include <boost/system/error_code.hpp>

#include <chrono>
#include <functional>
#include <ostream>

namespace dockgate {

enum class conn_state {
    idle,         ///< not started
    pinging,      ///< asking /_ping for the API version
    subscribing,  ///< opening /events (first, so nothing is missed during the snapshot)
    snapshotting, ///< listing running containers and reconciling
    streaming,    ///< in sync, applying events as they come
    backing_off,  ///< waiting before the next attempt
    stopped,      ///< shut down; no further actions
};

enum class conn_input {
    start,
    ping_ok,
    ping_failed,
    subscribed,
    subscribe_failed,
    snapshot_ok,
    snapshot_failed,
    stream_lost,
    backoff_elapsed,
    stop,
};

enum class conn_action_kind { ping, subscribe, snapshot, stream, wait, close, none };

struct conn_action {
    conn_action_kind kind = conn_action_kind::none;
    std::chrono::milliseconds wait{0}; ///< for `wait`
    /// True when this failure (step or error) differs from the last one reported: log it.
    /// Repeats of the same failure (socket still missing) stay quiet until something changes.
    bool report_failure = false;
    /// True on entering `streaming` after at least one failure: log the recovery.
    bool report_recovery = false;
};

struct backoff_settings {
    std::chrono::milliseconds initial{200};
    std::chrono::milliseconds max{30000};
};

class connection_fsm {
  public:
    /// `jitter` returns a value in [0, 1); tests pass a constant.
    connection_fsm(backoff_settings backoff, std::function<double()> jitter)
        : backoff_(backoff), jitter_(std::move(jitter)) {}

    conn_action on(conn_input input, boost::system::error_code ec = {});
    [[nodiscard]] conn_state state() const { return state_; }
    [[nodiscard]] unsigned failures_in_a_row() const { return attempt_; }
    [[nodiscard]] unsigned long connections() const { return connections_; }

  private:
    conn_action fail(boost::system::error_code ec);
    std::chrono::milliseconds next_delay();

    backoff_settings backoff_;
    std::function<double()> jitter_;
    conn_state state_ = conn_state::idle;
    unsigned attempt_ = 0;
    unsigned long connections_ = 0;
    boost::system::error_code last_reported_;
    conn_state last_failed_state_ = conn_state::idle;
    bool failed_since_streaming_ = false;
};

const char* to_string(conn_state state);
const char* to_string(conn_input input);
const char* to_string(conn_action_kind kind);
inline std::ostream& operator<<(std::ostream& os, conn_state s) {
    return os << to_string(s);
}
inline std::ostream& operator<<(std::ostream& os, conn_action_kind k) {
    return os << to_string(k);
}

} // namespace dockgate
