// Parsing and formatting of executor requests and responses, canonical forms only.
#include "dockgate/privsep/executor_protocol.hpp"

#include "dockgate/model/error.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <vector>

namespace dockgate {
namespace {

std::vector<std::string_view> split_spaces(std::string_view text, std::size_t max_fields) {
    std::vector<std::string_view> fields;
    while (!text.empty() && fields.size() < max_fields) {
        const auto space = text.find(' ');
        fields.push_back(text.substr(0, space));
        if (space == std::string_view::npos) {
            return fields;
        }
        text.remove_prefix(space + 1);
    }
    if (!text.empty()) {
        fields.push_back(text); // the rest (detail text) as one field
    }
    return fields;
}

bool request_charset(std::string_view text) {
    return std::all_of(text.begin(), text.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == ' ' || c == ':' || c == '.' || c == '/' || c == '_' || c == '-';
    });
}

request_parse refuse(std::string reason) {
    return {std::nullopt, std::move(reason)};
}

} // namespace

const char* to_string(write_path path) {
    switch (path) {
    case write_path::per_rule:
        return "per-rule";
    case write_path::verifying:
        return "verifying";
    case write_path::batched:
        return "batched";
    }
    return "per-rule";
}

const char* outcome_token(ufw_outcome outcome) {
    switch (outcome) {
    case ufw_outcome::added:
        return "added";
    case ufw_outcome::updated:
        return "updated";
    case ufw_outcome::recorded:
        return "recorded";
    case ufw_outcome::already_present:
        return "already_present";
    case ufw_outcome::deleted:
        return "deleted";
    case ufw_outcome::not_found:
        return "not_found";
    case ufw_outcome::error:
        return "error";
    }
    return "error";
}

std::optional<ufw_outcome> parse_outcome_token(std::string_view token) {
    static constexpr std::array all{ufw_outcome::added,    ufw_outcome::updated,
                                    ufw_outcome::recorded, ufw_outcome::already_present,
                                    ufw_outcome::deleted,  ufw_outcome::not_found,
                                    ufw_outcome::error};
    for (const auto outcome : all) {
        if (token == outcome_token(outcome)) {
            return outcome;
        }
    }
    return std::nullopt;
}

std::string version_text(std::uint64_t version) {
    std::array<char, 17> text{};
    std::snprintf(text.data(), text.size(), "%016llx", static_cast<unsigned long long>(version));
    return text.data();
}

std::optional<std::uint64_t> parse_version_text(std::string_view text) {
    std::uint64_t value = 0;
    if (text.size() != 16 || text.find_first_not_of("0123456789abcdef") != std::string_view::npos) {
        return std::nullopt;
    }
    std::from_chars(text.data(), text.data() + text.size(), value, 16);
    return value;
}

std::string format_request(const executor_request& request) {
    switch (request.kind) {
    case request_kind::list:
        return request.known_version == 0 ? "list" : "list " + version_text(request.known_version);
    case request_kind::probe:
        return "probe";
    case request_kind::batch:
        return "batch " + std::to_string(request.batch_size);
    case request_kind::kernel:
        return "kernel";
    case request_kind::host_rules:
        return std::string("hostrules ") + (request.host_rules.bridge_rules ? "1 " : "0 ") +
               (request.host_rules.egress ? "1 " : "0 ") + (request.host_rules.guard ? "1" : "0");
    case request_kind::add:
    case request_kind::remove:
        break;
    }
    const auto& r = request.target->what;
    return std::string(request.kind == request_kind::add ? "add" : "delete") + " " +
           (r.kind == rule_kind::route ? "route" : "in") + " " +
           (r.action == rule_action::limit ? "limit" : "allow") + " " + (r.log ? "log" : "nolog") +
           " " + to_string(r.proto) + " " + r.port.to_string() + " " + r.destination.to_string() +
           " " + r.source.to_string() + " " + request.target->owner.to_comment();
}

