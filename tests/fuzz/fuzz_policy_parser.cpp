// libFuzzer target: policy files through parse_policy.
//
// A refused policy must say why; an accepted one must satisfy what the parser promises, and
// evaluating a container against it must stay within its rule cap.
#include "dockgate/model/container.hpp"
#include "dockgate/policy/labels.hpp"
#include "dockgate/policy/policy.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"

namespace {

using namespace dockgate;

const container_info& sample_container() {
    static const container_info c = [] {
        container_info info;
        info.id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        info.name = "web";
        info.running = true;
        info.networks = {{"v6net", "2001:db8::2", "172.18.0.2"}, {"edge", "fd00::5", "10.0.0.5"}};
        info.published = {{80, "tcp", 8080}, {53, "udp", 5353}};
        return info;
    }();
    return c;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    policy_error err;
    const auto pol = parse_policy(text, "fuzz.json", &err);
    if (!pol) {
        FUZZ_CHECK(!err.reason.empty() && err.file == "fuzz.json" && err.line >= 0);
        return 0;
    }
    FUZZ_CHECK(!pol->prefixes.empty() && !pol->label_prefix.empty());
    FUZZ_CHECK(pol->max_rules_per_container >= 1 && pol->max_rules_per_container <= 10000);
    for (const auto& p : pol->prefixes) {
        FUZZ_CHECK(!p.v6 || scope_of(p) != address_scope::link_local);
    }
    for (const auto& [name, prof] : pol->profiles) {
        FUZZ_CHECK(!prof.ports.empty() && !pol->services.contains(name));
    }

    // Name every service and profile in the labels, plus publish everything.
    container_info c = sample_container();
    std::string allow;
    for (const auto& [name, specs] : pol->services) {
        allow += name + ",";
    }
    for (const auto& [name, prof] : pol->profiles) {
        allow += name + ",";
    }
    allow += "8000-8010/tcp";
    c.labels[pol->label_prefix + "allow"] = allow;
    c.labels[pol->label_prefix + "allow.from"] = "any,2001:db8::/32";
    c.labels[pol->label_prefix + "publish"] = "auto";
    const auto ev = evaluate(c, *pol);
    FUZZ_CHECK(ev.rules.size() <= pol->max_rules_per_container);
    for (const auto& [r, owner] : ev.rules) {
        FUZZ_CHECK(r.port.first >= 1 && r.port.first <= r.port.last);
        FUZZ_CHECK(scope_of(r.destination) != address_scope::link_local);
    }
    return 0;
}
