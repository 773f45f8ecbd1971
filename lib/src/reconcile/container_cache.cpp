// The container cache: events, inspect replies, snapshots and the per-round inspect cap.
#include "dockgate/reconcile/container_cache.hpp"

namespace dockgate {

bool container_cache::on_event(const docker_event& event) {
    if (event.kind == event_kind::container_stop) {
        to_inspect_.erase(event.container_id);
        if (event.container_id == inspecting_) {
            stopped_while_inspecting_ = true;
        }
        return containers_.erase(event.container_id) > 0;
    }
    to_inspect_.insert(event.container_id);
    return true;
}

void container_cache::replace(std::vector<container_info> running) {
    containers_.clear();
    for (auto& info : running) {
        auto id = info.id;
        containers_.insert_or_assign(std::move(id), std::move(info));
    }
    to_inspect_.clear();
}

std::vector<std::string> container_cache::take_inspect_round() {
    std::vector<std::string> round;
    while (!to_inspect_.empty() && round.size() < max_inspects_per_round_) {
        round.push_back(to_inspect_.extract(to_inspect_.begin()).value());
    }
    return round;
}

void container_cache::begin_inspect(const std::string& id) {
    inspecting_ = id;
    stopped_while_inspecting_ = false;
}

inspect_effect container_cache::finish_inspect(const std::string& id, const inspect_reply& reply) {
    inspecting_.clear();
    if (stopped_while_inspecting_) {
        return inspect_effect::stopped_meanwhile; // a later start queues it again
    }
    if (reply.not_found) {
        containers_.erase(id); // vanished between event and inspect: it is gone
        return inspect_effect::gone;
    }
    if (!reply.info) {
        return inspect_effect::unusable;
    }
    if (!reply.info->running) {
        containers_.erase(id);
        return inspect_effect::gone;
    }
    const auto known = containers_.find(id);
    if (known == containers_.end()) {
        containers_.emplace(id, *reply.info);
        return inspect_effect::started;
    }
    if (known->second == *reply.info) {
        return inspect_effect::unchanged;
    }
    known->second = *reply.info;
    return inspect_effect::changed;
}

void container_cache::requeue(const std::vector<std::string>& ids) {
    inspecting_.clear();
    to_inspect_.insert(ids.begin(), ids.end());
}

const evaluation& container_cache::evaluation_of(const container_info& info, const policy& pol,
                                                 unsigned long policy_generation,
                                                 publish_target mode) const {
    auto& cached = evaluations_[info.id];
    if (!cached.result || cached.policy_generation != policy_generation || cached.mode != mode ||
        !(cached.info == info)) {
        cached = {info, policy_generation, mode, evaluate(info, pol, mode)};
    }
    return *cached.result;
}

void container_cache::prune_evaluations() {
    std::erase_if(evaluations_,
                  [this](const auto& entry) { return !containers_.contains(entry.first); });
}

} // namespace dockgate
