// Unit tests for the policy store: the shipped example, built-in defaults, every key, every error
// with its line.
#include "dockgate/policy/policy.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

#include "test_support.hpp"

namespace dockgate {
namespace {

using test::prefix;

port_spec tcp(std::uint16_t first, std::uint16_t last = 0) {
    return {{first, last == 0 ? first : last}, protocol::tcp};
}
port_spec udp(std::uint16_t first, std::uint16_t last = 0) {
    return {{first, last == 0 ? first : last}, protocol::udp};
}

const std::string example_path = DOCKGATE_TEST_DATA "/../../config/policy.json";

// ---------------------------------------------------------------------------------------------
// port_spec

TEST(port_spec, parses_the_label_and_policy_forms) {
    std::string why;
    EXPECT_EQ(parse_port_spec("80", &why), tcp(80));
    EXPECT_EQ(parse_port_spec("80/tcp", &why), tcp(80));
    EXPECT_EQ(parse_port_spec("53/udp", &why), udp(53));
    EXPECT_EQ(parse_port_spec("8000-8010", &why), tcp(8000, 8010));
    EXPECT_EQ(parse_port_spec("6000-6010/udp", &why), udp(6000, 6010));
    EXPECT_EQ(parse_port_spec("1-65535/tcp", &why), tcp(1, 65535));
}

TEST(port_spec, text_form) {
    EXPECT_EQ(tcp(80).to_string(), "80/tcp");
    EXPECT_EQ(udp(443).to_string(), "443/udp");
    EXPECT_EQ(tcp(2375, 2376).to_string(), "2375-2376/tcp");
}

TEST(port_spec, refusals_say_why) {
    const std::vector<std::pair<const char*, const char*>> bad{
        {"", "not a decimal"},
        {"/tcp", "not a decimal"},
        {"80/", "tcp or udp"},
        {"80/sctp", "tcp or udp"},
        {"80/TCP", "tcp or udp"},
        {"0080", "leading zero"},
        {"0", "outside 1-65535"},
        {"65536/udp", "outside 1-65535"},
        {"80-", "not a decimal"},
        {"-80", "not a decimal"},
        {"90-80", "range end must be above its start"},
        {"80-80", "range end must be above its start"},
        {"80-90-100", "not a decimal"},
        {"80 /tcp", "not a decimal"},
        {"http", "not a decimal"},
    };
    for (const auto& [text, reason] : bad) {
        std::string why;
        EXPECT_FALSE(parse_port_spec(text, &why).has_value()) << text;
        EXPECT_NE(why.find(reason), std::string::npos) << "\"" << text << "\": " << why;
    }
}

// ---------------------------------------------------------------------------------------------
// defaults

void expect_builtin(const policy& pol) {
    EXPECT_EQ(pol.label_prefix, "fw.");
    EXPECT_EQ(pol.mode, label_mode::open);
    EXPECT_TRUE(pol.profiles.empty());
    EXPECT_TRUE(pol.allowed_ports.empty());
    EXPECT_TRUE(pol.denied_ports.empty());
    EXPECT_TRUE(pol.networks.empty());
    EXPECT_EQ(pol.prefixes, std::vector<ip_prefix>{prefix("2000::/3")});
    EXPECT_EQ(pol.sources, std::vector<ip_prefix>{prefix("::/0")});
    EXPECT_EQ(pol.max_rules_per_container, 64U);
    EXPECT_FALSE(pol.allow_publish);
    EXPECT_FALSE(pol.manage_ipv4);
    const std::map<std::string, std::vector<port_spec>> services{
        {"http", {tcp(80)}},    {"https", {tcp(443), udp(443)}},
        {"ssh", {tcp(22)}},     {"dns", {tcp(53), udp(53)}},
        {"smtp", {tcp(25)}},    {"submission", {tcp(587)}},
        {"imaps", {tcp(993)}},  {"postgresql", {tcp(5432)}},
        {"mysql", {tcp(3306)}}, {"redis", {tcp(6379)}},
        {"mqtt", {tcp(1883)}},  {"ntp", {udp(123)}},
    };
    EXPECT_EQ(pol.services, services);
}

TEST(policy, a_key_given_twice_is_an_error_at_its_line) {
    // The later one would silently win: here it would open every source prefix.
    policy_error error;
    const auto pol =
        parse_policy("{\n  \"prefixes\": [\"2001:db8::/32\"],\n  \"prefixes\": [\"::/0\"]\n}\n",
                     "p.json", &error);
    EXPECT_FALSE(pol.has_value());
    EXPECT_EQ(error.line, 3);
    EXPECT_NE(error.reason.find("\"prefixes\" is given twice"), std::string::npos) << error.reason;
    // The same key in two different objects is fine.
    const auto two = parse_policy(
        R"({"profiles": {"a": {"ports": ["80"]}, "b": {"ports": ["81"]}}})", "p.json", &error);
    EXPECT_TRUE(two.has_value()) << error.to_string();
}

TEST(policy, label_limits_are_keys_with_bounds) {
    policy_error error;
    const auto pol =
        parse_policy(R"({"max_label_bytes": 1024, "max_label_items": 8})", "p.json", &error);
    ASSERT_TRUE(pol.has_value()) << error.to_string();
    EXPECT_EQ(pol->max_label_bytes, 1024U);
    EXPECT_EQ(pol->max_label_items, 8U);
    EXPECT_FALSE(parse_policy(R"({"max_label_items": 0})", "p.json", &error).has_value());
    EXPECT_FALSE(parse_policy(R"({"max_label_bytes": 100000})", "p.json", &error).has_value());
}

TEST(policy, builtin_defaults) {
    expect_builtin(builtin_policy());
}

TEST(policy, empty_document_is_the_builtin_policy) {
    policy_error error;
    const auto pol = parse_policy("{}", "p.json", &error);
    ASSERT_TRUE(pol.has_value()) << error.to_string();
    expect_builtin(*pol);
}

TEST(policy, only_comments_around_an_empty_object) {
    policy_error error;
    const auto pol = parse_policy("// nothing to change\n{\n  // really\n}\n", "p.json", &error);
    ASSERT_TRUE(pol.has_value()) << error.to_string();
    expect_builtin(*pol);
}

// ---------------------------------------------------------------------------------------------
// the shipped example

TEST(policy, shipped_example_parses_to_what_it_says) {
    policy_error error;
    bool used_builtin = true;
    const auto pol = load_policy_file(example_path, &error, &used_builtin);
    ASSERT_TRUE(pol.has_value()) << error.to_string();
    EXPECT_FALSE(used_builtin);

    EXPECT_EQ(pol->label_prefix, "fw.");
    EXPECT_EQ(pol->services.at("grafana"), std::vector<port_spec>{tcp(3000)});
    EXPECT_EQ(pol->services.at("syncthing"), (std::vector<port_spec>{tcp(22000), udp(22000)}));
    // Merged over the built-in table, not replacing it.
    EXPECT_EQ(pol->services.at("http"), std::vector<port_spec>{tcp(80)});
    EXPECT_EQ(pol->services.size(), builtin_policy().services.size() + 2);

    ASSERT_EQ(pol->profiles.size(), 2U);
    const auto& web = pol->profiles.at("public-web");
    EXPECT_EQ(web.ports, (std::vector<port_spec>{tcp(80), tcp(443), udp(443)}));
    EXPECT_TRUE(web.sources.empty());
    EXPECT_FALSE(web.limit);
    EXPECT_FALSE(web.log);
    const auto& ssh = pol->profiles.at("office-ssh");
    EXPECT_EQ(ssh.ports, std::vector<port_spec>{tcp(22)});
    EXPECT_EQ(ssh.sources, std::vector<ip_prefix>{prefix("2001:db8:1234::/48")});
    EXPECT_TRUE(ssh.limit);
    EXPECT_TRUE(ssh.log);

    EXPECT_EQ(pol->mode, label_mode::open);
    EXPECT_EQ(pol->allowed_ports, (std::vector<port_spec>{tcp(1, 65535), udp(1, 65535)}));
    EXPECT_EQ(pol->denied_ports, std::vector<port_spec>{tcp(2375, 2376)});
    EXPECT_TRUE(pol->networks.empty());
    EXPECT_EQ(pol->prefixes, std::vector<ip_prefix>{prefix("2000::/3")});
    EXPECT_EQ(pol->sources, std::vector<ip_prefix>{prefix("::/0")});
    EXPECT_EQ(pol->max_rules_per_container, 64U);
    EXPECT_FALSE(pol->allow_publish);
    EXPECT_FALSE(pol->manage_ipv4);
}

// ---------------------------------------------------------------------------------------------
// every key

TEST(policy, every_key_is_applied) {
    const char* text = R"({
  "label_prefix": "dockgate.",
  "services": { "http": ["8080/tcp"], "game": ["27015/udp", "27015-27020/tcp"] },
  "profiles": {
    "admin": { "ports": ["22/tcp"], "from": ["2001:db8:1::/48", "any"], "limit": true, "log": false }
  },
  "mode": "strict",
  "allowed_ports": ["1-1024/tcp"],
  "denied_ports": ["25/tcp", "2375-2376/tcp"],
  "networks": ["v6net", "backend"],
  "prefixes": ["2001:db8::/32", "fd00::/8"],
  "sources": ["2001:db8:1::/48"],
  "max_rules_per_container": 10000,
  "allow_publish": true,
  "manage_ipv4": true
})";
    policy_error error;
    const auto pol = parse_policy(text, "p.json", &error);
    ASSERT_TRUE(pol.has_value()) << error.to_string();
    EXPECT_EQ(pol->label_prefix, "dockgate.");
    EXPECT_EQ(pol->services.at("http"), std::vector<port_spec>{tcp(8080)});
    EXPECT_EQ(pol->services.at("game"), (std::vector<port_spec>{udp(27015), tcp(27015, 27020)}));
    EXPECT_EQ(pol->services.at("https"), (std::vector<port_spec>{tcp(443), udp(443)}));
    const auto& admin = pol->profiles.at("admin");
    EXPECT_EQ(admin.ports, std::vector<port_spec>{tcp(22)});
    EXPECT_EQ(admin.sources, (std::vector<ip_prefix>{prefix("2001:db8:1::/48"), prefix("::/0")}));
    EXPECT_TRUE(admin.limit);
    EXPECT_FALSE(admin.log);
    EXPECT_EQ(pol->mode, label_mode::strict);
    EXPECT_EQ(pol->allowed_ports, std::vector<port_spec>{tcp(1, 1024)});
    EXPECT_EQ(pol->denied_ports, (std::vector<port_spec>{tcp(25), tcp(2375, 2376)}));
    EXPECT_EQ(pol->networks, (std::vector<std::string>{"v6net", "backend"}));
    EXPECT_EQ(pol->prefixes, (std::vector<ip_prefix>{prefix("2001:db8::/32"), prefix("fd00::/8")}));
    EXPECT_EQ(pol->sources, std::vector<ip_prefix>{prefix("2001:db8:1::/48")});
    EXPECT_EQ(pol->max_rules_per_container, 10000U);
    EXPECT_TRUE(pol->allow_publish);
    EXPECT_TRUE(pol->manage_ipv4);
}