request_parse parse_request(std::string_view message) {
    if (message.size() > max_request_bytes) {
        return refuse("request longer than " + std::to_string(max_request_bytes) + " bytes");
    }
    if (!request_charset(message)) {
        return refuse("request contains a character outside [A-Za-z0-9 :./_-]");
    }
    if (message == "list") {
        return {executor_request{request_kind::list, std::nullopt}, {}};
    }
    if (message.starts_with("list ")) {
        const auto version = parse_version_text(message.substr(5));
        if (!version || *version == 0) {
            return refuse("list takes a version of 16 lowercase hex digits");
        }
        executor_request request{request_kind::list, std::nullopt};
        request.known_version = *version;
        return {request, {}};
    }
    if (message == "probe") {
        return {executor_request{request_kind::probe, std::nullopt}, {}};
    }
    if (message == "kernel") {
        return {executor_request{request_kind::kernel, std::nullopt}, {}};
    }
    if (message.starts_with("hostrules ")) {
        const auto f = split_spaces(message, 4);
        auto flag = [](std::string_view v) { return v == "1"; };
        const bool valid =
            f.size() == 4 && std::all_of(f.begin() + 1, f.end(),
                                         [](std::string_view v) { return v == "0" || v == "1"; });
        if (!valid) {
            return refuse("hostrules takes three flags, each 0 or 1");
        }
        executor_request request{request_kind::host_rules, std::nullopt};
        request.host_rules = {flag(f[1]), flag(f[2]), flag(f[3])};
        return {request, {}};
    }
    if (message.starts_with("batch ")) {
        const auto count = message.substr(6);
        std::size_t n = 0;
        const auto [end, ec] = std::from_chars(count.data(), count.data() + count.size(), n);
        if (ec != std::errc{} || end != count.data() + count.size() || n == 0 ||
            n > max_batch_ops || count != std::to_string(n)) {
            return refuse("batch size must be 1-" + std::to_string(max_batch_ops) +
                          " without leading zeros");
        }
        return {executor_request{request_kind::batch, std::nullopt, n}, {}};
    }
    const auto f = split_spaces(message, 9);
    if (f.size() != 9) {
        return refuse("expected 9 fields: op kind action log proto port dst src owner");
    }
    executor_request request;
    if (f[0] == "add") {
        request.kind = request_kind::add;
    } else if (f[0] == "delete") {
        request.kind = request_kind::remove;
    } else {
        return refuse("unknown operation");
    }
    rule r;
    if (f[1] == "route") {
        r.kind = rule_kind::route;
    } else if (f[1] == "in") {
        r.kind = rule_kind::input;
    } else {
        return refuse("rule kind must be route or in");
    }
    if (f[2] != "allow" && f[2] != "limit") {
        return refuse("action must be allow or limit");
    }
    r.action = f[2] == "limit" ? rule_action::limit : rule_action::allow;
    if (f[3] != "log" && f[3] != "nolog") {
        return refuse("log flag must be log or nolog");
    }
    r.log = f[3] == "log";
    const auto proto = parse_protocol(f[4]);
    if (!proto) {
        return refuse("protocol must be tcp or udp");
    }
    r.proto = *proto;
    const auto ports = parse_port_range(f[5]);
    if (!ports) {
        return refuse("port must be N or N:M, 1-65535, without leading zeros");
    }
    r.port = *ports;
    const auto dst = parse_prefix(f[6]);
    const auto src = parse_prefix(f[7]);
    if (!dst || !src) {
        return refuse("destination and source must be addresses or prefixes");
    }
    if (dst->v6 != src->v6) {
        return refuse("destination and source are of different address families");
    }
    if (r.kind == rule_kind::route && !dst->is_host()) {
        return refuse("a route rule's destination must be one container address");
    }
    if (r.kind == rule_kind::input && !dst->is_any()) {
        return refuse("a published-port rule's destination must be ::/0");
    }
    if (r.kind == rule_kind::route && (scope_of(*dst) == address_scope::link_local ||
                                       scope_of(*dst) == address_scope::multicast ||
                                       scope_of(*dst) == address_scope::unspecified ||
                                       scope_of(*dst) == address_scope::loopback)) {
        return refuse("destination address scope not allowed");
    }
    r.destination = *dst;
    r.source = *src;
    const auto owner = owner_tag::parse(f[8]);
    if (!owner) {
        return refuse("owner must be a dockgate tag dockgate:<12 hex>:<name>");
    }
    request.target = owned_rule{r, *owner};
    if (format_request(request) != message) {
        return refuse("request is not in canonical form");
    }
    return {request, {}};
}

std::string format_apply_response(const apply_result& result) {
    const auto ms = std::to_string(result.took.count());
    if (!result.ec) {
        return std::string("ok ") + outcome_token(result.verdict.outcome) + " " + ms;
    }
    std::string detail;
    for (const char c : result.verdict.detail.substr(0, 300)) {
        detail += (c >= 0x20 && c < 0x7f) ? c : ' ';
    }
    return "error " + std::to_string(result.ec.value()) + " " +
           outcome_token(result.verdict.outcome) + " " + ms + " " + detail;
}

std::optional<apply_result> parse_apply_response(std::string_view message) {
    const auto f = split_spaces(message, 4);
    if (f.size() < 3) {
        return std::nullopt;
    }
    apply_result result;
    auto number = [](std::string_view text, long long& out) {
        const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
        return ec == std::errc{} && ptr == text.data() + text.size();
    };
    long long ms = 0;
    if (f[0] == "ok" && f.size() == 3) {
        const auto outcome = parse_outcome_token(f[1]);
        if (!outcome || !number(f[2], ms)) {
            return std::nullopt;
        }
        result.verdict.outcome = *outcome;
    } else if (f[0] == "error" && f.size() >= 4) {
        // "error CODE OUTCOME MS DETAIL...": split_spaces leaves DETAIL whole in f[4].
        long long code = 0;
        const auto outcome = parse_outcome_token(f[2]);
        if (!number(f[1], code) || !outcome || !number(f[3], ms)) {
            return std::nullopt;
        }
        result.ec = make_error_code(static_cast<errc>(code));
        result.verdict.outcome = *outcome;
        result.verdict.detail = f.size() > 4 ? std::string(f[4]) : std::string{};
    } else {
        return std::nullopt;
    }
    result.took = std::chrono::milliseconds(ms);
    return result;
}

std::string format_probe_response(const firewall_state& state) {
    return std::string("ok probe ") + (state.ufw_found ? "1 " : "0 ") +
           (state.ipv6_enabled ? "1 " : "0 ") + (state.active ? "1 " : "0 ") +
           to_string(state.path);
}

std::optional<firewall_state> parse_probe_response(std::string_view message) {
    const auto f = split_spaces(message, 6);
    auto flag = [](std::string_view v) -> std::optional<bool> {
        if (v == "0" || v == "1") {
            return v == "1";
        }
        return std::nullopt;
    };
    if (f.size() != 6 || f[0] != "ok" || f[1] != "probe") {
        return std::nullopt;
    }
    const auto found = flag(f[2]);
    const auto ipv6 = flag(f[3]);
    const auto active = flag(f[4]);
    if (!found || !ipv6 || !active) {
        return std::nullopt;
    }
    firewall_state state{*found, *ipv6, *active, write_path::per_rule};
    for (const auto path : {write_path::per_rule, write_path::verifying, write_path::batched}) {
        if (f[5] == to_string(path)) {
            state.path = path;
            return state;
        }
    }
    return std::nullopt;
}

} // namespace dockgate
