// Async Docker Engine API client over the unix socket (Beast HTTP/1.1), plus the event stream.
#pragma once

#include "dockgate/asio.hpp"
#include "dockgate/docker/docker_setup.hpp"

#include <chrono>
#include <functional>
#include <optional>
#include <string>

namespace dockgate {

struct docker_settings {
    std::string socket_path = "/var/run/docker.sock";
    std::chrono::milliseconds request_timeout{10000};
    std::size_t max_reply_bytes = 64U << 20U; ///< bounds list/inspect replies, not the stream
};

/// Highest and lowest Engine API versions dockgate speaks; the Engine's own version caps ours.
inline constexpr int api_minor_max = 52;
inline constexpr int api_minor_min = 41;

struct docker_reply {
    error_code ec;
    unsigned status = 0;
    std::string body;
};

/// Parses "1.41" into 41 (the minor); nullopt for anything else.
std::optional<int> parse_api_version(std::string_view text);

/// Short-lived request connections; each call has its own deadline.
class docker_client {
  public:
    explicit docker_client(docker_settings settings) : settings_(std::move(settings)) {}

    /// GET /_ping; on success sets the negotiated version: min(ours, the Engine's).
    asio::awaitable<error_code> ping();
    /// GET /v1.NN{target}; 404 becomes errc::docker_not_found, other >= 400 docker_http_error.
    asio::awaitable<docker_reply> get(std::string target);

    [[nodiscard]] std::string versioned(const std::string& target) const;
    [[nodiscard]] int api_minor() const { return api_minor_; }
    [[nodiscard]] const docker_settings& settings() const { return settings_; }

  private:
    docker_settings settings_;
    int api_minor_ = api_minor_min;
};

/// The long-lived /events connection. Body bytes go to the callback as they arrive, with
/// no size limit; the read has no deadline (a quiet stream is normal) and ends when Docker
/// closes the stream or close() is called.
class event_stream {
  public:
    using data_handler = std::function<void(std::string_view)>;

    explicit event_stream(asio::any_io_executor executor) : stream_(std::move(executor)) {}

    /// Connects, sends the request and waits (bounded) for the response headers.
    asio::awaitable<error_code> open(const docker_settings& settings, std::string target);
    /// Reads until the stream ends; returns errc::events_stream_ended or the I/O error.
    asio::awaitable<error_code> read(data_handler on_data);
    /// Cancels a pending open/read (used for shutdown and failed health checks).
    void close();

  private:
    using unix_stream =
        beast::basic_stream<local_stream, asio::any_io_executor, beast::unlimited_rate_policy>;
    using chunk_callback = std::function<std::size_t(std::uint64_t, std::string_view, error_code&)>;

    unix_stream stream_;
    beast::flat_buffer buffer_;
    std::optional<http::response_parser<http::empty_body>> parser_;
    chunk_callback on_chunk_;
};

/// The Engine and its bridge networks, as GET /version, /info and /networks describe them.
struct docker_setup_reading {
    engine_facts engine;
    std::vector<network_facts> networks;
    std::vector<std::string> warnings;
};

/// Reads /version, /info (optional: only the firewall backend comes from it) and /networks;
/// nullopt with `why` when /version or /networks cannot be read or decoded.
asio::awaitable<std::optional<docker_setup_reading>> read_docker_setup(docker_client& docker,
                                                                       std::string* why);

/// Percent-encodes a query value (for the JSON `filters` argument).
std::string url_encode(std::string_view text);

} // namespace dockgate
