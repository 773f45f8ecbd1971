// The Docker API filter's allow list: request line, path grammar, query keys and body headers.
#include "dockgate/docker/docker_api_filter.hpp"

#include "dockgate/model/text.hpp"

#include <algorithm>
#include <array>
#include <span>

namespace dockgate {
namespace {

constexpr std::size_t docker_id_length = 64;

docker_api_verdict refuse(std::string reason) {
    return {false, std::move(reason)};
}

char lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                              [](char x, char y) { return lower(x) == lower(y); });
}

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
bool is_hex(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
bool is_lower_hex(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'f');
}

/// A full Docker id as Docker reports it: exactly 64 lowercase hex digits. Uppercase would
/// still find the object (Docker lower-cases), but dockgate never sends it.
bool is_full_id(std::string_view text) {
    return text.size() == docker_id_length && std::all_of(text.begin(), text.end(), is_lower_hex);
}

/// Strips "/v1.NN" (NN: 1-3 digits, no leading zero) when the path starts with one.
/// Returns false for any other "/v<digit>..." prefix, so "/v1.041/info" or "/v2.0/info" never
/// reach Docker's own, laxer, version parsing. ("/version" has no digit after the "v".)
bool strip_version(std::string_view& path) {
    if (path.size() < 3 || !path.starts_with("/v") || !is_digit(path[2])) {
        return true;
    }
    std::string_view rest = path.substr(2);
    if (!rest.starts_with("1.")) {
        return false;
    }
    rest.remove_prefix(2);
    std::size_t digits = 0;
    while (digits < rest.size() && is_digit(rest[digits])) {
        ++digits;
    }
    if (digits == 0 || digits > 3 || (digits > 1 && rest.front() == '0')) {
        return false;
    }
    path = rest.substr(digits);
    return true;
}

enum class endpoint { none, ping, version, info, events, containers, inspect, networks, network };

endpoint endpoint_of(std::string_view path) {
    static constexpr std::array<std::pair<std::string_view, endpoint>, 6> fixed{{
        {"/_ping", endpoint::ping},
        {"/version", endpoint::version},
        {"/info", endpoint::info},
        {"/events", endpoint::events},
        {"/containers/json", endpoint::containers},
        {"/networks", endpoint::networks},
    }};
    for (const auto& [text, which] : fixed) {
        if (path == text) {
            return which;
        }
    }
    constexpr std::string_view containers = "/containers/";
    constexpr std::string_view inspect_suffix = "/json";
    if (path.starts_with(containers) && path.ends_with(inspect_suffix) &&
        is_full_id(path.substr(containers.size(),
                               path.size() - containers.size() - inspect_suffix.size()))) {
        return endpoint::inspect;
    }
    constexpr std::string_view networks = "/networks/";
    if (path.starts_with(networks) && is_full_id(path.substr(networks.size()))) {
        return endpoint::network;
    }
    return endpoint::none;
}

/// The query keys dockgate sends (or might send) on each path; nothing else reaches Docker.
std::span<const std::string_view> query_keys_of(endpoint which) {
    static constexpr std::array<std::string_view, 3> events_keys{"filters", "since", "until"};
    static constexpr std::array<std::string_view, 3> containers_keys{"all", "filters", "size"};
    static constexpr std::array<std::string_view, 1> networks_keys{"filters"};
    static constexpr std::array<std::string_view, 1> inspect_keys{"size"};
    switch (which) {
    case endpoint::events:
        return events_keys;
    case endpoint::containers:
        return containers_keys;
    case endpoint::networks:
        return networks_keys;
    case endpoint::inspect:
        return inspect_keys;
    case endpoint::none:
    case endpoint::ping:
    case endpoint::version:
    case endpoint::info:
    case endpoint::network:
        break;
    }
    return {};
}

