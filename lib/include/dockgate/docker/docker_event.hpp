// Docker /events messages reduced to what dockgate reacts to.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace dockgate {

enum class event_kind {
    container_start, ///< container started: inspect it and add its rules
    container_stop,  ///< die or destroy: its rules go
    network_change,  ///< connect/disconnect: its addresses may have changed, re-inspect
};
const char* to_string(event_kind kind);

struct docker_event {
    event_kind kind = event_kind::container_start;
    std::string container_id;
    std::string container_name; ///< may be empty (network events carry no name)
    long long time_nano = 0;
    std::string network_id; ///< for network_change: the network's id
};

enum class decode_status { relevant, ignored, malformed };

struct decode_result {
    decode_status status = decode_status::ignored;
    std::optional<docker_event> event;
    std::string reason; ///< why a line was ignored or malformed
};

/// Decodes one NDJSON line of the /events stream. Works with and without the legacy
/// `status`/`id`/`from` fields (removed at API 1.52): only Type, Action and Actor are used.
decode_result decode_event(std::string_view line);

} // namespace dockgate
