// Unit tests for decoding Docker's inspect and list replies, including replies of the wrong shape.
#include "dockgate/model/container.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <sstream>
#include <string>

namespace dockgate {

inline std::ostream& operator<<(std::ostream& os, const network_attachment& n) {
    return os << n.network << "{" << n.global_ipv6 << "," << n.ipv4 << "}";
}
inline std::ostream& operator<<(std::ostream& os, const port_binding& b) {
    return os << b.container_port << "/" << b.proto << "->" << b.host_port;
}

namespace {

using json = nlohmann::json;

constexpr const char* cid = "5f1c2b3a4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8";

/// GET /v1.41/containers/{id}/json of a compose container on a user IPv6 network (trimmed, real
/// field set).
json inspect_reply() {
    return json::parse(std::string(R"({
  "Id": ")") + cid + R"(",
  "Created": "2026-07-01T10:00:00.000000000Z",
  "Path": "/bin/busybox",
  "Args": ["httpd", "-f"],
  "State": {"Status": "running", "Running": true, "Paused": false, "Restarting": false, "Pid": 4242, "ExitCode": 0},
  "Image": "sha256:0123",
  "Name": "/proj_web_1",
  "RestartCount": 0,
  "HostConfig": {
    "NetworkMode": "proj_v6net",
    "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}], "53/udp": [{"HostIp": "", "HostPort": "5353"}]}
  },
  "Config": {
    "Hostname": "5f1c2b3a4d5e",
    "ExposedPorts": {"80/tcp": {}, "443/tcp": {}, "53/udp": {}},
    "Image": "local/bb:1",
    "Labels": {
      "com.docker.compose.config-hash": "abc",
      "com.docker.compose.container-number": "1",
      "com.docker.compose.oneoff": "False",
      "com.docker.compose.project": "proj",
      "com.docker.compose.project.working_dir": "/srv/proj",
      "com.docker.compose.service": "web",
      "com.docker.compose.version": "1.29.2",
      "fw.allow": "http, 8443",
      "fw.allow.from": "2001:db8:1234::/48"
    }
  },
  "NetworkSettings": {
    "Bridge": "",
    "SandboxID": "feed",
    "Ports": {
      "443/tcp": null,
      "53/udp": [{"HostIp": "0.0.0.0", "HostPort": "5353"}, {"HostIp": "::", "HostPort": "5353"}],
      "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}, {"HostIp": "::", "HostPort": "8080"}]
    },
    "GlobalIPv6Address": "",
    "GlobalIPv6PrefixLen": 0,
    "IPAddress": "",
    "Networks": {
      "proj_v6net": {
        "IPAMConfig": null,
        "Links": null,
        "Aliases": ["web", "5f1c2b3a4d5e"],
        "NetworkID": "9e8d",
        "EndpointID": "7a6b",
        "Gateway": "172.20.0.1",
        "IPAddress": "172.20.0.2",
        "IPPrefixLen": 16,
        "IPv6Gateway": "2001:db8:7::1",
        "GlobalIPv6Address": "2001:db8:7::2",
        "GlobalIPv6PrefixLen": 64,
        "MacAddress": "02:42:ac:14:00:02"
      },
      "bridge": {
        "IPAMConfig": {"IPv6Address": "2001:db8:9::42"},
        "IPAddress": "172.17.0.2",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0
      }
    }
  }
})");
}

/// One element of GET /v1.41/containers/json for the same container.
json list_item() {
    return json::parse(std::string(R"({
  "Id": ")") + cid + R"(",
  "Names": ["/proj_web_1"],
  "Image": "local/bb:1",
  "Command": "/bin/busybox httpd -f",
  "Created": 1795973700,
  "Ports": [
    {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
    {"IP": "::", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
    {"PrivatePort": 443, "Type": "tcp"},
    {"IP": "0.0.0.0", "PrivatePort": 53, "PublicPort": 5353, "Type": "udp"}
  ],
  "Labels": {"com.docker.compose.project": "proj", "fw.allow": "http, 8443"},
  "State": "running",
  "Status": "Up 2 minutes",
  "HostConfig": {"NetworkMode": "proj_v6net"},
  "NetworkSettings": {
    "Networks": {
      "proj_v6net": {"IPAMConfig": null, "NetworkID": "9e8d", "IPAddress": "172.20.0.2",
                     "GlobalIPv6Address": "2001:db8:7::2", "GlobalIPv6PrefixLen": 64}
    }
  },
  "Mounts": []
})");
}

template <typename T> std::vector<T> sorted(std::vector<T> v) {
    std::sort(v.begin(), v.end(), [](const T& a, const T& b) {
        std::ostringstream x;
        std::ostringstream y;
        x << a;
        y << b;
        return x.str() < y.str();
    });
    return v;
}

TEST(container, inspect_of_a_running_compose_container) {
    std::string why;
    const auto info = decode_inspect(inspect_reply(), &why);
    ASSERT_TRUE(info.has_value()) << why;
    EXPECT_EQ(info->id, cid);
    EXPECT_EQ(info->name, "proj_web_1");
    EXPECT_TRUE(info->running);
    EXPECT_EQ(info->labels.size(), 9U);
    EXPECT_EQ(info->labels.at("fw.allow"), "http, 8443");
    EXPECT_EQ(info->labels.at("fw.allow.from"), "2001:db8:1234::/48");
    EXPECT_EQ(info->labels.at("com.docker.compose.project"), "proj");
    // GlobalIPv6Address per network; IPAMConfig (static requests) is not where the address lives.
    EXPECT_EQ(sorted(info->networks),
              (std::vector<network_attachment>{{"bridge", "", "172.17.0.2"},
                                               {"proj_v6net", "2001:db8:7::2", "172.20.0.2"}}));
    // One binding per container port even though Docker lists 0.0.0.0 and :: separately;
    // 443/tcp is exposed but not published (null).
    EXPECT_EQ(sorted(info->published),
              (std::vector<port_binding>{{53, "udp", 5353}, {80, "tcp", 8080}}));
}

TEST(container, list_item_of_the_same_container) {
    std::string why;
    const auto info = decode_list_item(list_item(), &why);
    ASSERT_TRUE(info.has_value()) << why;
    EXPECT_EQ(info->id, cid);
    EXPECT_EQ(info->name, "proj_web_1");
    EXPECT_TRUE(info->running);
    EXPECT_EQ(info->labels,
              (std::map<std::string, std::string>{{"com.docker.compose.project", "proj"},
                                                  {"fw.allow", "http, 8443"}}));
    EXPECT_EQ(info->networks,
              (std::vector<network_attachment>{{"proj_v6net", "2001:db8:7::2", "172.20.0.2"}}));
    EXPECT_EQ(sorted(info->published),
              (std::vector<port_binding>{{53, "udp", 5353}, {80, "tcp", 8080}}));
}

TEST(container, stopped_containers) {
    auto reply = inspect_reply();
    reply["State"] = json::parse(R"({"Status": "exited", "Running": false, "ExitCode": 137})");
    std::string why;
    const auto inspected = decode_inspect(reply, &why);
    ASSERT_TRUE(inspected.has_value()) << why;
    EXPECT_FALSE(inspected->running);

    auto item = list_item();
    item["State"] = "exited";
    const auto listed = decode_list_item(item, &why);
    ASSERT_TRUE(listed.has_value()) << why;
    EXPECT_FALSE(listed->running);
}

TEST(container, no_labels_no_networks_no_ports) {
    const auto reply =
        json::parse(std::string(R"({"Id":")") + cid +
                    R"(","Name":"/bare","State":{"Running":true},"Config":{"Labels":null},
                                     "NetworkSettings":{"Ports":{},"Networks":{}}})");
    std::string why;
    const auto info = decode_inspect(reply, &why);
    ASSERT_TRUE(info.has_value()) << why;
    EXPECT_EQ(info->name, "bare");
    EXPECT_TRUE(info->labels.empty());
    EXPECT_TRUE(info->networks.empty());
    EXPECT_TRUE(info->published.empty());
}

TEST(container, port_key_without_protocol_is_tcp_and_empty_host_ports_are_skipped) {
    auto reply = inspect_reply();
    reply["NetworkSettings"]["Ports"] = json::parse(
        R"({"9000": [{"HostIp": "", "HostPort": "9001"}], "7000/tcp": [{"HostIp": "", "HostPort": ""}],
            "6000/udp": [{"HostIp": "::", "HostPort": "0"}], "5000/tcp": []})");
    std::string why;
    const auto info = decode_inspect(reply, &why);
    ASSERT_TRUE(info.has_value()) << why;
    EXPECT_EQ(info->published, (std::vector<port_binding>{{9000, "tcp", 9001}}));
}

