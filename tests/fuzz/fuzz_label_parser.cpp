// libFuzzer target: container labels and addresses through evaluate() under three policies.
//
// Input format (one field per line, so seeds stay readable; an empty or missing field leaves
// that label out):
//   0 fw.allow        1 fw.allow.from   2 fw.networks     3 fw.publish
//   4 fw.limit        5 fw.log          6 container name
//   7 network "v6net" GlobalIPv6Address 8 network "v6net" IPAddress
//   9 network "edge" GlobalIPv6Address  10 network "edge" IPAddress
//   11 published ports: "80/tcp:8080,53/udp:5353" (container port/proto:host port)
// The container goes through decode_inspect as Docker's JSON, so it has exactly the shapes the
// daemon can see. Every produced rule must be one dockgate may write.
#include "dockgate/model/container.hpp"
#include "dockgate/model/rule.hpp"
#include "dockgate/policy/labels.hpp"
#include "dockgate/policy/policy.hpp"
#include "dockgate/ufw/rules_file.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.hpp"

namespace {

using namespace dockgate;
using json = nlohmann::json;

std::vector<std::string_view> split(std::string_view text, char sep) {
    std::vector<std::string_view> out;
    while (true) {
        const auto at = text.find(sep);
        out.push_back(text.substr(0, at));
        if (at == std::string_view::npos) {
            return out;
        }
        text.remove_prefix(at + 1);
    }
}

policy must_parse(std::string_view text) {
    policy_error err;
    const auto pol = parse_policy(text, "fuzz-harness.json", &err);
    FUZZ_CHECK(pol.has_value()); // the harness's own policies must be valid
    return *pol;
}

/// Open mode with every switch on and a small rule cap, so the cap and publish paths are reached.
const policy& open_policy() {
    static const policy pol = must_parse(R"({
      "services": {"grafana": ["3000/tcp"], "media": ["6000-6010/udp"]},
      "profiles": {
        "public-web": {"ports": ["80/tcp", "443/tcp", "443/udp"]},
        "office-ssh": {"ports": ["22/tcp"], "from": ["2001:db8:1234::/48"], "limit": true, "log": true}
      },
      "allowed_ports": ["1-49151/tcp", "1-65535/udp"],
      "denied_ports": ["2375-2376/tcp", "5000/udp"],
      "networks": ["v6net", "bridge"],
      "prefixes": ["2000::/3", "fd00::/8"],
      "sources": ["2001:db8::/32", "198.51.100.0/24", "::/0"],
      "max_rules_per_container": 8,
      "allow_publish": true,
      "manage_ipv4": true
    })");
    return pol;
}

/// Strict mode: labels may only name these profiles.
const policy& strict_policy() {
    static const policy pol = must_parse(R"({
      "label_prefix": "fw.",
      "mode": "strict",
      "profiles": {
        "public-web": {"ports": ["80/tcp", "443/tcp"]},
        "resolver": {"ports": ["53/tcp", "53/udp"], "from": ["2001:db8::/32", "192.0.2.0/24"]},
        "game": {"ports": ["27015-27030/udp"], "limit": true}
      },
      "sources": ["2001:db8::/32"],
      "max_rules_per_container": 3,
      "allow_publish": true
    })");
    return pol;
}

bool canonical_port(std::uint16_t port) {
    const auto text = std::to_string(port);
    return port >= 1 && parse_port(text) == port;
}

