// Policy parsing and validation, with file and line in every error.
#include "dockgate/policy/policy.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>

namespace dockgate {

std::string port_spec::to_string() const {
    std::string out = std::to_string(ports.first);
    if (ports.last != ports.first) {
        out += "-" + std::to_string(ports.last);
    }
    return out + "/" + dockgate::to_string(proto);
}

std::optional<port_spec> parse_port_spec(std::string_view text, std::string* why) {
    port_spec spec;
    if (const auto slash = text.find('/'); slash != std::string_view::npos) {
        const auto proto = parse_protocol(text.substr(slash + 1));
        if (!proto) {
            *why = "protocol must be tcp or udp";
            return std::nullopt;
        }
        spec.proto = *proto;
        text = text.substr(0, slash);
    }
    const auto dash = text.find('-');
    const auto first = parse_port(text.substr(0, dash), why);
    if (!first) {
        return std::nullopt;
    }
    spec.ports = {*first, *first};
    if (dash != std::string_view::npos) {
        const auto last = parse_port(text.substr(dash + 1), why);
        if (!last) {
            return std::nullopt;
        }
        if (*last <= *first) {
            *why = "range end must be above its start";
            return std::nullopt;
        }
        spec.ports.last = *last;
    }
    return spec;
}

policy builtin_policy() {
    policy pol;
    auto tcp = [](std::uint16_t p) { return port_spec{{p, p}, protocol::tcp}; };
    auto udp = [](std::uint16_t p) { return port_spec{{p, p}, protocol::udp}; };
    pol.services = {
        {"http", {tcp(80)}},    {"https", {tcp(443), udp(443)}},
        {"ssh", {tcp(22)}},     {"dns", {tcp(53), udp(53)}},
        {"smtp", {tcp(25)}},    {"submission", {tcp(587)}},
        {"imaps", {tcp(993)}},  {"postgresql", {tcp(5432)}},
        {"mysql", {tcp(3306)}}, {"redis", {tcp(6379)}},
        {"mqtt", {tcp(1883)}},  {"ntp", {udp(123)}},
    };
    // 2000::/3 is all of global unicast: link-local, unique-local and multicast never qualify.
    pol.prefixes = {*parse_prefix("2000::/3")};
    pol.sources = {*parse_prefix("::/0")};
    return pol;
}

std::string policy_error::to_string() const {
    std::string out = file;
    if (line > 0) {
        out += ":" + std::to_string(line);
    }
    return out + ": " + reason;
}

namespace {

using json = nlohmann::json;

/// Thrown inside the parser only; turned into policy_error at its boundary.
struct invalid_policy {
    std::string key; ///< the offending key (or value), used to find its line
    std::string reason;
    std::vector<std::string> path =
        {}; ///< enclosing keys ("profiles", name), searched in order first
};

int line_of_offset(std::string_view text, std::size_t offset) {
    offset = std::min(offset, text.size());
    return 1 + static_cast<int>(std::count(
                   text.begin(), text.begin() + static_cast<std::ptrdiff_t>(offset), '\n'));
}

/// Line of the `use`-th occurrence of "key" followed by a colon (a key, not a value).
int line_of_key_use(std::string_view text, const std::string& key, int use) {
    const std::string quoted = "\"" + key + "\"";
    std::size_t at = 0;
    for (int seen = 0; (at = text.find(quoted, at)) != std::string_view::npos;
         at += quoted.size()) {
        const auto next = text.find_first_not_of(" \t\r\n", at + quoted.size());
        if (next != std::string_view::npos && text[next] == ':' && ++seen == use) {
            return line_of_offset(text, at);
        }
    }
    return 0;
}

int line_of_key(std::string_view text, const std::string& key,
                const std::vector<std::string>& path) {
    if (key.empty()) {
        return 0;
    }
    // "ports" of the second profile is not the "ports" of the first: look inside its parents.
    std::size_t from = 0;
    for (const auto& parent : path) {
        if (const auto at = text.find("\"" + parent + "\"", from); at != std::string_view::npos) {
            from = at + 1;
        }
    }
    auto at = text.find("\"" + key + "\"", from);
    if (at == std::string_view::npos) {
        at = text.find("\"" + key + "\"");
    }
    return at == std::string_view::npos ? 0 : line_of_offset(text, at);
}

/// Strips "//" comment lines so the shipped example can explain itself; JSON has no comments.
std::string strip_comment_lines(std::string_view text) {
    std::string out;
    std::istringstream in{std::string(text)};
    for (std::string line; std::getline(in, line);) {
        const auto first = line.find_first_not_of(" \t");
        if (first != std::string::npos && line.compare(first, 2, "//") == 0) {
            line.clear(); // keep the line so line numbers stay right
        }
        out += line;
        out += '\n';
    }
    return out;
}

const json& require(const json& value, json::value_t type, const std::string& key,
                    const char* what) {
    if (value.type() != type) {
        throw invalid_policy{key, std::string("\"") + key + "\" must be " + what};
    }
    return value;
}

std::vector<std::string> string_list(const json& value, const std::string& key) {
    require(value, json::value_t::array, key, "a list of strings");
    std::vector<std::string> out;
    for (const auto& item : value) {
        if (!item.is_string()) {
            throw invalid_policy{key, "\"" + key + "\" must contain only strings"};
        }
        out.push_back(item.get<std::string>());
    }
    return out;
}

std::vector<port_spec> port_list(const json& value, const std::string& key) {
    std::vector<port_spec> out;
    for (const auto& text : string_list(value, key)) {
        std::string why;
        const auto spec = parse_port_spec(text, &why);
        if (!spec) {
            // Point at the offending value's line, not the key's.
            throw invalid_policy{text, "\"" + key + "\": \"" + text + "\": " + why};
        }
        out.push_back(*spec);
    }
    return out;
}

std::vector<ip_prefix> prefix_list(const json& value, const std::string& key) {
    std::vector<ip_prefix> out;
    for (const auto& text : string_list(value, key)) {
        std::string why;
        const auto prefix = parse_prefix(text == "any" ? "::/0" : text, &why);
        if (!prefix) {
            throw invalid_policy{text, "\"" + key + "\": \"" + text + "\": " + why};
        }
        out.push_back(*prefix);
    }
    return out;
}

bool boolean(const json& value, const std::string& key) {
    return require(value, json::value_t::boolean, key, "true or false").get<bool>();
}

bool valid_name(const std::string& name) {
    return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    });
}