TEST(container, one_container_port_on_two_host_ports_keeps_both) {
    auto reply = inspect_reply();
    reply["NetworkSettings"]["Ports"] = json::parse(
        R"({"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}, {"HostIp": "::", "HostPort": "8081"}]})");
    std::string why;
    const auto info = decode_inspect(reply, &why);
    ASSERT_TRUE(info.has_value()) << why;
    EXPECT_EQ(sorted(info->published),
              (std::vector<port_binding>{{80, "tcp", 8080}, {80, "tcp", 8081}}));
}

// ---------------------------------------------------------------------------------------------
// replies dockgate cannot use: nullopt with a reason, never an exception

struct refusal {
    std::string name;
    json reply;
    std::string reason_part;
    friend void PrintTo(const refusal& c, std::ostream* os) { *os << c.name; }
};

/// Replies built on `base` (an inspect reply or a list item) that lack a usable id.
std::vector<refusal> refusals(const json& base) {
    auto missing = base;
    missing.erase("Id");
    auto short_id = base;
    short_id["Id"] = "5f1c2b3a4d5e";
    auto long_id = base;
    long_id["Id"] = std::string(cid) + "0";
    auto numeric_id = base;
    numeric_id["Id"] = 5;
    auto null_id = base;
    null_id["Id"] = nullptr;
    return {
        {"missing_id", missing, "container id"},
        {"short_id", short_id, "container id"},
        {"long_id", long_id, "container id"},
        {"numeric_id", numeric_id, "container id"},
        {"null_id", null_id, "container id"},
        {"not_an_object", json::array({1, 2}), "not a JSON object"},
        {"null", json(), "not a JSON object"},
        {"discarded_parse", json::parse("{", nullptr, false), "not a JSON object"},
        {"docker_error_message", json::parse(R"({"message":"No such container: nope"})"),
         "container id"},
    };
}

