// The Docker API filter in front of the fake engine: reads pass, writes get 403, events stream.
#include "dockgate/docker/docker_api_proxy.hpp"
#include "dockgate/docker/docker_client.hpp"
#include "dockgate/model/error.hpp"

#include <gtest/gtest.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/ostream_sink.h>

#include <array>
#include <filesystem>
#include <sstream>
#include <string>
#include <unistd.h>

#include "../support/fake_engine.hpp"
#include "../support/run_until.hpp"

namespace dockgate {
namespace {

using namespace std::chrono_literals;

class docker_api_proxy_test : public ::testing::Test {
  protected:
    docker_api_proxy_test()
        : engine_(ioc_),
          log_("filter", std::make_shared<spdlog::sinks::ostream_sink_mt>(log_text_)) {
        dir_ = std::filesystem::temp_directory_path() /
               ("dockgate-filter-" + std::to_string(::getpid()));
        std::filesystem::create_directories(dir_);
        path_ = (dir_ / "filter.sock").string();
        settings_.docker_socket = engine_.socket_path();
    }
    ~docker_api_proxy_test() override {
        proxy_.reset();
        ioc_.restart();
        ioc_.run_for(20ms);
        std::filesystem::remove_all(dir_);
    }

    void start() {
        local_stream::acceptor acceptor(ioc_, local_stream::endpoint(path_));
        proxy_ = std::make_unique<docker_api_proxy>(ioc_, settings_, acceptor.release(), log_);
        proxy_->start();
    }

    /// Runs the io_context until `done` holds, at most `cap`.
    bool run_until(const std::function<bool()>& done, std::chrono::milliseconds cap = 5s) {
        return testing::run_until(ioc_, done, cap);
    }

    /// Sends `request` raw on a fresh connection and returns everything read until EOF.
    std::string exchange(const std::string& request) {
        std::string reply;
        bool done = false;
        asio::co_spawn(
            ioc_,
            [&]() -> asio::awaitable<void> {
                local_stream::socket s(ioc_);
                error_code ec;
                co_await s.async_connect(local_stream::endpoint(path_),
                                         asio::redirect_error(asio::use_awaitable, ec));
                co_await asio::async_write(s, asio::buffer(request),
                                           asio::redirect_error(asio::use_awaitable, ec));
                std::array<char, 4096> buf{};
                while (!ec) {
                    const auto n = co_await s.async_read_some(
                        asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
                    reply.append(buf.data(), n);
                }
                done = true;
            },
            asio::detached);
        EXPECT_TRUE(run_until([&] { return done; }));
        return reply;
    }

    docker_settings client_settings() const {
        docker_settings s;
        s.socket_path = path_;
        s.request_timeout = 2s;
        return s;
    }

    asio::io_context ioc_;
    testing::fake_engine engine_;
    std::ostringstream log_text_;
    spdlog::logger log_;
    std::filesystem::path dir_;
    std::string path_;
    docker_api_proxy_settings settings_;
    std::unique_ptr<docker_api_proxy> proxy_;
};

TEST_F(docker_api_proxy_test, dockgates_reads_pass_through) {
    start();
    docker_client docker(client_settings());
    engine_.containers[testing::container_id(1)] = {testing::container_id(1), "web", {}, {}};
    error_code ping_ec = errc::timeout;
    docker_reply list;
    docker_reply inspect;
    bool done = false;
    asio::co_spawn(
        ioc_,
        [&]() -> asio::awaitable<void> {
            ping_ec = co_await docker.ping();
            list = co_await docker.get(docker.versioned("/containers/json"));
            inspect = co_await docker.get(
                docker.versioned("/containers/" + testing::container_id(1) + "/json"));
            done = true;
        },
        asio::detached);
    ASSERT_TRUE(run_until([&] { return done; }));
    EXPECT_FALSE(ping_ec) << ping_ec.message();
    EXPECT_FALSE(list.ec) << list.ec.message();
    EXPECT_NE(list.body.find(testing::container_id(1)), std::string::npos);
    EXPECT_FALSE(inspect.ec) << inspect.ec.message();
    EXPECT_NE(inspect.body.find("web"), std::string::npos);
}

TEST_F(docker_api_proxy_test, a_create_is_refused_and_never_reaches_docker) {
    start();
    const auto reply = exchange("POST /v1.41/containers/create HTTP/1.1\r\nHost: docker\r\n"
                                "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
    EXPECT_TRUE(reply.starts_with("HTTP/1.1 403 Forbidden\r\n")) << reply;
    EXPECT_NE(reply.find("Connection: close"), std::string::npos) << reply;
    EXPECT_NE(reply.find(R"({"message":"dockgate API filter: method not allowed)"),
              std::string::npos)
        << reply;
    EXPECT_TRUE(engine_.targets.empty());
    EXPECT_NE(log_text_.str().find("refused POST /v1.41/containers/create"), std::string::npos);
}

TEST_F(docker_api_proxy_test, a_second_request_on_the_connection_is_not_forwarded) {
    start();
    const auto reply = exchange("GET /v1.41/_ping HTTP/1.1\r\nHost: docker\r\n\r\n"
                                "POST /v1.41/containers/create HTTP/1.1\r\nHost: docker\r\n\r\n");
    EXPECT_TRUE(reply.starts_with("HTTP/1.1 200")) << reply;
    EXPECT_EQ(engine_.targets, std::vector<std::string>{"/v1.41/_ping"});
}

TEST_F(docker_api_proxy_test, events_stream_through_as_they_happen) {
    start();
    event_stream stream(ioc_.get_executor());
    error_code open_ec = errc::timeout;
    bool opened = false;
    std::string received;
    asio::co_spawn(
        ioc_,
        [&]() -> asio::awaitable<void> {
            open_ec = co_await stream.open(client_settings(), "/v1.41/events");
            opened = true;
            if (!open_ec) {
                co_await stream.read([&](std::string_view data) { received.append(data); });
            }
        },
        asio::detached);
    ASSERT_TRUE(run_until([&] { return opened && engine_.open_streams() == 1; }));
    ASSERT_FALSE(open_ec) << open_ec.message();
    engine_.container_event("start", {testing::container_id(2), "db", {}, {}});
    // The reply never ends: the event must arrive while the stream is still open.
    EXPECT_TRUE(
        run_until([&] { return received.find(testing::container_id(2)) != std::string::npos; }));
    stream.close();
    proxy_->stop();
    EXPECT_TRUE(run_until([&] { return proxy_->open_connections() == 0; }));
}

TEST_F(docker_api_proxy_test, connections_beyond_the_limit_are_closed_at_once) {
    settings_.max_connections = 1;
    start();
    local_stream::socket idle(ioc_);
    idle.connect(local_stream::endpoint(path_));
    ASSERT_TRUE(run_until([&] { return proxy_->open_connections() == 1; }));
    const auto reply = exchange("GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n");
    EXPECT_TRUE(reply.empty()) << reply;
    EXPECT_NE(log_text_.str().find("closing a new one at once"), std::string::npos);
}

TEST_F(docker_api_proxy_test, a_silent_client_is_dropped_at_the_header_deadline) {
    settings_.header_deadline = 100ms;
    start();
    local_stream::socket idle(ioc_);
    idle.connect(local_stream::endpoint(path_));
    ASSERT_TRUE(run_until([&] { return proxy_->open_connections() == 1; }));
    EXPECT_TRUE(run_until([&] { return proxy_->open_connections() == 0; }, 2s));
}

} // namespace
} // namespace dockgate
