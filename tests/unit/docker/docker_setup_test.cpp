// Unit tests of docker_setup on real recorded Docker replies (20.10 and 28.5, ip6tables off/on,
// a hand-made Docker 29 nftables /info): what Docker does to IPv6, whether route rules count,
// the host rules dockgate writes, fw.publish's target and the policy keys that steer them.
#include "dockgate/docker/docker_setup.hpp"
#include "dockgate/model/container.hpp"
#include "dockgate/policy/labels.hpp"
#include "dockgate/policy/policy.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <initializer_list>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace dockgate {
namespace {

using json = nlohmann::json;

bool contains(std::string_view text, std::string_view part) {
    return text.find(part) != std::string_view::npos;
}

std::size_t count_of(std::string_view text, std::string_view part) {
    std::size_t n = 0;
    for (auto at = text.find(part); at != std::string_view::npos; at = text.find(part, at + 1)) {
        ++n;
    }
    return n;
}

json fixture_json(const std::string& name) {
    return json::parse(test::test_data("docker-setups/" + name));
}

/// One recorded setup, decoded the way the controller decodes it.
struct recorded_setup {
    engine_facts engine;
    std::vector<network_facts> networks;
    kernel_facts kernel;
};

recorded_setup load_setup(const std::string& dir) {
    recorded_setup out;
    const auto version = fixture_json(dir + "/version.json");
    const auto info = fixture_json(dir + "/info.json");
    std::string why;
    const auto engine = decode_engine(version, &info, &why);
    if (!engine) {
        throw std::runtime_error(dir + ": " + why);
    }
    out.engine = *engine;
    std::vector<std::string> warnings;
    out.networks = decode_networks(fixture_json(dir + "/networks.json"), &warnings);
    if (!warnings.empty()) {
        throw std::runtime_error(dir + ": " + warnings.front());
    }
    // raw first, then filter: the order the executor reads them in.
    out.kernel = parse_ip6tables_save(
        test::test_data("docker-setups/" + dir + "/ip6tables-save-raw.txt") +
        test::test_data("docker-setups/" + dir + "/ip6tables-save-filter.txt"));
    return out;
}

host_posture assess(const recorded_setup& s, guard_setting guard = guard_setting::automatic,
                    bool egress = true) {
    return assess_host(s.engine, s.networks, s.kernel, guard, egress);
}

/// The container's address on `network` in a recorded inspect reply.
std::string address_in(const std::string& inspect_file, const std::string& network) {
    std::string why;
    const auto info = decode_inspect(fixture_json(inspect_file), &why);
    if (!info) {
        throw std::runtime_error(inspect_file + ": " + why);
    }
    for (const auto& n : info->networks) {
        if (n.network == network) {
            return n.global_ipv6;
        }
    }
    throw std::runtime_error(inspect_file + ": not on " + network);
}

/// Kernel facts with the named flags set.
kernel_facts facts_with(std::initializer_list<bool kernel_facts::*> flags) {
    kernel_facts k;
    for (const auto flag : flags) {
        k.*flag = true;
    }
    return k;
}

// The bridges of the 28.5-ip6tables-on recording.
constexpr const char* dglab1_bridge_28_on = "br-82d0fd0d763c";
constexpr const char* dgrouted_bridge_28_on = "br-b4327125ccd1";

// ---------------------------------------------------------------------------------------------
// decode_engine, decode_networks

TEST(docker_setup_decode, engine_versions_and_backend) {
    const auto s20 = load_setup("20.10-ip6tables-on");
    EXPECT_EQ(s20.engine.major, 20);
    EXPECT_EQ(s20.engine.minor, 10);
    EXPECT_EQ(s20.engine.version, "20.10.24+dfsg1");
    EXPECT_EQ(s20.engine.firewall_backend, "") << "20.10's /info has no FirewallBackend";
    EXPECT_FALSE(s20.engine.nftables());

    const auto s28 = load_setup("28.5-ip6tables-on");
    EXPECT_EQ(s28.engine.major, 28);
    EXPECT_EQ(s28.engine.minor, 5);
    EXPECT_EQ(s28.engine.firewall_backend, "iptables");
    EXPECT_FALSE(s28.engine.nftables());

    const auto info29 = fixture_json("info-29-nftables.json");
    const json version29{{"Version", "29.0.0"}};
    std::string why;
    const auto e29 = decode_engine(version29, &info29, &why);
    ASSERT_TRUE(e29.has_value()) << why;
    EXPECT_EQ(e29->major, 29);
    EXPECT_EQ(e29->firewall_backend, "nftables");
    EXPECT_TRUE(e29->nftables());
}

TEST(docker_setup_decode, engine_without_a_usable_version_is_refused) {
    for (const auto& reply : {json::object(), json{{"Version", ""}}, json{{"Version", "dev"}},
                              json{{"Version", 28}}, json::array()}) {
        std::string why;
        EXPECT_FALSE(decode_engine(reply, nullptr, &why).has_value()) << reply.dump();
        EXPECT_TRUE(contains(why, "Version")) << why;
    }
}

TEST(docker_setup_decode, networks_keep_bridges_with_their_interface) {
    const auto s = load_setup("28.5-ip6tables-on");
    ASSERT_EQ(s.networks.size(), 4U) << "host and null are left out";
    const auto find = [&](const std::string& name) -> const network_facts& {
        const auto it = std::find_if(s.networks.begin(), s.networks.end(),
                                     [&](const network_facts& n) { return n.name == name; });
        if (it == s.networks.end()) {
            throw std::runtime_error("no network " + name);
        }
        return *it;
    };
    EXPECT_EQ(find("bridge").bridge, "docker0");
    EXPECT_EQ(find("dglab1").bridge, dglab1_bridge_28_on);
    EXPECT_EQ(find("dglab1").gateway_mode6, "nat") << "absent option means nat";
    EXPECT_EQ(find("dgrouted").bridge, dgrouted_bridge_28_on);
    EXPECT_EQ(find("dgrouted").gateway_mode6, "routed");
    for (const auto& n : s.networks) {
        EXPECT_TRUE(n.ipv6) << n.name;
        EXPECT_FALSE(n.internal) << n.name;
    }
}

TEST(docker_setup_decode, networks_bridge_name_option_and_unusable_entries) {
    const auto reply = json::parse(R"([
        {"Name": "custom", "Id": "0123456789abcdef", "Driver": "bridge", "EnableIPv6": true,
         "Internal": true, "Options": {"com.docker.network.bridge.name": "dgbr0",
                                       "com.docker.network.bridge.gateway_mode_ipv6": "isolated"}},
        {"Name": "short", "Id": "0123", "Driver": "bridge", "EnableIPv6": true},
        {"Name": "overlay1", "Id": "fedcba9876543210", "Driver": "overlay", "EnableIPv6": true}
    ])");
    std::vector<std::string> warnings;
    const auto nets = decode_networks(reply, &warnings);
    ASSERT_EQ(nets.size(), 1U);
    EXPECT_EQ(nets[0].bridge, "dgbr0");
    EXPECT_EQ(nets[0].gateway_mode6, "isolated");
    EXPECT_TRUE(nets[0].internal);
    EXPECT_EQ(warnings.size(), 1U) << "the network without a usable Id";
}

