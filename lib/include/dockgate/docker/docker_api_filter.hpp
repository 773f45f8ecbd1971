// Which Docker Engine API requests the watcher may make: a pure check of one request head.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace dockgate {

/// A query string longer than this is refused: dockgate's longest (/events?filters=...) is
/// a few hundred bytes, and Docker has no reason to see more.
inline constexpr std::size_t max_docker_query_bytes = 2048;

struct http_header {
    std::string_view name;
    std::string_view value;
};

/// The parts of a request head the filter judges. `headers` holds every header as received
/// (repeats included), so a second Content-Length or Upgrade cannot hide behind the first.
struct docker_request_head {
    std::string_view method;
    std::string_view target;
    std::vector<http_header> headers;
};

struct docker_api_verdict {
    bool allowed = false;
    std::string reason; ///< why it was refused: short, fixed text (never echoes the request)
};

/// Allows only the read-only requests dockgate makes, each with or without a /v1.NN prefix
/// (NN: 1-3 digits, no leading zero):
///   GET  /_ping /version /info /events /containers/json /networks
///   GET  /networks/<64 lowercase hex> /containers/<64 lowercase hex>/json
///   HEAD /_ping
/// The target must be origin-form, with no percent-encoding, dot segments or empty segments
/// in the path. Ids are full ids only (what /containers/json, /networks and the event stream
/// report): a name or a short prefix would make Docker search, and dockgate never needs it.
/// The query (at most max_docker_query_bytes) may only carry the keys dockgate sends for
/// that path (filters, since, until on /events; all, filters, size on /containers/json;
/// filters on /networks; size on an inspect), each once, with percent-encoded values.
/// A body (Content-Length other than 0, any Transfer-Encoding) and a protocol switch (Upgrade,
/// Connection: upgrade) are refused: no request may hijack the connection.
docker_api_verdict check_docker_request(const docker_request_head& head);

} // namespace dockgate
