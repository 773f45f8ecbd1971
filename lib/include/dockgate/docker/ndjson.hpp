// Splits a byte stream into newline-delimited lines regardless of how it was chunked.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace dockgate {

/// Feed arbitrary pieces of the stream; complete lines come out of the callback without
/// their '\n'. A line longer than `max_line` is dropped (reported once, with its length) and
/// the splitter resynchronises at the next newline, so one huge line never costs the stream.
class ndjson_splitter {
  public:
    using line_handler = std::function<void(std::string_view line)>;
    using overflow_handler = std::function<void(std::size_t dropped_bytes)>;

    ndjson_splitter(std::size_t max_line, line_handler on_line, overflow_handler on_overflow)
        : max_line_(max_line), on_line_(std::move(on_line)), on_overflow_(std::move(on_overflow)) {}

    void feed(std::string_view bytes);
    /// Forget a partial line (used when the connection is replaced).
    void reset() {
        pending_.clear();
        discarding_ = false;
        discarded_ = 0;
    }
    [[nodiscard]] std::size_t pending_bytes() const { return pending_.size(); }

  private:
    std::size_t max_line_;
    line_handler on_line_;
    overflow_handler on_overflow_;
    std::string pending_;
    bool discarding_ = false;
    std::size_t discarded_ = 0;
};

} // namespace dockgate
