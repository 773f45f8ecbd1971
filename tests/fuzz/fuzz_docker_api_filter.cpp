// libFuzzer target: the Docker API filter's check of a raw request head, as the filter reads it.
//
// The filter process parses what the watcher (possibly hostile) sends with Beast's
// request_parser and lets through only what check_docker_request allows, so an allowed head
// must be a read-only request to one of the listed paths: GET or HEAD, an origin-form target
// with no escapes or dot segments in its path, a bounded query, no body and no upgrade.
#include "dockgate/asio.hpp"
#include "dockgate/docker/docker_api_filter.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"

namespace {

using namespace dockgate;

constexpr std::size_t header_limit = 8192; // as docker_api_proxy_settings::max_header_bytes

bool is_named(const http_header& h, std::string_view lower_name) {
    return h.name.size() == lower_name.size() &&
           std::equal(h.name.begin(), h.name.end(), lower_name.begin(), [](char a, char b) {
               return (a >= 'A' && a <= 'Z' ? static_cast<char>(a - 'A' + 'a') : a) == b;
           });
}

void check_allowed(const docker_request_head& head) {
    FUZZ_CHECK(head.method == "GET" || head.method == "HEAD");
    FUZZ_CHECK(head.target.starts_with('/'));
    const auto question = head.target.find('?');
    const auto path = head.target.substr(0, question);
    FUZZ_CHECK(path.find('%') == std::string_view::npos);
    FUZZ_CHECK(path.find("//") == std::string_view::npos);
    FUZZ_CHECK(path.find("/.") == std::string_view::npos);
    FUZZ_CHECK(head.target.find('#') == std::string_view::npos);
    FUZZ_CHECK(path.ends_with("/_ping") || path.ends_with("/version") || path.ends_with("/info") ||
               path.ends_with("/events") || path.ends_with("/json") ||
               path.find("/networks") != std::string_view::npos);
    // The longest path: "/v1.NNN/containers/<64 hex>/json".
    FUZZ_CHECK(path.size() <= 7 + 12 + 64 + 5);
    if (question != std::string_view::npos) {
        FUZZ_CHECK(head.target.size() - question - 1 <= max_docker_query_bytes);
    }
    for (const auto& h : head.headers) {
        FUZZ_CHECK(!is_named(h, "transfer-encoding") && !is_named(h, "upgrade"));
        FUZZ_CHECK(!is_named(h, "content-length") || h.value == "0");
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    http::request_parser<http::empty_body> parser;
    parser.header_limit(header_limit);
    error_code ec;
    auto remaining = asio::const_buffer(data, size);
    while (!ec && !parser.is_header_done() && remaining.size() > 0) {
        const auto used = parser.put(remaining, ec);
        if (used == 0) {
            break;
        }
        remaining += used;
    }
    if (ec || !parser.is_header_done()) {
        return 0;
    }
    const auto& req = parser.get();
    docker_request_head head{req.method_string(), req.target(), {}};
    for (const auto& field : req) {
        head.headers.push_back({field.name_string(), field.value()});
    }
    const auto verdict = check_docker_request(head);
    FUZZ_CHECK(verdict.allowed == verdict.reason.empty());
    // The same head, judged again, gets the same verdict (no hidden state).
    FUZZ_CHECK(check_docker_request(head).allowed == verdict.allowed);
    if (verdict.allowed) {
        check_allowed(head);
    }
    return 0;
}
