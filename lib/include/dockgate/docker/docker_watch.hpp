// Follows the Docker Engine: connection lifecycle, the event stream, health pings, container
// lists and inspects. What it learns goes to the controller through callbacks.
#pragma once

#include "dockgate/asio.hpp"
#include "dockgate/docker/connection_fsm.hpp"
#include "dockgate/docker/docker_client.hpp"
#include "dockgate/docker/ndjson.hpp"
#include "dockgate/model/container.hpp"
#include "dockgate/reconcile/container_cache.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/logger.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace dockgate {

struct docker_watch_settings {
    docker_settings docker;
    backoff_settings backoff;
    /// How often /_ping checks the event stream; 0: no timer of its own (the drift tick pings).
    std::chrono::milliseconds health_interval{0};
    /// Longest event line accepted from the stream.
    std::size_t max_event_line = 1U << 20U;
};

struct docker_watch_callbacks {
    std::function<void(std::string_view line)> on_event_line;
    /// A container list was read; the containers that run.
    std::function<void(std::vector<container_info> running)> on_snapshot;
    /// The event stream ended: what the cache holds may be stale until the next snapshot.
    std::function<void()> on_stream_lost;
};

class docker_watch {
  public:
    /// `running_loops` counts this watch's coroutines (the controller waits for them at stop).
    docker_watch(asio::io_context& ioc, docker_watch_settings settings,
                 std::shared_ptr<spdlog::logger> log, docker_watch_callbacks callbacks,
                 int& running_loops);

    /// The watch loop: connect, subscribe, snapshot, stream, back off, reconnect; until stop().
    asio::awaitable<void> run();
    /// Pings Docker; if it does not answer, the stream this ping was about is closed.
    asio::awaitable<void> ping();
    /// Inspects a container. An I/O failure sets `ec` (and asks for a resync).
    asio::awaitable<inspect_reply> inspect(const std::string& id, error_code& ec);
    /// Closes the stream: the loop reconnects with a new snapshot, so nothing is missed.
    void resync();
    void stop();

    [[nodiscard]] conn_state state() const { return fsm_.state(); }
    [[nodiscard]] unsigned long connections() const { return fsm_.connections(); }
    [[nodiscard]] int api_minor() const { return docker_.api_minor(); }
    [[nodiscard]] const std::string& socket_path() const { return settings_.docker.socket_path; }
    docker_client& client() { return docker_; }

  private:
    asio::awaitable<void> health_check(std::shared_ptr<bool> active);
    asio::awaitable<error_code> take_snapshot();
    asio::awaitable<error_code> list_containers(std::string id_prefix,
                                                std::vector<nlohmann::json>& items);
    /// One step of connecting: ping, subscribe to events, or take the snapshot.
    asio::awaitable<conn_action> connect_step(const conn_action& action, ndjson_splitter& splitter);
    asio::awaitable<conn_action> follow_stream(const conn_action& action);

    asio::io_context& ioc_;
    docker_watch_settings settings_;
    std::shared_ptr<spdlog::logger> log_;
    docker_watch_callbacks callbacks_;
    int& running_loops_;
    docker_client docker_;
    connection_fsm fsm_;
    std::unique_ptr<event_stream> stream_;
    std::function<void(std::string_view)> feed_;
    asio::steady_timer backoff_timer_;
    asio::steady_timer health_timer_;
    bool stopping_ = false;
};

/// Counts a loop as running for the lifetime of its coroutine frame.
struct loop_guard {
    explicit loop_guard(int& counter) : counter_(counter) { ++counter_; }
    loop_guard(const loop_guard&) = delete;
    loop_guard& operator=(const loop_guard&) = delete;
    ~loop_guard() { --counter_; }
    int& counter_;
};

} // namespace dockgate
