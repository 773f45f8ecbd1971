// When the next reconcile round runs, and of which kind: a pure state machine over fake-able time.
#pragma once

#include <chrono>
#include <optional>

namespace dockgate {

/// The reconcile core's clock: monotonic, with no now() of its own. The driver passes the time
/// in (steady_clock's, as nanoseconds since its epoch), and tests pass any time they like.
struct monotonic_clock {
    using duration = std::chrono::nanoseconds;
    using rep = duration::rep;
    using period = duration::period;
    using time_point = std::chrono::time_point<monotonic_clock>;
    static constexpr bool is_steady = true;
};
using mono_time = monotonic_clock::time_point;

struct schedule_settings {
    /// Full re-read of ufw's rules to catch hand edits (drift); 0 disables.
    std::chrono::milliseconds drift_interval{60000};
    /// Events within this window are applied together (start/die flapping collapses).
    std::chrono::milliseconds coalesce_window{10};
    /// Re-read ufw's rules this long after a round that wrote to it: a ufw command an admin
    /// started before that write can save its older copy over it (ufw's own read-modify-write
    /// race), and this catches that long before the drift timer; 0 disables.
    std::chrono::milliseconds recheck_after_write{2000};
    /// First and longest wait before failed operations are tried again (doubling between).
    std::chrono::milliseconds retry_initial{1000};
    std::chrono::milliseconds retry_max{60000};
    /// While ufw's batched path is being verified, look again this often, so that the status
    /// view does not say "verifying" for a whole drift interval after the check has finished.
    std::chrono::milliseconds verify_poll{1000};
};

/// What the driver does next.
struct schedule_step {
    enum class kind {
        wait_until,        ///< sleep until `until` or until mark_dirty()
        wait_for_snapshot, ///< no current view of Docker: sleep until mark_dirty()
        run_round,         ///< run a round now (after the coalesce window if asked)
    };
    kind what = kind::wait_until;
    mono_time until{};
    /// Wait the coalesce window first, so that a burst of events makes one round.
    bool coalesce_first = false;
    /// Only the drift timer or the re-check asked for this round: what it repairs is drift.
    bool drift_only = false;
    /// The drift timer fired: re-read Docker's setup (a dockerd restart or `ufw reload` may
    /// have changed it) and ping Docker when there is no health timer of its own.
    bool drift_tick = false;
};

class reconcile_schedule {
  public:
    reconcile_schedule(schedule_settings settings, mono_time start);

    /// Something changed (event, snapshot, policy): a full round is due.
    void mark_dirty() { dirty_ = true; }
    [[nodiscard]] bool dirty() const { return dirty_; }
    /// A snapshot of Docker was taken; rounds may act on it.
    void snapshot_taken() {
        snapshot_valid_ = true;
        dirty_ = true;
    }
    /// The event stream was lost: no round until the next snapshot.
    void snapshot_lost() { snapshot_valid_ = false; }
    [[nodiscard]] bool snapshot_valid() const { return snapshot_valid_; }

    /// The next step at `now`. Consumes a due drift tick.
    schedule_step next(mono_time now);
    /// The round next() asked for begins: what made it due is consumed.
    void round_started();
    /// ufw's batched path is still being verified: look again after verify_poll.
    void ufw_verifying(mono_time now);
    /// The round wrote to ufw: re-read its rules after recheck_after_write.
    void round_wrote(mono_time now);
    /// Some operation failed: try again after a doubling delay, which is returned.
    std::chrono::milliseconds round_failed(mono_time now);
    /// Every operation is done: the retry delay starts over.
    void round_succeeded() { retry_delay_ = std::chrono::milliseconds(0); }
    [[nodiscard]] bool retry_pending() const { return retry_at_.has_value(); }

  private:
    schedule_settings settings_;
    mono_time next_drift_;
    std::optional<mono_time> retry_at_;
    std::optional<mono_time> recheck_at_;
    std::chrono::milliseconds retry_delay_{0};
    bool dirty_ = false;
    bool snapshot_valid_ = false;
};

} // namespace dockgate