class container_inspect_refused : public ::testing::TestWithParam<refusal> {};

TEST_P(container_inspect_refused, with_a_reason) {
    std::string why;
    std::optional<container_info> info;
    EXPECT_NO_THROW(info = decode_inspect(GetParam().reply, &why));
    EXPECT_FALSE(info.has_value());
    EXPECT_NE(why.find(GetParam().reason_part), std::string::npos) << why;
}

INSTANTIATE_TEST_SUITE_P(replies, container_inspect_refused,
                         ::testing::ValuesIn(refusals(inspect_reply())),
                         [](const auto& p) { return p.param.name; });

class container_list_refused : public ::testing::TestWithParam<refusal> {};

TEST_P(container_list_refused, with_a_reason) {
    std::string why;
    std::optional<container_info> info;
    EXPECT_NO_THROW(info = decode_list_item(GetParam().reply, &why));
    EXPECT_FALSE(info.has_value());
    EXPECT_NE(why.find(GetParam().reason_part), std::string::npos) << why;
}

INSTANTIATE_TEST_SUITE_P(items, container_list_refused, ::testing::ValuesIn(refusals(list_item())),
                         [](const auto& p) { return p.param.name; });

struct mangled {
    std::string name;
    std::string path; ///< JSON pointer to overwrite
    json value;
    friend void PrintTo(const mangled& c, std::ostream* os) {
        *os << c.path << " = " << c.value.dump();
    }
};

std::vector<mangled> inspect_manglings() {
    return {
        {"name_number", "/Name", 5},
        {"state_string", "/State", "running"},
        {"running_string", "/State/Running", "yes"},
        {"running_null", "/State/Running", nullptr},
        {"config_list", "/Config", json::array()},
        {"labels_list", "/Config/Labels", json::array({"fw.allow=http"})},
        {"label_value_number", "/Config/Labels/fw.allow", 80},
        {"settings_string", "/NetworkSettings", "none"},
        {"networks_list", "/NetworkSettings/Networks", json::array()},
        {"endpoint_string", "/NetworkSettings/Networks/proj_v6net", "x"},
        {"ipv6_number", "/NetworkSettings/Networks/proj_v6net/GlobalIPv6Address", 5},
        {"ports_list", "/NetworkSettings/Ports", json::array()},
        {"bindings_object", "/NetworkSettings/Ports/80~1tcp", json::object()},
        {"binding_string", "/NetworkSettings/Ports/80~1tcp/0", "8080"},
        {"host_port_object", "/NetworkSettings/Ports/80~1tcp/0/HostPort", json::object()},
        {"host_port_negative", "/NetworkSettings/Ports/80~1tcp/0/HostPort", -8080},
        {"host_port_huge", "/NetworkSettings/Ports/80~1tcp/0/HostPort", "99999999999"},
        {"host_port_fraction", "/NetworkSettings/Ports/80~1tcp/0/HostPort", 80.5},
    };
}

