// Decoding of Docker's container list and inspect replies.
#include "dockgate/model/container.hpp"

#include "dockgate/model/text.hpp"

#include <nlohmann/json.hpp>

#include <charconv>

namespace dockgate {
namespace {

using json = nlohmann::json;

std::string string_at(const json& object, const char* key) {
    const auto it = object.find(key);
    return (it != object.end() && it->is_string()) ? it->get<std::string>() : std::string{};
}

std::map<std::string, std::string> decode_labels(const json& labels) {
    std::map<std::string, std::string> out;
    if (labels.is_object()) {
        for (const auto& [key, value] : labels.items()) {
            if (value.is_string()) {
                out.emplace(key, value.get<std::string>());
            }
        }
    }
    return out;
}

std::vector<network_attachment> decode_networks(const json& settings) {
    std::vector<network_attachment> out;
    if (!settings.is_object()) {
        return out;
    }
    const auto networks = settings.find("Networks");
    if (networks == settings.end() || !networks->is_object()) {
        return out;
    }
    for (const auto& [name, endpoint] : networks->items()) {
        if (!endpoint.is_object()) {
            continue;
        }
        // Cut without a mark: the name is matched against fw.networks and the policy.
        out.push_back({printable(name, cut_mark::none), string_at(endpoint, "GlobalIPv6Address"),
                       string_at(endpoint, "IPAddress")});
    }
    return out;
}

std::uint16_t port_number(const json& value) {
    if (value.is_number_unsigned() && value.get<unsigned long>() <= 65535) {
        return static_cast<std::uint16_t>(value.get<unsigned long>());
    }
    if (value.is_string()) {
        const auto text = value.get<std::string>();
        unsigned number = 0;
        const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
        if (ec == std::errc{} && ptr == text.data() + text.size() && number <= 65535) {
            return static_cast<std::uint16_t>(number);
        }
    }
    return 0;
}

/// 127.0.0.0/8 or ::1 (a binding that only this host can reach).
bool loopback_host_ip(const json& ip) {
    if (!ip.is_string()) {
        return false;
    }
    const auto text = ip.get<std::string>();
    return text == "::1" || text.starts_with("127.");
}

void add_binding(std::vector<port_binding>& out, port_binding binding) {
    if (binding.container_port == 0 || binding.host_port == 0) {
        return;
    }
    for (auto& existing : out) {
        if (existing.container_port == binding.container_port && existing.proto == binding.proto &&
            existing.host_port == binding.host_port) {
            // Docker lists one binding per host IP (0.0.0.0 and ::): one is enough, reachable
            // from outside if any of them is.
            existing.loopback_only = existing.loopback_only && binding.loopback_only;
            return;
        }
    }
    out.push_back(std::move(binding));
}

bool has_valid_id(const container_info& info, std::string* why) {
    if (info.id.size() != 64) {
        *why = "container id missing or not 64 characters";
        return false;
    }
    return true;
}

} // namespace

std::optional<container_info> decode_inspect(const json& reply, std::string* why) {
    if (!reply.is_object()) {
        *why = "inspect reply is not a JSON object";
        return std::nullopt;
    }
    container_info info;
    info.id = string_at(reply, "Id");
    if (!has_valid_id(info, why)) {
        return std::nullopt;
    }
    info.name = string_at(reply, "Name");
    if (info.name.starts_with('/')) {
        info.name.erase(0, 1);
    }
    // As it may appear in logs, status and the terminal; Docker's own names never need this.
    info.name = printable(info.name, cut_mark::none);
    const auto state = reply.find("State");
    if (state != reply.end() && state->is_object()) {
        const auto running = state->find("Running");
        info.running = running != state->end() && running->is_boolean() && running->get<bool>();
    }
    if (const auto config = reply.find("Config"); config != reply.end() && config->is_object()) {
        if (const auto labels = config->find("Labels"); labels != config->end()) {
            info.labels = decode_labels(*labels);
        }
    }
    if (const auto settings = reply.find("NetworkSettings"); settings != reply.end()) {
        info.networks = decode_networks(*settings);
        if (settings->is_object()) {
            const auto ports = settings->find("Ports");
            if (ports != settings->end() && ports->is_object()) {
                for (const auto& [key, bindings] : ports->items()) {
                    const auto slash = key.find('/');
                    port_binding base{port_number(json(key.substr(0, slash))),
                                      slash == std::string::npos ? "tcp" : key.substr(slash + 1),
                                      0};
                    if (!bindings.is_array()) {
                        continue;
                    }
                    for (const auto& b : bindings) {
                        if (b.is_object()) {
                            auto binding = base;
                            binding.host_port = port_number(b.value("HostPort", json()));
                            binding.loopback_only = loopback_host_ip(b.value("HostIp", json()));
                            add_binding(info.published, binding);
                        }
                    }
                }
            }
        }
    }
    return info;
}

std::optional<container_info> decode_list_item(const json& item, std::string* why) {
    if (!item.is_object()) {
        *why = "list entry is not a JSON object";
        return std::nullopt;
    }
    container_info info;
    info.id = string_at(item, "Id");
    if (!has_valid_id(info, why)) {
        return std::nullopt;
    }
    if (const auto names = item.find("Names");
        names != item.end() && names->is_array() && !names->empty() && names->front().is_string()) {
        info.name = names->front().get<std::string>();
        if (info.name.starts_with('/')) {
            info.name.erase(0, 1);
        }
        info.name = printable(info.name, cut_mark::none);
    }
    info.running = string_at(item, "State") == "running";
    if (const auto labels = item.find("Labels"); labels != item.end()) {
        info.labels = decode_labels(*labels);
    }
    if (const auto settings = item.find("NetworkSettings"); settings != item.end()) {
        info.networks = decode_networks(*settings);
    }
    if (const auto ports = item.find("Ports"); ports != item.end() && ports->is_array()) {
        for (const auto& p : *ports) {
            const auto type = p.is_object() ? p.find("Type") : p.end();
            if (p.is_object() && (type == p.end() || type->is_string())) {
                add_binding(info.published,
                            {port_number(p.value("PrivatePort", json())),
                             type == p.end() ? std::string("tcp") : type->get<std::string>(),
                             port_number(p.value("PublicPort", json())),
                             loopback_host_ip(p.value("IP", json()))});
            }
        }
    }
    return info;
}

} // namespace dockgate