profile parse_profile(const std::string& name, const json& value) {
    require(value, json::value_t::object, name, "an object");
    profile prof;
    for (const auto& [key, item] : value.items())
        try {
            if (key == "ports") {
                prof.ports = port_list(item, key);
            } else if (key == "from") {
                prof.sources = prefix_list(item, key);
            } else if (key == "limit") {
                prof.limit = boolean(item, key);
            } else if (key == "log") {
                prof.log = boolean(item, key);
            } else {
                throw invalid_policy{key,
                                     "unknown key \"" + key + "\" in profile \"" + name + "\""};
            }
        } catch (invalid_policy& e) {
            e.path.insert(e.path.begin(), name);
            throw;
        }
    if (prof.ports.empty()) {
        throw invalid_policy{name, "profile \"" + name + "\" opens no ports"};
    }
    return prof;
}

void apply_key(policy& pol, const std::string& key, const json& value) {
    if (key == "label_prefix") {
        const auto prefix =
            require(value, json::value_t::string, key, "a string").get<std::string>();
        if (prefix.empty() || prefix.size() > 32 || prefix.find('=') != std::string::npos) {
            throw invalid_policy{key, "\"label_prefix\" must be 1-32 characters without '='"};
        }
        pol.label_prefix = prefix;
    } else if (key == "services") {
        require(value, json::value_t::object, key, "an object of name: [ports]");
        for (const auto& [name, ports] : value.items()) {
            if (!valid_name(name)) {
                throw invalid_policy{name, "service name \"" + name + "\" must be [a-z0-9_-]"};
            }
            pol.services[name] = port_list(ports, name);
        }
    } else if (key == "profiles") {
        require(value, json::value_t::object, key, "an object of name: {profile}");
        for (const auto& [name, body] : value.items()) {
            if (!valid_name(name)) {
                throw invalid_policy{name, "profile name \"" + name + "\" must be [a-z0-9_-]"};
            }
            pol.profiles[name] = parse_profile(name, body);
        }
    } else if (key == "mode") {
        const auto mode = require(value, json::value_t::string, key, "a string").get<std::string>();
        if (mode != "open" && mode != "strict") {
            throw invalid_policy{key, "\"mode\" must be \"open\" or \"strict\""};
        }
        pol.mode = mode == "strict" ? label_mode::strict : label_mode::open;
    } else if (key == "allowed_ports") {
        pol.allowed_ports = port_list(value, key);
    } else if (key == "denied_ports") {
        pol.denied_ports = port_list(value, key);
    } else if (key == "networks") {
        pol.networks = string_list(value, key);
    } else if (key == "prefixes") {
        pol.prefixes = prefix_list(value, key);
        for (const auto& prefix : pol.prefixes) {
            const auto scope = scope_of(prefix);
            if (prefix.v6 && scope == address_scope::link_local) {
                throw invalid_policy{key, "\"prefixes\" may not include link-local addresses"};
            }
        }
    } else if (key == "sources") {
        pol.sources = prefix_list(value, key);
    } else if (key == "max_rules_per_container") {
        if (!value.is_number_unsigned() || value.get<unsigned long>() == 0 ||
            value.get<unsigned long>() > 10000) {
            throw invalid_policy{key, "\"max_rules_per_container\" must be 1-10000"};
        }
        pol.max_rules_per_container = value.get<std::size_t>();
    } else if (key == "max_label_bytes" || key == "max_label_items") {
        const auto limit = key == "max_label_bytes" ? 65536UL : 1024UL;
        if (!value.is_number_unsigned() || value.get<unsigned long>() == 0 ||
            value.get<unsigned long>() > limit) {
            throw invalid_policy{key, "\"" + key + "\" must be 1-" + std::to_string(limit)};
        }
        (key == "max_label_bytes" ? pol.max_label_bytes : pol.max_label_items) =
            value.get<std::size_t>();
    } else if (key == "max_rules_total") {
        if (!value.is_number_unsigned() || value.get<unsigned long>() == 0 ||
            value.get<unsigned long>() > 1000000) {
            throw invalid_policy{key, "\"max_rules_total\" must be 1-1000000"};
        }
        pol.max_rules_total = value.get<std::size_t>();
    } else if (key == "allow_publish") {
        pol.allow_publish = boolean(value, key);
    } else if (key == "manage_ipv4") {
        pol.manage_ipv4 = boolean(value, key);
    } else if (key == "egress") {
        pol.egress = boolean(value, key);
    } else if (key == "docker_user_guard") {
        const auto mode = require(value, json::value_t::string, key, "a string").get<std::string>();
        if (mode != "auto" && mode != "off") {
            throw invalid_policy{key, "\"docker_user_guard\" must be \"auto\" or \"off\""};
        }
        pol.docker_user_guard = mode == "auto";
    } else {
        throw invalid_policy{key, "unknown key \"" + key + "\""};
    }
}

} // namespace

