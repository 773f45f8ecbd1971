// Decoding of /events lines into the three kinds of change dockgate reacts to.
#include "dockgate/docker/docker_event.hpp"

#include <nlohmann/json.hpp>

namespace dockgate {

const char* to_string(event_kind kind) {
    switch (kind) {
    case event_kind::container_start:
        return "start";
    case event_kind::container_stop:
        return "stop";
    case event_kind::network_change:
        return "network-change";
    }
    return "unknown";
}

namespace {

using json = nlohmann::json;

/// The string at `key` ("" when absent); nullopt when the key holds another JSON type, which
/// json::value() would throw on.
std::optional<std::string> string_field(const json& object, const char* key) {
    const auto it = object.find(key);
    if (it == object.end()) {
        return std::string{};
    }
    if (!it->is_string()) {
        return std::nullopt;
    }
    return it->get<std::string>();
}

decode_result malformed(std::string reason) {
    return {decode_status::malformed, std::nullopt, std::move(reason)};
}

} // namespace

decode_result decode_event(std::string_view line) {
    decode_result result;
    const json message = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!message.is_object()) {
        return malformed("not a JSON object");
    }
    const auto type = string_field(message, "Type");
    const auto action = string_field(message, "Action");
    if (!type || !action) {
        return malformed(!type ? "\"Type\" is not a string" : "\"Action\" is not a string");
    }
    const auto actor = message.find("Actor");
    if (type->empty() || action->empty() || actor == message.end() || !actor->is_object()) {
        return malformed("missing Type, Action or Actor");
    }
    static const json no_attributes = json::object();
    const auto found_attributes = actor->find("Attributes");
    const json& attributes = (found_attributes != actor->end() && found_attributes->is_object())
                                 ? *found_attributes
                                 : no_attributes;
    docker_event event;
    if (const auto time = message.find("timeNano"); time != message.end()) {
        if (!time->is_number_integer()) {
            return malformed("\"timeNano\" is not an integer");
        }
        event.time_nano = time->get<long long>();
    }
    if (*type == "container") {
        if (*action == "start") {
            event.kind = event_kind::container_start;
        } else if (*action == "die" || *action == "destroy") {
            event.kind = event_kind::container_stop;
        } else {
            result.reason = "container action " + *action + " needs nothing";
            return result;
        }
        const auto id = string_field(*actor, "ID");
        const auto name = string_field(attributes, "name");
        if (!id || !name) {
            return malformed(!id ? "\"Actor.ID\" is not a string"
                                 : "\"Actor.Attributes.name\" is not a string");
        }
        event.container_id = *id;
        event.container_name = *name;
    } else if (*type == "network" && (*action == "connect" || *action == "disconnect")) {
        event.kind = event_kind::network_change;
        const auto container = string_field(attributes, "container");
        if (!container) {
            return malformed("\"Actor.Attributes.container\" is not a string");
        }
        event.container_id = *container;
        event.network_id = string_field(*actor, "ID").value_or("");
    } else {
        result.reason = *type + " " + *action + " needs nothing";
        return result;
    }
    // The id goes into a request path: only Docker's own form, 64 lowercase hex digits.
    if (event.container_id.size() != 64 ||
        event.container_id.find_first_not_of("0123456789abcdef") != std::string::npos) {
        result.status = decode_status::malformed;
        result.reason = "event without a container id of 64 lowercase hex digits";
        return result;
    }
    result.status = decode_status::relevant;
    result.event = std::move(event);
    return result;
}

} // namespace dockgate