TEST(docker_setup_decode, networks_not_an_array_warns) {
    std::vector<std::string> warnings;
    EXPECT_TRUE(decode_networks(json::object(), &warnings).empty());
    EXPECT_EQ(warnings.size(), 1U);
}

// ---------------------------------------------------------------------------------------------
// parse_ip6tables_save

TEST(docker_setup_kernel, docker_28_with_ip6tables_on) {
    const auto k = load_setup("28.5-ip6tables-on").kernel;
    EXPECT_TRUE(k.docker_filter);
    EXPECT_TRUE(k.docker_user);
    EXPECT_TRUE(k.ufw_chains);
    EXPECT_FALSE(k.guard);
    EXPECT_FALSE(k.bridge_rules);
    EXPECT_FALSE(k.nft_docker);
    const std::map<std::string, std::string> drops{{"2001:db8:10::2", dglab1_bridge_28_on}};
    EXPECT_EQ(k.raw_drops, drops) << "the nat container's address, mapped to its bridge";
    EXPECT_TRUE(k.routed_drop_bridges.contains(dgrouted_bridge_28_on));
}

TEST(docker_setup_kernel, docker_20_10_with_ip6tables_on_has_no_docker_user) {
    const auto k = load_setup("20.10-ip6tables-on").kernel;
    EXPECT_TRUE(k.docker_filter);
    EXPECT_FALSE(k.docker_user);
    EXPECT_TRUE(k.ufw_chains);
    EXPECT_TRUE(k.raw_drops.empty());
    EXPECT_TRUE(k.routed_drop_bridges.empty());
}

TEST(docker_setup_kernel, ip6tables_off_shows_only_ufw) {
    for (const auto* dir : {"20.10-ip6tables-off", "28.5-ip6tables-off"}) {
        const auto k = load_setup(dir).kernel;
        EXPECT_FALSE(k.docker_filter) << dir;
        EXPECT_FALSE(k.docker_user) << dir;
        EXPECT_TRUE(k.ufw_chains) << dir;
        EXPECT_TRUE(k.raw_drops.empty()) << dir;
    }
}

TEST(docker_setup_kernel, recognises_dockgates_own_rules) {
    const std::string text = "*filter\n"
                             ":DOCKER-USER - [0:0]\n"
                             ":ufw6-after-forward - [0:0]\n"
                             ":dockgate6-forward - [0:0]\n"
                             "-A FORWARD -j DOCKER-USER\n"
                             "-A DOCKER-USER -o br-+ -m comment --comment dockgate-guard -j DROP\n"
                             "-A ufw6-after-forward -j dockgate6-forward\n"
                             "COMMIT\n";
    const auto k = parse_ip6tables_save(text);
    EXPECT_TRUE(k.guard);
    EXPECT_TRUE(k.bridge_rules);
    EXPECT_TRUE(k.docker_user);

    // The chain without the jump is not the bridge rules (ufw would never reach it).
    const auto no_jump = parse_ip6tables_save("*filter\n:dockgate6-forward - [0:0]\nCOMMIT\n");
    EXPECT_FALSE(no_jump.bridge_rules);
}

TEST(docker_setup_kernel, parsing_the_block_written_gives_back_what_was_asked) {
    // What dockgate writes into after6.rules, loaded by ufw, is what it then reads back.
    const auto k = parse_ip6tables_save("*filter\n:ufw6-after-forward - [0:0]\n" +
                                        host_rules_block(true, true, true) + "COMMIT\n");
    EXPECT_TRUE(k.bridge_rules);
    EXPECT_TRUE(k.guard);
}

