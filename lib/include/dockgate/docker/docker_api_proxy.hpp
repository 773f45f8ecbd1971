// The Docker API filter process: a unix socket in front of Docker's that relays allowed requests.
#pragma once

#include "dockgate/asio.hpp"

#include <spdlog/logger.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <sys/types.h>

namespace dockgate {

struct docker_api_proxy_settings {
    std::string docker_socket = "/var/run/docker.sock"; ///< the real Engine socket
    std::size_t max_connections = 64; ///< beyond: closed at once (the watcher uses a handful)
    std::size_t max_header_bytes = 8192;
    std::chrono::milliseconds header_deadline{10000}; ///< for the whole request head
    std::chrono::milliseconds connect_deadline{5000}; ///< for connecting to Docker
    std::chrono::milliseconds write_deadline{
        10000};                            ///< for the head to Docker, the 403 to the client
    std::chrono::seconds log_interval{10}; ///< a burst of refusals or rejections logs this often
    std::size_t log_burst = 20;            ///< lines per log_interval before they are counted
    /// Besides root, the one uid that may connect (the watcher's); unset: any peer the socket's
    /// mode lets in. Others in the socket's group must not read containers' configuration.
    std::optional<uid_t> allowed_uid;
};

/// Serves a listening unix stream socket on one io_context. Per connection it reads one
/// request head, checks it with check_docker_request and either answers 403 (JSON message,
/// Connection: close, a warning in the log) or connects to Docker, sends a head rebuilt from
/// the method, target, Host and User-Agent with `Connection: close`, and relays Docker's reply
/// to the client byte for byte as it arrives (so /events streams) until either side closes.
/// Nothing the client sends after the head reaches Docker: one request per connection.
class docker_api_proxy {
  public:
    docker_api_proxy(asio::io_context& ioc, docker_api_proxy_settings settings, int listening_fd,
                     spdlog::logger& log);
    ~docker_api_proxy();
    docker_api_proxy(const docker_api_proxy&) = delete;
    docker_api_proxy& operator=(const docker_api_proxy&) = delete;

    /// Starts accepting; `on_accept_end` runs when accepting ends (stop() or a broken socket).
    void start(std::function<void()> on_accept_end = {});
    /// Stops accepting and closes every open connection; run() then returns by itself.
    void stop();
    [[nodiscard]] std::size_t open_connections() const;

    struct state; ///< shared with the connections, which may outlive a stop()

  private:
    std::shared_ptr<state> state_;
};

/// The filter process's main loop: serves `listening_fd` until SIGTERM. Returns the exit code.
int serve_docker_api_filter(int listening_fd, const docker_api_proxy_settings& settings,
                            spdlog::logger& log);

} // namespace dockgate