TEST(policy, sources_any_means_all_of_ipv6) {
    policy_error error;
    const auto pol = parse_policy(
        R"({"sources": ["any"], "mode": "open", "max_rules_per_container": 1})", "p.json", &error);
    ASSERT_TRUE(pol.has_value()) << error.to_string();
    EXPECT_EQ(pol->sources, std::vector<ip_prefix>{prefix("::/0")});
    EXPECT_EQ(pol->max_rules_per_container, 1U);
}

TEST(policy, empty_lists_clear_the_defaults_where_allowed) {
    policy_error error;
    const auto pol =
        parse_policy(R"({"allowed_ports": [], "denied_ports": [], "networks": [], "sources": []})",
                     "p.json", &error);
    ASSERT_TRUE(pol.has_value()) << error.to_string();
    EXPECT_TRUE(pol->allowed_ports.empty());
    EXPECT_TRUE(pol->sources.empty()) << "no source may be named by labels";
}

// ---------------------------------------------------------------------------------------------
// errors, each with the line an admin has to look at

struct error_case {
    std::string name;
    std::string text;
    int line;
    std::string reason_part;
    friend void PrintTo(const error_case& c, std::ostream* os) { *os << c.name; }
};

std::vector<error_case> error_cases() {
    return {
        {"not_json_missing_comma", "{\n  \"mode\": \"open\"\n  \"manage_ipv4\": true\n}\n", 3,
         "not valid JSON"},
        {"not_json_trailing_comma", "{\n  \"mode\": \"open\",\n}\n", 3, "not valid JSON"},
        {"not_json_bad_literal", "{\n  \"allow_publish\": tru\n}\n", 2, "not valid JSON"},
        {"not_json_unquoted_key", "{\n\n\n  mode: \"open\"\n}\n", 4, "not valid JSON"},
        {"not_json_empty", "", 1, "not valid JSON"},
        {"not_json_after_comment_lines",
         "// dockgate policy\n// more words\n{\n  \"mode\": \"open\",,\n}\n", 4, "not valid JSON"},
        {"inline_comment_is_not_json", "{\n  \"mode\": \"open\" // why\n}\n", 2, "not valid JSON"},
        {"not_an_object", "[\"http\"]\n", 1, "must be a JSON object"},
        {"unknown_key", "{\n  \"mode\": \"open\",\n  \"manage_ipv6\": true\n}\n", 3,
         "unknown key \"manage_ipv6\""},
        {"unknown_key_after_comments", "// a\n// b\n{\n  // c\n  \"allow_publsh\": true\n}\n", 5,
         "unknown key \"allow_publsh\""},
        {"label_prefix_empty", "{\n  \"label_prefix\": \"\"\n}", 2, "1-32 characters"},
        {"label_prefix_with_equals", "{\n  \"label_prefix\": \"fw=\"\n}", 2, "without '='"},
        {"label_prefix_too_long", "{\n  \"label_prefix\": \"" + std::string(33, 'a') + "\"\n}", 2,
         "1-32"},
        {"label_prefix_not_a_string", "{\n  \"label_prefix\": 5\n}", 2,
         "\"label_prefix\" must be a string"},
        {"services_not_an_object", "{\n\n  \"services\": [\"http\"]\n}", 3,
         "\"services\" must be an object"},
        {"service_bad_port",
         "{\n  \"services\": {\n    \"grafana\": [\"3000/tcp\"],\n    \"legacy\": [\"0080\"]\n  "
         "}\n}",
         4, "\"legacy\": \"0080\": port has a leading zero"},
        {"service_bad_protocol", "{\n  \"services\": {\n    \"sctpd\": [\"9000/sctp\"]\n  }\n}", 3,
         "tcp or udp"},
        {"service_ports_not_strings", "{\n  \"services\": {\n    \"web\": [80]\n  }\n}", 3,
         "only strings"},
        {"service_bad_name", "{\n  \"services\": {\n    \"Web App\": [\"80\"]\n  }\n}", 3,
         "[a-z0-9_-]"},
        {"profiles_not_an_object", "{\n  \"profiles\": []\n}", 2, "\"profiles\" must be an object"},
        {"profile_not_an_object", "{\n  \"profiles\": {\n    \"web\": [\"80\"]\n  }\n}", 3,
         "\"web\" must be an object"},
        {"profile_without_ports",
         "{\n  \"profiles\": {\n    \"quiet\": { \"limit\": true }\n  }\n}", 3,
         "profile \"quiet\" opens no ports"},
        {"profile_with_empty_ports",
         "{\n  \"profiles\": {\n    \"quiet\": {\n      \"ports\": []\n    }\n  }\n}", 3,
         "opens no ports"},
        {"profile_unknown_key",
         "{\n  \"profiles\": {\n    \"web\": {\n      \"ports\": [\"80\"],\n      \"limits\": "
         "true\n    }\n  }\n}",
         5, "unknown key \"limits\" in profile \"web\""},
        {"profile_bad_from",
         "{\n  \"profiles\": {\n    \"web\": {\n      \"ports\": [\"80\"],\n      \"from\": "
         "[\"2001:db8::1/64\"]\n    }\n  }\n}",
         5, "bits set beyond the prefix"},
        {"profile_limit_not_boolean",
         "{\n  \"profiles\": {\n    \"web\": {\n      \"ports\": [\"80\"],\n      \"limit\": "
         "\"yes\"\n    }\n  }\n}",
         5, "\"limit\" must be true or false"},
        // The offending key of the second profile, not the same key of the first one.
        {"second_profile_bad_port",
         "{\n  \"profiles\": {\n    \"a\": { \"ports\": [\"80\"] },\n    \"b\": {\n      "
         "\"ports\": [\"0443\"]\n    }\n  }\n}",
         5, "leading zero"},
        {"second_profile_unknown_key",
         "{\n  \"profiles\": {\n    \"a\": { \"ports\": [\"80\"], \"log\": true },\n    \"b\": {\n "
         "     \"ports\": [\"443\"],\n"
         "      \"log\": 1\n    }\n  }\n}",
         6, "\"log\" must be true or false"},
        {"profile_named_like_a_service",
         "{\n  \"profiles\": {\n\n    \"http\": { \"ports\": [\"80\"] }\n  }\n}", 4,
         "\"http\" is both a service and a profile"},
        {"profile_named_like_a_policy_service",
         "{\n  \"profiles\": {\n    \"grafana\": { \"ports\": [\"3000\"] }\n  },\n  \"services\": "
         "{\n    \"grafana\": [\"3000\"]\n  }\n}",
         3, "both a service and a profile"},
        {"profile_bad_name", "{\n  \"profiles\": {\n    \"Admin\": { \"ports\": [\"22\"] }\n  }\n}",
         3, "[a-z0-9_-]"},
        {"mode_unknown", "{\n  \"mode\": \"permissive\"\n}", 2,
         "\"mode\" must be \"open\" or \"strict\""},
        {"mode_upper_case", "{\n  \"mode\": \"Strict\"\n}", 2, "\"open\" or \"strict\""},
        {"mode_not_a_string", "{\n  \"mode\": true\n}", 2, "\"mode\" must be a string"},
        {"allowed_ports_bad", "{\n  \"allowed_ports\": [\"1-65535/tcp\", \"80/sctp\"]\n}", 2,
         "\"80/sctp\""},
        {"denied_ports_reversed", "{\n\n  \"denied_ports\": [\"2376-2375/tcp\"]\n}", 3,
         "range end"},
        {"denied_ports_not_a_list", "{\n  \"denied_ports\": \"2375/tcp\"\n}", 2,
         "a list of strings"},
        {"networks_not_strings", "{\n  \"networks\": [\"v6net\", 5]\n}", 2, "only strings"},
        // A bad value on its own line is reported at that line.
        {"bad_value_in_a_multi_line_list",
         "{\n  \"denied_ports\": [\n    \"2375/tcp\",\n    \"2376-2375/tcp\"\n  ]\n}", 4,
         "range end"},
        {"bad_value_in_a_multi_line_profile_list",
         "{\n  \"profiles\": {\n    \"web\": {\n      \"ports\": [\n        \"80/tcp\",\n        "
         "\"443/sctp\"\n      ]\n"
         "    }\n  }\n}",
         6, "tcp or udp"},
        // The same bad text elsewhere earlier in the file must not steal the line.
        {"same_text_earlier_in_the_file_does_not_steal_the_line",
         "{\n  \"label_prefix\": \"fw.\",\n  \"networks\": [\"0080\"],\n  \"allowed_ports\": [\n   "
         " \"0080\"\n  ]\n}",
         5, "leading zero"},
        {"prefix_bad", "{\n  \"prefixes\": [\"2001:db8::1/64\"]\n}", 2,
         "\"2001:db8::1/64\": address has bits set"},
        {"prefix_not_an_address", "{\n  \"prefixes\": [\"global\"]\n}", 2, "not an IPv6 or IPv4"},
        {"prefix_link_local",
         "{\n  \"mode\": \"open\",\n  \"prefixes\": [\"2000::/3\", \"fe80::/10\"]\n}", 3,
         "may not include link-local"},
        {"prefix_link_local_subnet", "{\n  \"prefixes\": [\"fe80::/64\"]\n}", 2, "link-local"},
        {"prefixes_empty", "{\n  \"mode\": \"open\",\n\n  \"prefixes\": []\n}", 4,
         "\"prefixes\" is empty"},
        {"sources_bad", "{\n  \"sources\": [\"banana\"]\n}", 2, "\"banana\""},
        {"max_rules_zero", "{\n  \"max_rules_per_container\": 0\n}", 2, "1-10000"},
        {"max_rules_negative", "{\n  \"max_rules_per_container\": -1\n}", 2, "1-10000"},
        {"max_rules_too_many", "{\n  \"max_rules_per_container\": 10001\n}", 2, "1-10000"},
        {"max_rules_fraction", "{\n  \"max_rules_per_container\": 1.5\n}", 2, "1-10000"},
        {"max_rules_string", "{\n  \"max_rules_per_container\": \"64\"\n}", 2, "1-10000"},
        {"allow_publish_not_boolean", "{\n  \"allow_publish\": \"yes\"\n}", 2,
         "\"allow_publish\" must be true or false"},
        {"manage_ipv4_not_boolean", "{\n  \"manage_ipv4\": 1\n}", 2,
         "\"manage_ipv4\" must be true or false"},
    };
}

