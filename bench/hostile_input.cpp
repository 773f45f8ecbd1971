// Benchmark of hostile labels: evaluation cost against label size, and the status view with
// many containers (issue 16). Prints a markdown table; nothing here is a pass/fail test.
#include "dockgate/policy/labels.hpp"
#include "dockgate/policy/policy.hpp"
#include "dockgate/reconcile/controller.hpp"

#include <spdlog/sinks/null_sink.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "../tests/support/fake_engine.hpp"
#include "../tests/support/fake_firewall.hpp"

namespace {

using namespace dockgate;
using clock_type = std::chrono::steady_clock;

double median_ms(std::vector<double> samples) {
    std::sort(samples.begin(), samples.end());
    return samples[samples.size() / 2];
}

template <class Work> double time_ms(Work&& work, int runs) {
    std::vector<double> samples;
    for (int i = 0; i < runs; ++i) {
        const auto start = clock_type::now();
        work();
        samples.push_back(
            std::chrono::duration<double, std::milli>(clock_type::now() - start).count());
    }
    return median_ms(samples);
}

/// A container on three IPv6 networks whose fw.allow and fw.allow.from together take `bytes`.
container_info hostile_container(std::size_t bytes) {
    container_info c;
    c.id = std::string(64, 'a');
    c.name = "hostile";
    c.running = true;
    c.networks = {
        {"n1", "2001:db8:1::2", ""}, {"n2", "2001:db8:2::2", ""}, {"n3", "2001:db8:3::2", ""}};
    std::string allow;
    for (int port = 1; allow.size() < bytes / 2; ++port) {
        allow += std::to_string(port) + ",";
    }
    std::string from;
    while (from.size() < bytes / 2) {
        from += "any,";
    }
    c.labels = {{"fw.allow", allow}, {"fw.allow.from", from}};
    return c;
}

void label_curve() {
    std::printf("## Evaluating one container's labels (3 networks), median of 21 runs\n\n");
    std::printf("| label bytes | policy limits | rules | rejections | ms per evaluation |\n");
    std::printf("|---|---|---|---|---|\n");
    for (const std::size_t bytes : {1024UL, 8192UL, 32768UL, 131072UL}) {
        for (const bool raised : {false, true}) {
            auto pol = builtin_policy();
            if (raised) {
                // The most a policy may allow: 64 KiB and 1,024 items per label.
                pol.max_label_bytes = 65536;
                pol.max_label_items = 1024;
            }
            const auto c = hostile_container(bytes);
            evaluation last;
            const double ms = time_ms([&] { last = evaluate(c, pol); }, 21);
            std::printf("| %zu | %s | %zu | %zu | %.3f |\n", bytes,
                        raised ? "64 KiB / 1,024 items" : "4 KiB / 64 items (default)",
                        last.rules.size(), last.rejected.size(), ms);
        }
    }
    std::printf("\n");
}

void status_curve() {
    std::printf("## The status view (`dockgated status --json`), median of 11 renders\n\n");
    std::printf("| containers | document bytes | ms per status |\n|---|---|---|\n");
    for (const int count : {50, 200, 500}) {
        asio::io_context ioc;
        testing::fake_engine engine(ioc);
        testing::fake_firewall firewall;
        for (int k = 0; k < count; ++k) {
            testing::fake_container c{testing::container_id(k),
                                      "web" + std::to_string(k),
                                      {{"fw.allow", "http,https,8000-8010/udp"}},
                                      {{"v6net", "2001:db8:1::" + std::to_string(k + 1)}}};
            engine.containers[c.id] = c;
        }
        controller_settings settings;
        settings.docker.socket_path = engine.socket_path();
        settings.schedule.drift_interval = std::chrono::milliseconds(0);
        auto log = std::make_shared<spdlog::logger>(
            "bench", std::make_shared<spdlog::sinks::null_sink_mt>());
        controller ctl(ioc, settings, builtin_policy(), firewall, log);
        bool synced = false;
        ctl.on_synced([&] { synced = true; });
        ctl.start();
        const auto give_up = clock_type::now() + std::chrono::seconds(60);
        while (!synced && clock_type::now() < give_up) {
            ioc.restart();
            ioc.run_for(std::chrono::milliseconds(5));
        }
        std::size_t bytes = 0;
        const double ms = time_ms([&] { bytes = ctl.status().dump(2).size(); }, 11);
        std::printf("| %d | %zu | %.2f |\n", count, bytes, ms);
        ctl.stop();
        for (int i = 0; i < 200 && !ctl.finished(); ++i) {
            ioc.restart();
            ioc.run_for(std::chrono::milliseconds(5));
        }
    }
    std::printf("\n");
}

} // namespace

int main() {
    label_curve();
    status_curve();
    return 0;
}