std::optional<policy> parse_policy(std::string_view raw_text, const std::string& file_name,
                                   policy_error* error) {
    const std::string text = strip_comment_lines(raw_text);
    try {
        // JSON lets a key appear twice and the later one win: {"prefixes":[…],"prefixes":["::/0"]}
        // would pass review and open everything. A key given twice is an error at its line.
        std::vector<std::set<std::string>> open_objects;
        std::map<std::string, int> key_uses;
        std::optional<std::pair<std::string, int>> duplicate;
        const json::parser_callback_t no_duplicates = [&](int /*depth*/, json::parse_event_t event,
                                                          json& parsed) {
            if (event == json::parse_event_t::object_start) {
                open_objects.emplace_back();
            } else if (event == json::parse_event_t::object_end && !open_objects.empty()) {
                open_objects.pop_back();
            } else if (event == json::parse_event_t::key && !open_objects.empty()) {
                const auto key = parsed.get<std::string>();
                const int use = ++key_uses[key];
                if (!open_objects.back().insert(key).second && !duplicate) {
                    duplicate = {key, use};
                }
            }
            return true;
        };
        const json document = json::parse(text, no_duplicates);
        if (duplicate) {
            *error = {file_name, line_of_key_use(text, duplicate->first, duplicate->second),
                      "\"" + duplicate->first + "\" is given twice in one object"};
            return std::nullopt;
        }
        if (!document.is_object()) {
            *error = {file_name, 1, "the policy must be a JSON object"};
            return std::nullopt;
        }
        policy pol = builtin_policy();
        for (const auto& [key, value] : document.items()) {
            try {
                apply_key(pol, key, value);
            } catch (invalid_policy& e) {
                if (e.key != key) {
                    e.path.insert(e.path.begin(), key); // the offender lies inside this key
                }
                throw;
            }
        }
        if (pol.prefixes.empty()) {
            throw invalid_policy{"prefixes", "\"prefixes\" is empty: no container would qualify"};
        }
        for (const auto& [name, body] : pol.profiles) {
            if (pol.services.contains(name)) {
                throw invalid_policy{
                    name, "\"" + name + "\" is both a service and a profile", {"profiles"}};
            }
        }
        return pol;
    } catch (const json::parse_error& e) {
        *error = {file_name, line_of_offset(text, e.byte == 0 ? 0 : e.byte - 1),
                  std::string("not valid JSON: ") + e.what()};
    } catch (const json::exception& e) {
        // parse() also throws out_of_range for a number beyond a double ("1e400").
        *error = {file_name, 0, std::string("not valid JSON: ") + e.what()};
    } catch (const invalid_policy& e) {
        *error = {file_name, line_of_key(text, e.key, e.path), e.reason};
    }
    return std::nullopt;
}

std::optional<policy> load_policy_file(const std::string& path, policy_error* error,
                                       bool* used_builtin) {
    std::ifstream in(path);
    if (!in) {
        if (errno == ENOENT) {
            if (used_builtin != nullptr) {
                *used_builtin = true;
            }
            return builtin_policy();
        }
        *error = {path, 0, std::string("cannot read: ") + std::strerror(errno)};
        return std::nullopt;
    }
    if (used_builtin != nullptr) {
        *used_builtin = false;
    }
    std::ostringstream text;
    text << in.rdbuf();
    return parse_policy(text.str(), path, error);
}

} // namespace dockgate
