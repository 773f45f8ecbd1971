// Decoding of /events lines into the three kinds of change dockgate reacts to.
#include "dockgate/docker_event.hpp"

#include <nlohmann/json.hpp>

namespace dockgate {

const char* to_string(event_kind kind) {
    switch (kind) {
    case event_kind::container_start: return "start";
    case event_kind::container_stop: return "stop";
    case event_kind::network_change: return "network-change";
    }
    return "unknown";
}

decode_result decode_event(std::string_view line) {
    using json = nlohmann::json;
    decode_result result;
    const json message = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!message.is_object()) {
        result.status = decode_status::malformed;
        result.reason = "not a JSON object";
        return result;
    }
    const auto type = message.value("Type", std::string{});
    const auto action = message.value("Action", std::string{});
    const auto actor = message.find("Actor");
    if (type.empty() || action.empty() || actor == message.end() || !actor->is_object()) {
        result.status = decode_status::malformed;
        result.reason = "missing Type, Action or Actor";
        return result;
    }
    const auto attributes = actor->value("Attributes", json::object());
    auto attribute = [&attributes](const char* key) {
        return attributes.is_object() ? attributes.value(key, std::string{}) : std::string{};
    };
    docker_event event;
    event.time_nano = message.value("timeNano", 0LL);
    if (type == "container") {
        if (action == "start") {
            event.kind = event_kind::container_start;
        } else if (action == "die" || action == "destroy") {
            event.kind = event_kind::container_stop;
        } else {
            result.reason = "container action " + action + " needs nothing";
            return result;
        }
        event.container_id = actor->value("ID", std::string{});
        event.container_name = attribute("name");
    } else if (type == "network" && (action == "connect" || action == "disconnect")) {
        event.kind = event_kind::network_change;
        event.container_id = attribute("container");
    } else {
        result.reason = type + " " + action + " needs nothing";
        return result;
    }
    if (event.container_id.size() != 64) {
        result.status = decode_status::malformed;
        result.reason = "event without a 64-character container id";
        return result;
    }
    result.status = decode_status::relevant;
    result.event = std::move(event);
    return result;
}

} // namespace dockgate
