// The container cache: events, inspects, snapshots, the stop that wins, the per-round cap.
#include "dockgate/reconcile/container_cache.hpp"

#include <gtest/gtest.h>

#include <string>

namespace dockgate {
namespace {

std::string id_of(int n) {
    auto text = std::to_string(n);
    return std::string(64 - text.size(), 'a') + text;
}

container_info running(int n) {
    container_info info;
    info.id = id_of(n);
    info.name = "c" + std::to_string(n);
    info.running = true;
    info.labels = {{"fw.allow", "http"}};
    info.networks = {{"v6", "2001:db8::" + std::to_string(n), ""}};
    return info;
}

docker_event event(event_kind kind, int n) {
    return {kind, id_of(n), "", 0, ""};
}

TEST(container_cache, a_start_queues_an_inspect_and_its_reply_adds_the_container) {
    container_cache cache;
    EXPECT_TRUE(cache.on_event(event(event_kind::container_start, 1)));
    const auto round = cache.take_inspect_round();
    ASSERT_EQ(round, std::vector<std::string>{id_of(1)});
    cache.begin_inspect(round[0]);
    EXPECT_EQ(cache.finish_inspect(round[0], {false, running(1)}), inspect_effect::started);
    EXPECT_EQ(cache.containers().size(), 1U);
    cache.begin_inspect(round[0]);
    EXPECT_EQ(cache.finish_inspect(round[0], {false, running(1)}), inspect_effect::unchanged);
    auto moved = running(1);
    moved.networks[0].global_ipv6 = "2001:db8::99";
    cache.begin_inspect(round[0]);
    EXPECT_EQ(cache.finish_inspect(round[0], {false, moved}), inspect_effect::changed);
    EXPECT_EQ(cache.containers().at(id_of(1)).networks[0].global_ipv6, "2001:db8::99");
}

TEST(container_cache, a_stop_that_arrives_while_its_inspect_is_pending_wins) {
    // The inspect reply says "running", but the container died before the reply arrived: a
    // rule for it would be left behind (the fault test found this with a real race).
    container_cache cache;
    cache.replace({running(1)});
    cache.on_event(event(event_kind::network_change, 1));
    const auto round = cache.take_inspect_round();
    cache.begin_inspect(round[0]);
    EXPECT_TRUE(cache.on_event(event(event_kind::container_stop, 1)));
    EXPECT_EQ(cache.finish_inspect(round[0], {false, running(1)}),
              inspect_effect::stopped_meanwhile);
    EXPECT_TRUE(cache.containers().empty());
    // A later start queues it again.
    cache.on_event(event(event_kind::container_start, 1));
    EXPECT_TRUE(cache.inspects_pending());
}

TEST(container_cache, a_stop_for_an_unknown_container_changes_nothing) {
    container_cache cache;
    EXPECT_FALSE(cache.on_event(event(event_kind::container_stop, 7)));
}

TEST(container_cache, a_storm_is_inspected_at_most_the_cap_per_round) {
    container_cache cache(32);
    for (int n = 0; n < 100; ++n) {
        cache.on_event(event(event_kind::container_start, n));
    }
    EXPECT_EQ(cache.take_inspect_round().size(), 32U);
    EXPECT_TRUE(cache.inspects_pending()) << "the rest waits for the next round";
    EXPECT_EQ(cache.take_inspect_round().size(), 32U);
    EXPECT_EQ(cache.take_inspect_round().size(), 32U);
    EXPECT_EQ(cache.take_inspect_round().size(), 4U);
    EXPECT_FALSE(cache.inspects_pending());
}

TEST(container_cache, vanished_or_stopped_on_inspect_is_gone_and_unusable_changes_nothing) {
    container_cache cache;
    cache.replace({running(1), running(2), running(3)});
    cache.begin_inspect(id_of(1));
    EXPECT_EQ(cache.finish_inspect(id_of(1), {true, std::nullopt}), inspect_effect::gone);
    auto stopped = running(2);
    stopped.running = false;
    cache.begin_inspect(id_of(2));
    EXPECT_EQ(cache.finish_inspect(id_of(2), {false, stopped}), inspect_effect::gone);
    cache.begin_inspect(id_of(3));
    EXPECT_EQ(cache.finish_inspect(id_of(3), {false, std::nullopt}), inspect_effect::unusable);
    ASSERT_EQ(cache.containers().size(), 1U);
    EXPECT_TRUE(cache.containers().contains(id_of(3)));
}

TEST(container_cache, a_failed_inspect_requeues_the_rest_and_a_snapshot_replaces_the_queue) {
    container_cache cache;
    for (int n = 0; n < 3; ++n) {
        cache.on_event(event(event_kind::container_start, n));
    }
    auto round = cache.take_inspect_round();
    cache.begin_inspect(round[0]);
    cache.requeue(round); // Docker went away mid-round
    EXPECT_EQ(cache.take_inspect_round().size(), 3U);
    cache.requeue(round);
    cache.replace({running(5)}); // the reconnect's snapshot supersedes the queue
    EXPECT_FALSE(cache.inspects_pending());
    EXPECT_EQ(cache.containers().size(), 1U);
}

TEST(container_cache, evaluations_are_cached_per_policy_generation_and_pruned) {
    container_cache cache;
    cache.replace({running(1)});
    const policy pol;
    const auto& info = cache.containers().at(id_of(1));
    const auto* first = &cache.evaluation_of(info, pol, 1, publish_target::host_port);
    EXPECT_EQ(first, &cache.evaluation_of(info, pol, 1, publish_target::host_port));
    EXPECT_EQ(cache.evaluation_of(info, pol, 2, publish_target::host_port).rules.size(),
              first->rules.size());
    cache.on_event(event(event_kind::container_stop, 1));
    cache.prune_evaluations();
    EXPECT_TRUE(cache.containers().empty());
}

} // namespace
} // namespace dockgate