/// What the executor puts together from the kernel holding `save` (one or more tables): each
/// table's chain names and, for each of kernel_fact_chains, what `ip6tables -S` prints of it:
/// the chain itself (`-P` for a built-in one, `-N` otherwise), then its rules.
std::string as_read_chain_by_chain(const std::string& save) {
    struct table_state {
        std::string name;
        std::vector<std::string> chains;
        std::map<std::string, std::string, std::less<>> listings;
    };
    std::vector<table_state> tables;
    std::size_t start = 0;
    while (start < save.size()) {
        const auto eol = std::min(save.find('\n', start), save.size());
        const auto line = save.substr(start, eol - start);
        start = eol + 1;
        if (line.starts_with('*')) {
            tables.push_back({line.substr(1), {}, {}});
            continue;
        }
        if (tables.empty()) {
            continue;
        }
        auto& table = tables.back();
        const auto name_end = line.find(' ', 3);
        if (line.starts_with(':')) {
            const auto name = line.substr(1, line.find(' ') - 1);
            const auto policy =
                line.substr(name.size() + 2, line.find(' ', name.size() + 2) - (name.size() + 2));
            table.chains.push_back(name);
            for (const auto& [fact_table, chain] : kernel_fact_chains) {
                if (fact_table == table.name && chain == name) {
                    table.listings[name] =
                        policy == "-" ? "-N " + name + "\n" : "-P " + name + " " + policy + "\n";
                }
            }
        } else if (line.starts_with("-A ") && name_end != std::string::npos) {
            const auto chain = line.substr(3, name_end - 3);
            if (const auto listing = table.listings.find(chain); listing != table.listings.end()) {
                listing->second += line + "\n";
            }
        }
    }
    std::string out;
    for (const auto& table : tables) {
        out += save_text_from_listings(table.name, table.chains, table.listings);
    }
    return out;
}

TEST(docker_setup_kernel, the_fact_chains_alone_give_the_same_facts) {
    // Every recorded setup, with dockgate's own host rules and guard loaded as well: reading
    // only the chains the facts come from misses nothing that the whole tables show.
    for (const auto* dir :
         {"20.10-ip6tables-off", "20.10-ip6tables-on", "28.5-ip6tables-off", "28.5-ip6tables-on"}) {
        SCOPED_TRACE(dir);
        auto filter =
            test::test_data(std::string("docker-setups/") + dir + "/ip6tables-save-filter.txt");
        const auto commit = filter.rfind("COMMIT");
        ASSERT_NE(commit, std::string::npos);
        filter.insert(commit, ":dockgate6-forward - [0:0]\n" + host_rules_block(true, true, true));
        const auto whole =
            test::test_data(std::string("docker-setups/") + dir + "/ip6tables-save-raw.txt") +
            filter;
        const auto chain_by_chain = as_read_chain_by_chain(whole);
        EXPECT_LT(chain_by_chain.size(), whole.size());
        EXPECT_EQ(chain_by_chain.find("-P "), std::string::npos) << "only rules are kept";
        EXPECT_EQ(chain_by_chain.find("-N "), std::string::npos) << "only rules are kept";
        EXPECT_EQ(parse_ip6tables_save(chain_by_chain), parse_ip6tables_save(whole));
    }
}

// ---------------------------------------------------------------------------------------------
// encode/decode_kernel_facts

TEST(docker_setup_kernel, facts_round_trip) {
    auto k = load_setup("28.5-ip6tables-on").kernel;
    k.guard = true;
    k.bridge_rules = true;
    k.nft_docker = true;
    const auto back = decode_kernel_facts(encode_kernel_facts(k));
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(*back, k);

    const kernel_facts empty;
    const auto empty_back = decode_kernel_facts(encode_kernel_facts(empty));
    ASSERT_TRUE(empty_back.has_value());
    EXPECT_EQ(*empty_back, empty);
}

TEST(docker_setup_kernel, decode_refuses_garbage) {
    const auto good = json::parse(encode_kernel_facts(load_setup("28.5-ip6tables-on").kernel));
    auto wrong_type = good;
    wrong_type["docker_user"] = "yes";
    auto missing = good;
    missing.erase("ufw_chains");
    auto bad_drop = good;
    bad_drop["raw_drops"] = json::array({json::array({1, 2})});
    auto short_drop = good;
    short_drop["raw_drops"] = json::array({json::array({"2001:db8::2"})});
    auto bad_bridges = good;
    bad_bridges["routed_drop_bridges"] = 7;
    for (const std::string& text :
         {std::string{}, std::string{"garbage"}, std::string{"[]"}, std::string{"{}"},
          std::string{"{\"docker_filter\": true"}, std::string{"null"}, wrong_type.dump(),
          missing.dump(), bad_drop.dump(), short_drop.dump(), bad_bridges.dump()}) {
        EXPECT_FALSE(decode_kernel_facts(text).has_value()) << text;
    }
}

// ---------------------------------------------------------------------------------------------
// assess_host on the recordings

TEST(docker_setup_host, ip6tables_off_only_ufw_decides) {
    for (const auto* dir : {"20.10-ip6tables-off", "28.5-ip6tables-off"}) {
        const auto host = assess(load_setup(dir));
        EXPECT_STREQ(to_string(host.mode), "off") << dir;
        EXPECT_TRUE(host.bridge_rules_wanted) << dir;
        EXPECT_FALSE(host.guard_possible) << dir;
        EXPECT_FALSE(host.guard_wanted) << dir;
        EXPECT_EQ(host.networks.size(), 3U) << dir << ": bridge, dglab1, dglab2";
        for (const auto& n : host.networks) {
            EXPECT_TRUE(n.routes_count) << dir << " " << n.network;
            EXPECT_FALSE(n.published_bypass) << dir << " " << n.network;
            EXPECT_FALSE(n.published_via_forward)
                << dir << " " << n.network << ": docker-proxy on the host";
        }
    }
}

