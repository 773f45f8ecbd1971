// The Docker watch: connection state machine driven over the socket, events, pings, lists,
// inspects.
#include "dockgate/docker/docker_watch.hpp"

#include "dockgate/docker/ndjson.hpp"
#include "dockgate/model/error.hpp"

#include <random>

namespace dockgate {
namespace {

double random_unit() {
    static thread_local std::mt19937 generator{std::random_device{}()};
    return std::uniform_real_distribution<double>(0.0, 1.0)(generator);
}

const std::string events_filter = R"({"type":["container","network"],)"
                                  R"("event":["start","die","destroy","connect","disconnect"]})";

} // namespace

docker_watch::docker_watch(asio::io_context& ioc, docker_watch_settings settings,
                           std::shared_ptr<spdlog::logger> log, docker_watch_callbacks callbacks,
                           int& running_loops)
    : ioc_(ioc), settings_(std::move(settings)), log_(std::move(log)),
      callbacks_(std::move(callbacks)), running_loops_(running_loops), docker_(settings_.docker),
      fsm_(settings_.backoff, random_unit), backoff_timer_(ioc), health_timer_(ioc) {}

void docker_watch::resync() {
    if (stream_ && !stopping_) {
        stream_->close();
    }
}

void docker_watch::stop() {
    stopping_ = true;
    if (stream_) {
        stream_->close();
    }
    backoff_timer_.cancel();
    health_timer_.cancel();
}

asio::awaitable<void> docker_watch::run() {
    const loop_guard running(running_loops_);
    ndjson_splitter splitter(settings_.max_event_line, callbacks_.on_event_line,
                             [this](std::size_t dropped) {
                                 // Labels ride in events, so huge labels make huge lines; the
                                 // event may have been a start or a stop: resync, not miss it.
                                 log_->warn("skipped an event line of {} bytes (over the {} byte "
                                            "limit); resyncing",
                                            dropped, settings_.max_event_line);
                                 resync();
                             });
    feed_ = [&splitter](std::string_view bytes) { splitter.feed(bytes); };
    auto action = fsm_.on(conn_input::start);
    while (true) {
        if (stopping_ && fsm_.state() != conn_state::stopped) {
            action = fsm_.on(conn_input::stop);
        }
        switch (action.kind) {
        case conn_action_kind::ping:
        case conn_action_kind::subscribe:
        case conn_action_kind::snapshot:
            action = co_await connect_step(action, splitter);
            break;
        case conn_action_kind::stream:
            action = co_await follow_stream(action);
            break;
        case conn_action_kind::wait: {
            error_code ec;
            backoff_timer_.expires_after(action.wait);
            co_await backoff_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
            action = fsm_.on(conn_input::backoff_elapsed);
            break;
        }
        case conn_action_kind::close:
        case conn_action_kind::none:
            if (stream_) {
                stream_->close();
            }
            co_return;
        }
    }
}

asio::awaitable<conn_action> docker_watch::connect_step(const conn_action& action,
                                                        ndjson_splitter& splitter) {
    error_code ec;
    conn_action next;
    const char* what = "ping";
    if (action.kind == conn_action_kind::ping) {
        ec = co_await docker_.ping();
        next = fsm_.on(ec ? conn_input::ping_failed : conn_input::ping_ok, ec);
    } else if (action.kind == conn_action_kind::subscribe) {
        what = "event subscription";
        stream_ = std::make_unique<event_stream>(ioc_.get_executor());
        splitter.reset();
        ec = co_await stream_->open(
            settings_.docker, docker_.versioned("/events?filters=" + url_encode(events_filter)));
        next = fsm_.on(ec ? conn_input::subscribe_failed : conn_input::subscribed, ec);
    } else {
        what = "container listing";
        ec = co_await take_snapshot();
        next = fsm_.on(ec ? conn_input::snapshot_failed : conn_input::snapshot_ok, ec);
    }
    if (next.report_failure) {
        log_->warn("Docker at {}: {} failed: {}; retrying in {} ms (repeats of this error are "
                   "not logged)",
                   socket_path(), what, ec.message(), next.wait.count());
    }
    co_return next;
}

asio::awaitable<conn_action> docker_watch::follow_stream(const conn_action& action) {
    log_->info("{} to Docker at {} (API 1.{}), following events",
               action.report_recovery ? "reconnected" : "connected", socket_path(),
               docker_.api_minor());
    auto active = std::make_shared<bool>(true);
    asio::co_spawn(ioc_, health_check(active), asio::detached);
    const auto ec = co_await stream_->read(feed_);
    *active = false;
    health_timer_.cancel();
    if (callbacks_.on_stream_lost) {
        callbacks_.on_stream_lost();
    }
    if (!stopping_) {
        log_->warn("Docker event stream lost: {}; rules stay as they are until resync",
                   ec.message());
    }
    co_return fsm_.on(conn_input::stream_lost, ec);
}

asio::awaitable<void> docker_watch::health_check(std::shared_ptr<bool> active) {
    const loop_guard running(running_loops_);
    // 0: no timer of its own; the drift timer's tick pings instead (one wake-up, not two).
    if (settings_.health_interval.count() == 0) {
        co_return;
    }
    while (*active && !stopping_) {
        error_code ec;
        health_timer_.expires_after(settings_.health_interval);
        co_await health_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        if (!*active || stopping_) {
            co_return;
        }
        co_await ping();
    }
}

asio::awaitable<void> docker_watch::ping() {
    const loop_guard running(running_loops_);
    if (fsm_.state() != conn_state::streaming || !stream_) {
        co_return;
    }
    const auto connections = fsm_.connections();
    const auto ping_ec = co_await docker_.ping();
    // Only the stream this ping was about is closed, not one opened while it waited.
    if (ping_ec && !stopping_ && fsm_.state() == conn_state::streaming &&
        fsm_.connections() == connections) {
        log_->warn("Docker stopped answering /_ping ({}); reconnecting", ping_ec.message());
        stream_->close();
    }
}

asio::awaitable<error_code> docker_watch::list_containers(std::string id_prefix,
                                                          std::vector<nlohmann::json>& items) {
    // A list over the reply limit (containers with huge labels) is read again in 16 parts by
    // id prefix, and a part still too large in 16 smaller ones: no size makes every snapshot
    // fail for good. Past 3 hex digits one part holds at most a few containers; it is an error.
    std::string target = "/containers/json";
    if (!id_prefix.empty()) {
        // Docker matches the id filter as a regular expression anywhere in the id: anchored,
        // a part of k hex digits holds about 1/16^k of the containers.
        target += "?filters=" + url_encode(R"({"id":["^)" + id_prefix + R"("]})");
    }
    const auto reply = co_await docker_.get(docker_.versioned(target));
    if (reply.ec == errc::docker_reply_too_large && id_prefix.size() < 3) {
        log_->warn("Docker's container list{} is over {} bytes; reading it in parts",
                   id_prefix.empty() ? "" : " (ids " + id_prefix + "*)",
                   settings_.docker.max_reply_bytes);
        for (const char digit : std::string_view("0123456789abcdef")) {
            if (const auto ec = co_await list_containers(id_prefix + digit, items)) {
                co_return ec;
            }
        }
        co_return error_code{};
    }
    if (reply.ec) {
        co_return reply.ec;
    }
    auto list = nlohmann::json::parse(reply.body, nullptr, false);
    if (!list.is_array()) {
        log_->error("Docker's container list is not a JSON array; keeping rules as they are");
        co_return errc::docker_bad_reply;
    }
    for (auto& item : list) {
        // Only those that start with the prefix, whatever the Engine made of the filter.
        if (id_prefix.empty() ||
            (item.is_object() && item.value("Id", "").starts_with(id_prefix))) {
            items.push_back(std::move(item));
        }
    }
    co_return error_code{};
}

asio::awaitable<error_code> docker_watch::take_snapshot() {
    std::vector<nlohmann::json> list;
    if (const auto ec = co_await list_containers({}, list)) {
        co_return ec;
    }
    std::vector<container_info> running;
    for (const auto& item : list) {
        std::string why;
        auto info = decode_list_item(item, &why);
        if (!info) {
            log_->warn("skipped a container in Docker's list: {}", why);
            continue;
        }
        if (info->running) {
            running.push_back(std::move(*info));
        }
    }
    callbacks_.on_snapshot(std::move(running));
    co_return error_code{};
}

asio::awaitable<inspect_reply> docker_watch::inspect(const std::string& id, error_code& ec) {
    const auto reply = co_await docker_.get(docker_.versioned("/containers/" + id + "/json"));
    ec = {};
    if (reply.ec == errc::docker_not_found) {
        co_return inspect_reply{true, std::nullopt};
    }
    if (reply.ec) {
        ec = reply.ec;
        log_->warn("inspect of container {} failed: {}; will resync", id.substr(0, 12),
                   reply.ec.message());
        resync(); // the reconnect takes a full snapshot, so nothing is lost
        co_return inspect_reply{};
    }
    std::string why;
    auto info = decode_inspect(nlohmann::json::parse(reply.body, nullptr, false), &why);
    if (!info) {
        log_->warn("inspect of container {} returned an unusable reply: {}", id.substr(0, 12), why);
    }
    co_return inspect_reply{false, std::move(info)};
}

} // namespace dockgate