class policy_refused : public ::testing::TestWithParam<error_case> {};

TEST_P(policy_refused, at_the_right_line) {
    const auto& c = GetParam();
    policy_error error;
    const auto pol = parse_policy(c.text, "/etc/dockgate/policy.json", &error);
    EXPECT_FALSE(pol.has_value()) << c.text;
    EXPECT_EQ(error.file, "/etc/dockgate/policy.json");
    EXPECT_EQ(error.line, c.line) << error.to_string() << "\n---\n" << c.text;
    EXPECT_NE(error.reason.find(c.reason_part), std::string::npos) << error.reason;
}

INSTANTIATE_TEST_SUITE_P(errors, policy_refused, ::testing::ValuesIn(error_cases()),
                         [](const auto& p) { return p.param.name; });

TEST(policy, comment_lines_keep_line_numbers) {
    // "//" lines (also indented, also CRLF) are blanked, not removed, so errors still point right.
    const std::string text =
        "// header\r\n{\r\n    // indented comment\r\n\t// tab comment\r\n  \"nope\": 1\r\n}\r\n";
    policy_error error;
    EXPECT_FALSE(parse_policy(text, "p.json", &error).has_value());
    EXPECT_EQ(error.line, 5) << error.to_string();
    EXPECT_NE(error.reason.find("unknown key \"nope\""), std::string::npos);
}