void check(const container_info& c, const policy& pol, const evaluation& ev) {
    FUZZ_CHECK(ev.rules.size() <= pol.max_rules_per_container);
    const auto tag = owner_tag::from_container(c.id, c.name);
    for (std::size_t i = 0; i < ev.rules.size(); ++i) {
        const auto& r = ev.rules[i].what; // (clang 14 lambdas cannot capture structured bindings)
        const auto& owner = ev.rules[i].owner;
        // What reaches ufw must read back as the same rule from user6.rules.
        const auto tuple = r.tuple();
        const auto back = parse_tuple(tuple);
        FUZZ_CHECK(back && *back == r && back->tuple() == tuple);
        // Ports: 1..65535, no leading zero (ufw stores "0080" verbatim and breaks its reload).
        FUZZ_CHECK(canonical_port(r.port.first) && canonical_port(r.port.last));
        FUZZ_CHECK(r.port.first <= r.port.last);
        FUZZ_CHECK(scope_of(r.destination) != address_scope::link_local);
        FUZZ_CHECK(r.destination.v6 == r.source.v6);
        FUZZ_CHECK(r.destination.v6 || pol.manage_ipv4);
        FUZZ_CHECK(r.kind != rule_kind::input || (pol.allow_publish && r.destination.is_any()));
        if (r.kind == rule_kind::route) {
            FUZZ_CHECK(r.destination.is_host());
            FUZZ_CHECK(!r.destination.v6 ||
                       std::any_of(pol.prefixes.begin(), pol.prefixes.end(),
                                   [&](const ip_prefix& p) { return r.destination.within(p); }));
        }
        // The owner tag is the container's and reads back from its comment.
        FUZZ_CHECK(tag && owner == *tag && owner_tag::parse(owner.to_comment()) == owner);
        // No two rules that ufw would see as the same rule (they would flip each reconcile).
        for (std::size_t j = 0; j < i; ++j) {
            const auto& o = ev.rules[j].what;
            FUZZ_CHECK(!(o.kind == r.kind && o.proto == r.proto && o.port == r.port &&
                         o.destination == r.destination && o.source == r.source));
        }
    }
    for (const auto& rej : ev.rejected) {
        FUZZ_CHECK(!rej.reason.empty() && rej.label.starts_with(pol.label_prefix));
    }
}

void check_strict(const evaluation& ev, const policy& pol) {
    // Strict mode: every route rule is a port of some profile.
    for (const auto& owned : ev.rules) {
        const auto& r = owned.what;
        if (r.kind != rule_kind::route) {
            continue;
        }
        const bool from_profile =
            std::any_of(pol.profiles.begin(), pol.profiles.end(), [&](const auto& p) {
                return std::any_of(
                    p.second.ports.begin(), p.second.ports.end(),
                    [&](const port_spec& s) { return s.proto == r.proto && s.ports == r.port; });
            });
        FUZZ_CHECK(from_profile);
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    auto fields = split(input, '\n');
    fields.resize(12);

    static constexpr std::array<const char*, 6> label_names = {
        "fw.allow", "fw.allow.from", "fw.networks", "fw.publish", "fw.limit", "fw.log"};
    json labels = json::object();
    labels["com.docker.compose.service"] = "web";
    for (std::size_t i = 0; i < label_names.size(); ++i) {
        if (!fields[i].empty()) {
            labels[label_names[i]] = std::string(fields[i]);
        }
    }
    json ports = json::object();
    if (!fields[11].empty()) {
        for (const auto item : split(fields[11], ',')) {
            const auto colon = item.find(':');
            const std::string key(item.substr(0, colon));
            const std::string host(colon == std::string_view::npos ? "" : item.substr(colon + 1));
            ports[key].push_back({{"HostIp", "::"}, {"HostPort", host}});
            ports[key].push_back({{"HostIp", "0.0.0.0"}, {"HostPort", host}});
        }
    }
    const json reply = {
        {"Id", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
        {"Name", "/" + std::string(fields[6])},
        {"State", {{"Running", true}}},
        {"Config", {{"Labels", labels}}},
        {"NetworkSettings",
         {{"Networks",
           {{"v6net",
             {{"GlobalIPv6Address", std::string(fields[7])},
              {"IPAddress", std::string(fields[8])}}},
            {"edge",
             {{"GlobalIPv6Address", std::string(fields[9])},
              {"IPAddress", std::string(fields[10])}}}}},
          {"Ports", ports}}},
    };
    std::string why;
    const auto container = decode_inspect(reply, &why);
    FUZZ_CHECK(container.has_value());
    for (const auto& b : container->published) {
        FUZZ_CHECK(b.host_port != 0 && b.container_port != 0);
    }

    static const policy builtin = builtin_policy();
    check(*container, builtin, evaluate(*container, builtin));
    check(*container, open_policy(), evaluate(*container, open_policy()));
    const auto strict = evaluate(*container, strict_policy());
    check(*container, strict_policy(), strict);
    check_strict(strict, strict_policy());
    return 0;
}
