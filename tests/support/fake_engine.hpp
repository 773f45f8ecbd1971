// An in-process fake Docker Engine on a unix socket, scriptable to produce faults on demand.
#pragma once

#include "dockgate/asio.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace dockgate::testing {

/// A container as the fake engine reports it.
struct fake_container {
    std::string id; ///< 64 hex
    std::string name;
    std::map<std::string, std::string> labels;
    std::map<std::string, std::string> ipv6_by_network;
    [[nodiscard]] nlohmann::json inspect_json() const;
    [[nodiscard]] nlohmann::json list_json() const;
};

/// Makes a 64-hex container id from a small number (readable in test output).
std::string container_id(int n);

class fake_engine {
  public:
    explicit fake_engine(asio::io_context& ioc);
    fake_engine(const fake_engine&) = delete;
    fake_engine& operator=(const fake_engine&) = delete;
    ~fake_engine();

    [[nodiscard]] const std::string& socket_path() const { return socket_path_; }

    // --- what the engine answers -------------------------------------------------------
    std::string api_version = "1.41"; ///< sent in Api-Version
    int min_api_minor = 12;           ///< older requested versions get 400 "too old"
    int ping_status = 200;
    int events_status = 200;
    int list_status = 200;
    bool events_headers_never = false; ///< accept /events but never answer
    bool ping_silent = false;          ///< accept /_ping but never answer
    bool legacy_event_fields = true;   ///< include status/id/from (removed at API 1.52)
    std::map<std::string, fake_container> containers; ///< running containers by id
    std::set<std::string> inspect_404;                ///< ids whose inspect answers 404
    /// Called with the id once an inspect reply is ready, before it is sent (after
    /// inspect_delay): lets a test change the world while dockgate waits for an answer.
    std::function<void(const std::string&)> on_inspect;
    std::chrono::milliseconds inspect_delay{0};

    // --- what the engine saw ------------------------------------------------------------
    int events_connections = 0; ///< /events requests answered with headers
    int list_calls = 0;
    int inspect_calls = 0;
    std::vector<std::string> targets; ///< every request target, in order

    // --- driving the stream -------------------------------------------------------------
    /// Sends a container or network event to every open /events stream.
    void container_event(const std::string& action, const fake_container& c);
    void network_event(const std::string& action, const std::string& network,
                       const std::string& container);
    /// Writes raw bytes to every open stream (no chunk framing added).
    void raw(const std::string& bytes);
    /// Writes `payload` as one HTTP chunk to every open stream.
    void chunk(const std::string& payload);
    /// Closes every open stream abruptly (no terminating chunk), as dockerd does on stop.
    void cut_streams();
    [[nodiscard]] std::size_t open_streams() const;
    /// Removes the socket file (the listener keeps running but nobody can connect).
    void remove_socket();
    /// Creates a fresh listener on the same path.
    void recreate_socket();

  private:
    asio::awaitable<void> accept_loop(std::shared_ptr<local_stream::acceptor> acceptor);
    asio::awaitable<void> serve(local_stream::socket socket);
    void listen();
    asio::awaitable<void> pause(std::chrono::milliseconds how_long);

    asio::io_context& ioc_;
    std::filesystem::path dir_;
    std::string socket_path_;
    std::shared_ptr<local_stream::acceptor> acceptor_;
    std::vector<std::shared_ptr<local_stream::socket>> streams_;
    std::vector<std::shared_ptr<local_stream::socket>> hanging_; ///< requests never answered
};

} // namespace dockgate::testing