TEST(docker_setup_host, docker_20_10_ip6tables_on_cannot_be_guarded) {
    const auto host = assess(load_setup("20.10-ip6tables-on"));
    EXPECT_STREQ(to_string(host.mode), "iptables");
    EXPECT_FALSE(host.guard_possible) << "no IPv6 DOCKER-USER in 20.10";
    EXPECT_FALSE(host.guard_wanted);
    EXPECT_FALSE(host.bridge_rules_wanted) << "Docker's own rules pass bridge traffic";
    ASSERT_EQ(host.networks.size(), 3U);
    for (const auto& n : host.networks) {
        EXPECT_TRUE(n.routes_count) << n.network;
        EXPECT_TRUE(n.published_bypass) << n.network;
        EXPECT_TRUE(n.published_via_forward) << n.network;
        EXPECT_TRUE(contains(n.fix, "\"ip6tables\": false")) << n.fix;
        EXPECT_FALSE(n.why.empty()) << n.network;
    }
}

TEST(docker_setup_host, docker_28_ip6tables_on_is_guarded) {
    const auto s = load_setup("28.5-ip6tables-on");
    const auto host = assess(s);
    EXPECT_STREQ(to_string(host.mode), "iptables");
    EXPECT_TRUE(host.guard_possible);
    EXPECT_TRUE(host.guard_wanted) << "automatic";
    EXPECT_FALSE(host.bridge_rules_wanted);

    const auto* nat = host.find("dglab1");
    ASSERT_NE(nat, nullptr);
    EXPECT_FALSE(nat->routes_count) << "raw PREROUTING drops traffic to its containers";
    EXPECT_FALSE(nat->published_bypass);
    EXPECT_TRUE(nat->published_via_forward);
    EXPECT_TRUE(contains(nat->why, "raw PREROUTING")) << nat->why;
    EXPECT_TRUE(contains(nat->why, dglab1_bridge_28_on)) << nat->why;
    EXPECT_TRUE(contains(nat->fix, "gateway_mode_ipv6=routed")) << nat->fix;

    const auto* routed = host.find("dgrouted");
    ASSERT_NE(routed, nullptr);
    EXPECT_TRUE(routed->routes_count);
    EXPECT_FALSE(routed->published_bypass);
    EXPECT_TRUE(routed->fix.empty()) << routed->fix;

    EXPECT_EQ(host.find("nope"), nullptr);
}

TEST(docker_setup_host, docker_28_ip6tables_on_with_the_guard_off) {
    const auto host = assess(load_setup("28.5-ip6tables-on"), guard_setting::off);
    EXPECT_TRUE(host.guard_possible);
    EXPECT_FALSE(host.guard_wanted);

    const auto* routed = host.find("dgrouted");
    ASSERT_NE(routed, nullptr);
    EXPECT_FALSE(routed->routes_count);
    EXPECT_TRUE(routed->published_bypass);
    EXPECT_TRUE(contains(routed->why, std::string("! -i ") + dgrouted_bridge_28_on + " -o " +
                                          dgrouted_bridge_28_on + " -j DROP"))
        << routed->why;
    EXPECT_TRUE(contains(routed->fix, "docker_user_guard")) << routed->fix;

    const auto* nat = host.find("dglab1");
    ASSERT_NE(nat, nullptr);
    EXPECT_FALSE(nat->routes_count);
    EXPECT_TRUE(nat->published_bypass);
    EXPECT_TRUE(contains(nat->fix, "docker_user_guard")) << nat->fix;
    EXPECT_TRUE(contains(nat->fix, "gateway_mode_ipv6=routed")) << nat->fix;
}

TEST(docker_setup_host, docker_29_nftables) {
    const auto s = load_setup("28.5-ip6tables-on");
    const auto info29 = fixture_json("info-29-nftables.json");
    std::string why;
    const auto engine = decode_engine(json{{"Version", "29.0.0"}}, &info29, &why);
    ASSERT_TRUE(engine.has_value()) << why;
    // Docker 29 with nftables leaves ip6tables' filter table to ufw.
    const auto kernel = facts_with({&kernel_facts::ufw_chains});
    const auto host = assess_host(*engine, s.networks, kernel, guard_setting::automatic, true);
    EXPECT_STREQ(to_string(host.mode), "nftables");
    EXPECT_FALSE(host.guard_possible);
    EXPECT_FALSE(host.guard_wanted);
    EXPECT_FALSE(host.bridge_rules_wanted);

    const auto* nat = host.find("dglab1");
    ASSERT_NE(nat, nullptr);
    EXPECT_FALSE(nat->routes_count);
    EXPECT_FALSE(nat->published_bypass) << "nftables accepts are not final: ufw still decides";
    EXPECT_TRUE(contains(nat->fix, "\"ip6tables\": false")) << nat->fix;

    const auto dead = assess_route(host, kernel, "dglab1", "2001:db8:10::2", false);
    EXPECT_STREQ(to_string(dead.state), "dead");
    EXPECT_TRUE(contains(dead.fix, "\"ip6tables\": false")) << dead.fix;

    // The kernel's nftables table alone also says nftables (an /info without FirewallBackend).
    const auto nft = facts_with({&kernel_facts::nft_docker, &kernel_facts::ufw_chains});
    EXPECT_STREQ(
        to_string(assess_host(s.engine, s.networks, nft, guard_setting::automatic, true).mode),
        "nftables");
}

