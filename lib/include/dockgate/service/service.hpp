// The daemon's faces to the host: sd_notify (READY, STATUS, WATCHDOG) and the status socket.
#pragma once

#include "dockgate/asio.hpp"
#include "dockgate/reconcile/controller.hpp"

#include <chrono>
#include <memory>
#include <optional>

namespace dockgate {

/// READY=1 after the first reconcile, STATUS= after each one and on every watchdog tick,
/// WATCHDOG=1 at half of WATCHDOG_USEC but only while controller::healthy(). Without
/// NOTIFY_SOCKET every call is a no-op, so tests and foreground runs need no systemd.
class service_notifier {
  public:
    service_notifier(asio::io_context& ioc, controller& ctl);
    /// Hooks into the controller and starts the watchdog timer (when WATCHDOG_USEC is set).
    void start();
    void stop();
    /// True once stop() was called and the watchdog loop has returned. The loop reads the
    /// notifier's members until then, so the notifier must live at least that long. (stop()
    /// also takes back the controller's on_synced callback, which reads them too.)
    [[nodiscard]] bool finished() const { return stopping_ && !watchdog_running_; }
    /// The watchdog period from the environment. Read directly rather than through
    /// sd_watchdog_enabled(): with privilege separation the watcher is not the main PID
    /// that WATCHDOG_PID names, yet it is the process that knows whether all is well.
    static std::optional<std::chrono::microseconds> watchdog_period();

  private:
    asio::awaitable<void> watchdog_loop(std::chrono::microseconds period);
    std::string status_line() const;

    asio::io_context& ioc_;
    controller& ctl_;
    asio::steady_timer timer_;
    bool ready_sent_ = false;
    bool stopping_ = false;
    bool watchdog_running_ = false;
};

/// Bounds of the status and metrics servers: clients are served concurrently, each within its
/// own deadline, so one that connects and never reads delays nobody.
struct server_limits {
    std::size_t max_connections = 16;         ///< beyond this a new connection is closed at once
    std::chrono::milliseconds deadline{5000}; ///< per connection, from accept to the last byte
};

/// Answers every connection on a listening unix stream socket with controller::status() as
/// one JSON document, then closes it.
class status_server {
  public:
    status_server(asio::io_context& ioc, controller& ctl, int listening_fd,
                  server_limits limits = {});
    void start();
    void stop();

  private:
    asio::awaitable<void> accept_loop();
    asio::awaitable<void> answer(local_stream::socket socket);

    controller& ctl_;
    local_stream::acceptor acceptor_;
    server_limits limits_;
    std::size_t active_ = 0;
};

/// Prometheus metrics over HTTP on a loopback address only (off unless configured).
class metrics_server {
  public:
    /// Throws std::invalid_argument for a non-loopback address or one that cannot be bound.
    metrics_server(asio::io_context& ioc, controller& ctl, const std::string& listen,
                   server_limits limits = {});
    void start();
    void stop();
    [[nodiscard]] unsigned short port() const { return acceptor_.local_endpoint().port(); }

  private:
    asio::awaitable<void> accept_loop();
    asio::awaitable<void> answer(asio::ip::tcp::socket socket);

    controller& ctl_;
    asio::ip::tcp::acceptor acceptor_;
    server_limits limits_;
    std::size_t active_ = 0;
};

} // namespace dockgate
