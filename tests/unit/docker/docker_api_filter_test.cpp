// The Docker API filter's allow list: every request dockgate makes passes, anything else is
// refused.
#include "dockgate/docker/docker_api_filter.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace dockgate {
namespace {

const std::string id(64, 'a');
const std::string hex_id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
// What controller.cpp sends: url_encode of {"type":["container","network"],...}.
const std::string events_query = "filters=%7B%22type%22%3A%5B%22container%22%2C%22network%22%5D%7D";

struct request_case {
    const char* name;
    std::string method;
    std::string target;
    std::vector<std::pair<std::string, std::string>> headers;
    const char* reason_part = ""; ///< for refusals: part of the reason
};

docker_api_verdict check(const request_case& c) {
    docker_request_head head{c.method, c.target, {}};
    for (const auto& [name, value] : c.headers) {
        head.headers.push_back({name, value});
    }
    return check_docker_request(head);
}

std::string case_name(const ::testing::TestParamInfo<request_case>& info) {
    return info.param.name;
}

class docker_api_filter_allows : public ::testing::TestWithParam<request_case> {};

TEST_P(docker_api_filter_allows, the_requests_dockgate_makes) {
    const auto verdict = check(GetParam());
    EXPECT_TRUE(verdict.allowed) << GetParam().method << ' ' << GetParam().target << ": "
                                 << verdict.reason;
}

const std::vector<std::pair<std::string, std::string>> client_headers{
    {"Host", "docker"}, {"User-Agent", "dockgate/0.1.0"}, {"Connection", "close"}};

INSTANTIATE_TEST_SUITE_P(
    docker_api_filter, docker_api_filter_allows,
    ::testing::Values(
        request_case{"ping", "GET", "/_ping", client_headers},
        request_case{"ping_head", "HEAD", "/_ping", {}},
        request_case{"ping_versioned", "GET", "/v1.41/_ping", {}},
        request_case{"version", "GET", "/version", {}},
        request_case{"version_versioned", "GET", "/v1.52/version", client_headers},
        request_case{"info", "GET", "/v1.41/info", {}},
        request_case{"info_plain", "GET", "/info", {}},
        request_case{"networks", "GET", "/v1.44/networks", {}},
        request_case{"networks_plain", "GET", "/networks", {}},
        request_case{"networks_filtered", "GET", "/networks?filters=%7B%7D", {}},
        request_case{"network_by_id", "GET", "/v1.44/networks/" + hex_id, {}},
        request_case{"events",
                     "GET",
                     "/v1.41/events?" + events_query,
                     {{"Host", "docker"}, {"User-Agent", "dockgate/0.1.0"}}},
        request_case{"events_plain", "GET", "/events", {}},
        request_case{
            "events_since_until", "GET", "/events?since=1700000000&until=1700000100.5", {}},
        request_case{"containers", "GET", "/v1.41/containers/json", client_headers},
        request_case{"containers_all", "GET", "/containers/json?all=1&size=0&filters=%7B%7D", {}},
        // What the watcher sends when the list is over its size limit (controller.cpp).
        request_case{"containers_by_id_prefix",
                     "GET",
                     "/v1.41/containers/json?filters=%7B%22id%22%3A%5B%22%5Eab%22%5D%7D",
                     {}},
        request_case{"inspect", "GET", "/v1.41/containers/" + hex_id + "/json", client_headers},
        request_case{"inspect_plain", "GET", "/containers/" + id + "/json", {}},
        request_case{"inspect_size", "GET", "/containers/" + id + "/json?size=false", {}},
        request_case{"one_digit_minor", "GET", "/v1.9/version", {}},
        request_case{"three_digit_minor", "GET", "/v1.100/version", {}},
        request_case{"empty_query", "GET", "/containers/json?", {}},
        request_case{"content_length_zero", "GET", "/_ping", {{"Content-Length", "0"}}},
        request_case{"connection_keep_alive", "GET", "/_ping", {{"Connection", "keep-alive"}}}),
    case_name);

class docker_api_filter_refuses : public ::testing::TestWithParam<request_case> {};

TEST_P(docker_api_filter_refuses, with_a_reason) {
    const auto& c = GetParam();
    const auto verdict = check(c);
    EXPECT_FALSE(verdict.allowed) << c.method << ' ' << c.target;
    EXPECT_FALSE(verdict.reason.empty());
    EXPECT_NE(verdict.reason.find(c.reason_part), std::string::npos) << verdict.reason;
}

INSTANTIATE_TEST_SUITE_P(
    docker_api_filter, docker_api_filter_refuses,
    ::testing::Values(
        // What an attacker in the watcher wants: a privileged container with / bound.
        request_case{"create", "POST", "/containers/create", {{"Content-Length", "120"}}, "method"},
        request_case{"create_versioned", "POST", "/v1.41/containers/create", {}, "method"},
        request_case{"create_as_get", "GET", "/v1.41/containers/create", {}, "allow list"},
        request_case{"exec", "POST", "/containers/" + id + "/exec", {}, "method"},
        request_case{"exec_as_get", "GET", "/containers/" + id + "/exec", {}, "allow list"},
        request_case{"exec_start", "POST", "/exec/" + id + "/start", {}, "method"},
        request_case{"exec_inspect", "GET", "/exec/" + id + "/json", {}, "allow list"},
        request_case{"logs", "GET", "/containers/" + id + "/logs?stdout=1", {}, "allow list"},
        request_case{
            "archive", "GET", "/containers/" + id + "/archive?path=/etc/shadow", {}, "allow list"},
        request_case{"archive_put", "PUT", "/containers/" + id + "/archive?path=/", {}, "method"},
        request_case{"attach", "POST", "/containers/" + id + "/attach?stream=1", {}, "method"},
        request_case{"export", "GET", "/containers/" + id + "/export", {}, "allow list"},
        request_case{"images", "GET", "/images/json", {}, "allow list"},
        request_case{"image_pull", "POST", "/images/create?fromImage=x", {}, "method"},
        request_case{"session", "POST", "/session", {{"Upgrade", "h2c"}}, "method"},
        request_case{"session_get", "GET", "/session", {}, "allow list"},
        request_case{"grpc", "POST", "/grpc", {}, "method"},
        request_case{"swarm", "GET", "/swarm", {}, "allow list"},
        request_case{"secrets", "GET", "/secrets", {}, "allow list"},
        request_case{"plugins", "GET", "/plugins", {}, "allow list"},
        request_case{"delete", "DELETE", "/containers/" + id, {}, "method"},
        request_case{"lowercase_method", "get", "/_ping", {}, "method"},
        request_case{"head_not_ping", "HEAD", "/info", {}, "HEAD"},
        request_case{"options", "OPTIONS", "/_ping", {}, "method"},
        // Bodies and protocol switches.
        request_case{"get_with_body", "GET", "/containers/json", {{"Content-Length", "2"}}, "body"},
        request_case{"second_content_length",
                     "GET",
                     "/_ping",
                     {{"Content-Length", "0"}, {"Content-Length", "5"}},
                     "body"},
        request_case{"chunked", "GET", "/_ping", {{"Transfer-Encoding", "chunked"}}, "body"},
        request_case{
            "transfer_encoding_case", "GET", "/_ping", {{"transfer-ENCODING", "identity"}}, "body"},
        request_case{"upgrade_tcp", "GET", "/_ping", {{"Upgrade", "tcp"}}, "upgrade"},
        request_case{"connection_upgrade",
                     "GET",
                     "/_ping",
                     {{"Connection", "keep-alive, Upgrade"}},
                     "upgrade"},
        // Targets that are not origin-form, or that smuggle a different path.
        request_case{"absolute_form", "GET", "http://docker/v1.41/info", {}, "origin-form"},
        request_case{"authority_form", "GET", "docker:2375", {}, "origin-form"},
        request_case{"asterisk", "GET", "*", {}, "origin-form"},
        request_case{"empty_target", "GET", "", {}, "origin-form"},
        request_case{"encoded_slash", "GET", "/containers/..%2fcreate", {}, "percent"},
        request_case{
            "encoded_id", "GET", "/containers/%61" + id.substr(1) + "/json", {}, "percent"},
        request_case{"traversal", "GET", "/containers/" + id + "/../../info", {}, "dot"},
        request_case{"traversal_to_exec", "GET", "/v1.41/info/../containers/create", {}, "dot"},
        request_case{"dot_segment", "GET", "/v1.41/./info", {}, "dot"},
        request_case{"trailing_dot", "GET", "/info/.", {}, "dot"},
        request_case{"double_slash", "GET", "//info", {}, "empty"},
        request_case{"double_slash_inside", "GET", "/containers//json", {}, "empty"},
        request_case{"fragment", "GET", "/_ping#x", {}, "fragment"},
        request_case{"trailing_slash", "GET", "/info/", {}, "allow list"},
        request_case{"backslash", "GET", "/containers\\json", {}, "allow list"},
        // Ids: full, lowercase, nothing more.
        request_case{"id_65", "GET", "/containers/" + id + "a/json", {}, "allow list"},
        request_case{"id_63", "GET", "/containers/" + id.substr(1) + "/json", {}, "allow list"},
        request_case{"id_short", "GET", "/containers/0123456789ab/json", {}, "allow list"},
        request_case{"id_uppercase",
                     "GET",
                     "/containers/" + std::string(64, 'A') + "/json",
                     {},
                     "allow list"},
        request_case{"id_name", "GET", "/containers/web/json", {}, "allow list"},
        request_case{
            "network_uppercase", "GET", "/networks/" + std::string(64, 'F'), {}, "allow list"},
        request_case{"network_name", "GET", "/networks/bridge", {}, "allow list"},
        request_case{"network_65", "GET", "/networks/" + id + "0", {}, "allow list"},
        // Version prefixes.
        request_case{"leading_zero", "GET", "/v1.041/info", {}, "version"},
        request_case{"four_digits", "GET", "/v1.1000/info", {}, "version"},
        request_case{"v2", "GET", "/v2.0/info", {}, "version"},
        request_case{"no_minor", "GET", "/v1./info", {}, "version"},
        request_case{"double_version", "GET", "/v1.41/v1.41/info", {}, "allow list"},
        // Queries.
        request_case{"overlong_query",
                     "GET",
                     "/events?filters=" + std::string(max_docker_query_bytes, 'a'),
                     {},
                     "too long"},
        request_case{"unknown_key", "GET", "/events?stream=1", {}, "not allowed"},
        request_case{"key_on_wrong_path", "GET", "/info?all=1", {}, "not allowed"},
        request_case{"query_on_ping", "GET", "/_ping?x", {}, "not allowed"},
        request_case{
            "repeated_key", "GET", "/events?filters=%7B%7D&filters=%7B%7D", {}, "repeated"},
        request_case{"raw_json_value", "GET", "/events?filters={\"type\":[]}", {}, "percent"},
        request_case{"bad_escape", "GET", "/events?filters=%7", {}, "percent"},
        request_case{"bad_escape_hex", "GET", "/events?filters=%zz", {}, "percent"},
        request_case{"encoded_key", "GET", "/events?%66ilters=x", {}, "not allowed"}),
    case_name);

TEST(docker_api_filter, query_at_the_limit_passes) {
    const std::string prefix = "/events?";
    const std::string query = "filters=" + std::string(max_docker_query_bytes - 8, 'a');
    ASSERT_EQ(query.size(), max_docker_query_bytes);
    EXPECT_TRUE(check_docker_request({"GET", prefix + query, {}}).allowed);
}

TEST(docker_api_filter, reason_never_echoes_the_request) {
    const auto verdict = check_docker_request({"POST", "/containers/create\x1b[2J", {}});
    EXPECT_FALSE(verdict.allowed);
    EXPECT_EQ(verdict.reason.find("create"), std::string::npos) << verdict.reason;
}

} // namespace
} // namespace dockgate