TEST(docker_setup_host, a_renamed_bridge_is_named_as_outside_the_host_rules_and_the_guard) {
    // com.docker.network.bridge.name=dgbr0: neither docker0 nor br-*, which the host rules and
    // the guard match; the admin must hear that, with a fix.
    auto off = load_setup("28.5-ip6tables-off");
    off.networks.front().bridge = "dgbr0";
    const auto off_host = assess(off);
    const auto* renamed = off_host.find(off.networks.front().name);
    ASSERT_NE(renamed, nullptr);
    EXPECT_TRUE(contains(renamed->note, "ufw route allow in on dgbr0"));
    bool said = false;
    for (const auto& line : off_host.summary()) {
        said = said || (contains(line, "dgbr0") && contains(line, "cannot reach each other"));
    }
    EXPECT_TRUE(said) << "the summary names the renamed bridge";

    auto on = load_setup("28.5-ip6tables-on");
    for (auto& net : on.networks) {
        if (net.name == "dgrouted") {
            net.bridge = "dgbr1";
        }
    }
    const auto on_host = assess(on);
    const auto* routed = on_host.find("dgrouted");
    ASSERT_NE(routed, nullptr);
    EXPECT_TRUE(routed->published_bypass) << "the guard does not cover it: Docker's accept wins";
    EXPECT_FALSE(routed->routes_count) << "and Docker's routed-mode drop comes first";
    EXPECT_TRUE(contains(routed->note, "guard"));
}

TEST(docker_setup_host, a_host_bridge_named_like_dockers_is_named_in_the_summary) {
    // The host rules and the guard match docker0 and br-* by name: a host's own br-lan would
    // be taken for a container bridge (reviewer's finding); the admin must hear of it.
    const auto s = load_setup("28.5-ip6tables-off");
    const auto stray = bridges_not_docker(
        {"lo", "eth0", "br-lan", "docker0", s.networks.back().bridge}, s.networks);
    EXPECT_EQ(stray, std::vector<std::string>{"br-lan"});
    auto host = assess(s);
    host.stray_bridges = stray;
    bool said = false;
    for (const auto& line : host.summary()) {
        said = said || (contains(line, "interface br-lan") && contains(line, "NOT"));
    }
    EXPECT_TRUE(said);
}

TEST(docker_setup_host, only_ipv6_networks_are_assessed) {
    auto s = load_setup("28.5-ip6tables-on");
    for (auto& n : s.networks) {
        n.ipv6 = n.name != "dglab2";
    }
    const auto host = assess(s);
    EXPECT_EQ(host.networks.size(), 3U);
    EXPECT_EQ(host.find("dglab2"), nullptr);
}

TEST(docker_setup_host, internal_network_takes_no_route) {
    auto s = load_setup("28.5-ip6tables-on");
    for (auto& n : s.networks) {
        n.internal = n.name == "dgrouted";
    }
    const auto host = assess(s);
    const auto* routed = host.find("dgrouted");
    ASSERT_NE(routed, nullptr);
    EXPECT_FALSE(routed->routes_count);
    EXPECT_TRUE(contains(routed->why, "internal")) << routed->why;
}

TEST(docker_setup_host, summary_names_the_mode_and_every_network) {
    const auto host = assess(load_setup("28.5-ip6tables-on"));
    const auto lines = host.summary();
    ASSERT_EQ(lines.size(), 1 + host.networks.size());
    EXPECT_TRUE(contains(lines[0], "dockgate guards DOCKER-USER")) << lines[0];
    for (const auto& net : host.networks) {
        const auto it = std::find_if(lines.begin(), lines.end(), [&](const std::string& l) {
            return l.starts_with("network " + net.network + " (" + net.bridge);
        });
        ASSERT_NE(it, lines.end()) << net.network;
        if (net.network == "dglab1") {
            EXPECT_TRUE(contains(*it, "do NOT open")) << *it;
            EXPECT_TRUE(contains(*it, "fix: ")) << *it;
        } else if (net.network == "dgrouted") {
            EXPECT_TRUE(contains(*it, "labels count")) << *it;
            EXPECT_FALSE(contains(*it, "NOT")) << *it;
        }
    }

    const auto off = assess(load_setup("28.5-ip6tables-on"), guard_setting::off).summary();
    EXPECT_TRUE(contains(off[0], "guard is off")) << off[0];
    EXPECT_TRUE(std::any_of(off.begin(), off.end(),
                            [](const std::string& l) { return contains(l, "OPEN past ufw"); }));

    const auto old = assess(load_setup("20.10-ip6tables-on")).summary();
    EXPECT_TRUE(contains(old[0], "no IPv6 DOCKER-USER")) << old[0];

    const auto egress_off =
        assess(load_setup("28.5-ip6tables-off"), guard_setting::automatic, false).summary();
    EXPECT_TRUE(contains(egress_off[0], "ip6tables")) << egress_off[0];
    EXPECT_FALSE(contains(egress_off[0], "outgoing")) << egress_off[0];
    EXPECT_TRUE(contains(assess(load_setup("28.5-ip6tables-off")).summary()[0], "outgoing"));

    EXPECT_TRUE(contains(host_posture{}.summary()[0], "not read yet"));
}

// ---------------------------------------------------------------------------------------------
// assess_route

TEST(docker_setup_route, docker_28_nat_address_is_dead_unless_published) {
    const auto s = load_setup("28.5-ip6tables-on");
    const auto host = assess(s);
    const auto web = address_in("28.5-ip6tables-on/inspect-web.json", "dglab1");
    ASSERT_EQ(web, "2001:db8:10::2");

    const auto dead = assess_route(host, s.kernel, "dglab1", web, false);
    EXPECT_STREQ(to_string(dead.state), "dead");
    EXPECT_TRUE(contains(dead.why, "raw PREROUTING -d " + web + "/128 ! -i " + dglab1_bridge_28_on))
        << dead.why;
    EXPECT_TRUE(contains(dead.fix, "gateway_mode_ipv6=routed")) << dead.fix;

    const auto published = assess_route(host, s.kernel, "dglab1", web, true);
    EXPECT_STREQ(to_string(published.state), "effective") << published.why;
    EXPECT_TRUE(published.why.empty());
}

