// Runs a test's io_context in small slices until a condition holds, with a cap (no sleeps).
#pragma once

#include "dockgate/asio.hpp"

#include <chrono>
#include <functional>

namespace dockgate::testing {

/// Runs `ioc` 2 ms at a time until `done` holds or `cap` passes; returns `done()`.
inline bool run_until(asio::io_context& ioc, const std::function<bool()>& done,
                      std::chrono::milliseconds cap) {
    const auto end = std::chrono::steady_clock::now() + cap;
    while (std::chrono::steady_clock::now() < end) {
        if (done()) {
            return true;
        }
        ioc.restart();
        ioc.run_for(std::chrono::milliseconds(2));
    }
    return done();
}

} // namespace dockgate::testing