class container_inspect_mangled : public ::testing::TestWithParam<mangled> {};

TEST_P(container_inspect_mangled, never_throws_and_keeps_the_id) {
    auto reply = inspect_reply();
    reply[json::json_pointer(GetParam().path)] = GetParam().value;
    std::string why;
    std::optional<container_info> info;
    EXPECT_NO_THROW(info = decode_inspect(reply, &why)) << GetParam().path;
    ASSERT_TRUE(info.has_value()) << why;
    EXPECT_EQ(info->id, cid);
    for (const auto& b : info->published) {
        EXPECT_NE(b.host_port, 0) << "a binding without a usable host port is dropped";
    }
}

INSTANTIATE_TEST_SUITE_P(fields, container_inspect_mangled,
                         ::testing::ValuesIn(inspect_manglings()),
                         [](const auto& p) { return p.param.name; });

TEST(container, wrong_types_read_as_absent) {
    auto reply = inspect_reply();
    reply["State"]["Running"] = "yes";
    reply["Config"]["Labels"]["fw.allow"] = 80;
    reply["NetworkSettings"]["Networks"]["proj_v6net"]["GlobalIPv6Address"] = 5;
    std::string why;
    const auto info = decode_inspect(reply, &why);
    ASSERT_TRUE(info.has_value()) << why;
    EXPECT_FALSE(info->running) << "only a real true means running";
    EXPECT_EQ(info->labels.count("fw.allow"), 0U);
    const auto v6net =
        std::find_if(info->networks.begin(), info->networks.end(),
                     [](const network_attachment& n) { return n.network == "proj_v6net"; });
    ASSERT_NE(v6net, info->networks.end());
    EXPECT_EQ(v6net->global_ipv6, "");
}

std::vector<mangled> list_manglings() {
    return {
        {"names_string", "/Names", "/proj_web_1"},
        {"names_empty", "/Names", json::array()},
        {"names_numbers", "/Names", json::array({5})},
        {"labels_string", "/Labels", "fw.allow=http"},
        {"state_object", "/State", json::object()},
        {"state_bool", "/State", true},
        {"ports_object", "/Ports", json::object()},
        {"port_string", "/Ports/0", "80/tcp"},
        {"private_port_string", "/Ports/0/PrivatePort", "80"},
        {"public_port_null", "/Ports/0/PublicPort", nullptr},
        {"public_port_negative", "/Ports/0/PublicPort", -1},
        {"type_number", "/Ports/0/Type", 6},
        {"type_null", "/Ports/0/Type", nullptr},
        {"settings_list", "/NetworkSettings", json::array()},
        {"networks_string", "/NetworkSettings/Networks", "proj_v6net"},
    };
}

class container_list_mangled : public ::testing::TestWithParam<mangled> {};

TEST_P(container_list_mangled, never_throws_and_keeps_the_id) {
    auto item = list_item();
    item[json::json_pointer(GetParam().path)] = GetParam().value;
    std::string why;
    std::optional<container_info> info;
    EXPECT_NO_THROW(info = decode_list_item(item, &why)) << GetParam().path;
    ASSERT_TRUE(info.has_value()) << why;
    EXPECT_EQ(info->id, cid);
    for (const auto& b : info->published) {
        EXPECT_NE(b.host_port, 0);
        EXPECT_TRUE(b.proto == "tcp" || b.proto == "udp") << b;
    }
}

INSTANTIATE_TEST_SUITE_P(fields, container_list_mangled, ::testing::ValuesIn(list_manglings()),
                         [](const auto& p) { return p.param.name; });

} // namespace
} // namespace dockgate