TEST(docker_setup_route, docker_28_routed_address_counts_with_the_guard) {
    const auto s = load_setup("28.5-ip6tables-on");
    const auto webr = address_in("28.5-ip6tables-on/inspect-webr.json", "dgrouted");
    ASSERT_EQ(webr, "2001:db8:30::2");

    const auto guarded = assess_route(assess(s), s.kernel, "dgrouted", webr, false);
    EXPECT_STREQ(to_string(guarded.state), "effective") << guarded.why;

    const auto unguarded =
        assess_route(assess(s, guard_setting::off), s.kernel, "dgrouted", webr, false);
    EXPECT_STREQ(to_string(unguarded.state), "dead");
    EXPECT_TRUE(contains(unguarded.why, "-j DROP")) << unguarded.why;
}

TEST(docker_setup_route, ip6tables_off_and_20_10_routes_count) {
    for (const auto* dir : {"20.10-ip6tables-off", "28.5-ip6tables-off", "20.10-ip6tables-on"}) {
        const auto s = load_setup(dir);
        const auto web = address_in(std::string(dir) + "/inspect-web.json", "dglab1");
        const auto a = assess_route(assess(s), s.kernel, "dglab1", web, false);
        EXPECT_STREQ(to_string(a.state), "effective") << dir << ": " << a.why;
    }
}

TEST(docker_setup_route, unknown_before_docker_is_read) {
    const auto s = load_setup("28.5-ip6tables-on");
    const auto a = assess_route(host_posture{}, s.kernel, "dglab1", "2001:db8:10::2", false);
    EXPECT_STREQ(to_string(a.state), "unknown");
}

TEST(docker_setup_route, address_on_an_unknown_network_is_not_called_dead) {
    const auto s = load_setup("28.5-ip6tables-on");
    const auto a = assess_route(assess(s), s.kernel, "elsewhere", "2001:db8:99::2", false);
    EXPECT_STREQ(to_string(a.state), "effective");
}

// ---------------------------------------------------------------------------------------------
// host_rules_block

TEST(docker_setup_host_rules, block_is_empty_when_nothing_is_wanted) {
    EXPECT_EQ(host_rules_block(false, false, false), "");
    EXPECT_EQ(host_rules_block(false, true, false), "") << "egress alone needs no rules";
}

TEST(docker_setup_host_rules, bridge_rules_with_and_without_egress) {
    const auto with = host_rules_block(true, true, false);
    EXPECT_TRUE(contains(with, ":dockgate6-forward - [0:0]\n")) << with;
    EXPECT_TRUE(contains(with, "-A ufw6-after-forward -j dockgate6-forward\n")) << with;
    EXPECT_TRUE(contains(with, "-A dockgate6-forward -i docker0 -o docker0 -j ACCEPT\n")) << with;
    EXPECT_TRUE(contains(with, "-A dockgate6-forward -i docker0 -j ACCEPT\n")) << with;
    EXPECT_TRUE(contains(with, "-A dockgate6-forward -i br-+ -j ACCEPT\n")) << with;
    EXPECT_FALSE(contains(with, "DOCKER-USER")) << with;
    EXPECT_TRUE(with.ends_with("# END dockgate host rules\n")) << with;

    const auto without = host_rules_block(true, false, false);
    EXPECT_TRUE(contains(without, ":dockgate6-forward - [0:0]\n"));
    EXPECT_TRUE(contains(without, "-A ufw6-after-forward -j dockgate6-forward\n"));
    EXPECT_TRUE(contains(without, "-A dockgate6-forward -i docker0 -o docker0 -j ACCEPT\n"));
    EXPECT_FALSE(contains(without, "-A dockgate6-forward -i docker0 -j ACCEPT")) << without;
    EXPECT_FALSE(contains(without, "-A dockgate6-forward -i br-+ -j ACCEPT")) << without;
    EXPECT_FALSE(contains(without, "RETURN")) << without;
    EXPECT_FALSE(contains(without, "outgoing")) << without;
}

TEST(docker_setup_host_rules, every_guard_rule_carries_the_comment) {
    const auto block = host_rules_block(false, true, true);
    EXPECT_TRUE(contains(block, ":DOCKER-USER - [0:0]\n")) << block;
    EXPECT_FALSE(contains(block, "dockgate6-forward")) << block;
    std::size_t rules = 0;
    std::string_view rest = block;
    while (!rest.empty()) {
        const auto eol = rest.find('\n');
        const auto line = rest.substr(0, eol);
        rest.remove_prefix(eol == std::string_view::npos ? rest.size() : eol + 1);
        if (line.starts_with("-A ")) {
            ++rules;
            EXPECT_TRUE(line.starts_with("-A DOCKER-USER ")) << line;
            EXPECT_TRUE(contains(line, "-m comment --comment dockgate-guard ")) << line;
        }
    }
    EXPECT_GT(rules, 0U);
    // New connections from outside go through ufw's forward rules, and are dropped otherwise.
    EXPECT_TRUE(
        contains(block, "-o br-+ -m comment --comment dockgate-guard -j ufw6-before-forward\n"));
    EXPECT_TRUE(contains(block, "-o br-+ -m comment --comment dockgate-guard -j DROP\n"));
    EXPECT_LT(block.find("-j ufw6-before-forward"), block.find("-j DROP"));
}

// ---------------------------------------------------------------------------------------------
// splice_host_rules on ufw's own after6.rules