/// A query value as url_encode writes it: unreserved characters and %XX escapes only.
bool is_encoded_value(std::string_view value) {
    for (std::size_t i = 0; i < value.size(); ++i) {
        const char c = value[i];
        if (c == '%') {
            if (i + 2 >= value.size() || !is_hex(value[i + 1]) || !is_hex(value[i + 2])) {
                return false;
            }
            i += 2;
            continue;
        }
        const bool unreserved = is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                                c == '-' || c == '_' || c == '.' || c == '~';
        if (!unreserved) {
            return false;
        }
    }
    return true;
}

docker_api_verdict check_query(std::string_view query, endpoint which) {
    if (query.size() > max_docker_query_bytes) {
        return refuse("query string too long");
    }
    const auto allowed = query_keys_of(which);
    std::vector<std::string_view> seen;
    while (!query.empty()) {
        const auto end = query.find('&');
        const auto pair = query.substr(0, end);
        query = end == std::string_view::npos ? std::string_view() : query.substr(end + 1);
        const auto equals = pair.find('=');
        const auto key = pair.substr(0, equals);
        const auto value =
            equals == std::string_view::npos ? std::string_view() : pair.substr(equals + 1);
        if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
            return refuse("query parameter not allowed on this path");
        }
        if (std::find(seen.begin(), seen.end(), key) != seen.end()) {
            return refuse("query parameter repeated");
        }
        seen.push_back(key);
        if (!is_encoded_value(value)) {
            return refuse("query value not percent-encoded");
        }
    }
    return {true, {}};
}

/// No body and no protocol switch: a GET that carries either is not one dockgate sends.
docker_api_verdict check_headers(const std::vector<http_header>& headers) {
    for (const auto& [name, value] : headers) {
        if (equals_ignoring_case(name, "content-length") && trim(value) != "0") {
            return refuse("request body not allowed");
        }
        if (equals_ignoring_case(name, "transfer-encoding")) {
            return refuse("request body not allowed (Transfer-Encoding)");
        }
        if (equals_ignoring_case(name, "upgrade")) {
            return refuse("protocol upgrade not allowed");
        }
        if (equals_ignoring_case(name, "connection")) {
            std::string_view tokens = value;
            while (!tokens.empty()) {
                const auto comma = tokens.find(',');
                if (equals_ignoring_case(trim(tokens.substr(0, comma)), "upgrade")) {
                    return refuse("protocol upgrade not allowed");
                }
                tokens =
                    comma == std::string_view::npos ? std::string_view() : tokens.substr(comma + 1);
            }
        }
    }
    return {true, {}};
}

} // namespace

docker_api_verdict check_docker_request(const docker_request_head& head) {
    const bool head_method = head.method == "HEAD";
    if (head.method != "GET" && !head_method) {
        return refuse("method not allowed (read-only API: GET only)");
    }
    // Origin-form only: "*", "host:port" and "http://host/path" all fail here.
    if (!head.target.starts_with('/')) {
        return refuse("target is not origin-form");
    }
    if (head.target.find('#') != std::string_view::npos) {
        return refuse("fragment not allowed");
    }
    const auto question = head.target.find('?');
    std::string_view path = head.target.substr(0, question);
    const std::string_view query =
        question == std::string_view::npos ? std::string_view() : head.target.substr(question + 1);
    // No escapes in the path: every allowed path is plain ASCII, and "%2f" or "%2e%2e" would
    // only serve to make Docker's router see a path this check did not.
    if (path.find('%') != std::string_view::npos) {
        return refuse("percent-encoding in the path not allowed");
    }
    if (path.find("//") != std::string_view::npos || path.find("/./") != std::string_view::npos ||
        path.find("/../") != std::string_view::npos || path.ends_with("/.") ||
        path.ends_with("/..")) {
        return refuse("empty or dot path segment not allowed");
    }
    if (!strip_version(path)) {
        return refuse("API version prefix malformed");
    }
    const auto which = endpoint_of(path);
    if (which == endpoint::none) {
        return refuse("path not on the allow list");
    }
    if (head_method && which != endpoint::ping) {
        return refuse("method not allowed (HEAD only for /_ping)");
    }
    if (auto verdict = check_query(query, which); !verdict.allowed) {
        return verdict;
    }
    return check_headers(head.headers);
}

} // namespace dockgate