TEST(policy, error_text) {
    EXPECT_EQ((policy_error{"/etc/dockgate/policy.json", 7, "unknown key \"x\""}.to_string()),
              "/etc/dockgate/policy.json:7: unknown key \"x\"");
    EXPECT_EQ((policy_error{"/etc/dockgate/policy.json", 0, "cannot read"}.to_string()),
              "/etc/dockgate/policy.json: cannot read");
}

// ---------------------------------------------------------------------------------------------
// load_policy_file

class policy_file : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ = std::filesystem::path(::testing::TempDir()) /
               ("dockgate-policy-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::remove_all(dir_);
        std::filesystem::create_directories(dir_);
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }
    std::string write(const std::string& name, const std::string& text) {
        const auto path = dir_ / name;
        std::ofstream(path) << text;
        return path.string();
    }
    std::filesystem::path dir_;
};

TEST_F(policy_file, missing_file_means_builtin) {
    policy_error error;
    bool used_builtin = false;
    const auto pol = load_policy_file((dir_ / "absent.json").string(), &error, &used_builtin);
    ASSERT_TRUE(pol.has_value());
    EXPECT_TRUE(used_builtin);
    expect_builtin(*pol);
}

TEST_F(policy_file, missing_file_without_flag) {
    policy_error error;
    EXPECT_TRUE(load_policy_file((dir_ / "absent.json").string(), &error).has_value());
}