TEST(docker_setup_host_rules, splice_into_the_pristine_after6_rules) {
    const auto pristine = test::test_data("docker-setups/after6.rules.pristine");
    const auto block = host_rules_block(true, true, true);
    const auto spliced = splice_host_rules(pristine, block);
    ASSERT_TRUE(spliced.has_value());
    const auto at = spliced->find(block);
    ASSERT_NE(at, std::string::npos) << *spliced;
    const auto filter = spliced->find("*filter");
    const auto commit = spliced->find("\nCOMMIT", filter);
    ASSERT_NE(filter, std::string::npos);
    ASSERT_NE(commit, std::string::npos);
    EXPECT_GT(at, filter);
    EXPECT_LT(at, commit) << "the block lands inside *filter, before COMMIT";
    EXPECT_EQ(count_of(*spliced, "\nCOMMIT"), count_of(pristine, "\nCOMMIT"));
    EXPECT_EQ(spliced->size(), pristine.size() + block.size()) << "nothing of ufw's is lost";
    // ufw's "don't delete the 'COMMIT' line" comment stays next to the COMMIT.
    EXPECT_TRUE(contains(
        *spliced, "# don't delete the 'COMMIT' line or these rules won't be processed\nCOMMIT"));

    const auto twice = splice_host_rules(*spliced, block);
    ASSERT_TRUE(twice.has_value());
    EXPECT_EQ(*twice, *spliced) << "splicing is idempotent";

    const auto other = splice_host_rules(*spliced, host_rules_block(true, false, false));
    ASSERT_TRUE(other.has_value());
    EXPECT_EQ(count_of(*other, "# BEGIN dockgate host rules"), 1U) << "the old block is replaced";
    EXPECT_FALSE(contains(*other, "dockgate-guard"));

    const auto removed = splice_host_rules(*spliced, "");
    ASSERT_TRUE(removed.has_value());
    EXPECT_EQ(*removed, pristine) << "removing the block restores ufw's file byte for byte";
    const auto removed_other = splice_host_rules(*other, "");
    ASSERT_TRUE(removed_other.has_value());
    EXPECT_EQ(*removed_other, pristine);

    const auto untouched = splice_host_rules(pristine, "");
    ASSERT_TRUE(untouched.has_value());
    EXPECT_EQ(*untouched, pristine);
}

TEST(docker_setup_host_rules, splice_refuses_a_file_without_a_filter_commit) {
    const auto block = host_rules_block(true, true, false);
    EXPECT_FALSE(splice_host_rules("*filter\n:ufw6-after-forward - [0:0]\n", block).has_value());
    EXPECT_FALSE(splice_host_rules("", block).has_value());
    EXPECT_FALSE(splice_host_rules("*nat\nCOMMIT\n", block).has_value());

    // A block cut short (BEGIN without END) is left to the admin.
    const auto pristine = test::test_data("docker-setups/after6.rules.pristine");
    auto cut = *splice_host_rules(pristine, block);
    cut.erase(cut.find("# END dockgate host rules"));
    EXPECT_FALSE(splice_host_rules(cut, block).has_value());
}

// ---------------------------------------------------------------------------------------------
// host_rules_kernel_update

TEST(docker_setup_host_rules, kernel_update_loads_the_bridge_rules) {
    const auto none = facts_with({&kernel_facts::ufw_chains});
    const auto doc = host_rules_kernel_update(true, true, false, none);
    EXPECT_TRUE(doc.starts_with("*filter\n")) << doc;
    EXPECT_TRUE(doc.ends_with("COMMIT\n")) << doc;
    EXPECT_TRUE(contains(doc, ":dockgate6-forward - [0:0]\n")) << doc;
    EXPECT_TRUE(contains(doc, "-A ufw6-after-forward -j dockgate6-forward\n")) << doc;
    EXPECT_FALSE(contains(doc, "# ")) << "no comment lines in the kernel document";

    const auto loaded = facts_with({&kernel_facts::bridge_rules, &kernel_facts::ufw_chains});
    const auto again = host_rules_kernel_update(true, false, false, loaded);
    EXPECT_TRUE(contains(again, ":dockgate6-forward - [0:0]\n")) << again;
    EXPECT_FALSE(contains(again, "-A ufw6-after-forward -j dockgate6-forward"))
        << "an -A would duplicate the jump";
    EXPECT_FALSE(contains(again, "-D ")) << again;
}

TEST(docker_setup_host_rules, kernel_update_removes_what_is_no_longer_wanted) {
    const auto loaded = facts_with({&kernel_facts::bridge_rules, &kernel_facts::ufw_chains});
    const auto doc = host_rules_kernel_update(false, true, false, loaded);
    EXPECT_TRUE(doc.starts_with("*filter\n")) << doc;
    EXPECT_TRUE(doc.ends_with("COMMIT\n")) << doc;
    const auto del = doc.find("-D ufw6-after-forward -j dockgate6-forward\n");
    const auto flush = doc.find("-F dockgate6-forward\n");
    const auto remove = doc.find("-X dockgate6-forward\n");
    ASSERT_NE(del, std::string::npos) << doc;
    ASSERT_NE(flush, std::string::npos) << doc;
    ASSERT_NE(remove, std::string::npos) << doc;
    EXPECT_LT(del, flush);
    EXPECT_LT(flush, remove) << "a chain is emptied and unreferenced before it is deleted";

    const auto guarded = facts_with(
        {&kernel_facts::docker_filter, &kernel_facts::docker_user, &kernel_facts::guard});
    const auto unguard = host_rules_kernel_update(false, true, false, guarded);
    EXPECT_TRUE(contains(unguard, ":DOCKER-USER - [0:0]\n")) << "flushes the guard";
    EXPECT_FALSE(contains(unguard, "dockgate-guard")) << unguard;
    EXPECT_FALSE(contains(unguard, "dockgate6-forward")) << unguard;
}

