// The daemon's view of Docker's running containers: fed by events, inspect replies and snapshots.
#pragma once

#include "dockgate/docker/docker_event.hpp"
#include "dockgate/model/container.hpp"
#include "dockgate/policy/labels.hpp"
#include "dockgate/policy/policy.hpp"

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace dockgate {

/// What an inspect reply did to the cache.
enum class inspect_effect {
    stopped_meanwhile, ///< a stop event came while the reply was awaited: the stop wins
    gone,              ///< Docker no longer knows it (404) or it no longer runs: removed
    unusable,          ///< the reply could not be decoded: the cache is unchanged
    started,           ///< a container the cache did not hold
    changed,           ///< a known container whose labels, networks or ports changed
    unchanged,
};

/// An inspect reply: `not_found` for a 404, else the decoded container (nullopt: unusable).
struct inspect_reply {
    bool not_found = false;
    std::optional<container_info> info;
};

class container_cache {
  public:
    /// At most `max_inspects_per_round` containers are inspected before a round writes rules:
    /// large enough that a burst costs few rounds, small enough that the first rules of a
    /// storm go out within a fraction of a second.
    explicit container_cache(std::size_t max_inspects_per_round = 32)
        : max_inspects_per_round_(max_inspects_per_round) {}

    /// A relevant event. A stop removes the container at once (and wins over its inspect in
    /// flight); anything else queues an inspect. True when a round is due.
    bool on_event(const docker_event& event);
    /// A fresh container list replaces the cache (running containers only) and the queue.
    void replace(std::vector<container_info> running);
    /// The next inspects of this round, taken off the queue: only what was queued when the
    /// round began and at most the cap, so that during a storm the containers already
    /// inspected get their rules now; the rest stays queued for the next round.
    std::vector<std::string> take_inspect_round();
    /// Called before the inspect of `id` is sent.
    void begin_inspect(const std::string& id);
    /// Called with the reply of the inspect begun last.
    inspect_effect finish_inspect(const std::string& id, const inspect_reply& reply);
    /// The inspect failed (Docker unreachable): `ids` go back on the queue for a later round.
    void requeue(const std::vector<std::string>& ids);
    [[nodiscard]] bool inspects_pending() const { return !to_inspect_.empty(); }
    [[nodiscard]] const std::map<std::string, container_info>& containers() const {
        return containers_;
    }

    /// evaluate() of the container, cached per container, policy generation and publish mode:
    /// labels are untrusted and read on every round, status request and watchdog tick, and
    /// comparing the stored copy costs as much as reading the labels once, never as much as
    /// evaluating them.
    const evaluation& evaluation_of(const container_info& info, const policy& pol,
                                    unsigned long policy_generation, publish_target mode) const;
    /// Drops the evaluations of containers that are gone.
    void prune_evaluations();

  private:
    std::size_t max_inspects_per_round_;
    std::map<std::string, container_info> containers_;
    std::set<std::string> to_inspect_;
    std::string inspecting_;
    bool stopped_while_inspecting_ = false;
    struct cached_evaluation {
        container_info info;
        unsigned long policy_generation = 0;
        publish_target mode = publish_target::host_port;
        std::optional<evaluation> result;
    };
    mutable std::map<std::string, cached_evaluation> evaluations_;
};

} // namespace dockgate