TEST_F(policy_file, existing_file_is_parsed) {
    const auto path = write("policy.json", "{\n  \"mode\": \"strict\"\n}\n");
    policy_error error;
    bool used_builtin = true;
    const auto pol = load_policy_file(path, &error, &used_builtin);
    ASSERT_TRUE(pol.has_value()) << error.to_string();
    EXPECT_FALSE(used_builtin);
    EXPECT_EQ(pol->mode, label_mode::strict);
}

TEST_F(policy_file, broken_file_is_refused_with_its_path_and_line_never_builtin) {
    const auto path = write("policy.json", "{\n  \"mode\": \"strict\",\n  \"typo\": 1\n}\n");
    policy_error error;
    bool used_builtin = true;
    EXPECT_FALSE(load_policy_file(path, &error, &used_builtin).has_value());
    EXPECT_FALSE(used_builtin);
    EXPECT_EQ(error.file, path);
    EXPECT_EQ(error.line, 3);
    EXPECT_EQ(error.to_string(), path + ":3: unknown key \"typo\"");
}

TEST_F(policy_file, a_directory_is_refused_not_replaced_by_builtin) {
    policy_error error;
    bool used_builtin = true;
    EXPECT_FALSE(load_policy_file(dir_.string(), &error, &used_builtin).has_value());
    EXPECT_FALSE(used_builtin);
}

} // namespace
} // namespace dockgate