TEST(docker_setup_host_rules, kernel_update_empty_when_nothing_wanted_or_there) {
    EXPECT_EQ(host_rules_kernel_update(false, true, false, facts_with({&kernel_facts::ufw_chains})),
              "");
    EXPECT_EQ(host_rules_kernel_update(false, false, false, load_setup("28.5-ip6tables-on").kernel),
              "");
}

TEST(docker_setup_host_rules, kernel_update_loads_the_guard) {
    const auto k = load_setup("28.5-ip6tables-on").kernel;
    const auto doc = host_rules_kernel_update(false, true, true, k);
    EXPECT_TRUE(contains(doc, ":DOCKER-USER - [0:0]\n")) << doc;
    EXPECT_EQ(count_of(doc, "--comment dockgate-guard"), count_of(doc, "-A DOCKER-USER")) << doc;
    // Reloading an existing guard replaces it (the declaration flushes the chain).
    auto guarded = k;
    guarded.guard = true;
    EXPECT_EQ(host_rules_kernel_update(false, true, true, guarded), doc);
}

// ---------------------------------------------------------------------------------------------
// fw.publish follows the setup

container_info web_container() {
    std::string why;
    auto c = decode_inspect(fixture_json("28.5-ip6tables-on/inspect-web.json"), &why);
    if (!c) {
        throw std::runtime_error(why);
    }
    c->labels = {{"fw.publish", "8081"}};
    return *c;
}

std::vector<std::string> tuples_of(const evaluation& e) {
    std::vector<std::string> out;
    for (const auto& r : e.rules) {
        out.push_back(r.what.tuple());
    }
    std::sort(out.begin(), out.end());
    return out;
}

TEST(docker_setup_publish, container_port_target_is_a_route_rule) {
    const auto c = web_container();
    ASSERT_TRUE(std::any_of(c.published.begin(), c.published.end(), [](const port_binding& b) {
        return b.host_port == 8081 && b.container_port == 80 && b.proto == "tcp";
    }));
    policy pol = builtin_policy();
    pol.allow_publish = true;

    const auto routed = evaluate(c, pol, publish_target::container_port);
    EXPECT_TRUE(routed.rejected.empty()) << routed.rejected.front();
    EXPECT_EQ(tuples_of(routed),
              std::vector<std::string>{"route:allow tcp 80 2001:db8:10::2 any ::/0 in"});

    const auto host = evaluate(c, pol, publish_target::host_port);
    EXPECT_TRUE(host.rejected.empty()) << host.rejected.front();
    EXPECT_EQ(tuples_of(host), std::vector<std::string>{"allow tcp 8081 ::/0 any ::/0 in"});

    EXPECT_EQ(tuples_of(evaluate(c, pol)), tuples_of(host)) << "host_port is the default";
}

TEST(docker_setup_publish, container_port_target_keeps_the_policy_checks) {
    auto c = web_container();
    policy pol = builtin_policy();
    const auto refused = evaluate(c, pol, publish_target::container_port);
    EXPECT_TRUE(refused.rules.empty());
    ASSERT_EQ(refused.rejected.size(), 1U);
    EXPECT_EQ(refused.rejected[0].label, "fw.publish");

    pol.allow_publish = true;
    c.labels = {{"fw.publish", "9999"}};
    const auto unknown = evaluate(c, pol, publish_target::container_port);
    EXPECT_TRUE(unknown.rules.empty());
    ASSERT_EQ(unknown.rejected.size(), 1U);
    EXPECT_TRUE(contains(unknown.rejected[0].reason, "not a published host port"));
}

// ---------------------------------------------------------------------------------------------
// policy keys

TEST(docker_setup_policy, egress_and_guard_keys_parse) {
    policy_error error;
    const auto defaults = parse_policy("{}", "p.json", &error);
    ASSERT_TRUE(defaults.has_value()) << error.to_string();
    EXPECT_TRUE(defaults->egress);
    EXPECT_TRUE(defaults->docker_user_guard);

    const auto pol =
        parse_policy(R"({"egress": false, "docker_user_guard": "off"})", "p.json", &error);
    ASSERT_TRUE(pol.has_value()) << error.to_string();
    EXPECT_FALSE(pol->egress);
    EXPECT_FALSE(pol->docker_user_guard);

    const auto automatic =
        parse_policy(R"({"egress": true, "docker_user_guard": "auto"})", "p.json", &error);
    ASSERT_TRUE(automatic.has_value()) << error.to_string();
    EXPECT_TRUE(automatic->egress);
    EXPECT_TRUE(automatic->docker_user_guard);
}

TEST(docker_setup_policy, bad_values_are_refused_naming_the_key) {
    for (const auto* text :
         {"{\n  \"docker_user_guard\": \"on\"\n}", "{\n  \"docker_user_guard\": true\n}",
          "{\n  \"docker_user_guard\": \"Auto\"\n}"}) {
        policy_error error;
        EXPECT_FALSE(parse_policy(text, "p.json", &error).has_value()) << text;
        EXPECT_EQ(error.line, 2) << error.to_string();
        EXPECT_TRUE(contains(error.reason, "\"docker_user_guard\"")) << error.reason;
    }
    policy_error error;
    EXPECT_FALSE(parse_policy("{\n  \"egress\": \"no\"\n}", "p.json", &error).has_value());
    EXPECT_TRUE(contains(error.reason, "\"egress\"")) << error.reason;
}

} // namespace
} // namespace dockgate
