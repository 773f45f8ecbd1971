// NDJSON line splitting with a bounded line buffer.
#include "dockgate/docker/ndjson.hpp"

namespace dockgate {

void ndjson_splitter::feed(std::string_view bytes) {
    while (!bytes.empty()) {
        const auto newline = bytes.find('\n');
        const std::string_view piece = bytes.substr(0, newline);
        if (discarding_) {
            discarded_ += piece.size();
        } else if (pending_.size() + piece.size() > max_line_) {
            discarding_ = true;
            discarded_ = pending_.size() + piece.size();
            pending_.clear();
        } else {
            pending_.append(piece);
        }
        if (newline == std::string_view::npos) {
            return;
        }
        bytes.remove_prefix(newline + 1);
        if (discarding_) {
            on_overflow_(discarded_);
            discarding_ = false;
            discarded_ = 0;
        } else {
            if (!pending_.empty() && pending_.back() == '\r') {
                pending_.pop_back();
            }
            if (!pending_.empty()) {
                on_line_(pending_);
            }
            pending_.clear();
        }
    }
}

} // namespace dockgate
