// Runs blocking work (ufw, file reads) on the worker pool and awaits it from the event loop.
#pragma once

#include "dockgate/asio.hpp"

#include <utility>

namespace dockgate {

namespace detail {
/// Runs a blocking callable; spawned on the worker thread (a coroutine, not a capturing
/// lambda coroutine, so its copy of `work` lives in the frame).
template <class Work> asio::awaitable<decltype(std::declval<Work>()())> invoke(Work work) {
    co_return work();
}
} // namespace detail

/// The single worker thread is what serialises every ufw call (concurrent ufw runs lose rules).
/// Name the lambda before co_await: GCC 12 destroys temporaries in a co_await expression twice
/// (PR 107288 family).
template <class Work>
auto off_loop(asio::thread_pool& worker, Work work) -> asio::awaitable<decltype(work())> {
    co_return co_await asio::co_spawn(worker.get_executor(), detail::invoke(std::move(work)),
                                      asio::use_awaitable);
}

} // namespace dockgate
