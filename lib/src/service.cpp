// sd_notify integration and the status socket server.
#include "dockgate/service.hpp"

#include <systemd/sd-daemon.h>

#include <cstdlib>

namespace dockgate {

service_notifier::service_notifier(asio::io_context& ioc, controller& ctl)
    : ioc_(ioc), ctl_(ctl), timer_(ioc) {}

std::optional<std::chrono::microseconds> service_notifier::watchdog_period() {
    const char* text = std::getenv("WATCHDOG_USEC");
    if (text == nullptr) {
        return std::nullopt;
    }
    char* end = nullptr;
    const auto usec = std::strtoull(text, &end, 10);
    if (end == text || *end != '\0' || usec == 0) {
        return std::nullopt;
    }
    return std::chrono::microseconds(usec);
}

std::string service_notifier::status_line() const {
    const auto status = ctl_.status();
    std::string line = "STATUS=";
    line += ctl_.healthy() ? "in sync" : "degraded";
    line += "; Docker " + status["docker"]["state"].get<std::string>();
    line += "; " + std::to_string(status["containers"].size()) + " labelled container(s), " +
            std::to_string(status["owned_rules"].get<std::size_t>()) + " rule(s)";
    if (const auto failed = status["failed_operations"].size(); failed > 0) {
        line += ", " + std::to_string(failed) + " failed operation(s)";
    }
    return line;
}

void service_notifier::start() {
    ctl_.on_synced([this] {
        const auto message = (ready_sent_ ? std::string{} : std::string("READY=1\n")) + status_line();
        sd_notify(0, message.c_str());
        ready_sent_ = true;
    });
    if (const auto period = watchdog_period()) {
        asio::co_spawn(ioc_, watchdog_loop(*period / 2), asio::detached);
    }
}

void service_notifier::stop() {
    stopping_ = true;
    timer_.cancel();
    sd_notify(0, "STOPPING=1");
}

asio::awaitable<void> service_notifier::watchdog_loop(std::chrono::microseconds period) {
    while (!stopping_) {
        error_code ec;
        timer_.expires_after(period);
        co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        if (stopping_) {
            co_return;
        }
        // No ping while Docker or the executor is down: systemd then restarts the service
        // if it stays that way for WatchdogSec.
        const auto message = (ctl_.healthy() ? std::string("WATCHDOG=1\n") : std::string{}) + status_line();
        sd_notify(0, message.c_str());
    }
}

status_server::status_server(asio::io_context& ioc, controller& ctl, int listening_fd)
    : ctl_(ctl), acceptor_(ioc, local_stream(), listening_fd) {}

void status_server::start() { asio::co_spawn(acceptor_.get_executor(), accept_loop(), asio::detached); }

void status_server::stop() {
    error_code ignored;
    acceptor_.close(ignored);
}

asio::awaitable<void> status_server::accept_loop() {
    while (acceptor_.is_open()) {
        error_code ec;
        auto peer = co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
        if (ec) {
            co_return;
        }
        const auto document = ctl_.status().dump(2) + "\n";
        co_await asio::async_write(peer, asio::buffer(document),
                                   asio::redirect_error(asio::use_awaitable, ec));
    }
}

} // namespace dockgate
