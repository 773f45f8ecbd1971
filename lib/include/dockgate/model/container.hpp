// What dockgate knows about a container, decoded from the Docker Engine's JSON replies.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace dockgate {

struct network_attachment {
    std::string network;     ///< network name as Docker shows it
    std::string global_ipv6; ///< GlobalIPv6Address, empty when none
    std::string ipv4;        ///< IPAddress, empty when none
    friend bool operator==(const network_attachment&, const network_attachment&) = default;
};

struct port_binding {
    std::uint16_t container_port = 0;
    std::string proto; ///< "tcp", "udp" or "sctp" as Docker reports it
    std::uint16_t host_port = 0;
    /// Published only on 127.0.0.1 and/or ::1: reachable from this host alone.
    bool loopback_only = false;
    friend bool operator==(const port_binding&, const port_binding&) = default;
};

struct container_info {
    std::string id;   ///< full 64-hex id
    std::string name; ///< without the leading '/'
    bool running = false;
    std::map<std::string, std::string> labels;
    std::vector<network_attachment> networks;
    std::vector<port_binding> published;
    friend bool operator==(const container_info&, const container_info&) = default;
};

/// Decodes GET /containers/{id}/json. Returns nullopt and sets `why` on a reply that lacks
/// the fields dockgate needs (a malformed reply never becomes an empty container).
std::optional<container_info> decode_inspect(const nlohmann::json& reply, std::string* why);

/// Decodes one element of GET /containers/json.
std::optional<container_info> decode_list_item(const nlohmann::json& item, std::string* why);

} // namespace dockgate
