// sd_notify integration and the status socket server.
#include "dockgate/service/service.hpp"

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
    return to_status_line(ctl_.view());
}

void service_notifier::start() {
    ctl_.on_synced([this] {
        const auto message =
            (ready_sent_ ? std::string{} : std::string("READY=1\n")) + status_line();
        sd_notify(0, message.c_str());
        ready_sent_ = true;
    });
    if (const auto period = watchdog_period()) {
        watchdog_running_ = true;
        asio::co_spawn(ioc_, watchdog_loop(*period / 2),
                       [this, fail = ctl_.loop_ended("watchdog")](const std::exception_ptr& e) {
                           watchdog_running_ = false;
                           fail(e);
                       });
    }
}

void service_notifier::stop() {
    stopping_ = true;
    ctl_.on_synced({}); // the callback reads this notifier
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
        const auto message =
            (ctl_.healthy() ? std::string("WATCHDOG=1\n") : std::string{}) + status_line();
        sd_notify(0, message.c_str());
    }
}

status_server::status_server(asio::io_context& ioc, controller& ctl, int listening_fd,
                             server_limits limits)
    : ctl_(ctl), acceptor_(ioc, local_stream(), listening_fd), limits_(limits) {}

void status_server::start() {
    asio::co_spawn(acceptor_.get_executor(), accept_loop(), ctl_.loop_ended("status server"));
}

void status_server::stop() {
    error_code ignored;
    acceptor_.close(ignored);
}

namespace {

/// Accepts until the acceptor is closed. Each connection is answered in its own coroutine, so
/// that an idle client delays no one; past `max_connections` a new one is closed at once (as
/// `peer` goes), and the clients already in get served first.
template <class Acceptor, class Answer>
asio::awaitable<void> accept_bounded(Acceptor& acceptor, const std::size_t& active,
                                     std::size_t max_connections, Answer answer) {
    while (acceptor.is_open()) {
        error_code ec;
        auto peer = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
        if (ec) {
            co_return;
        }
        if (active >= max_connections) {
            continue;
        }
        asio::co_spawn(acceptor.get_executor(), answer(std::move(peer)), asio::detached);
    }
}

/// Closes `socket` when `deadline` passes unless the returned guard is dropped first.
template <class Socket>
std::shared_ptr<asio::steady_timer> close_at_deadline(Socket& socket,
                                                      std::chrono::milliseconds deadline) {
    auto timer = std::make_shared<asio::steady_timer>(socket.get_executor(), deadline);
    timer->async_wait([&socket, weak = std::weak_ptr(timer)](const error_code& ec) {
        if (!ec && !weak.expired()) {
            error_code ignored;
            socket.close(ignored);
        }
    });
    return timer;
}

/// Counts a connection as active for its lifetime.
struct connection_count {
    explicit connection_count(std::size_t& n) : n_(n) { ++n_; }
    connection_count(const connection_count&) = delete;
    connection_count& operator=(const connection_count&) = delete;
    ~connection_count() { --n_; }
    std::size_t& n_;
};

} // namespace

asio::awaitable<void> status_server::accept_loop() {
    return accept_bounded(acceptor_, active_, limits_.max_connections,
                          [this](local_stream::socket peer) { return answer(std::move(peer)); });
}

asio::awaitable<void> status_server::answer(local_stream::socket socket) {
    const connection_count counted(active_);
    const auto deadline = close_at_deadline(socket, limits_.deadline);
    const auto document = ctl_.status().dump(2) + "\n";
    error_code ec;
    co_await asio::async_write(socket, asio::buffer(document),
                               asio::redirect_error(asio::use_awaitable, ec));
    deadline->cancel();
}

namespace {

asio::ip::tcp::endpoint loopback_endpoint(const std::string& listen) {
    // "127.0.0.1:9469" or "[::1]:9469"
    const auto colon = listen.rfind(':');
    if (colon == std::string::npos) {
        throw std::invalid_argument("--metrics-listen wants ADDRESS:PORT, got \"" + listen + "\"");
    }
    auto host = listen.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    }
    error_code ec;
    const auto address = asio::ip::make_address(host, ec);
    const auto port = std::stoul(listen.substr(colon + 1));
    if (ec || !address.is_loopback() || port > 65535) {
        throw std::invalid_argument("--metrics-listen must be a loopback address and port, got \"" +
                                    listen + "\"");
    }
    return {address, static_cast<unsigned short>(port)};
}

} // namespace

metrics_server::metrics_server(asio::io_context& ioc, controller& ctl, const std::string& listen,
                               server_limits limits)
    : ctl_(ctl), acceptor_(ioc, loopback_endpoint(listen)), limits_(limits) {}

void metrics_server::start() {
    asio::co_spawn(acceptor_.get_executor(), accept_loop(), ctl_.loop_ended("metrics server"));
}

void metrics_server::stop() {
    error_code ignored;
    acceptor_.close(ignored);
}

asio::awaitable<void> metrics_server::accept_loop() {
    return accept_bounded(acceptor_, active_, limits_.max_connections,
                          [this](asio::ip::tcp::socket peer) { return answer(std::move(peer)); });
}

asio::awaitable<void> metrics_server::answer(asio::ip::tcp::socket socket) {
    const connection_count counted(active_);
    beast::tcp_stream stream(std::move(socket));
    stream.expires_after(limits_.deadline); // a scraper that stalls does not hold us
    beast::flat_buffer buffer;
    http::request<http::empty_body> request;
    error_code ec;
    co_await http::async_read(stream, buffer, request,
                              asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
        co_return;
    }
    http::response<http::string_body> response{http::status::ok, request.version()};
    response.set(http::field::content_type, "text/plain; version=0.0.4");
    response.body() = to_metrics(ctl_.view());
    response.keep_alive(false);
    response.prepare_payload();
    co_await http::async_write(stream, response, asio::redirect_error(asio::use_awaitable, ec));
}

} // namespace dockgate
